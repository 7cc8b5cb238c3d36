"""Shared plumbing as plain functions and nameko worker_factory units."""

from zoneinfo import ZoneInfo

import pytest
from marshmallow import ValidationError
from nameko.testing.services import worker_factory

from services.assessment import domain as assessment_domain
from services.assessment.service import AssessmentService
from services.notify import domain as notify_domain
from sifuwu import events as ev
from sifuwu.auth import parse_tokens
from sifuwu.consumer import describe
from sifuwu.privacy import Sealer, mask_name, mask_phone, mask_text
from tooling.stack import serve_env
from sifuwu.store import Duplicate
from sifuwu.web import reject_operators


def test_envelope_requires_offset_and_fields():
    with pytest.raises(ValidationError) as err:
        ev.load_envelope({"event_id": "1", "type": "Bad Type", "source": "x",
                          "occurred_at": "2026-01-01T00:00:00", "data": {}})
    assert set(err.value.messages) == {"type", "occurred_at"}
    good = ev.make_event("activity.logged", {"a": 1}, source="activity")
    assert ev.load_envelope(good)["data"] == {"a": 1}


def test_operator_keys_rejected_at_any_depth():
    with pytest.raises(ValidationError):
        reject_operators({"a": [{"b": {"$where": "1"}}]})
    reject_operators({"a": [{"b": "$where is fine as a value"}]})


def test_masking_and_sealing():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_name("王小明") == "王**"
    assert mask_text("致电13812345678") == "致电138****5678"
    sealer = Sealer("s")
    token = sealer.seal("13812345678")
    assert "13812345678" not in token
    assert sealer.open(token) == "13812345678"


def test_token_spec_parsing():
    assert parse_tokens("demo=demo-token, hotline=abc,bad") == {
        "demo-token": "demo", "abc": "hotline"}


def test_describe_reasons():
    assert describe(ValidationError({"x": ["bad"]})).startswith("invalid:")
    assert describe(KeyError("k")) == "handler_error: KeyError: 'k'"


def test_month_is_local_time():
    # 2026-01-31T17:00Z is 2026-02-01 01:00 in Beijing
    assert assessment_domain.month_of("2026-01-31T17:00:00+00:00",
                                     ZoneInfo("Asia/Shanghai")) == "2026-02"


def test_delivery_transitions_are_guarded():
    assert notify_domain.can_move("created", "sending")
    assert not notify_domain.can_move("created", "delivered")
    assert not notify_domain.can_move("delivered", "sending")


def test_assessment_handler_records_the_consumed_event():
    service = worker_factory(AssessmentService)
    service.config = {}
    envelope = ev.make_event("activity.logged", {
        "member_id": "m1", "occurred_at": "2026-03-02T09:00:00+08:00"},
        source="activity")
    service.on_activity_logged([envelope])
    service.store.transaction_batch.assert_called_once()
    call = service.store.transaction_batch.call_args
    assert [e["event_id"] for e in call.args[1]] == [envelope["event_id"]]
    service.dead_letters.assert_not_called()


def test_invalid_event_is_dead_lettered_not_raised():
    service = worker_factory(AssessmentService)
    service.on_activity_logged([{"type": "activity.logged"}])
    service.dead_letters.assert_called_once()
    reason = service.dead_letters.call_args.args[1]
    assert reason.startswith("invalid:") and "event_id" in reason
    service.store.transaction_batch.assert_not_called()


def test_duplicate_event_is_ignored():
    service = worker_factory(AssessmentService)
    service.config = {}
    service.store.transaction.side_effect = Duplicate("e1")
    # a single-event consumer: appeal.decided
    envelope = ev.make_event("appeal.decided", {
        "appeal_id": "a1", "rating_id": "r1", "upheld": True},
        source="feedback")
    assert service.on_appeal_decided(envelope) is None
    service.dead_letters.assert_not_called()


def test_feedback_gets_a_larger_worker_pool_unless_one_is_set():
    assert serve_env("feedback", {})["SIFUWU_MAX_WORKERS"] == "100"
    assert "SIFUWU_MAX_WORKERS" not in serve_env("activity", {})
    assert serve_env("feedback", {"SIFUWU_MAX_WORKERS": "7"})[
        "SIFUWU_MAX_WORKERS"] == "7"
