"""The ingest contract over AMQP, in-process against the real broker and
store: one broker user per source system (RabbitMQ validates ``user_id``),
every type, every rejection path into ``sifuwu.ingest.rejected`` (body intact,
reason in ``x-rejection-reason``), duplicates and out-of-order arrival, and
acks only after the work is stored."""

import time
import uuid

import pytest
from kombu import Connection

from services.activity.client import publish_event
from services.activity.examples import example_envelope
from services.activity.ingest.consumer import rejected_queue
from services.activity.service import ActivityService
from sifuwu import events as ev
from sifuwu import wiring
from tooling.stack import free_port
from tests import helpers
from tests.helpers import TEST_JWKS, wait_for

SYSTEM = "hotline12345"
OTHER = "partymembers"
STRANGER = "stranger"  # a broker user that is no source system
PASSWORD = "pw-ingest"


@pytest.fixture(scope="module")
def module_config(infra):
    vhost = f"t-act-amqp-{uuid.uuid4().hex[:6]}"
    infra.rabbitmqctl("add_vhost", vhost)
    infra.rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*",
                      ".*")
    for user in (SYSTEM, OTHER, STRANGER):
        infra.rabbitmqctl("add_user", user, PASSWORD, check=False)
        # a sender may only publish to the ingest exchange
        infra.rabbitmqctl("set_permissions", "-p", vhost, user, "^$",
                          "^sifuwu\\.ingest$", "^$")
    yield {
        "vhost": vhost,
        "AMQP_URI": f"pyamqp://guest:guest@127.0.0.1:{infra.ports.amqp}/{vhost}",
        "MONGO_URI": infra.mongo_uri,
        "SIFUWU_DB_PREFIX": f"i{uuid.uuid4().hex[:8]}_",
        "SIFUWU_SECRET": "test-secret",
        "SIFUWU_JWKS": TEST_JWKS,
        "SIFUWU_RELAY_INTERVAL": 0.2,
        "SIFUWU_INGEST_TOKENS": f"{SYSTEM}=t1,{OTHER}=t2",
        "max_workers": 10,
    }
    infra.rabbitmqctl("delete_vhost", vhost, check=False)


@pytest.fixture
def container(container_factory, module_config):
    config = {k: v for k, v in module_config.items() if k != "vhost"}
    config["WEB_SERVER_ADDRESS"] = f"127.0.0.1:{free_port()}"
    container = container_factory(ActivityService, config)
    container.start()
    return container


@pytest.fixture
def db(mongo, module_config):
    return mongo[module_config["SIFUWU_DB_PREFIX"] + "activity"]


@pytest.fixture
def send(infra, module_config, container):
    """Publish as a broker user (the consumer has declared the exchange)."""
    def send(envelope, user=SYSTEM, body=None, user_id=None):
        uri = (f"pyamqp://{user}:{PASSWORD}@127.0.0.1:{infra.ports.amqp}/"
               f"{module_config['vhost']}")
        publish_event(uri, envelope, body=body,
                      user_id=user if user_id is None else user_id)
    return send


@pytest.fixture
def rejected(module_config):
    """Read what landed in the rejected queue: [(body, headers)]."""
    def read(expected, timeout=10):
        found = []
        deadline = time.monotonic() + timeout
        with Connection(module_config["AMQP_URI"]) as conn:
            queue = rejected_queue()(conn.default_channel)
            queue.declare()
            while len(found) < expected and time.monotonic() < deadline:
                message = queue.get(no_ack=True)
                if message is None:
                    time.sleep(0.05)
                    continue
                body = message.body
                if isinstance(body, str):  # py-amqp decodes utf-8 bodies
                    body = body.encode("utf-8")
                found.append((body, message.headers))
        return found
    return read




emitted = helpers.emitted


def queue_depth(module_config, name):
    with Connection(module_config["AMQP_URI"]) as conn:
        return conn.default_channel.queue_declare(
            name, passive=True).message_count


def ingest_queue_depth(module_config):
    return queue_depth(module_config, wiring.INGEST_QUEUE)


def rejected_depth(module_config):
    return queue_depth(module_config, wiring.INGEST_REJECTED_QUEUE)


def test_every_type_arrives_and_is_acked_after_commit(send, db, container,
                                                      module_config,
                                                      rejected):
    t = uuid.uuid4().hex[:8]
    for event_type in ev.INGEST_TYPES:
        send(example_envelope(event_type, t))
    wait_for(lambda: db.ingest_receipts.count_documents(
        {"event_id": {"$regex": t}, "via": "amqp"}) == len(ev.INGEST_TYPES),
        what="every type stored")
    for event_type, key, value in (
            (ev.DIRECTORY_CHANGED, "id", f"m-0001-{t}"),
            (ev.ACTIVITY_LOGGED, "activity_id", f"act-20261120-0001-{t}"),
            (ev.PARTY_ACTIVITY_LOGGED, "activity_id", f"pa-20261118-0001-{t}"),
            (ev.DEMAND_RAISED, "demand_id", f"12345-20261120-0042-{t}"),
            (ev.DEMAND_STATUS_CHANGED, "demand_id", f"12345-20261120-0042-{t}"),
            (ev.KPI_RECORDED, "subject_id", f"u-fgw-{t}")):
        assert len(emitted(db, event_type, **{key: value})) == 1, event_type
    # every message was acknowledged: after the consumer stops, none return
    container.stop()
    assert ingest_queue_depth(module_config) == 0
    assert rejected_depth(module_config) == 0


def test_invalid_messages_go_to_the_rejected_queue_intact(send, db, rejected):
    t = uuid.uuid4().hex[:8]
    invalid = example_envelope("kpi.business", t, event_id=f"inv-{t}")
    invalid["data"]["period"] = "11/2026"
    foreign = example_envelope("kpi.business", t, source=OTHER,
                               event_id=f"foreign-{t}")
    raised = example_envelope("demand.raised", t)
    confirm = example_envelope("demand.updated", t, event_id=f"conf-{t}")
    confirm["data"]["action"] = "confirm"
    not_json = b"\xff{definitely not json"
    send(None, body=not_json)
    send(invalid)
    send(foreign)                       # source is not the sender's system
    send(invalid, user=STRANGER)        # a broker user with no system
    send(raised)
    wait_for(lambda: db.demands.find_one({"_id": raised["data"]["demand_id"]}),
             what="the demand")
    send(confirm)                       # illegal: received -> confirmed
    found = rejected(5)
    assert len(found) == 5
    by_reason = {headers[wiring.REJECTION_HEADER].split(":")[0]: (body, headers)
                 for body, headers in found}
    assert set(by_reason) == {"invalid", "source_mismatch", "unauthorized",
                              "illegal_transition"}
    invalids = [(b, h) for b, h in found
                if h[wiring.REJECTION_HEADER].startswith("invalid: ")]
    assert len(invalids) == 2
    [(broken_body, broken)] = [(b, h) for b, h in invalids
                               if "JSON" in h[wiring.REJECTION_HEADER]]
    assert broken_body == not_json                          # body intact
    [(body, headers)] = [(b, h) for b, h in invalids
                         if "period" in h[wiring.REJECTION_HEADER]]
    assert headers["x-user-id"] == SYSTEM
    assert headers["x-routing-key"] == "kpi.business"
    assert b'"11/2026"' in body
    assert foreign["event_id"].encode() in by_reason["source_mismatch"][0]
    stranger = by_reason["unauthorized"][1][wiring.REJECTION_HEADER]
    assert STRANGER in stranger
    illegal = by_reason["illegal_transition"][1][wiring.REJECTION_HEADER]
    assert "已受理" in illegal and "确认解决" in illegal
    assert not emitted(db, ev.KPI_RECORDED, subject_id=f"u-fgw-{t}")
    assert db.demands.find_one({"_id": raised["data"]["demand_id"]})[
        "status"] == "received"


def test_another_sources_record_and_a_far_future_date_are_rejected(
        send, db, rejected):
    """A member owned by one system, rewritten by another (not_owner) or
    dated 2099 (a field error): both rejected with their reason, the member
    unchanged."""
    t = uuid.uuid4().hex[:8]
    member = example_envelope("directory.member", t, source=OTHER)
    send(member, user=OTHER)
    member_id = member["data"]["member_id"]
    wait_for(lambda: db.members.find_one({"_id": member_id}),
             what="the member")
    before = db.members.find_one({"_id": member_id})
    rewrite = example_envelope("directory.member", t, event_id=f"rw-{t}",
                               data=dict(member["data"], phone="13666666666"))
    future = dict(rewrite, event_id=f"future-{t}",
                  occurred_at="2099-01-01T00:00:00+08:00")
    send(rewrite)
    send(future)
    found = rejected(2)
    reasons = {body: headers[wiring.REJECTION_HEADER]
               for body, headers in found}
    assert len(reasons) == 2
    [owner] = [r for b, r in reasons.items() if f"rw-{t}".encode() in b]
    assert owner.startswith("not_owner: ") and OTHER in owner
    [late] = [r for b, r in reasons.items() if f"future-{t}".encode() in b]
    assert late.startswith("invalid: ") and "occurred_at" in late
    assert db.members.find_one({"_id": member_id}) == before


def test_message_without_user_id_is_rejected(send, rejected):
    envelope = example_envelope("kpi.business", uuid.uuid4().hex[:8])
    send(envelope, user_id="")
    [(body, headers)] = rejected(1)
    assert headers[wiring.REJECTION_HEADER].startswith("unauthorized: ")
    assert envelope["event_id"].encode() in body


def test_broker_refuses_a_forged_user_id(send):
    envelope = example_envelope("kpi.business", uuid.uuid4().hex[:8])
    with pytest.raises(Exception) as err:
        send(envelope, user=SYSTEM, user_id=OTHER)
    assert "user_id" in str(err.value).lower() or "PRECONDITION" in str(
        err.value).upper()


def test_redelivered_and_repeated_messages_have_one_effect(send, db,
                                                           module_config):
    t = uuid.uuid4().hex[:8]
    envelope = example_envelope("demand.raised", t)
    for _ in range(6):  # the workers run them concurrently
        send(envelope)
    later = example_envelope("kpi.business", t)
    send(later)
    wait_for(lambda: db.ingest_receipts.find_one(
        {"event_id": later["event_id"]}), what="the later message")
    wait_for(lambda: emitted(db, ev.DEMAND_RAISED,
                             demand_id=envelope["data"]["demand_id"]),
             what="the demand")
    time.sleep(0.3)  # let any straggling duplicate finish
    assert len(emitted(db, ev.DEMAND_RAISED,
                       demand_id=envelope["data"]["demand_id"])) == 1
    assert db.ingest_receipts.count_documents(
        {"event_id": envelope["event_id"]}) == 1
    assert rejected_depth(module_config) == 0


def test_activity_before_member_over_amqp(send, db):
    t = uuid.uuid4().hex[:8]
    activity = example_envelope("activity.service", t)
    activity["data"]["demands"] = []
    send(activity)
    activity_id = activity["data"]["activity_id"]
    wait_for(lambda: db.activities.find_one({"_id": activity_id}),
             what="the activity")
    assert not emitted(db, ev.ACTIVITY_LOGGED, activity_id=activity_id)
    send(example_envelope("directory.member", t, source=OTHER), user=OTHER)
    [logged] = wait_for(lambda: emitted(db, ev.ACTIVITY_LOGGED,
                                        activity_id=activity_id),
                        what="the linked activity")
    assert logged["data"]["unit_id"] == f"u-fgw-{t}"


def test_a_message_the_decoder_cannot_take_is_rejected_and_the_rest_pass(
        send, db, rejected, module_config):
    """200,000 nested brackets (RecursionError in a JSON decoder), a lone
    surrogate and NaN go to the rejected queue with a reason; the valid
    message behind them is stored; nothing is left to redeliver."""
    t = uuid.uuid4().hex[:8]
    deep = b"[" * 200_000 + b"]" * 200_000
    send(None, body=deep)
    send(None, body=b'{"event_id": "\\ud800"}')
    send(None, body=b'{"event_id": NaN}')
    valid = example_envelope("kpi.business", t)
    send(valid)
    wait_for(lambda: db.ingest_receipts.count_documents(
        {"event_id": valid["event_id"], "via": "amqp"}) == 1,
        what="the valid message behind the bad ones", timeout=20)
    found = rejected(3)
    assert len(found) == 3
    reasons = [headers[wiring.REJECTION_HEADER] for _, headers in found]
    assert all(reason.startswith("invalid: ") for reason in reasons), reasons
    assert any("嵌套" in reason for reason in reasons), reasons
    assert deep in [body for body, _ in found]               # body intact
    assert ingest_queue_depth(module_config) == 0
