"""统一身份认证 (OIDC) sign-in: the rules. Pure (no nameko, no I/O); time comes
in as ``now``.

* **Where the state lives.** In the identity store, not in a cookie: a state
  must be usable once (a replayed callback is refused), and only a record
  that the callback deletes makes it so; the PKCE verifier and the nonce
  never leave the server; every replica reads the same record. A random
  HttpOnly cookie binds the sign-in to the browser that started it (only its
  hash is stored), so a callback URL pushed into another browser (login
  CSRF) is refused too.
* **The ID token.** Signed with an asymmetric algorithm (never ``none`` or
  an HMAC) by a key of the provider's JWKS; ``iss`` is the configured
  issuer, ``aud`` holds the client id (``azp`` is the client when there are
  several audiences), ``nonce`` is the pending sign-in's, ``exp``/``iat``
  within the clock leeway (authlib's ``CodeIDToken`` rules).
* **The mapping.** The claim ``user_claim`` (``sub`` by default) names the
  provider's user; the account whose ``oidc_subject`` equals it signs in. A
  link is set by 工委 only, audited; an unknown user is refused, never
  created.
* **Multi-factor (工委, 运维).** The provider's ``amr``/``acr`` counts only
  when it holds a value the deployment declared as multi-factor
  (``mfa_amr``, ``mfa_acr``): the values are not standardised across
  providers, so trusting any claim by default would let a password-only
  provider login stand in for TOTP. Otherwise the account's own TOTP code
  is still asked for, once, with a one-time ticket.
"""

import dataclasses
import datetime as dt
import hashlib
import hmac
import re

from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError, ClaimError, ExpiredTokenError, InvalidKeyIdError,
    JoseError, MissingClaimError, MissingKeyError, UnsupportedAlgorithmError,
)
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from services.identity import domain as accounts
from sifuwu.errors import Conflict, DomainError, Forbidden, NotFound
from sifuwu.errors import Unauthorized

# Asymmetric algorithms only: "none" and the HMACs (keyed with the client
# secret, which the provider's JWKS does not hold) are refused.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
              "ES256", "ES384", "ES512", "EdDSA", "Ed25519")

LOGIN = "login"  # a pending sign-in: state → nonce, PKCE verifier, browser
TOTP = "totp"  # a pending TOTP check after the provider: ticket → account

# audit actions (审计动作)
LINKED = "account.oidc_linked"
UNLINKED = "account.oidc_unlinked"

# what a malformed token, key set or claim raises in joserfc and authlib
_MALFORMED = (JoseError, ValueError, TypeError, KeyError, AttributeError)

MAX_SUBJECT = 255
_ERROR_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclasses.dataclass(frozen=True)
class OidcConfig:
    """The provider and this client, from ``IdentitySettings.oidc``."""

    issuer: str
    client_id: str
    redirect_uri: str
    client_secret: str | None = None
    scopes: str = "openid profile"
    user_claim: str = "sub"
    mfa_amr: frozenset = frozenset()
    mfa_acr: frozenset = frozenset()
    state_ttl: int = 300
    timeout: float = 10.0
    metadata_ttl: float = 3600.0
    leeway: float = 30.0

    @property
    def scope_list(self):
        return self.scopes.split()

    def problems(self, production=False):
        """What keeps this configuration from working (zh-CN, one line
        each); in production also a provider or callback not on https."""
        found = []
        if not self.client_id:
            found.append("已设置 SIFUWU_IDENTITY_OIDC_ISSUER，但未设置 "
                         "SIFUWU_IDENTITY_OIDC_CLIENT_ID")
        if not self.redirect_uri:
            found.append("已设置 SIFUWU_IDENTITY_OIDC_ISSUER，但未设置 "
                         "SIFUWU_IDENTITY_OIDC_REDIRECT_URI")
        if "openid" not in self.scope_list:
            found.append("SIFUWU_IDENTITY_OIDC_SCOPES 须包含 openid")
        if production:
            for name, url in (("SIFUWU_IDENTITY_OIDC_ISSUER", self.issuer),
                              ("SIFUWU_IDENTITY_OIDC_REDIRECT_URI",
                               self.redirect_uri)):
                if url and not url.startswith("https://"):
                    found.append(f"{name} 须为 https 地址")
        return found


# -- errors (each a zh-CN 4xx, or 503 while the provider cannot be reached) ------

class OidcDisabled(NotFound):
    code = "oidc_disabled"
    message = "未启用统一身份认证登录"


class OidcMisconfigured(DomainError):
    status = 503
    code = "oidc_misconfigured"
    message = "统一身份认证登录配置不完整，请联系运维"


class OidcUnavailable(DomainError):
    status = 503
    code = "oidc_unavailable"
    message = "暂时无法连接统一身份认证，请稍后再试"


class StateInvalid(DomainError):
    status = 400
    code = "oidc_state_invalid"
    message = "登录请求无效、已使用或已过期，请重新发起统一身份认证登录"


class ProviderRefused(Unauthorized):
    code = "oidc_refused"
    message = "统一身份认证未完成登录"


class CodeInvalid(Unauthorized):
    code = "oidc_code_invalid"
    message = "授权码无效、已使用或已过期，请重新发起统一身份认证登录"


class TokenInvalid(Unauthorized):
    code = "oidc_token_invalid"
    message = "统一身份认证的 ID 令牌未通过校验"

    def __init__(self, reason, *, unknown_key=False):
        super().__init__(fields={"id_token": [reason]})
        self.unknown_key = unknown_key


class NotLinked(Forbidden):
    code = "oidc_not_linked"
    message = "该统一身份认证账号尚未关联本系统账户，请联系工委"


class TicketInvalid(Unauthorized):
    code = "oidc_ticket_invalid"
    message = "动态口令补验凭据无效、已使用或已过期，请重新发起统一身份认证登录"


class TotpStillRequired(accounts.TotpRequired):
    """The provider signed the user in without a multi-factor claim this
    deployment trusts: the account's TOTP code finishes with ``ticket``."""

    message = "该角色须再提供本系统的动态口令（TOTP）：请以 ticket 提交至 " \
              "POST /api/v1/oidc/totp"

    def __init__(self, ticket, expires_in):
        super().__init__()
        self.ticket = ticket
        self.expires_in = expires_in


class SubjectTaken(Conflict):
    code = "oidc_subject_taken"
    message = "该统一身份认证账号已关联其他账户"


# -- pending sign-ins ----------------------------------------------------------------

def digest(value):
    """The stored form of a state, ticket or browser cookie (SHA-256)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def pending_login(state, nonce, verifier, browser, now, ttl):
    """The record of a sign-in begun at ``now``, until its callback."""
    return {"_id": digest(state), "kind": LOGIN, "nonce": nonce,
            "code_verifier": verifier, "browser": digest(browser),
            "created_at": now, "expires_at": now + dt.timedelta(seconds=ttl)}


def pending_totp(ticket, account_id, subject, now, ttl):
    """The record of a provider sign-in waiting for the TOTP code."""
    return {"_id": digest(ticket), "kind": TOTP, "account": account_id,
            "subject": subject, "created_at": now,
            "expires_at": now + dt.timedelta(seconds=ttl)}


def check_pending(pending, now, browser=None):
    """Refuse a pending sign-in that is gone (used, or never made), expired,
    or (a login) begun in another browser."""
    if pending is None or pending["expires_at"] <= now:
        return False
    if pending["kind"] == LOGIN:
        return isinstance(browser, str) and \
            hmac.compare_digest(pending["browser"], digest(browser))
    return True


# -- the callback's parameters --------------------------------------------------------

def provider_error(params):
    """The provider's refusal in the callback (``error=access_denied``…),
    or None."""
    error = params.get("error")
    if not error:
        return None
    shown = error if _ERROR_CODE.match(error) else "invalid"
    return ProviderRefused(f"统一身份认证未完成登录（{shown}）",
                           fields={"error": [shown]})


def check_issuer_param(params, config):
    """RFC 9207: an ``iss`` in the callback must be our provider's (a
    mix-up with another provider is refused)."""
    iss = params.get("iss")
    if iss is not None and iss != config.issuer:
        raise StateInvalid("回调的签发方与配置的统一身份认证不一致",
                           code="oidc_issuer_mismatch")


# -- the ID token ---------------------------------------------------------------------

def algorithms(metadata):
    """The signing algorithms to accept: the provider's advertised ones
    that are asymmetric (all of ``ALGORITHMS`` when it advertises none)."""
    offered = metadata.get("id_token_signing_alg_values_supported")
    if not offered or not isinstance(offered, list):
        return list(ALGORITHMS)
    return [alg for alg in offered if alg in ALGORITHMS]


def validate_id_token(id_token, jwks, config, nonce, now, *,
                      allowed=ALGORITHMS, access_token=None):
    """The claims of ``id_token`` once verified (see the module docstring),
    or ``TokenInvalid`` with the reason in zh-CN (``unknown_key`` when its
    key is not in ``jwks``: the caller may refetch the JWKS once)."""
    if not isinstance(id_token, str) or not id_token:
        raise TokenInvalid("令牌端点未返回 ID 令牌")
    try:
        keys = KeySet.import_key_set(jwks)
    except _MALFORMED:
        raise TokenInvalid("统一身份认证公布的公钥无法解析")
    try:
        token = jwt.decode(id_token, keys, registry=JWSRegistry(
            algorithms=list(allowed), strict_check_header=False))
    except (InvalidKeyIdError, MissingKeyError):
        raise TokenInvalid("签名密钥不在统一身份认证公布的公钥中",
                           unknown_key=True)
    except BadSignatureError:
        raise TokenInvalid("签名无效")
    except UnsupportedAlgorithmError:
        raise TokenInvalid("签名算法不被接受")
    except _MALFORMED:
        raise TokenInvalid("ID 令牌格式错误")
    params = {"nonce": nonce, "client_id": config.client_id}
    if access_token:
        params["access_token"] = access_token
    claims = CodeIDToken(token.claims, token.header, {
        "iss": {"essential": True, "value": config.issuer},
        "aud": {"essential": True, "value": config.client_id},
        "nonce": {"essential": True},
    }, params)
    try:
        claims.validate(now=int(now.timestamp()), leeway=int(config.leeway))
    except ExpiredTokenError:
        raise TokenInvalid("ID 令牌已过期")
    except MissingClaimError as exc:
        raise TokenInvalid(f"缺少声明 {exc.claim}")
    except ClaimError as exc:
        raise TokenInvalid(f"声明 {exc.claim} 不符")
    except _MALFORMED:
        raise TokenInvalid("ID 令牌声明无法校验")
    return dict(claims)


def subject_of(claims, user_claim):
    """The provider's name for the user: ``claims[user_claim]``."""
    value = claims.get(user_claim)
    if isinstance(value, bool) or not isinstance(value, (str, int)) or \
            value == "":
        raise TokenInvalid(f"ID 令牌缺少用户标识声明 {user_claim}")
    return str(value)


def mfa_satisfied(claims, config):
    """Whether the provider says it used a method this deployment counts as
    multi-factor (``amr``), or a level it counts as such (``acr``)."""
    amr = claims.get("amr")
    if isinstance(amr, list) and any(isinstance(item, str) and
                                     item in config.mfa_amr for item in amr):
        return True
    acr = claims.get("acr")
    return isinstance(acr, str) and acr in config.mfa_acr


def needs_totp(account, claims, config):
    """A TOTP role (工委, 运维) without a trusted multi-factor claim."""
    return accounts.needs_totp(account["role"]) and \
        not mfa_satisfied(claims, config)


def check_may_sign_in(account):
    """An unknown user is refused (never created); so is a disabled account."""
    if account is None:
        raise NotLinked()
    if account["status"] != accounts.ACTIVE:
        raise accounts.AccountDisabled()
    return account


# -- links ----------------------------------------------------------------------------

def check_subject(subject):
    """A provider user name to link (or None to unlink)."""
    if subject is None:
        return None
    if not isinstance(subject, str) or not subject.strip() or \
            len(subject) > MAX_SUBJECT or \
            any(ord(ch) < 32 or ord(ch) == 127 for ch in subject):
        raise DomainError("统一身份认证用户标识须为 1–255 个可见字符",
                          code="invalid_oidc_subject",
                          fields={"oidc_subject": ["格式不正确"]})
    return subject
