"""Rating pages (``/f/<token>``) and the rating API, and the default-rating
sweeper (默认好评).

A rating is one read of the invitation by id (an invalid, used or expired
link is refused there), then one short transaction: the invitation marked
used by id, the rating inserted (its unique index on the invitation lets
one of concurrent submissions through), the events written to the outbox
in one statement, the commit. The ratings that the requests of one process
submit while another batch is being written are written together, with
the same statements (group commit, ``sifuwu.group``). On SecantusDB every
statement inside a transaction passes one server-wide lock, and a filter of
an id plus other conditions scans the collection: hence the read outside
and the update by id alone.
"""

import hashlib
import logging

from marshmallow import ValidationError, fields
from nameko.timer import timer

from sifuwu.errors import Conflict, DomainError
from sifuwu.contract import shape
from sifuwu.web import http, json_response, read_json
from services.feedback import domain, repository, schemas
from services.feedback.entrypoints.web import (
    FeedbackWeb, first_messages, message_page, read_form, render,
    require_json,
)
from services.feedback.steps import invitations, ratings

log = logging.getLogger(__name__)

# The rating path's schemas, built once (building one costs more than
# using it; marshmallow schemas keep no state between loads).
SUBMIT_SCHEMA = schemas.FeedbackSubmitSchema()
RATING_SCHEMA = schemas.RatingSchema()

DEFAULT_SWEEP_SECONDS = 600


def submit_ratings(store, claims, now, *, tz, calendar):
    """The outcomes of rating claims ([(invitation id, data)]), in order: a
    rating, or the DomainError its submitter gets.

    One read of the invitations (``steps.ratings.claim_invitations``), then
    one transaction for all the valid claims (``steps.ratings.
    submit_ratings``). If a submission elsewhere took one of the invitations
    meanwhile, that transaction is refused and the claims are written again
    one by one, so only that one is refused."""
    outcomes, valid = ratings.claim_invitations(
        repository.reading(store.db), claims, now)

    def write(batch):
        return store.transaction(
            lambda uow: ratings.submit_ratings(
                uow, [(invitation, data) for _, invitation, data in batch],
                now, tz=tz, calendar=calendar),
            repository=repository.FeedbackRepository)

    def write_alone(one):
        try:
            return write([one])[0]
        except DomainError as exc:
            return exc

    try:
        written = write(valid) if valid else []
    except DomainError:
        written = [write_alone(one) for one in valid]
    for (index, _, _), rating in zip(valid, written):
        outcomes[index] = rating
    return outcomes


def _purpose(token):
    return "rate:" + hashlib.sha256(token.encode()).hexdigest()[:16]


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


def _form_data(token, form):
    return {"token": token, "rating": form.get("rating"),
            "comment": form.get("comment", ""),
            "aspects": {key: form.get(f"aspect_{key}")
                        for key in domain.ASPECTS
                        if form.get(f"aspect_{key}")},
            "recommend": form.get("recommend") == "1",
            "recommend_reason": form.get("recommend_reason", "")}


THANKS = "您的评价已提交，我们将据此改进服务。"
THANKS_BAD = (f"您的评价已提交。相关单位将在 {domain.CALLBACK_WORKING_DAYS} "
              f"个工作日内与您联系回访，并在 {domain.FIX_DAYS} 日内完成整改，"
              "整改后将邀请您再次评价。")


class RatingEntrypoints(FeedbackWeb):
    """Needs ``rating_writes`` (a ``GroupCommit``) besides ``FeedbackWeb``'s."""

    def _submit(self, token, data):
        """The rating of one request, written together with the ratings
        other requests of this process submit meanwhile (``GroupCommit``)."""
        claim = (self.invitation_id(token), data)
        return self.rating_writes.submit(claim, self._write_ratings)

    def _write_ratings(self, claims):
        return submit_ratings(self.store, claims, self.clock(),
                              tz=self.settings.tz, calendar=self.calendar)

    def _open_invitation(self, token):
        return self._read(invitations.open_invitation,
                          self.invitation_id(token), self.clock())

    @http("POST", "/api/v1/feedback", request=schemas.FeedbackSubmitSchema,
          response={201: schemas.RatingSchema},
          summary="提交评价（评价链接的令牌即凭证，仅能使用一次）",
          errors={403: "链接无效", 409: "该链接已评价过", 410: "链接已过期",
                  429: "提交过于频繁"})
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
        csrf, nonce = self._csrf_field(request, _purpose(token))
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
                                              self.settings.tz))
        return self._with_cookie(response, nonce)

    @http("GET", "/f/<token>", response="text/html",
          summary="评价页面（短信中的链接）")
    def rating_page(self, request, token):
        try:
            invitation = self._open_invitation(token)
        except DomainError as exc:
            return _error_page(exc)
        return self._rate_page(request, token, invitation)

    @http("POST", "/f/<token>", body="form",
          request=shape("RatingForm", rating=fields.Integer(),
                        comment=fields.String(), recommend=fields.String(),
                        recommend_reason=fields.String(),
                        csrf=fields.String(),
                        **{"aspect_<aspect>": fields.String()}),
          response="text/html", summary="提交评价（表单，答复为页面）",
          errors={403: "链接无效或表单已过期", 409: "该链接已评价过",
                  410: "链接已过期", 429: "提交过于频繁"})
    def rating_form(self, request, token):
        try:
            data = _form_data(token, read_form(request))
        except DomainError as exc:
            return _error_page(exc)
        try:
            self._limit(request, token)
            self._check_csrf(request, _purpose(token))
            rating = self._submit(token, SUBMIT_SCHEMA.load(data))
        except ValidationError as exc:
            try:
                invitation = self._open_invitation(token)
            except DomainError as gone:
                return _error_page(gone)
            return self._rate_page(
                request, token, invitation, status=400,
                error="；".join(first_messages(exc.messages)), form=data)
        except DomainError as exc:
            return _error_page(exc, back=(
                f"/f/{token}" if exc.code in ("csrf_failed", "form_expired")
                else None))
        return message_page(200, "感谢您的评价",
                            THANKS_BAD if rating["bad"] else THANKS, "ok")

    @timer(interval=DEFAULT_SWEEP_SECONDS, eager=True)
    def apply_default_ratings(self):
        """默认好评, off unless ``default_after_working_days`` is set: an
        invitation unused for that many working days counts as 满意, marked
        ``defaulted``."""
        days = self.settings.default_after_working_days
        if days <= 0:
            return 0
        now, tz, calendar = self.clock(), self.settings.tz, self.calendar
        applied = 0
        for invitation_id in self._read(ratings.due_default_ratings, now,
                                        days):
            try:
                rating = self._run(
                    lambda uow, iid=invitation_id: ratings.apply_default_rating(
                        uow, iid, now, days, tz=tz, calendar=calendar))
            except Conflict:  # rated by its recipient meanwhile
                rating = None
            applied += rating is not None
        if applied:
            log.info("default ratings applied: %d", applied)
        return applied
