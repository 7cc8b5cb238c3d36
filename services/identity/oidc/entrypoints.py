"""统一身份认证 (OIDC) entrypoints of the identity service, mixed into
``IdentityService``; they need its ``store`` (``_run``), ``clock``,
``settings`` and ``secrets``.

``oidc_login`` and ``oidc_callback`` are browser navigations (GET, public),
``oidc_totp`` finishes a TOTP role's sign-in, ``link_oidc`` is 工委's.
The callback calls the provider between two units of work (``steps``), so
no network call runs inside a transaction.
"""

import logging

from marshmallow import fields
from pymongo.errors import DuplicateKeyError
from werkzeug.utils import redirect

from sifuwu.contract import shape, wrapped
from sifuwu.web import error_body, http, json_response, load_body
from services.identity import schemas
from services.identity import steps as account_steps
from services.identity.dependencies import OidcProvider
from services.identity.oidc import domain, steps

log = logging.getLogger(__name__)

# binds a pending sign-in to the browser that began it (only its hash is
# stored); sent back on the provider's redirect (a top-level GET: Lax)
COOKIE = "sifuwu_oidc"
COOKIE_PATH = "/api/v1/oidc"
NO_STORE = {"Cache-Control": "no-store"}


LOGIN_ANSWER = shape("LoginAnswer", token=fields.String(),
                          token_type=fields.String(),
                          expires_in=fields.Integer(),
                          expires_at=fields.DateTime(),
                          account=schemas.AccountSchema)


class OidcEntrypoints:
    oidc_provider = OidcProvider()

    def _oidc(self):
        """The provider, or 404 while off (503 while half-configured)."""
        provider = self.oidc_provider
        if provider is None:
            raise domain.OidcDisabled()
        problems = provider.config.problems()
        if problems:
            log.error("统一身份认证登录未启用: %s", "；".join(problems))
            raise domain.OidcMisconfigured()
        return provider

    def _oidc_answer(self, outcome):
        if isinstance(outcome.error, domain.TotpStillRequired):
            error = outcome.error
            return json_response(
                dict(error_body(error.code, error.message),
                     ticket=error.ticket, expires_in=error.expires_in),
                status=401, headers=NO_STORE)
        if outcome.error is not None:
            raise outcome.error
        response = json_response(
            schemas.token_body(outcome, self.secrets.token_ttl),
            headers=NO_STORE)
        response.delete_cookie(COOKIE, path=COOKIE_PATH)
        return response

    @http("GET", "/api/v1/oidc/login", response={302: None},
          summary="统一身份认证登录：跳转到省统一身份认证",
          errors={404: "未启用统一身份认证（oidc_disabled）",
                  503: "统一身份认证暂时不可用（oidc_unavailable）"})
    def oidc_login(self, request):
        """Public: begin a sign-in at the province's 统一身份认证 (a redirect
        to its authorization endpoint)."""
        provider = self._oidc()
        provider.metadata()  # before anything is stored: 503 if unreachable
        begun = self._run(steps.begin_login, config=provider.config,
                          now=self.clock())
        response = redirect(provider.authorization_url(
            begun.state, begun.nonce, begun.verifier), code=302)
        response.headers.update(NO_STORE)
        response.set_cookie(
            COOKIE, begun.browser, max_age=provider.config.state_ttl,
            path=COOKIE_PATH, httponly=True, samesite="Lax",
            secure=provider.config.redirect_uri.startswith("https://"))
        return response

    @http("GET", "/api/v1/oidc/callback", query=schemas.OidcCallbackSchema,
          response=LOGIN_ANSWER,
          summary="统一身份认证回调：换取访问令牌",
          errors={401: "身份核验未通过，或须提供动态口令（totp_required）",
                  403: "该用户未关联账户（oidc_not_linked）或账户已停用",
                  404: "未启用统一身份认证（oidc_disabled）",
                  503: "统一身份认证暂时不可用（oidc_unavailable）"})
    def oidc_callback(self, request):
        """Public: the provider's redirect back; answers the token body of
        ``POST /api/v1/login`` (or 401 ``totp_required`` with a ticket)."""
        provider = self._oidc()
        params = schemas.OidcCallbackSchema().load(request.args.to_dict())
        pending = self._run(steps.take_login, state=params["state"],
                            browser=request.cookies.get(COOKIE),
                            now=self.clock())
        if pending is None:
            raise domain.StateInvalid()
        refused = domain.provider_error(params)
        if refused is not None:
            raise refused
        domain.check_issuer_param(params, provider.config)
        if not params["code"]:
            raise domain.CodeInvalid("回调缺少授权码")
        token = provider.exchange(params["code"], pending["code_verifier"])
        claims = provider.verify(token, pending["nonce"], self.clock())
        return self._oidc_answer(self._run(
            steps.sign_in, claims=claims, config=provider.config,
            secrets=self.secrets, now=self.clock()))

    @http("POST", "/api/v1/oidc/totp", request=schemas.OidcTotpSchema,
          response=LOGIN_ANSWER,
          summary="统一身份认证登录后补充动态口令",
          errors={401: "动态口令错误或票据无效", 423: "账户已临时锁定"})
    def oidc_totp(self, request):
        """Public: the TOTP code of a 工委 or 运维 account after the provider
        signed it in without a trusted multi-factor claim."""
        self._oidc()
        body = load_body(request, schemas.OidcTotpSchema(),
                         self.settings.max_body_bytes)
        return self._oidc_answer(self._run(
            steps.finish_totp, ticket=body["ticket"], code=body["totp"],
            secrets=self.secrets, now=self.clock()))

    @http("PUT", "/api/v1/accounts/<account_id>/oidc",
          request=schemas.OidcLinkSchema,
          response=wrapped("account", schemas.AccountSchema),
          summary="关联或解除统一身份认证用户",
          errors={409: "该统一身份认证用户已关联其他账户"})
    def link_oidc(self, request, account_id):
        """工委: link an account to its 统一身份认证 user (null unlinks)."""
        change = load_body(request, schemas.OidcLinkSchema(),
                           self.settings.max_body_bytes)
        try:
            account = self._run(
                account_steps.link_oidc, identity=request.grant.identity,
                account_id=account_id, subject=change["oidc_subject"],
                now=self.clock())
        except DuplicateKeyError:  # the same user, linked meanwhile
            raise domain.SubjectTaken()
        return json_response({"account": schemas.AccountSchema().dump(
            account)})
