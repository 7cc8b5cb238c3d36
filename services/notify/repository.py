"""Storage of the notify service: messages (the outbox of deliveries), the
contact book, preferences, skipped deliveries and the public board feed.

Reads and writes only; the rules are in ``domain``, ``contacts`` and
``planning``. ``NotifyRepository(uow)`` works inside a unit of work (the
store's ``repository=NotifyRepository``) or, through ``Direct(db)``, outside
one: the guarded claims and outcomes of sending, and the operators' reads.
"""

import datetime as dt
import logging
import uuid

from pymongo import (
    ASCENDING, DESCENDING, IndexModel, ReturnDocument, UpdateOne,
)

from sifuwu.errors import NotFound
from services.notify import domain

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


class Direct:
    """What the repository needs of a unit of work, outside a transaction:
    each statement on its own, no session."""

    session = None

    def __init__(self, db):
        self.db = db
        self.repo = NotifyRepository(self)

    def col(self, name):
        return self.db[name]


def _period(since=None, until=None):
    period = {}
    if since:
        period["$gte"] = since
    if until:
        period["$lt"] = until
    return {"created_at": period} if period else {}


class NotifyRepository:
    """notify's collections, through ``uow.col`` and ``uow.session``."""

    def __init__(self, uow):
        self.uow = uow

    @classmethod
    def on(cls, db):
        """The repository outside a transaction."""
        return Direct(db).repo

    def _col(self, name):
        return self.uow.col(name)

    @property
    def _session(self):
        return self.uow.session

    # -- contact book (通讯录) ---------------------------------------------

    def get_contact(self, contact_id):
        return self._col(CONTACTS).find_one({"_id": contact_id},
                                            session=self._session)

    def merge_contact(self, contact_id, fields, now):
        """Set ``fields`` on the entry (created if absent); the entry as
        stored."""
        self._col(CONTACTS).update_one(
            {"_id": contact_id},
            {"$set": fields, "$setOnInsert": {"created_at": now}},
            upsert=True, session=self._session)
        return self.get_contact(contact_id)

    def contact_entries(self, ref):
        """The entries behind a reference: ``member:<id>``, ``unit:<id>``
        (and the other kinds), ``leader:<unit id>`` (the member the unit
        names as its leader, else the unit's members with a leader role),
        ``role:<role>`` (e.g. the supervision office, 督查室)."""
        contacts = self._col(CONTACTS)
        session = self._session
        kind, _, ident = ref.partition(":")
        if kind in ("member", "unit", "recipient", "branch", "division"):
            doc = contacts.find_one({"_id": ref}, session=session)
            return [doc] if doc else []
        if kind == "leader":
            found = []
            unit = contacts.find_one({"_id": f"unit:{ident}"},
                                     session=session)
            if unit and unit.get("leader_id"):
                doc = contacts.find_one(
                    {"_id": f"member:{unit['leader_id']}"}, session=session)
                found = [doc] if doc else []
            if not found:
                found = list(contacts.find(
                    {"unit_id": ident,
                     "roles": {"$in": ["unit_leader", "leader"]}},
                    session=session))
            return found
        if kind == "role":
            return list(contacts.find({"roles": ident}, session=session))
        return []

    # -- preferences (接收偏好) ---------------------------------------------

    def get_preference(self, recipient):
        return self._col(PREFERENCES).find_one({"_id": recipient},
                                               session=self._session)

    def get_preferences(self, recipients):
        """{recipient: stored preference} for those who have one (one
        read)."""
        recipients = list(recipients)
        if not recipients:
            return {}
        return {doc["_id"]: doc for doc in self._col(PREFERENCES).find(
            {"_id": {"$in": recipients}}, session=self._session)}

    def save_preference(self, recipient, update, now):
        """Set ``update`` on the recipient's preference (created if
        absent); the preference as stored."""
        return self._col(PREFERENCES).find_one_and_update(
            {"_id": recipient}, {"$set": update,
                                 "$setOnInsert": {"created_at": now}},
            upsert=True, return_document=ReturnDocument.AFTER,
            session=self._session)

    # -- messages ------------------------------------------------------------

    def insert_planned(self, messages, skips):
        """Store new messages and skip records; an id that exists already
        is left alone (the idempotency key per event × recipient ×
        channel). Returns the messages stored now."""
        col = self._col(MESSAGES)
        session = self._session
        ids = [m["_id"] for m in messages]
        existing = {doc["_id"] for doc in col.find(
            {"_id": {"$in": ids}}, {"_id": 1}, session=session)} if ids \
            else set()
        new = [m for m in messages if m["_id"] not in existing]
        if new:
            col.insert_many(new, session=session)
        if skips:
            skip_col = self._col(SKIPS)
            seen = {doc["_id"] for doc in skip_col.find(
                {"_id": {"$in": [s["_id"] for s in skips]}}, {"_id": 1},
                session=session)}
            fresh = [s for s in skips if s["_id"] not in seen]
            if fresh:
                skip_col.insert_many(fresh, session=session)
        return new

    def get_message(self, message_id):
        message = self._col(MESSAGES).find_one({"_id": message_id},
                                               session=self._session)
        if message is None:
            raise NotFound("消息不存在")
        return message

    def insert_message(self, message):
        self._col(MESSAGES).insert_one(message, session=self._session)
        return message

    def count_resends(self, message_id):
        return self._col(MESSAGES).count_documents(
            {"resend_of": message_id}, session=self._session)

    def bring_forward(self, message_id, status, now, entry):
        """Make a message still in ``status`` due now; None if it has moved
        on meanwhile."""
        return self._col(MESSAGES).find_one_and_update(
            {"_id": message_id, "status": status},
            {"$set": {"next_at": now, "updated_at": now},
             "$push": {"history": entry}},
            return_document=ReturnDocument.AFTER, session=self._session)

    def claim(self, message_id, now,
              lease_seconds=domain.SEND_LEASE_SECONDS):
        """Take a due message for sending; None if someone else has it or
        it is not due."""
        claimed = self.claim_many([message_id], now, uuid.uuid4().hex,
                                  lease_seconds)
        return claimed[0] if claimed else None

    def claim_many(self, message_ids, now, claim_id,
                   lease_seconds=domain.SEND_LEASE_SECONDS):
        """Claim due messages in two statements: one bulk write of guarded
        updates marks each due one ``sending`` under ``claim_id`` (a new id
        per claim), one read returns them; those this claim did not take
        (not due, or taken by another sender) are left out.

        The guard is ``next_at <= now`` on the id: only pending messages
        carry ``next_at`` (created, sending with its lease, temporary
        failure with its retry time; final ones have none). On SecantusDB
        an id with a status condition would scan the collection; id + one
        range uses the ``claim_due`` index."""
        message_ids = list(dict.fromkeys(message_ids))
        if not message_ids:
            return []
        col = self._col(MESSAGES)
        col.bulk_write([UpdateOne(
            {"_id": message_id, "next_at": {"$lte": now}},
            {"$set": {"status": domain.SENDING, "updated_at": now,
                      "next_at": now + dt.timedelta(seconds=lease_seconds),
                      "claim": claim_id},
             "$inc": {"attempts": 1},
             "$push": {"history": domain.history_entry(domain.SENDING,
                                                       now)}})
            for message_id in message_ids], ordered=False,
            session=self._session)
        return [doc for doc in col.find({"_id": {"$in": message_ids}},
                                        session=self._session)
                if doc.get("claim") == claim_id
                and doc.get("status") == domain.SENDING]

    def finish_many(self, changes):
        """Record outcomes on claimed messages: ``changes`` is [(message,
        $set fields, history entry)], written in one bulk write, each
        guarded so only the claim that sent it may record it (its lease
        end as stored identifies it: a claim after the lease has passed
        sets a later one, and id + equality uses the ``claim_due`` index).
        Returns the updated messages; one another sender took over
        meanwhile is left alone and not returned (read again only then)."""
        if not changes:
            return []
        operations, updated = [], []
        for message, fields, entry in changes:
            operations.append(UpdateOne(
                {"_id": message["_id"], "next_at": message["next_at"]},
                {"$set": fields, "$push": {"history": entry}}))
            after = dict(message, **fields)
            after["history"] = list(message.get("history") or []) + [entry]
            updated.append(after)
        col = self._col(MESSAGES)
        written = col.bulk_write(operations, ordered=False,
                                 session=self._session)
        if written.matched_count == len(operations):
            return updated
        current = {doc["_id"]: doc for doc in col.find(
            {"_id": {"$in": [m["_id"] for m in updated]}},
            {"status": 1, "claim": 1}, session=self._session)}
        kept = []
        for message in updated:
            stored = current.get(message["_id"]) or {}
            # the guard held iff nobody claimed it since
            if stored.get("claim") == message["claim"] and \
                    stored.get("status") == message["status"]:
                kept.append(message)
            else:
                log.warning("message %s was taken over by another sender; "
                            "its outcome here is not recorded",
                            message["_id"])
        return kept

    def due(self, now, limit=100):
        """Ids of pending messages whose ``next_at`` has come."""
        ids = []
        for status in domain.PENDING:
            for doc in self._col(MESSAGES).find(
                    {"status": status, "next_at": {"$lte": now}},
                    {"_id": 1}, sort=[("next_at", ASCENDING)], limit=limit,
                    session=self._session):
                ids.append(doc["_id"])
        return ids[:limit]

    def find_messages(self, criteria, since=None, until=None, limit=50):
        """Messages matching stored fields (``criteria``), created in the
        period, newest first."""
        criteria = dict(criteria, **_period(since, until))
        return list(self._col(MESSAGES).find(criteria, session=self._session)
                    .sort("created_at", DESCENDING).limit(limit))

    def message_facts(self, since=None, until=None):
        """What the statistics count, of each message created in the
        period."""
        return self._col(MESSAGES).find(
            _period(since, until),
            {"channel": 1, "provider": 1, "status": 1, "attempts": 1,
             "segments": 1}, session=self._session)

    def skips_for(self, event_id=None, limit=100):
        criteria = {"event_id": event_id} if event_id else {}
        return list(self._col(SKIPS).find(criteria, session=self._session)
                    .sort("at", DESCENDING).limit(limit))

    # -- the public board feed ------------------------------------------------

    def store_board_item(self, item):
        self._col(BOARD).replace_one({"_id": item["_id"]}, item, upsert=True,
                                     session=self._session)

    def board_items(self, limit=50):
        return list(self._col(BOARD).find(session=self._session)
                    .sort("published_at", DESCENDING).limit(limit))
