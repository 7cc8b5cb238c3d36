"""Prometheus metrics (监控指标) every service exposes on ``/metrics``.

One process-wide registry; every series carries a ``service`` label, so
several containers in one process (tests, scale-out) stay apart.
"""

import logging

from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge,
                               Histogram, generate_latest)

log = logging.getLogger(__name__)

EVENTS_CONSUMED = Counter(
    "sifuwu_events_consumed_total",
    "Events a handler received, by outcome (applied, duplicate, "
    "dead_lettered, requeued).",
    ["service", "handler", "event_type", "outcome"])
EVENT_FAILURES = Counter(
    "sifuwu_event_failures_total",
    "Handler failures, by kind (invalid, error, transient).",
    ["service", "handler", "event_type", "kind"])
EVENTS_PUBLISHED = Counter(
    "sifuwu_events_published_total",
    "Events the outbox relay published with a broker confirm.",
    ["service", "event_type"])
DEAD_LETTERED = Counter(
    "sifuwu_dead_lettered_total",
    "Messages sent to a dead-letter queue.",
    ["service", "queue"])
HANDLER_SECONDS = Histogram(
    "sifuwu_handler_seconds",
    "Time an event handler took, whatever the outcome.",
    ["service", "handler", "event_type"])
HTTP_REQUESTS = Counter(
    "sifuwu_http_requests_total",
    "HTTP requests by route template and status.",
    ["service", "method", "route", "status"])
HTTP_SECONDS = Histogram(
    "sifuwu_http_request_seconds",
    "HTTP request latency by route template.",
    ["service", "method", "route"])
QUEUE_DEPTH = Gauge(
    "sifuwu_queue_messages",
    "Messages ready in a queue, read when /metrics is scraped.",
    ["queue"])


def observe_http(service, method, route, status, seconds):
    HTTP_REQUESTS.labels(service or "", method, route, str(status)).inc()
    HTTP_SECONDS.labels(service or "", method, route).observe(seconds)


def queue_depths(amqp_uri, queues, timeout=2):
    """Ready messages per queue (passive declare; a missing queue is
    skipped). Returns {queue: count}."""
    from kombu import Connection
    depths = {}
    with Connection(amqp_uri, connect_timeout=timeout) as conn:
        for name in queues:
            channel = conn.channel()
            try:
                _, count, _ = channel.queue_declare(queue=name, passive=True)
                depths[name] = count
            except Exception:  # noqa: BLE001 - a missing queue closes the channel
                pass
            finally:
                try:
                    channel.close()
                except Exception:  # noqa: BLE001
                    pass
    return depths


def exposition(amqp_uri=None, queues=()):
    """(body, content type) of the Prometheus text format."""
    if amqp_uri and queues:
        try:
            for name, count in queue_depths(amqp_uri, queues).items():
                QUEUE_DEPTH.labels(name).set(count)
        except Exception as exc:  # noqa: BLE001 - metrics must still answer
            log.warning("queue depth unavailable: %s", type(exc).__name__)
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
