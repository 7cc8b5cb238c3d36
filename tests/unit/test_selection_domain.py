"""开门评选 rules: 互置 eligibility, 差额, trimmed means, ranking, the final
list after objections."""

import datetime as dt

import pytest

from services.assessment.selection import domain
from services.assessment.selection.domain import (
    DEMONSTRATION_BRANCH, EXCELLENT_MEMBER, FOUR_SERVICES_BRANCH,
    FOUR_SERVICES_MEMBER, MODEL_BRANCH,
)
from sifuwu.errors import Conflict, DomainError


def candidate(cid, ctype="branch", **facts):
    return {"candidate_id": cid, "candidate_type": ctype, "facts": facts}


def plan(**overrides):
    base = {
        "title": "2026年度“四服务”先进评选", "period": "2026",
        "awards": [{"award": FOUR_SERVICES_BRANCH, "quota": 2,
                    "candidate_count": 3}],
        "rules": list(domain.DEFAULT_RULES),
        "panel": {"strata": {"expert": 2, "recipient": 3}},
        "weights": {"panel": 0.7, "scorecard": 0.3},
        "trim": 1, "publicity_days": 5, "promote_next": True,
        "prefer_four_services_holders": True,
    }
    base.update(overrides)
    return base


# -- 互置 eligibility ------------------------------------------------------------

def test_four_services_award_requires_party_building_criteria():
    failures = domain.eligibility_failures(
        candidate("b1", party_building_met=False), FOUR_SERVICES_BRANCH)
    assert [r.code for r in failures] == [
        "four_services_requires_party_building"]
    assert not domain.eligibility_failures(
        candidate("b1", party_building_met=True), FOUR_SERVICES_BRANCH)


@pytest.mark.parametrize("award,ctype", [
    (DEMONSTRATION_BRANCH, "branch"), (MODEL_BRANCH, "branch"),
    (EXCELLENT_MEMBER, "member")])
def test_party_building_awards_require_the_four_services_award(award, ctype):
    facts = {"party_building_met": True, "standardised_branch": True}
    codes = [r.code for r in domain.eligibility_failures(
        candidate("x", ctype, **facts), award)]
    assert codes == ["party_building_requires_four_services"]
    assert not domain.eligibility_failures(
        candidate("x", ctype, four_services_award=True, **facts), award)


def test_refusal_names_every_failed_rule():
    with pytest.raises(DomainError) as err:
        domain.check_eligibility(candidate("m1", "member"), MODEL_BRANCH)
    assert err.value.code == "ineligible"
    assert err.value.fields["rules"] == [
        "subject_type", "party_building_requires_four_services",
        "ladder_requires_standardised"]
    assert "互置" in err.value.message and "subject_type" in err.value.message


def test_rule_set_is_configurable():
    weak = candidate("b1", party_building_met=False)
    assert domain.eligibility_failures(weak, FOUR_SERVICES_BRANCH)
    assert not domain.eligibility_failures(weak, FOUR_SERVICES_BRANCH,
                                           ["subject_type"])
    with pytest.raises(DomainError) as err:
        domain.eligibility_failures(weak, FOUR_SERVICES_BRANCH, ["nope"])
    assert err.value.code == "unknown_rule"


def test_ladder_rule_for_demonstration_branches():
    codes = [r.code for r in domain.eligibility_failures(
        candidate("b", four_services_award=True), DEMONSTRATION_BRANCH)]
    assert codes == ["ladder_requires_standardised"]
    assert not domain.eligibility_failures(
        candidate("m", "member", party_building_met=True),
        FOUR_SERVICES_MEMBER)


# -- 差额 and the plan -------------------------------------------------------------

@pytest.mark.parametrize("quota,count,ok", [(2, 3, True), (3, 3, False),
                                            (4, 3, False), (1, 2, True)])
def test_differential_requires_fewer_awards_than_candidates(quota, count,
                                                            ok):
    if ok:
        domain.check_differential(quota, count, FOUR_SERVICES_BRANCH)
    else:
        with pytest.raises(DomainError) as err:
            domain.check_differential(quota, count, FOUR_SERVICES_BRANCH)
        assert err.value.code == "not_differential"
        assert "差额" in err.value.message


def test_plan_refused_without_differential_or_with_bad_weights():
    domain.check_plan(plan())
    with pytest.raises(DomainError) as err:
        domain.check_plan(plan(awards=[{"award": FOUR_SERVICES_BRANCH,
                                        "quota": 3, "candidate_count": 3}]))
    assert err.value.code == "not_differential"
    with pytest.raises(DomainError) as err:
        domain.check_plan(plan(weights={"panel": 0.5, "scorecard": 0.6}))
    assert err.value.code == "bad_weights"
    with pytest.raises(DomainError) as err:
        domain.check_plan(plan(publicity_days=4))
    assert err.value.code == "publicity_too_short"


# -- trimmed mean, combination, ranking --------------------------------------------

def test_trimmed_mean_drops_highest_and_lowest():
    assert domain.trimmed_mean([60, 90, 80, 100, 85]) == 85.0
    assert domain.trimmed_mean([60, 90, 80, 100, 85], trim=0) == 83.0
    assert domain.trimmed_mean([1, 2, 3, 4, 5, 6, 100], trim=2) == 4.0
    with pytest.raises(DomainError) as err:
        domain.trimmed_mean([80, 90], trim=1)
    assert err.value.code == "too_few_scores"


def test_combined_score_uses_the_plans_weights():
    assert domain.combined_score(90, 80, {"panel": 0.7, "scorecard": 0.3}) \
        == 87.0
    assert domain.combined_score(90, 80, {"panel": 1, "scorecard": 0}) == 90


def scores_for(cid, values):
    return [{"evaluator_id": f"j{i}", "candidate_id": cid, "score": v}
            for i, v in enumerate(values)]


def test_aggregate_ranks_and_proposes_the_quota():
    cands = [dict(candidate(c, party_building_met=True), award=
                  FOUR_SERVICES_BRANCH, scorecard_score=s, name=c)
             for c, s in (("a", 80), ("b", 90), ("c", 70))]
    scores = (scores_for("a", [90, 91, 92, 10, 99])
              + scores_for("b", [80, 80, 80, 80, 80])
              + scores_for("c", [70, 70, 70, 70, 70]))
    ranking = domain.aggregate(cands, scores, plan())
    assert [(r["candidate_id"], r["rank"], r["proposed"]) for r in ranking] \
        == [("a", 1, True), ("b", 2, True), ("c", 3, False)]
    a = ranking[0]
    assert a["panel_score"] == 91.0 and a["score"] == 87.7


def test_party_building_awards_rank_four_services_holders_first():
    p = plan(awards=[{"award": EXCELLENT_MEMBER, "quota": 1,
                      "candidate_count": 2}],
             rules=["subject_type"])
    rows = [{"candidate_id": "x", "award": EXCELLENT_MEMBER, "score": 95,
             "panel_score": 95, "four_services_award": False},
            {"candidate_id": "y", "award": EXCELLENT_MEMBER, "score": 80,
             "panel_score": 80, "four_services_award": True}]
    assert [r["candidate_id"] for r in domain.rank(rows, p)] == ["y", "x"]
    p["prefer_four_services_holders"] = False
    assert [r["candidate_id"] for r in domain.rank(rows, p)] == ["x", "y"]


def test_missing_scores_lists_each_unscored_pair():
    have = [{"evaluator_id": "j1", "candidate_id": "a"}]
    assert domain.missing_scores(["j1", "j2"], ["a", "b"], have) == [
        ("j1", "b"), ("j2", "a"), ("j2", "b")]


# -- objections and the final list ----------------------------------------------

def ranking_rows():
    return [{"candidate_id": c, "award": FOUR_SERVICES_BRANCH, "rank": i,
             "proposed": i <= 2}
            for i, c in enumerate(["a", "b", "c"], start=1)]


def test_substantiated_objection_promotes_the_next_in_rank():
    final = domain.final_list(ranking_rows(), {"a"}, plan())
    assert [(r["candidate_id"], r["final_rank"]) for r in final] == [
        ("b", 1), ("c", 2)]


def test_without_promotion_the_place_stays_empty():
    final = domain.final_list(ranking_rows(), {"a"}, plan(promote_next=False))
    assert [r["candidate_id"] for r in final] == ["b"]


def test_finalising_needs_every_objection_answered_and_publicity_over():
    with pytest.raises(Conflict) as err:
        domain.check_objections_answered([{"objection_id": "o1",
                                           "status": "open"}])
    assert err.value.code == "objections_open"
    domain.check_objections_answered([{"objection_id": "o1",
                                       "status": "answered"}])
    campaign = {"publicity": {"ends_on": "2026-10-13"}}
    with pytest.raises(Conflict):
        domain.check_publicity_over(campaign, dt.date(2026, 10, 13))
    domain.check_publicity_over(campaign, dt.date(2026, 10, 14))


def test_status_transitions_are_guarded():
    campaign = {"status": domain.PUBLISHED}
    with pytest.raises(Conflict) as err:
        domain.require_status(campaign, domain.DRAWN, action="评分")
    assert err.value.code == "wrong_status"
    with pytest.raises(Conflict):
        domain.transition(campaign, domain.FINALISED)
    assert domain.transition(campaign, domain.COMMITTED) == domain.COMMITTED
