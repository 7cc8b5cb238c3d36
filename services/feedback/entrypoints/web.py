"""What the feedback entrypoints share: pages, forms, rate limits, CSRF
(signed double-submit), signed invitation links, staff identity, and the
unit of work for reads.

Rate limits (fixed windows; ``429`` when exceeded) count per client address
and per invitation token (``FeedbackSettings.address_rate`` and
``token_rate``). Behind one reverse proxy set ``trust_forwarded`` to count
the address it forwards. The counters live in the store
(``services.feedback.rates``), keyed by keyed hashes of addresses and
tokens: every feedback instance behind a balancer counts in the same
documents, so together they allow the configured limit once, and a restart
keeps the windows. Each check is one store statement; when the store cannot
count, the request is let through with a logged warning. The token limit is
a nuisance brake only: tokens are signed, so they cannot be guessed anyway,
and a link is single-use whatever the limits.
"""

import functools

import jinja2
from itsdangerous import (
    BadSignature, SignatureExpired, TimestampSigner, URLSafeSerializer,
)
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from sifuwu.access import actor
from sifuwu.errors import DomainError, Forbidden
from sifuwu.privacy import contact_keys
from sifuwu.workdays import WorkCalendar
from services.feedback import domain, repository

TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("services.feedback", "templates"),
    autoescape=True)

CSRF_COOKIE = "sfw_csrf"
FORM_MAX_BYTES = 64 * 1024

# Pages carry the invitation token in their URL and take a rating nobody
# may interfere with: never cached, never framed, never leaked as a Referer,
# no scripts at all.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
}


def render(template, status=200, **context):
    return Response(TEMPLATES.get_template(template).render(**context),
                    status=status, mimetype="text/html",
                    headers=PAGE_HEADERS)


def message_page(status, heading, text, icon="info", back=None,
                 board=False):
    return render("message.html", status=status, heading=heading, text=text,
                  icon=icon, back=back, board=board)


def first_messages(messages):
    """Flatten marshmallow's messages into a list of zh-CN sentences."""
    found = []
    if isinstance(messages, dict):
        for value in messages.values():
            found.extend(first_messages(value))
    elif isinstance(messages, (list, tuple)):
        for value in messages:
            found.extend(first_messages(value))
    else:
        found.append(str(messages))
    return found


def read_form(request):
    """The posted form, refusing bodies over FORM_MAX_BYTES (413)."""
    request.max_content_length = FORM_MAX_BYTES
    request.max_form_memory_size = FORM_MAX_BYTES
    try:
        return request.form
    except RequestEntityTooLarge:
        raise DomainError("提交内容过长", code="payload_too_large", status=413)


def require_json(request):
    """JSON endpoints take only application/json: a cross-site HTML form
    cannot send it without a CORS preflight."""
    if request.mimetype != "application/json":
        raise DomainError("请求须为 application/json", code="unsupported_media",
                          status=415)


def scoped_filters(request, filters):
    """List filters narrowed to the caller's unit (``Grant.narrow``); None
    makes an empty list."""
    return request.grant.narrow(filters)


class FeedbackWeb:
    """Helpers of every feedback entrypoint; needs ``store``, ``clock``,
    ``settings`` (``FeedbackSettings``) and ``rate_limits``."""

    # -- units of work ---------------------------------------------------------

    def _run(self, fn, **kwargs):
        """``fn(uow)`` in one transaction, ``uow.repo`` the repository."""
        return self.store.transaction(
            fn, repository=repository.FeedbackRepository, **kwargs)

    def _read(self, step, *args, **kwargs):
        """A read-only step, outside any transaction."""
        return step(repository.reading(self.store.db), *args, **kwargs)

    @functools.cached_property
    def calendar(self):
        """The working-day calendar (the calendar file if one is set)."""
        return WorkCalendar.configured(self.settings.calendar_file or None)

    def _today(self):
        return domain.local_today(self.clock(), self.settings.tz)

    # -- links and identities -----------------------------------------------

    @property
    def contact_keys(self):
        """The contact keys (``SIFUWU_CONTACT_KEYS``) that seal and open
        contacts."""
        return contact_keys(self.settings)

    @property
    def signer(self):
        return URLSafeSerializer(self.settings.secret,
                                 salt="feedback-invitation")

    @property
    def csrf_signer(self):
        return TimestampSigner(self.settings.secret, salt="feedback-form")

    def invitation_id(self, token):
        try:
            return self.signer.loads(token)
        except BadSignature:
            raise DomainError("评价链接无效或已被篡改", code="invalid_link",
                              status=404)

    def _staff(self, request):
        return actor(request)

    def _links(self):
        """What a step needs to seal contacts and sign invitation links."""
        return {"secret": self.settings.secret, "signer": self.signer,
                "sealer": self.contact_keys,
                "base_url": self.settings.feedback_base_url}

    # -- rate limits and CSRF ----------------------------------------------------

    def _limit(self, request, token=None):
        """Fixed-window rate limits per address and per token (429),
        counted in the store and shared by every instance (one statement
        per limit checked). Counted before validation, so invalid attempts
        count too."""
        settings = self.settings
        domain.check_rates(
            self.rate_limits, settings.secret, self.clock(),
            address=self._client_address(request), token=token,
            address_rate=settings.address_rate,
            token_rate=settings.token_rate)

    def _client_address(self, request):
        return domain.client_address(
            request.headers.get("X-Forwarded-For", ""), request.remote_addr,
            self.settings.trust_forwarded)

    def _csrf_field(self, request, purpose):
        """(hidden field value, cookie nonce) for a form page."""
        nonce = request.cookies.get(CSRF_COOKIE) or ""
        if not domain.usable_nonce(nonce):
            nonce = domain.new_csrf_nonce()
        signed = self.csrf_signer.sign(f"{purpose}|{nonce}").decode()
        return signed, nonce

    def _with_cookie(self, response, nonce):
        response.set_cookie(
            CSRF_COOKIE, nonce, httponly=True, samesite="Lax", path="/",
            secure=self.settings.feedback_base_url.startswith("https:"))
        return response

    def _check_csrf(self, request, purpose):
        """Signed double-submit: the form's signed nonce must be fresh, for
        this form, and equal to the cookie set with the page."""
        value = read_form(request).get("csrf", "")
        try:
            raw = self.csrf_signer.unsign(
                value, max_age=domain.CSRF_MAX_AGE).decode()
        except SignatureExpired:
            raise Forbidden("页面已过期，请刷新页面后重新提交",
                            code="form_expired")
        except BadSignature:
            raise Forbidden("页面校验失败，请从原链接重新打开页面后提交",
                            code="csrf_failed")
        signed_purpose, _, nonce = raw.rpartition("|")
        if signed_purpose != purpose or not domain.csrf_matches(
                request.cookies.get(CSRF_COOKIE), nonce):
            raise Forbidden("页面校验失败，请从原链接重新打开页面后提交",
                            code="csrf_failed")
