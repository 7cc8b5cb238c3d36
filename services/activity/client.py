"""A minimal sender for the ingest contract (接入客户端), for other systems'
integrators, the docs' examples and the tests: HTTP and AMQP."""

import json

import requests
from kombu import Connection, Exchange

from sifuwu import wiring


def post_event(base_url, token, envelope, timeout=10):
    """``POST /api/v1/events``; returns the ``requests`` response."""
    return requests.post(f"{base_url}/api/v1/events", json=envelope,
                         headers={"Authorization": f"Bearer {token}"},
                         timeout=timeout)


def post_batch(base_url, token, envelopes, timeout=60):
    """``POST /api/v1/events:batch`` with up to 1,000 envelopes."""
    return requests.post(f"{base_url}/api/v1/events:batch",
                         json={"events": list(envelopes)},
                         headers={"Authorization": f"Bearer {token}"},
                         timeout=timeout)


def publish_event(amqp_uri, envelope, *, user_id, body=None, headers=None):
    """Publish an envelope to ``sifuwu.ingest`` as the broker user
    ``user_id`` (who must be the user of ``amqp_uri``): persistent, routing
    key = type, with publisher confirms. ``body`` overrides the JSON body
    (e.g. to send something broken on purpose)."""
    exchange = Exchange(wiring.INGEST_EXCHANGE, type="topic", durable=True)
    payload = body if body is not None else json.dumps(
        envelope, ensure_ascii=False).encode("utf-8")
    properties = {"user_id": user_id} if user_id else {}
    with Connection(amqp_uri,
                    transport_options={"confirm_publish": True}) as conn:
        producer = conn.Producer()
        producer.publish(
            payload, exchange=exchange,
            routing_key=(envelope or {}).get("type", "unknown"),
            delivery_mode=2, content_type="application/json",
            content_encoding="utf-8", headers=headers or {}, retry=True,
            **properties)
