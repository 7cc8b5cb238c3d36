"""Use cases of the activity log, each inside one unit of work: check the
rule, write, emit. ``uow.repo`` is an ``ActivityLogRepository``; the ingested
kinds also read the directory and raise demands, so the ingest runs them
with the repository that combines every sub-domain's
(``services.activity.repository.ActivityRepository``)."""

from sifuwu import events as ev
from services.activity.activities import domain
from services.activity.demands import steps as demand_steps


def log_activity(uow, data, *, activity_id, now, rules):
    """Store an activity logged by staff and stage ``activity.logged``."""
    activity, phone = domain.staff_activity(data, activity_id, rules.sealer,
                                            now)
    uow.repo.insert_activity(activity)
    uow.emit(ev.ACTIVITY_LOGGED,
             domain.activity_event_data(activity, rules.contact(phone),
                                        rules.tz),
             correlation_id=activity["_id"])
    return activity


def get_activity(repo, activity_id):
    return repo.get_activity(activity_id)


def list_activities(repo, query):
    return repo.list_activities(query)


# -- ingested activities ------------------------------------------------------


def apply_service_activity(uow, envelope, *, now, rules):
    """activity.service: stored at once; announced (and its demands raised)
    once its member is known, now or when the member arrives."""
    repo = uow.repo
    data = envelope["data"]
    activity_id = data["activity_id"]
    if repo.activity_taken(activity_id):
        raise domain.activity_exists()
    known_id = domain.known_recipient_id(envelope)
    known = repo.recipient(known_id) if known_id else None
    activity, phone = domain.new_service_activity(envelope, known,
                                                  rules.sealer, now)
    demands = activity["pending_demands"]
    member = repo.member(data["member_id"])
    if member is None:
        repo.touch_arrival(f"member:{data['member_id']}")
        member = repo.member(data["member_id"])
    repo.insert_activity(activity)
    if member is None:
        return {"activity_id": activity_id, "member_linked": False}
    complete_activity(uow, activity, member, phone, now=now, rules=rules)
    return {"activity_id": activity_id, "member_linked": True,
            "demand_ids": [d["demand_id"] for d in demands]}


def complete_activity(uow, activity, member, phone, *, now, rules):
    """Link an activity to its (now known) member, announce it and raise the
    demands recorded during it."""
    changes = domain.link_changes(activity, member, now)
    uow.repo.update_activity(activity["_id"], changes)
    linked = dict(activity, **changes)
    uow.emit(ev.ACTIVITY_LOGGED,
             domain.activity_event_data(linked, rules.contact(phone),
                                        rules.tz),
             correlation_id=linked["_id"])
    demands = activity.get("pending_demands") or []
    for data in domain.demands_raised_in(linked, demands, phone):
        demand_steps.raise_demand(uow, data, source=linked.get("source"),
                                  now=now, rules=rules)


def link_waiting_activities(uow, member, *, now, rules):
    """Link and announce the activities that waited for ``member``."""
    waiting = uow.repo.waiting_for(member["_id"])
    for activity in waiting:
        enc = activity["recipient"].get("phone_enc")
        phone = rules.sealer.open(enc) if enc else None
        complete_activity(uow, activity, member, phone, now=now, rules=rules)
    return [a["_id"] for a in waiting]


def apply_party_activity(uow, envelope, *, now, rules, **_):
    repo = uow.repo
    data = envelope["data"]
    if repo.activity_taken(data["activity_id"]):
        raise domain.activity_exists()
    branch = repo.branch(data["branch_id"])
    expected = domain.active_ids(repo.branch_members(data["branch_id"])) \
        if data.get("expected") is None else None
    activity = domain.new_party_activity(envelope, branch, expected, now)
    repo.insert_activity(activity)
    uow.emit(ev.PARTY_ACTIVITY_LOGGED,
             domain.party_event_data(activity, rules.tz),
             correlation_id=activity["_id"])
    return domain.party_result(activity)


def in_bulk(envelope):
    """The frequent kinds, applied in bulk (``apply_bulk``): service
    activities without demands, Party-building ones."""
    if envelope["type"] == "activity.service":
        return not envelope["data"].get("demands")
    return envelope["type"] == "activity.party"


def apply_bulk(uow, envelopes, *, now, rules):
    """Activities as ``apply_service_activity`` (without demands) and
    ``apply_party_activity`` would apply them one after the other: what
    they read is read once with ``$in``, the documents are built in memory
    and inserted with one insert_many. Nothing written before this run is
    changed by it, except the arrival documents of awaited members.

    Returns ("accepted", result) or ("rejected", Conflict) per envelope."""
    repo = uow.repo
    sealer = rules.sealer
    activity_ids = [envelope["data"]["activity_id"] for envelope in envelopes]
    taken = repo.activities_taken(activity_ids)
    refused = {}
    for position, activity_id in enumerate(activity_ids):
        if activity_id in taken:
            refused[position] = domain.activity_exists()
        taken.add(activity_id)
    fresh = [envelope for position, envelope in enumerate(envelopes)
             if position not in refused]
    services = [e["data"] for e in fresh if e["type"] == "activity.service"]
    parties = [e["data"] for e in fresh if e["type"] == "activity.party"]

    members = repo.members([d["member_id"] for d in services])
    awaited = [d["member_id"] for d in services
               if d["member_id"] not in members]
    if awaited:
        # As one by one: touch each awaited member's arrival document (a
        # racing directory.member then conflicts), then look again.
        repo.touch_arrivals([f"member:{member_id}" for member_id in awaited])
        members.update(repo.members(awaited))
    recipients = repo.recipients([domain.known_recipient_id(e) for e in fresh
                                  if e["type"] == "activity.service"])
    branches = repo.branches([d["branch_id"] for d in parties])
    expected = {}
    for data in parties:
        if data.get("expected") is None and data["branch_id"] not in expected:
            expected[data["branch_id"]] = domain.active_ids(
                repo.branch_members(data["branch_id"]))

    outcomes, documents = [], []
    for position, envelope in enumerate(envelopes):
        if position in refused:
            outcomes.append(("rejected", refused[position]))
            continue
        data = envelope["data"]
        uow.correlation_id = envelope.get("correlation_id")
        if envelope["type"] == "activity.party":
            activity = domain.new_party_activity(
                envelope, branches.get(data["branch_id"]),
                expected.get(data["branch_id"]), now)
            uow.emit(ev.PARTY_ACTIVITY_LOGGED,
                     domain.party_event_data(activity, rules.tz),
                     correlation_id=activity["_id"])
            result = domain.party_result(activity)
        else:
            activity, phone = domain.new_service_activity(
                envelope, recipients.get(domain.known_recipient_id(envelope)),
                sealer, now)
            member = members.get(data["member_id"])
            if member is None:
                result = {"activity_id": activity["_id"],
                          "member_linked": False}
            else:
                activity.update(domain.link_changes(activity, member, now))
                uow.emit(ev.ACTIVITY_LOGGED,
                         domain.activity_event_data(
                             activity, rules.contact(phone), rules.tz),
                         correlation_id=activity["_id"])
                result = {"activity_id": activity["_id"],
                          "member_linked": True, "demand_ids": []}
        documents.append(activity)
        outcomes.append(("accepted", result))
    if documents:
        repo.insert_activities(documents)
    return outcomes
