"""Scoring rules of the combined assessment (综合考评), as plain functions.

Vocabulary:

* a *contribution* (计分来源) is what one event (or one demand's latest
  state) adds to the assessment: its ``figures`` are additive sums such as
  ``activity_count`` or ``rating_sum``;
* a subject's *sums* for a period are the figures of its contributions added
  up; *metrics* (三会一课出勤率, 好评率, ...) are derived from the sums;
* a *scheme* (考评方案) turns metrics into indicator scores, group scores,
  bonus/deduction items, a total and a grade band; schemes are versioned.

Count metrics are averaged per month of the period, so the same scheme
scores a month, a quarter and a year alike.
"""

import copy
import datetime as dt
import math
import operator
from zoneinfo import ZoneInfo

import numpy as np

SUBJECT_TYPES = ("member", "branch", "unit")
SUBJECT_LABELS = {"member": "党员", "branch": "党支部", "unit": "机关单位"}

GROUPS = ("party_building", "business", "four_services", "satisfaction")
GROUP_LABELS = {"party_building": "党建工作", "business": "业务工作",
                "four_services": "四服务工作", "satisfaction": "服务对象满意度"}

# A rating at or above this level is 满意 (good / satisfied).
GOOD_RATING = 4

# metric: (group, label, how it is derived, the sums it reads)
#   rate: a/b (0..1); average: a/b; count: a per month of the period;
#   net: (a - b) per month, never below zero.
METRICS = {
    "attendance_rate": ("party_building", "三会一课出勤率", "rate",
                        ("meeting_attended", "meeting_expected")),
    "theme_days": ("party_building", "主题党日（月均）", "count",
                   ("theme_days",)),
    "study_sessions": ("party_building", "学习（月均）", "count",
                       ("study_sessions",)),
    "kpi_average": ("business", "业务指标平均值", "average",
                    ("kpi_sum", "kpi_count")),
    "activities": ("four_services", "服务活动（月均）", "count",
                   ("activity_count",)),
    "demands_resolved": ("four_services", "诉求办结（月均）", "count",
                         ("demand_resolved",)),
    "on_time_rate": ("four_services", "诉求按时办结率", "rate",
                     ("demand_resolved_on_time", "demand_resolved")),
    "campaign_activities": ("four_services", "主题活动服务（月均）", "count",
                            ("campaign_activity_count",)),
    "average_rating": ("satisfaction", "平均评价", "average",
                       ("rating_sum", "rating_count")),
    "good_share": ("satisfaction", "好评率", "rate",
                   ("good_count", "rating_count")),
    "bad_reviews": ("satisfaction", "差评（月均）", "count", ("bad_count",)),
    "unrectified_bad_reviews": ("satisfaction", "未整改差评（月均）", "net",
                                ("bad_count", "rectified_count")),
    "rectification_rate": ("satisfaction", "差评整改率", "rate",
                           ("rectified_count", "bad_count")),
}

SUMS = ("activity_count", "campaign_activity_count", "meeting_attended",
        "meeting_expected", "theme_days", "study_sessions", "kpi_sum",
        "kpi_count", "demand_count", "demand_responded_on_time",
        "demand_resolved", "demand_resolved_on_time", "rating_count",
        "rating_sum", "good_count", "bad_count", "rectified_count")

RUNGS = ("standardised", "four_services_advanced", "demonstration", "model")
RUNG_LABELS = {"standardised": "标准化党支部",
               "four_services_advanced": "“四服务”先进党支部",
               "demonstration": "示范党支部", "model": "模范党支部"}
NO_RUNG_LABEL = "未定级"

# 已办结, 已确认解决 (a reopened demand is open again)
RESOLVED_STATUSES = ("resolved", "confirmed", "closed")

DEFAULT_SCHEME = {
    "name": "机关党建+四服务综合考评（默认方案）",
    "groups": {
        "party_building": {"weight": 25, "indicators": [
            {"metric": "attendance_rate", "weight": 50,
             "points_per_unit": 100, "cap": 100},
            {"metric": "theme_days", "weight": 25, "points_per_unit": 100,
             "cap": 100},
            {"metric": "study_sessions", "weight": 25, "points_per_unit": 50,
             "cap": 100}]},
        "business": {"weight": 25, "indicators": [
            {"metric": "kpi_average", "weight": 100, "points_per_unit": 1,
             "cap": 100}]},
        "four_services": {"weight": 25, "indicators": [
            {"metric": "activities", "weight": 40, "points_per_unit": 25,
             "cap": 100},
            {"metric": "demands_resolved", "weight": 20,
             "points_per_unit": 50, "cap": 100},
            {"metric": "on_time_rate", "weight": 30, "points_per_unit": 100,
             "cap": 100},
            {"metric": "campaign_activities", "weight": 10,
             "points_per_unit": 50, "cap": 100}]},
        "satisfaction": {"weight": 25, "indicators": [
            {"metric": "average_rating", "weight": 50, "points_per_unit": 20,
             "cap": 100},
            {"metric": "good_share", "weight": 50, "points_per_unit": 100,
             "cap": 100}]},
    },
    "bonuses": [
        {"code": "campaign", "label": "主题活动加分",
         "metric": "campaign_activities", "points_per_unit": 1, "cap": 3}],
    "deductions": [
        {"code": "unrectified", "label": "差评未整改扣分",
         "metric": "unrectified_bad_reviews", "points_per_unit": 5,
         "cap": 10}],
    "bands": [
        {"grade": "优秀", "min": 90, "max": 100},
        {"grade": "良好", "min": 75, "max": 90},
        {"grade": "一般", "min": 60, "max": 75},
        {"grade": "较差", "min": 0, "max": 60}],
    "quotas": {"优秀": 0.15},
    "three_rates": {"response": 30, "resolution": 35, "satisfaction": 35},
    "ladder": [
        {"rung": "standardised", "criteria": [
            {"measure": "group:party_building", "min": 60},
            {"measure": "metric:attendance_rate", "min": 0.8}]},
        {"rung": "four_services_advanced", "criteria": [
            {"measure": "group:four_services", "min": 60},
            {"measure": "group:satisfaction", "min": 80}]},
        {"rung": "demonstration", "criteria": [
            {"measure": "total", "min": 80}]},
        {"rung": "model", "criteria": [
            {"measure": "total", "min": 90},
            {"measure": "grade", "in": ["优秀"]}]},
    ],
}


# -- periods -----------------------------------------------------------------

def month_of(moment, timezone="Asia/Shanghai"):
    """The assessment month (考核月份) an instant falls in, local time."""
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment)
    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m")


def period_kind(period):
    """'month' (2026-11), 'quarter' (2026-Q4) or 'year' (2026); else None."""
    if not isinstance(period, str):
        return None
    if len(period) == 4 and period.isdigit():
        return "year"
    if (len(period) == 7 and period[4] == "-" and period[:4].isdigit()
            and period[5:].isdigit() and 1 <= int(period[5:]) <= 12):
        return "month"
    if (len(period) == 7 and period[4:6] == "-Q" and period[:4].isdigit()
            and period[6] in "1234"):
        return "quarter"
    return None


def months_of(period):
    """The months (YYYY-MM) a month, quarter or year covers."""
    kind = period_kind(period)
    if kind == "month":
        return [period]
    if kind == "quarter":
        first = (int(period[6]) - 1) * 3 + 1
        return [f"{period[:4]}-{m:02d}" for m in range(first, first + 3)]
    if kind == "year":
        return [f"{period}-{m:02d}" for m in range(1, 13)]
    raise ValueError(f"not a period: {period!r}")


def periods_containing(month):
    """The month, its quarter and its year."""
    quarter = (int(month[5:]) - 1) // 3 + 1
    return [month, f"{month[:4]}-Q{quarter}", month[:4]]


# Sums of floats (KPI values) are kept to SUM_DECIMALS decimals: figures
# are rounded so, and so is every sum after each addition. Each partial sum
# is then the float nearest to the exact decimal sum, so a sum is the same
# whatever order its figures were added and taken away in (running sums
# equal a from-scratch replay) while it stays below ~10⁹ (float64 carries
# 15-16 significant digits). Counts are integers and exact anyway.
SUM_DECIMALS = 6


def exact(value):
    """A figure or sum as kept: floats to SUM_DECIMALS decimals."""
    return round(value, SUM_DECIMALS) if isinstance(value, float) else value


def average(total, count):
    return round(total / count, 2) if count else None


# -- contributions -----------------------------------------------------------

def contribution_figures(contribution, subject_type, subject_id):
    """What one contribution adds to one subject's sums.

    A Party activity counts per member only for the members expected or
    attending; for a branch or unit it counts every attendee. A rating
    excluded by an upheld appeal adds nothing (it stays listed)."""
    kind = contribution["kind"]
    if kind == "party_activity":
        attendees = set(contribution.get("attendees") or [])
        expected = set(contribution.get("expected") or [])
        activity_kind = contribution.get("activity_kind")
        if subject_type == "member":
            present = 1 if subject_id in attendees else 0
            figures = {}
            if activity_kind == "three_meetings_one_lesson":
                figures = {"meeting_attended": present,
                           "meeting_expected": 1 if subject_id in expected
                           else 0}
            elif activity_kind == "theme_day":
                figures = {"theme_days": present}
            elif activity_kind == "study":
                figures = {"study_sessions": present}
            return figures
        if activity_kind == "three_meetings_one_lesson":
            return {"meeting_attended": len(attendees & expected)
                    if expected else len(attendees),
                    "meeting_expected": len(expected)}
        if activity_kind == "theme_day":
            return {"theme_days": 1}
        if activity_kind == "study":
            return {"study_sessions": 1}
        return {}
    if kind == "rating" and contribution.get("excluded"):
        return {}
    return {key: exact(value)
            for key, value in (contribution.get("figures") or {}).items()}


def activity_figures(data):
    figures = {"activity_count": 1}
    if data.get("campaign_id"):
        figures["campaign_activity_count"] = 1
    return figures


def rating_figures(rating, rectified=False):
    bad = rating <= 2
    return {"rating_count": 1, "rating_sum": rating,
            "good_count": 1 if rating >= GOOD_RATING else 0,
            "bad_count": 1 if bad else 0,
            "rectified_count": 1 if bad and rectified else 0}


def demand_figures(demand):
    resolved = demand.get("status") in RESOLVED_STATUSES
    return {"demand_count": 1,
            "demand_responded_on_time":
                1 if demand.get("on_time_response") is True else 0,
            "demand_resolved": 1 if resolved else 0,
            "demand_resolved_on_time":
                1 if resolved and demand.get("on_time_resolution") is True
                else 0}


def kpi_figures(value):
    return {"kpi_sum": exact(float(value)), "kpi_count": 1}


def zero_sums():
    return dict.fromkeys(SUMS, 0)


def add_sums(sums, figures):
    """Add figures (or a change of figures) to sums, in place."""
    for key, value in figures.items():
        sums[key] = exact(sums.get(key, 0) + value)
    return sums


def figures_change(before, after):
    """What replacing figures ``before`` by ``after`` adds to sums."""
    return {key: exact(after.get(key, 0) - before.get(key, 0))
            for key in before.keys() | after.keys()}


def sums_of(contributions, subject_type, subject_id):
    """Sums of a subject over contributions, from scratch (re-scoring);
    equal to the running sums kept live (see SUM_DECIMALS)."""
    sums = zero_sums()
    for contribution in sorted(contributions, key=lambda c: str(c["_id"])):
        add_sums(sums, contribution_figures(contribution, subject_type,
                                            subject_id))
    return sums


# -- metrics and scoring -----------------------------------------------------

def metrics_of(sums, months=1):
    """Derive every metric from sums over ``months`` months."""
    metrics = {}
    for name, (_, _, how, keys) in METRICS.items():
        a = sums.get(keys[0], 0)
        b = sums.get(keys[1], 0) if len(keys) > 1 else None
        if how in ("rate", "average"):
            metrics[name] = round(a / b, 6) if b else None
        elif how == "count":
            metrics[name] = round(a / months, 6)
        else:  # net
            metrics[name] = round(max(0, a - b) / months, 6)
    return metrics


def indicator_score(value, points_per_unit, cap):
    """Points of one indicator: value × points per unit, capped (封顶)."""
    if value is None:
        return 0.0
    return max(0.0, min(float(cap), value * points_per_unit))


def band_of(total, bands):
    """The grade band (等次) a total falls in: [min, max), the top band
    includes its max."""
    top = max(b["max"] for b in bands)
    for band in bands:
        if band["min"] <= total < band["max"] or (
                total == band["max"] == top):
            return band["grade"]
    return None


def score(metrics, scheme):
    """Score metrics under a scheme: indicators, groups, items, total, grade.

    Group score = Σ indicator weight% × indicator points (0..100);
    total = Σ group weight% × group score + bonuses − deductions, within
    0..100. Missing data (no ratings, no meetings) scores 0 and is marked."""
    groups = {}
    base = 0.0
    for group in GROUPS:
        spec = scheme["groups"][group]
        indicators = []
        group_score = 0.0
        for ind in spec["indicators"]:
            value = metrics.get(ind["metric"])
            points = indicator_score(value, ind["points_per_unit"], ind["cap"])
            group_score += ind["weight"] / 100 * points
            indicators.append({
                "metric": ind["metric"], "label": METRICS[ind["metric"]][1],
                "value": value, "weight": ind["weight"], "cap": ind["cap"],
                "score": round(points, 2), "no_data": value is None})
        groups[group] = {"label": GROUP_LABELS[group],
                         "weight": spec["weight"],
                         "score": round(group_score, 2),
                         "indicators": indicators}
        base += spec["weight"] / 100 * group_score
    items = []
    adjustment = 0.0
    for sign, key in ((1, "bonuses"), (-1, "deductions")):
        for item in scheme.get(key, []):
            points = indicator_score(metrics.get(item["metric"]),
                                     item["points_per_unit"], item["cap"])
            adjustment += sign * points
            items.append({"code": item["code"], "label": item.get("label"),
                          "kind": key[:-2] if key == "bonuses" else "deduction",
                          "metric": item["metric"],
                          "points": round(sign * points, 2)})
    total = round(min(100.0, max(0.0, base + adjustment)), 2)
    result = {"groups": groups, "items": items, "base": round(base, 2),
              "total": total, "grade": band_of(total, scheme["bands"])}
    result["rank_key"] = rank_key(result)
    return result


def scorecard(sums, scheme, months=1):
    """Metrics and score of one subject for one period."""
    metrics = metrics_of(sums, months)
    result = score(metrics, scheme)
    return dict(result, sums=dict(sums), metrics=metrics,
                scheme_version=scheme.get("version"))


def sources_by_metric(contributions, subject_type, subject_id):
    """For each metric, the contributions whose figures feed it, with the
    event ids behind them (溯源)."""
    traced = {}
    for contribution in sorted(contributions, key=lambda c: str(c["_id"])):
        figures = contribution_figures(contribution, subject_type, subject_id)
        touched = {k for k, v in figures.items() if v}
        for metric, (_, _, _, keys) in METRICS.items():
            if touched & set(keys):
                traced.setdefault(metric, []).append(
                    {"contribution_id": contribution["_id"],
                     "kind": contribution["kind"],
                     "event_ids": contribution.get("event_ids", [])})
    return traced


# -- scheme validation -------------------------------------------------------

def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def _sums_to_100(values):
    return abs(sum(values) - 100) < 1e-6


def validate_scheme(scheme):
    """Reasons (zh-CN) why a scheme cannot be used; empty when it is sound."""
    problems = []
    groups = scheme.get("groups") or {}
    if set(groups) != set(GROUPS):
        problems.append("指标组须为且仅为 " + "、".join(
            f"{GROUP_LABELS[g]}({g})" for g in GROUPS))
    else:
        weights = [groups[g].get("weight") for g in GROUPS]
        if not all(_number(w) and w >= 0 for w in weights):
            problems.append("指标组权重须为非负数")
        elif not _sums_to_100(weights):
            problems.append(f"指标组权重之和为 {sum(weights):g}，应为 100")
        for group in GROUPS:
            label = GROUP_LABELS[group]
            indicators = groups[group].get("indicators") or []
            if not indicators:
                problems.append(f"{label}没有指标")
                continue
            seen = set()
            for ind in indicators:
                metric = ind.get("metric")
                if metric not in METRICS or METRICS[metric][0] != group:
                    problems.append(f"{label}中的指标 {metric!r} 不属于该组")
                    continue
                if metric in seen:
                    problems.append(f"{label}中的指标 {metric} 重复")
                seen.add(metric)
                if not (_number(ind.get("weight")) and ind["weight"] >= 0):
                    problems.append(f"指标 {metric} 的权重须为非负数")
                if not (_number(ind.get("cap")) and 0 < ind["cap"] <= 100):
                    problems.append(f"指标 {metric} 的封顶分须在 0 到 100 之间")
                if not (_number(ind.get("points_per_unit"))
                        and ind["points_per_unit"] > 0):
                    problems.append(f"指标 {metric} 的计分系数须为正数")
            weights = [i.get("weight") for i in indicators]
            if all(_number(w) for w in weights) and not _sums_to_100(weights):
                problems.append(
                    f"{label}内指标权重之和为 {sum(weights):g}，应为 100")
    for key, label in (("bonuses", "加分项"), ("deductions", "扣分项")):
        codes = set()
        for item in scheme.get(key) or []:
            if item.get("metric") not in METRICS:
                problems.append(f"{label} {item.get('code')!r} 的指标未知")
            if not (_number(item.get("cap")) and 0 <= item["cap"] <= 100):
                problems.append(f"{label} {item.get('code')!r} 的封顶分须在 0 到 100 之间")
            if not (_number(item.get("points_per_unit"))
                    and item["points_per_unit"] > 0):
                problems.append(f"{label} {item.get('code')!r} 的计分系数须为正数")
            if item.get("code") in codes:
                problems.append(f"{label} {item.get('code')!r} 重复")
            codes.add(item.get("code"))
    problems.extend(_band_problems(scheme.get("bands") or []))
    grades = {b.get("grade") for b in scheme.get("bands") or []}
    for grade, share in (scheme.get("quotas") or {}).items():
        if grade not in grades:
            problems.append(f"名额比例中的等次 {grade!r} 不在分数段中")
        if not (_number(share) and 0 <= share <= 1):
            problems.append(f"等次 {grade} 的名额比例须在 0 到 1 之间")
    rates = scheme.get("three_rates") or {}
    keys = ("response", "resolution", "satisfaction")
    if set(rates) != set(keys) or not all(
            _number(rates[k]) and rates[k] >= 0 for k in keys):
        problems.append("三率权重须包含 response、resolution、satisfaction 且为非负数")
    elif not _sums_to_100([rates[k] for k in keys]):
        problems.append(
            f"三率权重之和为 {sum(rates[k] for k in keys):g}，应为 100")
    problems.extend(_ladder_problems(scheme.get("ladder") or [], grades))
    return problems


def _band_problems(bands):
    problems = []
    if not bands:
        return ["没有等次分数段"]
    for band in bands:
        if not (band.get("grade") and _number(band.get("min"))
                and _number(band.get("max")) and band["min"] < band["max"]):
            problems.append(f"分数段 {band.get('grade')!r} 的上下限无效")
            return problems
    names = [b["grade"] for b in bands]
    if len(set(names)) != len(names):
        problems.append("分数段等次名称重复")
    ordered = sorted(bands, key=lambda b: b["min"])
    if ordered[0]["min"] != 0:
        problems.append(f"分数段未覆盖 0 到 {ordered[0]['min']:g} 分")
    if ordered[-1]["max"] != 100:
        problems.append(f"分数段未覆盖 {ordered[-1]['max']:g} 到 100 分")
    for low, high in zip(ordered, ordered[1:]):
        if high["min"] < low["max"]:
            problems.append(
                f"分数段 {low['grade']}[{low['min']:g},{low['max']:g}) 与 "
                f"{high['grade']}[{high['min']:g},{high['max']:g}) 重叠")
        elif high["min"] > low["max"]:
            problems.append(
                f"分数段在 {low['max']:g} 到 {high['min']:g} 分之间有空档")
    return problems


def _ladder_problems(ladder, grades):
    problems = []
    if [r.get("rung") for r in ladder] != list(RUNGS):
        return ["支部阶梯须依次为 " + " → ".join(RUNG_LABELS[r] for r in RUNGS)]
    for rung in ladder:
        for criterion in rung.get("criteria") or []:
            measure = criterion.get("measure", "")
            kind, _, name = measure.partition(":")
            if measure == "grade":
                if not set(criterion.get("in") or []) <= grades or \
                        not criterion.get("in"):
                    problems.append(
                        f"{RUNG_LABELS[rung['rung']]}的等次条件无效")
                continue
            if not ((measure == "total") or (kind == "group" and name in GROUPS)
                    or (kind == "metric" and name in METRICS)):
                problems.append(
                    f"{RUNG_LABELS[rung['rung']]}的条件 {measure!r} 无效")
            elif not _number(criterion.get("min")):
                problems.append(
                    f"{RUNG_LABELS[rung['rung']]}的条件 {measure} 缺少下限")
    return problems


def default_scheme():
    return copy.deepcopy(DEFAULT_SCHEME)


def scheme_in_force(schemes, month):
    """The highest version whose ``effective_from`` month is not after
    ``month`` (versions list as stored); the oldest one if none is."""
    candidates = [s for s in schemes if s.get("effective_from", "") <= month]
    if not candidates:
        candidates = schemes
    return max(candidates, key=lambda s: s["version"]) if candidates else None


# -- rankings, grades and quotas ---------------------------------------------

def tie_key(card):
    """Rank order: total, then satisfaction group, then four-services group,
    all descending. Subjects equal on all three share a rank (1, 2, 2, 4)."""
    groups = card.get("groups") or {}
    return (-card["total"],
            -(groups.get("satisfaction", {}).get("score") or 0),
            -(groups.get("four_services", {}).get("score") or 0))


# Scores 0..100 with two decimals (as ``score`` makes them) as integers
# 0..10000; three of them packed in one integer below 10001³ (< 2⁵³).
RANK_KEY_BASE = 10001


def _hundredths(value):
    """``value`` × 100 as an integer when that is exact (value == n / 100,
    0 ≤ n ≤ 10000), else None."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) \
            or not 0 <= value <= 100:
        return None
    n = round(value * 100)
    return n if n / 100 == value else None


def rank_key(card):
    """``tie_key`` packed in one integer, larger ranking first, or None
    when a score is not 0..100 with at most two decimals. ``score`` stores
    it on every card, so ranking reads one number per card instead of
    three nested ones (the key is computed once, when the card is scored;
    a card whose total or group scores change must be scored again)."""
    groups = card.get("groups") or {}
    parts = [_hundredths(card.get("total")),
             _hundredths(groups.get("satisfaction", {}).get("score") or 0),
             _hundredths(groups.get("four_services", {}).get("score") or 0)]
    if None in parts:
        return None
    total, satisfaction, four = parts
    return (total * RANK_KEY_BASE + satisfaction) * RANK_KEY_BASE + four


_TOTAL = operator.itemgetter("total")
_GROUPS = operator.itemgetter("groups")
_SCORE = operator.itemgetter("score")
_SUBJECT_ID = operator.itemgetter("subject_id")
_RANK = operator.itemgetter("rank")
_RANK_KEY = operator.itemgetter("rank_key")


class Ranking(list):
    """What ``rank`` returns: the cards in rank order (a list), remembering
    the columns it read (cards in input order, their totals and ranks) so
    ``apply_quotas`` need not read every card again."""

    source = ()
    totals = ranks = None

    def columns(self):
        """(cards, totals, ranks) in input order, or None once the list no
        longer holds what ``rank`` put in it."""
        if self.totals is None or len(self) != len(self.source):
            return None
        return self.source, self.totals, self.ranks


def _scores(cards):
    """Total, satisfaction and four-services scores of every card, read in
    one pass (None scores count as 0), as float arrays; None when a card
    lacks the usual shape (then ``tie_key`` is asked card by card)."""
    totals, satisfaction, four = [], [], []
    add_total, add_sat, add_four = (totals.append, satisfaction.append,
                                    four.append)
    try:
        for card in cards:
            groups = card["groups"]
            add_total(card["total"])
            add_sat(groups["satisfaction"]["score"])
            add_four(groups["four_services"]["score"])
        if None in totals:
            return None
        for scores in (satisfaction, four):
            if None in scores:  # tie_key counts a missing score as 0
                scores[:] = [v or 0 for v in scores]
        return [np.array(values, dtype=float)
                for values in (totals, satisfaction, four)]
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _packed_keys(cards):
    """Every card's ``rank_key`` as an int64 array, or None if one lacks
    it."""
    try:
        keys = list(map(_RANK_KEY, cards))
    except (KeyError, TypeError):
        return None
    if None in keys:
        return None
    return np.array(keys, dtype=np.int64)


def _subject_ids(cards):
    """Every card's subject id as text, in a numpy unicode array (ties are
    ordered as text: numpy compares these by code point, as Python does,
    and sorts them in C, where an object array would call back into
    Python for every comparison)."""
    ids = np.array(list(map(_SUBJECT_ID, cards)))
    if ids.dtype.kind != "U":
        ids = np.array([str(i) for i in ids.tolist()])
    return ids


class RankOrder:
    """The ``tie_key`` ranking of cards as columns, the cards untouched:
    ``order`` (input indexes in rank order), ``ranks`` and ``totals`` (by
    input index)."""

    def __init__(self, cards, order, ranks, totals):
        self.cards, self.order, self.ranks, self.totals = (
            cards, order, ranks, totals)


def rank_order(cards):
    """Competition ranking by ``tie_key`` (ties in subject-id order) as a
    ``RankOrder``, reading two fields per card and writing none; None when
    a card lacks the scored shape (``rank`` then asks ``tie_key`` card by
    card)."""
    cards = list(cards)
    n = len(cards)
    packed = _packed_keys(cards)
    if packed is not None:
        columns = [packed]
        totals = (packed // RANK_KEY_BASE ** 2) / 100
    else:
        columns = _scores(cards)
        if columns is None:
            return None
        totals = columns[0]
    if not n:
        return RankOrder(cards, np.empty(0, dtype=np.int64),
                         np.empty(0, dtype=np.int64), totals)
    ids = _subject_ids(cards)
    # lexsort is stable and sorts by its last key first; cards that come in
    # subject-id order need no id column.
    by_id = () if (ids[1:] >= ids[:-1]).all() else (ids,)
    order = np.lexsort(by_id + tuple(-c for c in reversed(columns)))
    starts = np.zeros(n, dtype=bool)
    starts[0] = True
    for column in columns:
        ordered = column[order]
        starts[1:] |= ordered[1:] != ordered[:-1]
    ranks = np.maximum.accumulate(np.where(starts, np.arange(1, n + 1), 0))
    by_input = np.empty(n, dtype=np.int64)
    by_input[order] = ranks
    return RankOrder(cards, order, by_input, totals)


def rank(cards, key=tie_key):
    """Competition ranking; ties keep subject-id order for display.

    Returns the cards in rank order, each with its ``rank`` set. The cards
    are updated in place, not copied (copying 100,000 members' cards would
    cost more than ranking them): pass cards of your own."""
    cards = list(cards)
    n = len(cards)
    ranked = Ranking()
    if not n:
        return ranked
    columns = rank_order(cards) if key is tie_key else None
    if columns is not None:
        # written in input order: cards lie in memory about that way
        for card, value in zip(cards, columns.ranks.tolist()):
            card["rank"] = value
        ranked.extend(map(cards.__getitem__, columns.order.tolist()))
        ranked.source, ranked.totals, ranked.ranks = (
            cards, columns.totals, columns.ranks)
        return ranked
    keys = [key(card) for card in cards]
    ids = _subject_ids(cards).tolist()
    order = sorted(range(n), key=lambda i: (keys[i], ids[i]))
    previous = None
    for position, i in enumerate(order, start=1):
        card = cards[i]
        card["rank"] = ranked[-1]["rank"] if ranked and keys[i] == previous \
            else position
        previous = keys[i]
        ranked.append(card)
    return ranked


def _band_indexes(totals, bands):
    """``band_of`` for every total at once: the index of its band in
    ``bands`` (len(bands) for none)."""
    top = max(b["max"] for b in bands)
    found = np.full(len(totals), len(bands))
    for index in range(len(bands) - 1, -1, -1):  # the first band wins
        band = bands[index]
        inside = (totals >= band["min"]) & (totals < band["max"])
        if band["max"] == top:
            inside |= totals == top
        found[inside] = index
    return found


class Grades:
    """Grades with quota cut-offs as columns (by input index): ``grade``
    and ``band_grade`` (names), ``demoted`` (indexes) and their
    ``reasons``."""

    def __init__(self, grade, band_grade, demoted, reasons):
        self.grade, self.band_grade = grade, band_grade
        self.demoted, self.reasons = demoted, reasons


def quota_grades(totals, ranks, bands, quotas):
    """``apply_quotas``'s rule over columns: ``totals`` (float array) and
    ``ranks`` (int array, or a callable giving it when a quota needs it),
    by input index. Returns ``Grades``."""
    n = len(totals)
    names = [b["grade"] for b in bands] + [None]
    # grades as small integers: one per distinct name, in ``names`` order
    grade_ids = {}
    for name in names:
        grade_ids.setdefault(name, len(grade_ids))
    to_id = np.array([grade_ids[name] for name in names])
    grades = to_id[_band_indexes(totals, bands)] if n else np.empty(
        0, dtype=np.int64)
    band_grades = grades.copy()
    reasons = {}  # grade id demoted from -> reason
    demoted_from = np.full(n, -1)
    order = [b["grade"] for b in sorted(bands, key=lambda b: -b["min"])]
    for position, grade in enumerate(order):
        if grade not in (quotas or {}):
            continue
        allowed = math.floor(quotas[grade] * n + 1e-9)
        candidates = np.flatnonzero(grades == grade_ids[grade])
        if len(candidates) <= allowed:
            continue
        if callable(ranks):
            ranks = ranks()
        # ties in rank order; a tie is kept while the running count of the
        # ties so far stays within the quota, and every later tie is demoted
        candidate_ranks = ranks[candidates]
        values, counts = np.unique(candidate_ranks, return_counts=True)
        over = np.cumsum(counts) > allowed
        demoted = candidates[over[np.searchsorted(values, candidate_ranks)]]
        lower = order[position + 1] if position + 1 < len(order) else grade
        grades[demoted] = grade_ids[lower]
        demoted_from[demoted] = grade_ids[grade]
        reasons[grade_ids[grade]] = (
            f"{grade}名额为 {quotas[grade]:.0%}（{allowed} 名），"
            f"按排名顺延为{lower}")
    by_id = list(grade_ids)
    demoted = np.flatnonzero(demoted_from >= 0)
    return Grades(list(map(by_id.__getitem__, grades.tolist())),
                  list(map(by_id.__getitem__, band_grades.tolist())),
                  demoted.tolist(),
                  list(map(reasons.__getitem__,
                           demoted_from[demoted].tolist())))


def apply_quotas(ranked, bands, quotas):
    """Grades with quota cut-offs (名额控制).

    Each subject starts with the grade of its band. For a grade with a quota
    share q, at most floor(q × n) subjects keep it, in rank order; a tie that
    would cross the limit is demoted whole (so the quota is never exceeded),
    and demoted subjects take the next grade down (which may have its own
    quota).

    Sets ``grade``, ``band_grade``, ``demoted`` (and ``demotion_reason``) on
    the ranked cards in place (``rank`` gave them) and returns them."""
    graded = list(ranked)
    if not graded:
        return graded
    columns = ranked.columns() if isinstance(ranked, Ranking) else None
    if columns is None:
        cards = graded
        totals = np.array(list(map(_TOTAL, cards)), dtype=float)

        def ranks():
            return np.array(list(map(_RANK, cards)))
    else:
        cards, totals, ranks = columns
    result = quota_grades(totals, ranks, bands, quotas)
    # written once per card, after every quota is settled
    for card, grade, band_grade in zip(cards, result.grade,
                                       result.band_grade):
        card["grade"] = grade
        card["band_grade"] = band_grade
        card["demoted"] = False
    for index, reason in zip(result.demoted, result.reasons):
        card = cards[index]
        card["demoted"] = True
        card["demotion_reason"] = reason
    return graded


# -- three rates (三率) --------------------------------------------------------

def three_rates(sums, weights):
    """Response, resolution and satisfaction rates (响应率、解决率、满意率)
    of a unit in a month, and their weighted composite (0..100).

    A rate without data (no demands, no ratings) is left out and the
    composite is weighted over the rates present."""
    demands = sums.get("demand_count", 0)
    ratings = sums.get("rating_count", 0)
    rates = {
        "response": sums.get("demand_responded_on_time", 0) / demands
        if demands else None,
        "resolution": sums.get("demand_resolved", 0) / demands
        if demands else None,
        "satisfaction": sums.get("good_count", 0) / ratings
        if ratings else None,
    }
    present = {k: v for k, v in rates.items() if v is not None}
    weight = sum(weights[k] for k in present)
    composite = (round(sum(weights[k] * v * 100 for k, v in present.items())
                       / weight, 2) if weight else None)
    return {"demand_count": demands, "rating_count": ratings,
            **{f"{k}_rate": round(v * 100, 2) if v is not None else None
               for k, v in rates.items()},
            "composite": composite}


def rates_key(row):
    """Three-rate ranking order: composite, then resolution, then response
    rate, descending; equal on all three share a rank."""
    return (-(row["composite"] or 0), -(row["resolution_rate"] or 0),
            -(row["response_rate"] or 0))


# -- the branch ladder (支部阶梯) --------------------------------------------

def criterion_met(criterion, card):
    measure = criterion["measure"]
    if measure == "grade":
        return card.get("grade") in criterion["in"], card.get("grade")
    if measure == "total":
        value = card.get("total")
    elif measure.startswith("group:"):
        value = card["groups"][measure[6:]]["score"]
    else:
        value = card["metrics"].get(measure[7:])
    return value is not None and value >= criterion["min"], value


def describe_criterion(criterion, value):
    measure = criterion["measure"]
    if measure == "grade":
        return f"等次为{'/'.join(criterion['in'])}（实际 {value or '无'}）"
    if measure == "total":
        name = "总分"
    elif measure.startswith("group:"):
        name = GROUP_LABELS[measure[6:]] + "得分"
    else:
        name = METRICS[measure[7:]][1]
    shown = "无数据" if value is None else f"{value:g}"
    return f"{name}≥{criterion['min']:g}（实际 {shown}）"


def ladder_rung(card, ladder):
    """The highest rung a branch reaches: each rung needs the one below and
    its own criteria. Returns (rung or None, reason in zh-CN)."""
    reached = None
    met = []
    for rung in ladder:
        results = [(c, *criterion_met(c, card)) for c in rung["criteria"]]
        failed = [describe_criterion(c, v) for c, ok, v in results if not ok]
        if failed:
            label = RUNG_LABELS[rung["rung"]]
            reason = (f"未达到{label}：" + "；".join(failed))
            if met:
                reason = "；".join(met) + "。" + reason
            return reached, reason
        reached = rung["rung"]
        met = [f"达到{RUNG_LABELS[rung['rung']]}：" + "；".join(
            describe_criterion(c, v) for c, _, v in results)]
    return reached, "；".join(met) + "。已达最高等级"


def rung_label(rung):
    return RUNG_LABELS.get(rung, NO_RUNG_LABEL)
