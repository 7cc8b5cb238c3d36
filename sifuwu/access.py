"""Who may do what (访问控制): bearer tokens verified locally, and the policy
as data.

* **Tokens.** The identity service signs short-lived JWTs (EdDSA, Ed25519)
  with a key id (``kid``) in the header and publishes its public keys at
  ``/.well-known/jwks.json``. Every service verifies a token here, with the
  keys it holds (``KeySet``): ``RemoteKeys`` fetches the JWKS from
  ``SIFUWU_IDENTITY_URL`` once, keeps it, refetches it when it is older than
  ``SIFUWU_JWKS_MAX_AGE`` or when a token names a ``kid`` it does not know
  (at most once per ``SIFUWU_JWKS_MIN_REFRESH`` seconds, so random key ids
  cannot make it call per request); ``StaticKeys`` takes a JWKS as given
  (tests, and the identity service itself, which reads its own store).
  Expiry is checked against the caller's ``now`` (the injected clock), not
  the wall clock. A verified token is an ``Identity``.
* **Policy.** ``Policy`` maps a route name (``"<service>.<entrypoint>"``) to a
  ``Rule``: public, or which roles may call it and how far each sees
  (``CITY``, ``OWN_UNIT``, ``OWN_BRANCH``, or ``OWN``: the role's home
  scope). ``require`` (or ``Guard.require`` from the ``Access`` dependency)
  answers 401 without a valid token, 403 for a role the rule does not name,
  and returns a ``Grant``; ``Grant.check`` answers 404 for a record of
  another unit or branch, so existence does not leak, and ``Grant.filter``
  narrows a list to what the caller may see.

The roles (角色) are named here once; the identity service and every policy
table use these names.
"""

import dataclasses
import datetime as dt
import hmac
import json
import logging
import threading
import time

import jwt
import requests
from nameko.extensions import DependencyProvider

from sifuwu.errors import DomainError, Forbidden, NotFound, Unauthorized
from sifuwu.events import utcnow
from sifuwu.settings import Settings

log = logging.getLogger(__name__)

# -- roles and scopes ------------------------------------------------------------

COMMITTEE = "committee"               # 工委: the whole city
UNIT_STAFF = "unit_staff"             # 单位党务干部: one unit and its divisions
BRANCH_SECRETARY = "branch_secretary"  # 支部书记: one branch
SUPERVISOR = "supervisor"             # 督查: demands and rectifications city-wide
OPERATOR = "operator"                 # 运维: health, queues, no personal data
AUDITOR = "auditor"                   # 审计: read-only, the access log included

ROLES = (COMMITTEE, UNIT_STAFF, BRANCH_SECRETARY, SUPERVISOR, OPERATOR,
         AUDITOR)
ROLE_TITLES = {COMMITTEE: "工委", UNIT_STAFF: "单位党务干部",
               BRANCH_SECRETARY: "支部书记", SUPERVISOR: "督查",
               OPERATOR: "运维", AUDITOR: "审计"}

CITY = "city"
OWN_UNIT = "own_unit"
OWN_BRANCH = "own_branch"
OWN = "own"  # the role's home scope (HOME_SCOPE)
SCOPES = (CITY, OWN_UNIT, OWN_BRANCH, OWN)

HOME_SCOPE = {COMMITTEE: CITY, UNIT_STAFF: OWN_UNIT,
              BRANCH_SECRETARY: OWN_BRANCH, SUPERVISOR: CITY, OPERATOR: CITY,
              AUDITOR: CITY}

ALGORITHM = "EdDSA"
CONTEXT_KEY = "authorization"  # where an RPC caller puts "Bearer <token>"


class IdentityUnavailable(DomainError):
    status = 503
    code = "identity_unavailable"
    message = "暂时无法校验访问令牌，请稍后重试"


@dataclasses.dataclass(frozen=True)
class Identity:
    """Who is calling, as the token says: the account id, its role and the
    unit or branch the role is bound to (``None`` for city-wide roles)."""

    account: str
    role: str
    unit_id: str | None = None
    branch_id: str | None = None
    username: str | None = None


# What a service needs to verify tokens: the base settings carry the fields
# (identity_url, jwks_*, token_*, jwks), since every service checks tokens.
AccessSettings = Settings


# -- keys ----------------------------------------------------------------------

class KeySet:
    """Public keys by key id, from a JWKS document (``{"keys": [...]}``);
    keys of another type or algorithm are left out."""

    def __init__(self, jwks):
        self.keys = {}
        for entry in (jwks or {}).get("keys", []):
            kid = entry.get("kid")
            if not kid or entry.get("alg", ALGORITHM) != ALGORITHM:
                continue
            try:
                self.keys[kid] = jwt.PyJWK(entry, algorithm=ALGORITHM).key
            except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError) as exc:
                log.warning("JWKS: key %s left out (%s)", kid, exc)

    def get(self, kid):
        return self.keys.get(kid)


class StaticKeys:
    """A JWKS given as it is (tests; the identity service's own store)."""

    def __init__(self, jwks):
        self.keyset = KeySet(jwks)

    def get(self, kid):
        return self.keyset.get(kid)


def fetch_jwks(identity_url, timeout=3.0):
    """The identity service's published JWKS."""
    response = requests.get(f"{identity_url.rstrip('/')}/.well-known/jwks.json",
                            timeout=timeout)
    response.raise_for_status()
    return response.json()


class RemoteKeys:
    """The JWKS of the identity service, fetched once and kept.

    Fetched again when older than ``max_age`` (so retired keys drop out) or
    when asked for an unknown key id, but never more often than every
    ``min_refresh`` seconds. If a fetch fails, the keys held are kept; with
    none held, verification answers 503.
    """

    def __init__(self, fetch, *, max_age=300.0, min_refresh=10.0,
                 monotonic=time.monotonic):
        self._fetch = fetch
        self.max_age = max_age
        self.min_refresh = min_refresh
        self._monotonic = monotonic
        self._keyset = None
        self._fetched_at = None
        self._tried_at = None
        self._lock = threading.Lock()
        self.fetches = 0

    @classmethod
    def from_settings(cls, settings):
        return cls(lambda: fetch_jwks(settings.identity_url),
                   max_age=settings.jwks_max_age,
                   min_refresh=settings.jwks_min_refresh)

    def _refresh(self, now):
        self._tried_at = now
        self.fetches += 1
        try:
            self._keyset = KeySet(self._fetch())
            self._fetched_at = now
        except Exception as exc:  # noqa: BLE001 - kept keys go on serving
            log.warning("JWKS fetch failed (%s: %s)", type(exc).__name__, exc)

    def get(self, kid):
        with self._lock:
            now = self._monotonic()
            stale = self._fetched_at is None or \
                now - self._fetched_at >= self.max_age
            unknown = self._keyset is None or self._keyset.get(kid) is None
            may_try = self._tried_at is None or \
                now - self._tried_at >= self.min_refresh
            if (stale or unknown) and may_try:
                self._refresh(now)
            if self._keyset is None:
                raise IdentityUnavailable()
            return self._keyset.get(kid)


# -- tokens ----------------------------------------------------------------------

def bearer_token(header):
    """The token of an ``Authorization: Bearer <token>`` value, or None."""
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _timestamp(moment):
    return moment.timestamp() if isinstance(moment, dt.datetime) else moment


def verify_token(token, keys, now, *, issuer, audience, leeway=30.0):
    """The ``Identity`` a signed token names, or ``Unauthorized``.

    The signature is checked with the key the header's ``kid`` names; the
    issuer, audience and claims with PyJWT; ``exp`` and ``nbf`` against
    ``now`` (a datetime or a POSIX time) with ``leeway`` seconds.
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise Unauthorized("访问令牌无效", code="invalid_token")
    kid = header.get("kid")
    if header.get("alg") != ALGORITHM or not isinstance(kid, str):
        raise Unauthorized("访问令牌无效", code="invalid_token")
    key = keys.get(kid)
    if key is None:
        raise Unauthorized("访问令牌的签名密钥未知或已停用",
                           code="unknown_key")
    try:
        claims = jwt.decode(
            token, key, algorithms=[ALGORITHM], issuer=issuer,
            audience=audience,
            options={"verify_exp": False, "verify_nbf": False,
                     "verify_iat": False,
                     "require": ["exp", "iat", "sub", "role"]})
    except jwt.PyJWTError:
        raise Unauthorized("访问令牌无效", code="invalid_token")
    moment = _timestamp(now)
    exp, nbf = claims.get("exp"), claims.get("nbf", claims.get("iat"))
    if not isinstance(exp, (int, float)) or moment > exp + leeway:
        raise Unauthorized("访问令牌已过期，请重新登录", code="token_expired")
    if isinstance(nbf, (int, float)) and moment < nbf - leeway:
        raise Unauthorized("访问令牌尚未生效", code="invalid_token")
    return identity_from_claims(claims)


def identity_from_claims(claims):
    role = claims.get("role")
    unit_id, branch_id = claims.get("unit_id"), claims.get("branch_id")
    if role not in ROLES or not isinstance(claims.get("sub"), str):
        raise Unauthorized("访问令牌无效", code="invalid_token")
    if (role == UNIT_STAFF and not unit_id) or \
            (role == BRANCH_SECRETARY and not branch_id):
        raise Unauthorized("访问令牌缺少单位或支部范围", code="invalid_token")
    return Identity(account=claims["sub"], role=role, unit_id=unit_id,
                    branch_id=branch_id, username=claims.get("name"))


# -- policy ------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Rule:
    """Who may call a route: anyone (``public``), or the roles in
    ``grants`` (role → scope)."""

    public: bool = False
    grants: tuple = ()  # ((role, scope), ...), sorted, hashable
    system: bool = False  # an outside system's key, checked by the route
    scrape: bool = False  # also the metrics scrape token (SIFUWU_METRICS_TOKEN)

    def scope_for(self, role):
        return dict(self.grants).get(role)

    @property
    def roles(self):
        return tuple(role for role, _ in self.grants)

    def __or__(self, other):
        grants = dict(self.grants)
        grants.update(dict(other.grants))
        return Rule(public=self.public or other.public,
                    grants=tuple(sorted(grants.items())),
                    system=self.system or other.system,
                    scrape=self.scrape or other.scrape)


def public():
    """A route anyone may call (the rating page, the board, health)."""
    return Rule(public=True)


def scrape(*roles):
    """``/metrics``: Prometheus with the scrape token
    (``SIFUWU_METRICS_TOKEN``), or a signed-in account of ``roles``. In
    development with no scrape token set, anyone (the embedded stack)."""
    return dataclasses.replace(allow(*roles, scope=CITY), scrape=True)


def system():
    """A route for outside systems (ingest): no staff token; the route
    checks the system's own key and what it may send."""
    return Rule(system=True)


def allow(*roles, scope=OWN):
    """``roles`` may call the route, each seeing ``scope``."""
    for role in roles:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    return Rule(grants=tuple(sorted((role, scope) for role in roles)))


def any_staff(scope=OWN):
    """Any signed-in account, each within ``scope``."""
    return allow(*ROLES, scope=scope)


class Policy:
    """The table route name → ``Rule``. A name missing from it is refused
    (403 ``no_policy``): a new route is closed until it is listed."""

    def __init__(self, rules):
        self.rules = dict(rules)

    def rule(self, name):
        return self.rules.get(name)

    def __contains__(self, name):
        return name in self.rules

    def merged(self, other):
        return Policy({**self.rules, **other.rules})

    def missing(self, service_cls, kinds=None):
        """Entrypoint names of ``service_cls`` (HTTP by default) with no
        rule: what a test of the route table must find empty."""
        from nameko.web.handlers import HttpRequestHandler
        kinds = kinds or (HttpRequestHandler,)
        found = []
        for attr in dir(service_cls):
            method = getattr(service_cls, attr, None)
            for entrypoint in getattr(method, "nameko_entrypoints", ()):
                if isinstance(entrypoint, kinds):
                    name = f"{service_cls.name}.{attr}"
                    if name not in self.rules:
                        found.append(name)
        return sorted(set(found))


@dataclasses.dataclass(frozen=True)
class Grant:
    """What a caller was granted for one route: who (``None`` on a public
    route without a token) and how far they see."""

    identity: Identity | None
    scope: str

    def sees(self, unit_id=None, branch_id=None):
        """Whether a record of ``unit_id`` / ``branch_id`` is in scope."""
        if self.scope == CITY:
            return True
        if self.identity is None:
            return False
        if self.scope == OWN_UNIT:
            return unit_id is not None and unit_id == self.identity.unit_id
        if self.scope == OWN_BRANCH:
            return branch_id is not None and \
                branch_id == self.identity.branch_id
        return False

    def check(self, unit_id=None, branch_id=None, what="记录"):
        """404 for a record out of scope: it does not exist for this caller."""
        if not self.sees(unit_id, branch_id):
            raise NotFound(f"未找到该{what}")

    def filter(self, unit_field="unit_id", branch_field="branch_id"):
        """A query condition narrowing a list to the caller's scope
        (``{}`` city-wide)."""
        if self.scope == CITY:
            return {}
        if self.scope == OWN_UNIT:
            return {unit_field: self.identity.unit_id}
        return {branch_field: self.identity.branch_id}

    def narrow(self, query):
        """List filters ``query`` narrowed to the caller's scope, or None
        when they ask for another unit's or branch's records (which then
        make an empty list)."""
        scope = self.filter()
        for key, value in scope.items():
            if query.get(key) not in (None, value):
                return None
        return {**query, **scope}


def authorize(identity, rule, name="route"):
    """The ``Grant`` of ``identity`` (or ``None``, anonymous) under ``rule``:
    401 anonymous on a closed route, 403 a role the rule does not name."""
    if rule is None:
        raise Forbidden("该接口尚未登记访问策略", code="no_policy")
    if rule.system:
        return Grant(None, CITY)
    if rule.public and identity is None:
        return Grant(None, CITY)
    if identity is None:
        raise Unauthorized("缺少 Authorization: Bearer 令牌")
    scope = rule.scope_for(identity.role)
    if scope is None:
        if rule.public:
            return Grant(identity, CITY)
        raise Forbidden(f"{ROLE_TITLES[identity.role]}角色无权执行此操作",
                        code="role_forbidden")
    if scope == OWN:
        scope = HOME_SCOPE[identity.role]
    return Grant(identity, scope)


def require(authorization, name, *, policy, keys, now, issuer, audience,
            leeway=30.0):
    """The ``Grant`` for a request whose ``Authorization`` header value is
    ``authorization`` (or a werkzeug request) on route ``name``.

    A public route accepts no token (anonymous) and refuses a bad one; a
    closed route needs a valid token of a role it names.
    """
    if hasattr(authorization, "headers"):
        authorization = authorization.headers.get("Authorization")
    rule = policy.rule(name)
    if rule is not None and rule.system:
        return authorize(None, rule, name)
    token = bearer_token(authorization)
    if token is None:
        if authorization and not (rule and rule.public):
            raise Unauthorized("Authorization 须为 Bearer 令牌")
        return authorize(None, rule, name)
    identity = verify_token(token, keys, now, issuer=issuer,
                            audience=audience, leeway=leeway)
    return authorize(identity, rule, name)


class Guard:
    """What an entrypoint sees of ``Access``: ``require(request)`` on the
    running entrypoint's own route name (``<service>.<method>``), or a
    name given."""

    def __init__(self, policy, keys, settings, now, default_name=None,
                 context=None):
        self.policy = policy
        self.keys = keys
        self.settings = settings
        self.now = now
        self.default_name = default_name
        self.context = context or {}

    def require(self, request, name=None):
        name = name or self.default_name
        rule = self.policy.rule(name)
        if rule is not None and rule.scrape and self._scraper(request):
            return Grant(None, CITY)
        return require(request, name,
                       policy=self.policy, keys=self.keys, now=self.now(),
                       issuer=self.settings.token_issuer,
                       audience=self.settings.token_audience,
                       leeway=self.settings.token_leeway)

    def _scraper(self, request):
        """Whether the caller is the metrics scraper: the scrape token, or
        anyone in development while no scrape token is set."""
        header = request.headers.get("Authorization") if hasattr(
            request, "headers") else request
        token = bearer_token(header)
        expected = getattr(self.settings, "metrics_token", "")
        if expected and token is not None:
            return hmac.compare_digest(token.encode(), expected.encode())
        return not expected and not header and \
            getattr(self.settings, "mode", "development") == "development"

    def require_context(self, name=None):
        """For an RPC entrypoint: the token the caller put in nameko's
        context data under ``authorization``."""
        return self.require(self.context.get(CONTEXT_KEY) or "", name)


class Access(DependencyProvider):
    """Token verification and the policy for a service. ``ServiceBase``
    declares one, so every HTTP entrypoint (``sifuwu.web.http``) checks its
    route against the policy before the service code runs and hands the
    ``Grant`` on as ``request.grant``; an RPC entrypoint calls
    ``self.access.require_context()``.

    ``ServiceBase`` gives it ``sifuwu.policy.POLICY``. The keys are
    given (``keys=StaticKeys(jwks)``), or the JWKS of ``SIFUWU_JWKS`` when
    set, or else the identity service's JWKS fetched and held per container
    (``RemoteKeys``). Token lifetimes are checked against the wall clock:
    the clock offset of the end-to-end tests moves business time (deadlines,
    publicity), not the time tokens are issued in."""

    def __init__(self, policy, keys=None):
        self._given_policy = policy
        self._given_keys = keys

    def setup(self):
        self.settings = AccessSettings.from_config(self.container.config)
        self.offset = dt.timedelta(seconds=self.settings.clock_offset_seconds)
        self.policy = self._given_policy
        self.keys = self._given_keys or self._configured_keys()
        self.now = utcnow

    def _configured_keys(self):
        if self.settings.jwks.strip():
            try:
                return StaticKeys(json.loads(self.settings.jwks))
            except ValueError as exc:
                raise ValueError(f"SIFUWU_JWKS is not a JWKS: {exc}") from None
        return RemoteKeys.from_settings(self.settings)

    def guard(self, name, context=None):
        return Guard(self.policy, self.keys, self.settings, self.now,
                     default_name=name, context=context)

    def get_dependency(self, worker_ctx):
        name = f"{self.container.service_name}.{worker_ctx.entrypoint.method_name}"
        return self.guard(name, worker_ctx.context_data)


def container_access(container):
    """The ``Access`` provider of a service container (``ServiceBase``
    declares one)."""
    for dependency in container.dependencies:
        if isinstance(dependency, Access):
            return dependency
    raise RuntimeError(f"service {container.service_name} has no Access "
                       "dependency (subclass sifuwu.service.ServiceBase)")


def grant_of(request):
    """The ``Grant`` the HTTP entrypoint put on ``request``."""
    return request.grant


def actor_name(identity):
    """``name@role``: the account (its user name, or id) and the role it
    acted in, as every audit entry records a person's write."""
    return f"{identity.username or identity.account}@{identity.role}"


def actor(request):
    """Who is acting, for audit entries (``actor_name``); 401 when nobody
    signed in (on a route open to anyone)."""
    identity = request.grant.identity
    if identity is None:
        raise Unauthorized("缺少 Authorization: Bearer 令牌")
    return actor_name(identity)


def require_role(request, *roles):
    """On a route open to anyone, a part that only ``roles`` may see (e.g.
    members' charts beside the units' public ones): 401 anonymous, 403 for
    another role; returns the identity."""
    identity = request.grant.identity
    if identity is None:
        raise Unauthorized("缺少 Authorization: Bearer 令牌")
    if identity.role not in roles:
        raise Forbidden(f"{ROLE_TITLES[identity.role]}角色无权查看此内容",
                        code="role_forbidden")
    return identity
