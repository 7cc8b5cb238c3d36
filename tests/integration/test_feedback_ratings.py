"""The feedback service in-process against the real broker and store:
invitations from activities and resolved demands, the rating page and API,
exactly-once submission under concurrency, CSRF, rate limits, bad reviews
opening rectifications (callback, close, overdue sweep, fix rating) and
appeals."""

import datetime as dt
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from zoneinfo import ZoneInfo

import pytest
import requests
from itsdangerous import URLSafeSerializer
from kombu import Connection
from kombu.pools import producers
from nameko.testing.services import entrypoint_hook

from services.feedback.entrypoints.ratings import submit_ratings
from services.feedback.service import FeedbackService
from sifuwu import access
from sifuwu import events as ev
from sifuwu.privacy import Sealer, open_contact
from sifuwu import store, wiring
from tooling.stack import free_port
from sifuwu.store import Store, StoreAccess
from sifuwu.workdays import CALENDAR
from tests import helpers
from tests.helpers import TEST_JWKS, staff_headers, wait_for

STAFF = staff_headers()
# the unit's own staff: they file appeals and call reviewers back
UNIT = staff_headers(access.UNIT_STAFF, name="unit", unit_id="u-fgw")
OTHER_UNIT = staff_headers(access.UNIT_STAFF, name="other", unit_id="u-zjj")
PHONE = "13912340000"


def unsealed(contact):
    """A sealed contact of an event, opened with the test stack's key (the
    one ``SIFUWU_SECRET`` derives: no SIFUWU_CONTACT_KEYS in development)."""
    assert isinstance(contact, dict) and set(contact) == {"ref", "sealed",
                                                          "masked"}, contact
    return open_contact(contact, Sealer("test-secret"))


# -- helpers ------------------------------------------------------------------

def publish(config, publisher, event_type, data):
    envelope = ev.make_event(event_type, data, source=publisher,
                             correlation_id=data.get("activity_id"))
    exchange = wiring.event_exchange(publisher)
    with Connection(config["AMQP_URI"]) as conn:
        with producers[conn].acquire(block=True) as producer:
            producer.publish(envelope, exchange=exchange,
                             routing_key=event_type, serializer="json",
                             declare=[exchange], retry=True)
    return envelope




def db_of(mongo, config):
    return mongo[f"{config['SIFUWU_DB_PREFIX']}feedback"]


# The outbox relay's reads and "sent" updates and the overdue sweeper's
# reads run beside the workers and are left out.
BESIDE = {("find", "outbox"), ("update", "outbox"), ("find", "rectifications")}
STATEMENTS = helpers.statement_counter(
    lambda name, target, command: (name, target) in BESIDE)


def outbox(db, event_type, **match):
    return helpers.emitted(db, event_type, **match)


def activity_data(**overrides):
    data = {
        "activity_id": uuid.uuid4().hex, "category": "enterprise",
        "kind": "visit", "roles": ["informer"], "member_id": "m-" + uuid.uuid4().hex[:6],
        "member_name": "王芳", "unit_id": "u-fgw", "branch_id": "b-fgw-1",
        "campaign_id": None,
        "recipient": {"id": "e-1", "type": "enterprise", "name": "张三",
                      "phone": PHONE},
        "occurred_at": "2026-11-20T10:00:00+08:00",
    }
    data.update(overrides)
    return data


def invite(config, mongo, **overrides):
    """Publish activity.logged; return (link, token, activity data)."""
    data = activity_data(**overrides)
    publish(config, "activity", ev.ACTIVITY_LOGGED, data)
    db = db_of(mongo, config)
    issued = wait_for(lambda: outbox(db, ev.INVITATION_ISSUED,
                                     subject_id=data["activity_id"]),
                      what="invitation.issued")[0]
    link = issued["data"]["link"]
    return link, link.rsplit("/", 1)[1], data


def form_post(session, link, **fields):
    page = session.get(link, timeout=5)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return session.post(link, data={"csrf": csrf, **fields}, timeout=10)


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
        "SIFUWU_RELAY_INTERVAL": 0.2,
        "SIFUWU_FEEDBACK_BASE_URL": f"http://127.0.0.1:{port}",
        "SIFUWU_JWKS": TEST_JWKS,
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


# -- invitations and the page --------------------------------------------------

def test_activity_invitation_page_and_form_submission(feedback, config, mongo,
                                                      web_url):
    link, token, data = invite(config, mongo)
    db = db_of(mongo, config)
    invitation = db["invitations"].find_one({"subject_id": data["activity_id"]})
    assert PHONE not in repr(invitation) and "张三" not in repr(invitation)
    assert (invitation["expires_at"] - invitation["issued_at"]
            == dt.timedelta(days=15))

    session = requests.Session()
    page = session.get(link, timeout=5)
    assert page.status_code == 200
    first_csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    for text in ("非常满意", "满意", "基本满意", "不满意", "非常不满意",
                 "效率", "态度", "专业", "推荐王芳为", 'name="csrf"'):
        assert text in page.text
    assert PHONE not in page.text and "张三" not in page.text
    assert page.headers["Referrer-Policy"] == "no-referrer"  # token stays
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"

    done = form_post(session, link, rating="5", comment="很好",
                     aspect_efficiency="5", aspect_attitude="4",
                     recommend="1", recommend_reason="主动上门，解决用工难题")
    assert done.status_code == 200 and "感谢您的评价" in done.text
    rating = db["ratings"].find_one({"invitation_id": invitation["_id"]})
    assert rating["rating"] == 5 and not rating["bad"]
    assert rating["aspects"] == {"efficiency": 5, "attitude": 4}
    submitted = wait_for(lambda: outbox(db, ev.FEEDBACK_SUBMITTED,
                                        rating_id=rating["_id"]))[0]
    assert submitted["data"]["member_id"] == data["member_id"]
    assert submitted["correlation_id"] == data["activity_id"]
    recommended = outbox(db, ev.RECOMMENDATION_SUBMITTED,
                         candidate_id=data["member_id"])
    assert recommended[0]["data"]["reason"] == "主动上门，解决用工难题"

    csrf = re.search(r'name="csrf" value="([^"]+)"',
                     session.get(link, timeout=5).text)
    assert csrf is None  # a used link shows no form any more
    again = session.post(link, data={"rating": "1", "csrf": first_csrf},
                         timeout=5)
    assert again.status_code == 409 and "已评价" in again.text
    assert "已评价" in session.get(link, timeout=5).text


def test_forged_expired_and_invalid_links_get_clear_pages(feedback, config,
                                                          mongo, web_url):
    link, token, data = invite(config, mongo)
    forged = requests.get(f"{web_url}/f/{token[:-3]}abc", timeout=5)
    assert forged.status_code == 404 and "无效" in forged.text
    assert "Traceback" not in forged.text
    db = db_of(mongo, config)
    db["invitations"].update_one(
        {"subject_id": data["activity_id"]},
        {"$set": {"expires_at": dt.datetime.now(dt.timezone.utc)
                  - dt.timedelta(minutes=1)}})
    expired = requests.get(link, timeout=5)
    assert expired.status_code == 410 and "已过期" in expired.text
    api = requests.post(f"{web_url}/api/v1/feedback",
                        json={"token": token, "rating": 5}, timeout=5)
    assert api.status_code == 410 and api.json()["error"] == "link_expired"


def test_form_without_valid_csrf_is_refused(feedback, config, mongo):
    link, token, _ = invite(config, mongo)
    bare = requests.post(link, data={"rating": "5"}, timeout=5)
    assert bare.status_code == 403 and "页面校验失败" in bare.text
    # a field from one browser is useless without that browser's cookie
    page = requests.get(link, timeout=5)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    stolen = requests.post(link, data={"rating": "5", "csrf": csrf},
                           cookies={"sfw_csrf": "x" * 24}, timeout=5)
    assert stolen.status_code == 403
    assert requests.get(link, timeout=5).status_code == 200  # still unused


def test_form_validation_rerenders_with_message(feedback, config, mongo):
    link, _, _ = invite(config, mongo)
    session = requests.Session()
    page = form_post(session, link, comment="x" * 501)
    assert page.status_code == 400
    assert "请选择评价等级" in page.text and "留言不能超过 500 字" in page.text
    page = form_post(session, link, rating="4", recommend="1")
    assert page.status_code == 400 and "请填写推荐理由" in page.text
    huge = form_post(session, link, rating="4", comment="长" * 40000)
    assert huge.status_code == 413 and "提交内容过长" in huge.text
    assert 'name="csrf"' in session.get(link, timeout=5).text  # still open


def test_json_api_refuses_operators_and_bad_levels(feedback, config, mongo,
                                                   web_url):
    _, token, _ = invite(config, mongo)
    url = f"{web_url}/api/v1/feedback"
    assert requests.post(url, json={"token": {"$gt": ""}, "rating": 5},
                         timeout=5).status_code == 400
    bad = requests.post(url, json={"token": token, "rating": 9}, timeout=5)
    assert bad.status_code == 400 and "rating" in bad.json()["fields"]
    plain = requests.post(url, data='{"token": "%s", "rating": 5}' % token,
                          headers={"Content-Type": "text/plain"}, timeout=5)
    assert plain.status_code == 415
    ok = requests.post(url, json={"token": token, "rating": 4,
                                  "aspects": {"expertise": 5}}, timeout=5)
    assert ok.status_code == 201 and ok.json()["level"] == "满意"


def test_exactly_one_of_parallel_submissions_is_accepted(feedback, config,
                                                         mongo, web_url):
    _, token, _ = invite(config, mongo)

    def submit(level):
        return requests.post(f"{web_url}/api/v1/feedback",
                             json={"token": token, "rating": level},
                             timeout=30).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        codes = list(pool.map(submit, [1 + i % 5 for i in range(10)]))
    assert sorted(codes) == [201] + [409] * 9, codes
    db = db_of(mongo, config)
    invitation_id = db["invitations"].find_one(
        {"status": "used"}, sort=[("used_at", -1)])["_id"]
    assert db["ratings"].count_documents({"invitation_id": invitation_id}) == 1
    assert len([e for e in outbox(db, ev.FEEDBACK_SUBMITTED)
                if e["data"]["invitation_id"] == invitation_id]) == 1


def test_a_submission_is_one_read_one_claim_and_two_inserts(
        feedback, config, mongo, web_url):
    """The two shared rate-limit counters (address, token: one
    findAndModify each, issue 25), then the read before the transaction;
    a used link costs the counters and that read only."""
    _, token, _ = invite(config, mongo)
    counters = [("findAndModify", "rate_limits")] * 2
    with STATEMENTS.count(db_of(mongo, config).name) as seen:
        ok = requests.post(f"{web_url}/api/v1/feedback",
                           json={"token": token, "rating": 5}, timeout=10)
    assert ok.status_code == 201
    assert seen == counters + [
        ("find", "invitations"), ("update", "invitations"),
        ("insert", "ratings"), ("insert", "outbox"),
        ("commitTransaction", None)]
    assert STATEMENTS.in_transaction == [False] * 3 + [True] * 4
    with STATEMENTS.count(db_of(mongo, config).name) as seen:
        again = requests.post(f"{web_url}/api/v1/feedback",
                              json={"token": token, "rating": 5}, timeout=10)
    assert again.status_code == 409
    assert again.json()["error"] == "already_rated"
    assert seen == counters + [("find", "invitations")]


def test_parallel_submissions_are_written_together_each_once(
        feedback, config, mongo, web_url):
    """Group commit: ratings submitted while another batch is being written
    share one transaction; each request still gets its own answer."""
    tokens = [invite(config, mongo)[1] for _ in range(12)]
    twice = tokens[:3]  # also submitted a second time, at the same moment

    def submit(token):
        response = requests.post(f"{web_url}/api/v1/feedback",
                                 json={"token": token, "rating": 4},
                                 timeout=30)
        return token, response.status_code, response.json()

    with STATEMENTS.count(db_of(mongo, config).name) as seen:
        with ThreadPoolExecutor(max_workers=15) as pool:
            answers = list(pool.map(submit, tokens + twice))
    codes = {}
    for token, status, _ in answers:
        codes.setdefault(token, []).append(status)
    assert all(sorted(codes[t]) == [201, 409] for t in twice), codes
    assert all(codes[t] == [201] for t in tokens[3:]), codes
    refused = [body for _, status, body in answers if status == 409]
    assert {body["error"] for body in refused} == {"already_rated"}
    commits = seen.count(("commitTransaction", None))
    assert 1 <= commits < len(tokens), seen
    db = db_of(mongo, config)
    invitations = [doc["_id"] for doc in db["invitations"].find(
        {"status": "used"}, {"_id": 1})]
    assert len(invitations) == len(tokens)
    assert db["ratings"].count_documents(
        {"invitation_id": {"$in": invitations}}) == len(tokens)
    wait_for(lambda: len(outbox(db, ev.FEEDBACK_SUBMITTED)) >= len(tokens),
             what="feedback.submitted events")
    assert sorted(e["data"]["invitation_id"] for e in outbox(
        db, ev.FEEDBACK_SUBMITTED)) == sorted(invitations)


def test_a_batch_with_a_link_used_meanwhile_refuses_only_that_one(
        feedback, config, mongo):
    """A rating stored elsewhere between the batch's read and its
    transaction refuses the transaction; the claims are then written one by
    one and only that one gets "already rated"."""
    ids = [invitation_id_of(config, invite(config, mongo)[1])
           for _ in range(3)]
    db = db_of(mongo, config)
    # what a concurrent submission on another instance would have done
    # after this batch read the invitations: its rating is in, the
    # invitation not yet marked
    db["ratings"].insert_one({"_id": "elsewhere", "invitation_id": ids[1],
                              "member_id": None})
    store = StoreAccess(next(dep for dep in feedback.dependencies
                             if isinstance(dep, Store)))
    with STATEMENTS.count(db.name) as seen:
        outcomes = submit_ratings(store, [(i, {"rating": 5}) for i in ids],
                                  ev.utcnow(), tz=ZoneInfo("Asia/Shanghai"),
                                  calendar=CALENDAR)
    assert [type(o).__name__ for o in outcomes] == ["dict", "Conflict",
                                                    "dict"]
    assert outcomes[1].code == "already_rated"
    assert seen.count(("abortTransaction", None)) >= 1
    assert db["ratings"].count_documents(
        {"invitation_id": {"$in": ids}}) == 3
    assert [doc["status"] for doc in db["invitations"].find(
        {"_id": {"$in": [ids[0], ids[2]]}})] == ["used", "used"]


def invitation_id_of(config, token):
    """The invitation a link's token names (as the service reads it)."""
    return URLSafeSerializer(config["SIFUWU_SECRET"],
                             salt="feedback-invitation").loads(token)


def test_rate_limits_answer_429(container_factory, config, mongo):
    config["SIFUWU_FEEDBACK_RATE_TOKEN"] = "3/3600"
    config["SIFUWU_FEEDBACK_RATE_ADDRESS"] = "6/3600"
    container_factory(FeedbackService, config).start()
    url = "http://" + config["WEB_SERVER_ADDRESS"] + "/api/v1/feedback"
    _, token, _ = invite(config, mongo)
    codes = [requests.post(url, json={"token": token, "rating": 9},
                           timeout=5).status_code for _ in range(4)]
    assert codes == [400, 400, 400, 429]
    assert requests.post(url, json={"token": token, "rating": 5},
                         timeout=5).json()["error"] == "too_many_requests"
    _, other, _ = invite(config, mongo)
    assert requests.post(url, json={"token": other, "rating": 5},
                         timeout=5).status_code == 201  # 5th from address
    refused = requests.post(url, json={"token": other, "rating": 5},
                            timeout=5)
    assert refused.status_code == 429  # 7th from this address


def test_activities_are_invited_in_batches_once_each(feedback, config,
                                                     mongo, monkeypatch):
    """A batch of activity.logged events: one invitation per activity
    (even when two events name the same activity), none without a phone,
    in a constant number of statements; a redelivered batch changes
    nothing."""
    monkeypatch.setattr(store, "WRITE_CHUNK", 10_000)  # one write each
    db = db_of(mongo, config)
    activities = [activity_data() for _ in range(12)]
    payloads = [ev.make_event(ev.ACTIVITY_LOGGED, data, source="activity",
                              correlation_id=data["activity_id"])
                for data in activities]
    # a second event about the first activity (another event id)
    payloads.append(ev.make_event(ev.ACTIVITY_LOGGED, activities[0],
                                  source="activity"))
    payloads += [ev.make_event(ev.ACTIVITY_LOGGED, activity_data(
        recipient={"id": "e-2", "type": "enterprise", "name": "无号码"}),
        source="activity") for _ in range(5)]
    with STATEMENTS.count(db.name) as seen:
        with entrypoint_hook(feedback, "on_activity_logged") as consume:
            consume(payloads)
    assert sorted(seen) == sorted([
        ("find", "consumed_events"), ("insert", "consumed_events"),
        ("find", "invitations"), ("insert", "invitations"),
        ("insert", "outbox"), ("commitTransaction", None)])
    ids = {data["activity_id"] for data in activities}
    assert {doc["subject_id"] for doc in db["invitations"].find()} == ids
    issued = wait_for(lambda: (lambda found: found if len(found) == 12
                               else None)(outbox(db, ev.INVITATION_ISSUED)),
                      what="12 invitation.issued")
    assert {e["data"]["subject_id"] for e in issued} == ids
    assert {e["correlation_id"] for e in issued} == ids
    assert all(unsealed(e["data"]["recipient"]["phone"]) == PHONE
               for e in issued)
    assert PHONE not in repr(issued)

    with STATEMENTS.count(db.name) as seen:
        with entrypoint_hook(feedback, "on_activity_logged") as consume:
            consume(payloads)  # the broker redelivers the batch
    assert seen == [("find", "consumed_events")]
    with STATEMENTS.count(db.name) as seen:
        with entrypoint_hook(feedback, "on_activity_logged") as consume:
            consume(payloads[-5:])  # nobody to invite: no statement
    assert seen == []
    assert db["invitations"].count_documents({}) == 12
    assert len(outbox(db, ev.INVITATION_ISSUED)) == 12


def dead_letters(amqp_uri):
    return helpers.drain(amqp_uri, wiring.DEAD_LETTER_QUEUE)


def test_an_invalid_activity_is_dead_lettered_alone(feedback, config, mongo):
    db = db_of(mongo, config)
    good = [activity_data() for _ in range(3)]
    broken = dict(activity_data())
    del broken["member_id"]
    envelopes = [ev.make_event(ev.ACTIVITY_LOGGED, data, source="activity")
                 for data in good[:2] + [broken] + good[2:]]
    for envelope in envelopes:
        exchange = wiring.event_exchange("activity")
        with Connection(config["AMQP_URI"]) as conn:
            with producers[conn].acquire(block=True) as producer:
                producer.publish(envelope, exchange=exchange,
                                 routing_key=ev.ACTIVITY_LOGGED,
                                 serializer="json", declare=[exchange],
                                 retry=True)
    wait_for(lambda: db["invitations"].count_documents({}) == 3,
             what="three invitations", timeout=30)
    bad_id = envelopes[2]["event_id"]
    found = []
    wait_for(lambda: found.extend(
        m for m in dead_letters(config["AMQP_URI"])
        if m.payload.get("event_id") == bad_id) or found,
        what="the dead-lettered activity", timeout=30)
    [dead] = found
    reason = dead.headers[wiring.REJECTION_HEADER]
    assert reason.startswith("invalid:") and "member_id" in reason
    assert dead.headers["x-entrypoint"] == "on_activity_logged"
    assert {doc["subject_id"] for doc in db["invitations"].find()} == {
        data["activity_id"] for data in good}


def test_resolved_demand_invites_the_raiser(feedback, config, mongo, web_url):
    demand_id = uuid.uuid4().hex
    base = {"demand_id": demand_id, "category": "masses",
            "owner_unit_id": "u-zjj", "member_id": None,
            "previous_status": "accepted", "raised_at": "2026-11-01T09:00:00+08:00",
            "deadlines": {}}
    publish(config, "activity", ev.DEMAND_STATUS_CHANGED,
            {**base, "status": "in_progress"})
    publish(config, "activity", ev.DEMAND_STATUS_CHANGED,
            {**base, "status": "resolved",
             "raiser": {"name": "李四", "phone": "13600001111"}})
    db = db_of(mongo, config)
    issued = wait_for(lambda: outbox(db, ev.INVITATION_ISSUED,
                                     subject_id=demand_id))
    assert len(issued) == 1 and issued[0]["data"]["subject_type"] == "demand"
    page = requests.get(issued[0]["data"]["link"], timeout=5)
    assert "您反映的诉求已办结" in page.text
    assert "推荐" not in page.text  # no member to recommend
    invitation = db["invitations"].find_one({"subject_id": demand_id})
    assert invitation["unit_id"] == "u-zjj"


# -- bad reviews: rectification, sweep, fix rating, appeal -----------------------

def bad_review(config, mongo, web_url, level=1):
    link, token, data = invite(config, mongo)
    response = requests.post(f"{web_url}/api/v1/feedback", json={
        "token": token, "rating": level, "comment": "多次联系无人回复"},
        timeout=10)
    assert response.status_code == 201
    body = response.json()
    assert body["bad"] and body["rectification_id"]
    return body, data


def test_bad_review_rectification_lifecycle(feedback, config, mongo, web_url,
                                            caplog):
    caplog.set_level("INFO")
    rating, data = bad_review(config, mongo, web_url)
    db = db_of(mongo, config)
    rect_id = rating["rectification_id"]
    opened = outbox(db, ev.RECTIFICATION_OPENED, rectification_id=rect_id)[0]
    assert opened["data"]["unit_id"] == "u-fgw"
    assert opened["data"]["status"] == "open"
    rect = db["rectifications"].find_one({"_id": rect_id})
    assert rect["fix_by"] - rect["opened_at"] == dt.timedelta(days=15)
    assert dt.timedelta(days=1) <= rect["callback_by"] - rect["opened_at"] \
        <= dt.timedelta(days=3)
    assert PHONE not in repr(rect)

    url = f"{web_url}/api/v1/rectifications"
    assert requests.get(url, timeout=5).status_code == 401
    listed = requests.get(url, params={"unit_id": "u-fgw"}, headers=STAFF,
                          timeout=5).json()
    assert listed["items"][0]["reviewer"] == {"name": "张*",
                                              "phone": "139****0000"}
    detail = requests.get(f"{url}/{rect_id}", headers=STAFF, timeout=5).json()
    assert detail["reviewer"]["phone"] == PHONE  # staff may call back
    # the unit's own staff see it; another unit's find nothing
    assert requests.get(f"{url}/{rect_id}", headers=UNIT,
                        timeout=5).json()["reviewer"]["phone"] == PHONE
    assert [r["id"] for r in requests.get(url, headers=UNIT, timeout=5).json()[
        "items"]] == [rect_id]
    assert requests.get(url, headers=OTHER_UNIT, timeout=5).json()[
        "items"] == []
    assert requests.get(url, params={"unit_id": "u-fgw"}, headers=OTHER_UNIT,
                        timeout=5).json()["items"] == []
    for path in ("", "/callback"):
        hidden = requests.request("GET" if not path else "POST",
                                  f"{url}/{rect_id}{path}", headers=OTHER_UNIT,
                                  json=None if not path else {"note": "x"},
                                  timeout=5)
        assert hidden.status_code == 404, hidden.text

    early = requests.post(f"{url}/{rect_id}/close", headers=STAFF,
                          json={"outcome": "已处理"}, timeout=5)
    assert early.status_code == 409
    called = requests.post(f"{url}/{rect_id}/callback", headers=STAFF,
                           json={"note": "已电话回访，了解情况"}, timeout=5)
    assert called.status_code == 200 and called.json()["status"] == "called_back"
    closed = requests.post(f"{url}/{rect_id}/close", headers=STAFF,
                           json={"outcome": "已安排专人对接，问题解决"},
                           timeout=5)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert outbox(db, ev.RECTIFICATION_CLOSED, rectification_id=rect_id)

    # the reviewer is invited to rate the fix
    fix_invite = wait_for(lambda: outbox(db, ev.INVITATION_ISSUED,
                                         subject_id=rect_id))[0]
    assert unsealed(fix_invite["data"]["recipient"]["phone"]) == PHONE
    assert fix_invite["data"]["subject_type"] == "rectification"
    link = fix_invite["data"]["link"]
    session = requests.Session()
    assert "已完成整改" in session.get(link, timeout=5).text
    done = form_post(session, link, rating="4")
    assert done.status_code == 200
    assert db["rectifications"].find_one({"_id": rect_id})["fix_rating"] == 4
    assert "reviewer contact shown" in caplog.text  # access is logged...
    assert PHONE not in caplog.text and "张三" not in caplog.text  # ...not PII


def test_overdue_sweep_announces_each_deadline_once(container_factory, config,
                                                    mongo, web_url):
    container = container_factory(FeedbackService, config)
    container.start()
    rating, _ = bad_review(config, mongo, web_url, level=2)
    rect_id = rating["rectification_id"]
    container.stop()

    late = dict(config, SIFUWU_CLOCK_OFFSET_SECONDS=16 * 86400)
    late_container = container_factory(FeedbackService, late)
    late_container.start()  # the sweeper also runs once at start (eager)
    db = db_of(mongo, config)
    overdue = wait_for(lambda: outbox(db, ev.RECTIFICATION_OVERDUE,
                                      rectification_id=rect_id),
                       what="rectification.overdue")
    wait_for(lambda: len(outbox(db, ev.RECTIFICATION_OVERDUE,
                                rectification_id=rect_id)) == 2)
    with entrypoint_hook(late_container, "sweep_overdue") as sweep:
        assert sweep() == 0  # already announced
    overdue = outbox(db, ev.RECTIFICATION_OVERDUE, rectification_id=rect_id)
    assert sorted(e["data"]["deadline_kind"] for e in overdue) == [
        "callback", "fix"]
    assert set(db["rectifications"].find_one({"_id": rect_id})["overdue"]) \
        == {"callback", "fix"}


def test_appeal_upheld_excludes_the_review(feedback, config, mongo, web_url):
    rating, _ = bad_review(config, mongo, web_url)
    db = db_of(mongo, config)
    url = f"{web_url}/api/v1/ratings/{rating['id']}/appeals"
    foreign = requests.post(url, headers=OTHER_UNIT, json={
        "reason": "不是本单位的评价"}, timeout=5)
    assert foreign.status_code == 404  # another unit's rating: not found
    appeal = requests.post(url, headers=UNIT, json={
        "reason": "评价人与服务对象不符，系误评"}, timeout=5)
    assert appeal.status_code == 201
    listed = requests.get(f"{web_url}/api/v1/appeals", headers=OTHER_UNIT,
                          timeout=5).json()["items"]
    assert listed == []
    assert [a["id"] for a in requests.get(
        f"{web_url}/api/v1/appeals", headers=UNIT, timeout=5).json()[
            "items"]] == [appeal.json()["id"]]
    appeal_id = appeal.json()["id"]
    assert requests.post(url, headers=UNIT, json={"reason": "再次申诉一下"},
                         timeout=5).status_code == 409
    decide = f"{web_url}/api/v1/appeals/{appeal_id}/decision"
    own = requests.post(decide, headers=UNIT, json={
        "upheld": True, "reason": "自己裁决"}, timeout=5)
    assert own.status_code == 403
    no_reason = requests.post(decide, headers=STAFF, json={"upheld": True},
                              timeout=5)
    assert no_reason.status_code == 400
    decided = requests.post(decide, headers=STAFF, json={
        "upheld": True, "reason": "经核实，评价人并非服务对象"}, timeout=5)
    assert decided.status_code == 200 and decided.json()["status"] == "upheld"
    assert db["ratings"].find_one({"_id": rating["id"]})["excluded"] is True
    event = outbox(db, ev.APPEAL_DECIDED, appeal_id=appeal_id)[0]["data"]
    assert event["upheld"] is True and event["reason"].startswith("经核实")
    rect = db["rectifications"].find_one({"_id": rating["rectification_id"]})
    assert rect["status"] == "void"
    assert requests.post(decide, headers=STAFF, json={
        "upheld": False, "reason": "改判"}, timeout=5).status_code == 409


def test_appeal_rejected_keeps_the_review(feedback, config, mongo, web_url):
    rating, _ = bad_review(config, mongo, web_url)
    db = db_of(mongo, config)
    appeal_id = requests.post(
        f"{web_url}/api/v1/ratings/{rating['id']}/appeals", headers=UNIT,
        json={"reason": "我们认为评价不客观"}, timeout=5).json()["id"]
    decided = requests.post(
        f"{web_url}/api/v1/appeals/{appeal_id}/decision", headers=STAFF,
        json={"upheld": False, "reason": "回访核实，评价属实"}, timeout=5)
    assert decided.json()["status"] == "rejected"
    assert db["ratings"].find_one({"_id": rating["id"]})["excluded"] is False
    assert outbox(db, ev.APPEAL_DECIDED,
                  appeal_id=appeal_id)[0]["data"]["upheld"] is False
    assert db["rectifications"].find_one(
        {"_id": rating["rectification_id"]})["status"] == "open"


def test_default_rating_after_n_working_days(container_factory, config,
                                             mongo):
    config["SIFUWU_FEEDBACK_DEFAULT_AFTER_WORKING_DAYS"] = 3
    container = container_factory(FeedbackService, config)
    container.start()
    link, _, data = invite(config, mongo)
    with entrypoint_hook(container, "apply_default_ratings") as apply:
        assert apply() == 0  # not yet due
    container.stop()

    later = dict(config, SIFUWU_CLOCK_OFFSET_SECONDS=7 * 86400,
                 WEB_SERVER_ADDRESS=f"127.0.0.1:{free_port()}")
    container_factory(FeedbackService, later).start()  # eager sweep
    db = db_of(mongo, config)
    submitted = wait_for(lambda: outbox(db, ev.FEEDBACK_SUBMITTED,
                                        subject_id=data["activity_id"]),
                         what="a defaulted rating")[0]["data"]
    assert submitted["rating"] == 4 and submitted["defaulted"] is True
    rating = db["ratings"].find_one({"subject_id": data["activity_id"]})
    assert rating["defaulted"] and not rating["bad"]
