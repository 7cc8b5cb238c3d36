"""Batch consumers (批量消费): where one transaction per event is too slow.

nameko's event handler runs one worker per message. ``batch_consumes`` is a
kombu-based nameko entrypoint on the *same* queue a nameko event handler
would use (so ``sifuwu.wiring`` stays the one registry): it collects up to
``max_batch`` messages or waits ``max_wait`` seconds, runs one worker with
the whole batch, and acks the messages only after the worker's transaction
has committed.

* invalid envelopes are dead-lettered one by one, the rest go on;
* a transient failure (store or broker away) re-queues the whole batch;
* any other failure replays the batch one event at a time, so only the
  event that fails is dead-lettered;
* dedupe is on the event id, as for single consumers
  (``StoreAccess.transaction_batch``).
"""

import functools
import logging
import socket
import time

import eventlet
from eventlet.event import Event
from kombu import Connection, Consumer, Queue
from marshmallow import ValidationError
from nameko.extensions import Entrypoint

from sifuwu import wiring
from sifuwu.consumer import describe
from sifuwu.events import load_envelope
from sifuwu.settings import Settings
from sifuwu.store import Duplicate, is_transient

log = logging.getLogger(__name__)

IDLE_WAIT = 1.0
RECONNECT_PAUSE = 1.0


class BatchEventConsumer(Entrypoint):
    def __init__(self, publisher, event_type, max_batch=200, max_wait=0.05,
                 **kwargs):
        self.publisher = publisher
        self.event_type = event_type
        self.max_batch = max_batch
        self.max_wait = max_wait
        self._stopping = False
        self._thread = None
        super().__init__(**kwargs)

    @property
    def source_service(self):  # the same attribute nameko's EventHandler has
        return self.publisher

    def setup(self):
        self.settings = Settings.from_config(self.container.config)
        self.queue = Queue(
            wiring.subscription_queue_name(
                self.publisher, self.event_type,
                self.container.service_name, self.method_name),
            exchange=wiring.event_exchange(self.publisher),
            routing_key=self.event_type, durable=True, auto_delete=False)

    def start(self):
        self._stopping = False
        try:  # declare now, so nothing published from here on is dropped
            with Connection(self.settings.amqp_uri, connect_timeout=5) as conn:
                self.queue(conn.default_channel).declare()
        except Exception as exc:  # noqa: BLE001 - the consumer loop retries
            log.warning("cannot declare %s yet: %s", self.queue.name, exc)
        self._thread = self.container.spawn_managed_thread(self._run)

    def stop(self):
        self._stopping = True
        if self._thread is not None:
            self._thread.wait()

    def kill(self):
        self._stopping = True
        if self._thread is not None:
            self._thread.kill()

    def _run(self):
        while not self._stopping:
            try:
                with Connection(self.settings.amqp_uri, heartbeat=0) as conn:
                    self._consume(conn)
            except Exception as exc:  # noqa: BLE001 - reconnect and go on
                if self._stopping:
                    break
                log.warning("batch consumer %s: %s: %s; reconnecting",
                            self.method_name, type(exc).__name__, exc)
                eventlet.sleep(RECONNECT_PAUSE)

    def _consume(self, conn):
        channel = conn.channel()
        channel.basic_qos(0, self.max_batch * 2, False)
        buffer = []

        def on_message(body, message):
            buffer.append((body, message))

        with Consumer(channel, queues=[self.queue], callbacks=[on_message],
                      accept=["json"]):
            while not self._stopping:
                wait = IDLE_WAIT if not buffer else self.max_wait
                deadline = time.monotonic() + wait
                while len(buffer) < self.max_batch and not self._stopping:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    try:
                        conn.drain_events(timeout=remaining)
                    except socket.timeout:
                        break
                    if buffer and wait == IDLE_WAIT:
                        deadline = time.monotonic() + self.max_wait
                        wait = self.max_wait
                if buffer:
                    self._dispatch(buffer)
                    buffer = []

    def _dispatch(self, buffer):
        done = Event()

        def handle_result(worker_ctx, result, exc_info):
            done.send(exc_info)
            return result, exc_info

        self.container.spawn_worker(
            self, ([body for body, _ in buffer],), {},
            handle_result=handle_result)
        exc_info = done.wait()
        if exc_info is None:
            for _, message in buffer:
                message.ack()
        else:
            log.warning("batch of %d re-queued after %s", len(buffer),
                        exc_info[0].__name__)
            eventlet.sleep(RECONNECT_PAUSE)
            for _, message in buffer:
                message.requeue()


def batch_consumes(publisher, event_type, max_batch=200, max_wait=0.05):
    """Declare a batch consumer: the method receives a list of validated
    envelopes and must apply them with ``store.transaction_batch``."""

    def decorator(fn):
        @functools.wraps(fn)
        def handler(self, payloads):
            pairs = []
            for payload in payloads:
                try:
                    pairs.append((load_envelope(payload), payload))
                except ValidationError as exc:
                    self.dead_letters(payload, describe(exc))
            envelopes = [envelope for envelope, _ in pairs]
            if not envelopes:
                return None
            try:
                return fn(self, envelopes)
            except Exception as exc:  # noqa: BLE001 - classified below
                if is_transient(exc):
                    raise
                log.warning("batch failed (%s); replaying one by one",
                            type(exc).__name__)
            for envelope, payload in pairs:
                try:
                    fn(self, [envelope])
                except Duplicate:
                    continue
                except Exception as exc:  # noqa: BLE001 - classified below
                    if is_transient(exc):
                        raise
                    self.dead_letters(payload, describe(exc))
            return None

        handler.consumes = (publisher, event_type)
        return BatchEventConsumer.decorator(
            publisher, event_type, max_batch=max_batch,
            max_wait=max_wait)(handler)

    return decorator
