"""Rules of demands (诉求), no nameko, no I/O: the statuses and the actions
allowed from each (a table), deadlines in working days, escalation level by
level, and what the events carry. Time comes in as ``now``, the calendar and
the time zone as arguments."""

import datetime as dt
import json

from sifuwu.errors import Conflict, DomainError
from sifuwu.privacy import mask_name, mask_phone
from services.activity.local_time import iso, zone

RECEIVED = "received"        # 已受理
RESPONDED = "responded"      # 已响应
IN_PROGRESS = "in_progress"  # 办理中
RESOLVED = "resolved"        # 已办结
CONFIRMED = "confirmed"      # 已确认解决
REOPENED = "reopened"        # 已重新打开
STATUSES = (RECEIVED, RESPONDED, IN_PROGRESS, RESOLVED, CONFIRMED, REOPENED)
STATUS_LABELS = {RECEIVED: "已受理", RESPONDED: "已响应", IN_PROGRESS: "办理中",
                 RESOLVED: "已办结", CONFIRMED: "已确认解决",
                 REOPENED: "已重新打开"}
OPEN_STATUSES = (RECEIVED, RESPONDED, IN_PROGRESS, REOPENED)

# action -> (statuses it is allowed from, status it leads to)
TRANSITIONS = {
    "respond": ((RECEIVED,), RESPONDED),
    "progress": ((RESPONDED, REOPENED), IN_PROGRESS),
    "resolve": ((RESPONDED, IN_PROGRESS, REOPENED), RESOLVED),
    "confirm": ((RESOLVED,), CONFIRMED),
    "reopen": ((RESOLVED,), REOPENED),
}
# 转办 hands an open demand to another unit; its status stays.
TRANSFER_FROM = OPEN_STATUSES
ACTIONS = tuple(TRANSITIONS) + ("transfer",)
# action -> the statuses it is allowed from (the whole table, transfer too)
ALLOWED_FROM = {**{action: allowed
                   for action, (allowed, _) in TRANSITIONS.items()},
                "transfer": TRANSFER_FROM}
# what staff do (确认 and 重新打开 are the raiser's, through the hotline)
STAFF_ACTIONS = ("respond", "progress", "resolve", "transfer")


def staff_actions(status):
    """[{action, label}] staff may take on a demand in ``status``."""
    return [{"action": action, "label": ACTION_LABELS[action]}
            for action in STAFF_ACTIONS if status in ALLOWED_FROM[action]]


ACTION_FOR_STATUS = {target: action
                     for action, (_, target) in TRANSITIONS.items()}
ACTION_LABELS = {"respond": "响应", "progress": "开始办理", "resolve": "办结",
                 "confirm": "确认解决", "reopen": "重新打开",
                 "transfer": "转办"}

# Deadlines per demand category: (amount, "workdays" | "days"). Defaults:
# respond within 1 working day, resolve within 7 days. A deadline by
# calendar days that ends on a holiday moves to the next working day (as
# 期间届满日为法定节假日的，以节假日后的第一个工作日为届满日).
DEFAULT_DEADLINES = {"respond": (1, "workdays"), "resolve": (7, "days")}
DEADLINE_TABLE = {
    "default": DEFAULT_DEADLINES,
    "masses": DEFAULT_DEADLINES,
    "enterprise": DEFAULT_DEADLINES,
    "grassroots": DEFAULT_DEADLINES,
    # Projects (用地, 审批) take longer to resolve.
    "project": {"respond": (1, "workdays"), "resolve": (15, "days")},
}

# Escalation (督办升级): level 1 the owner at the deadline, level 2 the unit
# leader one working day later, level 3 the 工委 supervision office two
# working days after the deadline.
ESCALATION_LEVELS = {1: 0, 2: 1, 3: 2}
LEVEL_LABELS = {1: "承办单位", 2: "单位领导", 3: "市直机关工委督查室"}


def allowed(status, action):
    """Whether ``action`` is allowed on a demand in ``status``."""
    return status in ALLOWED_FROM.get(action, ())


# -- deadlines ---------------------------------------------------------------


def deadline_rules(category, overrides=None):
    """The deadline rule of a demand category (the per-category table, with
    configured overrides)."""
    table = dict(DEADLINE_TABLE)
    for key, rule in (overrides or {}).items():
        table[key] = {kind: tuple(value) for kind, value in rule.items()}
    rule = dict(DEFAULT_DEADLINES)
    rule.update(table.get(category) or table["default"])
    return rule


def _end_of_day(day, tz):
    return dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=tz)


def deadline_after(start, amount, unit, calendar, tz):
    """The end of the day a period of ``amount`` ``unit`` ends, counted from
    the local date of ``start``."""
    tz = zone(tz)
    local_day = start.astimezone(tz).date()
    if unit == "workdays":
        day = calendar.add_workdays(local_day, amount)
    elif unit == "days":
        day = calendar.next_workday_on_or_after(
            local_day + dt.timedelta(days=amount))
    else:
        raise ValueError(f"unknown deadline unit {unit!r}")
    return _end_of_day(day, tz)


def demand_deadlines(raised_at, category, calendar, tz, overrides=None):
    """{respond_by, resolve_by} and a calendar note (or None)."""
    tz = zone(tz)
    rule = deadline_rules(category, overrides)
    respond_by = deadline_after(raised_at, *rule["respond"], calendar, tz)
    resolve_by = deadline_after(raised_at, *rule["resolve"], calendar, tz)
    note = calendar.note(raised_at.astimezone(tz).year, respond_by.year,
                         resolve_by.year)
    return {"respond_by": respond_by, "resolve_by": resolve_by}, note


def escalation_due(deadline, level, calendar, tz):
    """When escalation ``level`` falls due for a missed ``deadline``."""
    tz = zone(tz)
    steps = ESCALATION_LEVELS[level]
    if steps == 0:
        return deadline
    day = calendar.add_workdays(deadline.astimezone(tz).date(), steps)
    return _end_of_day(day, tz)


def pending_deadline(demand):
    """Which deadline still binds the demand: ("respond"|"resolve", when) or
    None once resolved."""
    status = demand["status"]
    if status == RECEIVED:
        return "respond", demand["deadlines"]["respond_by"]
    if status in (RESPONDED, IN_PROGRESS, REOPENED):
        return "resolve", demand["deadlines"]["resolve_by"]
    return None


def next_escalation(demand, calendar, tz):
    """(deadline kind, level, due at) of the next escalation, or None."""
    pending = pending_deadline(demand)
    if pending is None:
        return None
    kind, deadline = pending
    done = {e["level"] for e in demand.get("escalations", [])
            if e["deadline_kind"] == kind and e["deadline"] == deadline}
    for level in sorted(ESCALATION_LEVELS):
        if level not in done:
            return kind, level, escalation_due(deadline, level, calendar, tz)
    return None


def due_escalations(demand, now, calendar, tz):
    """Every escalation due at ``now`` not yet raised, level by level.

    Returns a list of {deadline_kind, level, deadline, due_at}; the caller
    records them in ``demand["escalations"]``."""
    found = []
    probe = dict(demand, escalations=list(demand.get("escalations", [])))
    while True:
        upcoming = next_escalation(probe, calendar, tz)
        if upcoming is None or upcoming[2] > now:
            break
        kind, level, due_at = upcoming
        step = {"deadline_kind": kind, "level": level,
                "deadline": pending_deadline(probe)[1], "due_at": due_at,
                "at": now}
        found.append(step)
        probe["escalations"].append(step)
    return found


def schedule(demand, calendar, tz):
    """Refresh the sweeper's index field (``next_escalation_at``), the
    overdue flag and the escalation level; returns the demand."""
    upcoming = next_escalation(demand, calendar, tz)
    demand["next_escalation_at"] = upcoming[2] if upcoming else None
    pending = pending_deadline(demand)
    current = [e["level"] for e in demand.get("escalations", [])
               if pending and e["deadline_kind"] == pending[0]
               and e["deadline"] == pending[1]]
    demand["overdue"] = bool(current)
    demand["escalation_level"] = max(current) if current else 0
    return demand


def overdue_event_data(demand, step, unit_leader_member_id=None, *, tz):
    """``demand.overdue``; from level 2 on it names the owner unit's leader
    (from the directory) when known, so notify can reach them."""
    data = {"demand_id": demand["_id"],
            "owner_unit_id": demand["owner_unit_id"],
            "level": step["level"], "level_label": LEVEL_LABELS[step["level"]],
            "deadline_kind": step["deadline_kind"],
            "deadline": iso(step["deadline"], tz)}
    if step["level"] >= 2:
        data["unit_leader_member_id"] = unit_leader_member_id
    return data


# -- receiving a demand ----------------------------------------------------------


def demand_exists():
    return Conflict("该诉求编号已登记", code="demand_exists",
                    fields={"data": {"demand_id": ["该诉求编号已登记"]}})


def new_demand(data, *, source, now, deadlines, note, branch_id, sealer):
    """The stored document of a demand just received: the receiving unit
    owns it (首接负责); the raiser is sealed, and masked for staff."""
    raiser = data.get("raiser")
    return {
        "_id": data["demand_id"], "source": source,
        "category": data["category"], "title": data["title"],
        "description": data.get("description", ""),
        "channel": data.get("channel"),
        "owner_unit_id": data["owner_unit_id"],
        "received_by_unit_id": data["owner_unit_id"],
        "member_id": data.get("member_id"), "branch_id": branch_id,
        "activity_id": data.get("activity_id"),
        "campaign_id": data.get("campaign_id"),
        "raiser_enc": (sealer.seal(json.dumps(raiser, ensure_ascii=False))
                       if raiser else None),
        "raiser_masked": ({"name": mask_name(raiser["name"]),
                           "phone": mask_phone(raiser.get("phone"))}
                          if raiser else None),
        "raised_at": data["raised_at"], "status": RECEIVED,
        "previous_status": None, "deadlines": deadlines,
        "calendar_note": note, "responded_at": None, "resolved_at": None,
        "confirmed_at": None, "on_time_response": None,
        "on_time_resolution": None, "escalations": [], "transfers": [],
        "history": [{"action": "raise", "from": None, "to": RECEIVED,
                     "at": data["raised_at"], "by": source, "note": None}],
        "version": 1, "logged_at": now,
    }


# -- the demand status machine -------------------------------------------------


class IllegalTransition(Conflict):
    code = "illegal_transition"


def apply_action(demand, action, *, now, by, note=None, reason=None,
                 to_unit_id=None, calendar=None, tz=None, overrides=None):
    """Apply a staff or system action to a demand; returns the changed copy.
    Reopening gives a fresh resolve period when ``calendar`` and ``tz`` are
    given.

    Raises ``IllegalTransition`` (409, with the reason in zh-CN) when the
    action is not allowed from the current status."""
    demand = dict(demand, history=list(demand.get("history", [])),
                  transfers=list(demand.get("transfers", [])))
    status = demand["status"]
    if action == "transfer":
        return _transfer(demand, now=now, by=by, reason=reason,
                         to_unit_id=to_unit_id)
    if action not in TRANSITIONS:
        raise DomainError(f"未知操作: {action}", code="unknown_action")
    allowed_from, target = TRANSITIONS[action]
    if not allowed(status, action):
        wanted = "、".join(STATUS_LABELS[s] for s in allowed_from)
        raise IllegalTransition(
            f"诉求当前状态为“{STATUS_LABELS[status]}”，不能{ACTION_LABELS[action]}"
            f"（仅限“{wanted}”状态）",
            fields={"status": status, "action": action,
                    "allowed_from": list(allowed_from)})
    demand["previous_status"] = status
    demand["status"] = target
    if action == "respond":
        demand["responded_at"] = now
        demand["on_time_response"] = now <= demand["deadlines"]["respond_by"]
    elif action == "resolve":
        demand["resolved_at"] = now
        demand["on_time_resolution"] = (
            now <= demand["deadlines"]["resolve_by"])
    elif action == "confirm":
        demand["confirmed_at"] = now
    elif action == "reopen":
        # A reopened demand gets a fresh resolve period from now.
        demand["reopened_count"] = demand.get("reopened_count", 0) + 1
        demand["resolved_at"] = None
        demand["on_time_resolution"] = None
        if calendar is not None:
            fresh, note_ = demand_deadlines(now, demand["category"], calendar,
                                            tz, overrides)
            demand["deadlines"] = dict(demand["deadlines"],
                                       resolve_by=fresh["resolve_by"])
            demand["calendar_note"] = note_ or demand.get("calendar_note")
    demand["history"].append({"action": action, "from": status,
                              "to": target, "at": now, "by": by,
                              "note": note})
    return demand


def _transfer(demand, *, now, by, reason, to_unit_id):
    """转办: the owner hands the demand to another unit, with a reason."""
    if not allowed(demand["status"], "transfer"):
        raise IllegalTransition(
            f"诉求当前状态为“{STATUS_LABELS[demand['status']]}”，不能转办")
    if not reason or not reason.strip():
        raise DomainError("转办须说明理由", code="reason_required",
                          fields={"reason": ["转办须说明理由"]})
    if not to_unit_id:
        raise DomainError("须指定接收单位", code="validation_failed",
                          fields={"to_unit_id": ["须指定接收单位"]})
    if to_unit_id == demand["owner_unit_id"]:
        raise IllegalTransition("不能转办给当前承办单位本身")
    demand["transfers"].append({"from_unit_id": demand["owner_unit_id"],
                                "to_unit_id": to_unit_id,
                                "reason": reason.strip(), "at": now,
                                "by": by})
    demand["history"].append({"action": "transfer",
                              "from": demand["status"],
                              "to": demand["status"], "at": now, "by": by,
                              "note": reason.strip()})
    demand["previous_status"] = demand["status"]
    demand["owner_unit_id"] = to_unit_id
    return demand


def raiser_for_feedback(changed, action):
    """Whether the raiser travels with this change: only when the demand
    becomes resolved (feedback invites them to rate the outcome)."""
    return changed["status"] == RESOLVED and action != "transfer" and \
        bool(changed.get("raiser_enc"))


def demand_event_data(demand, raiser=None, *, tz):
    """``demand.raised`` / ``demand.status_changed`` data. ``raiser`` (name,
    phone as a sealed contact) is passed only when the demand becomes resolved, so that
    feedback can invite the raiser to rate the outcome."""
    deadlines = demand["deadlines"]
    data = {
        "demand_id": demand["_id"],
        "category": demand["category"],
        "title": demand.get("title"),
        "owner_unit_id": demand["owner_unit_id"],
        "received_by_unit_id": demand.get("received_by_unit_id"),
        "member_id": demand.get("member_id"),
        "activity_id": demand.get("activity_id"),
        "campaign_id": demand.get("campaign_id"),
        "status": demand["status"],
        "previous_status": demand.get("previous_status"),
        "raised_at": iso(demand["raised_at"], tz),
        "deadlines": {"respond_by": iso(deadlines["respond_by"], tz),
                      "resolve_by": iso(deadlines["resolve_by"], tz)},
        "responded_at": iso(demand.get("responded_at"), tz),
        "resolved_at": iso(demand.get("resolved_at"), tz),
        "on_time_response": demand.get("on_time_response"),
        "on_time_resolution": demand.get("on_time_resolution"),
    }
    if raiser is not None:
        data["raiser"] = raiser
    return data


def status_changed_data(changed, action, raiser, *, tz):
    """``demand.status_changed``: the demand, the action, and for a
    transfer who handed it to whom and why."""
    data = demand_event_data(changed, raiser, tz=tz)
    data["action"] = action
    if action == "transfer":
        data["transfer"] = {k: changed["transfers"][-1][k]
                            for k in ("from_unit_id", "to_unit_id", "reason")}
    return data
