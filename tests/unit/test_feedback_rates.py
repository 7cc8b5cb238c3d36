"""Feedback's rate limits counted in the store (``services.feedback.rates``)
without a store: the counter over a dict-backed collection that answers as
pymongo's does, the upsert race, the store being unreachable, the nameko
dependency built from the container's config, and ``_limit`` through
nameko's ``worker_factory``."""

import copy
import datetime as dt
import logging

import pytest
from nameko.containers import ServiceContainer
from nameko.testing.services import worker_factory
from nameko.testing.utils import get_extension
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError, ServerSelectionTimeoutError
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from services.feedback import domain, repository
from services.feedback.dependencies import RateLimits
from services.feedback.rates import StoreRateCounter
from services.feedback.service import FeedbackService
from sifuwu.errors import TooManyRequests

UTC = dt.timezone.utc


def at(*args):
    return dt.datetime(*args, tzinfo=UTC)


class FakeCollection:
    """``find_one_and_update`` of pymongo on a dict, for what the counter
    sends: an ``_id`` match, ``$inc`` and ``$setOnInsert``, an upsert
    returning the document after the update. ``fail`` holds exceptions to
    raise first, one per call, before touching anything."""

    def __init__(self):
        self.docs = {}
        self.fail = []
        self.calls = []

    def find_one_and_update(self, query, update, projection=None,
                            upsert=False, return_document=None):
        self.calls.append((query, update, projection, upsert,
                           return_document))
        if self.fail:
            raise self.fail.pop(0)
        assert set(query) == {"_id"} and upsert
        assert return_document is ReturnDocument.AFTER
        doc = self.docs.get(query["_id"])
        if doc is None:
            doc = self.docs[query["_id"]] = {"_id": query["_id"]}
            doc.update(update.get("$setOnInsert", {}))
        for field, step in update["$inc"].items():
            doc[field] = doc.get(field, 0) + step
        return copy.deepcopy({field: doc[field] for field, shown
                              in projection.items() if shown})


def sequence(counter):
    """What a counter answers to one fixed sequence of hits."""
    start = at(2026, 1, 1, 0, 0, 0)
    return ([counter.hit("a", start, 2, 60) for _ in range(3)]
            + [counter.hit("b", start, 2, 60),  # another key
               counter.hit("a", start, 5, 3600),  # another window length
               counter.hit("a", at(2026, 1, 1, 0, 0, 59), 2, 60),
               counter.hit("a", at(2026, 1, 1, 0, 1), 2, 60)])  # new window


def test_the_store_counter_answers_as_the_memory_counter():
    expected = [True, True, False, True, True, False, True]
    assert sequence(domain.RateCounter()) == expected
    assert sequence(StoreRateCounter(FakeCollection())) == expected


def test_one_document_per_key_window_length_and_start_with_expiry():
    slot, expires_at = domain.rate_slot("addr:k", at(2026, 1, 1, 0, 0, 30),
                                        60)
    index, end = domain.rate_window(at(2026, 1, 1, 0, 0, 30), 60)
    assert slot == f"addr:k:60:{index}"
    assert expires_at == end + domain.RATE_EXPIRY_GRACE
    assert domain.rate_slot("addr:k", at(2026, 1, 1, 0, 0, 59), 60)[0] == slot
    assert domain.rate_slot("addr:k", at(2026, 1, 1, 0, 1), 60)[0] != slot
    assert domain.rate_slot("addr:k", at(2026, 1, 1, 0, 0, 30),
                            3600)[0] != slot
    collection = FakeCollection()
    counter = StoreRateCounter(collection)
    counter.hit("addr:k", at(2026, 1, 1, 0, 0, 30), 5, 60)
    counter.hit("addr:k", at(2026, 1, 1, 0, 0, 40), 5, 60)
    assert collection.docs == {slot: {"_id": slot, "count": 2,
                                      "expires_at": expires_at}}
    # one statement per hit: an atomic $inc upsert returning the count
    assert len(collection.calls) == 2
    query, update, projection, upsert, after = collection.calls[0]
    assert query == {"_id": slot} and upsert
    assert update == {"$inc": {"count": 1},
                      "$setOnInsert": {"expires_at": expires_at}}


def test_replicas_on_one_collection_share_one_budget():
    collection = FakeCollection()
    replicas = [StoreRateCounter(collection), StoreRateCounter(collection)]
    now = at(2026, 1, 1, 0, 0, 0)
    answers = [replicas[n % 2].hit("addr:k", now, 6, 3600) for n in range(8)]
    assert answers == [True] * 6 + [False] * 2


def test_no_address_or_token_in_clear_in_the_store():
    collection = FakeCollection()
    domain.check_rates(StoreRateCounter(collection), "s",
                       at(2026, 1, 1), address="203.0.113.9",
                       token="tok-abc", address_rate=(5, 60),
                       token_rate=(5, 3600))
    assert len(collection.docs) == 2
    for slot in collection.docs:
        assert "203.0.113.9" not in slot and "tok-abc" not in slot


def test_the_upsert_race_is_retried_once_as_an_update():
    collection = FakeCollection()
    collection.fail = [DuplicateKeyError("E11000 duplicate key")]
    counter = StoreRateCounter(collection)
    assert counter.hit("addr:k", at(2026, 1, 1), 1, 60)
    assert len(collection.calls) == 2  # the race, then the update
    assert list(collection.docs.values())[0]["count"] == 1
    assert not counter.hit("addr:k", at(2026, 1, 1), 1, 60)


def test_an_unreachable_store_lets_the_request_through_with_a_warning(
        caplog):
    collection = FakeCollection()
    counter = StoreRateCounter(collection)
    collection.fail = [ServerSelectionTimeoutError("no servers")]
    with caplog.at_level(logging.WARNING, logger="services.feedback.rates"):
        assert counter.hit("addr:k", at(2026, 1, 1), 1, 60)
    assert "ServerSelectionTimeoutError" in caplog.text
    assert "addr:k" not in caplog.text
    # a race that fails again on the retry: let through as well
    collection.fail = [DuplicateKeyError("E11000"), DuplicateKeyError("x")]
    assert counter.hit("addr:k", at(2026, 1, 1), 1, 60)
    assert collection.docs == {}


def test_a_bug_is_not_taken_for_an_unreachable_store():
    collection = FakeCollection()
    collection.fail = [KeyError("count")]
    with pytest.raises(KeyError):
        StoreRateCounter(collection).hit("addr:k", at(2026, 1, 1), 1, 60)


def test_the_windows_expire_through_a_ttl_index():
    (ttl,) = repository.INDEXES[repository.RATE_LIMITS]
    assert repository.RATE_LIMITS == "rate_limits"
    assert ttl.document["key"] == {"expires_at": 1}
    assert ttl.document["expireAfterSeconds"] == 0
    assert FeedbackService.indexes is repository.INDEXES


def test_the_dependency_counts_in_the_configured_feedback_database():
    config = {"AMQP_URI": "memory://", "MONGO_URI":
              "mongodb://127.0.0.1:1/", "SIFUWU_DB_PREFIX": "x1_",
              "SIFUWU_STORE_TIMEOUT_MS": 700}
    container = ServiceContainer(FeedbackService, config)
    provider = get_extension(container, RateLimits)
    provider.setup()  # pymongo connects lazily: no store needed
    try:
        counter = provider.get_dependency(None)
        assert isinstance(counter, StoreRateCounter)
        assert counter.collection.full_name == "x1_feedback.rate_limits"
        options = provider.client.options
        assert options.server_selection_timeout == 0.7
        assert options.pool_options.connect_timeout == 0.7
    finally:
        provider.stop()


def request_from(address):
    return Request(EnvironBuilder(
        environ_base={"REMOTE_ADDR": address}).get_environ())


def test_limit_answers_429_once_the_shared_budget_is_spent():
    collection = FakeCollection()
    now = at(2026, 1, 1, 8)
    workers = []
    for _ in range(2):  # two replicas' workers, one store
        service = worker_factory(
            FeedbackService, rate_limits=StoreRateCounter(collection),
            clock=lambda: now)
        service.config = {"SIFUWU_FEEDBACK_RATE_ADDRESS": "3/60",
                          "SIFUWU_SECRET": "s"}
        workers.append(service)
    for n in range(3):
        workers[n % 2]._limit(request_from("10.0.0.9"))
    with pytest.raises(TooManyRequests):
        workers[1]._limit(request_from("10.0.0.9"))
    workers[0]._limit(request_from("10.0.0.10"))  # another address
