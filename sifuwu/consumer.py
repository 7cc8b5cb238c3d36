"""Event consumers that never lose a message and never apply one twice.

``consumes(publisher, event_type)`` wraps nameko's ``event_handler``:

* the envelope is validated; an invalid one is dead-lettered with the reason;
* a transient failure (store or broker unreachable) re-queues the message
  after a pause, so nothing is lost during an outage;
* any other failure is dead-lettered with the reason instead of being acked
  and forgotten (nameko's default) or retried forever.

Handlers are idempotent through ``StoreAccess.transaction(consumed=...)``.
"""

import functools
import json
import logging
import time

import eventlet
from kombu import Connection
from kombu.pools import producers
from marshmallow import ValidationError
from nameko.events import EventHandler
from nameko.extensions import DependencyProvider

from sifuwu import wiring
from sifuwu.errors import DomainError
from sifuwu.events import load_envelope
from sifuwu import metrics, privacy
from sifuwu.jsonlog import log_context
from sifuwu.settings import Settings
from sifuwu.store import Duplicate, is_transient

log = logging.getLogger(__name__)

TRANSIENT_PAUSE = 1.0


class SettlingEventHandler(EventHandler):
    """nameko's event handler, surviving a broker that went away while the
    worker ran: nameko swallows only amqp's ConnectionError when it acks or
    re-queues, so a reset socket (OSError) killed the whole service. The
    unsettled message goes back to the queue with its channel and is
    redelivered; the consumer's dedupe makes that harmless."""

    def handle_message_processed(self, message, result=None, exc_info=None):
        try:
            super().handle_message_processed(message, result, exc_info)
        except OSError as exc:
            log.warning("could not settle a message (%s: %s); the broker "
                        "redelivers it", type(exc).__name__, exc)


class DeadLetters(DependencyProvider):
    """Publishes a rejected message to the dead-letter queue with the
    reason in ``x-rejection-reason``: the body intact, except that a phone
    or email in it is masked and the original kept sealed with the contact
    key in ``x-sealed-body`` (``sifuwu.privacy.seal_body``)."""

    def setup(self):
        self.settings = Settings.from_config(self.container.config)
        self.contact_keys = privacy.contact_keys(self.settings)

    def get_dependency(self, worker_ctx):
        return functools.partial(self.publish, worker_ctx=worker_ctx)

    def publish(self, body, reason, *, worker_ctx=None,
                queue=wiring.DEAD_LETTER_QUEUE):
        exchange = wiring.dead_letter_exchange()
        headers = {wiring.REJECTION_HEADER: reason,
                   "x-service": self.container.service_name}
        if worker_ctx is not None:
            headers["x-entrypoint"] = worker_ctx.entrypoint.method_name
            headers.update(original_route(worker_ctx.entrypoint))
        conn = Connection(self.settings.amqp_uri,
                          transport_options={"confirm_publish": True})
        payload = body if isinstance(body, (bytes, str)) else json.dumps(
            body, ensure_ascii=False, default=str)
        # no phone or email in clear in a dead letter (an event of the old,
        # clear shape that fails): masked, the original sealed beside it
        payload, sealed = privacy.dead_letter(payload, self.contact_keys)
        headers.update(sealed)
        headers[wiring.REJECTION_HEADER] = privacy.mask_text(reason)
        with producers[conn].acquire(block=True) as producer:
            producer.publish(
                payload, exchange=exchange, routing_key=queue,
                delivery_mode=2, headers=headers, retry=True,
                content_type="application/json", content_encoding="utf-8",
                declare=[wiring.dead_letter_queue()])
        metrics.DEAD_LETTERED.labels(self.container.service_name, queue).inc()
        log.warning("dead-lettered a message: %s", reason)


def original_route(entrypoint):
    """Where the failed message came from, so ``sifuwu dlq replay`` can
    send it back: {x-original-exchange, x-original-routing-key[, queue]}."""
    source = getattr(entrypoint, "source_service", None)
    event_type = getattr(entrypoint, "event_type", None)
    if source and event_type:
        return {wiring.ORIGINAL_EXCHANGE_HEADER: f"{source}.events",
                wiring.ORIGINAL_ROUTING_KEY_HEADER: event_type,
                "x-original-queue": wiring.subscription_queue_name(
                    source, event_type, entrypoint.container.service_name,
                    entrypoint.method_name)}
    queue = getattr(entrypoint, "queue", None)
    if queue is not None and getattr(queue, "exchange", None) is not None:
        return {wiring.ORIGINAL_EXCHANGE_HEADER: queue.exchange.name or "",
                wiring.ORIGINAL_ROUTING_KEY_HEADER: queue.routing_key or "",
                "x-original-queue": queue.name or ""}
    return {}


class _DeadLettered(Exception):
    """Internal: the message was dead-lettered (``kind`` for metrics)."""

    def __init__(self, kind):
        super().__init__(kind)
        self.kind = kind


def describe(exc):
    if isinstance(exc, ValidationError):
        return "invalid: " + json.dumps(exc.messages, ensure_ascii=False,
                                        sort_keys=True)
    if isinstance(exc, DomainError):
        return f"{exc.code}: {exc.message}"
    return f"handler_error: {type(exc).__name__}: {exc}"


def consumes(publisher, event_type):
    """Declare an idempotent, dead-lettering consumer of ``event_type``.

    The decorated method receives the validated envelope. It must be listed
    in ``sifuwu.wiring.SUBSCRIPTIONS``.
    """

    def decorator(fn):
        @functools.wraps(fn)
        def handler(self, payload):
            labels = (type(self).name or "", fn.__name__, event_type)
            started = time.perf_counter()
            outcome, kind = "applied", None
            try:
                return _handle(self, payload)
            except Duplicate:
                outcome = "duplicate"
                return None
            except _DeadLettered as exc:
                outcome, kind = "dead_lettered", exc.kind
                return None
            except Exception:
                outcome, kind = "requeued", "transient"
                raise
            finally:
                metrics.EVENTS_CONSUMED.labels(*labels, outcome).inc()
                if kind:
                    metrics.EVENT_FAILURES.labels(*labels, kind).inc()
                metrics.HANDLER_SECONDS.labels(*labels).observe(
                    time.perf_counter() - started)

        def _handle(self, payload):
            try:
                envelope = load_envelope(payload)
            except ValidationError as exc:
                self.dead_letters(payload, describe(exc))
                raise _DeadLettered("invalid")
            with log_context(envelope):
                try:
                    return fn(self, envelope)
                except Duplicate:
                    log.info("duplicate event %s ignored",
                             envelope["event_id"])
                    raise
                except Exception as exc:  # noqa: BLE001 - classified below
                    if is_transient(exc):
                        log.warning("transient failure on %s (%s); "
                                    "re-queueing", envelope["event_id"],
                                    type(exc).__name__)
                        eventlet.sleep(TRANSIENT_PAUSE)
                        raise
                    log.exception("event %s failed", envelope["event_id"])
                    self.dead_letters(payload, describe(exc))
                    raise _DeadLettered("error")

        handler.consumes = (publisher, event_type)
        return SettlingEventHandler.decorator(
            publisher, event_type, requeue_on_error=True)(handler)

    return decorator
