"""The public board (公示栏) fed by ``publicity.opened``, objections (异议)
with private contact details, staff answers on the board, and public
recommendations (推荐典型): in-process against the real broker and store."""

import datetime as dt
import re
import uuid

import pytest
import requests
from kombu import Connection
from kombu.pools import producers

from services.feedback.service import FeedbackService
from sifuwu import events as ev
from sifuwu import wiring
from tooling.stack import free_port
from tests import helpers
from tests.helpers import TEST_JWKS, staff_headers, wait_for

STAFF = staff_headers()


def publish(config, publisher, event_type, data):
    envelope = ev.make_event(event_type, data, source=publisher)
    exchange = wiring.event_exchange(publisher)
    with Connection(config["AMQP_URI"]) as conn:
        with producers[conn].acquire(block=True) as producer:
            producer.publish(envelope, exchange=exchange,
                             routing_key=event_type, serializer="json",
                             declare=[exchange], retry=True)




def db_of(mongo, config):
    return mongo[f"{config['SIFUWU_DB_PREFIX']}feedback"]


def outbox(db, event_type, **match):
    return helpers.emitted(db, event_type, **match)


OBJECTOR_PHONE = "13788889999"


@pytest.fixture(scope="module")
def module_vhost(infra):
    """One vhost for this module (rabbitmqctl is slow); every test still
    gets its own databases and port."""
    name = f"fb-{uuid.uuid4().hex[:10]}"
    infra.rabbitmqctl("add_vhost", name)
    infra.rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*",
                      ".*")
    yield name
    infra.rabbitmqctl("delete_vhost", name, check=False)


@pytest.fixture
def config(infra, module_vhost):
    port = free_port()
    return {
        "AMQP_URI": f"pyamqp://guest:guest@127.0.0.1:{infra.ports.amqp}/"
                    f"{module_vhost}",
        "MONGO_URI": infra.mongo_uri,
        "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
        "SIFUWU_DB_PREFIX": f"f{uuid.uuid4().hex[:8]}_",
        "SIFUWU_SECRET": "test-secret",
        "SIFUWU_JWKS": TEST_JWKS,
        "SIFUWU_RELAY_INTERVAL": 0.2,
        "SIFUWU_FEEDBACK_BASE_URL": f"http://127.0.0.1:{port}",
        "max_workers": 10,
    }


@pytest.fixture
def web_url(config):
    return "http://" + config["WEB_SERVER_ADDRESS"]


@pytest.fixture
def feedback(container_factory, config):
    container = container_factory(FeedbackService, config)
    container.start()
    return container


def open_publicity(config, mongo, days_left=5, starts_ago=1):
    today = dt.date.today()
    campaign_id = "c-" + uuid.uuid4().hex[:8]
    publish(config, "assessment", ev.PUBLICITY_OPENED, {
        "campaign_id": campaign_id,
        "title": "2026 年度“四服务”先进党支部和优秀党员拟表彰名单",
        "starts_on": (today - dt.timedelta(days=starts_ago)).isoformat(),
        "ends_on": (today + dt.timedelta(days=days_left)).isoformat(),
        "candidates": [
            {"candidate_id": "m-101", "name": "王芳", "unit_name": "市发改委",
             "award": "优秀党员"},
            {"candidate_id": "b-202", "name": "市商务局第一党支部",
             "unit_name": "市商务局", "award": "“四服务”先进党支部"}]})
    db = db_of(mongo, config)
    wait_for(lambda: db["publicity"].find_one({"_id": campaign_id}),
             what="the board's copy")
    return campaign_id


def file_by_form(session, web_url, **fields):
    page = session.get(f"{web_url}/publicity", timeout=5)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return session.post(f"{web_url}/publicity/objections",
                        data={"csrf": csrf, **fields}, timeout=10)


def test_board_objection_answer_cycle(feedback, config, mongo,
                                      web_url, caplog):
    caplog.set_level("INFO")
    campaign_id = open_publicity(config, mongo)
    session = requests.Session()
    board = session.get(f"{web_url}/publicity", timeout=5)
    assert board.status_code == 200
    for text in ("拟表彰名单", "王芳", "市商务局第一党支部", "公示中",
                 "提交异议"):
        assert text in board.text

    fields = {"campaign_id": campaign_id, "candidate_id": "m-101",
              "reason": "该同志今年曾因服务态度问题被群众投诉，请核实。",
              "name": "赵六", "phone": OBJECTOR_PHONE}
    filed = file_by_form(session, web_url, **fields)
    assert filed.status_code == 200 and "异议已受理" in filed.text
    again = file_by_form(session, web_url, **fields)
    assert again.status_code == 409 and "已对该公示对象提出过异议" in again.text

    db = db_of(mongo, config)
    stored = db["objections"].find_one({"campaign_id": campaign_id})
    assert OBJECTOR_PHONE not in repr(stored) and "赵六" not in repr(stored)
    event = outbox(db, ev.OBJECTION_FILED, objection_id=stored["_id"])[0]
    assert set(event["data"]) == {"objection_id", "campaign_id",
                                  "candidate_id", "reason"}

    url = f"{web_url}/api/v1/objections"
    assert requests.get(url, timeout=5).status_code == 401
    listed = requests.get(url, params={"campaign_id": campaign_id},
                          headers=STAFF, timeout=5).json()["items"]
    assert listed[0]["objector"] == {"name": "赵六", "phone": OBJECTOR_PHONE}
    answer = "经核实，所反映投诉已于当月办结且群众满意，不影响表彰。"
    answered = requests.post(f"{url}/{stored['_id']}/answer", headers=STAFF,
                             json={"substantiated": False, "answer": answer},
                             timeout=5)
    assert answered.status_code == 200 and "objector" not in answered.json()
    assert requests.post(f"{url}/{stored['_id']}/answer", headers=STAFF,
                         json={"substantiated": True, "answer": "再答复一次"},
                         timeout=5).status_code == 409
    assert outbox(db, ev.OBJECTION_ANSWERED,
                  objection_id=stored["_id"])[0]["data"]["answer"] == answer

    board = requests.get(f"{web_url}/publicity", timeout=5).text
    assert answer in board and "异议不属实" in board
    assert OBJECTOR_PHONE not in board and "赵六" not in board
    public = requests.get(f"{web_url}/api/v1/publicity", timeout=5).json()
    mine = next(p for p in public["items"] if p["campaign_id"] == campaign_id)
    assert mine["answers"][0]["answer"] == answer
    assert OBJECTOR_PHONE not in repr(public)
    assert caplog.records  # the service logged, but no personal data
    assert OBJECTOR_PHONE not in caplog.text and "赵六" not in caplog.text


def test_objection_form_checks(feedback, config, mongo, web_url):
    campaign_id = open_publicity(config, mongo)
    session = requests.Session()
    invalid = file_by_form(session, web_url, campaign_id=campaign_id,
                           candidate_id="m-101", reason="太短", phone="123")
    assert invalid.status_code == 400
    assert "手机号格式不正确" in invalid.text and "异议理由须为" in invalid.text
    unknown = file_by_form(session, web_url, campaign_id=campaign_id,
                           candidate_id="m-999",
                           reason="名单外的人也想提一下意见，请核实处理。",
                           phone=OBJECTOR_PHONE)
    assert unknown.status_code == 404
    no_csrf = requests.post(f"{web_url}/publicity/objections", data={
        "campaign_id": campaign_id, "candidate_id": "m-101",
        "reason": "跨站提交的异议不应被受理，请核实。",
        "phone": OBJECTOR_PHONE}, timeout=5)
    assert no_csrf.status_code == 403

    # an objection answered in assessment shows on the board as well
    filed = requests.post(f"{web_url}/api/v1/objections", json={
        "campaign_id": campaign_id, "candidate_id": "b-202",
        "reason": "该支部今年组织生活会记录不全，请核实。",
        "phone": OBJECTOR_PHONE}, timeout=5)
    assert filed.status_code == 201 and "phone" not in filed.json()
    answer = "经查阅会议记录，组织生活会均按期召开，异议不成立。"
    publish(config, "assessment", ev.OBJECTION_DECIDED, {
        "objection_id": filed.json()["id"], "campaign_id": campaign_id,
        "candidate_id": "b-202", "substantiated": False, "answer": answer})
    wait_for(lambda: answer in requests.get(f"{web_url}/publicity",
                                            timeout=5).text,
             what="the assessment's answer on the board")
    db = db_of(mongo, config)
    # announced once, by feedback (the one publisher of objection.answered)
    announced = [e for e in outbox(db, ev.OBJECTION_ANSWERED)
                 if e["data"]["objection_id"] == filed.json()["id"]]
    assert len(announced) == 1 and announced[0]["data"]["answer"] == answer


def test_closed_publicity_takes_no_objection(feedback, config, mongo,
                                             web_url):
    campaign_id = open_publicity(config, mongo, days_left=-1,
                                 starts_ago=6)
    board = requests.get(f"{web_url}/publicity", timeout=5).text
    assert "已结束" in board
    response = requests.post(f"{web_url}/api/v1/objections", json={
        "campaign_id": campaign_id, "candidate_id": "m-101",
        "reason": "公示期已过仍想提出异议，请核实。",
        "phone": OBJECTOR_PHONE}, timeout=5)
    assert response.status_code == 409
    assert response.json()["error"] == "publicity_closed"


def test_public_recommendation(feedback, config, mongo, web_url):
    url = f"{web_url}/api/v1/recommendations"
    response = requests.post(url, json={
        "campaign_id": "c-2026", "candidate_type": "member",
        "candidate_id": "m-101", "reason": "多次上门帮企业协调用地问题",
        "name": "钱七", "phone": "13511112222"}, timeout=5)
    assert response.status_code == 201
    body = response.json()
    assert "phone" not in body and "name" not in body
    db = db_of(mongo, config)
    stored = db["recommendations"].find_one({"_id": body["id"]})
    assert "13511112222" not in repr(stored)
    event = outbox(db, ev.RECOMMENDATION_SUBMITTED,
                   recommendation_id=body["id"])[0]["data"]
    assert event["candidate_id"] == "m-101" and event["campaign_id"] == "c-2026"
    assert requests.post(url, json={"candidate_type": "member",
                                    "candidate_id": {"$ne": 1},
                                    "reason": "注入尝试注入尝试"},
                         timeout=5).status_code == 400
    listed = requests.get(url, headers=STAFF, timeout=5).json()
    assert listed["count"] == 1
