"""Boundary schemas of the activity service (活动服务).

The ingest schemas here are the published contract: ``docs/openapi.json``
and ``docs/asyncapi.yaml`` are generated from them (``services.activity.
contract``), and a test regenerates them to prove the documents match.
"""

import datetime as dt
import os
from zoneinfo import ZoneInfo

from marshmallow import (
    EXCLUDE, RAISE, Schema, ValidationError, fields, validate,
    validates_schema,
)

from sifuwu import events as ev
from services.activity import domain

MOBILE = validate.Regexp(r"^1[3-9]\d{9}$", error="手机号格式不正确")
ID = validate.Length(min=1, max=64)
PERIOD = validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$",
                         error="期间格式应为 YYYY-MM，例如 2026-11")
CATEGORY_CODE = validate.Regexp(r"^[a-z][a-z_]{0,31}$",
                                error="类别代码应为小写英文字母和下划线")


def ident(**kwargs):
    return fields.String(validate=ID, **kwargs)


def aware(**kwargs):
    return fields.AwareDateTime(
        format="iso", error_messages={
            "invalid_awareness":
                "时间须带时区偏移，例如 2026-03-01T09:30:00+08:00"},
        **kwargs)


class RecipientSchema(Schema):
    """服务对象: an enterprise, project, community or citizen."""

    class Meta:
        unknown = EXCLUDE

    id = fields.String(load_default=None, validate=validate.Length(max=64))
    type = fields.String(required=True,
                         validate=validate.OneOf(domain.RECIPIENT_TYPES))
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    phone = fields.String(load_default=None, validate=MOBILE)


class ActivityCreateSchema(Schema):
    """A service activity (服务活动) logged by staff."""

    class Meta:
        unknown = EXCLUDE

    category = fields.String(required=True,
                             validate=validate.OneOf(domain.CATEGORIES))
    kind = fields.String(required=True, validate=validate.OneOf(domain.KINDS))
    roles = fields.List(fields.String(validate=validate.OneOf(domain.ROLES)),
                        load_default=list)
    member_id = fields.String(required=True,
                              validate=validate.Length(min=1, max=64))
    member_name = fields.String(load_default=None,
                                validate=validate.Length(max=50))
    unit_id = fields.String(load_default=None, validate=validate.Length(max=64))
    branch_id = fields.String(load_default=None,
                              validate=validate.Length(max=64))
    campaign_id = fields.String(load_default=None,
                                validate=validate.Length(max=64))
    recipient = fields.Nested(RecipientSchema, required=True)
    occurred_at = fields.AwareDateTime(required=True, format="iso")
    place = fields.String(load_default=None, validate=validate.Length(max=200))
    summary = fields.String(load_default="", validate=validate.Length(max=2000))


class ActivitySchema(Schema):
    """An activity as the API shows it (recipient contact masked)."""

    id = fields.String(attribute="_id")
    type = fields.String(dump_default=domain.SERVICE)
    category = fields.String()
    kind = fields.String()
    session = fields.String(allow_none=True)
    title = fields.String(allow_none=True)
    roles = fields.List(fields.String())
    member_id = fields.String(allow_none=True)
    member_ids = fields.List(fields.String())
    member_name = fields.String(allow_none=True)
    member_linked = fields.Boolean(dump_default=True)
    unit_id = fields.String(allow_none=True)
    branch_id = fields.String(allow_none=True)
    campaign_id = fields.String(allow_none=True)
    recipient = fields.Method("masked_recipient")
    attendees = fields.List(fields.String())
    expected = fields.List(fields.String())
    occurred_at = fields.DateTime(format="iso")
    place = fields.String(allow_none=True)
    summary = fields.String()
    source = fields.String(allow_none=True)
    external_id = fields.String(allow_none=True)
    logged_at = fields.DateTime(format="iso")

    def masked_recipient(self, obj):
        recipient = dict(obj.get("recipient") or {})
        if not recipient:
            return None
        recipient.pop("phone_enc", None)
        if recipient.get("phone_masked") is not None:
            recipient["phone"] = recipient.pop("phone_masked")
        return recipient


# -- the ingest contract: one data schema per type ---------------------------


class IngestData(Schema):
    class Meta:
        unknown = RAISE


class UnitData(IngestData):
    """directory.unit — 机关单位 (e.g. 市发改委)."""

    unit_id = ident(required=True, metadata={"example": "u-fgw"})
    name = fields.String(required=True, validate=validate.Length(min=1, max=100),
                         metadata={"example": "市发展和改革委员会"})
    short_name = fields.String(load_default=None,
                               validate=validate.Length(max=30),
                               metadata={"example": "市发改委"})
    leader_member_id = ident(load_default=None,
                             metadata={"description": "单位主要负责人（督办第二级）"})
    active = fields.Boolean(load_default=True)


class DivisionData(IngestData):
    """directory.division — 处室."""

    division_id = ident(required=True, metadata={"example": "d-fgw-tz"})
    unit_id = ident(required=True, metadata={"example": "u-fgw"})
    name = fields.String(required=True, validate=validate.Length(min=1, max=100),
                         metadata={"example": "投资处"})
    active = fields.Boolean(load_default=True)


class BranchData(IngestData):
    """directory.branch — 党支部."""

    branch_id = ident(required=True, metadata={"example": "b-fgw-1"})
    unit_id = ident(required=True, metadata={"example": "u-fgw"})
    name = fields.String(required=True, validate=validate.Length(min=1, max=100),
                         metadata={"example": "市发改委机关第一党支部"})
    secretary_member_id = ident(load_default=None)
    active = fields.Boolean(load_default=True)


class MemberData(IngestData):
    """directory.member — 党员干部 (one branch, one division)."""

    member_id = ident(required=True, metadata={"example": "m-0001"})
    name = fields.String(required=True, validate=validate.Length(min=1, max=50),
                         metadata={"example": "李明"})
    unit_id = ident(required=True, metadata={"example": "u-fgw"})
    branch_id = ident(load_default=None, metadata={"example": "b-fgw-1"})
    division_id = ident(load_default=None, metadata={"example": "d-fgw-tz"})
    roles = fields.List(
        fields.String(validate=validate.OneOf(domain.MEMBER_ROLES)),
        load_default=lambda: ["member"])
    phone = fields.String(load_default=None, validate=MOBILE,
                          metadata={"description": "加密存储；仅随 directory.changed 发给通知服务"})
    active = fields.Boolean(load_default=True)


class RecipientData(IngestData):
    """directory.recipient — 服务对象 (企业、项目、社区、群众)."""

    recipient_id = ident(required=True, metadata={"example": "e-0001"})
    type = fields.String(required=True,
                         validate=validate.OneOf(domain.RECIPIENT_TYPES))
    name = fields.String(required=True, validate=validate.Length(min=1, max=100),
                         metadata={"example": "滨江智造科技有限公司"})
    phone = fields.String(load_default=None, validate=MOBILE)
    credit_code = fields.String(load_default=None,
                                validate=validate.Length(max=18),
                                metadata={"description": "统一社会信用代码"})
    address = fields.String(load_default=None, validate=validate.Length(max=200))


class DemandInActivity(Schema):
    """诉求 raised by the recipient during the activity."""

    class Meta:
        unknown = RAISE

    demand_id = ident(required=True)
    category = fields.String(load_default=None, validate=CATEGORY_CODE)
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    description = fields.String(load_default="",
                                validate=validate.Length(max=4000))


class ServiceActivityData(IngestData):
    """activity.service — 服务活动 (走访、调研、协调会、政策宣讲、帮办代办)."""

    activity_id = ident(required=True, metadata={"example": "act-20261120-0001"})
    category = fields.String(required=True,
                             validate=validate.OneOf(domain.CATEGORIES))
    kind = fields.String(required=True, validate=validate.OneOf(domain.KINDS))
    roles = fields.List(fields.String(validate=validate.OneOf(domain.ROLES)),
                        load_default=list)
    member_id = ident(required=True, metadata={"description": "牵头党员"})
    participant_ids = fields.List(ident(), load_default=list,
                                  validate=validate.Length(max=50))
    unit_id = ident(load_default=None,
                    metadata={"description": "缺省时取党员所在单位"})
    branch_id = ident(load_default=None)
    campaign_id = ident(load_default=None, metadata={"example": "c-wanren-wanqi"})
    recipient = fields.Nested(RecipientSchema, required=True)
    occurred_at = aware(required=True)
    place = fields.String(load_default=None, validate=validate.Length(max=200))
    summary = fields.String(load_default="", validate=validate.Length(max=2000))
    demands = fields.List(fields.Nested(DemandInActivity), load_default=list,
                          validate=validate.Length(max=20))


class PartyActivityData(IngestData):
    """activity.party — 党建活动 (三会一课、主题党日、学习)."""

    activity_id = ident(required=True)
    kind = fields.String(required=True,
                         validate=validate.OneOf(domain.PARTY_KINDS))
    session = fields.String(load_default=None,
                            validate=validate.OneOf(domain.PARTY_SESSIONS),
                            metadata={"description": "三会一课的类别"})
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    branch_id = ident(required=True)
    unit_id = ident(load_default=None)
    occurred_at = aware(required=True)
    attendees = fields.List(ident(), required=True,
                            validate=validate.Length(max=500))
    expected = fields.List(ident(), load_default=None,
                           validate=validate.Length(max=500),
                           metadata={"description": "应到党员；缺省时取支部在册党员"})
    place = fields.String(load_default=None, validate=validate.Length(max=200))
    summary = fields.String(load_default="", validate=validate.Length(max=2000))

    @validates_schema
    def _session_only_for_meetings(self, data, **_):
        if data.get("session") and data["kind"] != "three_meetings_one_lesson":
            raise ValidationError("仅“三会一课”需要填写 session", "session")


class RaiserSchema(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Length(min=1, max=50))
    phone = fields.String(load_default=None, validate=MOBILE)


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


class KpiData(IngestData):
    """kpi.business — 业务指标 for a member or a unit in a month."""

    subject_type = fields.String(required=True,
                                 validate=validate.OneOf(("member", "unit")))
    subject_id = ident(required=True)
    period = fields.String(required=True, validate=PERIOD,
                           metadata={"example": "2026-11"})
    indicator = fields.String(required=True, validate=CATEGORY_CODE,
                              metadata={"example": "projects_approved"})
    value = fields.Float(required=True, allow_nan=False)
    unit_of_measure = fields.String(load_default=None,
                                    validate=validate.Length(max=20))


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


class ErrorSchema(Schema):
    error = fields.String(required=True)
    message = fields.String(required=True)
    fields_ = fields.Dict(data_key="fields")


# -- demands and campaigns for staff ------------------------------------------


class DemandActionSchema(Schema):
    """Body of a staff action on a demand."""

    class Meta:
        unknown = EXCLUDE

    note = fields.String(load_default=None, validate=validate.Length(max=2000))
    reason = fields.String(load_default=None, validate=validate.Length(max=500))
    to_unit_id = ident(load_default=None)


DISPLAY_TZ = ZoneInfo(os.environ.get("SIFUWU_TIMEZONE", "Asia/Shanghai"))


def local(value):
    """Datetimes (also nested) in local time (北京时间) for people."""
    if isinstance(value, dt.datetime):
        return value.astimezone(DISPLAY_TZ).isoformat()
    if isinstance(value, dict):
        return {k: local(v) for k, v in value.items()}
    if isinstance(value, list):
        return [local(v) for v in value]
    return value


class LocalTimes(fields.Field):
    def _serialize(self, value, attr, obj, **kwargs):
        return local(value)


class DemandSchema(Schema):
    """A demand as staff see it (raiser masked, times local)."""

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


class TargetSchema(Schema):
    class Meta:
        unknown = RAISE

    per_member = fields.Integer(required=True, validate=validate.Range(min=1),
                                metadata={"description": "每名党员至少完成的活动次数"})
    category = fields.String(load_default=None,
                             validate=validate.OneOf(domain.CATEGORIES))
    kind = fields.String(load_default=None,
                         validate=validate.OneOf(domain.KINDS))


class CampaignCreateSchema(Schema):
    """主题活动, e.g. “万人进万企”."""

    class Meta:
        unknown = RAISE

    campaign_id = ident(required=True, metadata={"example": "c-wanren-wanqi"})
    title = fields.String(required=True, validate=validate.Length(min=1, max=100))
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)
    unit_ids = fields.List(ident(), required=True,
                           validate=validate.Length(min=1, max=500))
    target = fields.Nested(TargetSchema, required=True)

    @validates_schema
    def _period(self, data, **_):
        if data["ends_on"] < data["starts_on"]:
            raise ValidationError("结束日期不能早于开始日期", "ends_on")


class CampaignSchema(Schema):
    id = fields.String(attribute="_id")
    title = fields.String()
    starts_on = fields.String()
    ends_on = fields.String()
    unit_ids = fields.List(fields.String())
    target = fields.Dict()


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
                           validate=validate.OneOf(domain.STATUSES))
    type = fields.String(load_default=None,
                         validate=validate.OneOf((domain.SERVICE,
                                                  domain.PARTY)))
    overdue = fields.Boolean(load_default=None)
    since = aware(load_default=None, data_key="from")
    until = aware(load_default=None, data_key="to")
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50,
                              validate=validate.Range(min=1, max=200))


# -- events this service publishes (on the ``activity.events`` exchange) ------


class OutgoingData(Schema):
    class Meta:
        unknown = RAISE


class OutRecipient(OutgoingData):
    id = fields.String(allow_none=True, load_default=None)
    type = fields.String(required=True,
                         validate=validate.OneOf(domain.RECIPIENT_TYPES))
    name = fields.String(required=True)
    phone = fields.String(allow_none=True, load_default=None, metadata={
        "description": "仅供评价服务发送评价邀请"})


class ActivityLoggedData(OutgoingData):
    """activity.logged — 服务活动已登记（党员已确认）."""

    activity_id = fields.String(required=True)
    category = fields.String(required=True,
                             validate=validate.OneOf(domain.CATEGORIES))
    kind = fields.String(required=True, validate=validate.OneOf(domain.KINDS))
    roles = fields.List(fields.String(), required=True)
    member_id = fields.String(required=True)
    member_name = fields.String(allow_none=True, load_default=None)
    participant_ids = fields.List(fields.String(), required=True)
    unit_id = fields.String(allow_none=True, load_default=None)
    branch_id = fields.String(allow_none=True, load_default=None)
    campaign_id = fields.String(allow_none=True, load_default=None)
    recipient = fields.Nested(OutRecipient, required=True)
    occurred_at = aware(required=True)
    source = fields.String(allow_none=True, load_default=None)


class PartyActivityLoggedData(OutgoingData):
    """party_activity.logged — 党建活动已登记（含出勤）."""

    activity_id = fields.String(required=True)
    kind = fields.String(required=True,
                         validate=validate.OneOf(domain.PARTY_KINDS))
    session = fields.String(allow_none=True, load_default=None)
    title = fields.String(allow_none=True, load_default=None)
    branch_id = fields.String(required=True)
    unit_id = fields.String(allow_none=True, load_default=None)
    occurred_at = aware(required=True)
    attendees = fields.List(fields.String(), required=True)
    expected = fields.List(fields.String(), required=True)
    source = fields.String(allow_none=True, load_default=None)


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
    raiser = fields.Nested(RaiserSchema, metadata={
        "description": "仅在状态变为 resolved 时携带，供评价服务邀请诉求人"})
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


class DirectoryChangedData(OutgoingData):
    """directory.changed — 组织架构或服务对象变更（不含电话）."""

    kind = fields.String(required=True, validate=validate.OneOf(
        ("unit", "division", "branch", "member", "recipient")))
    id = fields.String(required=True)
    record = fields.Dict(required=True)


class KpiRecordedData(OutgoingData):
    """kpi.recorded — 业务指标."""

    subject_type = fields.String(required=True,
                                 validate=validate.OneOf(("member", "unit")))
    subject_id = fields.String(required=True)
    period = fields.String(required=True, validate=PERIOD)
    indicator = fields.String(required=True)
    value = fields.Float(required=True)
    unit_of_measure = fields.String(allow_none=True, load_default=None)
    source = fields.String(allow_none=True, load_default=None)


OUTGOING_SCHEMAS = {
    ev.ACTIVITY_LOGGED: ActivityLoggedData,
    ev.PARTY_ACTIVITY_LOGGED: PartyActivityLoggedData,
    ev.DEMAND_RAISED: DemandEventData,
    ev.DEMAND_STATUS_CHANGED: DemandEventData,
    ev.DEMAND_OVERDUE: DemandOverdueData,
    ev.DIRECTORY_CHANGED: DirectoryChangedData,
    ev.KPI_RECORDED: KpiRecordedData,
}
