"""Boundary schemas of the assessment service (考评服务): the events it
consumes, the scheme it accepts, and what its API shows."""

from marshmallow import (
    EXCLUDE, Schema, ValidationError, fields, post_load, validate,
)

from services.assessment import domain
from services.assessment.ladder.domain import RUNGS
from services.assessment.scoring import schemes
from services.assessment.scoring.domain import METRICS

ID = validate.Length(min=1, max=128)


class _Data(Schema):
    class Meta:
        unknown = EXCLUDE


# -- consumed event data -----------------------------------------------------

class ActivityLoggedSchema(_Data):
    activity_id = fields.String(load_default=None)
    category = fields.String(load_default=None)
    member_id = fields.String(required=True, validate=ID)
    unit_id = fields.String(load_default=None, allow_none=True)
    branch_id = fields.String(load_default=None, allow_none=True)
    campaign_id = fields.String(load_default=None, allow_none=True)
    occurred_at = fields.AwareDateTime(required=True, format="iso")


class PartyActivityLoggedSchema(_Data):
    activity_id = fields.String(load_default=None)
    kind = fields.String(required=True, validate=validate.OneOf(
        ("three_meetings_one_lesson", "theme_day", "study")))
    branch_id = fields.String(required=True, validate=ID)
    unit_id = fields.String(load_default=None, allow_none=True)
    occurred_at = fields.AwareDateTime(required=True, format="iso")
    attendees = fields.List(fields.String(validate=ID), load_default=list)
    expected = fields.List(fields.String(validate=ID), load_default=list)


class DemandSchema(_Data):
    demand_id = fields.String(required=True, validate=ID)
    category = fields.String(load_default=None, allow_none=True)
    owner_unit_id = fields.String(load_default=None, allow_none=True)
    member_id = fields.String(load_default=None, allow_none=True)
    status = fields.String(required=True)
    raised_at = fields.AwareDateTime(required=True, format="iso")
    on_time_response = fields.Boolean(load_default=None, allow_none=True)
    on_time_resolution = fields.Boolean(load_default=None, allow_none=True)


class KpiRecordedSchema(_Data):
    subject_type = fields.String(required=True,
                                 validate=validate.OneOf(("member", "unit")))
    subject_id = fields.String(required=True, validate=ID)
    period = fields.String(required=True, validate=validate.Regexp(
        r"^\d{4}-(0[1-9]|1[0-2])$", error="期间格式应为 YYYY-MM"))
    indicator = fields.String(required=True, validate=ID)
    value = fields.Float(required=True, allow_nan=False)


class DirectoryChangedSchema(_Data):
    kind = fields.String(required=True, validate=validate.OneOf(
        ("unit", "division", "branch", "member", "recipient")))
    id = fields.String(required=True, validate=ID)
    record = fields.Dict(load_default=dict)


class FeedbackSubmittedSchema(_Data):
    rating_id = fields.String(required=True, validate=ID)
    # a rating of a resolved demand may have no member behind it
    member_id = fields.String(load_default=None, allow_none=True)
    unit_id = fields.String(load_default=None, allow_none=True)
    branch_id = fields.String(load_default=None, allow_none=True)
    rating = fields.Integer(required=True, validate=validate.Range(1, 5))
    excluded = fields.Boolean(load_default=False)
    submitted_at = fields.AwareDateTime(required=True, format="iso")


class AppealDecidedSchema(_Data):
    appeal_id = fields.String(load_default=None)
    rating_id = fields.String(required=True, validate=ID)
    upheld = fields.Boolean(required=True)
    reason = fields.String(load_default=None, allow_none=True)


class RectificationClosedSchema(_Data):
    rectification_id = fields.String(load_default=None)
    rating_id = fields.String(required=True, validate=ID)
    status = fields.String(load_default=None, allow_none=True)
    closed_at = fields.AwareDateTime(load_default=None, allow_none=True,
                                     format="iso")


# -- schemes -----------------------------------------------------------------

class IndicatorSchema(Schema):
    metric = fields.String(required=True, validate=validate.OneOf(
        tuple(METRICS)))
    weight = fields.Float(required=True, allow_nan=False)
    points_per_unit = fields.Float(required=True, allow_nan=False)
    cap = fields.Float(required=True, allow_nan=False)


class GroupSchema(Schema):
    weight = fields.Float(required=True, allow_nan=False)
    indicators = fields.List(fields.Nested(IndicatorSchema), required=True)


class ItemSchema(Schema):
    code = fields.String(required=True, validate=validate.Length(1, 64))
    label = fields.String(load_default=None, validate=validate.Length(max=64))
    metric = fields.String(required=True, validate=validate.OneOf(
        tuple(METRICS)))
    points_per_unit = fields.Float(required=True, allow_nan=False)
    cap = fields.Float(required=True, allow_nan=False)


class BandSchema(Schema):
    grade = fields.String(required=True, validate=validate.Length(1, 16))
    min = fields.Float(required=True, allow_nan=False)
    max = fields.Float(required=True, allow_nan=False)


class CriterionSchema(Schema):
    measure = fields.String(required=True)
    min = fields.Float(load_default=None, allow_nan=False)
    # "in" is a keyword; the field is read from and written to "in"
    grades = fields.List(fields.String(), data_key="in", load_default=None)

    @post_load
    def _as_stored(self, data, **_):
        """Stored as the domain reads it: {"measure", "min"} or
        {"measure": "grade", "in": [...]}."""
        grades = data.pop("grades", None)
        if grades is not None:
            data["in"] = grades
        if data.get("min") is None:
            data.pop("min", None)
        return data


class RungSchema(Schema):
    rung = fields.String(required=True, validate=validate.OneOf(RUNGS))
    criteria = fields.List(fields.Nested(CriterionSchema), required=True)


class ThreeRatesSchema(Schema):
    response = fields.Float(required=True, allow_nan=False)
    resolution = fields.Float(required=True, allow_nan=False)
    satisfaction = fields.Float(required=True, allow_nan=False)


class SchemeCreateSchema(Schema):
    """考评方案: a new version. Structure is checked here, arithmetic
    (weights add up, bands cover 0..100) in ``scoring.schemes.validate_scheme``."""

    class Meta:
        unknown = EXCLUDE

    name = fields.String(required=True, validate=validate.Length(1, 100))
    effective_from = fields.String(load_default=None, validate=validate.Regexp(
        r"^\d{4}-(0[1-9]|1[0-2])$", error="生效月份格式应为 YYYY-MM"))
    groups = fields.Dict(keys=fields.String(validate=validate.OneOf(
        domain.GROUPS)), values=fields.Nested(GroupSchema), required=True)
    bonuses = fields.List(fields.Nested(ItemSchema), load_default=list)
    deductions = fields.List(fields.Nested(ItemSchema), load_default=list)
    bands = fields.List(fields.Nested(BandSchema), required=True)
    quotas = fields.Dict(keys=fields.String(), values=fields.Float(),
                         load_default=dict)
    three_rates = fields.Nested(ThreeRatesSchema, load_default=lambda: dict(
        schemes.DEFAULT_SCHEME["three_rates"]))
    ladder = fields.List(fields.Nested(RungSchema), load_default=lambda: [
        dict(r) for r in schemes.default_scheme()["ladder"]])


class SchemeSchema(Schema):
    version = fields.Integer()
    name = fields.String()
    effective_from = fields.String()
    groups = fields.Dict()
    bonuses = fields.List(fields.Dict())
    deductions = fields.List(fields.Dict())
    bands = fields.List(fields.Dict())
    quotas = fields.Dict()
    three_rates = fields.Dict()
    ladder = fields.List(fields.Dict())
    created_at = fields.DateTime(format="iso")
    created_by = fields.String()


class RescoreSchema(Schema):
    version = fields.Integer(required=True, validate=validate.Range(min=1))


class PublishSchema(Schema):
    subject_type = fields.String(required=True, validate=validate.OneOf(
        (*domain.SUBJECT_TYPES, "three_rates")))


def period_arg(period):
    """A period from the URL, or a 400 with the reason."""
    if domain.period_kind(period) is None:
        raise ValidationError({"period": [
            "期间格式应为 YYYY-MM、YYYY-Qn 或 YYYY"]})
    return period


def month_arg(period):
    if domain.period_kind(period) != "month":
        raise ValidationError({"period": ["期间须为月份 YYYY-MM"]})
    return period


def subject_type_arg(value, allowed=domain.SUBJECT_TYPES):
    if value not in allowed:
        raise ValidationError({"subject_type": [
            "考评对象类型须为 " + "、".join(allowed)]})
    return value


# -- what the API shows ------------------------------------------------------

class MonthlyCardSchema(Schema):
    period = fields.String()
    activity_count = fields.Integer()
    rating_count = fields.Integer()
    average_satisfaction = fields.Float(allow_none=True)
    total = fields.Float(allow_none=True)
    grade = fields.String(allow_none=True)
    scheme_version = fields.Integer(allow_none=True)
    contributions = fields.List(fields.Dict())


class MemberScorecardSchema(Schema):
    member_id = fields.String()
    activity_count = fields.Integer()
    rating_count = fields.Integer()
    average_satisfaction = fields.Float(allow_none=True)
    periods = fields.List(fields.Nested(MonthlyCardSchema))


class ScorecardSchema(Schema):
    subject_type = fields.String()
    subject_id = fields.String()
    period = fields.String()
    scheme_version = fields.Integer()
    total = fields.Float()
    base = fields.Float()
    grade = fields.String(allow_none=True)
    groups = fields.Dict()
    items = fields.List(fields.Dict())
    metrics = fields.Dict()
    sums = fields.Dict()
    contributions = fields.List(fields.Dict())
    updated_at = fields.DateTime(format="iso")


class BranchSchema(Schema):
    branch_id = fields.String(attribute="_id")
    name = fields.String(allow_none=True)
    rung = fields.String(allow_none=True)
    rung_label = fields.String()
    reason = fields.String(allow_none=True)
    period = fields.String(allow_none=True)
    history = fields.List(fields.Dict())
