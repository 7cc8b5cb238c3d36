"""Demands (诉求) in-process against the real broker and store: the status
machine through the staff endpoints, transfers, and deadlines with overdue
escalation driven by the sweeper under an injected clock, across the 2026
National Day holiday."""

import datetime as dt
import time
import uuid

import pytest
import requests
from nameko.testing.services import entrypoint_hook

from services.activity.client import post_event
from services.activity.examples import example_envelope
from services.activity.schemas import OUTGOING_SCHEMAS
from services.activity.service import ActivityService
from sifuwu import events as ev
from sifuwu.privacy import Sealer, open_contact
from tooling.stack import free_port
from tests import helpers
from tests.helpers import TEST_JWKS, outbox_events, staff_headers

SYSTEM = "hotline12345"
TOKEN = "hotline-token"
STAFF = staff_headers()
CST = dt.timezone(dt.timedelta(hours=8))


def opened(contact):
    """A sealed contact of an event, opened with the test stack's key (the
    one ``SIFUWU_SECRET`` derives: no SIFUWU_CONTACT_KEYS in development)."""
    assert isinstance(contact, dict) and set(contact) == {"ref", "sealed",
                                                          "masked"}, contact
    return open_contact(contact, Sealer("test-secret"))


@pytest.fixture(scope="module")
def module_config(infra):
    vhost = f"t-act-dm-{uuid.uuid4().hex[:6]}"
    infra.rabbitmqctl("add_vhost", vhost)
    infra.rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*",
                      ".*")
    yield {
        "AMQP_URI": f"pyamqp://guest:guest@127.0.0.1:{infra.ports.amqp}/{vhost}",
        "MONGO_URI": infra.mongo_uri,
        "SIFUWU_DB_PREFIX": f"i{uuid.uuid4().hex[:8]}_",
        "SIFUWU_SECRET": "test-secret",
        "SIFUWU_JWKS": TEST_JWKS,
        "SIFUWU_RELAY_INTERVAL": 0.2,
        "SIFUWU_INGEST_TOKENS": f"{SYSTEM}={TOKEN}",
        "max_workers": 10,
    }
    infra.rabbitmqctl("delete_vhost", vhost, check=False)


@pytest.fixture
def start(container_factory, module_config):
    """Start the service with its clock at ``now`` (or the real time)."""
    def start(now=None):
        config = dict(module_config,
                      WEB_SERVER_ADDRESS=f"127.0.0.1:{free_port()}")
        if now is not None:
            offset = (now - dt.datetime.now(dt.timezone.utc)).total_seconds()
            config["SIFUWU_CLOCK_OFFSET_SECONDS"] = offset
            # The contract's examples are dated 20 Nov 2026, which may lie
            # ahead of a clock set back to October: allow that much skew.
            config["SIFUWU_INGEST_MAX_FUTURE_SECONDS"] = 120 * 86400
        container = container_factory(ActivityService, config)
        container.start()
        return container, "http://" + config["WEB_SERVER_ADDRESS"]
    return start


@pytest.fixture
def db(mongo, module_config):
    return mongo[module_config["SIFUWU_DB_PREFIX"] + "activity"]


def emitted(db, event_type, demand_id):
    return helpers.emitted(db, event_type, demand_id=demand_id)


def raise_demand(url, raised_at=None, category="masses"):
    t = uuid.uuid4().hex[:8]
    envelope = example_envelope("demand.raised", t)
    envelope["data"]["category"] = category
    if raised_at:
        envelope["data"]["raised_at"] = raised_at
    response = post_event(url, TOKEN, envelope)
    assert response.status_code == 202, response.text
    return envelope["data"]["demand_id"]


def act(url, demand_id, action, headers=STAFF, **body):
    return requests.post(f"{url}/api/v1/demands/{demand_id}/{action}",
                         json=body, headers=headers, timeout=10)


def test_status_machine_through_staff_endpoints(start, db):
    _, url = start()
    demand_id = raise_demand(url)
    assert act(url, demand_id, "respond", headers={}).status_code == 401
    illegal = act(url, demand_id, "confirm")
    assert illegal.status_code == 409
    assert illegal.json()["error"] == "illegal_transition"
    assert illegal.json()["message"] == (
        "诉求当前状态为“已受理”，不能确认解决（仅限“已办结”状态）")
    assert act(url, "no-such-demand", "respond").status_code == 404
    assert act(url, demand_id, "fly").status_code == 404

    for action, status in (("respond", "responded"),
                           ("progress", "in_progress"),
                           ("resolve", "resolved"), ("reopen", "reopened"),
                           ("resolve", "resolved"), ("confirm", "confirmed")):
        response = act(url, demand_id, action, note=f"{action} 说明")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == status
    body = response.json()
    assert body["raiser"] == {"name": "王*", "phone": "137****0003"}
    assert [h["action"] for h in body["history"]] == [
        "raise", "respond", "progress", "resolve", "reopen", "resolve",
        "confirm"]
    assert body["history"][1]["by"] == "staff:staff@committee"
    assert act(url, demand_id, "reopen").status_code == 409

    changes = emitted(db, ev.DEMAND_STATUS_CHANGED, demand_id)
    assert [c["data"]["status"] for c in changes] == [
        "responded", "in_progress", "resolved", "reopened", "resolved",
        "confirmed"]
    # only "resolved" tells feedback who to invite
    with_raiser = [c["data"]["status"] for c in changes if "raiser" in c["data"]]
    assert with_raiser == ["resolved", "resolved"]
    raiser = changes[2]["data"]["raiser"]
    assert raiser["name"] == "王芳" and opened(raiser["phone"]) == "13700000003"
    assert "13700000003" not in repr(changes)
    assert "王芳" not in repr(db.demands.find_one({"_id": demand_id}))


def test_transfer_needs_a_reason_and_is_recorded(start, db):
    _, url = start()
    demand_id = raise_demand(url)
    missing = act(url, demand_id, "transfer", to_unit_id="u-zjj")
    assert missing.status_code == 400
    assert missing.json()["error"] == "reason_required"
    moved = act(url, demand_id, "transfer", to_unit_id="u-zjj",
                reason="路灯维护属市住建局职责")
    assert moved.status_code == 200
    body = moved.json()
    assert body["owner_unit_id"] == "u-zjj"
    assert body["received_by_unit_id"].startswith("u-fgw")  # 首接单位 kept
    assert body["transfers"][0]["reason"] == "路灯维护属市住建局职责"
    [event] = emitted(db, ev.DEMAND_STATUS_CHANGED, demand_id)
    assert event["data"]["action"] == "transfer"
    assert event["data"]["owner_unit_id"] == "u-zjj"
    assert event["data"]["transfer"]["reason"] == "路灯维护属市住建局职责"


def sweep(container):
    with entrypoint_hook(container, "sweep_overdue") as hook:
        return hook()


def test_overdue_escalation_across_the_national_day_holiday(start, db):
    """Raised 30 Sep 2026 10:00: respond by 8 Oct (1-7 Oct is a holiday).
    Level 1 (owner) at the deadline, level 2 (unit leader) one working day
    later, level 3 (supervision office) two working days later (10 Oct is a
    make-up working Saturday)."""
    container, url = start(dt.datetime(2026, 10, 7, 12, 0, tzinfo=CST))
    demand_id = raise_demand(url, "2026-09-30T10:00:00+08:00")
    other_id = raise_demand(url, "2026-09-30T10:00:00+08:00")
    for action in ("respond", "resolve"):                    # in time
        assert act(url, other_id, action).status_code == 200
    stored = db.demands.find_one({"_id": demand_id})
    assert stored["deadlines"]["respond_by"] == dt.datetime(
        2026, 10, 8, 15, 59, 59, tzinfo=dt.timezone.utc)
    assert sweep(container) == 0
    container.stop()

    container, url = start(dt.datetime(2026, 10, 9, 9, 0, tzinfo=CST))
    assert sweep(container) == 1
    assert sweep(container) == 0            # raised once, not again
    [first] = emitted(db, ev.DEMAND_OVERDUE, demand_id)
    assert first["data"] == {
        "demand_id": demand_id, "owner_unit_id": stored["owner_unit_id"],
        "level": 1, "level_label": "承办单位", "deadline_kind": "respond",
        "deadline": "2026-10-08T23:59:59+08:00"}
    assert not emitted(db, ev.DEMAND_OVERDUE, other_id)
    shown = requests.get(f"{url}/api/v1/demands/{demand_id}", headers=STAFF,
                         timeout=5).json()
    assert (shown["overdue"], shown["escalation_level"]) == (True, 1)
    assert shown["deadlines"]["respond_by"] == "2026-10-08T23:59:59+08:00"
    overdue = requests.get(f"{url}/api/v1/demands", params={"overdue": "true"},
                           headers=STAFF, timeout=5).json()
    assert demand_id in [d["id"] for d in overdue["items"]]
    container.stop()

    container, url = start(dt.datetime(2026, 10, 12, 9, 0, tzinfo=CST))
    unit = example_envelope("directory.unit", "x", event_id=f"u-{demand_id}",
                            data={"unit_id": stored["owner_unit_id"],
                                  "name": "市发改委",
                                  "leader_member_id": "m-leader"})
    assert post_event(url, TOKEN, unit).status_code == 202
    assert sweep(container) == 2
    escalations = emitted(db, ev.DEMAND_OVERDUE, demand_id)
    assert [e["data"]["level"] for e in escalations] == [1, 2, 3]
    assert escalations[1]["data"]["level_label"] == "单位领导"
    assert escalations[1]["data"]["unit_leader_member_id"] == "m-leader"
    # a late response: recorded as not on time, the resolve deadline (8 Oct,
    # 7 days ending in the holiday) is also past, so it escalates at once
    responded = act(url, demand_id, "respond").json()
    assert responded["on_time_response"] is False
    assert responded["overdue"] is False
    assert sweep(container) == 3
    kinds = [(e["data"]["deadline_kind"], e["data"]["level"])
             for e in emitted(db, ev.DEMAND_OVERDUE, demand_id)]
    assert kinds[3:] == [("resolve", 1), ("resolve", 2), ("resolve", 3)]
    for envelope in outbox_events(db):  # every event keeps its contract
        OUTGOING_SCHEMAS[envelope["type"]]().load(envelope["data"])
    # the outbox relay published them (publisher confirms, then marked sent)
    deadline = time.monotonic() + 10
    while outbox_events(db, ev.DEMAND_OVERDUE, sent=False) and \
            time.monotonic() < deadline:
        time.sleep(0.1)
    assert outbox_events(db, ev.DEMAND_OVERDUE, sent=False) == []
