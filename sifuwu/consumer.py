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

import eventlet
from kombu import Connection
from kombu.pools import producers
from marshmallow import ValidationError
from nameko.events import event_handler
from nameko.extensions import DependencyProvider

from sifuwu import wiring
from sifuwu.errors import DomainError
from sifuwu.events import load_envelope
from sifuwu.settings import Settings
from sifuwu.store import Duplicate, is_transient

log = logging.getLogger(__name__)

TRANSIENT_PAUSE = 1.0


class DeadLetters(DependencyProvider):
    """Publishes a rejected message, body intact, to the dead-letter queue
    with the reason in ``x-rejection-reason``."""

    def setup(self):
        self.settings = Settings.from_config(self.container.config)

    def get_dependency(self, worker_ctx):
        return functools.partial(self.publish, worker_ctx=worker_ctx)

    def publish(self, body, reason, *, worker_ctx=None,
                queue=wiring.DEAD_LETTER_QUEUE):
        exchange = wiring.dead_letter_exchange()
        headers = {wiring.REJECTION_HEADER: reason,
                   "x-service": self.container.service_name}
        if worker_ctx is not None:
            headers["x-entrypoint"] = worker_ctx.entrypoint.method_name
        conn = Connection(self.settings.amqp_uri,
                          transport_options={"confirm_publish": True})
        payload = body if isinstance(body, (bytes, str)) else json.dumps(
            body, ensure_ascii=False, default=str)
        with producers[conn].acquire(block=True) as producer:
            producer.publish(
                payload, exchange=exchange, routing_key=queue,
                delivery_mode=2, headers=headers, retry=True,
                content_type="application/json", content_encoding="utf-8",
                declare=[wiring.dead_letter_queue()])
        log.warning("dead-lettered a message: %s", reason)


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
            try:
                envelope = load_envelope(payload)
            except ValidationError as exc:
                self.dead_letters(payload, describe(exc))
                return None
            try:
                return fn(self, envelope)
            except Duplicate:
                log.info("duplicate event %s ignored", envelope["event_id"])
                return None
            except Exception as exc:  # noqa: BLE001 - classified below
                if is_transient(exc):
                    log.warning("transient failure on %s (%s); re-queueing",
                                envelope["event_id"], type(exc).__name__)
                    eventlet.sleep(TRANSIENT_PAUSE)
                    raise
                log.exception("event %s failed", envelope["event_id"])
                self.dead_letters(payload, describe(exc))
                return None

        handler.consumes = (publisher, event_type)
        return event_handler(publisher, event_type,
                             requeue_on_error=True)(handler)

    return decorator
