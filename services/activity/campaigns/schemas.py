"""Boundary schemas of campaigns."""

from marshmallow import (
    RAISE, Schema, ValidationError, fields, validate, validates_schema,
)

from services.activity.activities.domain import CATEGORIES, KINDS
from services.activity.fields import ident


class TargetSchema(Schema):
    class Meta:
        unknown = RAISE

    per_member = fields.Integer(required=True, validate=validate.Range(min=1),
                                metadata={"description": "每名党员至少完成的活动次数"})
    category = fields.String(load_default=None,
                             validate=validate.OneOf(CATEGORIES))
    kind = fields.String(load_default=None,
                         validate=validate.OneOf(KINDS))


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
