"""Entrypoints of the activity log for staff, as a mixin of the activity
service. Thin: load with a schema, run one step, dump."""

from sifuwu import events as ev
from sifuwu.errors import Forbidden, NotFound
from sifuwu.contract import page_of
from sifuwu.web import http, json_response, load_body
from services.activity.activities import schemas, steps
from services.activity.activities.repository import ActivityLogRepository
from services.activity.schemas import QuerySchema
from services.activity.web import (
    EXPECTED, empty_page, page_body, query_args, scoped_query,
)


class ActivityEntrypoints:
    """活动记录 entrypoints; needs ``store``, ``settings`` and ``rules`` as
    ``ActivityService`` provides them."""

    @http("POST", "/api/v1/activities", request=schemas.ActivityCreateSchema,
          response={201: schemas.ActivitySchema}, summary="登记一次服务活动",
          errors={403: "角色无权访问，或不是本单位（本支部）的党员（out_of_scope）",
                  404: "引用的党员、单位或诉求不存在"})
    def log_activity(self, request):
        # staff only: an activity scores a member and sends the recipient an
        # SMS; unit staff and branch secretaries log their own unit's
        data = load_body(request, schemas.ActivityCreateSchema(),
                         self.settings.max_body_bytes)
        if not request.grant.sees(data.get("unit_id"), data.get("branch_id")):
            raise Forbidden("只能登记本单位（本支部）党员的服务活动",
                            code="out_of_scope")
        rules = self.rules
        activity = self.store.transaction(
            lambda uow: steps.log_activity(uow, data, activity_id=ev.new_id(),
                                           now=ev.utcnow(), rules=rules),
            repository=ActivityLogRepository)
        return json_response(schemas.ActivitySchema().dump(activity),
                             status=201)

    @http("GET", "/api/v1/activities/<activity_id>",
          expected_exceptions=EXPECTED, response=schemas.ActivitySchema,
          summary="一次活动（他单位的记录亦答 404）")
    def get_activity(self, request, activity_id):
        activity = steps.get_activity(
            ActivityLogRepository.reading(self.store.db), activity_id)
        if activity is None:
            raise NotFound("未找到该服务活动")
        request.grant.check(activity.get("unit_id"), activity.get("branch_id"),
                            what="服务活动")
        return json_response(schemas.ActivitySchema().dump(activity))

    @http("GET", "/api/v1/activities", query=QuerySchema,
          response=page_of(schemas.ActivitySchema),
          summary="查询服务活动和党建活动（单位角色只见本单位）")
    def list_activities(self, request):
        query = scoped_query(request, query_args(request))
        page = empty_page(query_args(request)) if query is None else \
            steps.list_activities(
                ActivityLogRepository.reading(self.store.db), query)
        return json_response(page_body(page, schemas.ActivitySchema()))
