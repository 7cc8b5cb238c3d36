"""Sending a stored message through its channel adapter, and the sweeper.

``Dispatcher`` holds the adapters (and so the SMS circuit breakers) for the
life of the service; ``send`` claims a due message (guarded), decrypts the
address, calls the adapter and records the outcome (guarded). ``sweep`` sends
every message that is due: new ones held by quiet hours, retries whose backoff
has passed, and ones stuck in ``created`` or ``sending``.

Sending works in chunks of ``SEND_CHUNK`` messages: one claim of the chunk
(two statements), the adapter calls side by side, ``SEND_CONCURRENCY`` at a
time (each message still goes out on its own, under its id as the gateway
reference), then one bulk write of the outcomes; a single message takes the
same path. A message is sent only by the sender that claimed it, and a
sender that dies between the gateway call and the record leaves it in
``sending`` until its lease has passed, when the sweeper sends it again
under the same reference. A chunk takes at most three times one message's
worst case (two SMS providers timing out: 10 s), far inside the lease
(120 s): a claimed message is never still waiting for its send when the
sweeper may take it over.
"""

import logging
import uuid

import eventlet

from sifuwu.privacy import ContactKeys
from services.notify import channels as ch
from services.notify import domain
from services.notify.planning import log_line
from services.notify.repository import NotifyRepository

log = logging.getLogger(__name__)

SEND_CHUNK = 25  # messages claimed and recorded together
SEND_CONCURRENCY = 10  # of a chunk's messages, at most this many in flight


def record_outcomes(repo, results, now, *, max_attempts, retry_base,
                    retry_cap):
    """Record adapters' outcomes, [(claimed message, outcome)], on the
    messages (guarded: only the claim that sent one records it); returns
    the updated messages."""
    changes = []
    for message, outcome in results:
        fields, entry = domain.outcome_change(
            message, outcome, now, max_attempts=max_attempts,
            retry_base=retry_base, retry_cap=retry_cap)
        changes.append((message, fields, entry))
    return repo.finish_many(changes)


class Dispatcher:
    """The adapters, built from ``settings`` (``NotifySettings``)."""

    def __init__(self, settings, adapters=None):
        self.settings = settings
        self.adapters = adapters or ch.build_adapters(settings)

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
        return domain.parse_quiet_hours(self.settings.quiet_hours)

    def send(self, db, message_id, now, *, secret):
        """Try to deliver one message now; returns the updated message, or
        None when it is not due or another sender holds it."""
        sent = self.send_due(db, [message_id], now, secret=secret)
        return sent[0] if sent else None

    def _deliver(self, db, message, now, secret):
        """The adapter's outcome for a claimed message (never raises)."""
        adapter = self.adapters.get(message["channel"])
        try:
            # the contact keys; without SIFUWU_CONTACT_KEYS, derived from
            # the secret the caller seals with
            sealer = ContactKeys.configured(self.settings.contact_keys, secret)
            address = sealer.open(message["to_enc"]) \
                if message.get("to_enc") else None
            if message.get("body_enc"):  # the live link, for the adapter only
                message = dict(message, body=sealer.open(message["body_enc"]))
            if adapter is None:
                return ch.Outcome.technical(
                    None, f"no adapter for {message['channel']}")
            return adapter.send(ch.Delivery(
                message, address, now,
                board=NotifyRepository.on(db).store_board_item))
        except Exception as exc:  # noqa: BLE001 - recorded on the message
            log.exception("adapter failed on %s", message["_id"])
            return ch.Outcome.technical(
                None, f"{type(exc).__name__}: {exc}"[:300])

    def send_due(self, db, ids, now, *, secret):
        """Send the messages among ``ids`` that are due at ``now``; returns
        the updated ones, in the order of ``ids``."""
        ids = list(dict.fromkeys(ids))
        sent = []
        for start in range(0, len(ids), SEND_CHUNK):
            sent += self._send_chunk(db, ids[start:start + SEND_CHUNK], now,
                                     secret)
        order = {message_id: n for n, message_id in enumerate(ids)}
        return sorted(sent, key=lambda m: order[m["_id"]])

    def _send_chunk(self, db, ids, now, secret):
        repo = NotifyRepository.on(db)
        claimed = repo.claim_many(ids, now, uuid.uuid4().hex)
        if not claimed:
            return []
        pool = eventlet.GreenPool(min(len(claimed), SEND_CONCURRENCY))
        outcomes = list(pool.imap(
            lambda message: self._deliver(db, message, now, secret),
            claimed))
        updated = record_outcomes(
            repo, list(zip(claimed, outcomes)), now,
            max_attempts=self.settings.max_attempts,
            retry_base=self.settings.retry_base,
            retry_cap=self.settings.retry_cap)
        for message in updated:
            log.info("%s via %s", log_line(message), message.get("provider"))
        return updated

    def sweep(self, db, now, *, secret, limit=100):
        """Re-send everything due: returns the messages attempted."""
        return self.send_due(db, NotifyRepository.on(db).due(now, limit),
                             now, secret=secret)

    def describe(self):
        return [adapter.describe() for adapter in self.adapters.values()]


def first_due(messages, now):
    """Ids of the new ``messages`` to send at once (not held)."""
    return [m["_id"] for m in messages
            if m["status"] == domain.CREATED and m["next_at"] <= now]
