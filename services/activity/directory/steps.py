"""Use cases of the directory, each inside the ingest's unit of work
(``uow.repo`` a ``DirectoryRepository``; a member's arrival also needs the
activity log's storage, as ``services.activity.repository`` combines them)."""

from sifuwu import events as ev
from services.activity import ownership
from services.activity.activities import steps as activity_steps
from services.activity.directory import domain


def upsert_record(uow, kind, record_id, record, envelope, public):
    """Keep the newest version of a directory record (by ``occurred_at``)
    and announce it; an older event arriving late changes nothing, and
    only the source that created the record may change it (``not_owner``).
    Returns (result, the stored record)."""
    existing = uow.repo.get_record(kind, record_id)
    ownership.check_owner(existing, envelope["source"],
                          domain.record_label(kind, record_id))
    as_of = envelope["occurred_at"]
    if domain.is_stale(existing, as_of):
        return {"kind": kind, "id": record_id, "applied": False,
                "reason": "stale"}, existing
    doc = dict(record, _id=record_id, as_of=as_of,
               source=envelope["source"])
    uow.repo.put_record(kind, doc)
    uow.emit(ev.DIRECTORY_CHANGED,
             domain.directory_event_data(kind, record_id, public),
             correlation_id=record_id)
    return {"kind": kind, "id": record_id, "applied": True}, doc


def _apply_plain(kind, key):
    def apply(uow, envelope, **_):
        data = dict(envelope["data"])
        record_id = data.pop(key)
        result, _ = upsert_record(uow, kind, record_id, data, envelope,
                                  dict(data, **{key: record_id}))
        return result
    apply.__name__ = f"apply_{kind}"
    return apply


apply_unit = _apply_plain("unit", "unit_id")
apply_division = _apply_plain("division", "division_id")
apply_branch = _apply_plain("branch", "branch_id")


def apply_member(uow, envelope, *, now, rules):
    data = dict(envelope["data"])
    member_id = data.pop("member_id")
    record, public = domain.member_record(member_id, data, rules.sealer,
                                          rules.contact)
    uow.repo.touch_arrival(f"member:{member_id}")
    result, member = upsert_record(uow, "member", member_id, record,
                                   envelope, public)
    # Out-of-order arrival: activities that named this member before it was
    # known are linked now and announced.
    result["linked_activities"] = activity_steps.link_waiting_activities(
        uow, member, now=now, rules=rules)
    return result


def apply_recipient(uow, envelope, *, rules, **_):
    data = dict(envelope["data"])
    recipient_id = data.pop("recipient_id")
    record, public = domain.recipient_record(recipient_id, data,
                                             rules.sealer)
    result, _ = upsert_record(uow, "recipient", recipient_id, record,
                              envelope, public)
    return result
