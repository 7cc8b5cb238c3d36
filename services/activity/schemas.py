"""Boundary schemas of the activity service (活动服务), gathered: each
sub-domain keeps its own (``<sub-domain>/schemas.py``); this module holds the
staff lists' query and the registries the published contract is generated
from.

The ingest schemas are the published contract: ``docs/openapi.json`` and
``docs/asyncapi.yaml`` are generated from them (``services.activity.
contract``), and a test regenerates them to prove the documents match.
"""

from marshmallow import RAISE, Schema, fields, validate

from sifuwu import events as ev
from services.activity.activities import domain as activity_domain
from services.activity.activities.schemas import (  # noqa: F401 - the contract
    ActivityCreateSchema, ActivityLoggedData, ActivitySchema,
    PartyActivityLoggedData, RecipientSchema,
)
from services.activity.campaigns.schemas import (  # noqa: F401
    CampaignCreateSchema, CampaignSchema,
)
from services.activity.demands import domain as demand_domain
from services.activity.demands.schemas import (  # noqa: F401
    DemandActionSchema, DemandEventData, DemandOverdueData, DemandSchema,
)
from services.activity.directory.schemas import DirectoryChangedData
from services.activity.fields import CATEGORY_CODE, aware, ident
from services.activity.indicators.schemas import KpiRecordedData
from services.activity.ingest.schemas import (  # noqa: F401
    DATA_SCHEMAS, BatchAnswerSchema, BatchSchema, ErrorSchema,
    IngestAnswerSchema, IngestEnvelopeSchema, load_ingest,
)


class QuerySchema(Schema):
    """Filters and paging of the staff lists."""

    class Meta:
        unknown = RAISE

    unit_id = ident(load_default=None)
    branch_id = ident(load_default=None)
    member_id = ident(load_default=None)
    category = fields.String(load_default=None, validate=CATEGORY_CODE)
    campaign_id = ident(load_default=None)
    status = fields.String(load_default=None,
                           validate=validate.OneOf(demand_domain.STATUSES))
    type = fields.String(load_default=None,
                         validate=validate.OneOf(activity_domain.TYPES))
    overdue = fields.Boolean(load_default=None)
    since = aware(load_default=None, data_key="from")
    until = aware(load_default=None, data_key="to")
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50,
                              validate=validate.Range(min=1, max=200))


# -- events this service publishes (on the ``activity.events`` exchange) ------

OUTGOING_SCHEMAS = {
    ev.ACTIVITY_LOGGED: ActivityLoggedData,
    ev.PARTY_ACTIVITY_LOGGED: PartyActivityLoggedData,
    ev.DEMAND_RAISED: DemandEventData,
    ev.DEMAND_STATUS_CHANGED: DemandEventData,
    ev.DEMAND_OVERDUE: DemandOverdueData,
    ev.DIRECTORY_CHANGED: DirectoryChangedData,
    ev.KPI_RECORDED: KpiRecordedData,
}
