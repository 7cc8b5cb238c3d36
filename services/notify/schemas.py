"""Boundary schemas of the notify service (通知服务)."""

from marshmallow import (
    EXCLUDE, Schema, ValidationError, fields, validate, validates_schema,
)

from sifuwu.privacy import redact_links
from services.notify import domain

MOBILE = validate.Regexp(r"^1[3-9]\d{9}$", error="手机号格式不正确")


def _moment():
    return fields.AwareDateTime(
        load_default=None, format="iso",
        error_messages={"awareness": "时间须带时区偏移，例如 2026-03-01T09:30:00+08:00"})


class MessageQuerySchema(Schema):
    """Filters of ``GET /api/v1/messages``: recipient (``to`` = a phone,
    email or openid; ``recipient`` = a contact-book key such as
    ``member:m1``), event (a type like ``demand.overdue`` or an event id),
    channel, status, period (``since``/``until``)."""

    class Meta:
        unknown = EXCLUDE

    to = fields.String(load_default=None, validate=validate.Length(max=128))
    recipient = fields.String(load_default=None,
                              validate=validate.Length(max=160))
    event = fields.String(load_default=None,
                          validate=validate.Length(max=128))
    channel = fields.String(load_default=None,
                            validate=validate.OneOf(domain.CHANNELS))
    status = fields.String(load_default=None,
                           validate=validate.OneOf(domain.STATUSES))
    since = _moment()
    until = _moment()
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))


class StatsQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    since = _moment()
    until = _moment()


class HistorySchema(Schema):
    status = fields.String()
    at = fields.DateTime(format="iso")
    provider = fields.String()
    reason = fields.String()


class MessageSchema(Schema):
    """A message as operators see it: contact masked, never in clear."""

    id = fields.String(attribute="_id")
    event_id = fields.String()
    event_type = fields.String()
    correlation_id = fields.String(allow_none=True)
    channel = fields.String()
    template = fields.String()
    template_version = fields.Integer(allow_none=True)
    recipient = fields.String(allow_none=True)
    to = fields.String(attribute="to_masked", allow_none=True)
    subject = fields.String()
    # bearer links redacted (the citizen's /f/ token), stored ones included
    body = fields.Function(lambda m: redact_links(m.get("body") or ""))
    segments = fields.Integer()
    status = fields.String()
    reason = fields.String(allow_none=True)
    provider = fields.String(allow_none=True)
    attempts = fields.Integer()
    urgent = fields.Boolean()
    held_for_quiet_hours = fields.Boolean()
    next_at = fields.DateTime(format="iso", allow_none=True)
    resend_of = fields.String(allow_none=True)
    created_at = fields.DateTime(format="iso")
    updated_at = fields.DateTime(format="iso")
    history = fields.List(fields.Nested(HistorySchema))


class SkipSchema(Schema):
    event_id = fields.String()
    event_type = fields.String()
    template = fields.String()
    recipient = fields.String(allow_none=True)
    channel = fields.String(allow_none=True)
    reason = fields.String()
    at = fields.DateTime(format="iso")


class PreferenceSchema(Schema):
    """Staff set a recipient's wishes: which channels, and opt-out of
    non-essential messages (invitations, public announcements)."""

    class Meta:
        unknown = EXCLUDE

    recipient = fields.String(load_default=None,
                              validate=validate.Length(min=3, max=160))
    phone = fields.String(load_default=None, validate=MOBILE)
    channels = fields.List(fields.String(
        validate=validate.OneOf(domain.PERSONAL_CHANNELS)),
        load_default=None, allow_none=True)
    opt_out_non_essential = fields.Boolean(load_default=None,
                                           allow_none=True)

    @validates_schema
    def _one_recipient(self, data, **_):
        if bool(data.get("recipient")) == bool(data.get("phone")):
            raise ValidationError("须且只能提供 recipient 或 phone 之一",
                                  "recipient")


class PreferenceOutSchema(Schema):
    recipient = fields.String(attribute="_id")
    channels = fields.List(fields.String(), allow_none=True)
    opt_out_non_essential = fields.Boolean()
    updated_at = fields.DateTime(format="iso")


class DirectoryChangedSchema(Schema):
    """``directory.changed`` data as the contact book needs it."""

    class Meta:
        unknown = EXCLUDE

    kind = fields.String(required=True, validate=validate.OneOf(
        ("unit", "division", "branch", "member", "recipient")))
    id = fields.String(required=True, validate=validate.Length(min=1,
                                                               max=128))
    record = fields.Dict(load_default=dict)


class ContactSchema(Schema):
    """Staff keep the contact book (通讯录) where the directory has no
    contacts: the supervision office (督查室), a unit's duty phone, a
    member's email or WeChat openid."""

    class Meta:
        unknown = EXCLUDE

    name = fields.String(validate=validate.Length(min=1, max=100))
    phone = fields.String(validate=MOBILE)
    email = fields.Email()
    wechat_openid = fields.String(validate=validate.Regexp(
        r"^[A-Za-z0-9_-]{6,64}$", error="openid 格式不正确"))
    unit_id = fields.String(validate=validate.Length(min=1, max=128))
    leader_member_id = fields.String(validate=validate.Length(min=1,
                                                              max=128))
    roles = fields.List(fields.String(validate=validate.Length(max=40)))
    supervision = fields.Boolean()
    active = fields.Boolean()


class ContactOutSchema(Schema):
    """A contact as staff see it: every address masked."""

    id = fields.String(attribute="_id")
    kind = fields.String()
    name = fields.String(attribute="name_masked", allow_none=True)
    unit_id = fields.String(allow_none=True)
    leader_id = fields.String(allow_none=True)
    roles = fields.List(fields.String())
    active = fields.Boolean()
    addresses = fields.Method("_addresses")
    updated_at = fields.DateTime(format="iso")

    def _addresses(self, doc):
        return {channel: item.get("masked")
                for channel, item in (doc.get("addresses") or {}).items()}


class BoardItemSchema(Schema):
    id = fields.String(attribute="_id")
    kind = fields.String()
    event_type = fields.String()
    title = fields.String()
    body = fields.String()
    reference = fields.String(allow_none=True)
    published_at = fields.DateTime(format="iso")
