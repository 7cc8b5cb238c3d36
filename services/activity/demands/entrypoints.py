"""Entrypoints of demands (诉求) for staff, and the overdue sweeper (督办), as
a mixin of the activity service. Thin: load with a schema, run one step,
dump."""

from sifuwu.access import CITY
from sifuwu.errors import DomainError
from sifuwu.timers import setting_timer
from sifuwu.contract import page_of
from sifuwu.web import http, json_response, load_body
from services.activity.demands import domain, schemas, steps
from services.activity.demands.repository import DemandRepository
from services.activity.schemas import QuerySchema
from services.activity.web import (
    EXPECTED, empty_page, page_body, query_args, scoped_query, staff_identity,
)


class DemandEntrypoints:
    """诉求 entrypoints; needs ``store``, ``clock``, ``settings`` and
    ``rules`` as ``ActivityService`` provides them."""

    def _demand_schema(self):
        return schemas.DemandSchema(tz=self.settings.tz)

    @http("GET", "/api/v1/demands", query=QuerySchema,
          response=page_of(schemas.DemandSchema),
          summary="查询诉求（单位角色只见本单位）")
    def list_demands(self, request):
        query = scoped_query(request, query_args(request))
        page = empty_page(query_args(request)) if query is None else \
            steps.list_demands(DemandRepository.reading(self.store.db), query)
        return json_response(page_body(page, self._demand_schema()))

    @http("GET", "/api/v1/demands/<demand_id>", expected_exceptions=EXPECTED,
          response=schemas.DemandSchema, summary="一项诉求")
    def get_demand(self, request, demand_id):
        demand = steps.get_demand(DemandRepository.reading(self.store.db),
                                  demand_id)
        self._check_scope(request, demand)
        return json_response(self._demand_schema().dump(demand))

    def _check_scope(self, request, demand):
        """404 for a demand outside the caller's unit or branch."""
        request.grant.check(demand.get("owner_unit_id"),
                            demand.get("branch_id"), what="诉求")

    @http("POST", "/api/v1/demands/<demand_id>/<action>",
          expected_exceptions=EXPECTED, request=schemas.DemandActionSchema,
          response=schemas.DemandSchema,
          summary="响应 / 开始办理 / 办结 / 确认 / 重新打开 / 转办（请求体可省略；转办须说明理由）",
          errors={404: "未找到诉求或操作（unknown_action）",
                  409: "当前状态不允许该操作（message 说明原因）"})
    def act_on_demand(self, request, demand_id, action):
        staff = staff_identity(request)
        if action not in domain.ACTIONS:
            raise DomainError(f"未知操作: {action}", code="unknown_action",
                              status=404)
        body = load_body(request, schemas.DemandActionSchema(),
                         self.settings.max_body_bytes) \
            if request.get_data() else schemas.DemandActionSchema().load({})
        if request.grant.scope != CITY:
            self._check_scope(request, steps.get_demand(
                DemandRepository.reading(self.store.db), demand_id))
        rules = self.rules
        demand = self.store.transaction(
            lambda uow: steps.act_on_demand(
                uow, demand_id, action, by=f"staff:{staff}", at=self.clock(),
                rules=rules, **body),
            repository=DemandRepository)
        return json_response(self._demand_schema().dump(demand))

    @setting_timer("sweep_interval")
    def sweep_overdue(self):
        """督办: escalate demands past their deadlines, level by level."""
        now = self.clock()
        rules = self.rules
        raised = 0
        due = steps.demands_due(DemandRepository.reading(self.store.db), now)
        for demand_id in due:
            try:
                raised += len(self.store.transaction(
                    lambda uow, demand_id=demand_id: steps.escalate(
                        uow, demand_id, now=now, rules=rules),
                    repository=DemandRepository))
            except DomainError:
                continue  # changed meanwhile; the next sweep sees it
        return raised
