"""Persistence of the activity service: collections, their indexes, and the
writes that change state and stage the events announcing it (outbox) in the
same transaction."""

import dataclasses
import json
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateOne
from pymongo.errors import DuplicateKeyError

from sifuwu import events as ev
from sifuwu.errors import Conflict, DomainError, NotFound
from sifuwu.privacy import Sealer, mask_name, mask_phone
from sifuwu.store import Duplicate, find_in
from services.activity import domain

ACTIVITIES = "activities"
UNITS = "units"
DIVISIONS = "divisions"
BRANCHES = "branches"
MEMBERS = "members"
RECIPIENTS = "recipients"
DEMANDS = "demands"
KPIS = "kpis"
CAMPAIGNS = "campaigns"
# One receipt per ingested (source, event_id): the dedupe record.
RECEIPTS = "ingest_receipts"
# demand.updated that arrived before its demand.raised, applied on arrival.
PENDING_UPDATES = "pending_demand_updates"
# One document per awaited member or demand. Both sides of an out-of-order
# pair write it, so two concurrent transactions conflict and one retries
# (otherwise each could miss the other under snapshot isolation).
ARRIVALS = "arrival_locks"


def _by(field, when="occurred_at"):
    return IndexModel([(field, ASCENDING), (when, DESCENDING)],
                      name=f"by_{field}")


INDEXES = {
    ACTIVITIES: [
        # Every staff filter has its own index, newest first.
        _by("member_ids"), _by("unit_id"), _by("branch_id"),
        _by("category"), _by("campaign_id"), _by("type"),
        IndexModel([("occurred_at", DESCENDING)], name="by_time"),
        # Activities waiting for their member (out-of-order arrival).
        IndexModel([("member_id", ASCENDING), ("member_linked", ASCENDING)],
                   name="awaiting_member"),
    ],
    MEMBERS: [IndexModel([("unit_id", ASCENDING)], name="by_unit"),
              IndexModel([("branch_id", ASCENDING)], name="by_branch")],
    BRANCHES: [IndexModel([("unit_id", ASCENDING)], name="by_unit")],
    DIVISIONS: [IndexModel([("unit_id", ASCENDING)], name="by_unit")],
    DEMANDS: [
        _by("owner_unit_id", "raised_at"), _by("branch_id", "raised_at"),
        _by("member_id", "raised_at"), _by("category", "raised_at"),
        _by("campaign_id", "raised_at"), _by("status", "raised_at"),
        _by("overdue", "raised_at"),
        IndexModel([("raised_at", DESCENDING)], name="by_time"),
        # The overdue sweeper asks only for demands with an escalation due.
        IndexModel([("next_escalation_at", ASCENDING)], name="escalation_due"),
    ],
    KPIS: [IndexModel([("subject_type", ASCENDING), ("subject_id", ASCENDING),
                       ("period", ASCENDING)], name="by_subject")],
    CAMPAIGNS: [IndexModel([("starts_on", DESCENDING)], name="by_start")],
    PENDING_UPDATES: [IndexModel([("demand_id", ASCENDING), ("at", ASCENDING)],
                                 name="by_demand")],
    # Receipts need no index of their own: the _id is "source:event_id",
    # unique by construction, and every look-up is by _id.
}

# Filters of the staff lists -> the stored field (indexed above).
ACTIVITY_FILTERS = ("member_id", "unit_id", "branch_id", "category",
                    "campaign_id", "type")
DEMAND_FILTERS = ("unit_id", "branch_id", "member_id", "category",
                  "campaign_id", "status", "overdue")


@dataclasses.dataclass(frozen=True)
class Rules:
    """What the writes need besides the data: the sealing secret, the
    working-day calendar, the local time zone and deadline overrides."""

    secret: str
    calendar: Any
    timezone: str = "Asia/Shanghai"
    deadline_overrides: dict = dataclasses.field(default_factory=dict)

    @property
    def sealer(self):
        return Sealer(self.secret)


# -- activities logged by staff ------------------------------------------------


def _seal_recipient(recipient, sealer):
    recipient = dict(recipient)
    phone = recipient.pop("phone", None)
    if phone:
        recipient["phone_enc"] = sealer.seal(phone)
        recipient["phone_masked"] = mask_phone(phone)
    return recipient, phone


def log_activity(uow, data, secret):
    """Store an activity and stage ``activity.logged`` in the same write."""
    recipient, phone = _seal_recipient(data["recipient"], Sealer(secret))
    activity = dict(data, _id=ev.new_id(), type=domain.SERVICE,
                    recipient=recipient, member_ids=[data["member_id"]],
                    member_linked=True, source="staff",
                    logged_at=ev.utcnow())
    uow.col(ACTIVITIES).insert_one(activity, session=uow.session)
    uow.emit(ev.ACTIVITY_LOGGED, domain.activity_event_data(activity, phone),
             correlation_id=activity["_id"])
    return activity


def get_activity(db, activity_id):
    return db[ACTIVITIES].find_one({"_id": activity_id})


# -- the ingest contract -----------------------------------------------------------


def receipt_id(envelope):
    return f"{envelope['source']}:{envelope['event_id']}"


def _receipt(envelope, via, now):
    return {"_id": receipt_id(envelope), "source": envelope["source"],
            "event_id": envelope["event_id"], "type": envelope["type"],
            "via": via, "received_at": now,
            "occurred_at": envelope["occurred_at"]}


def ingest(uow, envelope, *, via, now, rules):
    """Apply one validated ingest envelope, recording its receipt first.

    The receipt's unique key (source, event_id) makes a second delivery a
    ``Duplicate`` with no second effect, also when two deliveries race: the
    losing transaction aborts on the key and nothing it did is kept."""
    try:
        uow.col(RECEIPTS).insert_one(_receipt(envelope, via, now),
                                     session=uow.session)
    except DuplicateKeyError:
        raise Duplicate(envelope["event_id"])
    result = APPLY[envelope["type"]](uow, envelope, now=now, rules=rules)
    uow.col(RECEIPTS).update_one({"_id": receipt_id(envelope)},
                                 {"$set": {"result": result}},
                                 session=uow.session)
    return result


def get_receipt(db, source, event_id):
    return db[RECEIPTS].find_one({"_id": f"{source}:{event_id}"})


def _touch_arrival(uow, key):
    uow.col(ARRIVALS).update_one({"_id": key}, {"$inc": {"touched": 1}},
                                 upsert=True, session=uow.session)


def _upsert_directory(uow, collection, kind, record_id, record, envelope,
                      public):
    """Keep the newest version of a directory record (by ``occurred_at``);
    an older event arriving late changes nothing."""
    col = uow.col(collection)
    existing = col.find_one({"_id": record_id}, session=uow.session)
    as_of = envelope["occurred_at"]
    if existing is not None and existing.get("as_of") and \
            existing["as_of"] > as_of:
        return {"kind": kind, "id": record_id, "applied": False,
                "reason": "stale"}, existing
    doc = dict(record, _id=record_id, as_of=as_of,
               source=envelope["source"])
    col.replace_one({"_id": record_id}, doc, upsert=True,
                    session=uow.session)
    uow.emit(ev.DIRECTORY_CHANGED,
             domain.directory_event_data(kind, record_id, public),
             correlation_id=record_id)
    return {"kind": kind, "id": record_id, "applied": True}, doc


def _apply_unit(uow, envelope, **_):
    data = dict(envelope["data"])
    unit_id = data.pop("unit_id")
    result, _ = _upsert_directory(uow, UNITS, "unit", unit_id, data,
                                  envelope, dict(data, unit_id=unit_id))
    return result


def _apply_division(uow, envelope, **_):
    data = dict(envelope["data"])
    division_id = data.pop("division_id")
    result, _ = _upsert_directory(uow, DIVISIONS, "division", division_id,
                                  data, envelope,
                                  dict(data, division_id=division_id))
    return result


def _apply_branch(uow, envelope, **_):
    data = dict(envelope["data"])
    branch_id = data.pop("branch_id")
    result, _ = _upsert_directory(uow, BRANCHES, "branch", branch_id, data,
                                  envelope, dict(data, branch_id=branch_id))
    return result


def _apply_member(uow, envelope, *, now, rules):
    data = dict(envelope["data"])
    member_id = data.pop("member_id")
    phone = data.pop("phone", None)
    record = dict(data)
    if phone:
        record["phone_enc"] = rules.sealer.seal(phone)
        record["phone_masked"] = mask_phone(phone)
    public = dict(data, member_id=member_id)
    if phone:
        # notify's contact book needs it for demand escalation (督查) and
        # rectification deadlines; it is sealed there, never logged.
        public["phone"] = phone
    _touch_arrival(uow, f"member:{member_id}")
    result, member = _upsert_directory(uow, MEMBERS, "member", member_id,
                                       record, envelope, public)
    # Out-of-order arrival: activities that named this member before it was
    # known are linked now and announced.
    linked = link_waiting_activities(uow, member, now=now, rules=rules)
    result["linked_activities"] = linked
    return result


def _apply_recipient(uow, envelope, *, rules, **_):
    data = dict(envelope["data"])
    recipient_id = data.pop("recipient_id")
    sealer = rules.sealer
    phone = data.pop("phone", None)
    record = dict(data)
    public = {"recipient_id": recipient_id, "type": data["type"],
              "name": data["name"], "has_phone": bool(phone)}
    if phone:
        record["phone_enc"] = sealer.seal(phone)
        record["phone_masked"] = mask_phone(phone)
    if data["type"] == "citizen":
        # A citizen's name and address are personal data: sealed at rest,
        # masked in the directory event.
        record["name_enc"] = sealer.seal(record.pop("name"))
        record["name_masked"] = public["name"] = mask_name(data["name"])
        if record.get("address"):
            record["address_enc"] = sealer.seal(record.pop("address"))
        else:
            record.pop("address", None)
    result, _ = _upsert_directory(uow, RECIPIENTS, "recipient", recipient_id,
                                  record, envelope, public)
    return result


def _activity_exists():
    return Conflict("该活动编号已登记", code="activity_exists",
                    fields={"data": {"activity_id": ["该活动编号已登记"]}})


def _activity_taken(uow, activity_id):
    return uow.col(ACTIVITIES).find_one({"_id": activity_id}, {"_id": 1},
                                        session=uow.session) is not None


def _known_recipient_id(envelope):
    """The directory recipient whose phone an activity needs (it names one
    and gives no phone itself), or None."""
    recipient = envelope["data"]["recipient"]
    if not recipient.get("phone") and recipient.get("id"):
        return recipient["id"]
    return None


def _new_service_activity(envelope, known_recipient, sealer, now):
    """The stored document of an ingested service activity, not linked to
    its member yet, and the recipient's phone in clear (or None)."""
    data = dict(envelope["data"])
    activity_id = data.pop("activity_id")
    recipient = dict(data.pop("recipient"))
    if known_recipient and known_recipient.get("phone_enc"):
        recipient["phone"] = sealer.open(known_recipient["phone_enc"])
    recipient, phone = _seal_recipient(recipient, sealer)
    demands = data.pop("demands", [])
    participants = data.pop("participant_ids", [])
    member_ids = list(dict.fromkeys([data["member_id"], *participants]))
    activity = dict(data, _id=activity_id, type=domain.SERVICE,
                    source=envelope["source"],
                    event_id=envelope["event_id"], recipient=recipient,
                    member_ids=member_ids, member_name=None,
                    member_linked=False, pending_demands=demands,
                    logged_at=now)
    return activity, phone


def _link_changes(activity, member, now):
    """What linking an activity to its (now known) member changes."""
    return {"member_linked": True, "member_name": member.get("name"),
            "unit_id": activity.get("unit_id") or member.get("unit_id"),
            "branch_id": (activity.get("branch_id")
                          or member.get("branch_id")),
            "linked_at": now, "pending_demands": []}


def _apply_service_activity(uow, envelope, *, now, rules):
    data = envelope["data"]
    activity_id = data["activity_id"]
    if _activity_taken(uow, activity_id):
        raise _activity_exists()
    known_id = _known_recipient_id(envelope)
    known = uow.col(RECIPIENTS).find_one(
        {"_id": known_id}, session=uow.session) if known_id else None
    activity, phone = _new_service_activity(envelope, known, rules.sealer,
                                            now)
    demands = activity["pending_demands"]
    member = uow.col(MEMBERS).find_one({"_id": data["member_id"]},
                                       session=uow.session)
    if member is None:
        _touch_arrival(uow, f"member:{data['member_id']}")
        member = uow.col(MEMBERS).find_one({"_id": data["member_id"]},
                                           session=uow.session)
    uow.col(ACTIVITIES).insert_one(activity, session=uow.session)
    if member is None:
        return {"activity_id": activity_id, "member_linked": False}
    _complete_activity(uow, activity, member, phone, now=now, rules=rules)
    return {"activity_id": activity_id, "member_linked": True,
            "demand_ids": [d["demand_id"] for d in demands]}


def _complete_activity(uow, activity, member, phone, *, now, rules):
    """Link an activity to its (now known) member, announce it and raise the
    demands recorded during it."""
    demands = activity.get("pending_demands") or []
    changes = _link_changes(activity, member, now)
    uow.col(ACTIVITIES).update_one({"_id": activity["_id"]},
                                   {"$set": changes}, session=uow.session)
    activity = dict(activity, **changes)
    uow.emit(ev.ACTIVITY_LOGGED, domain.activity_event_data(activity, phone),
             correlation_id=activity["_id"])
    recipient = activity["recipient"]
    for demand in demands:
        raise_demand(uow, {
            "demand_id": demand["demand_id"],
            "category": demand.get("category") or activity["category"],
            "title": demand["title"],
            "description": demand.get("description", ""),
            "owner_unit_id": activity["unit_id"],
            "member_id": activity["member_id"],
            "activity_id": activity["_id"],
            "campaign_id": activity.get("campaign_id"),
            "raiser": {"name": recipient["name"], "phone": phone},
            "raised_at": activity["occurred_at"],
            "channel": "activity",
        }, source=activity.get("source"), now=now, rules=rules)


def link_waiting_activities(uow, member, *, now, rules):
    waiting = list(uow.col(ACTIVITIES).find(
        {"member_id": member["_id"], "member_linked": False},
        session=uow.session))
    for activity in waiting:
        enc = activity["recipient"].get("phone_enc")
        phone = rules.sealer.open(enc) if enc else None
        _complete_activity(uow, activity, member, phone, now=now, rules=rules)
    return [a["_id"] for a in waiting]


def _expected_members(uow, branch_id):
    """The active members of a branch: who is expected at its meetings."""
    return [m["_id"] for m in uow.col(MEMBERS).find(
        {"branch_id": branch_id}, {"_id": 1, "active": 1},
        session=uow.session) if m.get("active", True)]


def _new_party_activity(envelope, branch, expected, now):
    """The stored document of an ingested Party-building activity;
    ``expected`` is used when the envelope does not list who was."""
    data = dict(envelope["data"])
    activity_id = data.pop("activity_id")
    if not data.get("unit_id") and branch:
        data["unit_id"] = branch.get("unit_id")
    if data.get("expected") is None:
        data["expected"] = list(expected)
    attendees = list(dict.fromkeys(data["attendees"]))
    return dict(data, _id=activity_id, type=domain.PARTY,
                category="party", attendees=attendees,
                member_ids=attendees, member_linked=True,
                source=envelope["source"], event_id=envelope["event_id"],
                logged_at=now)


def _party_result(activity):
    return {"activity_id": activity["_id"], "unit_id": activity.get("unit_id"),
            "attendance": f"{len(activity['attendees'])}/"
                          f"{len(activity['expected'])}"}


def _apply_party_activity(uow, envelope, *, now, **_):
    data = envelope["data"]
    if _activity_taken(uow, data["activity_id"]):
        raise _activity_exists()
    branch = uow.col(BRANCHES).find_one({"_id": data["branch_id"]},
                                        session=uow.session)
    expected = _expected_members(uow, data["branch_id"]) \
        if data.get("expected") is None else None
    activity = _new_party_activity(envelope, branch, expected, now)
    uow.col(ACTIVITIES).insert_one(activity, session=uow.session)
    uow.emit(ev.PARTY_ACTIVITY_LOGGED, domain.party_event_data(activity),
             correlation_id=activity["_id"])
    return _party_result(activity)


# -- demands (诉求) --------------------------------------------------------------


def _schedule(demand, rules):
    """Refresh the sweeper's index field and the overdue flag."""
    upcoming = domain.next_escalation(demand, rules.calendar, rules.timezone)
    demand["next_escalation_at"] = upcoming[2] if upcoming else None
    pending = domain.pending_deadline(demand)
    current = [e["level"] for e in demand.get("escalations", [])
               if pending and e["deadline_kind"] == pending[0]
               and e["deadline"] == pending[1]]
    demand["overdue"] = bool(current)
    demand["escalation_level"] = max(current) if current else 0
    return demand


def raise_demand(uow, data, *, source, now, rules):
    """Receive a demand: the receiving unit owns it (首接负责); deadlines
    from the category table and the working-day calendar."""
    demand_id = data["demand_id"]
    if uow.col(DEMANDS).find_one({"_id": demand_id}, {"_id": 1},
                                 session=uow.session):
        raise Conflict("该诉求编号已登记", code="demand_exists",
                       fields={"data": {"demand_id": ["该诉求编号已登记"]}})
    deadlines, note = domain.demand_deadlines(
        data["raised_at"], data["category"], rules.calendar, rules.timezone,
        rules.deadline_overrides)
    branch_id = None
    if data.get("member_id"):
        member = uow.col(MEMBERS).find_one({"_id": data["member_id"]},
                                           session=uow.session)
        branch_id = member.get("branch_id") if member else None
    raiser = data.get("raiser")
    demand = {
        "_id": demand_id, "source": source,
        "category": data["category"], "title": data["title"],
        "description": data.get("description", ""),
        "channel": data.get("channel"),
        "owner_unit_id": data["owner_unit_id"],
        "received_by_unit_id": data["owner_unit_id"],
        "member_id": data.get("member_id"), "branch_id": branch_id,
        "activity_id": data.get("activity_id"),
        "campaign_id": data.get("campaign_id"),
        "raiser_enc": (rules.sealer.seal(json.dumps(raiser, ensure_ascii=False))
                       if raiser else None),
        "raiser_masked": ({"name": mask_name(raiser["name"]),
                           "phone": mask_phone(raiser.get("phone"))}
                          if raiser else None),
        "raised_at": data["raised_at"], "status": domain.RECEIVED,
        "previous_status": None, "deadlines": deadlines,
        "calendar_note": note, "responded_at": None, "resolved_at": None,
        "confirmed_at": None, "on_time_response": None,
        "on_time_resolution": None, "escalations": [], "transfers": [],
        "history": [{"action": "raise", "from": None, "to": domain.RECEIVED,
                     "at": data["raised_at"], "by": source, "note": None}],
        "version": 1, "logged_at": now,
    }
    _schedule(demand, rules)
    _touch_arrival(uow, f"demand:{demand_id}")
    uow.col(DEMANDS).insert_one(demand, session=uow.session)
    uow.emit(ev.DEMAND_RAISED, domain.demand_event_data(demand),
             correlation_id=demand_id)
    return _apply_pending_updates(uow, demand, rules)


def _apply_pending_updates(uow, demand, rules):
    """Apply, in time order, the updates that arrived before the demand. One
    that the status machine refuses is kept with its reason."""
    pending = list(uow.col(PENDING_UPDATES).find(
        {"demand_id": demand["_id"]}, sort=[("at", ASCENDING)],
        session=uow.session))
    for update in pending:
        try:
            demand = act_on_demand(
                uow, demand["_id"], update["action"], by=update["source"],
                at=update["at"], rules=rules, note=update.get("note"),
                reason=update.get("reason"),
                to_unit_id=update.get("to_unit_id"))
        except DomainError as exc:
            uow.col(PENDING_UPDATES).update_one(
                {"_id": update["_id"]},
                {"$set": {"refused": f"{exc.code}: {exc.message}",
                          "demand_id": f"refused:{demand['_id']}"}},
                session=uow.session)
            continue
        uow.col(PENDING_UPDATES).delete_one({"_id": update["_id"]},
                                            session=uow.session)
    return demand


def act_on_demand(uow, demand_id, action, *, by, at, rules, note=None,
                  reason=None, to_unit_id=None):
    """A status change (or a transfer) under the status machine."""
    demand = uow.col(DEMANDS).find_one({"_id": demand_id},
                                       session=uow.session)
    if demand is None:
        raise NotFound("未找到该诉求", code="unknown_demand")
    changed = domain.apply_action(
        demand, action, now=at, by=by, note=note, reason=reason,
        to_unit_id=to_unit_id, calendar=rules.calendar,
        tz_name=rules.timezone, overrides=rules.deadline_overrides)
    _schedule(changed, rules)
    changed["version"] = demand.get("version", 1) + 1
    replaced = uow.col(DEMANDS).replace_one(
        {"_id": demand_id, "version": demand.get("version", 1)}, changed,
        session=uow.session)
    if replaced.matched_count != 1:
        raise Conflict("诉求已被同时修改，请重试", code="concurrent_update")
    raiser = None
    if changed["status"] == domain.RESOLVED and action != "transfer" and \
            changed.get("raiser_enc"):
        raiser = json.loads(rules.sealer.open(changed["raiser_enc"]))
    data = domain.demand_event_data(changed, raiser)
    data["action"] = action
    if action == "transfer":
        data["transfer"] = {k: changed["transfers"][-1][k]
                            for k in ("from_unit_id", "to_unit_id", "reason")}
    uow.emit(ev.DEMAND_STATUS_CHANGED, data, correlation_id=demand_id)
    return changed


def _apply_demand_raised(uow, envelope, *, now, rules):
    demand = raise_demand(uow, envelope["data"], source=envelope["source"],
                          now=now, rules=rules)
    return {"demand_id": demand["_id"], "status": demand["status"],
            "deadlines": {k: v.isoformat()
                          for k, v in demand["deadlines"].items()}}


def _apply_demand_updated(uow, envelope, *, now, rules):
    data = envelope["data"]
    at = data.get("at") or envelope["occurred_at"]
    if uow.col(DEMANDS).find_one({"_id": data["demand_id"]}, {"_id": 1},
                                 session=uow.session) is None:
        _touch_arrival(uow, f"demand:{data['demand_id']}")
    if uow.col(DEMANDS).find_one({"_id": data["demand_id"]}, {"_id": 1},
                                 session=uow.session) is None:
        # Out of order: kept until its demand.raised arrives.
        uow.col(PENDING_UPDATES).insert_one(dict(
            data, _id=f"{envelope['source']}:{envelope['event_id']}",
            at=at, source=envelope["source"], received_at=now),
            session=uow.session)
        return {"demand_id": data["demand_id"], "status": "pending",
                "waiting_for": "demand.raised"}
    demand = act_on_demand(
        uow, data["demand_id"], data["action"], by=envelope["source"],
        at=at, rules=rules,
        note=data.get("note"), reason=data.get("reason"),
        to_unit_id=data.get("to_unit_id"))
    return {"demand_id": demand["_id"], "status": demand["status"],
            "owner_unit_id": demand["owner_unit_id"]}


def demands_due(db, now, limit=200):
    """Ids of demands with an escalation due (indexed)."""
    return [d["_id"] for d in db[DEMANDS].find(
        {"next_escalation_at": {"$lte": now}}, {"_id": 1},
        sort=[("next_escalation_at", ASCENDING)], limit=limit)]


def escalate(uow, demand_id, *, now, rules):
    """Raise every escalation due for one demand, each a ``demand.overdue``."""
    demand = uow.col(DEMANDS).find_one({"_id": demand_id},
                                       session=uow.session)
    if demand is None:
        return []
    steps = domain.due_escalations(demand, now, rules.calendar,
                                   rules.timezone)
    if not steps:
        _schedule(demand, rules)
        uow.col(DEMANDS).update_one(
            {"_id": demand_id},
            {"$set": {"next_escalation_at": demand["next_escalation_at"]}},
            session=uow.session)
        return []
    demand["escalations"] = list(demand.get("escalations", [])) + steps
    _schedule(demand, rules)
    updated = uow.col(DEMANDS).update_one(
        {"_id": demand_id, "version": demand["version"]},
        {"$set": {"escalations": demand["escalations"],
                  "next_escalation_at": demand["next_escalation_at"],
                  "overdue": demand["overdue"],
                  "escalation_level": demand["escalation_level"],
                  "version": demand["version"] + 1}}, session=uow.session)
    if updated.matched_count != 1:
        raise Conflict("诉求已被同时修改", code="concurrent_update")
    unit = uow.col(UNITS).find_one({"_id": demand["owner_unit_id"]},
                                   session=uow.session) or {}
    for step in steps:
        uow.emit(ev.DEMAND_OVERDUE, domain.overdue_event_data(
            demand, step, unit.get("leader_member_id")),
            correlation_id=demand_id)
    return steps


def get_demand(db, demand_id):
    demand = db[DEMANDS].find_one({"_id": demand_id})
    if demand is None:
        raise NotFound("未找到该诉求")
    return demand


# -- business indicators -------------------------------------------------------


def _apply_kpi(uow, envelope, **_):
    data = envelope["data"]
    key = ":".join((data["subject_type"], data["subject_id"], data["period"],
                    data["indicator"]))
    existing = uow.col(KPIS).find_one({"_id": key}, session=uow.session)
    if existing is not None and existing["as_of"] > envelope["occurred_at"]:
        return {"kpi_id": key, "applied": False, "reason": "stale"}
    uow.col(KPIS).replace_one(
        {"_id": key}, dict(data, _id=key, as_of=envelope["occurred_at"],
                           source=envelope["source"]),
        upsert=True, session=uow.session)
    uow.emit(ev.KPI_RECORDED, dict(data, source=envelope["source"]),
             correlation_id=key)
    return {"kpi_id": key, "applied": True}


APPLY = {
    "directory.unit": _apply_unit,
    "directory.division": _apply_division,
    "directory.branch": _apply_branch,
    "directory.member": _apply_member,
    "directory.recipient": _apply_recipient,
    "activity.service": _apply_service_activity,
    "activity.party": _apply_party_activity,
    "demand.raised": _apply_demand_raised,
    "demand.updated": _apply_demand_updated,
    "kpi.business": _apply_kpi,
}


# -- the ingest contract, many envelopes in one transaction -------------------


class ItemFailed(Exception):
    """Envelope ``position`` of a batch was refused (``error``) after it had
    written: the transaction must be aborted. What came before it and what
    comes after it are applied again without it, which is what applying
    them one by one would have done."""

    def __init__(self, position, error):
        self.position = position
        self.error = error
        super().__init__(f"item {position}: {error}")


def _in_bulk(envelope):
    """The frequent kinds, applied in bulk: activities (service ones without
    demands, Party-building ones). Every other kind goes through its
    ``APPLY`` function, in its place in the batch."""
    if envelope["type"] == "activity.service":
        return not envelope["data"].get("demands")
    return envelope["type"] == "activity.party"


def ingest_many(uow, envelopes, *, via, now, rules):
    """Apply validated envelopes, in order, in one transaction, with the
    results, answers, documents and events of applying them one by one with
    ``ingest``, in a number of statements that hardly grows with the batch.

    Receipts are read with one ``$in`` and written, with their results, in
    one insert_many at the end; a repeat of an envelope (stored earlier or
    earlier in the batch) is a duplicate with the earlier result. Runs of
    consecutive bulk envelopes are prefetched and inserted together
    (``_apply_bulk``); the other kinds are applied one at a time between
    runs, so each envelope sees what those before it wrote.

    Returns one outcome per envelope: ("accepted", result), ("duplicate",
    earlier result) or ("rejected", DomainError) for a bulk envelope refused
    before anything of it was written. A refusal after writing raises
    ``ItemFailed``."""
    ids = [receipt_id(envelope) for envelope in envelopes]
    done = {doc["_id"]: doc.get("result") for doc in find_in(
        uow.col(RECEIPTS), "_id", ids, {"result": 1}, uow.session)}
    outcomes = [None] * len(envelopes)
    receipts = []
    run, run_ids = [], set()
    sealer = rules.sealer

    def accept(position, result):
        done[ids[position]] = result
        receipts.append(dict(_receipt(envelopes[position], via, now),
                             result=result))
        outcomes[position] = ("accepted", result)

    def apply_run():
        if not run:
            return
        applied = _apply_bulk(uow, [envelopes[p] for p in run], now=now,
                              sealer=sealer)
        for position, (status, value) in zip(run, applied):
            if status == "accepted":
                accept(position, value)
            else:
                outcomes[position] = (status, value)
        run.clear()
        run_ids.clear()

    for position, envelope in enumerate(envelopes):
        if ids[position] in run_ids:
            apply_run()  # a repeat: whether it is a duplicate depends on that
        if ids[position] in done:
            outcomes[position] = ("duplicate", done[ids[position]])
        elif _in_bulk(envelope):
            run.append(position)
            run_ids.add(ids[position])
        else:
            apply_run()
            uow.correlation_id = envelope.get("correlation_id")
            try:
                result = APPLY[envelope["type"]](uow, envelope, now=now,
                                                 rules=rules)
            except DomainError as exc:
                raise ItemFailed(position, exc) from exc
            accept(position, result)
    apply_run()
    if receipts:
        uow.col(RECEIPTS).insert_many(receipts, ordered=True,
                                      session=uow.session)
    return outcomes


def _find_by_ids(uow, collection, ids, projection=None):
    ids = [i for i in ids if i is not None]
    return {doc["_id"]: doc for doc in find_in(
        uow.col(collection), "_id", ids, projection, uow.session)}


def _apply_bulk(uow, envelopes, *, now, sealer):
    """Activities as ``_apply_service_activity`` (without demands) and
    ``_apply_party_activity`` would apply them one after the other: what
    they read is read once with ``$in``, the documents are built in memory
    and inserted with one insert_many. Nothing written before this run is
    changed by it, except the arrival documents of awaited members.

    Returns ("accepted", result) or ("rejected", Conflict) per envelope."""
    activity_ids = [envelope["data"]["activity_id"] for envelope in envelopes]
    taken = set(_find_by_ids(uow, ACTIVITIES, activity_ids, {"_id": 1}))
    refused = {}
    for position, activity_id in enumerate(activity_ids):
        if activity_id in taken:
            refused[position] = _activity_exists()
        taken.add(activity_id)
    fresh = [envelope for position, envelope in enumerate(envelopes)
             if position not in refused]
    services = [e["data"] for e in fresh if e["type"] == "activity.service"]
    parties = [e["data"] for e in fresh if e["type"] == "activity.party"]

    members = _find_by_ids(uow, MEMBERS, [d["member_id"] for d in services])
    awaited = [d["member_id"] for d in services
               if d["member_id"] not in members]
    if awaited:
        # As one by one: touch each awaited member's arrival document (a
        # racing directory.member then conflicts), then look again.
        uow.col(ARRIVALS).bulk_write(
            [UpdateOne({"_id": f"member:{member_id}"},
                       {"$inc": {"touched": 1}}, upsert=True)
             for member_id in awaited], ordered=True, session=uow.session)
        members.update(_find_by_ids(uow, MEMBERS, awaited))
    recipients = _find_by_ids(
        uow, RECIPIENTS, [_known_recipient_id(e) for e in fresh
                          if e["type"] == "activity.service"])
    branches = _find_by_ids(uow, BRANCHES, [d["branch_id"] for d in parties])
    expected = {}
    for data in parties:
        if data.get("expected") is None and data["branch_id"] not in expected:
            expected[data["branch_id"]] = _expected_members(
                uow, data["branch_id"])

    outcomes, documents = [], []
    for position, envelope in enumerate(envelopes):
        if position in refused:
            outcomes.append(("rejected", refused[position]))
            continue
        data = envelope["data"]
        uow.correlation_id = envelope.get("correlation_id")
        if envelope["type"] == "activity.party":
            activity = _new_party_activity(
                envelope, branches.get(data["branch_id"]),
                expected.get(data["branch_id"]), now)
            uow.emit(ev.PARTY_ACTIVITY_LOGGED,
                     domain.party_event_data(activity),
                     correlation_id=activity["_id"])
            result = _party_result(activity)
        else:
            activity, phone = _new_service_activity(
                envelope, recipients.get(_known_recipient_id(envelope)),
                sealer, now)
            member = members.get(data["member_id"])
            if member is None:
                result = {"activity_id": activity["_id"],
                          "member_linked": False}
            else:
                activity.update(_link_changes(activity, member, now))
                uow.emit(ev.ACTIVITY_LOGGED,
                         domain.activity_event_data(activity, phone),
                         correlation_id=activity["_id"])
                result = {"activity_id": activity["_id"],
                          "member_linked": True, "demand_ids": []}
        documents.append(activity)
        outcomes.append(("accepted", result))
    if documents:
        uow.col(ACTIVITIES).insert_many(documents, ordered=True,
                                        session=uow.session)
    return outcomes


# -- staff queries ---------------------------------------------------------------


def _period(query, field):
    span = {}
    if query.get("since"):
        span["$gte"] = query["since"]
    if query.get("until"):
        span["$lt"] = query["until"]
    return {field: span} if span else {}


# Most selective first: the one field the store walks an index for.
ACTIVITY_PRIORITY = ("member_ids", "branch_id", "unit_id", "campaign_id",
                     "category", "type")
DEMAND_PRIORITY = ("member_id", "branch_id", "owner_unit_id", "campaign_id",
                   "status", "category", "overdue")


def plan_query(criteria, priority, order_field):
    """Split a filter into what the store gets (one indexed field, plus the
    period on the same compound index) and the residual equality clauses.

    The embedded store uses an index only for one field, an exact compound
    equality or an equality prefix plus one range, so a combined filter is
    served by the most selective index and the rest is checked here."""
    store = {}
    primary = next((k for k in priority if k in criteria), None)
    if primary is not None:
        store[primary] = criteria[primary]
    if order_field in criteria:
        store[order_field] = criteria[order_field]
    residual = {k: v for k, v in criteria.items() if k not in store}
    return store, residual


def _matches(doc, residual):
    for key, wanted in residual.items():
        value = doc.get(key)
        if isinstance(value, list):
            if wanted not in value:
                return False
        elif value != wanted:
            return False
    return True


def _page(col, criteria, priority, order_field, query):
    store, residual = plan_query(criteria, priority, order_field)
    sort = [(order_field, DESCENDING)]
    skip, limit = (query["page"] - 1) * query["per_page"], query["per_page"]
    if residual:
        matched = [doc for doc in col.find(store, sort=sort)
                   if _matches(doc, residual)]
        items, total = matched[skip:skip + limit], len(matched)
    else:
        items = list(col.find(store, sort=sort, skip=skip, limit=limit))
        total = col.count_documents(store)
    return {"items": items, "total": total, "page": query["page"],
            "per_page": query["per_page"]}


def activity_filter(query):
    criteria = {}
    if query.get("member_id"):
        criteria["member_ids"] = query["member_id"]
    for key in ("unit_id", "branch_id", "category", "campaign_id", "type"):
        if query.get(key):
            criteria[key] = query[key]
    criteria.update(_period(query, "occurred_at"))
    return criteria


def list_activities(db, query):
    return _page(db[ACTIVITIES], activity_filter(query), ACTIVITY_PRIORITY,
                 "occurred_at", query)


def demand_filter(query):
    criteria = {}
    if query.get("unit_id"):
        criteria["owner_unit_id"] = query["unit_id"]
    for key in ("branch_id", "member_id", "category", "campaign_id",
                "status"):
        if query.get(key):
            criteria[key] = query[key]
    if query.get("overdue") is not None:
        criteria["overdue"] = query["overdue"]
    criteria.update(_period(query, "raised_at"))
    return criteria


def list_demands(db, query):
    return _page(db[DEMANDS], demand_filter(query), DEMAND_PRIORITY,
                 "raised_at", query)


# -- campaigns (主题活动) ----------------------------------------------------------


def create_campaign(uow, data, now):
    campaign = {"_id": data["campaign_id"], "title": data["title"],
                "starts_on": data["starts_on"].isoformat(),
                "ends_on": data["ends_on"].isoformat(),
                "unit_ids": data["unit_ids"], "target": data["target"],
                "created_at": now}
    try:
        uow.col(CAMPAIGNS).insert_one(campaign, session=uow.session)
    except DuplicateKeyError:
        raise Conflict("该主题活动已存在", code="campaign_exists")
    return campaign


def get_campaign(db, campaign_id):
    campaign = db[CAMPAIGNS].find_one({"_id": campaign_id})
    if campaign is None:
        raise NotFound("未找到该主题活动")
    return campaign


def list_campaigns(db):
    return list(db[CAMPAIGNS].find({}, sort=[("starts_on", DESCENDING)],
                                   limit=200))


def campaign_progress(db, campaign):
    members = []
    for unit_id in campaign["unit_ids"]:
        members.extend(m for m in db[MEMBERS].find(
            {"unit_id": unit_id}, {"_id": 1, "unit_id": 1, "active": 1})
            if m.get("active", True))
    activities = list(db[ACTIVITIES].find(
        {"campaign_id": campaign["_id"]},
        {"member_ids": 1, "category": 1, "kind": 1, "type": 1,
         "occurred_at": 1}))
    activities = [a for a in activities if a.get("type") != domain.PARTY]
    return domain.campaign_progress(campaign, members, activities)
