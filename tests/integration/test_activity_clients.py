"""API clients of outside systems (接入客户端), on the real broker and
store: the committee creates a client (its key shown once), the key sends
its own sources' events and is refused another's (403
``source_not_allowed``), rotation keeps the old key for the overlap (or
not at all with overlap 0), revocation stops every key at once, lists show
no key or hash, and the receipt names the client."""

import time
import uuid

import pytest
import requests

from services.activity.client import post_batch, post_event
from services.activity.examples import example_envelope
from services.activity.service import ActivityService
from sifuwu import access
from sifuwu.events import utcnow
from tooling.stack import free_port
from tests import helpers

HOTLINE = "hotline12345"
PARTY = "partymembers"
DEMO, DEMO_TOKEN = "demo", "demo-token"

COMMITTEE = helpers.staff_headers(access.COMMITTEE, name="gongwei-a")


@pytest.fixture(scope="module")
def module_config(infra):
    vhost = f"t-act-cl-{uuid.uuid4().hex[:6]}"
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
        "SIFUWU_INGEST_TOKENS": f"{DEMO}={DEMO_TOKEN}",
        "max_workers": 10,
    }
    infra.rabbitmqctl("delete_vhost", vhost, check=False)


@pytest.fixture
def url(container_factory, module_config):
    config = dict(module_config, WEB_SERVER_ADDRESS=f"127.0.0.1:{free_port()}")
    container_factory(ActivityService, config).start()
    return "http://" + config["WEB_SERVER_ADDRESS"]


@pytest.fixture
def db(mongo, module_config):
    return mongo[module_config["SIFUWU_DB_PREFIX"] + "activity"]


def tag():
    return uuid.uuid4().hex[:8]


def kpi(source, label):
    envelope = example_envelope("kpi.business", label, source=source)
    envelope["event_id"] = f"{source}-{label}-{uuid.uuid4().hex[:6]}"
    envelope["occurred_at"] = utcnow().isoformat()
    return envelope


def create(url, headers=COMMITTEE, **body):
    body = {"name": "12345 政务服务便民热线", "sources": [HOTLINE], **body}
    return requests.post(f"{url}/api/v1/clients", json=body, headers=headers,
                         timeout=10)


def rotate(url, client_id, headers=COMMITTEE, **body):
    return requests.post(f"{url}/api/v1/clients/{client_id}/rotate",
                         json=body, headers=headers, timeout=10)


def sends(url, key, source=HOTLINE):
    """The status of one event sent with ``key`` as ``source``."""
    return post_event(url, key, kpi(source, tag())).status_code


def test_the_committee_manages_clients_and_others_may_not(url, db):
    response = create(url)
    assert response.status_code == 201, response.text
    body = response.json()
    key = body["key"]
    assert key.startswith(f"sfw_{body['keys'][0]['key_id']}_")
    assert response.headers["Cache-Control"] == "no-store"
    assert (body["name"], body["sources"], body["types"], body["status"],
            body["created_by"]) == ("12345 政务服务便民热线", [HOTLINE], [],
                                    "active", "gongwei-a@committee")
    stored = db.api_clients.find_one({"_id": body["id"]})
    secret = key.split("_", 2)[2]
    assert secret not in repr(stored) and key not in repr(stored)
    assert len(stored["keys"][0]["hash"]) == 64
    for role, scope in ((access.UNIT_STAFF, {"unit_id": "u-fgw"}),
                        (access.OPERATOR, {}), (access.AUDITOR, {}),
                        (access.SUPERVISOR, {})):
        headers = helpers.staff_headers(role, **scope)
        assert create(url, headers).status_code == 403, role
        assert rotate(url, body["id"], headers).status_code == 403, role
        assert requests.post(f"{url}/api/v1/clients/{body['id']}/revoke",
                             headers=headers, timeout=10).status_code == 403
    assert requests.post(f"{url}/api/v1/clients", json={}, timeout=10) \
        .status_code == 401
    assert create(url, headers={"Authorization": f"Bearer {key}"}) \
        .status_code == 401  # a system key is no staff token
    for role in (access.COMMITTEE, access.AUDITOR, access.OPERATOR):
        headers = helpers.staff_headers(role)
        listed = requests.get(f"{url}/api/v1/clients", headers=headers,
                              timeout=10)
        one = requests.get(f"{url}/api/v1/clients/{body['id']}",
                           headers=headers, timeout=10)
        assert listed.status_code == one.status_code == 200, role
        for text in (listed.text, one.text):
            assert secret not in text and stored["keys"][0]["hash"] \
                not in text and '"key"' not in text and "hash" not in text
        assert body["id"] in {c["id"] for c in listed.json()["items"]}
        assert [e["action"] for e in one.json()["history"]] == [
            "client.created"]
        assert one.json()["history"][0]["actor"] == "gongwei-a@committee"
    unit = helpers.staff_headers(access.UNIT_STAFF, unit_id="u-fgw")
    assert requests.get(f"{url}/api/v1/clients", headers=unit,
                        timeout=10).status_code == 403
    invalid = create(url, sources=[], types=["kpi.nonsense"])
    assert invalid.status_code == 400
    assert set(invalid.json()["fields"]) == {"sources", "types"}


def test_a_client_key_sends_its_own_sources_and_the_receipt_names_it(url, db):
    body = create(url, sources=[HOTLINE, PARTY]).json()
    key, client_id = body["key"], body["id"]
    mine = kpi(HOTLINE, tag())
    response = post_event(url, key, mine)
    assert response.status_code == 202, response.text
    assert sends(url, key, PARTY) == 202
    receipt = requests.get(
        f"{url}/api/v1/events/{HOTLINE}/{mine['event_id']}",
        headers=helpers.staff_headers(access.OPERATOR), timeout=10)
    assert receipt.status_code == 200, receipt.text
    assert receipt.json()["client_id"] == client_id
    assert receipt.json()["via"] == "http"
    assert db.ingest_receipts.find_one({"event_id": mine["event_id"]})[
        "client_id"] == client_id
    assert requests.get(f"{url}/api/v1/events/{HOTLINE}/nope",
                        headers=COMMITTEE, timeout=10).status_code == 404
    assert requests.get(f"{url}/api/v1/events/{HOTLINE}/{mine['event_id']}",
                        timeout=10).status_code == 401

    foreign = kpi(DEMO, tag())
    refused = post_event(url, key, foreign)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"] == "source_not_allowed"
    assert DEMO in refused.json()["message"] and client_id in \
        refused.json()["message"]
    assert not db.ingest_receipts.find_one({"event_id": foreign["event_id"]})
    batch = post_batch(url, key, [kpi(HOTLINE, tag()), kpi(DEMO, tag())])
    assert batch.status_code == 200
    ok, other = batch.json()["results"]
    assert ok["status"] == "accepted"
    assert (other["status"], other["error"]) == ("rejected",
                                                 "source_not_allowed")
    assert "无权以 demo 报送" in other["message"]

    narrow = create(url, types=["demand.raised"]).json()
    wrong_type = post_event(url, narrow["key"], kpi(HOTLINE, tag()))
    assert wrong_type.status_code == 403
    assert wrong_type.json()["error"] == "type_not_allowed"

    # the development token acts as the client "bootstrap:demo"
    legacy = kpi(DEMO, tag())
    assert post_event(url, DEMO_TOKEN, legacy).status_code == 202
    assert db.ingest_receipts.find_one({"event_id": legacy["event_id"]})[
        "client_id"] == "bootstrap:demo"
    mismatch = post_event(url, DEMO_TOKEN, kpi(HOTLINE, tag()))
    assert mismatch.json()["error"] == "source_mismatch"
    for bogus in ("nonsense", key[:-2] + "zz", "sfw_0123456789abcdef_x"):
        answer = post_event(url, bogus, kpi(HOTLINE, tag()))
        assert answer.status_code == 401, bogus
        assert answer.json()["error"] == "unauthorized"


def test_rotation_keeps_the_old_key_for_the_overlap_only(url, db):
    body = create(url).json()
    client_id, first = body["id"], body["key"]
    rotated = rotate(url, client_id)
    assert rotated.status_code == 201, rotated.text
    second = rotated.json()["key"]
    assert second != first
    assert sends(url, first) == sends(url, second) == 202  # 7-day overlap
    states = {k["key_id"]: k["state"] for k in rotated.json()["keys"]}
    assert sorted(states.values()) == ["expiring", "valid"]

    short = rotate(url, client_id, overlap_seconds=2)
    third = short.json()["key"]
    assert sends(url, second) == sends(url, third) == 202
    time.sleep(2.5)
    late = post_event(url, second, kpi(HOTLINE, tag()))
    assert late.status_code == 401 and late.json()["error"] == "key_expired"
    assert sends(url, first) == 401  # a later rotation shortens every overlap
    assert sends(url, third) == 202

    at_once = rotate(url, client_id, overlap_seconds=0).json()["key"]
    assert sends(url, third) == 401
    assert sends(url, at_once) == 202
    too_long = rotate(url, client_id, overlap_seconds=8 * 24 * 3600)
    assert too_long.status_code == 400
    assert list(too_long.json()["fields"]) == ["overlap_seconds"]
    history = requests.get(f"{url}/api/v1/clients/{client_id}",
                           headers=COMMITTEE, timeout=10).json()["history"]
    assert [(e["action"], e.get("overlap_seconds")) for e in history] == [
        ("client.key_rotated", 0), ("client.key_rotated", 2),
        ("client.key_rotated", 7 * 24 * 3600), ("client.created", None)]


def test_revocation_stops_every_key_at_once(url, db):
    body = create(url).json()
    client_id, first = body["id"], body["key"]
    second = rotate(url, client_id).json()["key"]
    assert sends(url, first) == sends(url, second) == 202
    revoker = helpers.staff_headers(access.COMMITTEE, name="gongwei-b")
    revoked = requests.post(f"{url}/api/v1/clients/{client_id}/revoke",
                            headers=revoker, timeout=10)
    assert revoked.status_code == 200, revoked.text
    assert (revoked.json()["status"], revoked.json()["revoked_by"]) == (
        "revoked", "gongwei-b@committee")
    for key in (first, second):
        answer = post_event(url, key, kpi(HOTLINE, tag()))
        assert answer.status_code == 401
        assert answer.json()["error"] == "key_revoked"
        assert post_batch(url, key, [kpi(HOTLINE, tag())]).status_code == 401
    assert rotate(url, client_id).json()["error"] == "client_revoked"
    again = requests.post(f"{url}/api/v1/clients/{client_id}/revoke",
                          headers=COMMITTEE, timeout=10)
    assert again.status_code == 409
    history = requests.get(f"{url}/api/v1/clients/{client_id}",
                           headers=helpers.staff_headers(access.AUDITOR),
                           timeout=10).json()["history"]
    assert (history[0]["action"], history[0]["actor"]) == (
        "client.revoked", "gongwei-b@committee")


def plan_stages(plan):
    stages = [plan.get("stage")]
    for key in ("inputStage", "queryPlan"):
        if key in plan:
            stages += plan_stages(plan[key])
    for child in plan.get("inputStages", []):
        stages += plan_stages(child)
    return stages


def test_a_key_is_found_by_its_key_id_through_an_index(url, db):
    body = create(url).json()
    key_id = body["keys"][0]["key_id"]
    plan = db.api_clients.find({"keys.key_id": key_id}).explain()
    stages = plan_stages(plan["queryPlanner"]["winningPlan"])
    assert "IXSCAN" in stages and "COLLSCAN" not in stages, stages
