"""Persistence of the notify service: messages (the outbox of deliveries),
the contact book, preferences, skipped deliveries and the public board feed.

Contact data (phones, emails, WeChat openids, names) is stored only
encrypted (``*_enc``), with a keyed hash to find it and a masked form to show.
"""

import datetime as dt
import logging
import re
import uuid

from pymongo import (
    ASCENDING, DESCENDING, IndexModel, ReturnDocument, UpdateOne,
)

from sifuwu.errors import Conflict, NotFound
from sifuwu.privacy import (
    Sealer, contact_hash, mask_name, mask_phone, mask_text,
)
from services.notify import domain, routing

log = logging.getLogger(__name__)

MESSAGES = "messages"
CONTACTS = "contacts"
PREFERENCES = "preferences"
SKIPS = "skips"
BOARD = "board_items"

INDEXES = {
    MESSAGES: [
        IndexModel([("to_hash", ASCENDING), ("created_at", DESCENDING)],
                   name="by_recipient"),
        IndexModel([("recipient", ASCENDING), ("created_at", DESCENDING)],
                   name="by_recipient_key"),
        IndexModel([("status", ASCENDING), ("created_at", ASCENDING)],
                   name="by_status"),
        IndexModel([("status", ASCENDING), ("next_at", ASCENDING)],
                   name="sweeper"),
        IndexModel([("channel", ASCENDING), ("created_at", DESCENDING)],
                   name="by_channel"),
        IndexModel([("event_type", ASCENDING), ("created_at", DESCENDING)],
                   name="by_event_type"),
        IndexModel([("event_id", ASCENDING)], name="by_event"),
        IndexModel([("created_at", DESCENDING)], name="by_created"),
        # guarded updates by id (SecantusDB uses an index for id + one
        # range or exact compound equality, never id + other conditions)
        IndexModel([("_id", ASCENDING), ("next_at", ASCENDING)],
                   name="claim_due"),
    ],
    CONTACTS: [
        IndexModel([("roles", ASCENDING)], name="by_role"),
        IndexModel([("unit_id", ASCENDING), ("roles", ASCENDING)],
                   name="by_unit_role"),
    ],
    SKIPS: [
        IndexModel([("event_id", ASCENDING)], name="skips_by_event"),
        IndexModel([("at", DESCENDING)], name="skips_by_time"),
    ],
    BOARD: [
        IndexModel([("published_at", DESCENDING)], name="board_recent"),
    ],
}


def mask_address(channel, address):
    """How an address is shown to operators and in logs."""
    if not address:
        return address
    if channel == "sms":
        return mask_phone(address)
    if channel == "email":
        local, _, domain_part = address.partition("@")
        return (local[:1] + "***@" + domain_part) if domain_part else "***"
    if channel == "wechat":
        return address[:4] + "****" if len(address) > 4 else "****"
    return address


EMAIL_RE = re.compile(r"([\w.+-])[\w.+-]*@([\w-]+(\.[\w-]+)+)")


def mask_reason(reason):
    """Mask phones and emails inside a failure reason."""
    if not reason:
        return reason
    return EMAIL_RE.sub(r"\1***@\2", mask_text(reason))


# -- contact book (通讯录) -----------------------------------------------------

CONTACT_FIELDS = {"sms": ("phone", "mobile"),
                  "email": ("email",),
                  "wechat": ("wechat_openid", "openid")}


def contact_document(kind, ref_id, record, *, secret, now):
    """A contact-book entry from a ``directory.changed`` record; contacts
    sealed, hashed and masked, never in clear."""
    sealer = Sealer(secret)
    record = record or {}
    roles = record.get("roles") or []
    if isinstance(roles, str):
        roles = [roles]
    roles = list(roles)
    if record.get("role") and record["role"] not in roles:
        roles.append(record["role"])
    if (record.get("supervision") or record.get("is_supervision_office")) \
            and "supervision" not in roles:
        roles.append("supervision")
    doc = {
        "_id": f"{kind}:{ref_id}",
        "kind": kind,
        "ref_id": ref_id,
        "unit_id": record.get("unit_id") or (ref_id if kind == "unit"
                                             else None),
        "leader_id": record.get("leader_member_id") or record.get(
            "leader_id"),
        "roles": roles,
        "active": record.get("active", True) is not False,
        "updated_at": now,
        "addresses": {},
    }
    name = record.get("name")
    if name:
        doc["name_enc"] = sealer.seal(name)
        doc["name_masked"] = name if kind == "unit" else mask_name(name)
    for channel, keys in CONTACT_FIELDS.items():
        value = next((record[k] for k in keys if record.get(k)), None)
        if value:
            value = str(value).strip()
            doc["addresses"][channel] = {
                "enc": sealer.seal(value),
                "hash": contact_hash(secret, value),
                "masked": mask_address(channel, value),
            }
    return doc


def upsert_contact(uow, kind, ref_id, record, *, secret, now, as_of=None):
    """Merge a record into the contact book: fields the record carries
    replace the stored ones; an address it does not carry is kept (so a
    directory update without contacts does not erase what staff entered).
    A directory record older (``as_of``) than the stored one changes
    nothing: events may arrive out of order."""
    doc = contact_document(kind, ref_id, record, secret=secret, now=now)
    if as_of is not None:
        existing = uow.col(CONTACTS).find_one({"_id": doc["_id"]},
                                              session=uow.session)
        if existing is not None and existing.get("as_of") and \
                existing["as_of"] > as_of:
            return existing
        doc["as_of"] = as_of
    fields = {k: v for k, v in doc.items()
              if k not in ("_id", "addresses") and (
                  v not in (None, []) or k in ("active",))}
    if "roles" not in (record or {}) and "role" not in (record or {}) \
            and "supervision" not in doc["roles"]:
        fields.pop("roles", None)
    for channel, address in doc["addresses"].items():
        fields[f"addresses.{channel}"] = address
    uow.col(CONTACTS).update_one(
        {"_id": doc["_id"]},
        {"$set": fields, "$setOnInsert": {"created_at": now}},
        upsert=True, session=uow.session)
    return uow.col(CONTACTS).find_one({"_id": doc["_id"]},
                                      session=uow.session)


def _open_contact(doc, sealer):
    addresses = {channel: sealer.open(item["enc"])
                 for channel, item in (doc.get("addresses") or {}).items()}
    name = sealer.open(doc["name_enc"]) if doc.get("name_enc") else None
    return {"key": doc["_id"], "name": name, "contacts": addresses}


def resolve(db, ref, *, secret, session=None):
    """People behind a contact-book reference: ``member:<id>``,
    ``unit:<id>``, ``leader:<unit id>`` (the unit's leader),
    ``role:<role>`` (e.g. the supervision office, 督查室)."""
    sealer = Sealer(secret)
    contacts = db[CONTACTS]
    kind, _, ident = ref.partition(":")
    found = []
    if kind in ("member", "unit", "recipient", "branch", "division"):
        doc = contacts.find_one({"_id": ref}, session=session)
        found = [doc] if doc else []
    elif kind == "leader":
        unit = contacts.find_one({"_id": f"unit:{ident}"}, session=session)
        if unit and unit.get("leader_id"):
            doc = contacts.find_one({"_id": f"member:{unit['leader_id']}"},
                                    session=session)
            found = [doc] if doc else []
        if not found:
            found = list(contacts.find(
                {"unit_id": ident,
                 "roles": {"$in": ["unit_leader", "leader"]}},
                session=session))
    elif kind == "role":
        found = list(contacts.find({"roles": ident}, session=session))
    return [_open_contact(doc, sealer) for doc in found
            if doc.get("active", True)]


# -- preferences (接收偏好) ----------------------------------------------------

def get_preference(db, recipient, session=None):
    return db[PREFERENCES].find_one({"_id": recipient}, session=session)


def get_preferences(db, recipients, session=None):
    """{recipient: stored preference} for those who have one (one read)."""
    recipients = list(recipients)
    if not recipients:
        return {}
    return {doc["_id"]: doc for doc in db[PREFERENCES].find(
        {"_id": {"$in": recipients}}, session=session)}


def set_preference(db, recipient, changes, now):
    update = {"updated_at": now}
    for key in ("channels", "opt_out_non_essential"):
        if key in changes and changes[key] is not None:
            update[key] = changes[key]
    return db[PREFERENCES].find_one_and_update(
        {"_id": recipient}, {"$set": update,
                             "$setOnInsert": {"created_at": now}},
        upsert=True, return_document=ReturnDocument.AFTER)


# -- messages -----------------------------------------------------------------

def insert_planned(uow, messages, skips):
    """Store new messages and skip records; an id that exists already is
    left alone (idempotency key per event × recipient × channel)."""
    col = uow.col(MESSAGES)
    ids = [m["_id"] for m in messages]
    existing = {doc["_id"] for doc in col.find(
        {"_id": {"$in": ids}}, {"_id": 1}, session=uow.session)} if ids \
        else set()
    new = [m for m in messages if m["_id"] not in existing]
    if new:
        col.insert_many(new, session=uow.session)
    if skips:
        skip_col = uow.col(SKIPS)
        seen = {doc["_id"] for doc in skip_col.find(
            {"_id": {"$in": [s["_id"] for s in skips]}}, {"_id": 1},
            session=uow.session)}
        fresh = [s for s in skips if s["_id"] not in seen]
        if fresh:
            skip_col.insert_many(fresh, session=uow.session)
    return new


def get(db, message_id):
    message = db[MESSAGES].find_one({"_id": message_id})
    if message is None:
        raise NotFound("消息不存在")
    return message


def _history(status, now, **extra):
    entry = {"status": status, "at": now}
    entry.update({k: v for k, v in extra.items() if v is not None})
    return entry


def claim(db, message_id, now, lease_seconds=domain.SEND_LEASE_SECONDS):
    """Take a due message for sending (created / temporary-failure due for
    a retry / sending with an expired lease); None if someone else has it
    or it is not due."""
    claimed = claim_many(db, [message_id], now, uuid.uuid4().hex,
                         lease_seconds)
    return claimed[0] if claimed else None


def claim_many(db, message_ids, now, claim_id,
               lease_seconds=domain.SEND_LEASE_SECONDS):
    """Claim due messages in two statements: one bulk write of guarded
    updates marks each due one ``sending`` under ``claim_id`` (a new id per
    claim), one read returns them; those this claim did not take (not due,
    or taken by another sender) are left out.

    The guard is ``next_at <= now`` on the id: only pending messages carry
    ``next_at`` (created, sending with its lease, temporary failure with
    its retry time; final ones have none). On SecantusDB an id with a
    status condition would scan the collection; id + one range uses the
    ``claim_due`` index."""
    message_ids = list(dict.fromkeys(message_ids))
    if not message_ids:
        return []
    db[MESSAGES].bulk_write([UpdateOne(
        {"_id": message_id, "next_at": {"$lte": now}},
        {"$set": {"status": domain.SENDING, "updated_at": now,
                  "next_at": now + dt.timedelta(seconds=lease_seconds),
                  "claim": claim_id},
         "$inc": {"attempts": 1},
         "$push": {"history": _history(domain.SENDING, now)}})
        for message_id in message_ids], ordered=False)
    return [doc for doc in db[MESSAGES].find({"_id": {"$in": message_ids}})
            if doc.get("claim") == claim_id
            and doc.get("status") == domain.SENDING]


def _outcome_change(message, outcome, now, *, max_attempts, retry_base,
                    retry_cap):
    """($set fields, history entry) recording an adapter's outcome."""
    status = outcome.status
    # A provider may echo the address back: never store it in clear.
    reason = mask_reason(outcome.reason)
    next_at = None
    if status == domain.TEMPORARY_FAILURE:
        status, next_at = domain.after_temporary_failure(
            message.get("attempts", 1), now, max_attempts, retry_base,
            retry_cap)
        if status == domain.PERMANENT_FAILURE:
            reason = f"重试 {message.get('attempts', 1)} 次仍失败: {reason}"
    if not domain.can_move(domain.SENDING, status):
        raise Conflict(f"消息状态不允许转为 {status}")
    fields = {"status": status, "updated_at": now, "next_at": next_at,
              "provider": outcome.provider, "reason": reason}
    if outcome.reference:
        fields["reference"] = outcome.reference
    if status == domain.DELIVERED:
        fields["delivered_at"] = now
    entry = _history(status, now, provider=outcome.provider, reason=reason,
                     tried=outcome.tried or None)
    return fields, entry


def _guard(message):
    """Only the claim that holds the message may record its outcome: its
    lease end as stored identifies it (a claim after the lease has passed
    sets a later one), and id + equality uses the ``claim_due`` index."""
    return {"_id": message["_id"], "next_at": message["next_at"]}


def finish_many(db, results, now, *, max_attempts, retry_base, retry_cap):
    """Record adapters' outcomes on messages in ``sending``, for several
    (message, outcome) pairs in one bulk write, each guarded: only the
    claim that sent it may record it. Returns the updated messages; one
    another sender took over meanwhile (its lease had passed) is left
    alone and not returned (read again only then)."""
    if not results:
        return []
    operations, updated = [], []
    for message, outcome in results:
        fields, entry = _outcome_change(
            message, outcome, now, max_attempts=max_attempts,
            retry_base=retry_base, retry_cap=retry_cap)
        operations.append(UpdateOne(
            _guard(message), {"$set": fields, "$push": {"history": entry}}))
        after = dict(message, **fields)
        after["history"] = list(message.get("history") or []) + [entry]
        updated.append(after)
    written = db[MESSAGES].bulk_write(operations, ordered=False)
    if written.matched_count == len(operations):
        return updated
    current = {doc["_id"]: doc for doc in db[MESSAGES].find(
        {"_id": {"$in": [m["_id"] for m in updated]}},
        {"status": 1, "claim": 1})}
    kept = []
    for message in updated:
        stored = current.get(message["_id"]) or {}
        # the guard held iff nobody claimed it since
        if stored.get("claim") == message["claim"] and \
                stored.get("status") == message["status"]:
            kept.append(message)
        else:
            log.warning("message %s was taken over by another sender; "
                        "its outcome here is not recorded", message["_id"])
    return kept


def due(db, now, limit=100):
    """Ids of messages the sweeper should (re)send now."""
    ids = []
    for status in domain.PENDING:
        for doc in db[MESSAGES].find(
                {"status": status, "next_at": {"$lte": now}}, {"_id": 1},
                sort=[("next_at", ASCENDING)], limit=limit):
            ids.append(doc["_id"])
    return ids[:limit]


def resend(db, message_id, now, by):
    """A failed message sent again, as a new message (the failed one keeps
    its final state)."""
    original = get(db, message_id)
    if original["status"] not in domain.FAILED:
        raise Conflict("只有失败的消息可以重发",
                       code="message_not_failed")
    if original["status"] == domain.TEMPORARY_FAILURE:
        # Due again now: the sweeper's retry, brought forward.
        updated = db[MESSAGES].find_one_and_update(
            {"_id": message_id, "status": domain.TEMPORARY_FAILURE},
            {"$set": {"next_at": now, "updated_at": now},
             "$push": {"history": _history("resend-requested", now,
                                           by=by)}},
            return_document=ReturnDocument.AFTER)
        if updated is None:
            raise Conflict("消息状态已变化，请刷新")
        return updated
    count = db[MESSAGES].count_documents({"resend_of": message_id}) + 1
    copy = {k: v for k, v in original.items()
            if k not in ("history", "reference", "delivered_at", "claim")}
    copy.update({
        "_id": domain.resend_key(message_id, count),
        "resend_of": message_id,
        "resent_by": by,
        "status": domain.CREATED,
        "attempts": 0,
        "provider": None,
        "reason": None,
        "next_at": now,
        "created_at": now,
        "updated_at": now,
        "history": [_history(domain.CREATED, now, by=by)],
    })
    db[MESSAGES].insert_one(copy)
    return copy


def query(db, filters, secret):
    criteria = {}
    if filters.get("to"):
        criteria["to_hash"] = contact_hash(secret, filters["to"])
    if filters.get("recipient"):
        criteria["recipient"] = filters["recipient"]
    if filters.get("event"):
        # A routed event type (demand.overdue), else an event id.
        key = "event_type" if filters["event"] in routing.BY_EVENT \
            else "event_id"
        criteria[key] = filters["event"]
    for key in ("channel", "status"):
        if filters.get(key):
            criteria[key] = filters[key]
    period = {}
    if filters.get("since"):
        period["$gte"] = filters["since"]
    if filters.get("until"):
        period["$lt"] = filters["until"]
    if period:
        criteria["created_at"] = period
    return list(db[MESSAGES].find(criteria).sort("created_at", DESCENDING)
                .limit(filters.get("limit") or 50))


def stats(db, since=None, until=None):
    """Counts per channel × provider × status within the period."""
    criteria = {}
    period = {}
    if since:
        period["$gte"] = since
    if until:
        period["$lt"] = until
    if period:
        criteria["created_at"] = period
    table = {}
    for doc in db[MESSAGES].find(
            criteria, {"channel": 1, "provider": 1, "status": 1,
                       "attempts": 1, "segments": 1}):
        key = (doc.get("channel"), doc.get("provider") or "-")
        row = table.setdefault(key, {
            "channel": key[0], "provider": key[1], "total": 0,
            "attempts": 0, "sms_segments": 0,
            "statuses": {s: 0 for s in domain.STATUSES}})
        row["total"] += 1
        row["attempts"] += doc.get("attempts") or 0
        if doc.get("status") == domain.DELIVERED:
            row["sms_segments"] += doc.get("segments") or 0
        row["statuses"][doc.get("status")] = row["statuses"].get(
            doc.get("status"), 0) + 1
    rows = sorted(table.values(), key=lambda r: (r["channel"] or "",
                                                 r["provider"]))
    for row in rows:
        done = row["statuses"][domain.DELIVERED] + sum(
            row["statuses"][s] for s in (domain.PERMANENT_FAILURE,
                                         domain.TECHNICAL_FAILURE))
        row["delivery_rate"] = (round(row["statuses"][domain.DELIVERED]
                                      / done, 4) if done else None)
    return rows


def skips_for(db, event_id=None, limit=100):
    criteria = {"event_id": event_id} if event_id else {}
    return list(db[SKIPS].find(criteria).sort("at", DESCENDING).limit(limit))


# -- the public board feed ------------------------------------------------------

def board_sink(db):
    def store(item):
        db[BOARD].replace_one({"_id": item["_id"]}, item, upsert=True)
    return store


def board_items(db, limit=50):
    return list(db[BOARD].find().sort("published_at", DESCENDING)
                .limit(limit))
