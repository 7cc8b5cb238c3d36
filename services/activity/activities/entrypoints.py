"""Entrypoints of the activity log for staff, as a mixin of the activity
service. Thin: load with a schema, run one step, dump."""

from sifuwu import events as ev
from sifuwu.errors import NotFound
from sifuwu.web import http, json_response, load_body
from services.activity.activities import schemas, steps
from services.activity.activities.repository import ActivityLogRepository
from services.activity.web import EXPECTED, page_body, query_args, staff_identity


class ActivityEntrypoints:
    """活动记录 entrypoints; needs ``store``, ``settings`` and ``rules`` as
    ``ActivityService`` provides them."""

    @http("POST", "/api/v1/activities")
    def log_activity(self, request):
        # staff only: an activity scores a member and sends the recipient an SMS
        staff_identity(request, self.settings)
        data = load_body(request, schemas.ActivityCreateSchema(),
                         self.settings.max_body_bytes)
        rules = self.rules
        activity = self.store.transaction(
            lambda uow: steps.log_activity(uow, data, activity_id=ev.new_id(),
                                           now=ev.utcnow(), rules=rules),
            repository=ActivityLogRepository)
        return json_response(schemas.ActivitySchema().dump(activity),
                             status=201)

    @http("GET", "/api/v1/activities/<activity_id>",
          expected_exceptions=EXPECTED)
    def get_activity(self, request, activity_id):
        staff_identity(request, self.settings)
        activity = steps.get_activity(
            ActivityLogRepository.reading(self.store.db), activity_id)
        if activity is None:
            raise NotFound("未找到该服务活动")
        return json_response(schemas.ActivitySchema().dump(activity))

    @http("GET", "/api/v1/activities")
    def list_activities(self, request):
        staff_identity(request, self.settings)
        page = steps.list_activities(
            ActivityLogRepository.reading(self.store.db), query_args(request))
        return json_response(page_body(page, schemas.ActivitySchema()))
