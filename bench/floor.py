"""The store writes sifuwu's pipeline makes for one ``activity.service``
ingest envelope, done without sifuwu: what the raw floor (kombu, batches)
and the naive baseline (nameko, one message and one write at a time) of
``bench.pipeline`` do, so the three legs do the same store writes.

Per event: the ingest receipt (``source:event_id``), the activity document,
the assessment contribution and the three monthly scorecards it feeds
(member, branch, unit), kept by running sums and scored by assessment's own
``scoring.domain.scorecard``; the same collections with the same indexes as the
services. Not done here (sifuwu's own delivery machinery, its overhead to
earn back): transactions, the outbox and the relay, consumed-event records,
the events between the services. The directory (member → branch, unit) is
in memory, as a floor may have it.
"""

import datetime as dt

from pymongo import ReplaceOne
from pymongo.errors import BulkWriteError

from zoneinfo import ZoneInfo

from services.activity import repository as activity_repo
from services.assessment.domain import month_of
from services.assessment.scoring import cards
from services.assessment.scoring import domain
from services.assessment.scoring import repository as assessment_repo
from services.assessment.scoring.schemes import default_scheme
from services.assessment.storage import by_ids
from sifuwu.indexes import ensure_indexes

TZ = ZoneInfo("Asia/Shanghai")

RECEIPTS = activity_repo.RECEIPTS
ACTIVITIES = activity_repo.ACTIVITIES
CONTRIBUTIONS = assessment_repo.CONTRIBUTIONS
SCORECARDS = assessment_repo.SCORECARDS


def prepare(db):
    """The services' indexes on the floor's collections."""
    ensure_indexes(db, {
        ACTIVITIES: activity_repo.INDEXES[ACTIVITIES],
        CONTRIBUTIONS: assessment_repo.INDEXES[CONTRIBUTIONS],
        SCORECARDS: assessment_repo.INDEXES[SCORECARDS]})


class Effects:
    """Builds the documents of one envelope; ``places`` maps a member id to
    its (branch_id, unit_id)."""

    def __init__(self, places):
        self.places = places
        self.scheme = dict(default_scheme(), version=1)
        self.now = dt.datetime.now(dt.timezone.utc)

    def documents(self, envelope):
        """(receipt, activity, contribution) of one envelope."""
        data = envelope["data"]
        member_id = data["member_id"]
        branch_id, unit_id = self.places[member_id]
        month = month_of(data["occurred_at"], TZ)
        receipt = {"_id": f"{envelope['source']}:{envelope['event_id']}",
                   "event_id": envelope["event_id"], "via": "amqp",
                   "received_at": self.now,
                   "result": {"activity_id": data["activity_id"]}}
        activity = {"_id": data["activity_id"], "type": "service",
                    "category": data["category"], "kind": data["kind"],
                    "member_id": member_id, "member_ids": [member_id],
                    "member_linked": True, "branch_id": branch_id,
                    "unit_id": unit_id, "campaign_id": None,
                    "recipient": data.get("recipient"),
                    "occurred_at": dt.datetime.fromisoformat(
                        data["occurred_at"]),
                    "source": envelope["source"],
                    "event_id": envelope["event_id"],
                    "recorded_at": self.now}
        contribution = {"_id": f"activity:{envelope['event_id']}",
                        "kind": "activity",
                        "event_ids": [envelope["event_id"]],
                        "activity_id": data["activity_id"],
                        "category": data["category"], "campaign_id": None,
                        "members": [member_id], "branch_id": branch_id,
                        "unit_id": unit_id, "month": month,
                        "figures": domain.activity_figures(data)}
        return receipt, activity, contribution

    def card(self, key, stored, changes):
        """The card ``key`` after adding ``changes`` (a ``CardChanges``) to
        ``stored`` (None: no card yet)."""
        sums, count = domain.zero_sums(), 0
        if stored is not None:
            sums.update(stored["sums"])
            count = stored["contribution_count"]
        domain.add_sums(sums, changes.sums[key])
        card = cards.monthly_card(
            key, sums, count + changes.counts[key], self.scheme)
        card["updated_at"] = self.now
        return card


def apply_batch(db, effects, envelopes):
    """The raw floor's batch: three insert_many, one ``$in`` read of the
    touched cards (in chunks, ``find_in``), one bulk_write."""
    receipts, activities, contributions = zip(
        *(effects.documents(envelope) for envelope in envelopes))
    fresh = _insert_fresh(db[RECEIPTS], receipts)
    db[ACTIVITIES].insert_many(
        [doc for doc in activities if doc["event_id"] in fresh])
    contributions = [doc for doc in contributions
                     if doc["event_ids"][0] in fresh]
    db[CONTRIBUTIONS].insert_many(contributions)
    changes = cards.CardChanges()
    for contribution in contributions:
        changes.replace(None, contribution)
    keys = changes.keys()
    stored = {card["_id"]: card for card in by_ids(
        db, SCORECARDS, [cards.card_id(*key) for key in keys])}
    db[SCORECARDS].bulk_write([ReplaceOne(
        {"_id": cards.card_id(*key)},
        effects.card(key, stored.get(cards.card_id(*key)), changes),
        upsert=True) for key in keys])


def _insert_fresh(collection, receipts):
    """Insert the receipts; the event ids of those not stored before."""
    try:
        collection.insert_many(receipts, ordered=False)
        return {doc["event_id"] for doc in receipts}
    except BulkWriteError as exc:
        repeated = {receipts[error["index"]]["event_id"]
                    for error in exc.details["writeErrors"]}
        return {doc["event_id"] for doc in receipts} - repeated


def apply_one(db, effects, envelope):
    """The naive baseline's message: single writes, one after another."""
    receipt, activity, contribution = effects.documents(envelope)
    if _insert_fresh(db[RECEIPTS], [receipt]):
        db[ACTIVITIES].insert_one(activity)
        db[CONTRIBUTIONS].insert_one(contribution)
        changes = cards.CardChanges().replace(None, contribution)
        for key in changes.keys():
            card_id = cards.card_id(*key)
            db[SCORECARDS].replace_one(
                {"_id": card_id},
                effects.card(key, db[SCORECARDS].find_one({"_id": card_id}),
                             changes), upsert=True)
