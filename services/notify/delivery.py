"""Sending a stored message through its channel adapter, and the sweeper.

``Dispatcher`` holds the adapters (and so the SMS circuit breakers) for the
life of the service; ``send`` claims a due message (guarded), decrypts the
address, calls the adapter and records the outcome (guarded). ``sweep`` sends
every message that is due: new ones held by quiet hours, retries whose backoff
has passed, and ones stuck in ``created`` or ``sending``.
"""

import logging

from sifuwu.privacy import Sealer
from services.notify import channels as ch
from services.notify import domain, repository
from services.notify.planning import log_line

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(self, config, adapters=None):
        self.config = config
        self.adapters = adapters or ch.build_adapters(config)

    @property
    def available(self):
        return {name for name, adapter in self.adapters.items()
                if not isinstance(adapter, ch.Unconfigured)}

    @property
    def quiet_hours(self):
        """SMS quiet hours, or None. The delivery log rings no phone, so it
        has none (the embedded default stays deterministic day and night)."""
        if isinstance(self.adapters.get("sms"), ch.DeliveryLogSms):
            return None
        return domain.parse_quiet_hours(self.config.quiet_hours)

    def send(self, db, message_id, now, *, secret):
        """Try to deliver one message now; returns the updated message, or
        None when it is not due or another sender holds it."""
        message = repository.claim(db, message_id, now)
        if message is None:
            return None
        adapter = self.adapters.get(message["channel"])
        try:
            address = Sealer(secret).open(message["to_enc"]) \
                if message.get("to_enc") else None
            if adapter is None:
                outcome = ch.Outcome.technical(
                    None, f"no adapter for {message['channel']}")
            else:
                outcome = adapter.send(ch.Delivery(
                    message, address, now, board=repository.board_sink(db)))
        except Exception as exc:  # noqa: BLE001 - recorded on the message
            log.exception("adapter failed on %s", message_id)
            outcome = ch.Outcome.technical(
                None, f"{type(exc).__name__}: {exc}"[:300])
        updated = repository.finish(
            db, message, outcome, now,
            max_attempts=self.config.max_attempts,
            retry_base=self.config.retry_base,
            retry_cap=self.config.retry_cap)
        log.info("%s via %s", log_line(updated), outcome.provider)
        return updated

    def send_due(self, db, ids, now, *, secret):
        """Send the messages among ``ids`` that are due at ``now``."""
        return [m for m in (self.send(db, i, now, secret=secret) for i in ids)
                if m is not None]

    def sweep(self, db, now, *, secret, limit=100):
        """Re-send everything due: returns the messages attempted."""
        return self.send_due(db, repository.due(db, now, limit), now,
                             secret=secret)

    def describe(self):
        return [adapter.describe() for adapter in self.adapters.values()]


def first_due(messages, now):
    return [m["_id"] for m in messages
            if m["status"] == domain.CREATED and m["next_at"] <= now]
