"""Identity service (身份服务): entrypoints only.

The HTTP entrypoint checks the caller against the policy table
(``sifuwu.policy``) before each method runs; each method loads its input
with a schema, runs one step (``steps``) in a unit of work and dumps the
answer. A login answers a short-lived signed token; every
other service verifies it locally with the keys published at
``/.well-known/jwks.json`` (``sifuwu.access``). A timer (at start, then every
``SIFUWU_IDENTITY_KEY_CHECK_INTERVAL`` seconds) creates the first 工委
account from ``SIFUWU_IDENTITY_BOOTSTRAP`` while no account exists, and
creates, rotates and prunes the signing keys. Sign-in through the
province's 统一身份认证 (OIDC) is ``oidc.entrypoints``.
"""

import functools
import logging

import jwt
from marshmallow import fields
from pymongo.errors import DuplicateKeyError

from sifuwu.access import bearer_token
from sifuwu.errors import Conflict
from sifuwu.policy import POLICY
from sifuwu.service import ServiceBase
from sifuwu.contract import listing, shape, wrapped
from sifuwu.web import http, json_response, load_body
from services.identity import domain, schemas, steps
from sifuwu.timers import setting_timer
from services.identity.dependencies import LocalAccess, PooledHasher
from services.identity.oidc.entrypoints import LOGIN_ANSWER, OidcEntrypoints
from services.identity.repository import INDEXES, Direct, IdentityRepository
from services.identity.settings import IdentitySettings

log = logging.getLogger(__name__)


def _account_body(account, enrolment=None):
    body = {"account": schemas.AccountSchema().dump(account)}
    if enrolment is not None:
        body["totp"] = enrolment  # shown once
    return body


class IdentityService(OidcEntrypoints, ServiceBase):
    name = "identity"
    indexes = INDEXES
    settings_class = IdentitySettings

    access = LocalAccess(POLICY)

    @functools.cached_property
    def secrets(self):
        """The hasher, sealer and token settings of this worker."""
        s = self.settings
        return steps.Secrets(
            hasher=PooledHasher(s.password_hasher()), sealer=s.sealer(),
            issuer=s.token_issuer, audience=s.token_audience,
            token_ttl=s.token_ttl_seconds, rotate_every=s.key_rotation_seconds,
            overlap=s.key_overlap_seconds, totp_issuer=s.totp_issuer,
            login_policy=s.login_policy)

    def _run(self, step, **kwargs):
        return self.store.transaction(functools.partial(step, **kwargs),
                                      repository=IdentityRepository)

    def _read(self):
        return Direct(self.store.db)

    def _bootstrap(self):
        try:
            spec = domain.parse_bootstrap(self.settings.bootstrap)
        except ValueError as exc:  # a bad setting must not break logins
            log.error("bootstrap account not created: %s", exc)
            return None
        if spec is None:
            return None
        try:
            return self._run(steps.bootstrap, spec=spec, secrets=self.secrets,
                             now=self.clock())
        except DuplicateKeyError:  # another replica bootstrapped first
            return None

    # -- upkeep ------------------------------------------------------------------

    @setting_timer("key_check_interval", eager=True)
    def maintain(self):
        """Bootstrap the first account; create, rotate and prune keys."""
        self._bootstrap()
        try:
            plan = self._run(steps.maintain_keys, secrets=self.secrets,
                             now=self.clock())
        except DuplicateKeyError:  # another replica changed the keys
            return None
        if plan.retire:
            log.info("signing key %s retired, published until %s",
                     plan.retire, plan.publish_until)
        return plan

    # -- login and keys ----------------------------------------------------------

    @http("POST", "/api/v1/login", request=schemas.LoginSchema,
          response=shape("LoginAnswer", token=fields.String(),
                         token_type=fields.String(),
                         expires_in=fields.Integer(),
                         expires_at=fields.DateTime(),
                         account=schemas.AccountSchema),
          summary="登录：用户名、密码（及动态口令）换取访问令牌",
          errors={401: "用户名或密码错误（invalid_credentials），或须提供"
                       "动态口令（totp_required）",
                  403: "账户已停用（account_disabled）",
                  423: "登录失败次数过多，账户已临时锁定（account_locked）",
                  429: "尝试过于频繁，稍后再试"})
    def login(self, request):
        """Public: username, password (and TOTP) → a signed access token.
        No token is checked here (a stale one must not stop a new login)."""
        credentials = load_body(request, schemas.LoginSchema(),
                                self.settings.max_body_bytes)
        self._bootstrap()
        try:
            outcome = self._run(steps.login, credentials=credentials,
                                secrets=self.secrets, now=self.clock())
        except DuplicateKeyError:  # the first keys were created meanwhile
            outcome = self._run(steps.login, credentials=credentials,
                                secrets=self.secrets, now=self.clock())
        if outcome.error is not None:
            raise outcome.error
        return json_response(schemas.token_body(outcome,
                                                self.secrets.token_ttl))

    @http("GET", "/.well-known/jwks.json",
          response=shape("Jwks", keys=fields.List(fields.Dict())),
          summary="验证访问令牌的公钥（JWKS）")
    def jwks(self, request):
        """Public: the keys that verify tokens (next, active, and retired
        ones until their last token has expired)."""
        return json_response(steps.published_keys(self._read(), self.clock()),
                             headers={"Cache-Control": "public, max-age=60"})

    @http("GET", "/api/v1/keys",
          response=listing(schemas.KeyWindowSchema),
          summary="签名密钥及其发布期")
    def list_keys(self, request):
        keys = steps.key_windows(self._read(), self.clock())
        return json_response({
            "items": schemas.KeyWindowSchema(many=True).dump(keys),
            "count": len(keys)})

    @http("POST", "/api/v1/keys/rotate", request=False,
          response={201: shape("KeyRotation", retired=fields.String(
              allow_none=True), publish_until=fields.DateTime(
              allow_none=True))},
          summary="立即轮换签名密钥")
    def rotate_keys(self, request):
        """Rotate now: the next key signs, the active one stays published
        until its tokens have expired."""
        grant = request.grant
        plan = self._run(steps.maintain_keys, secrets=self.secrets,
                         now=self.clock(), identity=grant.identity,
                         force=True)
        return json_response({"retired": plan.retire,
                              "publish_until": plan.publish_until},
                             status=201)

    # -- the caller ----------------------------------------------------------------

    @http("GET", "/api/v1/me", response=schemas.IdentitySchema,
          summary="当前登录者")
    def me(self, request):
        grant = request.grant
        return json_response(schemas.IdentitySchema().dump(grant.identity))

    @http("POST", "/api/v1/token/refresh", request=False,
          response=LOGIN_ANSWER,
          summary="续期访问令牌（在有效期内，以当前令牌换新令牌）",
          errors={401: "令牌无效或已过期，账户已变更（account_changed），"
                       "或登录时间过长（session_too_old）",
                  403: "账户已停用（account_disabled）"})
    def refresh_token(self, request):
        """A token about to expire, for a new one: the console keeps a
        person signed in while they work, up to
        ``SIFUWU_IDENTITY_SESSION_MAX_SECONDS`` after they signed in."""
        claims = jwt.decode(bearer_token(request.headers.get("Authorization")),
                            options={"verify_signature": False})
        auth_time = claims.get("auth_time", claims["iat"])
        outcome = self._run(steps.refresh_token, identity=request.grant.identity,
                            auth_time=auth_time, secrets=self.secrets,
                            now=self.clock(),
                            max_session_seconds=self.settings.session_max_seconds)
        return json_response(schemas.token_body(outcome,
                                                self.secrets.token_ttl))

    @http("PUT", "/api/v1/me/password",
          request=schemas.PasswordChangeSchema,
          response=wrapped("account", schemas.AccountSchema),
          summary="修改本人密码")
    def change_password(self, request):
        grant = request.grant
        change = load_body(request, schemas.PasswordChangeSchema(),
                           self.settings.max_body_bytes)
        account = self._run(steps.change_password, identity=grant.identity,
                            current=change["current_password"],
                            new=change["new_password"], secrets=self.secrets,
                            now=self.clock())
        return json_response(_account_body(account))

    # -- accounts (工委) ------------------------------------------------------------

    @http("POST", "/api/v1/accounts", request=schemas.AccountCreateSchema,
          response={201: shape("AccountCreated",
                               account=schemas.AccountSchema,
                               totp=fields.Dict())},
          summary="创建账户（动态口令的密钥仅此一次显示）",
          errors={409: "用户名已被使用（username_taken）"})
    def create_account(self, request):
        grant = request.grant
        spec = load_body(request, schemas.AccountCreateSchema(),
                         self.settings.max_body_bytes)
        try:
            account, enrolment = self._run(
                steps.create_account, identity=grant.identity, spec=spec,
                secrets=self.secrets, now=self.clock())
        except DuplicateKeyError:  # the same name, created meanwhile
            raise Conflict("用户名已被使用", code="username_taken")
        return json_response(_account_body(account, enrolment), status=201)

    @http("GET", "/api/v1/accounts", response=listing(schemas.AccountSchema),
          summary="账户列表")
    def list_accounts(self, request):
        accounts = steps.list_accounts(self._read())
        return json_response({
            "items": schemas.AccountSchema(many=True).dump(accounts),
            "count": len(accounts)})

    @http("GET", "/api/v1/accounts/<account_id>",
          response=wrapped("account", schemas.AccountSchema),
          summary="一个账户")
    def get_account(self, request, account_id):
        return json_response(_account_body(
            steps.show_account(self._read(), account_id)))

    @http("POST", "/api/v1/accounts/<account_id>/disable", request=False,
          response=wrapped("account", schemas.AccountSchema),
          summary="停用账户",
          errors={409: "状态不允许，或将停用最后一个工委账户"})
    def disable_account(self, request, account_id):
        grant = request.grant
        account = self._run(steps.set_status, identity=grant.identity,
                            account_id=account_id, status=domain.DISABLED,
                            now=self.clock())
        return json_response(_account_body(account))

    @http("POST", "/api/v1/accounts/<account_id>/enable", request=False,
          response=wrapped("account", schemas.AccountSchema),
          summary="启用账户", errors={409: "状态不允许"})
    def enable_account(self, request, account_id):
        grant = request.grant
        account = self._run(steps.set_status, identity=grant.identity,
                            account_id=account_id, status=domain.ACTIVE,
                            now=self.clock())
        return json_response(_account_body(account))

    @http("PUT", "/api/v1/accounts/<account_id>/role",
          request=schemas.RoleChangeSchema,
          response=shape("AccountCreated", account=schemas.AccountSchema,
                         totp=fields.Dict()),
          summary="更改账户角色及其单位或支部",
          errors={409: "将撤下最后一个工委账户"})
    def change_role(self, request, account_id):
        grant = request.grant
        change = load_body(request, schemas.RoleChangeSchema(),
                           self.settings.max_body_bytes)
        account, enrolment = self._run(
            steps.change_role, identity=grant.identity, account_id=account_id,
            change=change, secrets=self.secrets, now=self.clock())
        return json_response(_account_body(account, enrolment))

    @http("GET", "/api/v1/audit", response=listing(schemas.AuditEntrySchema),
          summary="账户变更审计记录（新的在前；?account= 筛选）")
    def audit(self, request):
        """Account changes, newest first (工委 and 审计)."""
        entries = steps.audit_entries(self._read(),
                                      account=request.args.get("account"))
        return json_response({
            "items": schemas.AuditEntrySchema(many=True).dump(entries),
            "count": len(entries)})
