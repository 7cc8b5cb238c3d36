"""The outbox on the real broker and store: a transaction's events are
written as outbox documents in the same transaction, published in order with
publisher confirms, marked sent once; what a crashed process left unsent is
published by the sweep."""

import datetime as dt
import uuid

from kombu import Connection, Queue
from nameko.rpc import rpc
from nameko.testing.services import entrypoint_hook

from sifuwu import events as ev
from sifuwu import outbox as outbox_module
from sifuwu import wiring
from sifuwu.service import ServiceBase
from sifuwu.outbox import OUTBOX_CHUNK, ConfirmingPublisher
from tests.helpers import outbox_events, wait_for


class OutboxProbe(ServiceBase):
    name = "outboxprobe"

    @rpc
    def emit_many(self, count, fail=False):
        def work(uow):
            for n in range(count):
                uow.emit("probe.happened", {"n": n})
            if fail:
                raise RuntimeError("rolled back")
            return count
        return self.store.transaction(work)


def bound_queue(amqp_uri, name):
    queue = Queue(name, exchange=wiring.event_exchange("outboxprobe"),
                  routing_key="probe.happened", durable=True,
                  auto_delete=False)
    with Connection(amqp_uri) as conn:
        queue(conn.default_channel).declare()
    return queue


def drain(amqp_uri, queue):
    bodies = []
    with Connection(amqp_uri) as conn:
        bound = queue(conn.default_channel)
        while True:
            message = bound.get(no_ack=True)
            if message is None:
                return bodies
            bodies.append(message.payload)


def test_events_of_a_transaction_published_in_order_once(
        container_factory, service_config, mongo):
    amqp_uri = service_config["AMQP_URI"]
    queue = bound_queue(amqp_uri, f"probe.{uuid.uuid4().hex[:6]}")
    container = container_factory(OutboxProbe, service_config)
    container.start()
    db = mongo[f"{service_config['SIFUWU_DB_PREFIX']}outboxprobe"]

    count = OUTBOX_CHUNK + 500
    with entrypoint_hook(container, "emit_many") as emit_many:
        assert emit_many(count) == count
        try:
            emit_many(10, fail=True)
        except Exception:  # noqa: BLE001 - the rolled back transaction
            pass

    # one transaction → two chunked outbox documents, nothing of the
    # rolled back one
    assert db.outbox.count_documents({}) == 2
    wait_for(lambda: db.outbox.count_documents({"sent": False}) == 0,
             what="outbox marked sent")
    received = []
    wait_for(lambda: received.extend(drain(amqp_uri, queue))
             or len(received) >= count, what="all events")
    assert [body["data"]["n"] for body in received] == list(range(count))
    assert len({body["event_id"] for body in received}) == count
    assert [e["data"]["n"] for e in outbox_events(db)] == list(range(count))


def test_sweep_publishes_what_a_crashed_process_left(
        container_factory, service_config, mongo):
    amqp_uri = service_config["AMQP_URI"]
    queue = bound_queue(amqp_uri, f"probe.{uuid.uuid4().hex[:6]}")
    db = mongo[f"{service_config['SIFUWU_DB_PREFIX']}outboxprobe"]
    old = ev.utcnow() - dt.timedelta(minutes=5)
    envelopes = [ev.make_event("probe.happened", {"n": n},
                               source="outboxprobe") for n in range(3)]
    # committed, never published: one current document, one of the older
    # one-event shape
    db.outbox.insert_many([
        dict(outbox_module.outbox_documents(envelopes[:2], old)[0]),
        {"_id": envelopes[2]["event_id"], "envelope": envelopes[2],
         "sent": False, "created_at": old + dt.timedelta(seconds=1)}])
    container = container_factory(OutboxProbe, service_config)
    container.start()

    wait_for(lambda: db.outbox.count_documents({"sent": False}) == 0,
             what="the sweep")
    received = []
    wait_for(lambda: received.extend(drain(amqp_uri, queue))
             or len(received) >= 3, what="the left-over events")
    assert [body["event_id"] for body in received] == \
        [e["event_id"] for e in envelopes]


def test_publisher_waits_for_confirms_and_reconnects(service_config):
    amqp_uri = service_config["AMQP_URI"]
    queue = bound_queue(amqp_uri, f"probe.{uuid.uuid4().hex[:6]}")
    exchange = wiring.event_exchange("outboxprobe")
    publisher = ConfirmingPublisher(amqp_uri)
    try:
        batch = [ev.make_event("probe.happened", {"n": n},
                               source="outboxprobe") for n in range(300)]
        publisher.publish(exchange, batch)
        assert publisher._unconfirmed == set()
        publisher.close()  # as after a failure: the next publish reconnects
        publisher.publish(exchange, batch[:5])
    finally:
        publisher.close()
    assert [b["data"]["n"] for b in drain(amqp_uri, queue)] == \
        list(range(300)) + list(range(5))


def test_indexes_of_an_older_version_are_replaced(mongo, service_config):
    """A renamed index (same keys) and a redefined one (same name) do not
    stop a service from starting: the code's definition wins."""
    from pymongo import ASCENDING, DESCENDING, IndexModel

    from sifuwu.indexes import ensure_indexes

    db = mongo[f"{service_config['SIFUWU_DB_PREFIX']}indexprobe"]
    db.things.create_index([("unit_id", ASCENDING), ("at", DESCENDING)],
                           name="by_unit")
    db.things.create_index([("kind", ASCENDING)], name="by_kind")
    wanted = {"things": [
        IndexModel([("unit_id", ASCENDING), ("at", DESCENDING)],
                   name="by_unit_id"),
        IndexModel([("kind", ASCENDING), ("at", DESCENDING)],
                   name="by_kind"),
        IndexModel([("at", DESCENDING)], name="by_time")]}
    ensure_indexes(db, wanted)
    ensure_indexes(db, wanted)  # and again: nothing to do
    found = {i["name"]: list(i["key"].items())
             for i in db.things.list_indexes()}
    assert found == {"_id_": [("_id", 1)],
                     "by_unit_id": [("unit_id", 1), ("at", -1)],
                     "by_kind": [("kind", 1), ("at", -1)],
                     "by_time": [("at", -1)]}


def test_retired_indexes_are_dropped(mongo, service_config):
    """An index an earlier version created and nothing reads any more is
    dropped at start-up; a collection that does not exist yet is fine."""
    from pymongo import ASCENDING, IndexModel

    from sifuwu.indexes import ensure_indexes

    db = mongo[f"{service_config['SIFUWU_DB_PREFIX']}retiredprobe"]
    db.cards.create_index([("subject_id", ASCENDING)], name="by_subject")
    wanted = {"cards": [IndexModel([("period", ASCENDING)],
                                   name="by_period")]}
    retired = {"cards": ["by_subject"], "nothing_yet": ["by_subject"]}
    ensure_indexes(db, wanted, retired)
    ensure_indexes(db, wanted, retired)  # and again: nothing to do
    assert sorted(i["name"] for i in db.cards.list_indexes()) == \
        ["_id_", "by_period"]
    assert "nothing_yet" not in db.list_collection_names()
