"""Accounts, logins and signing keys (账户、登录与签名密钥): the rules.

Pure (no nameko, no I/O): time comes in as ``now``. The roles are named once
in ``sifuwu.access``.

* **Accounts.** A role binds a scope: 单位党务干部 one unit (``unit_id``), 支部书记
  one branch (``branch_id``, with its unit if known); the city-wide roles
  carry neither. Only an active 工委 account creates, disables, enables or
  re-roles accounts, and the last active 工委 account cannot be disabled or
  re-roled (nobody could manage accounts after). Statuses and their moves
  are the table ``ACCOUNT_MOVES``.
* **Logins.** After each failed attempt the next one waits
  ``backoff_base * 2**(failures-1)`` seconds (capped at ``backoff_max``),
  whatever it brings; after ``max_failures`` in a row the account is locked
  for ``lockout_seconds``. A success clears the count. 工委 and 运维 also give
  a TOTP code (``TOTP_REQUIRED``); a code is accepted once (its time step
  must be later than the last one used) within one step of clock drift.
* **Signing keys.** A key is ``next`` (published, not yet signing), then
  ``active`` (signing), then ``retired`` (published until its last token has
  expired: ``publish_until``), then pruned. Publishing the next key a whole
  rotation period before it signs lets every verifier's cached JWKS know it
  before the first token it signs arrives.
"""

import dataclasses
import datetime as dt
import hmac
import re

import pyotp

from sifuwu import access
from sifuwu.errors import Conflict, DomainError, Forbidden, Unauthorized
from sifuwu.errors import TooManyRequests

ACTIVE = "active"
DISABLED = "disabled"
ACCOUNT_MOVES = {ACTIVE: {DISABLED}, DISABLED: {ACTIVE}}

TOTP_REQUIRED = frozenset({access.COMMITTEE, access.OPERATOR})
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
MIN_PASSWORD = 12
MAX_PASSWORD = 256

# audit actions (审计动作)
BOOTSTRAPPED = "account.bootstrapped"
CREATED = "account.created"
DISABLED_ACTION = "account.disabled"
ENABLED_ACTION = "account.enabled"
ROLE_CHANGED = "account.role_changed"
LOCKED = "account.locked"
PASSWORD_CHANGED = "account.password_changed"
KEYS_ROTATED = "keys.rotated"

# signing-key lifecycle
NEXT = "next"
KEY_ACTIVE = "active"
RETIRED = "retired"
KEY_MOVES = {NEXT: {KEY_ACTIVE}, KEY_ACTIVE: {RETIRED}, RETIRED: set()}


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    message = "用户名或密码错误"


class TotpRequired(Unauthorized):
    code = "totp_required"
    message = "该角色登录须提供动态口令（TOTP）"


class AccountLocked(DomainError):
    status = 423
    code = "account_locked"
    message = "登录失败次数过多，账户已临时锁定"


class AccountDisabled(Forbidden):
    code = "account_disabled"
    message = "账户已停用"


class LoginBackoff(TooManyRequests):
    code = "login_backoff"
    message = "登录失败，请稍后再试"


@dataclasses.dataclass(frozen=True)
class LoginPolicy:
    max_failures: int = 5
    lockout_seconds: float = 900.0
    backoff_base: float = 1.0
    backoff_max: float = 60.0


# -- accounts ------------------------------------------------------------------

def check_username(username):
    if not isinstance(username, str) or not USERNAME.match(username):
        raise DomainError("用户名须为 3–64 位小写字母、数字或 . _ -",
                          code="invalid_username",
                          fields={"username": ["用户名格式不正确"]})
    return username


def check_password(password):
    if not isinstance(password, str) or not \
            MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise DomainError(f"密码长度须为 {MIN_PASSWORD}–{MAX_PASSWORD} 位",
                          code="weak_password",
                          fields={"password": [f"至少 {MIN_PASSWORD} 位"]})
    return password


def scope_of(role, unit_id=None, branch_id=None):
    """The scope fields of an account in ``role``: refuses a unit role
    without a unit, a branch role without a branch, and a city-wide role
    bound to either."""
    if role not in access.ROLES:
        raise DomainError(f"未知角色 {role!r}", code="unknown_role",
                          fields={"role": ["未知角色"]})
    if role == access.UNIT_STAFF:
        if not unit_id or branch_id:
            raise DomainError("单位党务干部须指定单位（且仅指定单位）",
                              code="scope_required",
                              fields={"unit_id": ["必填"]})
        return {"unit_id": unit_id, "branch_id": None}
    if role == access.BRANCH_SECRETARY:
        if not branch_id:
            raise DomainError("支部书记须指定支部", code="scope_required",
                              fields={"branch_id": ["必填"]})
        return {"unit_id": unit_id or None, "branch_id": branch_id}
    if unit_id or branch_id:
        raise DomainError(f"{access.ROLE_TITLES[role]}为全市范围角色，不绑定单位或支部",
                          code="scope_not_allowed")
    return {"unit_id": None, "branch_id": None}


def needs_totp(role):
    return role in TOTP_REQUIRED


def require_manager(actor):
    """Only an active 工委 account manages accounts."""
    if actor is None or actor.get("role") != access.COMMITTEE or \
            actor.get("status") != ACTIVE:
        raise Forbidden("只有工委账户可以管理账户", code="committee_only")


def move(account, status):
    """The account's next status, if ``ACCOUNT_MOVES`` allows it."""
    if status not in ACCOUNT_MOVES.get(account["status"], set()):
        raise Conflict(f"账户当前为 {account['status']}，不能改为 {status}",
                       code="invalid_transition")
    return status


def check_not_last_committee(account, active_committees, new_role=None,
                             new_status=None):
    """Refuse a change that leaves no active 工委 account."""
    leaves = account["role"] == access.COMMITTEE and \
        account["status"] == ACTIVE and \
        ((new_role is not None and new_role != access.COMMITTEE) or
         (new_status is not None and new_status != ACTIVE))
    if leaves and active_committees <= 1:
        raise Conflict("不能停用或改变最后一个工委账户的角色",
                       code="last_committee")


# -- bootstrap -----------------------------------------------------------------

def parse_bootstrap(spec):
    """``"name:password:totp-secret"`` → (username, password, totp secret),
    or None when unset. The password may not hold a colon."""
    if not spec:
        return None
    parts = spec.split(":")
    if len(parts) != 3 or not all(parts):
        raise ValueError("SIFUWU_IDENTITY_BOOTSTRAP 须为 用户名:密码:TOTP密钥")
    username, password, secret = parts
    try:
        check_username(username)
        check_password(password)
    except DomainError as exc:
        raise ValueError(f"SIFUWU_IDENTITY_BOOTSTRAP: {exc.message}")
    check_totp_secret(secret)
    return username, password, secret


def check_totp_secret(secret):
    try:
        pyotp.TOTP(secret).at(0)
    except Exception:  # noqa: BLE001 - any decoding failure means invalid
        raise ValueError("TOTP 密钥须为 Base32 编码")
    return secret


# -- logins --------------------------------------------------------------------

def backoff_until(account, policy):
    failures = account.get("failed_count") or 0
    last = account.get("last_failed_at")
    if not failures or last is None:
        return None
    wait = min(policy.backoff_max, policy.backoff_base * 2 ** (failures - 1))
    return last + dt.timedelta(seconds=wait)


def check_may_attempt(account, now, policy):
    """Refuse an attempt while the account is locked or backing off."""
    locked = account.get("locked_until")
    if locked is not None and now < locked:
        raise AccountLocked(fields={"retry_after": [
            str(int((locked - now).total_seconds()) + 1)]})
    wait = backoff_until(account, policy)
    if wait is not None and now < wait:
        raise LoginBackoff(fields={"retry_after": [
            str(int((wait - now).total_seconds()) + 1)]})


def after_failure(account, now, policy):
    """The fields to store after a failed attempt; ``locked`` tells whether
    this one locked the account. A lock that has passed starts a new count."""
    locked = account.get("locked_until")
    failures = 0 if locked is not None and now >= locked else \
        account.get("failed_count") or 0
    failures += 1
    fields = {"failed_count": failures, "last_failed_at": now,
              "locked_until": None}
    if failures >= policy.max_failures:
        fields["locked_until"] = now + dt.timedelta(
            seconds=policy.lockout_seconds)
    return fields, fields["locked_until"] is not None


def after_success(now):
    return {"failed_count": 0, "last_failed_at": None, "locked_until": None,
            "last_login_at": now}


def totp_step(secret, code, now, last_step=None, window=1):
    """The time step ``code`` matches (within ``window`` steps of ``now``),
    or None; a step not after ``last_step`` (a code used already) is None."""
    if not isinstance(code, str) or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for offset in range(-window, window + 1):
        step = current + offset
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def token_claims(account, now, ttl_seconds, *, issuer, audience, token_id,
                 auth_time=None):
    """The claims of an access token for ``account``; ``auth_time`` is when
    the person signed in (kept through refreshes), ``now`` by default."""
    issued = int(now.timestamp())
    claims = {"iss": issuer, "aud": audience, "sub": account["_id"],
              "name": account["username"], "role": account["role"],
              "iat": issued, "nbf": issued, "exp": issued + int(ttl_seconds),
              "jti": token_id,
              "auth_time": issued if auth_time is None else int(auth_time)}
    if account.get("unit_id"):
        claims["unit_id"] = account["unit_id"]
    if account.get("branch_id"):
        claims["branch_id"] = account["branch_id"]
    return claims


class SessionTooOld(Unauthorized):
    code = "session_too_old"
    message = "登录时间过长，请重新登录"


def check_refresh(account, identity, auth_time, now, max_session_seconds):
    """A token may be renewed while its account is active and unchanged in
    role and scope, and its sign-in no older than ``max_session_seconds``."""
    if account is None or account.get("status") != ACTIVE:
        raise AccountDisabled()
    if (account["role"], account.get("unit_id"), account.get("branch_id")) != (
            identity.role, identity.unit_id, identity.branch_id):
        raise Unauthorized("账户角色或范围已变更，请重新登录",
                           code="account_changed")
    if now.timestamp() - auth_time > max_session_seconds:
        raise SessionTooOld()


# -- signing keys ----------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class KeyPlan:
    """What to do to the signing keys now: retire the active key (until
    ``publish_until``), promote the next one, create keys in these statuses,
    and drop keys whose publication has ended."""

    retire: str | None = None
    promote: str | None = None
    create: tuple = ()
    prune: tuple = ()
    publish_until: dt.datetime | None = None

    @property
    def changes(self):
        return bool(self.retire or self.promote or self.create or self.prune)


def published(keys, now):
    """The keys a JWKS holds at ``now``."""
    return [key for key in keys if key["status"] in (NEXT, KEY_ACTIVE) or
            (key["status"] == RETIRED and key["publish_until"] > now)]


def signing_key(keys):
    active = [key for key in keys if key["status"] == KEY_ACTIVE]
    return active[0] if active else None


def key_plan(keys, now, *, rotate_every, overlap, force=False):
    """The ``KeyPlan`` at ``now``: a first key and its successor when there
    are none; a rotation when the active key has signed for ``rotate_every``
    seconds (or ``force``); the retired key stays published ``overlap``
    seconds (the token lifetime and the clock leeway)."""
    by_status = {}
    for key in keys:
        by_status.setdefault(key["status"], []).append(key)
    prune = tuple(sorted(key["_id"] for key in by_status.get(RETIRED, [])
                         if key["publish_until"] <= now))
    active = signing_key(keys)
    upcoming = by_status.get(NEXT, [])
    if active is None:
        if upcoming:
            return KeyPlan(promote=upcoming[0]["_id"], create=(NEXT,),
                           prune=prune)
        return KeyPlan(create=(KEY_ACTIVE, NEXT), prune=prune)
    due = force or now >= active["activated_at"] + dt.timedelta(
        seconds=rotate_every)
    if not due:
        return KeyPlan(create=() if upcoming else (NEXT,), prune=prune)
    until = now + dt.timedelta(seconds=overlap)
    if upcoming:
        return KeyPlan(retire=active["_id"], promote=upcoming[0]["_id"],
                       create=(NEXT,), prune=prune, publish_until=until)
    return KeyPlan(retire=active["_id"], create=(KEY_ACTIVE, NEXT),
                   prune=prune, publish_until=until)
