"""The AMQP way in (消息接入): a nameko entrypoint built on kombu that
consumes the public ingest exchange ``sifuwu.ingest``.

* The sender is the message's ``user_id`` property, which RabbitMQ validates
  against the connection's user (one broker user per source system); it is
  mapped to a source system (``SIFUWU_INGEST_AMQP_USERS`` = ``user=system``,
  and every system with an ingest token maps to itself).
* Valid messages are collected, up to ``MAX_BATCH`` or for ``MAX_WAIT``
  seconds, and handed as one batch to the decorated service method in one
  worker; each is acknowledged only after the batch's transaction committed.
* An invalid message is never dropped: it is published, headers intact
  plus ``x-rejection-reason``, to the durable queue
  ``sifuwu.ingest.rejected``, and acknowledged only once the broker confirmed
  that publish. Its body is kept intact unless it holds a phone or an email:
  then they are masked in the body and the original body is sealed with the
  contact key in the header ``x-sealed-body`` (no contact in clear in a
  queue); an original too large for a header travels sealed as the body,
  with a masked excerpt (``sifuwu.privacy.dead_letter``).
* A message the service refuses (validation or a domain rule) is rejected
  the same way, alone; the rest of its batch is stored.
* A transient failure (store or broker down) puts the batch back; any other
  failure of the worker replays the batch one message at a time, so only
  the message that fails is rejected.

Acks happen on the consuming greenthread only (kombu channels are not shared
between greenthreads); it waits for the batch's worker, draining the
connection meanwhile (heartbeats).
"""

import logging
import socket
import time

import eventlet
from eventlet.event import Event
from kombu import Connection, Consumer, Exchange, Queue
from kombu.pools import producers
from nameko.extensions import Entrypoint

from sifuwu import privacy, wiring
from sifuwu.consumer import describe
from sifuwu.store import is_transient
from services.activity.ingest import domain
from services.activity.ingest.domain import Rejected, decode
from services.activity.settings import ActivitySettings

log = logging.getLogger(__name__)

RETRY_PAUSE = 1.0
# A batch is applied when it has MAX_BATCH messages or its oldest message
# has waited MAX_WAIT seconds.
MAX_BATCH = 200
MAX_WAIT = 0.05
POLL = 0.1


def ingest_exchange():
    return Exchange(wiring.INGEST_EXCHANGE, type="topic", durable=True,
                    delivery_mode=2)


def ingest_queue():
    return Queue(wiring.INGEST_QUEUE, exchange=ingest_exchange(),
                 routing_key="#", durable=True, auto_delete=False)


def rejected_queue():
    return Queue(wiring.INGEST_REJECTED_QUEUE, durable=True,
                 auto_delete=False)


def declare_ingest_topology(connection):
    channel = connection.default_channel
    ingest_exchange()(channel).declare()
    for queue in (ingest_queue(), rejected_queue()):
        queue(channel).declare()


def broker_users(config):
    """{broker user: source system} from nameko's config (and the
    environment): ``SIFUWU_INGEST_TOKENS`` and ``SIFUWU_INGEST_AMQP_USERS``."""
    settings = ActivitySettings.from_config(config)
    return domain.broker_users(settings.ingest_tokens,
                               settings.ingest_amqp_users)


class IngestConsumer(Entrypoint):
    """``@ingest_consumer`` on a method ``fn(self, messages)`` that gets a
    batch [(payload, system)] and returns one outcome per message: None
    once stored (or a duplicate), else the error that refuses it."""

    def __init__(self, max_batch=MAX_BATCH, max_wait=MAX_WAIT, **kwargs):
        self.max_batch = max_batch
        self.max_wait = max_wait
        super().__init__(**kwargs)

    def setup(self):
        self.settings = ActivitySettings.from_config(self.container.config)
        # A source-to-types table naming an unknown type stops the start
        # (ValueError with the entry), rather than refusing every event.
        domain.parse_source_types(self.settings.ingest_source_types)
        self.users = broker_users(self.container.config)
        self._running = False
        self._gt = None

    def start(self):
        self._running = True
        self._gt = self.container.spawn_managed_thread(
            self._run, identifier="ingest_consumer")

    def stop(self):
        self._running = False
        if self._gt is not None:
            self._gt.wait()

    def kill(self):
        self._running = False
        if self._gt is not None:
            self._gt.kill()

    # -- the consuming greenthread -------------------------------------------

    def _run(self):
        while self._running:
            try:
                with Connection(self.settings.amqp_uri, heartbeat=30,
                                connect_timeout=5) as conn:
                    self._consume(conn)
            except Exception as exc:  # noqa: BLE001 - reconnect and go on
                if not self._running:
                    break
                log.warning("ingest consumer lost its connection (%s: %s); "
                            "reconnecting", type(exc).__name__, exc)
                eventlet.sleep(RETRY_PAUSE)

    def _consume(self, conn):
        declare_ingest_topology(conn)
        channel = conn.channel()
        channel.basic_qos(0, self.max_batch * 2, False)
        buffer = []  # [(message, payload, system)], in arrival order
        consumer = Consumer(channel, queues=[ingest_queue()],
                            on_message=lambda m: self._on_message(m, buffer),
                            no_ack=False)
        with consumer:
            due = None  # when the oldest buffered message must be applied
            while self._running:
                if buffer and due is None:
                    due = time.monotonic() + self.max_wait
                if buffer and (len(buffer) >= self.max_batch
                               or time.monotonic() >= due):
                    batch = buffer[:self.max_batch]
                    del buffer[:self.max_batch]
                    due = None
                    self._apply(conn, batch, buffer)
                    continue
                wait = POLL if due is None else max(
                    0.0, min(POLL, due - time.monotonic()))
                self._drain(conn, wait)
            # Stop consuming, then apply what was already delivered.
            consumer.cancel()
            while buffer:
                batch = buffer[:self.max_batch]
                del buffer[:self.max_batch]
                self._apply(conn, batch, buffer)

    @staticmethod
    def _drain(conn, timeout):
        try:
            conn.drain_events(timeout=timeout)
        except socket.timeout:
            conn.heartbeat_check()

    def _on_message(self, message, buffer):
        try:
            payload, system = decode(message, self.users)
        except Rejected as exc:
            self._reject(message, exc.reason)
            return
        except Exception as exc:  # noqa: BLE001 - never halt on one message
            self._reject(message, f"invalid: 消息无法解码（{type(exc).__name__}）")
            return
        buffer.append((message, payload, system))

    def _apply(self, conn, batch, buffer):
        """Run one worker for ``batch`` and settle its messages. Meanwhile
        the connection is drained (heartbeats; new messages go to
        ``buffer``)."""
        done = Event()

        def handle_result(worker_ctx, result, exc_info):
            done.send((result, exc_info))
            return result, exc_info

        self.container.spawn_worker(
            self, ([(payload, system) for _, payload, system in batch],),
            {}, handle_result=handle_result)
        while not done.ready():
            self._drain(conn, POLL)
        outcomes, exc_info = done.wait()
        if exc_info is not None:
            exc = exc_info[1]
            if self._retry(exc):
                log.warning("ingest: transient failure (%s); re-queueing %d "
                            "messages", type(exc).__name__, len(batch))
                eventlet.sleep(RETRY_PAUSE)
                for message, _, _ in batch:
                    message.requeue()
            elif len(batch) > 1:
                log.warning("ingest: a batch of %d failed (%s); applying it "
                            "one by one", len(batch), type(exc).__name__)
                for item in batch:
                    self._apply(conn, [item], buffer)
            else:
                self._reject(batch[0][0], describe(exc))
            return
        paused = False
        for (message, _, _), error in zip(batch, outcomes):
            if error is None:
                message.ack()
            elif self._retry(error):
                if not paused:
                    log.warning("ingest: transient failure (%s); "
                                "re-queueing", type(error).__name__)
                    eventlet.sleep(RETRY_PAUSE)
                    paused = True
                message.requeue()
            else:
                self._reject(message, describe(error))

    @staticmethod
    def _retry(exc):
        return is_transient(exc) or \
            getattr(exc, "code", None) in domain.RETRYABLE

    def _reject(self, message, reason):
        """Publish the message to the rejected queue with the reason
        (publisher confirms), then ack it; phones and emails in it are
        masked, the original body sealed (``privacy.dead_letter``)."""
        headers = dict(message.headers or {})
        headers[wiring.REJECTION_HEADER] = privacy.mask_text(reason)
        body, sealed = privacy.dead_letter(
            message.body, privacy.contact_keys(self.settings))
        headers.update(sealed)
        user = message.properties.get("user_id")
        if user:
            headers["x-user-id"] = user
        headers["x-routing-key"] = message.delivery_info.get("routing_key")
        conn = Connection(self.settings.amqp_uri,
                          transport_options={"confirm_publish": True})
        with producers[conn].acquire(block=True) as producer:
            producer.publish(
                body, exchange="",
                routing_key=wiring.INGEST_REJECTED_QUEUE, delivery_mode=2,
                headers=headers, retry=True,
                content_type=message.content_type or "application/octet-stream",
                content_encoding=message.content_encoding or "binary",
                message_id=message.properties.get("message_id"),
                declare=[rejected_queue()])
        message.ack()
        log.warning("ingest: rejected a message: %s", reason)


ingest_consumer = IngestConsumer.decorator
