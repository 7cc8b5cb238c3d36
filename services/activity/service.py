"""Activity service (活动服务): entrypoints only."""

from sifuwu.errors import NotFound
from sifuwu.service import ServiceBase
from sifuwu.web import http, json_response, load_body
from services.activity import repository, schemas


class ActivityService(ServiceBase):
    name = "activity"
    indexes = repository.INDEXES

    @http("POST", "/api/v1/activities")
    def log_activity(self, request):
        data = load_body(request, schemas.ActivityCreateSchema(),
                         self.settings.max_body_bytes)
        activity = self.store.transaction(
            lambda uow: repository.log_activity(uow, data,
                                                self.settings.secret))
        return json_response(schemas.ActivitySchema().dump(activity),
                             status=201)

    @http("GET", "/api/v1/activities/<activity_id>")
    def get_activity(self, request, activity_id):
        activity = repository.get_activity(self.store.db, activity_id)
        if activity is None:
            raise NotFound("未找到该服务活动")
        return json_response(schemas.ActivitySchema().dump(activity))
