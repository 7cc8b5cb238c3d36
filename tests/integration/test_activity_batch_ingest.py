"""Batched ingest (批量接入) gives what one-by-one ingest gives.

The same mixed stream (directory records, activities whose member arrives
later, Party-building activities, demands and their updates out of order,
KPIs, repeats inside a batch and across batches, refused and invalid items)
goes into fresh databases one envelope at a time (``POST /api/v1/events``)
and in batches (``POST /api/v1/events:batch``, and the AMQP consumer); the
answers, the stored documents and the events staged in the outbox must be
the same, timestamps and ciphertexts aside."""

import copy
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from kombu import Connection, Exchange

from services.activity.ingest import entrypoints as ingest_entrypoints
from services.activity.client import post_batch, post_event
from services.activity.examples import example_data
from services.activity.ingest.consumer import (
    declare_ingest_topology, rejected_queue,
)
from services.activity.service import ActivityService
from sifuwu import events as ev
from sifuwu import wiring
from sifuwu.privacy import Sealer
from tooling.stack import free_port
from sifuwu.outbox import outbox_envelopes
from tests.helpers import wait_for

SYSTEM, TOKEN = "hotline12345", "hotline-token"
SECRET = "test-secret"
COLLECTIONS = ("units", "divisions", "branches", "members", "recipients",
               "activities", "demands", "kpis", "ingest_receipts",
               "pending_demand_updates", "arrival_locks")
# Set at the moment of writing: differ between any two runs.
MOMENTS = {"logged_at", "linked_at", "received_at", "created_at", "sent_at",
           "sent"}


def envelope(event_type, event_id, data, occurred_at=None, source=SYSTEM):
    env = ev.make_event(event_type, data, source=source, event_id=event_id)
    env["occurred_at"] = occurred_at or "2026-11-20T09:30:00+08:00"
    return env


def stream():
    """A mixed stream and where it is cut into HTTP batches."""
    ex = example_data("s")
    member = ex["directory.member"]
    second = dict(member, member_id="m-0002-s", name="王强", phone=None,
                  roles=["member"])
    visit = ex["activity.service"]
    plain = {k: v for k, v in visit.items() if k != "demands"}
    recipient_only_id = {"id": "e-0001-s", "type": "enterprise",
                         "name": "滨江智造科技有限公司"}
    raised = ex["demand.raised"]
    items = [
        envelope("directory.unit", "e-unit", ex["directory.unit"]),
        envelope("directory.division", "e-div", ex["directory.division"]),
        envelope("directory.branch", "e-branch", ex["directory.branch"]),
        # activities of members not known yet: kept, linked on arrival
        envelope("activity.service", "e-act-1", visit),
        envelope("activity.service", "e-act-2",
                 dict(plain, activity_id="act-2", member_id="m-0002-s")),
        envelope("activity.service", "e-act-3",
                 dict(plain, activity_id="act-3", member_id="m-0002-s",
                      participant_ids=["m-0001-s", "m-0002-s"])),
        envelope("directory.member", "e-m1", member),
        # known now: applied in bulk, the second one twice in the batch
        envelope("activity.service", "e-act-4",
                 dict(plain, activity_id="act-4",
                      recipient=recipient_only_id)),
        envelope("activity.service", "e-act-5",
                 dict(plain, activity_id="act-5", roles=["server"])),
        envelope("activity.service", "e-act-5",
                 dict(plain, activity_id="act-5", roles=["server"])),
        # the same activity under another event id: refused (in bulk)
        envelope("activity.service", "e-act-5-again",
                 dict(plain, activity_id="act-5")),
        envelope("activity.service", "e-act-1-again",
                 dict(plain, activity_id=visit["activity_id"])),
        envelope("directory.member", "e-m2", second),
        envelope("directory.recipient", "e-rec", ex["directory.recipient"]),
        # the recipient's phone now comes from the directory
        envelope("activity.service", "e-act-6",
                 dict(plain, activity_id="act-6",
                      recipient=recipient_only_id)),
        envelope("activity.party", "e-party-1", ex["activity.party"]),
        envelope("activity.party", "e-party-2",
                 {k: v for k, v in ex["activity.party"].items()
                  if k != "expected"} | {"activity_id": "pa-2"}),
        # updates before their demand: kept, applied when it arrives
        envelope("demand.updated", "e-upd-resolve",
                 dict(ex["demand.updated"], action="resolve",
                      at="2026-11-21T10:00:00+08:00")),
        envelope("demand.updated", "e-upd-respond", ex["demand.updated"]),
        envelope("demand.raised", "e-raised", raised),
        # refused after writing (the transaction is aborted): a status the
        # machine refuses, and an activity raising a demand that exists
        envelope("demand.updated", "e-upd-confirm-early",
                 dict(ex["demand.updated"], action="progress")),
        envelope("activity.service", "e-act-7",
                 dict(visit, activity_id="act-7",
                      demands=[{"demand_id": raised["demand_id"],
                                "title": "重复的诉求"}])),
        envelope("activity.service", "e-act-8",
                 dict(plain, activity_id="act-8", member_id="m-0002-s")),
        # the refused update sent again: refused again, not a duplicate
        envelope("demand.updated", "e-upd-confirm-early",
                 dict(ex["demand.updated"], action="progress")),
        envelope("demand.updated", "e-upd-confirm",
                 dict(ex["demand.updated"], action="confirm",
                      at="2026-11-22T10:00:00+08:00")),
        envelope("kpi.business", "e-kpi", ex["kpi.business"]),
        envelope("kpi.business", "e-kpi-stale",
                 dict(ex["kpi.business"], value=1),
                 occurred_at="2026-01-01T00:00:00+08:00"),
        envelope("directory.member", "e-m1-stale",
                 dict(member, name="旧名字"),
                 occurred_at="2026-01-01T00:00:00+08:00"),
        # invalid, and from another system
        envelope("kpi.business", "e-kpi-bad",
                 dict(ex["kpi.business"], period="2026-13")),
        envelope("kpi.business", "e-kpi-foreign", ex["kpi.business"],
                 source="partymembers"),
        {"event_id": "e-not-even", "type": "activity.service"},
        # repeats across batches
        envelope("directory.unit", "e-unit", ex["directory.unit"]),
        envelope("activity.service", "e-act-4",
                 dict(plain, activity_id="act-4",
                      recipient=recipient_only_id)),
    ]
    # many activities of known members, alternating, for the bulk path
    for i in range(40):
        items.append(envelope("activity.service", f"e-bulk-{i}", dict(
            plain, activity_id=f"act-bulk-{i}",
            member_id=("m-0001-s", "m-0002-s")[i % 2],
            recipient=dict(plain["recipient"], phone=f"139{i:08d}"))))
    items.append(envelope("activity.service", "e-bulk-7",
                          dict(plain, activity_id="act-bulk-7")))
    return items, (10, 24)


def answer_of_single(response):
    body = response.json()
    if response.status_code == 202:
        assert body["status"] == "accepted"
        return {"status": "accepted", "result": body["result"]}
    if response.status_code == 200:
        assert body["status"] == "duplicate"
        return {"status": "duplicate", "result": body["result"]}
    assert 400 <= response.status_code < 500, response.text
    return dict(body, status="rejected")


def answer_of_batch_item(item):
    return {k: v for k, v in item.items() if k not in ("index", "event_id")}


def opened(value, sealer):
    if isinstance(value, dict) and "sealed" in value:
        # a sealed contact in an event: its token differs on every sealing
        return dict(value, sealed=sealer.open(value["sealed"]))
    if isinstance(value, dict):
        return {k: (sealer.open(v) if k.endswith("_enc") and v else
                    opened(v, sealer))
                for k, v in value.items() if k not in MOMENTS}
    if isinstance(value, list):
        return [opened(v, sealer) for v in value]
    return value


def snapshot(db):
    """Every stored document (timestamps out, ciphertexts opened) and the
    staged events in the order they are relayed."""
    sealer = Sealer(SECRET)
    stored = {name: sorted((opened(doc, sealer) for doc in db[name].find()),
                           key=lambda doc: json.dumps(doc, sort_keys=True,
                                                      default=str))
              for name in COLLECTIONS}
    for receipt in stored["ingest_receipts"]:
        receipt.pop("via")
    events = [{"type": envelope["type"],
               "correlation_id": envelope["correlation_id"],
               "data": opened(envelope["data"], sealer)}
              for entry in db.outbox.find(
                  sort=[("created_at", 1), ("seq", 1)])
              for envelope in outbox_envelopes(entry)]
    return stored, events


@pytest.fixture
def start(container_factory, infra):
    """``start()`` makes an activity service on a fresh vhost and fresh
    databases: (container, config); the broker user guest is the source
    system over AMQP."""
    vhosts = []

    def start():
        vhost = f"t-batch-{uuid.uuid4().hex[:8]}"
        infra.rabbitmqctl("add_vhost", vhost)
        infra.rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*",
                          ".*", ".*")
        vhosts.append(vhost)
        config = {
            "AMQP_URI": (f"pyamqp://guest:guest@127.0.0.1:"
                         f"{infra.ports.amqp}/{vhost}"),
            "MONGO_URI": infra.mongo_uri,
            "WEB_SERVER_ADDRESS": f"127.0.0.1:{free_port()}",
            "SIFUWU_DB_PREFIX": f"i{uuid.uuid4().hex[:8]}_",
            "SIFUWU_SECRET": SECRET, "SIFUWU_RELAY_INTERVAL": 3600,
            "SIFUWU_INGEST_TOKENS": f"{SYSTEM}={TOKEN}",
            "SIFUWU_INGEST_AMQP_USERS": f"guest={SYSTEM}",
            "max_workers": 10,
        }
        return container_factory(ActivityService, config), config

    yield start
    for vhost in vhosts:
        infra.rabbitmqctl("delete_vhost", vhost, check=False)


def one_by_one(start, mongo, items):
    container, config = start()
    container.start()
    url = "http://" + config["WEB_SERVER_ADDRESS"]
    answers = [answer_of_single(post_event(url, TOKEN, item))
               for item in items]
    return answers, snapshot(mongo[config["SIFUWU_DB_PREFIX"] + "activity"])


@pytest.mark.parametrize("transaction_size", [500, 4])
def test_http_batches_match_one_by_one(start, mongo, monkeypatch,
                                       transaction_size):
    items, cuts = stream()
    expected_answers, expected = one_by_one(start, mongo, items)

    monkeypatch.setattr(ingest_entrypoints, "TRANSACTION_SIZE",
                        transaction_size)
    container, config = start()
    container.start()
    url = "http://" + config["WEB_SERVER_ADDRESS"]
    answers = []
    for begin, end in zip((0, *cuts), (*cuts, len(items))):
        response = post_batch(url, TOKEN, items[begin:end])
        assert response.status_code == 200, response.text
        body = response.json()
        assert [r["index"] for r in body["results"]] == list(
            range(end - begin))
        assert [r["event_id"] for r in body["results"]] == [
            item.get("event_id") for item in items[begin:end]]
        answers += [answer_of_batch_item(r) for r in body["results"]]
    got = snapshot(mongo[config["SIFUWU_DB_PREFIX"] + "activity"])

    assert answers == expected_answers
    statuses = [a["status"] for a in answers]
    assert statuses.count("duplicate") == 4
    assert {a["error"] for a in answers if a["status"] == "rejected"} == {
        "activity_exists", "illegal_transition", "demand_exists",
        "validation_failed", "source_mismatch"}
    assert got[0] == expected[0]
    assert got[1] == expected[1]
    # the stream exercised what it is meant to
    stored = got[0]
    assert all(a["member_linked"] for a in stored["activities"])
    assert {d["_id"]: d["touched"] for d in stored["arrival_locks"]}[
        "member:m-0002-s"] == 3  # two activities waiting, then the member
    demands = {d["_id"]: d for d in stored["demands"]}
    assert set(demands) == {"12345-20261120-0042-s", "dm-act-0001-s"}
    demand = demands["12345-20261120-0042-s"]
    assert [h["action"] for h in demand["history"]] == [
        "raise", "respond", "resolve", "confirm"]


def test_amqp_batches_match_one_by_one(start, mongo):
    items, _ = stream()
    expected_answers, expected = one_by_one(start, mongo, items)

    container, config = start()
    exchange = Exchange(wiring.INGEST_EXCHANGE, type="topic", durable=True)
    with Connection(config["AMQP_URI"],
                    transport_options={"confirm_publish": True}) as conn:
        declare_ingest_topology(conn)
        producer = conn.Producer()
        for item in items:  # all waiting before the consumer starts
            producer.publish(
                json.dumps(item, ensure_ascii=False).encode(),
                exchange=exchange, routing_key=str(item.get("type")),
                delivery_mode=2, content_type="application/json",
                content_encoding="utf-8", user_id="guest")
    container.start()
    db = mongo[config["SIFUWU_DB_PREFIX"] + "activity"]
    refused = [a for a in expected_answers if a["status"] == "rejected"]
    found = []
    with Connection(config["AMQP_URI"]) as conn:
        queue = rejected_queue()(conn.default_channel)
        queue.declare()
        deadline = time.monotonic() + 60
        while len(found) < len(refused) and time.monotonic() < deadline:
            message = queue.get(no_ack=True)
            if message is None:
                time.sleep(0.1)
                continue
            found.append((json.loads(message.body),
                          message.headers[wiring.REJECTION_HEADER]))
    wait_for(lambda: db.ingest_receipts.count_documents({}) == len(
        expected[0]["ingest_receipts"]), what="every receipt")
    container.stop()
    with Connection(config["AMQP_URI"]) as conn:
        assert conn.default_channel.queue_declare(
            wiring.INGEST_QUEUE, passive=True).message_count == 0

    reasons = [reason.split(":")[0] for _, reason in found]
    assert sorted(reasons) == sorted(
        "invalid" if a["error"] == "validation_failed" else a["error"]
        for a in refused)
    assert [body.get("event_id") for body, _ in found] == [
        item.get("event_id") for item, a in zip(items, expected_answers)
        if a["status"] == "rejected"]
    got = snapshot(db)
    assert got[0] == expected[0]
    assert got[1] == expected[1]


def test_a_batch_after_the_store_refused_part_of_it_keeps_the_rest(
        start, mongo):
    """Every item of the batch refused after writing: each is answered,
    nothing of them is kept, the good ones around them are."""
    container, config = start()
    container.start()
    url = "http://" + config["WEB_SERVER_ADDRESS"]
    ex = example_data("r")
    raised = envelope("demand.raised", "r-raised", ex["demand.raised"])
    assert post_event(url, TOKEN, raised).status_code == 202
    items = []
    for i in range(6):
        kpi = dict(ex["kpi.business"], indicator="k_" + "abcdef"[i])
        items.append(envelope("kpi.business", f"r-kpi-{i}", kpi))
        bad = copy.deepcopy(ex["demand.updated"])
        bad["action"] = "confirm"
        items.append(envelope("demand.updated", f"r-bad-{i}", bad))
    body = post_batch(url, TOKEN, items).json()
    assert (body["accepted"], body["rejected"]) == (6, 6)
    assert [r["status"] for r in body["results"]] == [
        "accepted", "rejected"] * 6
    db = mongo[config["SIFUWU_DB_PREFIX"] + "activity"]
    assert db.kpis.count_documents({}) == 6
    assert db.ingest_receipts.count_documents({}) == 7
    assert db.demands.find_one()["status"] == "received"


def test_racing_batches_of_the_same_events_have_one_effect(start, mongo):
    """The same batch sent four times at once: each event is accepted once
    and a duplicate otherwise, stored once and announced once."""
    container, config = start()
    container.start()
    url = "http://" + config["WEB_SERVER_ADDRESS"]
    ex = example_data("race")
    assert post_event(url, TOKEN, envelope(
        "directory.member", "race-m", ex["directory.member"])).status_code \
        == 202
    visit = {k: v for k, v in ex["activity.service"].items()
             if k != "demands"}
    items = [envelope("activity.service", f"race-{i}",
                      dict(visit, activity_id=f"act-race-{i}"))
             for i in range(30)]
    with ThreadPoolExecutor(4) as pool:
        bodies = list(pool.map(
            lambda _: post_batch(url, TOKEN, items).json(), range(4)))
    for index in range(len(items)):
        statuses = sorted(body["results"][index]["status"]
                          for body in bodies)
        assert statuses == ["accepted"] + ["duplicate"] * 3, index
    db = mongo[config["SIFUWU_DB_PREFIX"] + "activity"]
    assert db.activities.count_documents({}) == len(items)
    assert db.ingest_receipts.count_documents({}) == len(items) + 1
    _, events = snapshot(db)
    logged = [e for e in events if e["type"] == ev.ACTIVITY_LOGGED]
    assert sorted(e["data"]["activity_id"] for e in logged) == sorted(
        item["data"]["activity_id"] for item in items)
