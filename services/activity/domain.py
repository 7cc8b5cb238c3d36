"""Rules of the four-services and Party-building log (no nameko here).

Everything time-dependent takes ``now`` (an aware datetime) as an argument;
the working-day calendar is passed in too, so rules are plain functions.
"""

import datetime as dt
from zoneinfo import ZoneInfo

from sifuwu.errors import Conflict, DomainError

# 四服务: the four categories of service.
CATEGORIES = ("enterprise", "project", "grassroots", "masses")
CATEGORY_LABELS = {"enterprise": "服务企业", "project": "服务项目",
                   "grassroots": "服务基层", "masses": "服务群众"}
# 服务方式:走访, 调研, 协调会, 政策宣讲, 帮办代办, 其他
KINDS = ("visit", "survey", "coordination", "briefing", "errand", "other")
# 信息员, 调研员, 协调员, 服务员
ROLES = ("informer", "researcher", "coordinator", "server")
RECIPIENT_TYPES = ("enterprise", "project", "community", "citizen")

# 党建活动: 三会一课, 主题党日, 学习
PARTY_KINDS = ("three_meetings_one_lesson", "theme_day", "study")
# 三会一课: 支部党员大会, 支部委员会, 党小组会, 党课
PARTY_SESSIONS = ("general_meeting", "committee_meeting", "group_meeting",
                  "party_lesson")
# 党员的职务: 普通党员, 党支部书记, 支部委员, 单位领导
MEMBER_ROLES = ("member", "branch_secretary", "branch_committee",
                "unit_leader")

# Activity records: a service activity or a Party-building activity.
SERVICE = "service"
PARTY = "party"

# -- demands (诉求) --------------------------------------------------------

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
ACTIONS = tuple(TRANSITIONS) + ("transfer",)
ACTION_FOR_STATUS = {target: action
                     for action, (_, target) in TRANSITIONS.items()}
ACTION_LABELS = {"respond": "响应", "progress": "开始办理", "resolve": "办结",
                 "confirm": "确认解决", "reopen": "重新打开",
                 "transfer": "转办"}

# Deadlines per demand category: (amount, "workdays" | "days"). Defaults from
# the issue: respond within 1 working day, resolve within 7 days. A deadline
# by calendar days that ends on a holiday moves to the next working day (as
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


# Times in events and answers are given in Beijing time (+08:00).
LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def iso(value):
    """ISO 8601 in local time, or None."""
    return value.astimezone(LOCAL_TZ).isoformat() if value else None


def activity_event_data(activity, phone=None):
    """What ``activity.logged`` carries for the other services' own copies.

    The recipient's phone travels only so that feedback can invite them."""
    recipient = activity["recipient"]
    return {
        "activity_id": activity["_id"],
        "category": activity["category"],
        "kind": activity["kind"],
        "roles": activity["roles"],
        "member_id": activity["member_id"],
        "member_name": activity.get("member_name"),
        "participant_ids": [m for m in activity.get("member_ids", [])
                            if m != activity["member_id"]],
        "unit_id": activity.get("unit_id"),
        "branch_id": activity.get("branch_id"),
        "campaign_id": activity.get("campaign_id"),
        "recipient": {"id": recipient.get("id"), "type": recipient["type"],
                      "name": recipient["name"], "phone": phone},
        "occurred_at": iso(activity["occurred_at"]),
        "source": activity.get("source"),
    }


def party_event_data(activity):
    """What ``party_activity.logged`` carries."""
    return {
        "activity_id": activity["_id"],
        "kind": activity["kind"],
        "session": activity.get("session"),
        "title": activity.get("title"),
        "branch_id": activity["branch_id"],
        "unit_id": activity.get("unit_id"),
        "occurred_at": iso(activity["occurred_at"]),
        "attendees": list(activity.get("attendees", [])),
        "expected": list(activity.get("expected", [])),
        "source": activity.get("source"),
    }


def directory_event_data(kind, record_id, record):
    return {"kind": kind, "id": record_id, "record": record}


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
    local_day = start.astimezone(tz).date()
    if unit == "workdays":
        day = calendar.add_workdays(local_day, amount)
    elif unit == "days":
        day = calendar.next_workday_on_or_after(
            local_day + dt.timedelta(days=amount))
    else:
        raise ValueError(f"unknown deadline unit {unit!r}")
    return _end_of_day(day, tz)


def demand_deadlines(raised_at, category, calendar, tz_name,
                     overrides=None):
    """{respond_by, resolve_by} and a calendar note (or None)."""
    tz = ZoneInfo(tz_name)
    rule = deadline_rules(category, overrides)
    respond_by = deadline_after(raised_at, *rule["respond"], calendar, tz)
    resolve_by = deadline_after(raised_at, *rule["resolve"], calendar, tz)
    note = calendar.note(raised_at.astimezone(tz).year, respond_by.year,
                         resolve_by.year)
    return {"respond_by": respond_by, "resolve_by": resolve_by}, note


def escalation_due(deadline, level, calendar, tz_name):
    """When escalation ``level`` falls due for a missed ``deadline``."""
    tz = ZoneInfo(tz_name)
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


def next_escalation(demand, calendar, tz_name):
    """(deadline kind, level, due at) of the next escalation, or None."""
    pending = pending_deadline(demand)
    if pending is None:
        return None
    kind, deadline = pending
    done = {e["level"] for e in demand.get("escalations", [])
            if e["deadline_kind"] == kind and e["deadline"] == deadline}
    for level in sorted(ESCALATION_LEVELS):
        if level not in done:
            return kind, level, escalation_due(deadline, level, calendar,
                                               tz_name)
    return None


def due_escalations(demand, now, calendar, tz_name):
    """Every escalation due at ``now`` not yet raised, level by level.

    Returns a list of {deadline_kind, level, deadline, due_at}; the caller
    records them in ``demand["escalations"]``."""
    found = []
    probe = dict(demand, escalations=list(demand.get("escalations", [])))
    while True:
        upcoming = next_escalation(probe, calendar, tz_name)
        if upcoming is None or upcoming[2] > now:
            break
        kind, level, due_at = upcoming
        step = {"deadline_kind": kind, "level": level,
                "deadline": pending_deadline(probe)[1], "due_at": due_at,
                "at": now}
        found.append(step)
        probe["escalations"].append(step)
    return found


def overdue_event_data(demand, step, unit_leader_member_id=None):
    """``demand.overdue``; from level 2 on it names the owner unit's leader
    (from the directory) when known, so notify can reach them."""
    data = {"demand_id": demand["_id"],
            "owner_unit_id": demand["owner_unit_id"],
            "level": step["level"], "level_label": LEVEL_LABELS[step["level"]],
            "deadline_kind": step["deadline_kind"],
            "deadline": iso(step["deadline"])}
    if step["level"] >= 2:
        data["unit_leader_member_id"] = unit_leader_member_id
    return data


# -- the demand status machine -------------------------------------------------


class IllegalTransition(Conflict):
    code = "illegal_transition"


def apply_action(demand, action, *, now, by, note=None, reason=None,
                 to_unit_id=None, calendar=None, tz_name=None,
                 overrides=None):
    """Apply a staff or system action to a demand; returns the changed copy.

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
    allowed, target = TRANSITIONS[action]
    if status not in allowed:
        wanted = "、".join(STATUS_LABELS[s] for s in allowed)
        raise IllegalTransition(
            f"诉求当前状态为“{STATUS_LABELS[status]}”，不能{ACTION_LABELS[action]}"
            f"（仅限“{wanted}”状态）",
            fields={"status": status, "action": action,
                    "allowed_from": list(allowed)})
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
                                            tz_name, overrides)
            demand["deadlines"] = dict(demand["deadlines"],
                                       resolve_by=fresh["resolve_by"])
            demand["calendar_note"] = note_ or demand.get("calendar_note")
    demand["history"].append({"action": action, "from": status,
                              "to": target, "at": now, "by": by,
                              "note": note})
    return demand


def _transfer(demand, *, now, by, reason, to_unit_id):
    """转办: the owner hands the demand to another unit, with a reason."""
    if demand["status"] not in OPEN_STATUSES:
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


def demand_event_data(demand, raiser=None):
    """``demand.raised`` / ``demand.status_changed`` data. ``raiser`` (name,
    phone in clear) is passed only when the demand becomes resolved, so that
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
        "raised_at": iso(demand["raised_at"]),
        "deadlines": {"respond_by": iso(deadlines["respond_by"]),
                      "resolve_by": iso(deadlines["resolve_by"])},
        "responded_at": iso(demand.get("responded_at")),
        "resolved_at": iso(demand.get("resolved_at")),
        "on_time_response": demand.get("on_time_response"),
        "on_time_resolution": demand.get("on_time_resolution"),
    }
    if raiser is not None:
        data["raiser"] = raiser
    return data


# -- campaigns (主题活动) -------------------------------------------------------


def campaign_progress(campaign, members, activities):
    """Progress of a campaign against its per-member target.

    ``members``: the members of the participating units ({_id, unit_id,
    name}); ``activities``: the campaign's service activities ({member_ids,
    category, kind, occurred_at}). A target {per_member, category?, kind?}
    counts each member's matching activities within the campaign's period
    (``starts_on``..``ends_on``, local dates, inclusive)."""
    target = campaign.get("target") or {}
    per_member = target.get("per_member") or 0

    starts_on = campaign.get("starts_on")
    ends_on = campaign.get("ends_on")

    def in_period(activity):
        when = activity.get("occurred_at")
        if when is None or not (starts_on and ends_on):
            return True
        day = when.astimezone(LOCAL_TZ).date().isoformat()
        return starts_on <= day <= ends_on

    def counts(activity):
        return ((not target.get("category")
                 or activity.get("category") == target["category"])
                and (not target.get("kind")
                     or activity.get("kind") == target["kind"])
                and in_period(activity))

    tally = {}
    matching = 0
    for activity in activities:
        if not counts(activity):
            continue
        matching += 1
        for member_id in activity.get("member_ids", []):
            tally[member_id] = tally.get(member_id, 0) + 1
    units = {}
    met_total = 0
    for member in members:
        done = tally.get(member["_id"], 0)
        met = per_member > 0 and done >= per_member
        met_total += met
        unit = units.setdefault(member.get("unit_id"), {
            "unit_id": member.get("unit_id"), "members": 0,
            "members_met": 0, "activities": 0})
        unit["members"] += 1
        unit["members_met"] += met
        unit["activities"] += done
    return {
        "campaign_id": campaign["_id"],
        "target": target,
        "activities": matching,
        "members": len(members),
        "members_met": met_total,
        "rate": round(met_total / len(members), 4) if members else None,
        "units": sorted(units.values(), key=lambda u: str(u["unit_id"])),
    }
