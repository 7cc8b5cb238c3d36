"""Scoring rules of the combined assessment as plain functions."""

import copy
import math
import random
from zoneinfo import ZoneInfo

import pytest

from services.assessment import domain as common
from services.assessment.ladder import domain as ladder
from services.assessment.ranking import domain as ranking
from services.assessment.scoring import schemes as rules
from services.assessment.scoring import domain as scoring

BEIJING = ZoneInfo("Asia/Shanghai")


def scheme():
    s = rules.default_scheme()
    s["version"] = 1
    return s


# -- periods -----------------------------------------------------------------

def test_month_is_local_time():
    assert common.month_of("2026-10-31T17:00:00+00:00", BEIJING) == "2026-11"
    assert common.month_of("2026-10-31T15:59:00+00:00", BEIJING) == "2026-10"


def test_periods():
    assert common.months_of("2026-Q4") == ["2026-10", "2026-11", "2026-12"]
    assert len(common.months_of("2026")) == 12
    assert common.months_of("2026-02") == ["2026-02"]
    assert common.periods_containing("2026-05") == ["2026-05", "2026-Q2",
                                                    "2026"]
    for bad in ("2026-13", "2026-Q5", "26", "2026-1"):
        assert common.period_kind(bad) is None


# -- validation --------------------------------------------------------------

def test_default_scheme_is_valid():
    assert rules.validate_scheme(rules.default_scheme()) == []


def test_group_weights_must_add_up():
    s = rules.default_scheme()
    s["groups"]["business"]["weight"] = 30
    problems = rules.validate_scheme(s)
    assert problems == ["指标组权重之和为 105，应为 100"]


def test_indicator_weights_must_add_up_within_a_group():
    s = rules.default_scheme()
    s["groups"]["satisfaction"]["indicators"][0]["weight"] = 60
    assert "服务对象满意度内指标权重之和为 110，应为 100" in \
        rules.validate_scheme(s)


def test_indicator_must_belong_to_its_group_and_cap_is_bounded():
    s = rules.default_scheme()
    s["groups"]["business"]["indicators"] = [
        {"metric": "good_share", "weight": 100, "points_per_unit": 1,
         "cap": 100}]
    s["groups"]["party_building"]["indicators"][0]["cap"] = 150
    problems = rules.validate_scheme(s)
    assert any("good_share" in p and "不属于该组" in p for p in problems)
    assert any("封顶分" in p for p in problems)


def test_overlapping_bands_are_refused_with_the_reason():
    s = rules.default_scheme()
    s["bands"][1]["max"] = 92  # 良好 [75, 92) overlaps 优秀 [90, 100]
    assert rules.validate_scheme(s) == [
        "分数段 良好[75,92) 与 优秀[90,100) 重叠"]


def test_gaps_in_bands_are_refused():
    s = rules.default_scheme()
    s["bands"][2]["min"] = 65  # 一般 [65, 75): gap 60..65
    assert rules.validate_scheme(s) == ["分数段在 60 到 65 分之间有空档"]
    s = rules.default_scheme()
    s["bands"][3]["min"] = 10
    assert rules.validate_scheme(s) == ["分数段未覆盖 0 到 10 分"]


def test_three_rate_weights_and_quotas_and_ladder_are_checked():
    s = rules.default_scheme()
    s["three_rates"] = {"response": 30, "resolution": 30, "satisfaction": 30}
    s["quotas"] = {"卓越": 0.1}
    s["ladder"] = list(reversed(s["ladder"]))
    problems = rules.validate_scheme(s)
    assert "三率权重之和为 90，应为 100" in problems
    assert any("卓越" in p for p in problems)
    assert any(p.startswith("支部阶梯须依次为") for p in problems)


# -- contributions and metrics -----------------------------------------------

def party(kind, attendees, expected, cid="p1"):
    return {"_id": cid, "kind": "party_activity", "activity_kind": kind,
            "attendees": attendees, "expected": expected}


def test_party_activity_counts_per_member_and_per_branch():
    meeting = party("three_meetings_one_lesson", ["a", "b"], ["a", "b", "c"])
    assert scoring.contribution_figures(meeting, "member", "a") == {
        "meeting_attended": 1, "meeting_expected": 1}
    assert scoring.contribution_figures(meeting, "member", "c") == {
        "meeting_attended": 0, "meeting_expected": 1}
    assert scoring.contribution_figures(meeting, "branch", "b1") == {
        "meeting_attended": 2, "meeting_expected": 3}
    day = party("theme_day", ["a"], ["a", "b"])
    assert scoring.contribution_figures(day, "member", "b") == {
        "theme_days": 0}
    assert scoring.contribution_figures(day, "unit", "u1") == {
        "theme_days": 1}


def test_excluded_rating_adds_nothing():
    rating = {"_id": "r", "kind": "rating", "excluded": True,
              "figures": scoring.rating_figures(1)}
    assert scoring.contribution_figures(rating, "member", "m") == {}


def test_rating_figures():
    assert scoring.rating_figures(5) == {
        "rating_count": 1, "rating_sum": 5, "good_count": 1, "bad_count": 0,
        "rectified_count": 0}
    assert scoring.rating_figures(2, rectified=True)["rectified_count"] == 1
    assert scoring.rating_figures(3)["good_count"] == 0


def test_demand_figures():
    assert scoring.demand_figures({"status": "resolved",
                                  "on_time_response": True,
                                  "on_time_resolution": False}) == {
        "demand_count": 1, "demand_responded_on_time": 1,
        "demand_resolved": 1, "demand_resolved_on_time": 0}
    assert scoring.demand_figures({"status": "received"})[
        "demand_resolved"] == 0
    assert scoring.demand_figures({"status": "confirmed"})[
        "demand_resolved"] == 1
    assert scoring.demand_figures({"status": "reopened"})[
        "demand_resolved"] == 0


def test_metrics_average_counts_per_month():
    sums = {k: 0 for k in scoring.SUMS}
    sums.update(activity_count=12, rating_count=4, rating_sum=18,
                good_count=3, bad_count=1, meeting_attended=9,
                meeting_expected=12)
    metrics = scoring.metrics_of(sums, months=3)
    assert metrics["activities"] == 4
    assert metrics["average_rating"] == 4.5
    assert metrics["good_share"] == 0.75
    assert metrics["attendance_rate"] == 0.75
    assert metrics["unrectified_bad_reviews"] == pytest.approx(1 / 3,
                                                                abs=1e-6)
    assert metrics["kpi_average"] is None and metrics["on_time_rate"] is None


# -- scoring -----------------------------------------------------------------

def full_sums():
    sums = {k: 0 for k in scoring.SUMS}
    sums.update(meeting_attended=10, meeting_expected=10, theme_days=1,
                study_sessions=2, kpi_sum=95.0, kpi_count=1,
                activity_count=4, campaign_activity_count=2,
                demand_count=2, demand_responded_on_time=2,
                demand_resolved=2, demand_resolved_on_time=2,
                rating_count=4, rating_sum=20, good_count=4)
    return sums


def test_indicator_cap():
    assert scoring.indicator_score(8, 25, 100) == 100
    assert scoring.indicator_score(2, 25, 100) == 50
    assert scoring.indicator_score(None, 25, 100) == 0


def test_score_combines_the_four_groups_with_items_and_band():
    card = scoring.scorecard(full_sums(), scheme())
    groups = card["groups"]
    assert groups["party_building"]["score"] == 100
    assert groups["business"]["score"] == 95
    assert groups["four_services"]["score"] == 100
    assert groups["satisfaction"]["score"] == 100
    assert card["base"] == 98.75
    # campaign bonus +2 (capped total 100), no deduction
    assert [i["points"] for i in card["items"]] == [2, 0]
    assert card["total"] == 100 and card["grade"] == "优秀"
    assert card["scheme_version"] == 1


def test_missing_data_scores_zero_and_deductions_apply():
    sums = {k: 0 for k in scoring.SUMS}
    sums.update(rating_count=2, rating_sum=2, bad_count=2)
    card = scoring.scorecard(sums, scheme())
    sat = card["groups"]["satisfaction"]
    assert sat["score"] == 10  # average 1 × 20 × 50%
    assert card["groups"]["business"]["indicators"][0]["no_data"] is True
    assert card["items"][1]["points"] == -10  # 2 unrectified × 5, cap 10
    assert card["total"] == 0 and card["grade"] == "较差"


def test_weights_change_the_total():
    s = scheme()
    s["groups"]["business"]["weight"] = 40
    s["groups"]["satisfaction"]["weight"] = 10
    sums = full_sums()
    sums.update(kpi_sum=50.0)
    s["bonuses"] = []
    a = scoring.scorecard(sums, scheme())["total"]
    b = scoring.scorecard(sums, s)["total"]
    assert a == 87.5 + 2  # (100+50+100+100)/4 + campaign bonus 2
    assert b == pytest.approx(25 + 20 + 25 + 10)  # no bonus in s


def test_band_edges():
    bands = rules.DEFAULT_SCHEME["bands"]
    assert scoring.band_of(90, bands) == "优秀"
    assert scoring.band_of(89.99, bands) == "良好"
    assert scoring.band_of(100, bands) == "优秀"
    assert scoring.band_of(0, bands) == "较差"


def test_sums_do_not_depend_on_arrival_order():
    contributions = [
        {"_id": f"kpi:{i}", "kind": "kpi",
         "figures": scoring.kpi_figures(v)}
        for i, v in enumerate([0.1, 0.2, 0.3, 1e16, -1e16])]
    forward = scoring.sums_of(contributions, "unit", "u")
    backward = scoring.sums_of(list(reversed(contributions)), "unit", "u")
    assert forward == backward


def test_sources_trace_each_metric_to_event_ids():
    contributions = [
        {"_id": "activity:e1", "kind": "activity", "event_ids": ["e1"],
         "figures": {"activity_count": 1}},
        {"_id": "rating:r1", "kind": "rating", "event_ids": ["e2"],
         "figures": scoring.rating_figures(5)}]
    traced = scoring.sources_by_metric(contributions, "member", "m")
    assert [s["event_ids"] for s in traced["activities"]] == [["e1"]]
    assert [s["event_ids"] for s in traced["good_share"]] == [["e2"]]
    assert "kpi_average" not in traced


# -- rankings and quotas -----------------------------------------------------

def card(subject_id, total, satisfaction=50, four=50):
    return {"subject_id": subject_id, "total": total, "groups": {
        "satisfaction": {"score": satisfaction},
        "four_services": {"score": four}}}


def test_ties_share_a_rank_after_the_tie_breakers():
    ranked = ranking.rank([card("b", 90, 80), card("a", 90, 80),
                          card("c", 90, 70), card("d", 95)])
    assert [(c["subject_id"], c["rank"]) for c in ranked] == [
        ("d", 1), ("a", 2), ("b", 2), ("c", 4)]


def test_quota_caps_excellent_at_15_percent():
    cards = [card(f"s{i:02d}", 99 - i * 0.5) for i in range(20)]
    graded = ranking.apply_quotas(ranking.rank(cards),
                                 rules.DEFAULT_SCHEME["bands"],
                                 {"优秀": 0.15})
    excellent = [c for c in graded if c["grade"] == "优秀"]
    assert len(excellent) == 3  # floor(0.15 × 20)
    demoted = [c for c in graded if c["demoted"]]
    assert {c["band_grade"] for c in demoted} == {"优秀"}
    assert all(c["grade"] == "良好" for c in demoted)
    assert "名额" in demoted[0]["demotion_reason"]


def test_a_tie_across_the_quota_line_is_demoted_whole():
    cards = [card("a", 98), card("b", 95), card("c", 95)] + [
        card(f"x{i}", 50) for i in range(10)]
    graded = ranking.apply_quotas(ranking.rank(cards),
                                 rules.DEFAULT_SCHEME["bands"],
                                 {"优秀": 0.15})  # floor(1.95) = 1
    grades = {c["subject_id"]: c["grade"] for c in graded}
    assert grades["a"] == "优秀"
    assert grades["b"] == grades["c"] == "良好"


# -- three rates -------------------------------------------------------------

def test_three_rates_default_weights():
    sums = {"demand_count": 10, "demand_responded_on_time": 9,
            "demand_resolved": 8, "rating_count": 4, "good_count": 3}
    rates = ranking.three_rates(sums, rules.DEFAULT_SCHEME["three_rates"])
    assert rates["response_rate"] == 90.0
    assert rates["resolution_rate"] == 80.0
    assert rates["satisfaction_rate"] == 75.0
    assert rates["composite"] == round(0.3 * 90 + 0.35 * 80 + 0.35 * 75, 2)


def test_three_rates_without_ratings_reweights():
    sums = {"demand_count": 4, "demand_responded_on_time": 4,
            "demand_resolved": 2, "rating_count": 0}
    rates = ranking.three_rates(sums, {"response": 30, "resolution": 35,
                                      "satisfaction": 35})
    assert rates["satisfaction_rate"] is None
    assert rates["composite"] == round((30 * 100 + 35 * 50) / 65, 2)


# -- the ladder --------------------------------------------------------------

def test_each_rung_needs_the_one_below():
    s = scheme()
    good = scoring.scorecard(full_sums(), s)
    rung, reason = ladder.ladder_rung(dict(good, grade="优秀"), s["ladder"])
    assert rung == "model" and "已达最高等级" in reason
    rung, reason = ladder.ladder_rung(dict(good, grade="良好"), s["ladder"])
    assert rung == "demonstration"
    assert "未达到模范党支部" in reason and "等次为优秀" in reason
    # poor attendance: not even standardised, whatever else it scores
    sums = full_sums()
    sums.update(meeting_attended=5)
    weak = scoring.scorecard(sums, s)
    rung, reason = ladder.ladder_rung(dict(weak, grade="优秀"), s["ladder"])
    assert rung is None
    assert reason.startswith("未达到标准化党支部")
    assert "三会一课出勤率≥0.8（实际 0.5）" in reason


def test_scheme_in_force_by_effective_month():
    schemes = [{"version": 1, "effective_from": "0000-01"},
               {"version": 2, "effective_from": "2026-07"},
               {"version": 3, "effective_from": "2027-01"}]
    assert rules.scheme_in_force(schemes, "2026-06")["version"] == 1
    assert rules.scheme_in_force(schemes, "2026-12")["version"] == 2
    assert rules.scheme_in_force(schemes, "2027-03")["version"] == 3


def test_default_scheme_is_a_copy():
    a = rules.default_scheme()
    a["groups"]["business"]["weight"] = 0
    assert rules.DEFAULT_SCHEME["groups"]["business"]["weight"] == 25
    assert copy.deepcopy(rules.DEFAULT_SCHEME) == rules.default_scheme()


# -- running sums ------------------------------------------------------------

def test_running_sums_equal_a_replay_whatever_the_order():
    """KPI values are floats: kept to SUM_DECIMALS decimals, a sum kept by
    adding and taking away figures in any order equals the sum of the final
    figures from scratch, exactly."""
    rng = random.Random(11)
    values = [0.1, 0.2, 0.7, 1 / 3, 2 / 3, 123456.789012, 1e6 + 0.123456,
              99.99, 0.000001, 3.14159265358979, -2.5, 1e8 / 7]
    for _ in range(200):
        final = {}
        running = scoring.zero_sums()
        for step in range(rng.randrange(1, 30)):
            key = f"kpi:{rng.randrange(8)}"
            before = final.get(key)
            after = None if rng.random() < 0.2 else {
                "_id": key, "kind": "kpi",
                "figures": scoring.kpi_figures(rng.choice(values))}
            scoring.add_sums(running, scoring.figures_change(
                scoring.contribution_figures(before, "unit", "u")
                if before else {},
                scoring.contribution_figures(after, "unit", "u")
                if after else {}))
            if after is None:
                final.pop(key, None)
            else:
                final[key] = after
        replayed = scoring.sums_of(list(final.values()), "unit", "u")
        assert running == replayed
        assert scoring.metrics_of(running) == scoring.metrics_of(replayed)


def test_figures_change_is_after_minus_before():
    assert scoring.figures_change(scoring.rating_figures(2),
                                 scoring.rating_figures(2, True)) == {
        "rating_count": 0, "rating_sum": 0, "good_count": 0, "bad_count": 0,
        "rectified_count": 1}
    assert scoring.figures_change({"kpi_sum": 0.3, "kpi_count": 1}, {}) == {
        "kpi_sum": -0.3, "kpi_count": -1}


# -- ranking speed without changing its results ------------------------------

def reference_rank(cards):
    """The rule as first written: sort by (tie key, id), copy each card."""
    ordered = sorted(cards, key=lambda c: (scoring.tie_key(c),
                                           str(c["subject_id"])))
    ranked, previous = [], None
    for position, c in enumerate(ordered, start=1):
        k = scoring.tie_key(c)
        ranked.append(dict(c, rank=ranked[-1]["rank"] if ranked
                           and k == previous else position))
        previous = k
    return ranked


def reference_quotas(ranked, bands, quotas):
    order = [b["grade"] for b in sorted(bands, key=lambda b: -b["min"])]
    graded = [dict(c, grade=scoring.band_of(c["total"], bands),
                   band_grade=scoring.band_of(c["total"], bands),
                   demoted=False) for c in ranked]
    for position, grade in enumerate(order):
        if grade not in quotas:
            continue
        allowed = math.floor(quotas[grade] * len(graded) + 1e-9)
        by_rank = {}
        for c in graded:
            if c["grade"] == grade:
                by_rank.setdefault(c["rank"], []).append(c)
        kept, full = 0, False
        for value in sorted(by_rank):
            tie = by_rank[value]
            if not full and kept + len(tie) <= allowed:
                kept += len(tie)
                continue
            full = True
            for c in tie:
                if position + 1 < len(order):
                    c["grade"] = order[position + 1]
                c["demoted"] = True
                c["demotion_reason"] = (
                    f"{grade}名额为 {quotas[grade]:.0%}（{allowed} 名），"
                    f"按排名顺延为{c['grade']}")
    return graded


BANDS = [rules.DEFAULT_SCHEME["bands"],
         [{"grade": "A", "min": 85, "max": 100},
          {"grade": "B", "min": 70, "max": 85},
          {"grade": "C", "min": 60, "max": 70},
          {"grade": "D", "min": 0, "max": 60}],
         # out of order, with a gap (60..70 has no band)
         [{"grade": "B", "min": 70, "max": 85},
          {"grade": "A", "min": 85, "max": 100},
          {"grade": "D", "min": 0, "max": 60}]]


def random_cards(rng, n):
    def score():
        return rng.choice([0, 50, 80, 90, 100, 75, 60, 89.99,
                           rng.randrange(0, 10001) / 100])
    return [{"subject_id": rng.choice([f"m{i}", f"x{rng.randrange(99)}-{i}"]),
             "total": score(), "groups": {
                 "satisfaction": {"score": rng.choice([None, score()])},
                 "four_services": {"score": score()}}}
            for i in range(n)]


@pytest.mark.parametrize("packed", [False, True])
def test_rank_and_quotas_give_what_the_rule_gives(packed):
    rng = random.Random(5 if packed else 6)
    for _ in range(300):
        cards = random_cards(rng, rng.choice([1, 2, 3, 7, 40, 300]))
        if rng.random() < 0.3:
            cards.sort(key=lambda c: c["subject_id"])
        bands = rng.choice(BANDS)
        quotas = {b["grade"]: rng.choice([0, 0.1, 0.15, 0.5, 1])
                  for b in rng.sample(bands, rng.randrange(len(bands) + 1))}
        expected = reference_quotas(reference_rank(copy.deepcopy(cards)),
                                    bands, quotas)
        mine = copy.deepcopy(cards)
        if packed:
            for c in mine:
                c["rank_key"] = scoring.rank_key(c)
        ranked = ranking.rank(mine)
        graded = ranking.apply_quotas(ranked, bands, quotas)
        for c in graded:
            c.pop("rank_key", None)
        assert graded == expected
        # a plain list (no columns remembered) grades alike
        again = ranking.apply_quotas(list(ranking.rank(copy.deepcopy(cards))),
                                    bands, quotas)
        assert again == expected


@pytest.mark.parametrize("packed", [False, True])
def test_the_ranking_rows_give_what_the_rule_gives(packed):
    """The ranking API's rows, ranked and graded as columns without
    touching the cards, equal the rule's (and leave the cards as they
    were)."""
    rng = random.Random(7 if packed else 8)
    for _ in range(200):
        cards = random_cards(rng, rng.choice([1, 2, 3, 7, 40, 300]))
        bands = rng.choice(BANDS)
        quotas = {b["grade"]: rng.choice([0, 0.1, 0.15, 0.5, 1])
                  for b in rng.sample(bands, rng.randrange(len(bands) + 1))}
        if packed:
            for c in cards:
                c["rank_key"] = scoring.rank_key(c)
        before = copy.deepcopy(cards)
        expected = reference_quotas(reference_rank(copy.deepcopy(cards)),
                                    bands, quotas)
        rows = ranking.ranking_entries(
            cards, {"bands": bands, "quotas": quotas}, {})
        assert cards == before
        assert [(r["subject_id"], r["rank"], r["grade"], r["band_grade"],
                 r["demoted"], r["demotion_reason"]) for r in rows] == [
            (c["subject_id"], c["rank"], c["grade"], c["band_grade"],
             c["demoted"], c.get("demotion_reason")) for c in expected]


def test_rank_keeps_its_rule_for_other_keys():
    rows = [{"subject_id": s, "composite": c, "resolution_rate": r,
             "response_rate": 1} for s, c, r in
            (("b", 80, 50), ("a", 80, 50), ("c", 90, 10), ("d", 80, 60))]
    ranked = ranking.rank(rows, key=ranking.rates_key)
    assert [(r["subject_id"], r["rank"]) for r in ranked] == [
        ("c", 1), ("d", 2), ("a", 3), ("b", 3)]


def test_rank_grades_the_cards_in_place():
    cards = [card("a", 95), card("b", 91), card("c", 50)]
    ranked = ranking.rank(cards)
    graded = ranking.apply_quotas(ranked, rules.DEFAULT_SCHEME["bands"], {})
    assert [c["subject_id"] for c in graded] == ["a", "b", "c"]
    assert graded[0] is cards[0] and cards[2]["rank"] == 3
    assert cards[1]["grade"] == "优秀" and cards[2]["grade"] == "较差"


def test_rank_key_packs_the_tie_key():
    s = scheme()
    cards = []
    for sums in (full_sums(), {k: 0 for k in scoring.SUMS}):
        cards.append(scoring.scorecard(sums, s))
    assert all(isinstance(c["rank_key"], int) for c in cards)
    assert (cards[0]["rank_key"] > cards[1]["rank_key"]) == (
        scoring.tie_key(cards[0]) < scoring.tie_key(cards[1]))
    assert scoring.rank_key(card("a", 90.5, 80.25, 70)) == (
        (9050 * 10001 + 8025) * 10001 + 7000)
    # not two decimals, or out of 0..100: no key (ranked from the scores)
    assert scoring.rank_key(card("a", 0.1 + 0.2)) is None
    assert scoring.rank_key(card("a", 100.5)) is None
