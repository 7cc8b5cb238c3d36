"""notify's steps against an in-memory unit of work and a dict-backed
repository (no store): an event planned into messages, idempotency, quiet
hours, batches, the contact book, preferences, resends and the operators'
reads."""

import datetime as dt

import pytest

from sifuwu import events as ev
from sifuwu.errors import Conflict, NotFound
from services.notify import domain, steps
from tests.fakes.notify import FakeNotifyRepository
from tests.fakes.uow import InMemoryUnitOfWork

SECRET = "steps-secret"
TZ = "Asia/Shanghai"
UTC = dt.timezone.utc
ALL = frozenset({"sms", "email", "wechat", "web", "press"})


def at(hour, minute=0, day=26):
    """A moment given in Beijing time, as UTC."""
    return dt.datetime(2026, 11, day, hour, minute,
                       tzinfo=dt.timezone(dt.timedelta(hours=8))
                       ).astimezone(UTC)


def context(now, quiet=(22, 8), available=ALL):
    return steps.Planning(secret=SECRET, now=now, available=available,
                          tz=TZ, quiet=quiet)


@pytest.fixture
def uow():
    return InMemoryUnitOfWork(repo=FakeNotifyRepository(),
                              service_name="notify")


def demand_raised(unit="u1", event_id="e-demand"):
    return ev.make_event(ev.DEMAND_RAISED, {
        "demand_id": "d1", "category": "project", "title": "施工许可",
        "owner_unit_id": unit, "member_id": "m1", "status": "open",
        "raised_at": "2026-11-20T10:00:00+08:00",
        "deadlines": {"respond_by": "2026-11-21T10:00:00+08:00",
                      "resolve_by": "2026-11-30T18:00:00+08:00"}},
        source="activity", event_id=event_id)


def invitation(phone, event_id="e-invite"):
    return ev.make_event(ev.INVITATION_ISSUED, {
        "invitation_id": "i1", "link": "http://x/f/t1",
        "expires_at": "2026-12-03T00:00:00+00:00",
        "recipient": {"name": "王五", "phone": phone}},
        source="feedback", event_id=event_id)


def fill_book(uow):
    """A unit with every address and a member with a phone, as the
    directory and staff would enter them."""
    uow.run(steps.save_contact, "unit", "u1", {
        "name": "市发改委", "phone": "13800000001",
        "email": "fgw@example.cn", "wechat_openid": "oUnitOpenid01"},
        secret=SECRET, now=at(9))
    uow.run(steps.save_contact, "member", "m1", {
        "name": "赵六", "phone": "13655556666", "unit_id": "u1"},
        secret=SECRET, now=at(9))


# -- planning an event ---------------------------------------------------------

def test_an_event_becomes_one_message_per_recipient_and_channel(uow):
    fill_book(uow)
    created = uow.run(steps.plan_event, demand_raised(), context(at(10)))
    sent = sorted((m["recipient"], m["channel"]) for m in created)
    assert sent == [("member:m1", "sms"), ("unit:u1", "email"),
                    ("unit:u1", "sms"), ("unit:u1", "wechat")]
    assert len({m["_id"] for m in created}) == 4
    assert all(m["status"] == domain.CREATED and m["next_at"] == at(10)
               for m in created)
    # the member has no email nor WeChat: recorded skips, never silence
    skipped = {(s["recipient"], s["channel"], s["reason"])
               for s in uow.repo.skips.values()}
    assert skipped == {("member:m1", "email", "no_address_for_channel"),
                       ("member:m1", "wechat", "no_address_for_channel")}
    assert uow.committed and uow.emitted == []  # notify announces nothing


def test_personal_data_is_masked_in_what_is_stored(uow):
    fill_book(uow)
    uow.run(steps.plan_event, demand_raised(), context(at(10)))
    masked = {(m["recipient"], m["channel"]): m["to_masked"]
              for m in uow.repo.messages.values()}
    assert masked == {("unit:u1", "sms"): "138****0001",
                      ("unit:u1", "email"): "f***@example.cn",
                      ("unit:u1", "wechat"): "oUni****",
                      ("member:m1", "sms"): "136****6666"}
    stored = repr(uow.repo.messages) + repr(uow.repo.contacts)
    for clear in ("13800000001", "fgw@example.cn", "oUnitOpenid01",
                  "13655556666", "赵六"):
        assert clear not in stored
    assert uow.repo.contacts["member:m1"]["name_masked"] == "赵*"


def test_the_same_event_twice_makes_no_second_message(uow):
    fill_book(uow)
    first = uow.run(steps.plan_event, demand_raised(), context(at(10)))
    again = uow.run(steps.plan_event, demand_raised(), context(at(11)))
    assert len(first) == 4 and again == []
    assert len(uow.repo.messages) == 4
    # a different event is new
    other = uow.run(steps.plan_event, demand_raised(event_id="e-2"),
                    context(at(11)))
    assert len(other) == 4 and len(uow.repo.messages) == 8


def test_night_sms_is_deferred_to_the_end_of_quiet_hours(uow):
    fill_book(uow)
    created = uow.run(steps.plan_event, demand_raised(), context(at(23)))
    by_channel = {(m["recipient"], m["channel"]): m for m in created}
    sms = by_channel[("unit:u1", "sms")]
    assert sms["next_at"] == at(8, day=27) and sms["held_for_quiet_hours"]
    email = by_channel[("unit:u1", "email")]
    assert email["next_at"] == at(23) and "held_for_quiet_hours" not in email
    # no quiet hours (the delivery log as the gateway): sent at once
    [invite] = uow.run(steps.plan_event, invitation("13912340000"),
                       context(at(23), quiet=None))
    assert invite["next_at"] == at(23)


def test_an_unconfigured_channel_is_a_skip(uow):
    fill_book(uow)
    created = uow.run(steps.plan_event, demand_raised(),
                      context(at(10), available=frozenset({"sms"})))
    assert {m["channel"] for m in created} == {"sms"}
    reasons = {(s["recipient"], s["channel"]): s["reason"]
               for s in uow.repo.skips.values()}
    assert reasons[("unit:u1", "email")] == "channel_not_configured"
    assert reasons[("unit:u1", "wechat")] == "channel_not_configured"


def test_a_batch_reads_preferences_once_and_respects_an_opt_out(uow):
    phones = ["13500000001", "13500000002", "13500000003"]
    opted = steps.recipient_key({"phone": phones[1]}, SECRET)
    uow.run(steps.opt_out, opted, at(9))
    events = [invitation(phone, event_id=f"e-{n}")
              for n, phone in enumerate(phones)]
    uow.repo.calls.clear()
    created = uow.run(steps.plan_batch, events, context(at(10)))
    assert sorted(m["event_id"] for m in created) == ["e-0", "e-2"]
    assert [c[0] for c in uow.repo.calls] == ["get_preferences"]
    [skip] = uow.repo.skips.values()
    assert skip["event_id"] == "e-1"
    assert skip["reason"] == "recipient_opted_out"
    assert uow.run(steps.plan_batch, events, context(at(11))) == []


# -- the contact book ------------------------------------------------------------

def test_an_older_directory_record_changes_nothing(uow):
    change = {"kind": "unit", "id": "u5", "record": {"name": "新名称"}}
    uow.run(steps.record_directory_change, change, secret=SECRET, now=at(10),
            as_of=at(9))
    old = {"kind": "unit", "id": "u5",
           "record": {"name": "旧名称", "phone": "13700007777"}}
    kept = uow.run(steps.record_directory_change, old, secret=SECRET,
                   now=at(10), as_of=at(8))
    assert kept["name_masked"] == "新名称" and not kept.get("addresses")
    # a staff entry always applies, and a later directory record keeps it
    uow.run(steps.enter_contact, "unit", "u5", {"phone": "13700007777"},
            secret=SECRET, now=at(10))
    later = {"kind": "unit", "id": "u5", "record": {"name": "更新名称"}}
    saved = uow.run(steps.record_directory_change, later, secret=SECRET,
                    now=at(11), as_of=at(11))
    assert saved["name_masked"] == "更新名称"
    assert saved["addresses"]["sms"]["masked"] == "137****7777"


def test_staff_keep_only_known_kinds_of_contact(uow):
    with pytest.raises(NotFound):
        uow.run(steps.enter_contact, "planet", "p1", {"phone": "13700007777"},
                secret=SECRET, now=at(10))
    with pytest.raises(NotFound):
        steps.show_contact(uow, "unit", "nobody")
    assert uow.repo.contacts == {}


# -- preferences -------------------------------------------------------------------

def test_preferences_keep_what_the_wishes_leave_out(uow):
    key = steps.recipient_key({"recipient": "member:m1"}, SECRET)
    assert key == "member:m1"
    assert steps.show_preference(uow, key) == {
        "_id": key, "channels": None, "opt_out_non_essential": False}
    uow.run(steps.set_preference, key, {"channels": ["email"],
                                        "opt_out_non_essential": None},
            at(9))
    saved = uow.run(steps.opt_out, key, at(10))
    assert saved["channels"] == ["email"]
    assert saved["opt_out_non_essential"] is True
    assert saved["updated_at"] == at(10)


# -- resends and the operators' reads ------------------------------------------------

def stored_message(uow, status, **extra):
    message = {"_id": f"m-{status}", "status": status, "channel": "wechat",
               "event_id": "e-1", "event_type": ev.SELECTION_FINALISED,
               "attempts": 1, "provider": "wechat", "reason": "x",
               "next_at": None, "created_at": at(9), "updated_at": at(9),
               "history": [], "reference": "r1"}
    message.update(extra)
    uow.repo.insert_message(message)
    return message


def test_only_a_failed_message_is_resent(uow):
    stored_message(uow, domain.DELIVERED)
    with pytest.raises(Conflict):
        uow.run(steps.resend, "m-delivered", at(10), "staff")
    stored_message(uow, domain.PERMANENT_FAILURE)
    copy = uow.run(steps.resend, "m-permanent-failure", at(10), "staff")
    assert copy["_id"] == "m-permanent-failure:resend1"
    assert copy["status"] == domain.CREATED and copy["next_at"] == at(10)
    assert copy["resend_of"] == "m-permanent-failure"
    assert "reference" not in copy
    assert uow.repo.messages["m-permanent-failure"]["status"] == \
        domain.PERMANENT_FAILURE
    again = uow.run(steps.resend, "m-permanent-failure", at(11), "staff")
    assert again["_id"] == "m-permanent-failure:resend2"
    # a temporary failure is brought forward, not copied
    stored_message(uow, domain.TEMPORARY_FAILURE, next_at=at(12))
    forward = uow.run(steps.resend, "m-temporary-failure", at(10), "staff")
    assert forward["_id"] == "m-temporary-failure"
    assert forward["next_at"] == at(10)
    assert forward["history"][-1]["status"] == "resend-requested"


def test_operators_find_messages_by_address_event_and_type(uow):
    fill_book(uow)
    uow.run(steps.plan_event, demand_raised(), context(at(10)))
    by_phone = steps.list_messages(uow, {"to": "13655556666"}, secret=SECRET)
    assert [(m["recipient"], m["channel"]) for m in by_phone] == [
        ("member:m1", "sms")]
    by_type = steps.list_messages(uow, {"event": ev.DEMAND_RAISED},
                                  secret=SECRET)
    by_id = steps.list_messages(uow, {"event": "e-demand"}, secret=SECRET)
    assert len(by_type) == len(by_id) == 4
    [row] = [r for r in steps.message_stats(uow) if r["channel"] == "sms"]
    assert row["total"] == 2 and row["statuses"][domain.CREATED] == 2
    assert row["delivery_rate"] is None
