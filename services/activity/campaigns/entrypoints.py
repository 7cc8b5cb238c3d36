"""Entrypoints of campaigns (主题活动) for staff, as a mixin of the activity
service. Thin: load with a schema, run one step, dump."""

from marshmallow import fields

from sifuwu.contract import extended, listing
from sifuwu.web import http, json_response, load_body
from services.activity.campaigns import schemas, steps
from services.activity.campaigns.repository import CampaignRepository
from services.activity.web import EXPECTED, staff_identity


class CampaignEntrypoints:
    """主题活动 entrypoints; needs ``store``, ``clock`` and ``settings`` as
    ``ActivityService`` provides them."""

    @http("POST", "/api/v1/campaigns", request=schemas.CampaignCreateSchema,
          response={201: schemas.CampaignSchema}, summary="设立主题活动及目标",
          errors={409: "该主题活动已存在（campaign_exists）"})
    def create_campaign(self, request):
        staff_identity(request, self.settings)
        data = load_body(request, schemas.CampaignCreateSchema(),
                         self.settings.max_body_bytes)
        now = self.clock()
        campaign = self.store.transaction(
            lambda uow: steps.create_campaign(uow, data, now),
            repository=CampaignRepository)
        return json_response(schemas.CampaignSchema().dump(campaign),
                             status=201)

    @http("GET", "/api/v1/campaigns",
          response=listing(schemas.CampaignSchema, count=None),
          summary="主题活动列表")
    def list_campaigns(self, request):
        staff_identity(request, self.settings)
        return json_response({"items": schemas.CampaignSchema().dump(
            steps.list_campaigns(CampaignRepository.reading(self.store.db)),
            many=True)})

    @http("GET", "/api/v1/campaigns/<campaign_id>",
          expected_exceptions=EXPECTED,
          response=extended(schemas.CampaignSchema, "CampaignProgress",
                            progress=fields.Dict()),
          summary="主题活动及其目标完成情况")
    def campaign_progress(self, request, campaign_id):
        staff_identity(request, self.settings)
        repo = CampaignRepository.reading(self.store.db)
        campaign = steps.get_campaign(repo, campaign_id)
        body = schemas.CampaignSchema().dump(campaign)
        body["progress"] = steps.campaign_progress(repo, campaign,
                                                   self.settings.tz)
        return json_response(body)
