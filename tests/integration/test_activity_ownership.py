"""Cross-source overwrite, on the real broker and store: record ids are
global, so a source system could once rewrite another's member (a new
phone), move another's demand to 已办结 and overwrite another's KPI, dated
2099 so that the owner's correction was then refused as "stale". Each of
those is refused now (the date as a field error, the write as not_owner),
nothing changes, and the owner's later correction is applied."""

import datetime as dt
import uuid

import pytest

from services.activity.client import post_batch, post_event
from services.activity.examples import example_envelope
from services.activity.service import ActivityService
from sifuwu import events as ev
from tooling.stack import free_port
from tests import helpers

PARTY, PARTY_TOKEN = "partymembers", "party-token"
HOTLINE, HOTLINE_TOKEN = "hotline12345", "hotline-token"
DEMO, DEMO_TOKEN = "demo", "demo-token"
IN_2099 = "2099-01-01T00:00:00+08:00"

emitted = helpers.emitted


@pytest.fixture(scope="module")
def module_config(infra):
    vhost = f"t-act-own-{uuid.uuid4().hex[:6]}"
    infra.rabbitmqctl("add_vhost", vhost)
    infra.rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*",
                      ".*")
    yield {
        "AMQP_URI": f"pyamqp://guest:guest@127.0.0.1:{infra.ports.amqp}/{vhost}",
        "MONGO_URI": infra.mongo_uri,
        "SIFUWU_DB_PREFIX": f"i{uuid.uuid4().hex[:8]}_",
        "SIFUWU_SECRET": "test-secret",
        "SIFUWU_JWKS": helpers.TEST_JWKS,
        "SIFUWU_RELAY_INTERVAL": 0.2,
        "SIFUWU_INGEST_TOKENS": f"{PARTY}={PARTY_TOKEN},"
                                f"{HOTLINE}={HOTLINE_TOKEN},{DEMO}={DEMO_TOKEN}",
        "max_workers": 10,
    }
    infra.rabbitmqctl("delete_vhost", vhost, check=False)


@pytest.fixture
def start(container_factory, module_config):
    def start(**settings):
        config = dict(module_config, **settings,
                      WEB_SERVER_ADDRESS=f"127.0.0.1:{free_port()}")
        container_factory(ActivityService, config).start()
        return "http://" + config["WEB_SERVER_ADDRESS"]
    return start


@pytest.fixture
def url(start):
    return start()


@pytest.fixture
def db(mongo, module_config):
    return mongo[module_config["SIFUWU_DB_PREFIX"] + "activity"]


def tag():
    return uuid.uuid4().hex[:8]


def dated(envelope, when):
    envelope["occurred_at"] = when if isinstance(when, str) \
        else when.isoformat()
    return envelope


def now(minutes=0):
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=minutes)


def attempts(url, envelope, label):
    """The attacker's write, dated 2099 then dated now: a field error, then
    not_owner; single and in a batch."""
    future = post_event(url, DEMO_TOKEN, dated(dict(
        envelope, event_id=f"{label}-2099"), IN_2099))
    assert future.status_code == 400, future.text
    assert list(future.json()["fields"]) == ["occurred_at"]
    present = post_event(url, DEMO_TOKEN, dated(dict(
        envelope, event_id=f"{label}-now"), now()))
    assert present.status_code == 403, present.text
    assert present.json()["error"] == "not_owner"
    assert "无权修改" in present.json()["message"]
    batch = post_batch(url, DEMO_TOKEN, [
        dated(dict(envelope, event_id=f"{label}-b-2099"), IN_2099),
        dated(dict(envelope, event_id=f"{label}-b-now"), now())]).json()
    assert batch["rejected"] == 2 and batch["accepted"] == 0
    first, second = batch["results"]
    assert first["error"] == "validation_failed"
    assert list(first["fields"]) == ["occurred_at"]
    assert second["error"] == "not_owner"
    return present.json()["message"]


def test_another_source_cannot_rewrite_a_member(url, db):
    t = tag()
    member = dated(example_envelope("directory.member", t, source=PARTY),
                   now(-60))
    assert post_event(url, PARTY_TOKEN, member).status_code == 202
    member_id = member["data"]["member_id"]
    before = db.members.find_one({"_id": member_id})
    attack = example_envelope("directory.member", t, source=DEMO, data=dict(
        member["data"], phone="13666666666"))
    message = attempts(url, attack, f"m-{t}")
    assert PARTY in message and member_id in message
    assert db.members.find_one({"_id": member_id}) == before
    assert len(emitted(db, ev.DIRECTORY_CHANGED, id=member_id)) == 1
    assert not db.ingest_receipts.find_one({"source": DEMO,
                                            "event_id": {"$regex": t}})
    # the owner's correction is applied
    correction = dated(example_envelope(
        "directory.member", t, source=PARTY, event_id=f"fix-{t}",
        data=dict(member["data"], phone="13800000009")), now())
    answer = post_event(url, PARTY_TOKEN, correction)
    assert answer.status_code == 202
    assert answer.json()["result"]["applied"] is True
    stored = db.members.find_one({"_id": member_id})
    assert stored["phone_masked"] == "138****0009"
    assert stored["source"] == PARTY


def test_another_source_cannot_move_a_demand(url, db):
    t = tag()
    raised = example_envelope("demand.raised", t, source=HOTLINE)
    assert post_event(url, HOTLINE_TOKEN, raised).status_code == 202
    demand_id = raised["data"]["demand_id"]
    for action in ("respond", "resolve"):
        attack = example_envelope("demand.updated", t, source=DEMO, data={
            "demand_id": demand_id, "action": action, "note": "已办结"})
        message = attempts(url, attack, f"d-{action}-{t}")
        assert HOTLINE in message and demand_id in message
    demand = db.demands.find_one({"_id": demand_id})
    assert demand["status"] == "received" and demand["version"] == 1
    assert not emitted(db, ev.DEMAND_STATUS_CHANGED, demand_id=demand_id)
    # the owner moves it
    respond = dated(example_envelope(
        "demand.updated", t, source=HOTLINE, event_id=f"own-{t}",
        data={"demand_id": demand_id, "action": "respond"}), now())
    answer = post_event(url, HOTLINE_TOKEN, respond)
    assert answer.status_code == 202, answer.text
    assert answer.json()["result"]["status"] == "responded"


def test_an_early_update_from_another_source_never_applies(url, db):
    t = tag()
    raised = example_envelope("demand.raised", t, source=HOTLINE)
    demand_id = raised["data"]["demand_id"]
    early = dated(example_envelope("demand.updated", t, source=DEMO, data={
        "demand_id": demand_id, "action": "respond"}), now())
    assert post_event(url, DEMO_TOKEN, early).json()["result"]["status"] \
        == "pending"
    assert post_event(url, HOTLINE_TOKEN, raised).json()["result"][
        "status"] == "received"
    kept = db.pending_demand_updates.find_one(
        {"_id": f"{DEMO}:{early['event_id']}"})
    assert kept["demand_id"] == f"refused:{demand_id}"
    assert kept["refused"].startswith("not_owner: ")
    assert not emitted(db, ev.DEMAND_STATUS_CHANGED, demand_id=demand_id)


def test_another_source_cannot_overwrite_a_kpi(url, db):
    t = tag()
    kpi = dated(example_envelope("kpi.business", t, source=HOTLINE),
                now(-60))
    first = post_event(url, HOTLINE_TOKEN, kpi)
    assert first.status_code == 202
    kpi_id = first.json()["result"]["kpi_id"]
    attack = example_envelope("kpi.business", t, source=DEMO,
                              data=dict(kpi["data"], value=0))
    attempts(url, attack, f"k-{t}")
    stored = db.kpis.find_one({"_id": kpi_id})
    assert stored["value"] == kpi["data"]["value"]
    assert stored["source"] == HOTLINE
    correction = dated(example_envelope(
        "kpi.business", t, source=HOTLINE, event_id=f"fix-{t}",
        data=dict(kpi["data"], value=99)), now())
    answer = post_event(url, HOTLINE_TOKEN, correction)
    assert answer.json()["result"]["applied"] is True
    assert db.kpis.find_one({"_id": kpi_id})["value"] == 99


def test_a_table_limits_each_source_to_its_types(start):
    url = start(SIFUWU_INGEST_SOURCE_TYPES=(
        f"{HOTLINE}=demand.raised|demand.updated|kpi.business,"
        f"{PARTY}=directory.member"))
    t = tag()
    refused = post_event(url, PARTY_TOKEN, example_envelope(
        "kpi.business", t, source=PARTY))
    assert refused.status_code == 403
    assert refused.json()["error"] == "type_not_allowed"
    stranger = post_event(url, DEMO_TOKEN, example_envelope(
        "kpi.business", t, source=DEMO))
    assert stranger.json()["error"] == "type_not_allowed"
    assert post_event(url, HOTLINE_TOKEN, example_envelope(
        "kpi.business", t, source=HOTLINE)).status_code == 202
