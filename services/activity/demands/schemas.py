"""Boundary schemas of demands: the ingested ``demand.*`` data, staff's
action, the demand as staff see it (times local), and what the demand events
carry."""

from marshmallow import EXCLUDE, RAISE, Schema, fields, validate

from services.activity.demands import domain
from services.activity.fields import (
    CATEGORY_CODE, MOBILE, IngestData, LocalSchema, LocalTimes, OutgoingData,
    SealedContact, aware, ident,
)


class RaiserSchema(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Length(min=1, max=50))
    phone = fields.String(load_default=None, validate=MOBILE)


class OutRaiser(OutgoingData):
    name = fields.String(required=True)
    phone = fields.Nested(SealedContact, allow_none=True, load_default=None)


class DemandRaisedData(IngestData):
    """demand.raised — 诉求 (e.g. from the 12345 hotline)."""

    demand_id = ident(required=True, metadata={"example": "12345-20261120-0042"})
    category = fields.String(required=True, validate=CATEGORY_CODE,
                             metadata={"example": "enterprise"})
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(load_default="",
                                validate=validate.Length(max=4000))
    owner_unit_id = ident(required=True,
                          metadata={"description": "首接单位（首接负责）"})
    member_id = ident(load_default=None)
    activity_id = ident(load_default=None)
    campaign_id = ident(load_default=None)
    raiser = fields.Nested(RaiserSchema, load_default=None)
    raised_at = aware(required=True)
    channel = fields.String(load_default=None,
                            validate=validate.Length(max=30),
                            metadata={"example": "12345"})


class DemandUpdatedData(IngestData):
    """demand.updated — a status change reported by the source system."""

    demand_id = ident(required=True)
    action = fields.String(required=True,
                           validate=validate.OneOf(domain.ACTIONS))
    note = fields.String(load_default=None, validate=validate.Length(max=2000))
    reason = fields.String(load_default=None,
                           validate=validate.Length(max=500))
    to_unit_id = ident(load_default=None)
    at = aware(load_default=None,
               metadata={"description": "缺省时取信封 occurred_at"})


class DemandActionSchema(Schema):
    """Body of a staff action on a demand."""

    class Meta:
        unknown = EXCLUDE

    note = fields.String(load_default=None, validate=validate.Length(max=2000))
    reason = fields.String(load_default=None, validate=validate.Length(max=500))
    to_unit_id = ident(load_default=None)


class DemandSchema(LocalSchema):
    """A demand as staff see it (raiser masked, times local):
    ``DemandSchema(tz=settings.tz)``."""

    id = fields.String(attribute="_id")
    source = fields.String(allow_none=True)
    category = fields.String()
    title = fields.String()
    description = fields.String()
    channel = fields.String(allow_none=True)
    owner_unit_id = fields.String()
    received_by_unit_id = fields.String()
    member_id = fields.String(allow_none=True)
    activity_id = fields.String(allow_none=True)
    campaign_id = fields.String(allow_none=True)
    raiser = fields.Dict(attribute="raiser_masked", allow_none=True)
    status = fields.String()
    status_label = fields.Function(
        lambda d: domain.STATUS_LABELS.get(d["status"]))
    # what staff may do next (the console's buttons)
    actions = fields.Function(lambda d: domain.staff_actions(d["status"]))
    raised_at = LocalTimes()
    deadlines = LocalTimes()
    calendar_note = fields.String(allow_none=True)
    responded_at = LocalTimes(allow_none=True)
    resolved_at = LocalTimes(allow_none=True)
    confirmed_at = LocalTimes(allow_none=True)
    on_time_response = fields.Boolean(allow_none=True)
    on_time_resolution = fields.Boolean(allow_none=True)
    overdue = fields.Boolean()
    escalation_level = fields.Integer()
    escalations = LocalTimes()
    transfers = LocalTimes()
    history = LocalTimes()


class Deadlines(OutgoingData):
    respond_by = aware(required=True)
    resolve_by = aware(required=True)


class Transfer(OutgoingData):
    from_unit_id = fields.String(required=True)
    to_unit_id = fields.String(required=True)
    reason = fields.String(required=True)


class DemandEventData(OutgoingData):
    """demand.raised / demand.status_changed — 诉求及其状态."""

    demand_id = fields.String(required=True)
    category = fields.String(required=True)
    title = fields.String(allow_none=True, load_default=None)
    owner_unit_id = fields.String(required=True)
    received_by_unit_id = fields.String(allow_none=True, load_default=None)
    member_id = fields.String(allow_none=True, load_default=None)
    activity_id = fields.String(allow_none=True, load_default=None)
    campaign_id = fields.String(allow_none=True, load_default=None)
    status = fields.String(required=True,
                           validate=validate.OneOf(domain.STATUSES))
    previous_status = fields.String(allow_none=True, load_default=None)
    raised_at = aware(required=True)
    deadlines = fields.Nested(Deadlines, required=True)
    responded_at = aware(allow_none=True, load_default=None)
    resolved_at = aware(allow_none=True, load_default=None)
    on_time_response = fields.Boolean(allow_none=True, load_default=None)
    on_time_resolution = fields.Boolean(allow_none=True, load_default=None)
    raiser = fields.Nested(OutRaiser, metadata={
        "description": "仅在状态变为 resolved 时携带（电话密封），供评价服务邀请诉求人"})
    action = fields.String(validate=validate.OneOf(domain.ACTIONS),
                           metadata={"description": "仅 demand.status_changed"})
    transfer = fields.Nested(Transfer, metadata={"description": "仅转办时"})


class DemandOverdueData(OutgoingData):
    """demand.overdue — 诉求逾期，逐级督办."""

    demand_id = fields.String(required=True)
    owner_unit_id = fields.String(required=True)
    level = fields.Integer(required=True, validate=validate.OneOf((1, 2, 3)))
    level_label = fields.String(required=True)
    deadline_kind = fields.String(required=True,
                                  validate=validate.OneOf(("respond",
                                                           "resolve")))
    deadline = aware(required=True)
    unit_leader_member_id = fields.String(allow_none=True, load_default=None, metadata={
        "description": "第 2、3 级时：承办单位领导（目录中已知时）"})
