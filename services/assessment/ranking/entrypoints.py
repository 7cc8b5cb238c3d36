"""Entrypoints of rankings (排名) and the three rates (三率), as a mixin of
the assessment service."""

from marshmallow import fields

from sifuwu.contract import extended, shape
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


RANKING = shape("Ranking", period=fields.String(),
                subject_type=fields.String(), scheme_version=fields.Integer(),
                tie_rule=fields.String(), quota_rule=fields.String(),
                quotas=fields.Dict(), weights=fields.Dict(),
                entries=fields.List(fields.Dict()))


class RankingEntrypoints(AssessmentEntrypoints):
    """Rankings, the three rates, publishing a ranking."""

    def _board(self, period, subject_type):
        return board_of(self._reads(ScoringRepository), period, subject_type)

    @http("GET", "/api/v1/rankings/<period>", response=RANKING,
          summary="排名（?subject_type= member、unit、branch）",
          errors={400: "期间或对象类型有误"})
    def get_ranking(self, request, period):
        self._staff(request)
        schemas.period_arg(period)
        subject_type = request.args.get("subject_type", "unit")
        return json_response(self._board(period, subject_type))

    @http("GET", "/api/v1/rates/<period>", response=RANKING,
          summary="“三率”排名（响应率、解决率、满意率）",
          errors={400: "期间格式有误"})
    def get_rates(self, request, period):
        self._staff(request)
        return json_response(self._board(period, "three_rates"))

    @http("POST", "/api/v1/rankings/<period>/publish",
          request=schemas.PublishSchema,
          response={201: extended(RANKING, "PublishedRanking",
                                  ranking_id=fields.String(),
                                  published_at=fields.DateTime())},
          summary="发布排名（留档并通知）")
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
