"""Boundary schemas of the activity service (活动服务)."""

from marshmallow import EXCLUDE, Schema, fields, validate

from services.activity import domain

MOBILE = validate.Regexp(r"^1[3-9]\d{9}$", error="手机号格式不正确")


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
    category = fields.String()
    kind = fields.String()
    roles = fields.List(fields.String())
    member_id = fields.String()
    member_name = fields.String(allow_none=True)
    unit_id = fields.String(allow_none=True)
    branch_id = fields.String(allow_none=True)
    campaign_id = fields.String(allow_none=True)
    recipient = fields.Method("masked_recipient")
    occurred_at = fields.DateTime(format="iso")
    place = fields.String(allow_none=True)
    summary = fields.String()
    logged_at = fields.DateTime(format="iso")

    def masked_recipient(self, obj):
        from sifuwu.privacy import mask_phone
        recipient = dict(obj.get("recipient") or {})
        recipient.pop("phone_enc", None)
        if recipient.get("phone_masked") is not None:
            recipient["phone"] = recipient.pop("phone_masked")
        return recipient
