"""A dict-backed stand-in for ``services.notify.repository.NotifyRepository``
in unit tests of notify's steps (with ``tests/fakes/uow.py``): the same
methods, the same answers, no store."""

import copy
import datetime as dt
import uuid

from sifuwu.errors import NotFound
from services.notify import domain


def _matches(doc, criteria):
    return all(doc.get(key) == value for key, value in criteria.items())


def _in_period(doc, since, until):
    created = doc.get("created_at")
    return (not since or created >= since) and (not until or created < until)


class FakeNotifyRepository:
    def __init__(self):
        self.messages = {}
        self.contacts = {}
        self.preferences = {}
        self.skips = {}
        self.board = {}
        self.calls = []  # (method, argument) of each read, to count them

    # -- contact book ----------------------------------------------------------

    def get_contact(self, contact_id):
        found = self.contacts.get(contact_id)
        return copy.deepcopy(found) if found is not None else None

    def merge_contact(self, contact_id, fields, now):
        doc = self.contacts.setdefault(contact_id, {"_id": contact_id,
                                                    "created_at": now})
        for key, value in fields.items():
            if "." in key:
                outer, inner = key.split(".", 1)
                doc.setdefault(outer, {})[inner] = copy.deepcopy(value)
            else:
                doc[key] = copy.deepcopy(value)
        return self.get_contact(contact_id)

    def contact_entries(self, ref):
        self.calls.append(("contact_entries", ref))
        kind, _, ident = ref.partition(":")
        if kind in ("member", "unit", "recipient", "branch", "division"):
            return [self.get_contact(ref)] if ref in self.contacts else []
        if kind == "leader":
            unit = self.contacts.get(f"unit:{ident}") or {}
            leader = f"member:{unit.get('leader_id')}"
            if unit.get("leader_id") and leader in self.contacts:
                return [self.get_contact(leader)]
            return [copy.deepcopy(doc) for doc in self.contacts.values()
                    if doc.get("unit_id") == ident and {
                        "unit_leader", "leader"} & set(doc.get("roles") or [])]
        if kind == "role":
            return [copy.deepcopy(doc) for doc in self.contacts.values()
                    if ident in (doc.get("roles") or [])]
        return []

    # -- preferences -------------------------------------------------------------

    def get_preference(self, recipient):
        self.calls.append(("get_preference", recipient))
        found = self.preferences.get(recipient)
        return copy.deepcopy(found) if found is not None else None

    def get_preferences(self, recipients):
        self.calls.append(("get_preferences", frozenset(recipients)))
        return {key: copy.deepcopy(self.preferences[key])
                for key in recipients if key in self.preferences}

    def save_preference(self, recipient, update, now):
        doc = self.preferences.setdefault(recipient, {"_id": recipient,
                                                      "created_at": now})
        doc.update(copy.deepcopy(update))
        return copy.deepcopy(doc)

    # -- messages ------------------------------------------------------------------

    def insert_planned(self, messages, skips):
        new = [m for m in messages if m["_id"] not in self.messages]
        for message in new:
            self.messages[message["_id"]] = copy.deepcopy(message)
        for skip in skips:
            self.skips.setdefault(skip["_id"], copy.deepcopy(skip))
        return new

    def get_message(self, message_id):
        if message_id not in self.messages:
            raise NotFound("消息不存在")
        return copy.deepcopy(self.messages[message_id])

    def insert_message(self, message):
        self.messages[message["_id"]] = copy.deepcopy(message)
        return message

    def count_resends(self, message_id):
        return sum(1 for m in self.messages.values()
                   if m.get("resend_of") == message_id)

    def bring_forward(self, message_id, status, now, entry):
        doc = self.messages.get(message_id)
        if doc is None or doc["status"] != status:
            return None
        doc.update(next_at=now, updated_at=now)
        doc.setdefault("history", []).append(entry)
        return copy.deepcopy(doc)

    def claim(self, message_id, now,
              lease_seconds=domain.SEND_LEASE_SECONDS):
        claimed = self.claim_many([message_id], now, uuid.uuid4().hex,
                                  lease_seconds)
        return claimed[0] if claimed else None

    def claim_many(self, message_ids, now, claim_id,
                   lease_seconds=domain.SEND_LEASE_SECONDS):
        claimed = []
        for message_id in dict.fromkeys(message_ids):
            doc = self.messages.get(message_id)
            if doc is None or doc.get("next_at") is None or \
                    doc["next_at"] > now:
                continue
            doc.update(status=domain.SENDING, updated_at=now, claim=claim_id,
                       next_at=now + dt.timedelta(seconds=lease_seconds),
                       attempts=doc.get("attempts", 0) + 1)
            doc.setdefault("history", []).append(
                domain.history_entry(domain.SENDING, now))
            claimed.append(copy.deepcopy(doc))
        return claimed

    def finish_many(self, changes):
        kept = []
        for message, fields, entry in changes:
            doc = self.messages.get(message["_id"])
            if doc is None or doc.get("next_at") != message["next_at"]:
                continue
            doc.update(copy.deepcopy(fields))
            doc.setdefault("history", []).append(entry)
            kept.append(copy.deepcopy(doc))
        return kept

    def due(self, now, limit=100):
        pending = sorted((m for m in self.messages.values()
                          if m["status"] in domain.PENDING
                          and m.get("next_at") and m["next_at"] <= now),
                         key=lambda m: m["next_at"])
        return [m["_id"] for m in pending][:limit]

    def find_messages(self, criteria, since=None, until=None, limit=50):
        found = [copy.deepcopy(m) for m in self.messages.values()
                 if _matches(m, criteria) and _in_period(m, since, until)]
        found.sort(key=lambda m: m["created_at"], reverse=True)
        return found[:limit]

    def message_facts(self, since=None, until=None):
        return [copy.deepcopy(m) for m in self.messages.values()
                if _in_period(m, since, until)]

    def skips_for(self, event_id=None, limit=100):
        found = [copy.deepcopy(s) for s in self.skips.values()
                 if not event_id or s["event_id"] == event_id]
        found.sort(key=lambda s: s["at"], reverse=True)
        return found[:limit]

    # -- the public board feed -----------------------------------------------------

    def store_board_item(self, item):
        self.board[item["_id"]] = copy.deepcopy(item)

    def board_items(self, limit=50):
        return sorted((copy.deepcopy(i) for i in self.board.values()),
                      key=lambda i: i["published_at"], reverse=True)[:limit]
