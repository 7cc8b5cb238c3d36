"""Console service (工作台): entrypoints only.

Every page checks the session (the cookie names a server-side session that
holds the person's access token) and the role's menu; every form carries a
token bound to the session (or, before sign-in, to a cookie of the login
form). What a page shows comes from the other services' APIs called with the
person's own token, so their policies (and unit scoping) apply unchanged.
Pages are server-rendered (Jinja2) with no script at all: they work on an
isolated government network, at 1366×768 and on a phone, by keyboard.
"""

import functools
import hmac
import logging
import secrets
from urllib.parse import quote

import jinja2
from marshmallow import fields
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import redirect
from werkzeug.wrappers import Response

from sifuwu import access
from sifuwu.contract import shape
from sifuwu.errors import DomainError
from sifuwu.events import utcnow
from sifuwu.service import ServiceBase
from sifuwu.web import http
from services.console import domain, steps
from services.console.repository import INDEXES, SessionRepository
from services.console.settings import ConsoleSettings
from services.console.upstream import Upstream

log = logging.getLogger(__name__)

TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("services.console", "templates"),
    autoescape=True)

FORM_MAX_BYTES = 16 * 1024
LOGIN_FORM_MAX_AGE = 2 * 3600
PER_PAGE = 20

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
}


def render(template, status=200, **context):
    return Response(TEMPLATES.get_template(template).render(**context),
                    status=status, mimetype="text/html", headers=PAGE_HEADERS)


def read_form(request):
    request.max_content_length = FORM_MAX_BYTES
    request.max_form_memory_size = FORM_MAX_BYTES
    try:
        return request.form
    except RequestEntityTooLarge:
        raise DomainError("提交内容过长", code="payload_too_large", status=413)


def safe_next(value):
    """A path on this site to go back to after sign-in, or ``/``."""
    if isinstance(value, str) and value.startswith("/") and \
            not value.startswith("//") and "\\" not in value:
        return value
    return "/"


class ConsoleService(ServiceBase):
    name = "console"
    indexes = INDEXES
    settings_class = ConsoleSettings

    # -- sessions ------------------------------------------------------------

    @functools.cached_property
    def _login_signer(self):
        return TimestampSigner(self.settings.secret, salt="console-login")

    def _sessions(self, fn):
        return self.store.transaction(fn, repository=SessionRepository)

    def _cookie(self, response, name, value, max_age=None):
        response.set_cookie(name, value, max_age=max_age, httponly=True,
                            samesite="Strict", path="/",
                            secure=self.settings.cookie_secure)

    def _session(self, request, page=None):
        """(session, None) for a signed-in person who may see ``page``, or
        (None, the answer: back to sign-in, or 403)."""
        now, idle = utcnow(), self.settings.idle_seconds
        cookie = request.cookies.get(domain.SESSION_COOKIE)
        state, session = self._sessions(
            lambda uow: steps.current(uow.repo, cookie, now, idle))
        if session is None:
            # back to the page after sign-in; a form's page, not the form
            back = request.full_path.rstrip("?") if request.method == "GET" \
                else domain.PAGES.get(page, ("/",))[0]
            target = "/login?next=" + quote(back, safe="/?=&")
            if state != "missing":
                target += "&ended=" + state
            response = redirect(target, code=303)
            response.headers.update(PAGE_HEADERS)
            if state != "missing":
                response.delete_cookie(domain.SESSION_COOKIE, path="/")
            return None, response
        if domain.needs_renewal(session, now):
            session = self._renew(session, now)
        if page is not None and not domain.may_see(session["role"], page):
            return None, self._page(session, "message.html", status=403,
                                    page=page, heading="无权访问",
                                    text="您的角色不能使用此页面。")
        return session, None

    def _renew(self, session, now):
        """A new token from identity while the person works; if identity
        refuses (account changed, signed in too long), the session ends
        when its token does."""
        status, answer = self._upstream(session).call(
            "identity", "POST", "/api/v1/token/refresh")
        if status != 200:
            log.info("console: token renewal refused (%s)", status)
            return session
        return self._sessions(
            lambda uow: steps.renew(uow.repo, session, answer, now)) or session

    def _upstream(self, session=None):
        return Upstream(self.settings.upstream(),
                        token=session["token"] if session else None)

    def _page(self, session, template, status=200, page=None, **context):
        tz = self.settings.tz
        return render(template, status=status, session=session,
                      local=lambda value: domain.local_time(value, tz),
                      category=lambda code: domain.CATEGORY_NAMES.get(
                          code, code or "—"),
                      who=domain.scope_title(session),
                      menu=domain.menu(session["role"], page), **context)

    def _check_session_form(self, session, form):
        if not hmac.compare_digest(str(form.get("csrf", "")),
                                   session["csrf"]):
            raise DomainError("页面已过期，请刷新后重试", code="csrf_failed",
                              status=403)

    # -- sign-in and sign-out ---------------------------------------------------

    def _login_page(self, request, status=200, error=None, fields=None,
                    form=None):
        nonce = request.cookies.get(domain.LOGIN_COOKIE) or \
            secrets.token_urlsafe(16)
        ended = request.args.get("ended")
        response = render(
            "login.html", status=status,
            csrf=self._login_signer.sign(nonce).decode(),
            next=safe_next((form or request.args).get("next")),
            error=error or domain.ENDED.get(ended) if ended else error,
            fields=fields or {},
            username=(form or {}).get("username", ""))
        self._cookie(response, domain.LOGIN_COOKIE, nonce,
                     max_age=LOGIN_FORM_MAX_AGE)
        return response

    @http("GET", "/login", response="text/html", summary="登录页面")
    def login_page(self, request):
        return self._login_page(request)

    @http("POST", "/login", body="form",
          request=shape("ConsoleLoginForm", username=fields.String(),
                        password=fields.String(), totp=fields.String(),
                        csrf=fields.String(), next=fields.String()),
          response={303: None, 200: "text/html"},
          summary="登录（成功后转到原页面）",
          errors={401: "用户名、密码或动态口令错误（页面）",
                  403: "页面已过期（页面）", 423: "账户已临时锁定（页面）"})
    def login(self, request):
        form = read_form(request)
        nonce = request.cookies.get(domain.LOGIN_COOKIE, "")
        try:
            signed = self._login_signer.unsign(
                form.get("csrf", ""), max_age=LOGIN_FORM_MAX_AGE).decode()
        except (BadSignature, SignatureExpired):
            signed = None
        if not nonce or signed is None or not hmac.compare_digest(signed,
                                                                  nonce):
            return self._login_page(request, status=403, form=form,
                                    error="页面已过期，请重新输入后提交")
        body = {"username": form.get("username", "").strip(),
                "password": form.get("password", "")}
        if form.get("totp", "").strip():
            body["totp"] = form.get("totp", "").strip()
        status, answer = self._upstream().call(
            "identity", "POST", "/api/v1/login", json=body)
        if status != 200:
            answer = answer or {}
            fields = {key: "；".join(value) for key, value in
                      (answer.get("fields") or {}).items()}
            message = answer.get("message") or "身份服务暂时不可用，请稍后重试"
            return self._login_page(request, status=status if status < 500
                                    else 503, error=message, fields=fields,
                                    form=form)
        now = utcnow()
        cookie, session = self._sessions(
            lambda uow: steps.sign_in(uow.repo, answer, now))
        log.info("console: %s signed in", access.actor_name(access.Identity(
            account=session["account"], role=session["role"],
            username=session["username"])))
        response = redirect(safe_next(form.get("next")), code=303)
        self._cookie(response, domain.SESSION_COOKIE, cookie)
        response.delete_cookie(domain.LOGIN_COOKIE, path="/")
        return response

    @http("POST", "/logout", body="form",
          request=shape("ConsoleLogoutForm", csrf=fields.String()),
          response={303: None}, summary="退出登录")
    def logout(self, request):
        session, answer = self._session(request)
        if session is not None:
            self._check_session_form(session, read_form(request))
            cookie = request.cookies.get(domain.SESSION_COOKIE)
            self._sessions(lambda uow: steps.sign_out(uow.repo, cookie))
        response = redirect("/login", code=303)
        response.delete_cookie(domain.SESSION_COOKIE, path="/")
        return response

    # -- pages -------------------------------------------------------------------

    @http("GET", "/", response={200: "text/html", 303: None},
          summary="首页：本月关键数字（未登录转到登录页）")
    def home(self, request):
        session, answer = self._session(request, "home")
        if session is None:
            return answer
        now, tz = utcnow(), self.settings.tz
        up = self._upstream(session)
        context = {"month": domain.month_of(now, tz)}
        if session["role"] == access.OPERATOR:
            context["health"] = [
                (name, *self._upstream().get(name, "/health"))
                for name in ("activity", "assessment", "feedback", "notify",
                             "identity")]
            context["stats"] = up.get("notify", "/api/v1/messages/stats")
        else:
            answers = {
                "activities": up.get("activity", "/api/v1/activities",
                                     per_page=1, **{"from": domain.month_start(
                                         now, tz)}),
                "demands_received": up.get("activity", "/api/v1/demands",
                                           per_page=1, status="received"),
                "demands_in_progress": up.get("activity", "/api/v1/demands",
                                              per_page=1,
                                              status="in_progress"),
                "demands_overdue": up.get("activity", "/api/v1/demands",
                                          per_page=1, overdue="true"),
            }
            if session["role"] in (access.COMMITTEE, access.SUPERVISOR,
                                   access.AUDITOR, access.UNIT_STAFF):
                answers["rectifications"] = up.get(
                    "feedback", "/api/v1/rectifications", status="open")
            context["figures"] = domain.figures(answers)
            if session["role"] in (access.COMMITTEE, access.SUPERVISOR,
                                   access.AUDITOR):
                status, ranking = up.get(
                    "assessment", f"/api/v1/rankings/{context['month']}",
                    subject_type="unit")
                context["ranking"] = (ranking or {}).get("entries", [])[:10] \
                    if status == 200 else None
        return self._page(session, "home.html", page="home", **context)

    def _list_page(self, request, page, path, template, **filters):
        session, answer = self._session(request, page)
        if session is None:
            return answer
        try:
            number = max(1, int(request.args.get("page", "1")))
        except ValueError:
            number = 1
        status, body = self._upstream(session).get(
            "activity", path, page=number, per_page=PER_PAGE, **filters)
        items = (body or {}).get("items", []) if status == 200 else []
        total = (body or {}).get("total", 0) if status == 200 else 0
        pages = max(1, -(-total // PER_PAGE))
        return self._page(session, template, page=page, items=items,
                          total=total, number=number, pages=pages,
                          refused=None if status == 200 else status,
                          done=domain.DONE.get(request.args.get("done")),
                          may_act=session["role"] in domain.DEMAND_HANDLERS)

    @http("GET", "/activities", response={200: "text/html", 303: None},
          summary="服务活动列表（按登录人的单位范围）")
    def activities(self, request):
        return self._list_page(request, "activities", "/api/v1/activities",
                               "activities.html")

    @http("GET", "/demands", response={200: "text/html", 303: None},
          summary="诉求办理列表（按登录人的单位范围）")
    def demands(self, request):
        return self._list_page(request, "demands", "/api/v1/demands",
                               "demands.html")

    @http("POST", "/demands/<demand_id>/act", body="form",
          request=shape("DemandActionForm", action=fields.String(),
                        note=fields.String(), to_unit_id=fields.String(),
                        csrf=fields.String()),
          response={303: None, 200: "text/html"},
          summary="办理诉求：响应、开始办理、办结、转办（附说明）")
    def act_on_demand(self, request, demand_id):
        session, answer = self._session(request, "demands")
        if session is None:
            return answer
        if session["role"] not in domain.DEMAND_HANDLERS:
            return self._page(session, "message.html", status=403,
                              page="demands", heading="无权办理",
                              text="您的角色只能查看诉求，不能办理。")
        form = read_form(request)
        self._check_session_form(session, form)
        action = form.get("action", "")
        if action not in domain.DONE:
            return self._page(session, "message.html", status=400,
                              page="demands", heading="无法办理",
                              text="请选择要进行的办理操作。")
        body = {key: form.get(key).strip() for key in ("note", "to_unit_id")
                if form.get(key, "").strip()}
        status, result = self._upstream(session).call(
            "activity", "POST", f"/api/v1/demands/{quote(demand_id)}/{action}",
            json=body)
        if status != 200:
            message = (result or {}).get("message") or f"办理失败（{status}）"
            fields_ = (result or {}).get("fields") or {}
            detail = "；".join(f"{key}：{'；'.join(v)}"
                              for key, v in fields_.items())
            return self._page(session, "message.html", status=status
                              if 400 <= status < 500 else 503,
                              page="demands", heading="办理未成功",
                              text=message + (f"（{detail}）" if detail
                                              else ""))
        response = redirect(f"/demands?done={action}", code=303)
        response.headers.update(PAGE_HEADERS)
        return response
