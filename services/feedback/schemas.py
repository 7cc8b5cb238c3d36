"""Boundary schemas of the feedback service (评价服务): what recipients and
staff send, what other services' events carry, what the API answers."""

from marshmallow import (
    EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates_schema,
)

from sifuwu.privacy import ContactField
from services.feedback import domain

PHONE = validate.Regexp(r"^1[3-9]\d{9}$", error="手机号格式不正确")


def _text(max_len, what, required=False, min_len=0):
    extra = ({"error_messages": {"required": f"请填写{what}",
                                "null": f"请填写{what}"}}
             if required else {"load_default": ""})
    return fields.String(
        required=required, **extra,
        validate=validate.Length(
            min=min_len, max=max_len,
            error=f"{what}须为 {min_len} 至 {max_len} 字" if min_len
            else f"{what}不能超过 {max_len} 字"))


class AspectsSchema(Schema):
    """分项评价: 效率, 态度, 专业, each optional 1..5."""

    class Meta:
        unknown = RAISE

    efficiency = fields.Integer(strict=False, validate=validate.Range(
        1, 5, error="效率评分须为 1 至 5"), allow_none=True)
    attitude = fields.Integer(strict=False, validate=validate.Range(
        1, 5, error="态度评分须为 1 至 5"), allow_none=True)
    expertise = fields.Integer(strict=False, validate=validate.Range(
        1, 5, error="专业评分须为 1 至 5"), allow_none=True)


class FeedbackSubmitSchema(Schema):
    """一事一评: one rating for one invitation."""

    class Meta:
        unknown = EXCLUDE

    token = fields.String(required=True, validate=validate.Length(min=10, max=512))
    rating = fields.Integer(
        required=True, strict=False,
        validate=validate.OneOf(sorted(domain.LEVELS),
                                error="评价等级须为 1 至 5"),
        error_messages={"required": "请选择评价等级",
                        "null": "请选择评价等级",
                        "invalid": "评价等级须为 1 至 5"})
    comment = _text(domain.COMMENT_MAX, "留言")
    aspects = fields.Nested(AspectsSchema, load_default=dict)
    recommend = fields.Boolean(load_default=False)
    recommend_reason = _text(300, "推荐理由")

    @validates_schema
    def _reason_with_recommendation(self, data, **_):
        if data.get("recommend") and not (data.get("recommend_reason")
                                          or "").strip():
            raise ValidationError("推荐典型时请填写推荐理由",
                                  field_name="recommend_reason")


class RatingSchema(Schema):
    id = fields.String(attribute="_id")
    invitation_id = fields.String()
    subject_type = fields.String()
    subject_id = fields.String()
    rating = fields.Integer()
    level = fields.Method("level_name")
    bad = fields.Boolean()
    aspects = fields.Dict()
    excluded = fields.Boolean()
    rectification_id = fields.String(allow_none=True)
    recommendation_id = fields.String(allow_none=True)
    submitted_at = fields.DateTime(format="iso")

    def level_name(self, obj):
        return domain.LEVELS[obj["rating"]]


# -- incoming events -----------------------------------------------------

class ContactSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    name = fields.String(load_default=None, allow_none=True,
                         validate=validate.Length(max=100))
    # a sealed contact {ref, sealed, masked}; for one release also the
    # clear string events carried before
    phone = ContactField(load_default=None, allow_none=True)


class ActivityLoggedSchema(Schema):
    """What feedback needs of ``activity.logged``."""

    class Meta:
        unknown = EXCLUDE

    activity_id = fields.String(required=True)
    member_id = fields.String(required=True)
    member_name = fields.String(load_default=None, allow_none=True)
    unit_id = fields.String(load_default=None, allow_none=True)
    branch_id = fields.String(load_default=None, allow_none=True)
    category = fields.String(load_default=None, allow_none=True)
    recipient = fields.Nested(ContactSchema, load_default=dict)


class DemandStatusChangedSchema(Schema):
    """What feedback needs of ``demand.status_changed``."""

    class Meta:
        unknown = EXCLUDE

    demand_id = fields.String(required=True)
    status = fields.String(required=True)
    category = fields.String(load_default=None, allow_none=True)
    owner_unit_id = fields.String(load_default=None, allow_none=True)
    member_id = fields.String(load_default=None, allow_none=True)
    member_name = fields.String(load_default=None, allow_none=True)
    branch_id = fields.String(load_default=None, allow_none=True)
    raiser = fields.Nested(ContactSchema, load_default=None, allow_none=True)


class CandidateSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    candidate_id = fields.String(required=True)
    name = fields.String(required=True)
    unit_name = fields.String(load_default=None, allow_none=True)
    award = fields.String(load_default=None, allow_none=True)


class PublicityOpenedSchema(Schema):
    """``publicity.opened`` from assessment (公示)."""

    class Meta:
        unknown = EXCLUDE

    campaign_id = fields.String(required=True)
    title = fields.String(required=True)
    starts_on = fields.Date(required=True)
    ends_on = fields.Date(required=True)
    candidates = fields.List(fields.Nested(CandidateSchema), load_default=list)


class ObjectionAnsweredSchema(Schema):
    """``objection.answered`` from assessment."""

    class Meta:
        unknown = EXCLUDE

    objection_id = fields.String(required=True)
    campaign_id = fields.String(required=True)
    candidate_id = fields.String(load_default=None, allow_none=True)
    substantiated = fields.Boolean(required=True)
    answer = fields.String(required=True,
                           validate=validate.Length(max=domain.ANSWER_MAX))


# -- staff and public requests ---------------------------------------------

class CallbackSchema(Schema):
    """回访记录."""

    class Meta:
        unknown = RAISE

    note = _text(domain.REASON_MAX, "回访记录", required=True, min_len=2)


class CloseSchema(Schema):
    """整改结果."""

    class Meta:
        unknown = RAISE

    outcome = _text(domain.REASON_MAX, "整改结果", required=True, min_len=2)


class AppealSchema(Schema):
    """申诉: the unit explains why a bad review is mistaken or malicious."""

    class Meta:
        unknown = RAISE

    reason = _text(domain.REASON_MAX, "申诉理由", required=True, min_len=5)


class AppealDecisionSchema(Schema):
    class Meta:
        unknown = RAISE

    upheld = fields.Boolean(required=True)
    reason = _text(domain.REASON_MAX, "决定理由", required=True, min_len=2)


class RecommendationSchema(Schema):
    """推荐典型 by a recipient, outside a rating."""

    class Meta:
        unknown = RAISE

    campaign_id = fields.String(load_default=None, allow_none=True,
                                validate=validate.Length(max=128))
    candidate_type = fields.String(required=True, validate=validate.OneOf(
        ["member", "branch"], error="推荐对象类型须为 member 或 branch"))
    candidate_id = fields.String(required=True,
                                 validate=validate.Length(min=1, max=128))
    reason = _text(domain.REASON_MAX, "推荐理由", required=True, min_len=5)
    name = fields.String(load_default=None, allow_none=True,
                         validate=validate.Length(max=50))
    phone = fields.String(load_default=None, allow_none=True, validate=PHONE)


class ObjectionSchema(Schema):
    """异议: reason and contact details (kept private)."""

    class Meta:
        unknown = EXCLUDE

    campaign_id = fields.String(required=True,
                                validate=validate.Length(min=1, max=128))
    candidate_id = fields.String(required=True,
                                 validate=validate.Length(min=1, max=128),
                                 error_messages={"required": "请选择异议对象"})
    reason = _text(domain.REASON_MAX, "异议理由", required=True, min_len=10)
    name = fields.String(load_default="", validate=validate.Length(
        max=50, error="姓名不能超过 50 字"))
    phone = fields.String(required=True, validate=PHONE,
                          error_messages={"required": "请填写联系电话"})


class AnswerSchema(Schema):
    """Staff's answer to an objection, published on the board."""

    class Meta:
        unknown = RAISE

    substantiated = fields.Boolean(required=True)
    answer = _text(domain.ANSWER_MAX, "答复", required=True, min_len=5)


class ListQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    unit_id = fields.String(validate=validate.Length(max=128))
    status = fields.String(validate=validate.Length(max=32))
    campaign_id = fields.String(validate=validate.Length(max=128))
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 500))


# -- answers ------------------------------------------------------------------

class RectificationSchema(Schema):
    id = fields.String(attribute="_id")
    rating_id = fields.String()
    member_id = fields.String(allow_none=True)
    unit_id = fields.String(allow_none=True)
    status = fields.String()
    status_name = fields.Method("status_label")
    rating = fields.Integer()
    comment = fields.String()
    callback_by = fields.DateTime(format="iso")
    fix_by = fields.DateTime(format="iso")
    callback_at = fields.DateTime(format="iso", allow_none=True)
    callback_note = fields.String(allow_none=True)
    closed_at = fields.DateTime(format="iso", allow_none=True)
    outcome = fields.String(allow_none=True)
    overdue = fields.List(fields.String())
    reviewer = fields.Dict()
    opened_at = fields.DateTime(format="iso")

    def status_label(self, obj):
        return domain.RECT_STATUS_NAMES.get(obj["status"], obj["status"])


class AppealOutSchema(Schema):
    id = fields.String(attribute="_id")
    rating_id = fields.String()
    unit_id = fields.String(allow_none=True)
    status = fields.String()
    reason = fields.String()
    filed_by = fields.String()
    decision_reason = fields.String(allow_none=True)
    decided_by = fields.String(allow_none=True)
    filed_at = fields.DateTime(format="iso")
    decided_at = fields.DateTime(format="iso", allow_none=True)


class RecommendationOutSchema(Schema):
    id = fields.String(attribute="_id")
    campaign_id = fields.String(allow_none=True)
    candidate_type = fields.String()
    candidate_id = fields.String()
    reason = fields.String()
    source = fields.String()
    submitted_at = fields.DateTime(format="iso")


class ObjectionOutSchema(Schema):
    id = fields.String(attribute="_id")
    ref = fields.String()
    campaign_id = fields.String()
    candidate_id = fields.String()
    reason = fields.String()
    status = fields.String()
    substantiated = fields.Boolean(allow_none=True)
    answer = fields.String(allow_none=True)
    objector = fields.Dict()
    filed_at = fields.DateTime(format="iso")
    answered_at = fields.DateTime(format="iso", allow_none=True)
