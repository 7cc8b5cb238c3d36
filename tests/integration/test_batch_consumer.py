"""The batch consumer on the real broker and store: every valid event
applied exactly once, duplicates dropped, invalid ones dead-lettered with a
reason, a failing event isolated."""

import json

from kombu import Connection, Queue

from sifuwu import events as ev
from sifuwu import wiring
from sifuwu.batch import batch_consumes
from sifuwu.service import ServiceBase
from tests.helpers import drain, wait_for

SEEN = "seen"


class BatchProbe(ServiceBase):
    name = "batchprobe"

    @batch_consumes("activity", ev.ACTIVITY_LOGGED, max_batch=50,
                    max_wait=0.02)
    def on_activity_logged(self, envelopes):
        def apply(uow, fresh):
            for envelope in fresh:
                if envelope["data"].get("poison"):
                    raise RuntimeError("poison event")
            uow.col(SEEN).insert_many(
                [{"_id": e["event_id"], "n": e["data"]["n"]} for e in fresh],
                session=uow.session)
        self.store.transaction_batch(apply, envelopes)


def publish(amqp_uri, payloads):
    exchange = wiring.event_exchange("activity")
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        producer = conn.Producer()
        for payload in payloads:
            producer.publish(payload, exchange=exchange,
                             routing_key=ev.ACTIVITY_LOGGED,
                             serializer="json", declare=[exchange],
                             delivery_mode=2)


def test_batch_consumer_applies_each_event_once(container_factory,
                                                service_config, mongo):
    container = container_factory(BatchProbe, service_config)
    container.start()
    db = mongo[f"{service_config['SIFUWU_DB_PREFIX']}batchprobe"]
    amqp_uri = service_config["AMQP_URI"]

    events = [ev.make_event(ev.ACTIVITY_LOGGED, {"n": i}, source="activity")
              for i in range(400)]
    duplicates = events[:60]
    invalid = [{"type": "activity.logged", "data": {"n": -i}}
               for i in range(1, 6)]
    poison = ev.make_event(ev.ACTIVITY_LOGGED, {"n": 999, "poison": True},
                           source="activity")
    publish(amqp_uri, events[:200] + invalid + duplicates + [poison]
            + events[200:])

    assert wait_for(lambda: db[SEEN].count_documents({}) == 400)
    numbers = sorted(doc["n"] for doc in db[SEEN].find())
    assert numbers == list(range(400))
    # consumed under the entrypoint's own name, which no handler types
    consumed = {doc["_id"] for doc in db["consumed_events"].find({}, {"_id": 1})}
    assert consumed == {f"on_activity_logged:{e['event_id']}" for e in events}

    assert wait_for(lambda: _depth(amqp_uri, wiring.DEAD_LETTER_QUEUE) == 6)
    dead = drain(amqp_uri, wiring.DEAD_LETTER_QUEUE)
    reasons = sorted(m.headers[wiring.REJECTION_HEADER] for m in dead)
    assert sum(r.startswith("invalid:") for r in reasons) == 5
    assert any("poison event" in r for r in reasons)
    bodies = [json.loads(m.body) for m in dead]
    assert {"n": 999, "poison": True} in [b.get("data") for b in bodies]
    # nothing left un-acked in the consumer's queue
    assert _depth(amqp_uri, wiring.subscription_queue_name(
        "activity", ev.ACTIVITY_LOGGED, "batchprobe",
        "on_activity_logged")) == 0


def _depth(amqp_uri, queue_name):
    with Connection(amqp_uri) as conn:
        _, count, _ = Queue(queue_name, durable=True)(
            conn.default_channel).queue_declare(passive=True)
        return count


