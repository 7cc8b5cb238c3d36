"""The AMQP way in as plain functions (who sent it, is it JSON) and the
service's entrypoints with nameko's worker_factory (injected clock)."""

import datetime as dt
import json
from types import SimpleNamespace

import pytest
from marshmallow import ValidationError
from nameko.testing.services import worker_factory

from services.activity.demands import steps as demand_steps
from services.activity.examples import example_envelope
from services.activity.ingest.consumer import broker_users
from services.activity.ingest.domain import Rejected, decode
from services.activity.service import ActivityService
from sifuwu.errors import Forbidden


def message(body, user_id="hotline12345"):
    properties = {"user_id": user_id} if user_id else {}
    return SimpleNamespace(body=body, properties=properties)


USERS = broker_users({"SIFUWU_INGEST_TOKENS": "hotline12345=t,demo=d",
                      "SIFUWU_INGEST_AMQP_USERS": "rmq_party=partymembers"})


def test_broker_users_map_to_systems():
    assert USERS == {"hotline12345": "hotline12345", "demo": "demo",
                     "rmq_party": "partymembers"}


def test_decode_identifies_the_sender_and_parses_json():
    envelope = example_envelope("kpi.business")
    payload, system = decode(message(json.dumps(envelope).encode()), USERS)
    assert payload == envelope and system == "hotline12345"
    _, system = decode(message(json.dumps(envelope), "rmq_party"), USERS)
    assert system == "partymembers"


@pytest.mark.parametrize("body,user,reason", [
    (b"{}", None, "unauthorized: 消息缺少 user_id"),
    (b"{}", "guest", "unauthorized: 未登记的接入用户 guest"),
    (b"\xff\xfe", "demo", "invalid: 消息体不是有效的 UTF-8 JSON"),
    (b"[1, 2]", "demo", "invalid: 消息体须为 JSON 对象"),
    (b'{"data": {"$where": 1}}', "demo", "invalid: "),
])
def test_decode_refuses_with_a_reason(body, user, reason):
    with pytest.raises(Rejected) as err:
        decode(message(body, user), USERS)
    assert err.value.reason.startswith(reason)


def test_http_and_amqp_refuse_a_foreign_source_before_touching_the_store():
    worker = worker_factory(ActivityService)
    envelope = example_envelope("kpi.business", source="partymembers")
    forbidden, invalid = worker.ingest_messages([
        (envelope, "hotline12345"),
        (dict(envelope, source="hotline12345", type="kpi.nonsense"),
         "hotline12345")])
    assert isinstance(forbidden, Forbidden)
    assert forbidden.code == "source_mismatch"
    assert isinstance(invalid, ValidationError)
    with pytest.raises(Forbidden):
        worker._ingest(envelope, "hotline12345", "http")
    worker.store.transaction.assert_not_called()


def test_sweeper_uses_the_injected_clock(monkeypatch):
    now = dt.datetime(2026, 10, 9, 9, 0, tzinfo=dt.timezone.utc)
    worker = worker_factory(ActivityService, clock=lambda: now,
                            config={"SIFUWU_SECRET": "s"})
    seen = {}

    def due(repo, when, limit=200):
        seen["now"] = when
        return ["d1", "d2"]

    monkeypatch.setattr(demand_steps, "demands_due", due)
    worker.store.transaction.side_effect = [[{"level": 1}], [{"level": 1},
                                                             {"level": 2}]]
    assert worker.sweep_overdue() == 3
    assert seen["now"] == now
    assert worker.store.transaction.call_count == 2


def test_the_sweep_interval_is_read_when_the_container_sets_up(monkeypatch):
    """Not at import: the timer reads SIFUWU_SWEEP_INTERVAL from nameko's
    config (then the environment, then 30 s) when its container sets up."""
    from nameko.containers import ServiceContainer

    from sifuwu.timers import SettingTimer

    def interval(config):
        container = ServiceContainer(ActivityService, config)
        timer = next(ext for ext in container.entrypoints
                     if isinstance(ext, SettingTimer))
        assert timer.method_name == "sweep_overdue"
        timer.setup()
        return timer.interval

    monkeypatch.delenv("SIFUWU_SWEEP_INTERVAL", raising=False)
    assert interval({}) == 30.0
    assert interval({"SIFUWU_SWEEP_INTERVAL": "0.5"}) == 0.5
    monkeypatch.setenv("SIFUWU_SWEEP_INTERVAL", "7")
    assert interval({}) == 7.0
