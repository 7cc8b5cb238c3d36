"""Entrypoints of the branch ladder (支部阶梯), as a mixin of the assessment
service."""

from marshmallow import fields

from sifuwu.contract import shape
from sifuwu.web import http, json_response
from services.assessment import schemas
from services.assessment.entrypoints import AssessmentEntrypoints
from services.assessment.ladder import steps
from services.assessment.ladder.repository import LadderRepository


class LadderEntrypoints(AssessmentEntrypoints):
    """Evaluating the ladder for a period; a branch's rung and history."""

    @http("POST", "/api/v1/ladder/<period>/evaluate", request=False,
          response=shape("LadderEvaluation", period=fields.String(),
                         changes=fields.List(fields.Dict())),
          summary="评定支部星级阶梯（升降级变化）",
          errors={400: "期间格式有误（YYYY-MM、YYYY-Qn 或 YYYY）"})
    def evaluate_ladder(self, request, period):
        self._staff(request)
        schemas.period_arg(period)
        now = self.clock()
        changes = self.store.transaction(
            lambda uow: steps.evaluate_ladder(uow, period, now),
            repository=LadderRepository)
        return json_response({"period": period, "changes": changes})

    @http("GET", "/api/v1/branches/<branch_id>", response=schemas.BranchSchema,
          summary="一个支部的星级及其历史")
    def get_branch(self, request, branch_id):
        self._check_subject(request, "branch", branch_id)
        branch = steps.get_branch(self._reads(LadderRepository), branch_id)
        return json_response(schemas.BranchSchema().dump(branch))
