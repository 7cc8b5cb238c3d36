"""Scoring rules of the combined assessment (综合考评), as plain functions.

Vocabulary:

* a *contribution* (计分来源) is what one event (or one demand's latest
  state) adds to the assessment: its ``figures`` are additive sums such as
  ``activity_count`` or ``rating_sum``;
* a subject's *sums* for a period are the figures of its contributions added
  up; *metrics* (三会一课出勤率, 好评率, ...) are derived from the sums;
* a *scheme* (考评方案, ``scoring/schemes.py``) turns metrics into indicator
  scores, group scores, bonus/deduction items, a total and a grade band.

Count metrics are averaged per month of the period, so the same scheme
scores a month, a quarter and a year alike.
"""

from services.assessment.domain import GROUP_LABELS, GROUPS

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

# 已办结, 已确认解决 (a reopened demand is open again)
RESOLVED_STATUSES = ("resolved", "confirmed", "closed")


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


# -- the rank key a card stores -------------------------------------------

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
