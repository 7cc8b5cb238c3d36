"""The ingest contract over HTTP, in-process against the real broker and
store: every type, every rejection path, duplicates (also concurrent),
out-of-order arrival and the batch endpoint."""

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from services.activity.client import post_batch, post_event
from services.activity.examples import example_data, example_envelope
from services.activity.schemas import OUTGOING_SCHEMAS
from services.activity.service import ActivityService
from sifuwu import events as ev
from sifuwu.privacy import Sealer, open_contact
from tooling.stack import free_port
from tests import helpers

SYSTEM = "hotline12345"
TOKEN = "hotline-token"
OTHER = "partymembers"
OTHER_TOKEN = "party-token"


def opened(contact):
    """A sealed contact of an event, opened with the test stack's key (the
    one ``SIFUWU_SECRET`` derives: no SIFUWU_CONTACT_KEYS in development)."""
    assert isinstance(contact, dict) and set(contact) == {"ref", "sealed",
                                                          "masked"}, contact
    return open_contact(contact, Sealer("test-secret"))


@pytest.fixture(scope="module")
def module_config(infra):
    """One vhost and one database for the module; tests use unique ids."""
    vhost = f"t-act-http-{uuid.uuid4().hex[:6]}"
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
        "SIFUWU_INGEST_TOKENS": f"{SYSTEM}={TOKEN},{OTHER}={OTHER_TOKEN}",
        "SIFUWU_MAX_BODY_BYTES": 64 * 1024,
        "max_workers": 10,
    }
    infra.rabbitmqctl("delete_vhost", vhost, check=False)


@pytest.fixture
def url(container_factory, module_config):
    config = dict(module_config,
                  WEB_SERVER_ADDRESS=f"127.0.0.1:{free_port()}")
    container = container_factory(ActivityService, config)
    container.start()
    return "http://" + config["WEB_SERVER_ADDRESS"]


@pytest.fixture
def db(mongo, module_config):
    return mongo[module_config["SIFUWU_DB_PREFIX"] + "activity"]


def tag():
    return uuid.uuid4().hex[:8]


emitted = helpers.emitted


def test_every_type_is_accepted_and_announced(url, db):
    t = tag()
    answers = {}
    for event_type in ev.INGEST_TYPES:
        response = post_event(url, TOKEN, example_envelope(event_type, t))
        assert response.status_code == 202, (event_type, response.text)
        answers[event_type] = response.json()
        assert answers[event_type]["status"] == "accepted"

    assert db.units.find_one({"_id": f"u-fgw-{t}"})["name"] == "市发展和改革委员会"
    assert db.divisions.find_one({"_id": f"d-fgw-tz-{t}"})["unit_id"] == f"u-fgw-{t}"
    assert db.branches.find_one({"_id": f"b-fgw-1-{t}"})
    member = db.members.find_one({"_id": f"m-0001-{t}"})
    assert member["phone_masked"] == "138****0001" and "phone" not in member
    assert db.recipients.find_one({"_id": f"e-0001-{t}"})["phone_enc"]
    changed = {e["data"]["kind"] for e in emitted(db, ev.DIRECTORY_CHANGED)
               if e["data"]["id"].endswith(t)}
    assert changed == {"unit", "division", "branch", "member", "recipient"}
    # Only a member's phone travels, for notify's contact book (escalation);
    # recipients' and citizens' contacts never leave the activity service.
    for e in emitted(db, ev.DIRECTORY_CHANGED):
        if e["data"]["kind"] == "member":
            assert opened(e["data"]["record"]["phone"]) == "13800000001"
        else:
            assert "phone" not in e["data"]["record"]

    [logged] = emitted(db, ev.ACTIVITY_LOGGED,
                       activity_id=f"act-20261120-0001-{t}")
    assert logged["data"]["unit_id"] == f"u-fgw-{t}"
    assert logged["data"]["branch_id"] == f"b-fgw-1-{t}"
    assert logged["data"]["member_name"] == "李明"
    assert opened(logged["data"]["recipient"]["phone"]) == "13900000002"
    assert "13900000002" not in repr(logged)

    [party] = emitted(db, ev.PARTY_ACTIVITY_LOGGED,
                      activity_id=f"pa-20261118-0001-{t}")
    assert party["data"]["unit_id"] == f"u-fgw-{t}"  # from the branch
    assert party["data"]["kind"] == "three_meetings_one_lesson"
    assert party["data"]["attendees"] == [f"m-0001-{t}", f"m-0002-{t}"]
    assert len(party["data"]["expected"]) == 3

    # the demand raised during the activity, owned by the member's unit
    [from_activity] = emitted(db, ev.DEMAND_RAISED,
                              demand_id=f"dm-act-0001-{t}")
    assert from_activity["data"]["owner_unit_id"] == f"u-fgw-{t}"
    assert from_activity["data"]["member_id"] == f"m-0001-{t}"
    hotline_id = f"12345-20261120-0042-{t}"
    [raised] = emitted(db, ev.DEMAND_RAISED, demand_id=hotline_id)
    assert raised["data"]["status"] == "received"
    # raised Friday 2026-11-20: respond by Monday, resolve in 7 days
    assert raised["data"]["deadlines"] == {
        "respond_by": "2026-11-23T23:59:59+08:00",
        "resolve_by": "2026-11-27T23:59:59+08:00"}
    [changed] = emitted(db, ev.DEMAND_STATUS_CHANGED, demand_id=hotline_id)
    assert (changed["data"]["previous_status"], changed["data"]["status"]) \
        == ("received", "responded")
    assert changed["data"]["on_time_response"] is True

    [kpi] = emitted(db, ev.KPI_RECORDED, subject_id=f"u-fgw-{t}")
    assert kpi["data"]["value"] == 12 and kpi["data"]["period"] == "2026-11"
    assert db.ingest_receipts.count_documents(
        {"source": SYSTEM, "event_id": {"$regex": t}}) == len(ev.INGEST_TYPES)
    # every event sent to the rest of the suite keeps its published contract
    for envelope in helpers.outbox_events(db):
        OUTGOING_SCHEMAS[envelope["type"]]().load(envelope["data"])
    # nothing personal stored in clear outside the outbox
    for name in ("members", "recipients", "demands", "activities"):
        for doc in db[name].find():
            for phone in ("13800000001", "13900000002", "13700000003"):
                assert phone not in repr(doc), name
            assert "王芳" not in repr(doc)


def test_missing_or_unknown_token_is_401(url):
    envelope = example_envelope("kpi.business", tag())
    response = requests.post(url + "/api/v1/events", json=envelope, timeout=5)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert post_event(url, "nope", envelope).status_code == 401
    assert post_batch(url, "nope", [envelope]).status_code == 401


def test_source_of_another_system_is_403(url, db):
    envelope = example_envelope("kpi.business", tag(), source=OTHER)
    response = post_event(url, TOKEN, envelope)
    assert response.status_code == 403
    assert response.json()["error"] == "source_mismatch"
    assert not db.ingest_receipts.find_one({"event_id": envelope["event_id"]})


def test_field_errors_are_400(url):
    t = tag()
    envelope = example_envelope("activity.service", t)
    envelope["occurred_at"] = "2026-11-20T10:00:00"  # no offset
    envelope["data"]["category"] = "weather"
    envelope["data"]["recipient"]["phone"] = "12345"
    del envelope["data"]["member_id"]
    response = post_event(url, TOKEN, envelope)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "validation_failed"
    assert body["fields"]["occurred_at"] == [
        "时间须带时区偏移，例如 2026-03-01T09:30:00+08:00"]
    assert set(body["fields"]["data"]) == {"category", "recipient",
                                           "member_id"}
    assert body["fields"]["data"]["recipient"]["phone"] == ["手机号格式不正确"]

    unknown = example_envelope("kpi.business", t)
    unknown["type"] = "weather.reported"
    assert post_event(url, TOKEN, unknown).json()["fields"] == {
        "type": ["不支持的事件类型"]}
    extra = example_envelope("kpi.business", t)
    extra["data"]["surprise"] = 1
    assert "surprise" in post_event(url, TOKEN, extra).json()["fields"]["data"]
    broken = requests.post(url + "/api/v1/events", data=b"{not json",
                           headers={"Authorization": f"Bearer {TOKEN}",
                                    "Content-Type": "application/json"},
                           timeout=5)
    assert broken.status_code == 400
    assert broken.json()["fields"] == {"body": ["请求体不是有效的 JSON"]}
    operator = example_envelope("kpi.business", t)
    operator["data"] = {"subject_id": {"$gt": ""}}
    assert post_event(url, TOKEN, operator).status_code == 400


def test_body_over_the_limit_is_413(url):
    envelope = example_envelope("activity.service", tag())
    envelope["data"]["summary"] = "很长" * 40_000
    response = post_event(url, TOKEN, envelope)
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"
    too_many = [example_envelope("kpi.business", f"b{i}") for i in range(1001)]
    for item in too_many:  # keep the body small: only the count is too big
        item["data"] = {}
    response = post_batch(url, TOKEN, too_many)
    assert response.status_code == 413
    assert response.json()["error"] == "batch_too_large"


def test_duplicate_is_200_with_no_second_effect(url, db):
    envelope = example_envelope("demand.raised", tag())
    first = post_event(url, TOKEN, envelope)
    second = post_event(url, TOKEN, envelope)
    assert first.status_code == 202
    assert second.status_code == 200
    assert second.json()["status"] == "duplicate"
    assert second.json()["result"] == first.json()["result"]
    demand_id = envelope["data"]["demand_id"]
    assert len(emitted(db, ev.DEMAND_RAISED, demand_id=demand_id)) == 1
    # the same event_id from another system is another event
    other = dict(envelope, source=OTHER)
    answer = post_event(url, OTHER_TOKEN, other)
    assert answer.status_code == 409
    assert answer.json()["error"] == "demand_exists"


def test_concurrent_retries_have_one_effect(url, db):
    t = tag()
    envelope = example_envelope("activity.service", t)
    envelope["data"]["demands"] = []
    post_event(url, TOKEN, example_envelope("directory.member", t))
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: post_event(url, TOKEN, envelope)
                              .status_code, range(8)))
    assert sorted(codes) == [200] * 7 + [202]
    activity_id = envelope["data"]["activity_id"]
    assert db.activities.count_documents({"_id": activity_id}) == 1
    assert len(emitted(db, ev.ACTIVITY_LOGGED, activity_id=activity_id)) == 1
    assert db.ingest_receipts.count_documents(
        {"event_id": envelope["event_id"]}) == 1
    # the same activity under another event_id is refused, not doubled
    again = dict(envelope, event_id=f"again-{t}")
    answer = post_event(url, TOKEN, again)
    assert answer.status_code == 409
    assert answer.json()["error"] == "activity_exists"
    assert answer.json()["fields"] == {"data": {"activity_id": ["该活动编号已登记"]}}


def test_activity_before_its_member_is_kept_and_linked(url, db):
    t = tag()
    activity = example_envelope("activity.service", t)
    first = post_event(url, TOKEN, activity)
    assert first.status_code == 202
    assert first.json()["result"]["member_linked"] is False
    activity_id = activity["data"]["activity_id"]
    stored = db.activities.find_one({"_id": activity_id})
    assert stored["member_linked"] is False and stored["unit_id"] is None
    assert not emitted(db, ev.ACTIVITY_LOGGED, activity_id=activity_id)

    member = post_event(url, OTHER_TOKEN, example_envelope(
        "directory.member", t, source=OTHER))
    assert member.status_code == 202
    assert member.json()["result"]["linked_activities"] == [activity_id]
    stored = db.activities.find_one({"_id": activity_id})
    assert stored["member_linked"] is True
    assert stored["unit_id"] == f"u-fgw-{t}"
    [logged] = emitted(db, ev.ACTIVITY_LOGGED, activity_id=activity_id)
    assert logged["data"]["member_name"] == "李明"
    assert opened(logged["data"]["recipient"]["phone"]) == "13900000002"
    [demand] = emitted(db, ev.DEMAND_RAISED, demand_id=f"dm-act-0001-{t}")
    assert demand["data"]["owner_unit_id"] == f"u-fgw-{t}"
    # a late, older version of the member changes nothing
    stale = example_envelope("directory.member", t, source=OTHER,
                             event_id=f"stale-{t}")
    stale["occurred_at"] = "2026-01-01T00:00:00+08:00"
    stale["data"]["name"] = "旧名字"
    assert post_event(url, OTHER_TOKEN, stale).json()["result"]["applied"] \
        is False
    assert db.members.find_one({"_id": f"m-0001-{t}"})["name"] == "李明"


def test_illegal_transition_and_unknown_demand_are_refused(url):
    t = tag()
    raised = example_envelope("demand.raised", t)
    post_event(url, TOKEN, raised)
    confirm = example_envelope("demand.updated", t, event_id=f"c-{t}")
    confirm["data"]["action"] = "confirm"
    response = post_event(url, TOKEN, confirm)
    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "illegal_transition"
    assert "已受理" in body["message"] and "不能确认解决" in body["message"]
    # refused, so not recorded: the same event may be sent again later
    assert post_event(url, TOKEN, confirm).status_code == 409


def test_update_before_its_demand_waits_for_it(url, db):
    t = tag()
    respond = example_envelope("demand.updated", t)
    resolve = example_envelope("demand.updated", t, event_id=f"r-{t}")
    resolve["data"].update(action="resolve", at="2026-11-21T10:00:00+08:00")
    confirm_early = example_envelope("demand.updated", t, event_id=f"c-{t}")
    confirm_early["data"].update(action="confirm",
                                 at="2026-11-20T12:00:00+08:00")
    for envelope in (resolve, respond, confirm_early):  # scrambled order
        answer = post_event(url, TOKEN, envelope)
        assert answer.status_code == 202
        assert answer.json()["result"]["status"] == "pending"
    raised = post_event(url, TOKEN, example_envelope("demand.raised", t))
    assert raised.status_code == 202
    demand_id = f"12345-20261120-0042-{t}"
    demand = db.demands.find_one({"_id": demand_id})
    # applied by time: confirm (12:00, refused: nothing resolved yet),
    # respond (16:00), resolve (next day)
    assert [h["action"] for h in demand["history"]] == [
        "raise", "respond", "resolve"]
    assert demand["status"] == "resolved"
    refused = db.pending_demand_updates.find_one({"_id": f"{SYSTEM}:c-{t}"})
    assert refused["refused"].startswith("illegal_transition")
    changes = [e["data"]["status"]
               for e in emitted(db, ev.DEMAND_STATUS_CHANGED,
                                demand_id=demand_id)]
    assert sorted(changes) == ["resolved", "responded"]


def test_batch_answers_per_item(url, db):
    t = tag()
    good = example_envelope("kpi.business", t)
    bad = example_envelope("kpi.business", t, event_id=f"bad-{t}")
    bad["data"]["period"] = "2026-13"
    foreign = example_envelope("kpi.business", t, source=OTHER,
                               event_id=f"foreign-{t}")
    response = post_batch(url, TOKEN, [good, bad, good, foreign])
    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["duplicate"], body["rejected"]) == (1, 1, 2)
    statuses = [(r["index"], r["status"]) for r in body["results"]]
    assert statuses == [(0, "accepted"), (1, "rejected"), (2, "duplicate"),
                        (3, "rejected")]
    assert body["results"][1]["fields"] == {
        "data": {"period": ["期间格式应为 YYYY-MM，例如 2026-11"]}}
    assert body["results"][3]["error"] == "source_mismatch"
    assert len(emitted(db, ev.KPI_RECORDED, subject_id=f"u-fgw-{t}")) == 1
    assert post_batch(url, TOKEN, []).status_code == 400


def test_every_example_passes_the_contract():
    from services.activity.schemas import load_ingest
    for event_type in ev.INGEST_TYPES:
        envelope = example_envelope(event_type)
        assert load_ingest(envelope)["type"] == event_type
    assert set(example_data()) == set(ev.INGEST_TYPES)


def test_activity_and_member_racing_always_end_linked(url, db):
    """Activity and member sent at the same moment, many times over: each
    activity ends linked and announced exactly once (both transactions
    write the same arrival document, so one of them retries)."""
    tags = [tag() for _ in range(8)]
    jobs = []
    for t in tags:
        activity = example_envelope("activity.service", t)
        activity["data"]["demands"] = []
        jobs += [activity, example_envelope("directory.member", t)]
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda e: post_event(url, TOKEN, e).status_code,
                              jobs))
    assert codes == [202] * len(jobs)
    for t in tags:
        activity_id = f"act-20261120-0001-{t}"
        assert db.activities.find_one({"_id": activity_id})["member_linked"]
        assert len(emitted(db, ev.ACTIVITY_LOGGED,
                           activity_id=activity_id)) == 1
