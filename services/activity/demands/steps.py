"""Use cases of demands (诉求), each inside one unit of work: check the rule
(``domain``), write through ``uow.repo`` (a ``DemandRepository``), emit.
``rules`` gives the sealer, the calendar, the time zone and the deadline
overrides."""

import json

from sifuwu import events as ev
from sifuwu.errors import Conflict, DomainError, NotFound
from services.activity import ownership
from services.activity.demands import domain


def raise_demand(uow, data, *, source, now, rules):
    """Receive a demand: the receiving unit owns it (首接负责); deadlines
    from the category table and the working-day calendar. Updates that
    arrived before it are applied next."""
    repo = uow.repo
    demand_id = data["demand_id"]
    if repo.demand_exists(demand_id):
        raise domain.demand_exists()
    deadlines, note = domain.demand_deadlines(
        data["raised_at"], data["category"], rules.calendar, rules.tz,
        rules.deadline_overrides)
    branch_id = repo.member_branch(data["member_id"]) \
        if data.get("member_id") else None
    demand = domain.new_demand(data, source=source, now=now,
                               deadlines=deadlines, note=note,
                               branch_id=branch_id, sealer=rules.sealer)
    domain.schedule(demand, rules.calendar, rules.tz)
    repo.touch_arrival(f"demand:{demand_id}")
    repo.insert_demand(demand)
    uow.emit(ev.DEMAND_RAISED, domain.demand_event_data(demand, tz=rules.tz),
             correlation_id=demand_id)
    return apply_pending_updates(uow, demand, rules)


def apply_pending_updates(uow, demand, rules):
    """Apply, in time order, the updates that arrived before the demand. One
    that the status machine refuses is kept with its reason."""
    repo = uow.repo
    for update in repo.pending_updates(demand["_id"]):
        try:
            demand = act_on_demand(
                uow, demand["_id"], update["action"], by=update["source"],
                source=update["source"],
                at=update["at"], rules=rules, note=update.get("note"),
                reason=update.get("reason"),
                to_unit_id=update.get("to_unit_id"))
        except DomainError as exc:
            repo.refuse_pending_update(update["_id"], demand["_id"],
                                       f"{exc.code}: {exc.message}")
            continue
        repo.drop_pending_update(update["_id"])
    return demand


def act_on_demand(uow, demand_id, action, *, by, at, rules, note=None,
                  reason=None, to_unit_id=None, source=None):
    """A status change (or a transfer) under the status table. From the
    ingest contract (``source`` given), only the demand's own source may
    move it (``not_owner``); staff act on any demand."""
    repo = uow.repo
    demand = repo.get_demand(demand_id)
    if demand is None:
        raise NotFound("未找到该诉求", code="unknown_demand")
    if source is not None:
        ownership.check_owner(demand, source, f"诉求 {demand_id}")
    changed = domain.apply_action(
        demand, action, now=at, by=by, note=note, reason=reason,
        to_unit_id=to_unit_id, calendar=rules.calendar, tz=rules.tz,
        overrides=rules.deadline_overrides)
    domain.schedule(changed, rules.calendar, rules.tz)
    version = demand.get("version", 1)
    changed["version"] = version + 1
    if not repo.replace_demand(changed, version):
        raise Conflict("诉求已被同时修改，请重试", code="concurrent_update")
    raiser = json.loads(rules.sealer.open(changed["raiser_enc"])) \
        if domain.raiser_for_feedback(changed, action) else None
    if raiser is not None:
        # on the bus the phone travels sealed (notify opens it to send)
        raiser["phone"] = rules.contact(raiser.get("phone"))
    uow.emit(ev.DEMAND_STATUS_CHANGED,
             domain.status_changed_data(changed, action, raiser, tz=rules.tz),
             correlation_id=demand_id)
    return changed


def escalate(uow, demand_id, *, now, rules):
    """Raise every escalation due for one demand, each a ``demand.overdue``."""
    repo = uow.repo
    demand = repo.get_demand(demand_id)
    if demand is None:
        return []
    steps = domain.due_escalations(demand, now, rules.calendar, rules.tz)
    if not steps:
        domain.schedule(demand, rules.calendar, rules.tz)
        repo.set_next_escalation(demand_id, demand["next_escalation_at"])
        return []
    demand["escalations"] = list(demand.get("escalations", [])) + steps
    domain.schedule(demand, rules.calendar, rules.tz)
    if not repo.record_escalations(demand, demand["version"]):
        raise Conflict("诉求已被同时修改", code="concurrent_update")
    leader = repo.unit_leader(demand["owner_unit_id"])
    for step in steps:
        uow.emit(ev.DEMAND_OVERDUE,
                 domain.overdue_event_data(demand, step, leader, tz=rules.tz),
                 correlation_id=demand_id)
    return steps


def demands_due(repo, now):
    """Ids of the demands with an escalation due at ``now``."""
    return repo.due(now)


def get_demand(repo, demand_id):
    demand = repo.get_demand(demand_id)
    if demand is None:
        raise NotFound("未找到该诉求")
    return demand


def list_demands(repo, query):
    return repo.list_demands(query)


# -- from the ingest contract ------------------------------------------------------


def apply_demand_raised(uow, envelope, *, now, rules):
    demand = raise_demand(uow, envelope["data"], source=envelope["source"],
                          now=now, rules=rules)
    return {"demand_id": demand["_id"], "status": demand["status"],
            "deadlines": {k: v.isoformat()
                          for k, v in demand["deadlines"].items()}}


def apply_demand_updated(uow, envelope, *, now, rules):
    repo = uow.repo
    data = envelope["data"]
    at = data.get("at") or envelope["occurred_at"]
    if not repo.demand_exists(data["demand_id"]):
        repo.touch_arrival(f"demand:{data['demand_id']}")
    if not repo.demand_exists(data["demand_id"]):
        # Out of order: kept until its demand.raised arrives.
        repo.keep_pending_update(dict(
            data, _id=f"{envelope['source']}:{envelope['event_id']}",
            at=at, source=envelope["source"], received_at=now))
        return {"demand_id": data["demand_id"], "status": "pending",
                "waiting_for": "demand.raised"}
    demand = act_on_demand(
        uow, data["demand_id"], data["action"], by=envelope["source"],
        source=envelope["source"], at=at, rules=rules,
        note=data.get("note"), reason=data.get("reason"),
        to_unit_id=data.get("to_unit_id"))
    return {"demand_id": demand["_id"], "status": demand["status"],
            "owner_unit_id": demand["owner_unit_id"]}
