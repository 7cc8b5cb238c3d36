"""Two feedback replicas in-process against the real broker and store,
sharing one database: the per-address and per-token limits are one budget
for both (issue 25), each check one statement outside any transaction, no
address or token in clear in the counters, and a counter that cannot reach
the store lets the request through instead of answering 500."""

import uuid

import pytest
import requests
from kombu import Connection
from kombu.pools import producers
from nameko.testing.utils import get_extension
from pymongo import MongoClient

from services.feedback.dependencies import RateLimits
from services.feedback.service import FeedbackService
from sifuwu import events as ev
from sifuwu import wiring
from tests import helpers
from tests.helpers import wait_for
from tooling.stack import free_port

BESIDE = {("find", "outbox"), ("update", "outbox"), ("find", "rectifications")}
STATEMENTS = helpers.statement_counter(
    lambda name, target, command: (name, target) in BESIDE)


def db_of(mongo, config):
    return mongo[f"{config['SIFUWU_DB_PREFIX']}feedback"]


@pytest.fixture
def replicas(container_factory, service_config):
    """Start two feedback containers on one vhost and one database, each
    on its own port; the caller sets the limits first."""
    def start(**limits):
        configs = []
        for _ in range(2):
            port = free_port()
            config = dict(service_config, **limits)
            config["WEB_SERVER_ADDRESS"] = f"127.0.0.1:{port}"
            config["SIFUWU_FEEDBACK_BASE_URL"] = f"http://127.0.0.1:{port}"
            container = container_factory(FeedbackService, config)
            container.start()
            configs.append((container, config))
        return configs
    return start


def api(config):
    return "http://" + config["WEB_SERVER_ADDRESS"] + "/api/v1/feedback"


def invite(config, mongo):
    """An invitation's token, issued by whichever replica consumes the
    activity."""
    data = {
        "activity_id": uuid.uuid4().hex, "category": "enterprise",
        "kind": "visit", "roles": ["informer"],
        "member_id": "m-" + uuid.uuid4().hex[:6], "member_name": "王芳",
        "unit_id": "u-fgw", "branch_id": "b-fgw-1", "campaign_id": None,
        "recipient": {"id": "e-1", "type": "enterprise", "name": "张三",
                      "phone": "13912340000"},
        "occurred_at": "2026-11-20T10:00:00+08:00"}
    envelope = ev.make_event(ev.ACTIVITY_LOGGED, data, source="activity")
    exchange = wiring.event_exchange("activity")
    with Connection(config["AMQP_URI"]) as conn:
        with producers[conn].acquire(block=True) as producer:
            producer.publish(envelope, exchange=exchange,
                             routing_key=ev.ACTIVITY_LOGGED,
                             serializer="json", declare=[exchange],
                             retry=True)
    issued = wait_for(lambda: helpers.emitted(
        db_of(mongo, config), ev.INVITATION_ISSUED,
        subject_id=data["activity_id"]), what="invitation.issued")[0]
    return issued["data"]["link"].rsplit("/", 1)[1]


def test_two_replicas_spend_one_address_budget(replicas, mongo):
    (_, a), (_, b) = replicas(SIFUWU_FEEDBACK_RATE_ADDRESS="6/3600")
    token = invite(a, mongo)
    codes = []
    for n in range(5):  # invalid ratings: past the limiter, refused after
        codes.append(requests.post(api((a, b)[n % 2]),
                                   json={"token": token, "rating": 9},
                                   timeout=10).status_code)
    codes.append(requests.post(api(b), json={"token": token, "rating": 5},
                               timeout=10).status_code)  # the 6th, valid
    assert codes == [400] * 5 + [201]
    for config in (a, b):  # the 7th and 8th, one on each replica
        refused = requests.post(api(config), json={"rating": 5}, timeout=10)
        assert refused.status_code == 429
        assert refused.json()["error"] == "too_many_requests"
        assert "请 3600 秒后再试" in refused.json()["message"]
    counters = list(db_of(mongo, a)["rate_limits"].find())
    by_scope = {doc["_id"].split(":", 1)[0]: doc["count"] for doc in counters}
    assert by_scope == {"addr": 8, "token": 6}
    assert "127.0.0.1" not in repr(counters) and token not in repr(counters)
    assert all(doc["expires_at"].tzinfo is not None for doc in counters)
    ttl = {index["name"]: index for index in
           db_of(mongo, a)["rate_limits"].list_indexes()}["rate_window_ttl"]
    assert ttl["expireAfterSeconds"] == 0 and dict(ttl["key"]) == {
        "expires_at": 1}


def test_two_replicas_spend_one_token_budget_one_statement_per_check(
        replicas, mongo):
    (_, a), (_, b) = replicas(SIFUWU_FEEDBACK_RATE_TOKEN="3/3600")
    token = invite(a, mongo)
    db = db_of(mongo, a)
    with STATEMENTS.count(db.name) as seen:
        first = requests.post(api(a), json={"token": token, "rating": 9},
                              timeout=10)
    assert first.status_code == 400
    assert seen == [("findAndModify", "rate_limits")] * 2
    assert STATEMENTS.in_transaction == [False, False]
    codes = [requests.post(api(config), json={"token": token, "rating": 9},
                           timeout=10).status_code for config in (b, a, b)]
    assert codes == [400, 400, 429]
    other = invite(a, mongo)  # another link keeps its own budget
    assert requests.post(api(b), json={"token": other, "rating": 5},
                         timeout=10).status_code == 201


def test_a_counter_that_cannot_reach_the_store_lets_requests_through(
        replicas, mongo):
    (container, a), _ = replicas(SIFUWU_FEEDBACK_RATE_ADDRESS="1/3600")
    counter = get_extension(container, RateLimits).counter
    nowhere = MongoClient(f"mongodb://127.0.0.1:{free_port()}/",
                          serverSelectionTimeoutMS=300)
    counter.collection = nowhere["x"]["rate_limits"]
    try:
        answers = [requests.post(api(a), json={"rating": 9}, timeout=10)
                   for _ in range(2)]
    finally:
        nowhere.close()
    # past the (failed) limiter, refused by validation: never a 500
    assert [r.status_code for r in answers] == [400, 400]
    assert db_of(mongo, a)["rate_limits"].count_documents({}) == 0
