"""Pipeline benchmark (issue 10): one run, same broker and store settings.

1. raw floor: a bare kombu consumer doing the same store writes in batches;
2. naive baseline: one nameko handler per message with single writes;
3. sifuwu: events in through the ingest exchange until stored and reflected
   in scorecards.

Each leg pre-loads N messages into its queue, then starts its consumer and
times until the last effect is stored. Run: .venv/bin/python -m bench.pipeline
[--events N]
"""

import argparse
import socket
import time

import eventlet

eventlet.monkey_patch()

from kombu import Connection, Consumer, Queue  # noqa: E402
from nameko.containers import ServiceContainer  # noqa: E402
from nameko.events import event_handler  # noqa: E402
from pymongo import MongoClient  # noqa: E402

from bench.common import infra, wait_until  # noqa: E402
from sifuwu import events as ev  # noqa: E402
from sifuwu import wiring  # noqa: E402


def activity_payloads(n):
    return [ev.make_event(ev.ACTIVITY_LOGGED, {
        "activity_id": f"a{i}", "member_id": f"m{i % 500}",
        "category": "enterprise", "kind": "visit",
        "occurred_at": "2026-03-02T09:00:00+08:00"}, source="activity")
        for i in range(n)]


def preload(amqp_uri, queue, payloads):
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        queue(conn.default_channel).declare()
        producer = conn.Producer()
        for payload in payloads:
            producer.publish(payload, exchange=queue.exchange,
                             routing_key=queue.routing_key, serializer="json",
                             delivery_mode=2)


def raw_floor(stack, payloads, batch=200):
    """kombu consumer, insert_many per batch, ack after the write."""
    queue = Queue("bench.raw", exchange=wiring.event_exchange("activity"),
                  routing_key="bench.raw", durable=True)
    preload(stack.amqp_uri, queue, payloads)
    db = MongoClient(stack.mongo_uri)[f"{stack.db_prefix}raw"]
    buffer = []
    started = time.monotonic()
    with Connection(stack.amqp_uri) as conn:
        channel = conn.channel()
        channel.basic_qos(0, batch * 2, False)

        with Consumer(channel, queues=[queue], accept=["json"],
                      callbacks=[lambda body, msg: buffer.append((body, msg))]):
            done = 0
            while done < len(payloads):
                try:
                    conn.drain_events(timeout=0.05)
                except socket.timeout:
                    pass
                if len(buffer) >= batch or (buffer and done + len(buffer)
                                            == len(payloads)):
                    done += len(buffer)
                    _ack_all(buffer, db)
                elif buffer:
                    try:
                        conn.drain_events(timeout=0.01)
                    except socket.timeout:
                        done += len(buffer)
                        _ack_all(buffer, db)
    elapsed = time.monotonic() - started
    assert db.effects.count_documents({}) == len(payloads)
    return elapsed


def _ack_all(buffer, db):
    db.effects.insert_many([
        {"_id": body["event_id"], "member_id": body["data"]["member_id"]}
        for body, _ in buffer])
    for _, message in buffer:
        message.ack()
    buffer.clear()


class NaiveService:
    """The baseline: nameko's handler, one insert per message."""

    name = "naive"
    db = None

    @event_handler("activity", ev.ACTIVITY_LOGGED)
    def on_activity_logged(self, payload):
        NaiveService.db.effects.insert_one(
            {"_id": payload["event_id"],
             "member_id": payload["data"]["member_id"]})


def naive_baseline(stack, payloads):
    queue = Queue(wiring.subscription_queue_name(
        "activity", ev.ACTIVITY_LOGGED, "naive", "on_activity_logged"),
        exchange=wiring.event_exchange("activity"),
        routing_key=ev.ACTIVITY_LOGGED, durable=True)
    preload(stack.amqp_uri, queue, payloads)
    NaiveService.db = MongoClient(stack.mongo_uri)[f"{stack.db_prefix}naive"]
    container = ServiceContainer(NaiveService, {"AMQP_URI": stack.amqp_uri})
    started = time.monotonic()
    container.start()
    try:
        finished = wait_until(
            lambda: NaiveService.db.effects.count_documents({})
            >= len(payloads))
    finally:
        container.stop()
    return finished - started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    args = parser.parse_args(argv)
    payloads = activity_payloads(args.events)
    with infra() as stack:
        raw = raw_floor(stack, payloads)
        naive = naive_baseline(stack, payloads)
    n = args.events
    print(f"events: {n}")
    print(f"raw floor (kombu + insert_many): {n / raw:8.0f} events/s")
    print(f"naive (nameko, insert_one):      {n / naive:8.0f} events/s")


if __name__ == "__main__":
    main()
