"""Messages and their delivery states (消息与投递状态), in one place.

Pure rules only (no nameko, no I/O): statuses and their guarded transitions,
the idempotency key, retry backoff, what an adapter's outcome does to a
message, resends, quiet hours (免打扰时段), SMS segments for Chinese text, how
addresses are masked, the delivery statistics and the per-provider circuit
breaker. Time always comes in as ``now``, the timezone as ``tz``.

Transitions are guarded: send only from ``created`` (or a due
``temporary-failure``); a result is accepted only from ``sending``. A message
left in ``sending`` past its lease (the sender died mid-send) may be claimed
again by the sweeper; that is a *re-claim*, not a transition.
"""

import dataclasses
import datetime as dt
import re
from zoneinfo import ZoneInfo

from sifuwu.errors import Conflict
from sifuwu.privacy import mask_phone, mask_text

CREATED = "created"
SENDING = "sending"
DELIVERED = "delivered"
TEMPORARY_FAILURE = "temporary-failure"
PERMANENT_FAILURE = "permanent-failure"
TECHNICAL_FAILURE = "technical-failure"

STATUSES = (CREATED, SENDING, DELIVERED, TEMPORARY_FAILURE,
            PERMANENT_FAILURE, TECHNICAL_FAILURE)
FAILED = (TEMPORARY_FAILURE, PERMANENT_FAILURE, TECHNICAL_FAILURE)
FINAL = (DELIVERED, PERMANENT_FAILURE, TECHNICAL_FAILURE)
# What the sweeper looks at: each of these carries ``next_at``.
PENDING = (CREATED, SENDING, TEMPORARY_FAILURE)

ALLOWED = {
    CREATED: (SENDING, TECHNICAL_FAILURE),
    SENDING: (DELIVERED, TEMPORARY_FAILURE, PERMANENT_FAILURE,
              TECHNICAL_FAILURE),
    TEMPORARY_FAILURE: (SENDING,),
    DELIVERED: (),
    PERMANENT_FAILURE: (),
    TECHNICAL_FAILURE: (),
}

CHANNELS = ("sms", "email", "wechat", "web", "press")
PERSONAL_CHANNELS = ("sms", "email", "wechat")
PUBLIC_CHANNELS = ("web", "wechat", "press")

# Retries of temporary failures: 30 s, 60 s, 120 s ... capped at one hour,
# at most 6 attempts in all; then the message fails permanently.
RETRY_BASE_SECONDS = 30
RETRY_CAP_SECONDS = 3600
MAX_ATTEMPTS = 6
# A message in ``sending`` longer than this is presumed abandoned.
SEND_LEASE_SECONDS = 120

# 免打扰: no SMS 22:00–08:00 local time unless urgent.
QUIET_START_HOUR = 22
QUIET_END_HOUR = 8

# SMS segments (GSM 03.38 / UCS-2): Chinese text is UCS-2.
UCS2_SINGLE, UCS2_PART = 70, 67
GSM_SINGLE, GSM_PART = 160, 153
_GSM_CHARS = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM_EXTENDED = set("^{}\\[~]|€\f")


def can_move(current, new):
    return new in ALLOWED.get(current, ())


def sources_of(new_status):
    """The statuses a message may move to ``new_status`` from."""
    return [status for status, targets in ALLOWED.items()
            if new_status in targets]


def message_key(event_id, channel, recipient_hash):
    """The idempotency key: one message per event × recipient × channel."""
    return f"{event_id}:{channel}:{recipient_hash[:24]}"


def resend_key(message_id, count):
    return f"{message_id}:resend{count}"


def history_entry(status, now, **extra):
    """One line of a message's history (empty details left out)."""
    entry = {"status": status, "at": now}
    entry.update({k: v for k, v in extra.items() if v is not None})
    return entry


# -- outcomes and resends -----------------------------------------------------

def outcome_change(message, outcome, now, *, max_attempts, retry_base,
                   retry_cap):
    """($set fields, history entry) recording an adapter's ``outcome`` on a
    message in ``sending``: a temporary failure waits for its retry or, its
    attempts used up, fails for good."""
    status = outcome.status
    # A provider may echo the address back: never store it in clear.
    reason = mask_reason(outcome.reason)
    next_at = None
    if status == TEMPORARY_FAILURE:
        status, next_at = after_temporary_failure(
            message.get("attempts", 1), now, max_attempts, retry_base,
            retry_cap)
        if status == PERMANENT_FAILURE:
            reason = f"重试 {message.get('attempts', 1)} 次仍失败: {reason}"
    if not can_move(SENDING, status):
        raise Conflict(f"消息状态不允许转为 {status}")
    fields = {"status": status, "updated_at": now, "next_at": next_at,
              "provider": outcome.provider, "reason": reason}
    if outcome.reference:
        fields["reference"] = outcome.reference
    if status == DELIVERED:
        fields["delivered_at"] = now
    entry = history_entry(status, now, provider=outcome.provider,
                          reason=reason, tried=outcome.tried or None)
    return fields, entry


def check_resend(message):
    """Only a failed message may be sent again."""
    if message["status"] not in FAILED:
        raise Conflict("只有失败的消息可以重发", code="message_not_failed")


def resend_copy(original, count, now, by):
    """A failed message sent again as a new message (its ``count``-th
    resend); the failed one keeps its final state."""
    copy = {k: v for k, v in original.items()
            if k not in ("history", "reference", "delivered_at", "claim")}
    copy.update({
        "_id": resend_key(original["_id"], count),
        "resend_of": original["_id"],
        "resent_by": by,
        "status": CREATED,
        "attempts": 0,
        "provider": None,
        "reason": None,
        "next_at": now,
        "created_at": now,
        "updated_at": now,
        "history": [history_entry(CREATED, now, by=by)],
    })
    return copy


# -- personal data in what is stored and shown ----------------------------------

def mask_address(channel, address):
    """How an address is shown to operators and in logs."""
    if not address:
        return address
    if channel == "sms":
        return mask_phone(address)
    if channel == "email":
        local, _, domain_part = address.partition("@")
        return (local[:1] + "***@" + domain_part) if domain_part else "***"
    if channel == "wechat":
        return address[:4] + "****" if len(address) > 4 else "****"
    return address


EMAIL_RE = re.compile(r"([\w.+-])[\w.+-]*@([\w-]+(\.[\w-]+)+)")


def mask_reason(reason):
    """Mask phones and emails inside a failure reason."""
    if not reason:
        return reason
    return EMAIL_RE.sub(r"\1***@\2", mask_text(reason))


# -- statistics ---------------------------------------------------------------

def stats_rows(messages):
    """Counts per channel × provider × status of ``messages`` (each with
    channel, provider, status, attempts, segments), with the delivery rate
    among those settled."""
    table = {}
    for doc in messages:
        key = (doc.get("channel"), doc.get("provider") or "-")
        row = table.setdefault(key, {
            "channel": key[0], "provider": key[1], "total": 0,
            "attempts": 0, "sms_segments": 0,
            "statuses": {s: 0 for s in STATUSES}})
        row["total"] += 1
        row["attempts"] += doc.get("attempts") or 0
        if doc.get("status") == DELIVERED:
            row["sms_segments"] += doc.get("segments") or 0
        row["statuses"][doc.get("status")] = row["statuses"].get(
            doc.get("status"), 0) + 1
    rows = sorted(table.values(), key=lambda r: (r["channel"] or "",
                                                 r["provider"]))
    for row in rows:
        done = row["statuses"][DELIVERED] + sum(
            row["statuses"][s] for s in (PERMANENT_FAILURE,
                                         TECHNICAL_FAILURE))
        row["delivery_rate"] = (round(row["statuses"][DELIVERED] / done, 4)
                                if done else None)
    return rows


# -- retries ----------------------------------------------------------------

def backoff_seconds(attempts, base=RETRY_BASE_SECONDS, cap=RETRY_CAP_SECONDS):
    """Delay before the next attempt after ``attempts`` failed ones:
    exponential (base · 2^(n-1)), capped."""
    if attempts < 1:
        return 0
    return min(cap, base * 2 ** (attempts - 1))


def after_temporary_failure(attempts, now, max_attempts=MAX_ATTEMPTS,
                            base=RETRY_BASE_SECONDS, cap=RETRY_CAP_SECONDS):
    """(status, retry_at) after the ``attempts``-th attempt failed
    temporarily: retry later, or give up once the attempts are used up."""
    if attempts >= max_attempts:
        return PERMANENT_FAILURE, None
    return TEMPORARY_FAILURE, now + dt.timedelta(
        seconds=backoff_seconds(attempts, base, cap))


# -- quiet hours ------------------------------------------------------------

def zone(tz):
    """``tz`` (a name such as the settings' ``timezone``, or a tzinfo)."""
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def quiet_until(now, tz, start=QUIET_START_HOUR, end=QUIET_END_HOUR):
    """When quiet hours end (UTC), if ``now`` falls inside them; else None."""
    local = now.astimezone(zone(tz))
    overnight = start > end
    inside = (start <= local.hour or local.hour < end) if overnight else (
        start <= local.hour < end)
    if inside:
        day = local.date() if local.hour < end else (
            local.date() + dt.timedelta(days=1))
        wake = dt.datetime.combine(day, dt.time(end), tzinfo=zone(tz))
        return wake.astimezone(dt.timezone.utc)
    return None


def parse_quiet_hours(spec):
    """``"22-8"`` → (22, 8); ``"off"`` or empty → None."""
    spec = (spec or "").strip().lower()
    if spec in ("", "off", "none", "0"):
        return None
    start, _, end = spec.partition("-")
    start, end = int(start), int(end)
    if not (0 <= start < 24 and 0 <= end < 24) or start == end:
        raise ValueError(f"quiet hours must look like 22-8, not {spec!r}")
    return start, end


def due_at(channel, urgent, now, tz,
           quiet=(QUIET_START_HOUR, QUIET_END_HOUR)):
    """When a new message may first be sent: SMS waits out quiet hours
    unless urgent; everything else goes now."""
    if channel == "sms" and not urgent and quiet:
        return quiet_until(now, tz, *quiet) or now
    return now


# -- SMS segments -----------------------------------------------------------

def is_gsm7(text):
    return all(ch in _GSM_CHARS or ch in _GSM_EXTENDED for ch in text)


def sms_segments(text):
    """How many SMS parts ``text`` takes: Chinese (UCS-2) 70 characters in a
    single message, 67 per part of a long one; GSM-7 160 / 153."""
    if not text:
        return 0
    if is_gsm7(text):
        length = sum(2 if ch in _GSM_EXTENDED else 1 for ch in text)
        single, part = GSM_SINGLE, GSM_PART
    else:
        # Characters outside the BMP take two UCS-2 code units.
        length = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)
        single, part = UCS2_SINGLE, UCS2_PART
    if length <= single:
        return 1
    return -(-length // part)


# -- preferences ------------------------------------------------------------

def channels_for(route_channels, preference, essential):
    """(channels to use, reason when none) for one recipient.

    ``preference`` is the stored preference or None. Non-essential messages
    respect an opt-out and the chosen channels; essential ones (督查 deadlines,
    escalations) fall back to the route's channels if the chosen ones do not
    fit, so they always reach someone."""
    if not preference:
        return list(route_channels), None
    if not essential and preference.get("opt_out_non_essential"):
        return [], "recipient_opted_out"
    chosen = preference.get("channels")
    if not chosen:
        return list(route_channels), None
    wanted = [c for c in route_channels if c in chosen]
    if wanted:
        return wanted, None
    if essential:
        return list(route_channels), None
    return [], "no_preferred_channel"


# -- circuit breaker --------------------------------------------------------

@dataclasses.dataclass
class CircuitBreaker:
    """One per SMS provider: after ``threshold`` consecutive failures the
    provider is skipped for ``cooldown`` seconds; then one trial request
    (half-open) decides whether it is back."""

    threshold: int = 3
    cooldown: float = 60.0
    failures: int = 0
    opened_at: dt.datetime | None = None
    trial: bool = False

    @property
    def state(self):
        if self.opened_at is None:
            return "closed"
        return "half-open" if self.trial else "open"

    def allow(self, now):
        if self.opened_at is None:
            return True
        if self.trial:
            return False  # a trial request is already out
        if (now - self.opened_at).total_seconds() >= self.cooldown:
            self.trial = True
            return True
        return False

    def success(self):
        self.failures = 0
        self.opened_at = None
        self.trial = False

    def failure(self, now):
        self.failures += 1
        if self.trial or self.failures >= self.threshold:
            self.opened_at = now
        self.trial = False
