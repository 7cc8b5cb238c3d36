"""Boundary schemas of open selection (开门评选): HTTP bodies and the data
of the events it consumes."""

from marshmallow import (
    EXCLUDE, Schema, ValidationError, fields, validate, validates_schema,
)

from services.assessment.selection.domain import AWARDS, DEFAULT_RULES, RULES

ID = dict(required=True, validate=validate.Length(min=1, max=128))
TEXT = validate.Length(max=4000)

CATEGORY_TITLES = {
    "party_deputy": "党代表", "people_deputy": "人大代表",
    "cppcc_member": "政协委员", "expert": "专家学者",
    "enterprise": "企业代表", "community": "社区代表",
    "cadre": "干部代表", "recipient": "服务对象代表",
}
CATEGORY = validate.Regexp(r"^[a-z][a-z_]{0,39}$",
                           error="类别须为小写英文标识，例如 expert")


class AwardSchema(Schema):
    award = fields.String(required=True, validate=validate.OneOf(
        list(AWARDS), error="未知奖项"))
    quota = fields.Integer(required=True, validate=validate.Range(min=1))
    candidate_count = fields.Integer(required=True,
                                     validate=validate.Range(min=2))


class PanelPlanSchema(Schema):
    strata = fields.Dict(keys=fields.String(validate=CATEGORY),
                         values=fields.Integer(
                             validate=validate.Range(min=1, max=50)),
                         required=True)


class WeightsSchema(Schema):
    panel = fields.Float(required=True, validate=validate.Range(0, 1))
    scorecard = fields.Float(required=True, validate=validate.Range(0, 1))


class PlanSchema(Schema):
    """评选方案."""
    title = fields.String(required=True, validate=validate.Length(1, 200))
    period = fields.String(required=True, validate=validate.Length(1, 32))
    scope = fields.String(load_default="", validate=TEXT)
    criteria = fields.String(load_default="", validate=TEXT)
    procedure = fields.String(load_default="", validate=TEXT)
    awards = fields.List(fields.Nested(AwardSchema), required=True,
                         validate=validate.Length(min=1))
    rules = fields.List(fields.String(validate=validate.OneOf(
        list(RULES), error="未知的资格规则")), load_default=list(DEFAULT_RULES))
    panel = fields.Nested(PanelPlanSchema, required=True)
    weights = fields.Nested(WeightsSchema, load_default=lambda: {
        "panel": 0.7, "scorecard": 0.3})
    trim = fields.Integer(load_default=1, validate=validate.Range(0, 5))
    publicity_days = fields.Integer(load_default=5, validate=validate.Range(
        min=5, max=60, error="公示期不得少于 5 个工作日"))
    promote_next = fields.Boolean(load_default=True)
    prefer_four_services_holders = fields.Boolean(load_default=True)


class FactsSchema(Schema):
    """The candidate's scorecard facts the 互置 rules read."""
    party_building_met = fields.Boolean(load_default=False)
    four_services_award = fields.Boolean(load_default=False)
    standardised_branch = fields.Boolean(load_default=False)


class NominationSchema(Schema):
    """推荐/提名: one candidate for one award."""
    candidate_id = fields.String(**ID)
    candidate_type = fields.String(required=True, validate=validate.OneOf(
        ["branch", "member"], error="候选类型须为 branch 或 member"))
    name = fields.String(required=True, validate=validate.Length(1, 100))
    unit_id = fields.String(**ID)
    unit_name = fields.String(load_default="", validate=validate.Length(
        max=200))
    award = fields.String(required=True, validate=validate.OneOf(
        list(AWARDS), error="未知奖项"))
    source = fields.String(load_default="unit", validate=validate.OneOf(
        ["unit", "recipient"]))
    recommendation_ids = fields.List(fields.String(), load_default=list)
    reason = fields.String(load_default="", allow_none=True, validate=TEXT)
    scorecard_score = fields.Float(required=True,
                                   validate=validate.Range(0, 100))
    facts = fields.Nested(FactsSchema, load_default=lambda: FactsSchema()
                          .load({}))


class EvaluatorSchema(Schema):
    evaluator_id = fields.String(**ID)
    name = fields.String(required=True, validate=validate.Length(1, 100))
    category = fields.String(required=True, validate=CATEGORY)
    unit_id = fields.String(**ID)
    relations = fields.List(fields.String(), load_default=list)
    phone = fields.String(load_default=None, allow_none=True,
                          validate=validate.Length(max=32))


class PoolSchema(Schema):
    """评选人员名单库 entries to add or replace."""
    evaluators = fields.List(fields.Nested(EvaluatorSchema), required=True,
                             validate=validate.Length(min=1, max=2000))


class CandidateScoreSchema(Schema):
    candidate_id = fields.String(**ID)
    score = fields.Float(required=True, validate=validate.Range(
        0, 100, error="评分须在 0 到 100 之间"))


class ScoresSchema(Schema):
    scores = fields.List(fields.Nested(CandidateScoreSchema), required=True,
                         validate=validate.Length(min=1))

    @validates_schema
    def _once(self, data, **_):
        ids = [s["candidate_id"] for s in data["scores"]]
        if len(set(ids)) != len(ids):
            raise ValidationError({"scores": ["同一候选对象只能评分一次"]})


class AnswerSchema(Schema):
    """异议答复."""
    substantiated = fields.Boolean(required=True)
    answer = fields.String(required=True, validate=validate.Length(1, 4000))


class PublicityOpenSchema(Schema):
    opens_on = fields.Date(load_default=None, allow_none=True)


# -- data of consumed events -------------------------------------------------

class RecommendationEventSchema(Schema):
    class Meta:
        unknown = EXCLUDE
    recommendation_id = fields.String(**ID)
    campaign_id = fields.String(load_default=None, allow_none=True)
    candidate_type = fields.String(required=True, validate=validate.OneOf(
        ["branch", "member"]))
    candidate_id = fields.String(**ID)
    reason = fields.String(load_default="", allow_none=True, validate=TEXT)


class ObjectionFiledSchema(Schema):
    class Meta:
        unknown = EXCLUDE
    objection_id = fields.String(**ID)
    campaign_id = fields.String(**ID)
    candidate_id = fields.String(**ID)
    reason = fields.String(load_default="", allow_none=True, validate=TEXT)


class ObjectionAnsweredSchema(Schema):
    class Meta:
        unknown = EXCLUDE
    objection_id = fields.String(**ID)
    campaign_id = fields.String(**ID)
    candidate_id = fields.String(**ID)
    substantiated = fields.Boolean(required=True)
    answer = fields.String(load_default="", allow_none=True, validate=TEXT)
