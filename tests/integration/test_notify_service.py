"""The notify service in-process against the real broker and store, with its
channels pointed at real local peers: routed events, redelivery without a
second send, the contact book, skips, preferences and the operator API."""

import time
import uuid

import pytest
import requests
from kombu import Connection
from kombu.pools import producers
from nameko.testing.services import entrypoint_hook, restrict_entrypoints

from tooling.peers import Peer
from services.notify.service import NotifyService
from sifuwu import events as ev
from sifuwu import store
from sifuwu import wiring
from tests import helpers
from tests.helpers import staff_headers, wait_for

STAFF = staff_headers()


def publish(config, envelope, publisher):
    exchange = wiring.event_exchange(publisher)
    with Connection(config["AMQP_URI"]) as conn:
        with producers[conn].acquire(block=True) as producer:
            producer.publish(envelope, exchange=exchange,
                             routing_key=envelope["type"], serializer="json",
                             declare=[exchange], retry=True)




def _beside(name, target, command):
    """The outbox relay's and the sweeper's look-ups (by status, not by id)
    run beside the worker and are left out."""
    return target == "outbox" or (
        name == "find" and target == "messages"
        and "_id" not in command.get("filter", {}))


STATEMENTS = helpers.statement_counter(_beside)


@pytest.fixture(scope="module")
def peers():
    started = {}
    try:
        for name, kind in (("alpha", "http"), ("beta", "http"),
                           ("wechat", "http"), ("smtp", "smtp")):
            started[name] = Peer(kind)
        yield started
    finally:
        for peer in started.values():
            peer.stop()


@pytest.fixture
def config(service_config, peers, tmp_path):
    for peer in peers.values():
        peer.reset()
    return dict(
        service_config,
        SIFUWU_SMS_PROVIDERS=f"alpha={peers['alpha'].url}/sms,"
                             f"beta={peers['beta'].url}/sms",
        SIFUWU_SMTP_HOST="127.0.0.1",
        SIFUWU_SMTP_PORT=peers["smtp"].port,
        SIFUWU_WECHAT_URL=peers["wechat"].url + "/wx",
        SIFUWU_PRESS_DIR=str(tmp_path / "press"),
        # 10:00 Beijing time is never quiet: pin the clock's hour by offset
        SIFUWU_CLOCK_OFFSET_SECONDS=offset_to_beijing_hour(10),
    )


def offset_to_beijing_hour(hour):
    """Seconds to add to now so that the service's clock reads ``hour``:00
    Beijing time today (tests must not depend on when they run)."""
    now = time.time()
    beijing = (now + 8 * 3600) % 86400
    return hour * 3600 - beijing


@pytest.fixture
def notify(container_factory, config):
    container = container_factory(NotifyService, config)
    container.start()
    return container


def messages(url, **params):
    response = requests.get(url + "/api/v1/messages", params=params,
                            headers=STAFF, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_redelivered_invitation_is_sent_once(notify, config, web_url, peers,
                                             mongo):
    phone = "139" + str(uuid.uuid4().int)[:8]
    envelope = ev.make_event(ev.INVITATION_ISSUED, {
        "invitation_id": "i1", "link": "http://127.0.0.1:1/f/tok-1",
        "recipient": {"name": "王五", "phone": phone},
        "subject_type": "activity", "subject_id": "a1",
        "expires_at": "2026-12-03T00:00:00+00:00"}, source="feedback")
    publish(config, envelope, "feedback")
    publish(config, envelope, "feedback")  # the broker redelivers
    [sms] = wait_for(lambda: [m for m in messages(web_url, to=phone)
                              if m["status"] == "delivered"],
                     what="the invitation SMS")
    assert sms["event_type"] == "invitation.issued"
    assert sms["to"] == phone[:3] + "****" + phone[-4:]
    # staff see the SMS with its rating link redacted; the citizen's phone
    # (the gateway stand-in) gets the live link
    assert "tok-1" not in sms["body"] and "http://127.0.0.1:1/f/***" in sms[
        "body"]
    assert sms["provider"] == "alpha"
    assert sms["template"] == "feedback_invitation"
    assert sms["template_version"] == 1
    # the second copy was consumed: both copies are off the queue
    wait_for(lambda: mongo[config["SIFUWU_DB_PREFIX"] + "notify"][
        "consumed_events"].count_documents({}) >= 1, what="dedupe record")
    time.sleep(0.5)
    assert len(messages(web_url, to=phone)) == 1
    assert [r["json"]["to"] for r in peers["alpha"].received()] == [phone]
    assert "http://127.0.0.1:1/f/tok-1" in peers["alpha"].received()[0][
        "json"]["content"]
    db = mongo[config["SIFUWU_DB_PREFIX"] + "notify"]
    for doc in db.messages.find():
        assert phone not in repr(doc)
        assert "tok-1" not in repr(doc)       # the live link only sealed


def test_escalation_reaches_owner_leader_and_supervision(
        notify, config, web_url, peers, mongo):
    unit = "u-" + uuid.uuid4().hex[:6]
    # the directory as activity announces it: no contacts travel with it
    for kind, ident, record in (
            ("member", "m-lead", {"member_id": "m-lead", "name": "李局长",
                                  "unit_id": unit,
                                  "roles": ["unit_leader"]}),
            ("unit", unit, {"unit_id": unit, "name": "市发改委",
                            "leader_member_id": "m-lead"})):
        publish(config, ev.make_event(ev.DIRECTORY_CHANGED, {
            "kind": kind, "id": ident, "record": record},
            source="activity"), "activity")
    db = mongo[config["SIFUWU_DB_PREFIX"] + "notify"]
    wait_for(lambda: db.contacts.count_documents({}) == 2,
             what="the contact book")
    # staff add the addresses (督查 contact book)
    for path, body in (
            ("member/m-lead", {"phone": "13600001111",
                               "email": "lead@example.cn"}),
            (f"unit/{unit}", {"phone": "13600002222"}),
            ("unit/u-dcs", {"name": "市委督查室", "phone": "13600003333",
                            "supervision": True})):
        saved = requests.put(web_url + f"/api/v1/contacts/{path}",
                             json=body, headers=STAFF, timeout=5)
        assert saved.status_code == 200, saved.text
    assert saved.json()["addresses"] == {"sms": "136****3333"}
    # a later directory update without contacts keeps them
    publish(config, ev.make_event(ev.DIRECTORY_CHANGED, {
        "kind": "unit", "id": unit, "record": {
            "unit_id": unit, "name": "市发展和改革委员会",
            "leader_member_id": "m-lead"}}, source="activity"), "activity")
    wait_for(lambda: db.contacts.find_one(
        {"_id": f"unit:{unit}", "name_masked": "市发展和改革委员会"}),
        what="the unit update")
    contact = requests.get(web_url + f"/api/v1/contacts/unit/{unit}",
                           headers=STAFF, timeout=5).json()
    assert contact["addresses"] == {"sms": "136****2222"}

    overdue = ev.make_event(ev.DEMAND_OVERDUE, {
        "demand_id": "d-7", "owner_unit_id": unit, "level": 3,
        "deadline_kind": "respond",
        "deadline": "2026-11-20T10:00:00+08:00"}, source="activity")
    publish(config, overdue, "activity")

    def settled():
        items = messages(web_url, event=overdue["event_id"])
        return items if len(items) == 4 and all(
            m["status"] == "delivered" for m in items) else None
    found = wait_for(settled, what="escalation messages")
    got = {(m["recipient"], m["channel"]) for m in found}
    assert got == {("member:m-lead", "email"), ("member:m-lead", "sms"),
                   ("unit:u-dcs", "sms"), (f"unit:{unit}", "sms")}
    assert {r["json"]["to"] for r in peers["alpha"].received()} == {
        "13600001111", "13600002222", "13600003333"}
    [mail] = peers["smtp"].received()
    assert mail["rcpt_tos"] == ["lead@example.cn"]
    assert "已报督查室挂牌督办" in mail["body"]
    by_recipient = messages(web_url, recipient="member:m-lead")
    assert {m["to"] for m in by_recipient} == {"136****1111",
                                               "l***@example.cn"}
    for doc in db.contacts.find():
        assert "1360000" not in repr(doc) and "李局长" not in repr(doc)


def test_objection_answer_without_contact_is_skipped_with_reason(
        notify, config, web_url):
    answered = ev.make_event(ev.OBJECTION_ANSWERED, {
        "objection_id": "o-1", "campaign_id": "c-1", "candidate_id": "m1",
        "substantiated": False, "answer": "经核查，材料属实。"},
        source="feedback")
    publish(config, answered, "feedback")

    def skipped():
        return requests.get(web_url + "/api/v1/messages/skipped",
                            params={"event_id": answered["event_id"]},
                            headers=STAFF, timeout=5).json()["items"]
    [skip] = wait_for(skipped, what="the skip record")
    assert skip["reason"] == "objector_contact_absent"
    assert messages(web_url, event=answered["event_id"]) == []

    # a template that cannot render: a technical failure with its reason
    broken = ev.make_event(ev.INVITATION_ISSUED, {
        "expires_at": "2026-12-03", "recipient": {"phone": "13500009999"}},
        source="feedback")
    publish(config, broken, "feedback")
    [failed] = wait_for(lambda: messages(web_url, event=broken["event_id"]),
                        what="the failed message")
    assert failed["status"] == "technical-failure"
    assert "'link' is undefined" in failed["reason"]
    # the service is still there for the next event
    with_contact = ev.make_event(ev.OBJECTION_ANSWERED, dict(
        answered["data"], objection_id="o-2",
        objector={"name": "某群众", "phone": "13500008888"}),
        source="feedback")
    publish(config, with_contact, "feedback")
    [sms] = wait_for(lambda: [m for m in messages(
        web_url, event=with_contact["event_id"])
        if m["status"] == "delivered"], what="the answer SMS")
    assert sms["to"] == "135****8888" and "异议不成立" in sms["body"]


def test_final_list_goes_to_board_and_operators_resend_and_count(
        notify, config, web_url, peers, tmp_path):
    final = ev.make_event(ev.SELECTION_FINALISED, {
        "campaign_id": "c-77", "title": "2026年度四服务先进典型",
        "awards": ["优秀党员"],
        "final": [{"candidate_id": "m1", "name": "张三",
                   "unit_name": "市发改委", "award": "优秀党员"}]},
        source="assessment")
    peers["wechat"].set_mode(fail=1, status=200,
                             body={"errcode": 40003, "errmsg": "bad openid"})
    publish(config, final, "assessment")
    done = wait_for(lambda: (lambda items: items if len(items) == 3 and all(
        m["status"] not in ("created", "sending") for m in items) else None)(
        messages(web_url, event=final["event_id"])), what="public messages")
    status = {m["channel"]: m["status"] for m in done}
    assert status == {"web": "delivered", "press": "delivered",
                      "wechat": "permanent-failure"}
    board = requests.get(web_url + "/api/v1/board-items", timeout=5).json()
    assert board["items"][0]["title"] == "2026年度四服务先进典型评选结果"
    assert "张三（市发改委） 优秀党员" in board["items"][0]["body"]
    assert list((tmp_path / "press").glob("selection_final-*.docx"))

    failed = next(m for m in done if m["channel"] == "wechat")
    delivered = next(m for m in done if m["channel"] == "web")
    refused = requests.post(
        web_url + f"/api/v1/messages/{delivered['id']}/resend",
        headers=STAFF, timeout=5)
    assert refused.status_code == 409
    resent = requests.post(web_url + f"/api/v1/messages/{failed['id']}/resend",
                           headers=STAFF, timeout=5)
    assert resent.status_code == 201, resent.text
    assert resent.json()["status"] == "delivered"
    assert resent.json()["resend_of"] == failed["id"]
    assert len(peers["wechat"].received()) == 2

    stats = requests.get(web_url + "/api/v1/messages/stats", headers=STAFF,
                         timeout=5).json()["items"]
    wechat = next(r for r in stats if r["channel"] == "wechat")
    assert wechat["provider"] == "wechat" and wechat["total"] == 2
    assert wechat["statuses"]["delivered"] == 1
    assert wechat["statuses"]["permanent-failure"] == 1
    assert wechat["delivery_rate"] == 0.5
    only_failed = messages(web_url, channel="wechat",
                           status="permanent-failure")
    assert [m["id"] for m in only_failed] == [failed["id"]]
    assert messages(web_url, since="2999-01-01T00:00:00+00:00") == []


def test_opted_out_recipient_gets_no_invitation(notify, config, web_url,
                                                 peers):
    phone = "137" + str(uuid.uuid4().int)[:8]
    saved = requests.put(web_url + "/api/v1/preferences", headers=STAFF,
                         json={"phone": phone}, timeout=5)
    assert saved.status_code == 200, saved.text
    token = saved.json()["optout_token"]
    optout = requests.post(web_url + f"/api/v1/optout/{token}", timeout=5)
    assert optout.status_code == 200
    assert requests.post(web_url + "/api/v1/optout/forged",
                         timeout=5).status_code == 403
    invite = ev.make_event(ev.INVITATION_ISSUED, {
        "link": "http://127.0.0.1:1/f/tok-2", "expires_at": "2026-12-03",
        "recipient": {"phone": phone}}, source="feedback")
    publish(config, invite, "feedback")

    def skipped():
        return requests.get(web_url + "/api/v1/messages/skipped",
                            params={"event_id": invite["event_id"]},
                            headers=STAFF, timeout=5).json()["items"]
    [skip] = wait_for(skipped, what="opt-out skip")
    assert skip["reason"] == "recipient_opted_out"
    assert messages(web_url, to=phone) == []
    assert peers["alpha"].received() == []
    # operators only, with validated filters
    assert requests.get(web_url + "/api/v1/messages/stats",
                        timeout=5).status_code == 401
    bad = requests.get(web_url + "/api/v1/messages", headers=STAFF,
                       params={"status": "lost"}, timeout=5)
    assert bad.status_code == 400 and "status" in bad.json()["fields"]


def test_night_sms_is_held_then_sent_by_the_sweeper(container_factory,
                                                    config, peers):
    """23:00 Beijing: the invitation SMS waits; the next morning the
    sweeper sends it (two containers on the same store, clock moved)."""
    night = container_factory(NotifyService, dict(
        config, SIFUWU_CLOCK_OFFSET_SECONDS=offset_to_beijing_hour(23)))
    night.start()
    web_url = "http://" + config["WEB_SERVER_ADDRESS"]
    phone = "138" + str(uuid.uuid4().int)[:8]
    publish(config, ev.make_event(ev.INVITATION_ISSUED, {
        "link": "http://127.0.0.1:1/f/tok-3", "expires_at": "2026-12-03",
        "recipient": {"phone": phone}}, source="feedback"), "feedback")
    [held] = wait_for(lambda: messages(web_url, to=phone), what="held SMS")
    assert held["status"] == "created" and held["held_for_quiet_hours"]
    with entrypoint_hook(night, "sweep") as sweep:
        assert sweep() == 0
    assert peers["alpha"].received() == []
    night.stop()

    morning = container_factory(NotifyService, dict(
        config, SIFUWU_CLOCK_OFFSET_SECONDS=offset_to_beijing_hour(8)
        + 86400))
    morning.start()
    with entrypoint_hook(morning, "sweep") as sweep:
        sweep()
    [sent] = wait_for(lambda: [m for m in messages(web_url, to=phone)
                               if m["status"] == "delivered"],
                      what="the SMS after 08:00")
    assert [r["json"]["to"] for r in peers["alpha"].received()] == [phone]
    assert sent["attempts"] == 1


def invitation_event(phone, n=0):
    return ev.make_event(ev.INVITATION_ISSUED, {
        "invitation_id": f"i-{n}", "link": f"http://127.0.0.1:1/f/tok-{n}",
        "recipient": {"name": "王五", "phone": phone},
        "subject_type": "activity", "subject_id": f"a-{n}",
        "expires_at": "2026-12-03T00:00:00+00:00"}, source="feedback")


def test_a_batch_of_invitations_costs_a_constant_number_of_statements(
        container_factory, config, peers, mongo, monkeypatch):
    """40 invitations in one batch: one transaction of six statements, then
    two chunks of sends (claim, read the claimed, record the outcomes), each
    SMS its own gateway request under its message id; the batch again
    (redelivered) costs one read and sends nothing. The container runs the
    invitation handler alone: the sweeper (every 10 s) would add its own
    statements to the count when it fires inside the window."""
    notify = container_factory(NotifyService, config)
    restrict_entrypoints(notify, "on_invitation_issued")
    notify.start()
    monkeypatch.setattr(store, "IN_CHUNK", 10_000)  # one read each
    monkeypatch.setattr(store, "WRITE_CHUNK", 10_000)  # one write each
    db = mongo[config["SIFUWU_DB_PREFIX"] + "notify"]
    phones = ["135" + str(uuid.uuid4().int)[:8] for _ in range(40)]
    payloads = [invitation_event(phone, n) for n, phone in enumerate(phones)]
    with STATEMENTS.count(db.name) as seen:
        with entrypoint_hook(notify, "on_invitation_issued") as consume:
            consume(payloads)
    transaction = [("find", "consumed_events"),
                   ("insert", "consumed_events"), ("find", "preferences"),
                   ("find", "messages"), ("insert", "messages"),
                   ("commitTransaction", None)]
    chunk = [("update", "messages"), ("find", "messages"),
             ("update", "messages")]
    assert seen == transaction + chunk * 2, seen
    received = peers["alpha"].received()
    assert sorted(r["json"]["to"] for r in received) == sorted(phones)
    references = {r["json"]["reference"] for r in received}
    assert len(references) == 40
    assert {m["_id"] for m in db.messages.find(
        {"status": "delivered"})} == references

    with STATEMENTS.count(db.name) as seen:
        with entrypoint_hook(notify, "on_invitation_issued") as consume:
            consume(payloads)
    assert seen == [("find", "consumed_events")]
    assert len(peers["alpha"].received()) == 40
    assert db.messages.count_documents({}) == 40


def dead_letters(amqp_uri):
    return helpers.drain(amqp_uri, wiring.DEAD_LETTER_QUEUE)


def test_a_bad_invitation_is_dead_lettered_and_the_batch_goes_on(
        notify, config, web_url, peers):
    phones = ["134" + str(uuid.uuid4().int)[:8] for _ in range(3)]
    good = [invitation_event(phone, n) for n, phone in enumerate(phones)]
    poison = ev.make_event(ev.INVITATION_ISSUED, {
        "link": "http://127.0.0.1:1/f/tok-x", "expires_at": "2026-12-03",
        "recipient": "13400000000"}, source="feedback")
    invalid = {"type": ev.INVITATION_ISSUED, "data": {}}
    with entrypoint_hook(notify, "on_invitation_issued") as consume:
        consume([good[0], poison, good[1], invalid, good[2]])
    assert sorted(r["json"]["to"] for r in peers["alpha"].received()) == \
        sorted(phones)
    dead = wait_for(lambda: (lambda found: found if len(found) == 2
                             else None)(dead_letters(config["AMQP_URI"])),
                    what="two dead letters")
    reasons = {m.payload.get("event_id"): m.headers[
        wiring.REJECTION_HEADER] for m in dead}
    assert reasons[poison["event_id"]].startswith("handler_error:")
    assert reasons[None].startswith("invalid:")
    assert all(m.headers["x-entrypoint"] == "on_invitation_issued"
               for m in dead)
    # the poison event left nothing behind; the good ones are each sent once
    assert messages(web_url, event=poison["event_id"]) == []
    for envelope in good:
        [sms] = messages(web_url, event=envelope["event_id"])
        assert sms["status"] == "delivered"
