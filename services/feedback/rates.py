"""Rate-limit counters in the store (限流计数), shared by every replica of
the feedback service, so N replicas behind a balancer still give a client
one budget, and a restart does not start the windows afresh.

One document per (key, window length, window start) in the feedback
database's ``rate_limits`` collection: ``{_id, count, expires_at}``, the key
a keyed hash (``domain.rate_key``), never an address or a token in clear.
A TTL index on ``expires_at`` (``repository.INDEXES``) drops windows that
are over."""

import logging

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError, PyMongoError

from services.feedback import domain

log = logging.getLogger(__name__)


class StoreRateCounter:
    """``hit(key, now, limit, window_seconds)`` as ``domain.RateCounter``'s,
    counted in ``collection``: one atomic ``$inc`` upsert per hit, outside
    any transaction.

    When the store cannot count (unreachable, timed out), ``hit`` lets the
    request through and logs a warning (fail open): the limit is a brake on
    floods, not what keeps a rating single-use (signed, single-use links and
    unique indexes do that), and every limited request needs the store for
    its own read or write anyway, which then answers for itself."""

    def __init__(self, collection):
        self.collection = collection

    def hit(self, key, now, limit, window_seconds):
        slot, expires_at = domain.rate_slot(key, now, window_seconds)
        try:
            count = self._count(slot, expires_at)
        except PyMongoError as exc:
            log.warning("rate limit not checked, request let through: the "
                        "store cannot count (%s)", type(exc).__name__)
            return True
        return count <= limit

    def _count(self, slot, expires_at):
        try:
            return self._increment(slot, expires_at)
        except DuplicateKeyError:
            # another replica created this window's document at the same
            # moment: it exists now, so the second try is a plain update
            return self._increment(slot, expires_at)

    def _increment(self, slot, expires_at):
        doc = self.collection.find_one_and_update(
            {"_id": slot},
            {"$inc": {"count": 1}, "$setOnInsert": {"expires_at": expires_at}},
            projection={"count": True, "_id": False}, upsert=True,
            return_document=ReturnDocument.AFTER)
        return doc["count"]
