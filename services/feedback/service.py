"""Feedback service (评价服务): entrypoints only."""

import functools

import jinja2
from itsdangerous import BadSignature, URLSafeSerializer
from werkzeug.wrappers import Response

from sifuwu import events as ev
from sifuwu.consumer import consumes
from sifuwu.errors import DomainError
from sifuwu.service import ServiceBase
from sifuwu.web import http, json_response, load_body
from services.feedback import domain, repository, schemas

TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("services.feedback", "templates"),
    autoescape=True)


def render(template, status=200, **context):
    return Response(TEMPLATES.get_template(template).render(**context),
                    status=status, mimetype="text/html")


def message_page(status, heading, text, icon="ℹ️"):
    return render("message.html", status=status, heading=heading, text=text,
                  icon=icon)


class FeedbackService(ServiceBase):
    name = "feedback"
    indexes = repository.INDEXES

    @property
    def signer(self):
        return URLSafeSerializer(self.settings.secret,
                                 salt="feedback-invitation")

    def invitation_id(self, token):
        try:
            return self.signer.loads(token)
        except BadSignature:
            raise DomainError("评价链接无效或已被篡改", code="invalid_link",
                              status=404)

    @consumes("activity", ev.ACTIVITY_LOGGED)
    def on_activity_logged(self, envelope):
        activity = envelope["data"]
        if not (activity.get("recipient") or {}).get("phone"):
            return
        settings = self.settings
        self.store.transaction(
            functools.partial(
                repository.issue_invitation, activity=activity,
                secret=settings.secret, signer=self.signer,
                base_url=settings.feedback_base_url, now=self.clock()),
            consumed=("on_activity_logged", envelope["event_id"]),
            correlation_id=envelope.get("correlation_id"))

    def _submit(self, token, data):
        invitation_id = self.invitation_id(token)
        now = self.clock()
        return self.store.transaction(
            lambda uow: repository.submit_rating(uow, invitation_id, data,
                                                 now))

    @http("POST", "/api/v1/feedback")
    def submit_feedback(self, request):
        data = load_body(request, schemas.FeedbackSubmitSchema(),
                         self.settings.max_body_bytes)
        rating = self._submit(data["token"], data)
        return json_response(schemas.RatingSchema().dump(rating), status=201)

    @http("GET", "/f/<token>")
    def rating_page(self, request, token):
        try:
            invitation = repository.find_open_invitation(
                self.store.db, self.invitation_id(token), self.clock())
        except DomainError as exc:
            return self._error_page(exc)
        return render(
            "rate.html", action=f"/f/{token}",
            member_name=invitation.get("member_name"),
            levels=sorted(domain.LEVELS.items(), reverse=True),
            expires_on=invitation["expires_at"].strftime("%Y年%m月%d日"))

    @http("POST", "/f/<token>")
    def rating_form(self, request, token):
        from marshmallow import ValidationError
        form = {"token": token, "rating": request.form.get("rating"),
                "comment": request.form.get("comment", "")}
        try:
            data = schemas.FeedbackSubmitSchema().load(form)
            self._submit(token, data)
        except ValidationError as exc:
            first = next(iter(exc.messages.values()))
            return message_page(400, "提交未成功", "；".join(first), "⚠️")
        except DomainError as exc:
            return self._error_page(exc)
        return message_page(200, "感谢您的评价",
                            "您的评价已提交，我们将据此改进服务。", "✅")

    @staticmethod
    def _error_page(exc):
        icons = {"already_rated": "✅"}
        return message_page(exc.status, exc.message,
                            "如有疑问，请拨打 12345 政务服务便民热线。",
                            icons.get(exc.code, "⚠️"))
