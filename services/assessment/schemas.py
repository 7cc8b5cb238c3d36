"""Boundary schemas of the assessment service (考评服务)."""

from marshmallow import Schema, fields


class MonthlyCardSchema(Schema):
    period = fields.String()
    activity_count = fields.Integer()
    rating_count = fields.Integer()
    average_satisfaction = fields.Float(allow_none=True)
    contributions = fields.List(fields.Dict())


class MemberScorecardSchema(Schema):
    member_id = fields.String()
    activity_count = fields.Integer()
    rating_count = fields.Integer()
    average_satisfaction = fields.Float(allow_none=True)
    periods = fields.List(fields.Nested(MonthlyCardSchema))
