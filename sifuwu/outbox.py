"""The outbox (发件箱): events stored in the transaction that caused them, then
published by a relay that waits for the broker's confirms and marks them sent.
A committed outbox document is handed to the relay in memory; a sweep
publishes from the store whatever is still unsent (after a crash, a broker
outage or a failed publish)."""

import datetime as dt
import logging
import socket
import time
import uuid
import zlib

import eventlet
from bson import Binary
from eventlet.queue import Empty, LightQueue
from kombu import Connection, Producer
from kombu.utils import json as kombu_json
from pymongo import ASCENDING, IndexModel

from sifuwu import events as ev
from sifuwu import metrics, wiring

log = logging.getLogger(__name__)

OUTBOX = "outbox"

OUTBOX_INDEXES = {
    OUTBOX: [
        IndexModel([("sent", ASCENDING), ("created_at", ASCENDING)],
                   name="outbox_pending"),
        # Sent entries are kept a week for inspection, then expire.
        IndexModel([("sent_at", ASCENDING)], name="outbox_sent_ttl",
                   expireAfterSeconds=7 * 24 * 3600),
    ],
}

# Events per outbox document, outbox documents per sweep.
OUTBOX_CHUNK = 1000
RELAY_BATCH = 50
# The sweep takes what is still unsent after this many seconds.
SWEEP_GRACE = 2.0
CONFIRM_TIMEOUT = 30.0


def outbox_documents(envelopes, now):
    """Outbox documents of one transaction: its events in order, in chunks
    (one document is one insert, one sweep read and one "sent" update for
    the whole chunk, whatever the number of events).

    The events are kept packed (``packed``: zlib-compressed JSON, as kombu
    serialises them for the broker), with their types beside them for
    queries: the store writes and rewrites (the "sent" update) a tenth of
    the bytes, and the compressing is done by the service, not the store
    (figures: docs/performance.md)."""
    docs = []
    for start in range(0, len(envelopes), OUTBOX_CHUNK):
        chunk = envelopes[start:start + OUTBOX_CHUNK]
        docs.append({"_id": uuid.uuid4().hex, "packed": pack_events(chunk),
                     "types": sorted({e["type"] for e in chunk}),
                     "count": len(chunk), "sent": False, "created_at": now,
                     "seq": len(docs)})
    return docs


def pack_events(envelopes):
    return Binary(zlib.compress(kombu_json.dumps(envelopes).encode(), 1))


def outbox_envelopes(doc):
    """The events of an outbox document (also of the older shapes: events
    unpacked, ``{"envelopes": [...]}``, or one event, ``{"envelope":
    ...}``)."""
    if "packed" in doc:
        return kombu_json.loads(zlib.decompress(doc["packed"]))
    if "envelopes" in doc:
        return doc["envelopes"]
    return [doc["envelope"]] if doc.get("envelope") else []


class OutboxRelay:
    """Publishes a service's outbox: what transactions hand over at once, and
    (every ``interval`` seconds) what the store still holds unsent."""

    def __init__(self, db, service_name, amqp_uri, interval):
        self.db = db
        self.service_name = service_name
        self.amqp_uri = amqp_uri
        self.interval = interval
        self._wake = LightQueue()
        self.running = False

    def hand_over(self, docs):
        """Committed outbox documents, to be published by the relay."""
        self._wake.put(docs)

    def nudge(self):
        self._wake.put(None)

    def run(self):
        publisher = ConfirmingPublisher(self.amqp_uri)
        last_sweep = 0.0
        try:
            while self.running:
                docs = []
                try:
                    item = self._wake.get(timeout=self.interval)
                    docs.extend(item or [])
                except Empty:
                    pass
                while True:  # everything handed over meanwhile
                    try:
                        docs.extend(self._wake.get_nowait() or [])
                    except Empty:
                        break
                try:
                    if docs:
                        self.publish_docs(docs, publisher)
                    if time.monotonic() - last_sweep >= \
                            self.interval:
                        last_sweep = time.monotonic()
                        while self.relay_once(publisher) == RELAY_BATCH:
                            pass
                except Exception as exc:  # noqa: BLE001 - keep relaying
                    # Unsent documents stay in the store; the sweep
                    # publishes them once the broker is back.
                    publisher.close()
                    log.warning("outbox relay failed (%s: %s); will retry",
                                type(exc).__name__, exc)
                    eventlet.sleep(1)
        finally:
            publisher.close()

    def relay_once(self, publisher):
        """Publish one batch of outbox documents still unsent after
        ``SWEEP_GRACE`` seconds; returns the number of documents."""
        cutoff = ev.utcnow() - dt.timedelta(seconds=SWEEP_GRACE)
        pending = list(self.db[OUTBOX].find(
            {"sent": False, "created_at": {"$lt": cutoff}},
            sort=[("created_at", ASCENDING), ("seq", ASCENDING)],
            limit=RELAY_BATCH))
        if pending:
            self.publish_docs(pending, publisher)
        return len(pending)

    def publish_docs(self, docs, publisher):
        """Publish the events of ``docs`` in order, wait for the broker's
        confirms, then mark the documents sent (one statement)."""
        exchange = wiring.event_exchange(self.service_name)
        envelopes = [e for doc in docs for e in outbox_envelopes(doc)]
        publisher.publish(exchange, envelopes)
        for envelope in envelopes:
            metrics.EVENTS_PUBLISHED.labels(self.service_name,
                                            envelope["type"]).inc()
        self.db[OUTBOX].update_many(
            {"_id": {"$in": [doc["_id"] for doc in docs]}},
            {"$set": {"sent": True, "sent_at": ev.utcnow()}})


class ConfirmingPublisher:
    """Publishes many persistent messages on one confirm-mode channel and
    waits once for the broker's confirms (instead of a round trip per
    message). Any failure closes the connection; the caller retries."""

    def __init__(self, amqp_uri):
        self.amqp_uri = amqp_uri
        self._conn = None
        self._channel = None
        self._declared = set()
        self._next_tag = 1
        self._unconfirmed = set()
        self._nacked = 0

    def _open(self):
        if self._conn is None:
            conn = Connection(self.amqp_uri, connect_timeout=5)
            conn.connect()
            channel = conn.channel()
            channel.events["basic_ack"].add(self._on_ack)
            channel.events["basic_nack"].add(self._on_nack)
            channel.confirm_select()
            self._conn, self._channel = conn, channel
            self._declared = set()
            self._next_tag = 1
            self._unconfirmed = set()
            self._nacked = 0
        return self._conn, self._channel

    def _settle(self, delivery_tag, multiple):
        if multiple:
            self._unconfirmed = {t for t in self._unconfirmed
                                 if t > delivery_tag}
        else:
            self._unconfirmed.discard(delivery_tag)

    def _on_ack(self, delivery_tag, multiple):
        self._settle(delivery_tag, multiple)

    def _on_nack(self, delivery_tag, multiple):
        self._nacked += 1
        self._settle(delivery_tag, multiple)

    def publish(self, exchange, envelopes, timeout=CONFIRM_TIMEOUT,
                declare=True, **properties):
        """Publish ``envelopes`` (routing key: their type) and return once
        the broker confirmed them all; ``properties`` go to every message
        (e.g. ``user_id``). ``declare=False`` for a sender that may only
        write to an existing exchange (an ingest user)."""
        if not envelopes:
            return
        conn, channel = self._open()
        if declare and exchange.name not in self._declared:
            exchange(channel).declare()
            self._declared.add(exchange.name)
        producer = Producer(channel)
        for envelope in envelopes:
            self._unconfirmed.add(self._next_tag)
            self._next_tag += 1
            producer.publish(
                envelope, exchange=exchange, routing_key=envelope["type"],
                serializer="json", delivery_mode=2,
                headers={"correlation_id":
                         envelope.get("correlation_id") or ""},
                **properties)
        deadline = time.monotonic() + timeout
        while self._unconfirmed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("broker did not confirm the publishes")
            try:
                conn.drain_events(timeout=remaining)
            except socket.timeout:
                continue
        if self._nacked:
            self._nacked = 0
            raise ConnectionError("broker refused (nack) a publish")

    def close(self):
        conn, self._conn, self._channel = self._conn, None, None
        if conn is not None:
            try:
                conn.release()
            except Exception:  # noqa: BLE001 - already broken
                pass
