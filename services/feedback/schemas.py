"""Boundary schemas of the feedback service (评价服务)."""

from marshmallow import EXCLUDE, Schema, fields, validate

from services.feedback import domain


class FeedbackSubmitSchema(Schema):
    """一事一评: one rating for one invitation."""

    class Meta:
        unknown = EXCLUDE

    token = fields.String(required=True, validate=validate.Length(min=10, max=512))
    rating = fields.Integer(
        required=True, strict=False,
        validate=validate.OneOf(sorted(domain.LEVELS),
                                error="评价等级须为 1 至 5"))
    comment = fields.String(load_default="", validate=validate.Length(
        max=500, error="留言不能超过 500 字"))


class RatingSchema(Schema):
    id = fields.String(attribute="_id")
    invitation_id = fields.String()
    rating = fields.Integer()
    level = fields.Method("level_name")
    submitted_at = fields.DateTime(format="iso")

    def level_name(self, obj):
        return domain.LEVELS[obj["rating"]]
