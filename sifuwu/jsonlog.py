"""Structured logs (结构化日志): one JSON object per line, with the event id
and correlation id of the message being handled, personal data masked.

``sifuwu/config.yaml`` selects ``JsonFormatter`` for every service
(``SIFUWU_LOG_FORMAT=plain`` switches back to plain text). Handlers run
inside ``log_context(envelope)``, so every line they log carries the ids.
"""

import contextlib
import contextvars
import datetime as dt
import json
import logging

from sifuwu.privacy import mask_text, redact_links

_context = contextvars.ContextVar("sifuwu_log_context", default=None)

# Fields a caller may pass with ``extra={...}``; they are copied when set.
EXTRA_FIELDS = ("event_id", "correlation_id", "event_type", "service",
                "handler", "route", "status")


@contextlib.contextmanager
def log_context(envelope=None, **fields):
    """Add the envelope's ids (and ``fields``) to every log line inside."""
    values = dict(_context.get() or {})
    if envelope:
        values.update({
            "event_id": envelope.get("event_id"),
            "correlation_id": envelope.get("correlation_id"),
            "event_type": envelope.get("type"),
        })
    values.update({k: v for k, v in fields.items() if v is not None})
    token = _context.set(values)
    try:
        yield values
    finally:
        _context.reset(token)


def current_context():
    return dict(_context.get() or {})


def scrub(text):
    """Log text with phone numbers masked and bearer links' tokens gone."""
    return redact_links(mask_text(text))


class ScrubFilter(logging.Filter):
    """A handler filter (``sifuwu/config.yaml``) that scrubs every record's
    message whatever the formatter, e.g. the web server's access log lines
    (``"GET /f/<token> HTTP/1.1"``)."""

    def filter(self, record):
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - leave a malformed record alone
            return True
        record.msg, record.args = scrub(message), None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line; phone numbers masked and bearer links
    redacted everywhere."""

    def format(self, record):
        doc = {
            "ts": dt.datetime.fromtimestamp(
                record.created, dt.timezone.utc).isoformat(
                    timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        for key, value in current_context().items():
            if value is not None:
                doc[key] = value
        for key in EXTRA_FIELDS:
            value = getattr(record, key, None)
            if value is not None:
                doc[key] = value
        if record.exc_info:
            doc["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(doc, ensure_ascii=False, default=str)
