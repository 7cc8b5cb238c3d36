"""The branch ladder (支部阶梯), as plain functions: the rungs, what a
branch needs for each, and the reason in zh-CN."""

from services.assessment.domain import GROUP_LABELS
from services.assessment.scoring.domain import METRICS

RUNGS = ("standardised", "four_services_advanced", "demonstration", "model")
RUNG_LABELS = {"standardised": "标准化党支部",
               "four_services_advanced": "“四服务”先进党支部",
               "demonstration": "示范党支部", "model": "模范党支部"}
NO_RUNG_LABEL = "未定级"


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


def rung_moves(entries, cards, rungs, scheme, period, now):
    """The branches of a ranked board (``entries``) whose rung changes:
    [(branch id, change)], each change {from, to, period, reason,
    scheme_version, at}. ``cards``: the branches' detailed cards by id;
    ``rungs``: their rungs now by id."""
    moves = []
    for entry in entries:
        card = dict(cards[entry["subject_id"]], grade=entry["grade"])
        rung, reason = ladder_rung(card, scheme["ladder"])
        branch_id = entry["subject_id"]
        previous = rungs.get(branch_id)
        if previous == rung:
            continue
        moves.append((branch_id, {
            "from": previous, "to": rung, "period": period, "reason": reason,
            "scheme_version": scheme["version"], "at": now}))
    return moves


def branch_fields(change, now):
    """What a branch stores of its latest move."""
    return {"rung": change["to"], "rung_label": rung_label(change["to"]),
            "reason": change["reason"], "period": change["period"],
            "updated_at": now}


def rung_changed_event(branch_id, change):
    """``branch.rung_changed`` of a move."""
    return {"branch_id": branch_id, "from": change["from"],
            "to": change["to"], "from_label": rung_label(change["from"]),
            "to_label": rung_label(change["to"]), "period": change["period"],
            "reason": change["reason"],
            "scheme_version": change["scheme_version"]}
