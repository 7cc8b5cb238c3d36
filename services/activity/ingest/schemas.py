"""Boundary schemas of the ingest contract: the envelope, one data schema
per type (from each sub-domain), and the answers."""

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from sifuwu import events as ev
from services.activity.activities.schemas import (
    PartyActivityData, ServiceActivityData,
)
from services.activity.demands.schemas import (
    DemandRaisedData, DemandUpdatedData,
)
from services.activity.directory.schemas import (
    BranchData, DivisionData, MemberData, RecipientData, UnitData,
)
from services.activity.fields import aware
from services.activity.indicators.schemas import KpiData


DATA_SCHEMAS = {
    "directory.unit": UnitData,
    "directory.division": DivisionData,
    "directory.branch": BranchData,
    "directory.member": MemberData,
    "directory.recipient": RecipientData,
    "activity.service": ServiceActivityData,
    "activity.party": PartyActivityData,
    "demand.raised": DemandRaisedData,
    "demand.updated": DemandUpdatedData,
    "kpi.business": KpiData,
}


assert set(DATA_SCHEMAS) == set(ev.INGEST_TYPES)


class IngestEnvelopeSchema(ev.EnvelopeSchema):
    """事件信封 of the ingest contract; ``data`` depends on ``type``."""

    class Meta:
        unknown = RAISE

    type = fields.String(required=True,
                         validate=validate.OneOf(ev.INGEST_TYPES,
                                                 error="不支持的事件类型"))
    source = fields.String(required=True, validate=validate.Length(min=1, max=64),
                           metadata={"description": "来源系统，须与令牌或 AMQP 用户对应"})
    occurred_at = aware(required=True)


def load_ingest(payload):
    """Validate an ingest envelope and its typed data; ``ValidationError``
    messages come as {"field": [...], "data": {"field": [...]}}."""
    if not isinstance(payload, dict):
        raise ValidationError({"body": ["事件须为 JSON 对象"]})
    errors = {}
    try:
        envelope = IngestEnvelopeSchema().load(payload)
    except ValidationError as exc:
        errors, envelope = dict(exc.messages), None
    event_type = payload.get("type")
    # A list or object as "type" is already an error above; not a lookup key.
    schema = DATA_SCHEMAS.get(event_type) if isinstance(event_type, str) \
        else None
    data = payload.get("data")
    if schema is not None and isinstance(data, dict) and "data" not in errors:
        try:
            data = schema().load(data)
        except ValidationError as exc:
            errors["data"] = exc.messages
    if errors:
        raise ValidationError(errors)
    envelope["data"] = data
    return envelope


class IngestAnswerSchema(Schema):
    """The answer to one envelope."""

    event_id = fields.String()
    status = fields.String(metadata={"enum": ["accepted", "duplicate",
                                              "rejected"]})
    result = fields.Dict(allow_none=True)
    error = fields.String(metadata={"description": "拒收时的错误代码"})
    message = fields.String()
    fields_ = fields.Dict(data_key="fields")


class BatchSchema(Schema):
    class Meta:
        unknown = RAISE

    events = fields.List(fields.Dict(), required=True,
                         validate=validate.Length(min=1))


class BatchItemSchema(IngestAnswerSchema):
    index = fields.Integer()


class BatchAnswerSchema(Schema):
    accepted = fields.Integer()
    duplicate = fields.Integer()
    rejected = fields.Integer()
    results = fields.List(fields.Nested(BatchItemSchema))


class ReceiptSchema(Schema):
    """回执: one ingested (source, event_id), and who sent it."""

    source = fields.String()
    event_id = fields.String()
    type = fields.String()
    via = fields.String(metadata={"enum": ["http", "amqp"]})
    received_at = fields.DateTime(format="iso")
    occurred_at = fields.DateTime(format="iso")
    client_id = fields.String(
        allow_none=True,
        metadata={"description": "报送的接入客户端；bootstrap:<系统> 为开发用令牌或 AMQP 用户；"
                                 "空表示早于接入客户端的回执"})


class ErrorSchema(Schema):
    error = fields.String(required=True)
    message = fields.String(required=True)
    fields_ = fields.Dict(data_key="fields")
