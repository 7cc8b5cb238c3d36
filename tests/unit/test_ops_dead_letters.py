"""Pure parts of dead-letter handling: message ids, what a replay sends,
and messages the broker itself dead-lettered (cluster delivery limit)."""

import json
from types import SimpleNamespace

from sifuwu import wiring
from sifuwu.consumer import original_route
from tooling.ops import dlq


def test_message_key_is_the_event_id_or_a_digest():
    assert dlq.message_key(json.dumps({"event_id": "e-1"}).encode()) == "e-1"
    key = dlq.message_key(b"not json \xff")
    assert key.startswith("sha1:") and len(key) == 17
    assert dlq.message_key(b"not json \xff") == key


def test_replay_drops_rejection_headers_and_counts_replays():
    letter = dlq.DeadLetter(
        queue=wiring.DEAD_LETTER_QUEUE, key="e-1", reason="boom",
        service="notify", exchange="feedback.events",
        routing_key="invitation.issued",
        headers={wiring.REJECTION_HEADER: "boom", "x-service": "notify",
                 wiring.ORIGINAL_EXCHANGE_HEADER: "feedback.events",
                 "x-replay-count": 1, "correlation_id": "act-1"},
        body=b"{}", content_type="application/json",
        content_encoding="utf-8")
    assert dlq.replay_headers(letter, wiring.DEAD_LETTER_QUEUE) == {
        "correlation_id": "act-1", "x-replayed-from": "sifuwu.dead-letters",
        "x-replay-count": 2}


def test_broker_dead_lettered_message_keeps_its_origin():
    message = SimpleNamespace(
        body=b'{"event_id": "e-9"}', delivery_tag=7,
        properties={"application_headers": {"x-death": [{
            "reason": "delivery_limit", "queue": "evt-a-b--c.d",
            "exchange": "activity.events",
            "routing-keys": ["activity.logged"]}]},
            "content_type": "application/json"})
    letter = dlq._to_dead_letter(wiring.DEAD_LETTER_QUEUE, message)
    assert letter.key == "e-9"
    assert letter.reason == "broker: delivery_limit in evt-a-b--c.d"
    assert (letter.exchange, letter.routing_key) == (
        "activity.events", "activity.logged")
    assert "x-death" not in dlq.replay_headers(letter, letter.queue)


def test_original_route_of_an_event_handler():
    entrypoint = SimpleNamespace(
        source_service="feedback", event_type="invitation.issued",
        method_name="on_invitation_issued",
        container=SimpleNamespace(service_name="notify"))
    assert original_route(entrypoint) == {
        "x-original-exchange": "feedback.events",
        "x-original-routing-key": "invitation.issued",
        "x-original-queue":
            "evt-feedback-invitation.issued--notify.on_invitation_issued"}
    assert original_route(SimpleNamespace(method_name="health")) == {}
