"""Boundary schemas of the notify service (通知服务)."""

from marshmallow import EXCLUDE, Schema, fields, validate

from services.notify import domain


class MessageQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    to = fields.String(load_default=None, validate=validate.Length(max=64))
    channel = fields.String(load_default=None,
                            validate=validate.OneOf(domain.CHANNELS))
    status = fields.String(load_default=None,
                           validate=validate.OneOf(domain.STATUSES))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))


class MessageSchema(Schema):
    """A message as operators see it: contact masked, never in clear."""

    id = fields.String(attribute="_id")
    event_id = fields.String()
    event_type = fields.String()
    channel = fields.String()
    template = fields.String()
    to = fields.String(attribute="to_masked")
    body = fields.String()
    status = fields.String()
    provider = fields.String(allow_none=True)
    created_at = fields.DateTime(format="iso")
    updated_at = fields.DateTime(format="iso")
