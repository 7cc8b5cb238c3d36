"""notify's channels against real local peers and the real store, with an
injected clock: SMS gateways with failover, SMTP, WeChat, the board, the
press desk; retries with backoff, the sweeper, quiet hours, encryption."""

import datetime as dt
import uuid

import pytest

from sifuwu import events as ev
from sifuwu.indexes import ensure_indexes
from services.notify import channels as ch
from services.notify import contacts, domain, planning, repository, steps
from services.notify.delivery import Dispatcher, first_due, record_outcomes
from services.notify.repository import NotifyRepository
from services.notify.settings import NotifySettings
from tooling.peers import Peer

SECRET = "delivery-secret"
BJ = dt.timezone(dt.timedelta(hours=8))
TZ = "Asia/Shanghai"


def at(hour, minute=0, day=26, second=0):
    return dt.datetime(2026, 11, day, hour, minute, second, tzinfo=BJ
                       ).astimezone(dt.timezone.utc)


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
def db(mongo, peers):
    for peer in peers.values():
        peer.reset()
    database = mongo[f"n{uuid.uuid4().hex[:8]}_notify"]
    ensure_indexes(database, repository.INDEXES)
    return database


@pytest.fixture
def dispatcher(peers, tmp_path):
    return Dispatcher(NotifySettings(
        sms_providers=f"alpha={peers['alpha'].url}/sms,"
                      f"beta={peers['beta'].url}/sms",
        sms_breaker_threshold=3, sms_breaker_cooldown=60,
        smtp_host="127.0.0.1", smtp_port=peers["smtp"].port,
        wechat_url=peers["wechat"].url + "/cgi-bin/message/template/send",
        press_dir=str(tmp_path / "press"),
        retry_base=30, retry_cap=3600, max_attempts=4))


def store(db, dispatcher, event_type, data, now, *, book=None):
    """Plan and store an event's messages as the service does."""
    envelope = ev.make_event(event_type, data, source="test")
    result = planning.plan(
        envelope, resolve=lambda ref: (book or {}).get(ref, []),
        preference=NotifyRepository.on(db).get_preference,
        secret=SECRET, now=now, available=dispatcher.available, tz=TZ,
        quiet=dispatcher.quiet_hours)
    return NotifyRepository.on(db).insert_planned(result.messages,
                                                  result.skips)


def invitation(phone, link="http://127.0.0.1/f/tok"):
    return {"link": link, "expires_at": "2026-12-03T00:00:00+00:00",
            "recipient": {"name": "王五", "phone": phone}}


def send_new(db, dispatcher, created, now):
    return dispatcher.send_due(db, first_due(created, now), now,
                               secret=SECRET)


# -- SMS --------------------------------------------------------------------

def test_sms_reaches_the_first_provider(db, dispatcher, peers, caplog):
    caplog.set_level("DEBUG")
    now = at(10)
    created = store(db, dispatcher, ev.INVITATION_ISSUED,
                    invitation("13911112222"), now)
    [sent] = send_new(db, dispatcher, created, now)
    assert sent["status"] == domain.DELIVERED
    assert sent["provider"] == "alpha"
    [request] = peers["alpha"].received()
    assert request["json"]["to"] == "13911112222"
    assert "http://127.0.0.1/f/tok" in request["json"]["content"]
    assert request["json"]["reference"] == sent["_id"]
    assert peers["beta"].received() == []
    # the stored document holds no plain phone number, nor do the logs
    assert "13911112222" not in repr(db.messages.find_one({"_id": sent["_id"]}))
    assert "139****2222" in caplog.text
    assert "13911112222" not in caplog.text


def test_failover_and_circuit_breaker(db, dispatcher, peers):
    peers["alpha"].set_mode(fail=-1, status=503)
    now = at(10)
    results = []
    for i in range(4):
        created = store(db, dispatcher, ev.INVITATION_ISSUED,
                        invitation(f"1391111000{i}"), now)
        results += send_new(db, dispatcher, created, now)
    assert [m["status"] for m in results] == [domain.DELIVERED] * 4
    assert {m["provider"] for m in results} == {"beta"}
    # alpha failed 3 times in a row; its breaker is open, so the 4th
    # message went straight to beta
    assert len(peers["alpha"].received()) == 3
    assert len(peers["beta"].received()) == 4
    tried = results[3]["history"][-1]["tried"]
    assert tried[0] == {"provider": "alpha", "result": "open"}
    state = {p["name"]: p["state"] for p in
             dispatcher.adapters["sms"].describe()["providers"]}
    assert state == {"alpha": "open", "beta": "closed"}


def test_temporary_failure_retries_with_backoff_then_delivers(
        db, dispatcher, peers):
    peers["alpha"].set_mode(fail=2, status=500)
    peers["beta"].set_mode(fail=2, status=502)
    now = at(10)
    created = store(db, dispatcher, ev.INVITATION_ISSUED,
                    invitation("13922223333"), now)
    [first] = send_new(db, dispatcher, created, now)
    assert first["status"] == domain.TEMPORARY_FAILURE
    assert first["next_at"] == now + dt.timedelta(seconds=30)
    assert "HTTP 502" in first["reason"]
    # not yet due
    assert dispatcher.sweep(db, now + dt.timedelta(seconds=29),
                            secret=SECRET) == []
    [second] = dispatcher.sweep(db, now + dt.timedelta(seconds=30),
                                secret=SECRET)
    assert second["status"] == domain.TEMPORARY_FAILURE
    assert second["attempts"] == 2
    assert second["next_at"] == now + dt.timedelta(seconds=30 + 60)
    [third] = dispatcher.sweep(db, now + dt.timedelta(seconds=90),
                               secret=SECRET)
    assert third["status"] == domain.DELIVERED and third["attempts"] == 3
    statuses = [h["status"] for h in third["history"]]
    assert statuses == ["created", "sending", "temporary-failure", "sending",
                        "temporary-failure", "sending", "delivered"]


def test_gives_up_after_max_attempts(db, dispatcher, peers):
    peers["alpha"].set_mode(fail=-1, status=500)
    peers["beta"].set_mode(fail=-1, status=500)
    dispatcher.adapters["sms"].providers[0].breaker.threshold = 100
    dispatcher.adapters["sms"].providers[1].breaker.threshold = 100
    now = at(10)
    created = store(db, dispatcher, ev.INVITATION_ISSUED,
                    invitation("13922224444"), now)
    [message] = send_new(db, dispatcher, created, now)
    clock = now
    while message["status"] == domain.TEMPORARY_FAILURE:
        clock = message["next_at"]
        [message] = dispatcher.sweep(db, clock, secret=SECRET)
    assert message["status"] == domain.PERMANENT_FAILURE
    assert message["attempts"] == 4
    assert message["reason"].startswith("重试 4 次仍失败")
    assert clock == now + dt.timedelta(seconds=30 + 60 + 120)


def test_refused_number_is_permanent_without_failover(db, dispatcher, peers):
    peers["alpha"].set_mode(fail=1, status=422,
                            body={"error": "invalid number 13922225555"})
    now = at(10)
    created = store(db, dispatcher, ev.INVITATION_ISSUED,
                    invitation("13922225555"), now)
    [message] = send_new(db, dispatcher, created, now)
    assert message["status"] == domain.PERMANENT_FAILURE
    assert "422" in message["reason"]
    assert "139****5555" in message["reason"]  # echoed back, masked
    assert "13922225555" not in repr(db.messages.find_one(
        {"_id": message["_id"]}))
    assert peers["beta"].received() == []


# -- the sweeper and quiet hours -----------------------------------------------

def test_quiet_hours_hold_sms_until_eight(db, dispatcher, peers):
    night = at(23)
    created = store(db, dispatcher, ev.INVITATION_ISSUED,
                    invitation("13933334444"), night)
    assert send_new(db, dispatcher, created, night) == []
    assert dispatcher.sweep(db, at(7, 59, day=27), secret=SECRET) == []
    assert peers["alpha"].received() == []
    [sent] = dispatcher.sweep(db, at(8, day=27), secret=SECRET)
    assert sent["status"] == domain.DELIVERED
    assert len(peers["alpha"].received()) == 1


def test_sweeper_resends_stuck_created_and_sending(db, dispatcher, peers):
    now = at(10)
    stuck_created = store(db, dispatcher, ev.INVITATION_ISSUED,
                          invitation("13944440001"), now)
    stuck_sending = store(db, dispatcher, ev.INVITATION_ISSUED,
                          invitation("13944440002"), now)
    # the second one was claimed by a sender that then died
    assert NotifyRepository.on(db).claim(stuck_sending[0]["_id"],
                                         now) is not None
    sent = dispatcher.sweep(db, now + dt.timedelta(seconds=1), secret=SECRET)
    assert [m["_id"] for m in sent] == [stuck_created[0]["_id"]]
    later = now + dt.timedelta(seconds=domain.SEND_LEASE_SECONDS)
    [again] = dispatcher.sweep(db, later, secret=SECRET)
    assert again["_id"] == stuck_sending[0]["_id"]
    assert again["status"] == domain.DELIVERED and again["attempts"] == 2
    assert len(peers["alpha"].received()) == 2
    assert dispatcher.sweep(db, later, secret=SECRET) == []


def test_due_messages_go_out_in_chunks_each_once(db, dispatcher, peers):
    """More than a chunk: every message claimed once, sent once under its
    id, its outcome recorded; sending them again finds nothing due."""
    from services.notify.delivery import SEND_CHUNK
    now = at(10)
    created = []
    for i in range(SEND_CHUNK + 7):
        created += store(db, dispatcher, ev.INVITATION_ISSUED,
                         invitation(f"1395555{i:04d}"), now)
    ids = [m["_id"] for m in created]
    sent = dispatcher.send_due(db, ids, now, secret=SECRET)
    assert [m["_id"] for m in sent] == ids  # in the order asked
    assert all(m["status"] == domain.DELIVERED and m["attempts"] == 1
               for m in sent)
    assert [h["status"] for h in sent[0]["history"]] == [
        "created", "sending", "delivered"]
    stored = {m["_id"]: m for m in db.messages.find()}
    assert all(stored[i]["status"] == domain.DELIVERED for i in ids)
    assert stored[ids[0]]["history"][-1]["provider"] == "alpha"
    references = [r["json"]["reference"] for r in peers["alpha"].received()]
    assert sorted(references) == sorted(ids)
    assert dispatcher.send_due(db, ids, now, secret=SECRET) == []
    assert len(peers["alpha"].received()) == len(ids)


def test_an_outcome_is_not_recorded_over_a_later_claim(db, dispatcher):
    """A chunk's outcomes are written guarded: a message another sender
    claimed meanwhile (its lease had passed) keeps that sender's state."""
    now = at(10)
    created = []
    for i in range(3):
        created += store(db, dispatcher, ev.INVITATION_ISSUED,
                         invitation(f"1396666000{i}"), now)
    ids = [m["_id"] for m in created]
    repo = NotifyRepository.on(db)
    claimed = repo.claim_many(ids, now, "first")
    assert sorted(m["_id"] for m in claimed) == sorted(ids)
    assert repo.claim_many(ids, now, "second") == []  # held
    later = now + dt.timedelta(seconds=domain.SEND_LEASE_SECONDS)
    taken = repo.claim(ids[1], later)
    assert taken["attempts"] == 2
    outcome = ch.Outcome.delivered("alpha", "ref-1")
    recorded = record_outcomes(
        repo, [(m, outcome) for m in claimed], now, max_attempts=4,
        retry_base=30, retry_cap=3600)
    assert sorted(m["_id"] for m in recorded) == sorted([ids[0], ids[2]])
    assert db.messages.find_one({"_id": ids[1]})["status"] == domain.SENDING
    assert db.messages.find_one({"_id": ids[0]})["reference"] == "ref-1"


# -- email, WeChat, board, press ------------------------------------------------

BOOK = {"unit:u1": [{"key": "unit:u1", "name": "市发改委",
                     "contacts": {"sms": "13800000001",
                                  "email": "fgw@example.cn",
                                  "wechat": "oUnitOpenid01"}}]}


def demand_raised():
    return {"demand_id": "d-42", "category": "enterprise",
            "owner_unit_id": "u1", "member_id": None, "status": "open",
            "deadlines": {"respond_by": "2026-11-27T10:00:00+08:00",
                          "resolve_by": "2026-12-10T18:00:00+08:00"}}


def test_demand_reaches_unit_by_sms_wechat_and_email(db, dispatcher, peers):
    now = at(10)
    created = store(db, dispatcher, ev.DEMAND_RAISED, demand_raised(), now,
                    book=BOOK)
    sent = send_new(db, dispatcher, created, now)
    assert {m["channel"]: m["status"] for m in sent} == {
        "sms": "delivered", "wechat": "delivered", "email": "delivered"}
    [mail] = peers["smtp"].received()
    assert mail["rcpt_tos"] == ["fgw@example.cn"]
    assert mail["subject"] == "新诉求待办理（d-42）"
    assert "诉求编号：d-42" in mail["body"]
    [wx] = peers["wechat"].received()
    assert wx["json"]["touser"] == "oUnitOpenid01"
    assert wx["json"]["template_id"] == "sifuwu.demand_assigned.v1"
    for doc in db.messages.find():
        text = repr(doc)
        for secret_value in ("13800000001", "fgw@example.cn",
                             "oUnitOpenid01"):
            assert secret_value not in text


def test_smtp_refusal_is_permanent_and_4xx_temporary(db, dispatcher, peers):
    peers["smtp"].set_mode(refuse=["fgw@example.cn"])
    now = at(10)
    created = store(db, dispatcher, ev.DEMAND_RAISED, demand_raised(), now,
                    book=BOOK)
    email = next(m for m in send_new(db, dispatcher, created, now)
                 if m["channel"] == "email")
    assert email["status"] == domain.PERMANENT_FAILURE
    assert "550" in email["reason"]
    peers["smtp"].set_mode(fail=1, code=451)
    data = dict(demand_raised(), demand_id="d-43")
    created = store(db, dispatcher, ev.DEMAND_RAISED, data, now, book=BOOK)
    email = next(m for m in send_new(db, dispatcher, created, now)
                 if m["channel"] == "email")
    assert email["status"] == domain.TEMPORARY_FAILURE
    [retried] = [m for m in dispatcher.sweep(
        db, email["next_at"], secret=SECRET) if m["channel"] == "email"]
    assert retried["status"] == domain.DELIVERED
    assert len(peers["smtp"].received()) == 1


def test_wechat_unsubscribed_user_is_permanent(db, dispatcher, peers):
    peers["wechat"].set_mode(fail=1, status=200,
                             body={"errcode": 43004, "errmsg": "require "
                                   "subscribe"})
    now = at(10)
    created = store(db, dispatcher, ev.DEMAND_RAISED, demand_raised(), now,
                    book=BOOK)
    wechat = next(m for m in send_new(db, dispatcher, created, now)
                  if m["channel"] == "wechat")
    assert wechat["status"] == domain.PERMANENT_FAILURE
    assert "43004" in wechat["reason"]


def test_publicity_goes_to_board_wechat_and_press(db, dispatcher, peers,
                                                  tmp_path):
    from docx import Document
    now = at(10)
    data = {"campaign_id": "c-2026", "title": "2026年度四服务先进典型",
            "starts_on": "2026-12-01", "ends_on": "2026-12-07",
            "candidates": [{"candidate_id": "m1", "name": "张三",
                            "unit_name": "市发改委", "award": "优秀党员"}]}
    created = store(db, dispatcher, ev.PUBLICITY_OPENED, data, now)
    sent = send_new(db, dispatcher, created, now)
    assert {m["channel"]: m["status"] for m in sent} == {
        "web": "delivered", "wechat": "delivered", "press": "delivered"}
    [item] = NotifyRepository.on(db).board_items()
    assert item["title"] == "2026年度四服务先进典型拟表彰名单公示"
    assert item["reference"] == "c-2026"
    [wx] = peers["wechat"].received()
    assert wx["json"]["touser"] == "@all"
    press = next(m for m in sent if m["channel"] == "press")
    path = tmp_path / "press" / press["reference"]
    text = "\n".join(p.text for p in Document(str(path)).paragraphs)
    assert "张三（市发改委）优秀党员" in text
    assert "2026年12月1日至2026年12月7日" in text


def test_web_items_are_posted_when_a_board_url_is_set(db, peers, tmp_path):
    board = Dispatcher(NotifySettings(
        web_board_url=peers["beta"].url + "/board-items",
        web_board_token="board-secret"))
    now = at(10)
    created = store(db, board, ev.SELECTION_PUBLISHED,
                    {"campaign_id": "c-9", "title": "2027年度评选"}, now)
    [web] = send_new(db, board, created, now)
    assert web["channel"] == "web" and web["status"] == domain.DELIVERED
    [posted] = peers["beta"].received()
    assert posted["path"] == "/board-items"
    assert posted["authorization"] == "Bearer board-secret"
    assert posted["json"]["title"] == "2027年度评选评选方案公布"
    skipped = {s["channel"]: s["reason"]
               for s in NotifyRepository.on(db).skips_for()}
    assert skipped == {"wechat": "channel_not_configured",
                       "press": "channel_not_configured"}


def resolve(db, ref):
    """The people behind a contact-book reference, as planning sees them."""
    return contacts.people(NotifyRepository.on(db).contact_entries(ref),
                           secret=SECRET)


def test_contact_book_is_encrypted_at_rest(db):
    uow = repository.Direct(db)
    steps.save_contact(
        uow, "member", "m9", {"name": "赵六", "phone": "13655556666",
                              "email": "zl@example.cn", "unit_id": "u1",
                              "roles": ["leader"]},
        secret=SECRET, now=at(10))
    stored = db.contacts.find_one({"_id": "member:m9"})
    text = repr(stored)
    assert "13655556666" not in text and "zl@example.cn" not in text
    assert "赵六" not in text and stored["name_masked"] == "赵*"
    assert stored["addresses"]["sms"]["masked"] == "136****6666"
    [leader] = resolve(db, "leader:u1")
    assert leader["contacts"] == {"sms": "13655556666",
                                  "email": "zl@example.cn"}


def test_contact_book_ignores_an_older_directory_record(db):
    uow = repository.Direct(db)
    steps.save_contact(uow, "unit", "u5", {"name": "新名称"},
                       secret=SECRET, now=at(10), as_of=at(9))
    steps.save_contact(uow, "unit", "u5", {"name": "旧名称",
                                           "phone": "13700007777"},
                       secret=SECRET, now=at(10), as_of=at(8))
    stored = db.contacts.find_one({"_id": "unit:u5"})
    assert stored["name_masked"] == "新名称"
    assert not stored.get("addresses")
    # staff entries (no as_of) always apply and survive directory updates
    steps.save_contact(uow, "unit", "u5", {"phone": "13700007777"},
                       secret=SECRET, now=at(10))
    steps.save_contact(uow, "unit", "u5", {"name": "更新名称"},
                       secret=SECRET, now=at(11), as_of=at(11))
    [unit] = resolve(db, "unit:u5")
    assert unit == {"key": "unit:u5", "name": "更新名称",
                    "contacts": {"sms": "13700007777"}}
