"""Entrypoints of rankings (排名) and the three rates (三率), as a mixin of
the assessment service."""

from sifuwu.web import http, json_response, load_body
from services.assessment import schemas
from services.assessment.entrypoints import AssessmentEntrypoints
from services.assessment.ranking import steps
from services.assessment.ranking.repository import RankingRepository
from services.assessment.scoring.repository import ScoringRepository


def board_of(scores, period, subject_type):
    """The board a request asks for: a ranking of a subject type, or the
    three rates of a month (``subject_type`` = "three_rates")."""
    if subject_type == "three_rates":
        return steps.three_rates(scores, schemas.month_arg(period))
    schemas.subject_type_arg(subject_type)
    return steps.ranking(scores, subject_type, period)


class RankingEntrypoints(AssessmentEntrypoints):
    """Rankings, the three rates, publishing a ranking."""

    def _board(self, period, subject_type):
        return board_of(self._reads(ScoringRepository), period, subject_type)

    @http("GET", "/api/v1/rankings/<period>")
    def get_ranking(self, request, period):
        self._staff(request)
        schemas.period_arg(period)
        subject_type = request.args.get("subject_type", "unit")
        return json_response(self._board(period, subject_type))

    @http("GET", "/api/v1/rates/<period>")
    def get_rates(self, request, period):
        self._staff(request)
        return json_response(self._board(period, "three_rates"))

    @http("POST", "/api/v1/rankings/<period>/publish")
    def publish_ranking(self, request, period):
        who = self._staff(request)
        schemas.period_arg(period)
        body = load_body(request, schemas.PublishSchema(),
                         self.settings.max_body_bytes)
        board = self._board(period, body["subject_type"])
        now = self.clock()
        doc = self.store.transaction(
            lambda uow: steps.publish_ranking(uow, board, now, who),
            repository=RankingRepository)
        return json_response(dict(board, ranking_id=doc["_id"],
                                  published_at=now), status=201)
