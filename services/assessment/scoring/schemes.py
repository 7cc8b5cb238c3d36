"""Assessment schemes (考评方案): the default one, what makes one sound,
which version is in force. Plain functions."""

import copy
import math

from sifuwu.errors import DomainError
from services.assessment.domain import GROUP_LABELS, GROUPS
from services.assessment.ladder.domain import RUNG_LABELS, RUNGS
from services.assessment.scoring.domain import METRICS

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



class SchemeInvalid(DomainError):
    status = 400
    code = "scheme_invalid"
    message = "考评方案不成立"


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


def check_scheme(scheme):
    """Refuse a scheme that cannot be used, with every reason."""
    problems = validate_scheme(scheme)
    if problems:
        raise SchemeInvalid("考评方案不成立：" + "；".join(problems),
                            fields={"scheme": problems})


def first_scheme(now):
    """The default scheme as stored as version 1 (in force from the start)."""
    return dict(default_scheme(), _id=1, version=1, effective_from="0000-01",
                created_at=now, created_by="system")


def next_version(latest, body, *, now, created_by, default_from):
    """``body`` as the scheme stored after ``latest`` (None: the first)."""
    version = (latest["version"] if latest else 0) + 1
    return dict(body, _id=version, version=version,
                effective_from=body.get("effective_from") or default_from,
                created_at=now, created_by=created_by)
