"""Assessment service (考评服务): entrypoints only."""

from sifuwu import events as ev
from sifuwu.consumer import consumes
from sifuwu.service import ServiceBase
from sifuwu.web import http, json_response
from services.assessment import domain, repository, schemas


class AssessmentService(ServiceBase):
    name = "assessment"
    indexes = repository.INDEXES

    @consumes("activity", ev.ACTIVITY_LOGGED)
    def on_activity_logged(self, envelope):
        data = envelope["data"]
        period = domain.month_of(data["occurred_at"], self.settings.timezone)
        self.store.transaction(
            lambda uow: repository.add_contribution(
                uow, envelope, data["member_id"], period,
                {"activity_count": 1}, "activity"),
            consumed=("on_activity_logged", envelope["event_id"]))

    @consumes("feedback", ev.FEEDBACK_SUBMITTED)
    def on_feedback_submitted(self, envelope):
        data = envelope["data"]
        period = domain.month_of(data["submitted_at"], self.settings.timezone)
        self.store.transaction(
            lambda uow: repository.add_contribution(
                uow, envelope, data["member_id"], period,
                {"rating_sum": data["rating"], "rating_count": 1}, "rating"),
            consumed=("on_feedback_submitted", envelope["event_id"]))

    @http("GET", "/api/v1/scorecards/members/<member_id>")
    def member_scorecard(self, request, member_id):
        card = repository.member_scorecard(self.store.db, member_id)
        return json_response(schemas.MemberScorecardSchema().dump(card))
