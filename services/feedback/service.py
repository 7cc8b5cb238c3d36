"""Feedback service (评价服务): entrypoints only.

Public (recipients, on a phone): ``/f/<token>`` rating pages,
``/publicity`` board with the objection form, and their JSON equivalents.
Staff (bearer token): rectifications, appeals, objections, recommendations.

Rate limits (fixed windows; ``429`` when exceeded): per client address 60
submissions a minute (``SIFUWU_FEEDBACK_RATE_ADDRESS``, "count/seconds") and
per invitation token 20 attempts an hour (``SIFUWU_FEEDBACK_RATE_TOKEN``).
Behind one reverse proxy set ``SIFUWU_FEEDBACK_TRUST_FORWARDED=1`` to count
the address it forwards. The counters live in each instance's memory (no
store statement per request), keyed by keyed hashes of addresses and tokens:
with N feedback instances behind a balancer the effective limit is up to N
times the configured one, and a restart starts the windows afresh. The
token limit is a nuisance brake only: tokens are signed, so they cannot be
guessed anyway, and a link is single-use whatever the limits.

A rating is one read of the invitation by id (an invalid, used or expired
link is refused there), then one short transaction: the invitation marked
used by id, the rating inserted (its unique index on the invitation lets
one of concurrent submissions through), the events written to the outbox
in one statement, the commit. The ratings that the requests of one
process submit while another batch is being written are written together,
with the same statements (group commit, ``sifuwu.group``): a statement
costs SecantusDB nearly as much for ten documents as for one. On
SecantusDB every statement inside a transaction passes one server-wide
lock, and a filter of an id plus other conditions scans the collection:
hence the read outside and the update by id alone.
"""

import functools
import hashlib
import logging
import os

import jinja2
from itsdangerous import (
    BadSignature, SignatureExpired, TimestampSigner, URLSafeSerializer,
)
from marshmallow import ValidationError
from nameko.timer import timer
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from sifuwu import events as ev
from sifuwu.auth import bearer_identity
from sifuwu.batch import batch_consumes
from sifuwu.consumer import consumes
from sifuwu.errors import Conflict, DomainError, Forbidden, TooManyRequests
from sifuwu.group import GroupCommit
from sifuwu.service import ServiceBase
from sifuwu.store import IN_CHUNK
from sifuwu.web import http, json_response, load_body, read_json
from services.feedback import domain, repository, schemas
from services.feedback.dependencies import RateLimits

log = logging.getLogger(__name__)

TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("services.feedback", "templates"),
    autoescape=True)

# The rating path's schemas, built once (building one costs more than
# using it; marshmallow schemas keep no state between loads).
SUBMIT_SCHEMA = schemas.FeedbackSubmitSchema()
RATING_SCHEMA = schemas.RatingSchema()

CSRF_COOKIE = "sfw_csrf"
SWEEP_SECONDS = 60
DEFAULT_SWEEP_SECONDS = 600


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


def submit_ratings(store, claims, now, *, timezone):
    """The outcomes of rating claims ([(invitation id, data)]), in order: a
    rating, or the DomainError its submitter gets.

    One read of the invitations (a link that is unknown, used, expired or
    claimed twice in the batch is refused there), then one transaction for
    all the rest: the invitations marked used, the ratings inserted, the
    events written to the outbox, the commit. If a submission elsewhere
    took one of the invitations meanwhile, that transaction is refused and
    the claims are written again one by one, so only that one is refused."""
    found = repository.find_invitations(store.db, [i for i, _ in claims])
    outcomes, valid, claimed = [None] * len(claims), [], set()
    for index, (invitation_id, data) in enumerate(claims):
        try:
            invitation = repository.open_invitation(found.get(invitation_id),
                                                    now)
            if invitation_id in claimed:
                raise Conflict(repository.ALREADY_RATED, code="already_rated")
        except DomainError as exc:
            outcomes[index] = exc
            continue
        claimed.add(invitation_id)
        valid.append((index, invitation, data))

    def write(batch):
        return store.transaction(lambda uow: repository.submit_ratings(
            uow, [(invitation, data) for _, invitation, data in batch], now,
            timezone=timezone))

    def write_alone(one):
        try:
            return write([one])[0]
        except DomainError as exc:
            return exc

    try:
        ratings = write(valid) if valid else []
    except DomainError:
        ratings = [write_alone(one) for one in valid]
    for (index, _, _), rating in zip(valid, ratings):
        outcomes[index] = rating
    return outcomes


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


FORM_MAX_BYTES = 64 * 1024


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


class FeedbackService(ServiceBase):
    name = "feedback"
    indexes = repository.INDEXES

    rate_limits = RateLimits()
    rating_writes = GroupCommit(max_batch=IN_CHUNK)

    # -- settings -----------------------------------------------------------

    def _setting(self, key, default):
        return self.config.get(key, os.environ.get(key, default))

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

    # -- safety helpers ---------------------------------------------------------

    def _limit(self, request, token=None):
        """Fixed-window rate limits per address and per token (429), in
        this instance's memory. Counted before validation, so invalid
        attempts count too."""
        secret, now = self.settings.secret, self.clock()
        counter = self.rate_limits
        count, window = domain.parse_rate(
            self._setting("SIFUWU_FEEDBACK_RATE_ADDRESS", ""),
            domain.RATE_PER_ADDRESS)
        address = self._client_address(request)
        if not counter.hit(domain.rate_key(secret, "addr", address), now,
                           count, window):
            raise TooManyRequests(f"提交过于频繁，请 {window} 秒后再试")
        if token and isinstance(token, str):
            count, window = domain.parse_rate(
                self._setting("SIFUWU_FEEDBACK_RATE_TOKEN", ""),
                domain.RATE_PER_TOKEN)
            if not counter.hit(domain.rate_key(secret, "token", token), now,
                               count, window):
                raise TooManyRequests("该链接提交次数过多，请稍后再试")

    def _client_address(self, request):
        """The caller's address; behind one trusted reverse proxy
        (SIFUWU_FEEDBACK_TRUST_FORWARDED=1) the last X-Forwarded-For hop."""
        if str(self._setting("SIFUWU_FEEDBACK_TRUST_FORWARDED", "")).lower() \
                in ("1", "true", "yes"):
            forwarded = request.headers.get("X-Forwarded-For", "")
            hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
            if hops:
                return hops[-1]
        return request.remote_addr or "unknown"

    def _csrf_field(self, request, purpose):
        """(hidden field value, cookie nonce) for a form page."""
        nonce = request.cookies.get(CSRF_COOKIE) or ""
        if not (16 <= len(nonce) <= 64 and nonce.replace("-", "").replace(
                "_", "").isalnum()):
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

    @staticmethod
    def _purpose(token):
        return "rate:" + hashlib.sha256(token.encode()).hexdigest()[:16]

    def _staff(self, request):
        return bearer_identity(request, self.settings.staff_tokens)

    # -- events in --------------------------------------------------------------

    def _invite(self, envelope, subject_type, subject_id, contact,
                subject):
        settings = self.settings
        self.store.transaction(
            functools.partial(
                repository.issue_invitation, subject_type=subject_type,
                subject_id=subject_id, contact=contact, subject=subject,
                secret=settings.secret, signer=self.signer,
                base_url=settings.feedback_base_url, now=self.clock(),
                correlation_id=envelope.get("correlation_id")),
            consumed=envelope,
            correlation_id=envelope.get("correlation_id"))

    @batch_consumes("activity", ev.ACTIVITY_LOGGED, max_batch=200,
                    max_wait=0.05)
    def on_activity_logged(self, envelopes):
        """A service activity with a recipient phone gets an invitation.

        Batched: activities arrive by the thousand. A batch is one
        transaction of a constant number of statements (the dedupe read,
        the consumed ids, one read of the subjects already invited, one
        insert of the invitations, the outbox, the commit); a batch without
        phones costs none. An invalid event fails the batch, which is then
        replayed one event at a time so only that one is dead-lettered."""
        schema = schemas.ActivityLoggedSchema()
        wanted = {}
        for envelope in envelopes:
            activity = schema.load(envelope["data"])
            if activity["recipient"].get("phone"):
                wanted[envelope["event_id"]] = activity
        if not wanted:
            return
        settings = self.settings
        now, signer = self.clock(), self.signer

        def apply(uow, fresh):
            repository.issue_invitations(uow, [{
                "subject_type": domain.SUBJECT_ACTIVITY,
                "subject_id": wanted[env["event_id"]]["activity_id"],
                "contact": wanted[env["event_id"]]["recipient"],
                "subject": wanted[env["event_id"]],
                "correlation_id": env.get("correlation_id")}
                for env in fresh],
                secret=settings.secret, signer=signer,
                base_url=settings.feedback_base_url, now=now)

        self.store.transaction_batch(
            apply,
            [env for env in envelopes if env["event_id"] in wanted])

    @consumes("activity", ev.DEMAND_STATUS_CHANGED)
    def on_demand_status_changed(self, envelope):
        """A resolved demand: invite its raiser to rate the handling."""
        demand = schemas.DemandStatusChangedSchema().load(envelope["data"])
        raiser = demand.get("raiser") or {}
        if demand["status"] != "resolved" or not raiser.get("phone"):
            return
        self._invite(envelope,
                     domain.SUBJECT_DEMAND, demand["demand_id"], raiser, {
                         "member_id": demand.get("member_id"),
                         "member_name": demand.get("member_name"),
                         "unit_id": demand.get("owner_unit_id"),
                         "branch_id": demand.get("branch_id"),
                         "category": demand.get("category")})

    @consumes("assessment", ev.PUBLICITY_OPENED)
    def on_publicity_opened(self, envelope):
        """Keep the board's copy of a publicity list (公示)."""
        data = schemas.PublicityOpenedSchema().load(envelope["data"])
        now = self.clock()
        self.store.transaction(
            lambda uow: repository.save_publicity(uow, data, now),
            consumed=envelope)

    @consumes("assessment", ev.OBJECTION_ANSWERED)
    def on_objection_answered(self, envelope):
        """Answers may also be given in assessment; the board shows them."""
        data = schemas.ObjectionAnsweredSchema().load(envelope["data"])
        now = self.clock()
        self.store.transaction(
            lambda uow: repository.record_answer_from_assessment(
                uow, data, now),
            consumed=envelope)

    # -- the overdue sweeper ---------------------------------------------------

    @timer(interval=SWEEP_SECONDS, eager=True)
    def sweep_overdue(self):
        """Announce passed callback/fix deadlines (rectification.overdue)."""
        now = self.clock()
        announced = 0
        for rect_id in repository.overdue_candidates(self.store.db, now):
            kinds = self.store.transaction(
                lambda uow, rect_id=rect_id: repository.flag_overdue(
                    uow, rect_id, now))
            announced += len(kinds)
        if announced:
            log.info("rectification sweep: %d overdue deadline(s) announced",
                     announced)
        return announced

    @timer(interval=DEFAULT_SWEEP_SECONDS, eager=True)
    def apply_default_ratings(self):
        """默认好评, off unless SIFUWU_FEEDBACK_DEFAULT_AFTER_WORKING_DAYS
        is set: an invitation unused for that many working days counts as
        满意, marked ``defaulted``."""
        try:
            days = int(self._setting(
                "SIFUWU_FEEDBACK_DEFAULT_AFTER_WORKING_DAYS", 0) or 0)
        except (TypeError, ValueError):
            days = 0
        if days <= 0:
            return 0
        now, timezone = self.clock(), self.settings.timezone
        applied = 0
        for invitation_id in repository.default_candidates(self.store.db,
                                                           now, days):
            try:
                rating = self.store.transaction(
                    lambda uow, iid=invitation_id:
                        repository.apply_default_rating(uow, iid, now, days,
                                                        timezone=timezone))
            except Conflict:  # rated by its recipient meanwhile
                rating = None
            applied += rating is not None
        if applied:
            log.info("default ratings applied: %d", applied)
        return applied

    # -- ratings -----------------------------------------------------------------

    def _submit(self, token, data):
        """The rating of one request, written together with the ratings
        other requests of this process submit meanwhile (``GroupCommit``)."""
        claim = (self.invitation_id(token), data)
        return self.rating_writes.submit(claim, self._write_ratings)

    def _write_ratings(self, claims):
        return submit_ratings(self.store, claims, self.clock(),
                              timezone=self.settings.timezone)

    @http("POST", "/api/v1/feedback")
    def submit_feedback(self, request):
        require_json(request)
        payload = read_json(request, self.settings.max_body_bytes)
        if not isinstance(payload, dict):
            raise ValidationError({"body": ["请求体须为 JSON 对象"]})
        self._limit(request, payload.get("token"))
        data = SUBMIT_SCHEMA.load(payload)
        rating = self._submit(data["token"], data)
        return json_response(RATING_SCHEMA.dump(rating), status=201)

    def _rate_page(self, request, token, invitation, status=200, error=None,
                   form=None):
        csrf, nonce = self._csrf_field(request, self._purpose(token))
        prompt = domain.SUBJECT_PROMPTS[invitation["subject_type"]].format(
            member=invitation.get("member_name") or "我们的党员干部")
        response = render(
            "rate.html", status=status, action=f"/f/{token}", csrf=csrf,
            prompt=prompt, error=error, form=form or {},
            can_recommend=bool(invitation.get("member_id")),
            member_name=invitation.get("member_name"),
            levels=sorted(domain.LEVELS.items(), reverse=True),
            aspects=list(domain.ASPECTS.items()),
            comment_max=domain.COMMENT_MAX,
            expires_on=domain.local_date_text(invitation["expires_at"],
                                              self.settings.timezone))
        return self._with_cookie(response, nonce)

    @http("GET", "/f/<token>")
    def rating_page(self, request, token):
        try:
            invitation = repository.find_open_invitation(
                self.store.db, self.invitation_id(token), self.clock())
        except DomainError as exc:
            return self._error_page(exc)
        return self._rate_page(request, token, invitation)

    @http("POST", "/f/<token>")
    def rating_form(self, request, token):
        try:
            form = read_form(request)
        except DomainError as exc:
            return self._error_page(exc)
        data = {"token": token, "rating": form.get("rating"),
                "comment": form.get("comment", ""),
                "aspects": {key: form.get(f"aspect_{key}")
                            for key in domain.ASPECTS
                            if form.get(f"aspect_{key}")},
                "recommend": form.get("recommend") == "1",
                "recommend_reason": form.get("recommend_reason", "")}
        try:
            self._limit(request, token)
            self._check_csrf(request, self._purpose(token))
            loaded = SUBMIT_SCHEMA.load(data)
            rating = self._submit(token, loaded)
        except ValidationError as exc:
            try:
                invitation = repository.find_open_invitation(
                    self.store.db, self.invitation_id(token), self.clock())
            except DomainError as gone:
                return self._error_page(gone)
            return self._rate_page(
                request, token, invitation, status=400,
                error="；".join(first_messages(exc.messages)), form=data)
        except DomainError as exc:
            return self._error_page(exc, back=(
                f"/f/{token}" if exc.code in ("csrf_failed", "form_expired")
                else None))
        text = "您的评价已提交，我们将据此改进服务。"
        if rating["bad"]:
            text = ("您的评价已提交。相关单位将在 1 个工作日内与您联系回访，"
                    "并在 15 日内完成整改，整改后将邀请您再次评价。")
        return message_page(200, "感谢您的评价", text, "ok")

    @staticmethod
    def _error_page(exc, back=None):
        icons = {"already_rated": "ok"}
        texts = {
            "already_rated": "每项服务只能评价一次（一事一评），无需重复提交。",
            "link_expired": "评价链接有效期为 15 天，已超过有效期。",
            "invalid_link": "请核对短信中的链接是否完整。",
            "too_many_requests": "为保护您的评价安全，请稍后再试。",
        }
        text = texts.get(exc.code, "")
        if back:
            text = "请返回页面刷新后重新提交。"
        return message_page(
            exc.status, exc.message,
            text + "如有疑问，请拨打 12345 政务服务便民热线。",
            icons.get(exc.code, "warn"), back=back)

    # -- rectifications (staff) -----------------------------------------------

    def _rect_out(self, rect, reveal=False):
        out = schemas.RectificationSchema().dump(
            {**rect, "reviewer": repository.reviewer_contact(
                rect, self.settings.secret, reveal)})
        return out

    @http("GET", "/api/v1/rectifications")
    def list_rectifications(self, request):
        self._staff(request)
        filters = schemas.ListQuerySchema().load(request.args.to_dict())
        items = repository.list_rectifications(self.store.db, filters)
        return json_response({"items": [self._rect_out(r) for r in items],
                              "count": len(items)})

    @http("GET", "/api/v1/rectifications/<rect_id>")
    def get_rectification(self, request, rect_id):
        """Staff see the reviewer's contact here, to call back (回访)."""
        who = self._staff(request)
        rect = repository.get_rectification(self.store.db, rect_id)
        log.info("staff %s opened rectification %s (reviewer contact shown)",
                 who, rect_id)
        return json_response(self._rect_out(rect, reveal=True))

    @http("POST", "/api/v1/rectifications/<rect_id>/callback")
    def record_callback(self, request, rect_id):
        who = self._staff(request)
        require_json(request)
        data = load_body(request, schemas.CallbackSchema())
        now = self.clock()
        rect = self.store.transaction(lambda uow: repository.record_callback(
            uow, rect_id, data["note"], now, by=who))
        return json_response(self._rect_out(rect))

    @http("POST", "/api/v1/rectifications/<rect_id>/close")
    def close_rectification(self, request, rect_id):
        who = self._staff(request)
        require_json(request)
        data = load_body(request, schemas.CloseSchema())
        now, settings = self.clock(), self.settings
        rect = self.store.transaction(
            lambda uow: repository.close_rectification(
                uow, rect_id, data["outcome"], now, by=who,
                secret=settings.secret, signer=self.signer,
                base_url=settings.feedback_base_url))
        return json_response(self._rect_out(rect))

    # -- appeals (staff) ------------------------------------------------------------

    @http("POST", "/api/v1/ratings/<rating_id>/appeals")
    def file_appeal(self, request, rating_id):
        """申诉 by the unit's staff account."""
        who = self._staff(request)
        require_json(request)
        data = load_body(request, schemas.AppealSchema())
        now = self.clock()
        appeal = self.store.transaction(lambda uow: repository.file_appeal(
            uow, rating_id, data["reason"], now, by=who))
        return json_response(schemas.AppealOutSchema().dump(appeal),
                             status=201)

    @http("GET", "/api/v1/appeals")
    def list_appeals(self, request):
        self._staff(request)
        filters = schemas.ListQuerySchema().load(request.args.to_dict())
        items = repository.list_appeals(self.store.db, filters)
        return json_response({
            "items": schemas.AppealOutSchema(many=True).dump(items),
            "count": len(items)})

    @http("POST", "/api/v1/appeals/<appeal_id>/decision")
    def decide_appeal(self, request, appeal_id):
        who = self._staff(request)
        require_json(request)
        data = load_body(request, schemas.AppealDecisionSchema())
        now = self.clock()
        appeal = self.store.transaction(lambda uow: repository.decide_appeal(
            uow, appeal_id, data["upheld"], data["reason"], now, by=who))
        return json_response(schemas.AppealOutSchema().dump(appeal))

    # -- recommendations -------------------------------------------------------------

    @http("POST", "/api/v1/recommendations")
    def submit_recommendation(self, request):
        """推荐典型 by anyone; the recommender's contact is sealed."""
        require_json(request)
        self._limit(request)
        data = load_body(request, schemas.RecommendationSchema(),
                         self.settings.max_body_bytes)
        now, secret = self.clock(), self.settings.secret
        rec = self.store.transaction(
            lambda uow: repository.record_recommendation(
                uow, data, now, source="public", secret=secret))
        return json_response(schemas.RecommendationOutSchema().dump(rec),
                             status=201)

    @http("GET", "/api/v1/recommendations")
    def list_recommendations(self, request):
        self._staff(request)
        filters = schemas.ListQuerySchema().load(request.args.to_dict())
        items = repository.list_recommendations(self.store.db, filters)
        return json_response({
            "items": schemas.RecommendationOutSchema(many=True).dump(items),
            "count": len(items)})

    # -- the public board and objections ---------------------------------------------

    def _today(self):
        return domain.local_today(self.clock(), self.settings.timezone)

    def _board_page(self, request, status=200, error=None, form=None):
        csrf, nonce = self._csrf_field(request, "publicity")
        lists = repository.board(self.store.db, self._today())
        response = render("publicity.html", status=status, lists=lists,
                          csrf=csrf, error=error, form=form or {},
                          reason_max=domain.REASON_MAX)
        return self._with_cookie(response, nonce)

    @http("GET", "/publicity")
    def publicity_page(self, request):
        return self._board_page(request)

    @http("GET", "/api/v1/publicity")
    def publicity_json(self, request):
        lists = repository.board(self.store.db, self._today())
        return json_response({"items": [{
            "campaign_id": p["_id"], "title": p["title"],
            "starts_on": p["starts_on"], "ends_on": p["ends_on"],
            "open": p["open"], "candidates": p["candidates"],
            "answers": p["answers"]} for p in lists]})

    def _file_objection(self, data):
        now, secret, today = self.clock(), self.settings.secret, self._today()
        return self.store.transaction(lambda uow: repository.file_objection(
            uow, data, now, secret=secret, today=today))

    @http("POST", "/publicity/objections")
    def objection_form(self, request):
        try:
            posted = read_form(request)
        except DomainError as exc:
            return message_page(exc.status, exc.message, "", "warn",
                                back="/publicity", board=True)
        form = {key: posted.get(key, "") for key in (
            "campaign_id", "candidate_id", "reason", "name", "phone")}
        try:
            self._limit(request)
            self._check_csrf(request, "publicity")
            data = schemas.ObjectionSchema().load(
                {k: v for k, v in form.items() if v != ""})
            objection = self._file_objection(data)
        except ValidationError as exc:
            return self._board_page(
                request, status=400,
                error="；".join(first_messages(exc.messages)), form=form)
        except DomainError as exc:
            return message_page(
                exc.status, exc.message,
                "如有疑问，请拨打 12345 政务服务便民热线。",
                "ok" if exc.code == "already_objected" else "warn",
                back="/publicity", board=True)
        return message_page(
            200, "异议已受理",
            f"受理编号 {objection['ref']}。我们将依规核实，答复将在公示栏公布；"
            "您的姓名和联系方式严格保密。", "ok", back="/publicity",
            board=True)

    @http("POST", "/api/v1/objections")
    def submit_objection(self, request):
        require_json(request)
        self._limit(request)
        data = load_body(request, schemas.ObjectionSchema(),
                         self.settings.max_body_bytes)
        objection = self._file_objection(data)
        out = schemas.ObjectionOutSchema(
            only=("id", "ref", "campaign_id", "candidate_id", "status",
                  "filed_at")).dump(objection)
        return json_response(out, status=201)

    @http("GET", "/api/v1/objections")
    def list_objections(self, request):
        """Staff only: the objector's contact, to verify and reply."""
        who = self._staff(request)
        filters = schemas.ListQuerySchema().load(request.args.to_dict())
        items = repository.list_objections(self.store.db, filters)
        secret = self.settings.secret
        log.info("staff %s listed %d objection(s) (contacts shown)", who,
                 len(items))
        return json_response({"items": [
            schemas.ObjectionOutSchema().dump(
                {**o, "objector": repository.objector_contact(o, secret)})
            for o in items], "count": len(items)})

    @http("POST", "/api/v1/objections/<objection_id>/answer")
    def answer_objection(self, request, objection_id):
        who = self._staff(request)
        require_json(request)
        data = load_body(request, schemas.AnswerSchema())
        now = self.clock()
        objection = self.store.transaction(
            lambda uow: repository.answer_objection(
                uow, objection_id, data["substantiated"], data["answer"], now,
                by=who, secret=self.settings.secret))
        return json_response(schemas.ObjectionOutSchema(
            exclude=("objector",)).dump(objection))
