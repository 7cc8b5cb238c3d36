"""Boundary schemas of the activity log: staff's activity, the ingested
``activity.*`` data, the activity as the API shows it, and what
``activity.logged`` and ``party_activity.logged`` carry."""

from marshmallow import (
    EXCLUDE, RAISE, Schema, ValidationError, fields, validate,
    validates_schema,
)

from services.activity.activities import domain
from services.activity.fields import (
    CATEGORY_CODE, MOBILE, IngestData, OutgoingData, SealedContact, aware,
    ident,
)


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


class OutRecipient(OutgoingData):
    id = fields.String(allow_none=True, load_default=None)
    type = fields.String(required=True,
                         validate=validate.OneOf(domain.RECIPIENT_TYPES))
    name = fields.String(required=True)
    phone = fields.Nested(SealedContact, allow_none=True, load_default=None,
                          metadata={"description": "密封的联系方式（不含明文），"
                                    "仅供评价服务发送评价邀请"})


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
