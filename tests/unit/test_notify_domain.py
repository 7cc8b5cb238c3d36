"""notify's pure rules: states, backoff, quiet hours, SMS segments, breaker,
preferences, routing, templates and planning."""

import datetime as dt

import pytest

from sifuwu import events as ev
from services.notify import contacts, domain, planning, routing, templating

UTC = dt.timezone.utc
SECRET = "unit-secret"
TZ = "Asia/Shanghai"


def at(hour, minute=0, day=26):
    """A moment given in Beijing time, as UTC."""
    return dt.datetime(2026, 11, day, hour, minute,
                       tzinfo=dt.timezone(dt.timedelta(hours=8))
                       ).astimezone(UTC)


# -- states -----------------------------------------------------------------

def test_transitions_are_guarded():
    assert domain.can_move(domain.CREATED, domain.SENDING)
    assert domain.can_move(domain.SENDING, domain.DELIVERED)
    assert domain.can_move(domain.TEMPORARY_FAILURE, domain.SENDING)
    assert not domain.can_move(domain.CREATED, domain.DELIVERED)
    assert not domain.can_move(domain.DELIVERED, domain.SENDING)
    assert not domain.can_move(domain.PERMANENT_FAILURE, domain.SENDING)
    assert set(domain.sources_of(domain.SENDING)) == {
        domain.CREATED, domain.TEMPORARY_FAILURE}


def test_idempotency_key_is_event_channel_recipient():
    key = domain.message_key("e1", "sms", "ab" * 40)
    assert key == "e1:sms:" + ("ab" * 12)
    assert key != domain.message_key("e1", "email", "ab" * 40)


# -- retries ----------------------------------------------------------------

def test_backoff_doubles_and_is_capped():
    assert [domain.backoff_seconds(n, 30, 3600) for n in range(1, 9)] == [
        30, 60, 120, 240, 480, 960, 1920, 3600]
    assert domain.backoff_seconds(0) == 0


def test_temporary_failure_retries_then_gives_up():
    now = at(10)
    status, retry_at = domain.after_temporary_failure(2, now, 4, 30, 3600)
    assert status == domain.TEMPORARY_FAILURE
    assert retry_at == now + dt.timedelta(seconds=60)
    assert domain.after_temporary_failure(4, now, 4) == (
        domain.PERMANENT_FAILURE, None)


# -- quiet hours --------------------------------------------------------------

@pytest.mark.parametrize("hour,held_until", [
    (21, None), (22, at(8, day=27)), (23, at(8, day=27)),
    (0, at(8)), (7, at(8)), (8, None), (12, None)])
def test_quiet_hours_22_to_8_beijing(hour, held_until):
    assert domain.quiet_until(at(hour, 30 if hour == 7 else 0), TZ) == \
        held_until


def test_only_non_urgent_sms_waits():
    night = at(23)
    assert domain.due_at("sms", False, night, TZ) == at(8, day=27)
    assert domain.due_at("sms", True, night, TZ) == night
    assert domain.due_at("email", False, night, TZ) == night


def test_quiet_hours_are_configurable_and_off_for_the_delivery_log():
    from services.notify.delivery import Dispatcher
    from services.notify.settings import NotifySettings
    assert domain.parse_quiet_hours("22-8") == (22, 8)
    assert domain.parse_quiet_hours("off") is None
    with pytest.raises(ValueError):
        domain.parse_quiet_hours("8-8")
    assert domain.quiet_until(at(13), TZ, start=12, end=14) == at(14)
    assert domain.quiet_until(at(15), TZ, start=12, end=14) is None
    # no SMS gateway: the delivery log rings no phone, day or night
    assert Dispatcher(NotifySettings()).quiet_hours is None
    gateway = Dispatcher(NotifySettings(sms_providers="a=http://127.0.0.1:9/s"))
    assert gateway.quiet_hours == (22, 8)
    assert domain.due_at("sms", False, at(23), TZ, quiet=None) == at(23)


# -- SMS segments -------------------------------------------------------------

def test_chinese_sms_segments_70_single_67_per_part():
    assert domain.sms_segments("") == 0
    assert domain.sms_segments("中" * 70) == 1
    assert domain.sms_segments("中" * 71) == 2
    assert domain.sms_segments("中" * 134) == 2
    assert domain.sms_segments("中" * 135) == 3
    # one Chinese character makes the whole text UCS-2
    assert domain.sms_segments("a" * 69 + "中") == 1
    assert domain.sms_segments("a" * 70 + "中") == 2


def test_latin_sms_segments_160_single_153_per_part():
    assert domain.sms_segments("a" * 160) == 1
    assert domain.sms_segments("a" * 161) == 2
    assert domain.sms_segments("a" * 306) == 2
    assert domain.sms_segments("a" * 307) == 3


# -- breaker ------------------------------------------------------------------

def test_breaker_opens_after_repeated_failures_and_half_opens():
    breaker = domain.CircuitBreaker(threshold=3, cooldown=60)
    now = at(10)
    for _ in range(2):
        breaker.failure(now)
    assert breaker.allow(now) and breaker.state == "closed"
    breaker.failure(now)
    assert breaker.state == "open" and not breaker.allow(now)
    later = now + dt.timedelta(seconds=61)
    assert breaker.allow(later) and breaker.state == "half-open"
    assert not breaker.allow(later)          # one trial at a time
    breaker.failure(later)                   # trial failed: open again
    assert breaker.state == "open" and not breaker.allow(later)
    again = later + dt.timedelta(seconds=61)
    assert breaker.allow(again)
    breaker.success()
    assert breaker.state == "closed" and breaker.failures == 0


# -- preferences --------------------------------------------------------------

def test_preferences_and_opt_out():
    route = ("sms", "wechat", "email")
    assert domain.channels_for(route, None, True) == (list(route), None)
    assert domain.channels_for(route, {"channels": ["email"]}, True) == (
        ["email"], None)
    assert domain.channels_for(("sms",), {"opt_out_non_essential": True},
                               False) == ([], "recipient_opted_out")
    # essential messages ignore the opt-out and fall back to the route
    assert domain.channels_for(("sms",), {"opt_out_non_essential": True,
                                          "channels": ["email"]},
                               True) == (["sms"], None)
    assert domain.channels_for(("sms",), {"channels": ["email"]},
                               False) == ([], "no_preferred_channel")


# -- routing ------------------------------------------------------------------

def test_routing_table_covers_the_issue():
    types = {r.event_type for r in routing.ROUTES}
    assert types == {ev.INVITATION_ISSUED, ev.DEMAND_RAISED,
                     ev.DEMAND_OVERDUE, ev.RECTIFICATION_OPENED,
                     ev.RECTIFICATION_OVERDUE, ev.SELECTION_PUBLISHED,
                     ev.PUBLICITY_OPENED, ev.SELECTION_FINALISED,
                     ev.OBJECTION_ANSWERED}
    for route in routing.ROUTES:
        assert route.template in templating.CATALOGUE
        assert set(route.channels) <= set(domain.CHANNELS)
    public = routing.routes_for(ev.PUBLICITY_OPENED)[0]
    assert set(public.channels) == {"web", "wechat", "press"}


def test_escalation_climbs_to_leader_and_supervision():
    route = routing.routes_for(ev.DEMAND_OVERDUE)[0]
    refs = lambda level: [t.ref for t in routing.targets(  # noqa: E731
        route, {"owner_unit_id": "u1", "level": level})]
    assert refs(1) == ["unit:u1"]
    assert refs(2) == ["unit:u1", "leader:u1"]
    assert refs(3) == ["unit:u1", "leader:u1", "role:supervision"]


def test_missed_fix_goes_to_supervision_missed_callback_stays():
    route = routing.routes_for(ev.RECTIFICATION_OVERDUE)[0]
    refs = lambda level: [t.ref for t in routing.targets(  # noqa: E731
        route, {"unit_id": "u1", "member_id": "m1", "level": level})]
    assert refs(1) == ["unit:u1", "member:m1"]
    assert refs(3) == ["unit:u1", "member:m1", "leader:u1",
                       "role:supervision"]


# Event data as the publishers send it (see the contracts in the brief).
SAMPLES = {
    ev.INVITATION_ISSUED: {
        "invitation_id": "i1", "link": "http://x/f/t",
        "recipient": {"name": "王五", "phone": "13900000000"},
        "subject_type": "activity", "subject_id": "a1",
        "expires_at": "2026-12-03T00:00:00+00:00"},
    ev.DEMAND_RAISED: {
        "demand_id": "d1", "category": "project", "title": "施工许可",
        "owner_unit_id": "u1", "member_id": None, "status": "open",
        "raised_at": "2026-11-20T10:00:00+08:00",
        "deadlines": {"respond_by": "2026-11-21T10:00:00+08:00",
                      "resolve_by": "2026-11-30T18:00:00+08:00"}},
    ev.DEMAND_OVERDUE: {
        "demand_id": "d1", "owner_unit_id": "u1", "level": 2,
        "level_label": "单位负责人", "deadline_kind": "resolve",
        "deadline": "2026-11-30T18:00:00+08:00"},
    ev.RECTIFICATION_OPENED: {
        "rectification_id": "r1", "rating_id": "g1", "member_id": "m1",
        "unit_id": "u1", "status": "open",
        "callback_by": "2026-11-21T23:59:59+08:00",
        "fix_by": "2026-12-05T23:59:59+08:00", "closed_at": None},
    ev.RECTIFICATION_OVERDUE: {
        "rectification_id": "r1", "rating_id": "g1", "member_id": "m1",
        "unit_id": "u1", "status": "open",
        "callback_by": "2026-11-21T23:59:59+08:00",
        "fix_by": "2026-12-05T23:59:59+08:00", "closed_at": None,
        "deadline_kind": "fix", "deadline": "2026-12-05T23:59:59+08:00",
        "level": 3},
    ev.SELECTION_PUBLISHED: {"campaign_id": "c1", "title": "2026年度评选",
                             "awards": [{"name": "优秀党员", "quota": 5}]},
    ev.PUBLICITY_OPENED: {
        "campaign_id": "c1", "title": "2026年度评选",
        "starts_on": "2026-12-01", "ends_on": "2026-12-07",
        "candidates": [{"candidate_id": "m1", "name": "张三",
                        "unit_name": "市发改委", "award": "优秀党员"}]},
    ev.SELECTION_FINALISED: {"campaign_id": "c1", "title": "2026年度评选",
                             "awards": ["优秀党员"],
                             "final": [{"name": "张三"}]},
    ev.OBJECTION_ANSWERED: {"objection_id": "o1", "campaign_id": "c1",
                            "candidate_id": "m1", "substantiated": True,
                            "answer": "已调整名单。"},
}


@pytest.mark.parametrize("route", routing.ROUTES,
                         ids=lambda r: r.event_type)
def test_every_route_renders_on_every_channel(route):
    for channel in route.channels:
        rendered = templating.render(route.template, channel,
                                     SAMPLES[route.event_type], tz=TZ)
        assert rendered.subject and rendered.body
        assert "None" not in rendered.body
        if channel == "sms":
            assert rendered.body.startswith("【四服务")
            assert domain.sms_segments(rendered.body) <= 2


def test_objection_answer_without_contact_is_a_recorded_skip():
    route = routing.routes_for(ev.OBJECTION_ANSWERED)[0]
    [target] = routing.targets(route, {"objection_id": "o1"})
    assert target.missing == "objector_contact_absent"


# -- templates ----------------------------------------------------------------

def test_invitation_sms_renders_in_chinese_with_the_link():
    rendered = templating.render("feedback_invitation", "sms", {
        "link": "http://x/f/t1", "expires_at": "2026-12-03T00:00:00+00:00",
        "recipient": {"name": "王五", "phone": "13900000000"}}, tz=TZ)
    assert rendered.version == templating.CATALOGUE["feedback_invitation"]
    assert "王五您好" in rendered.body and "http://x/f/t1" in rendered.body
    assert rendered.subject == "服务评价邀请"


def test_missing_field_is_a_render_error_with_reason():
    with pytest.raises(templating.RenderError) as info:
        templating.render("feedback_invitation", "sms",
                          {"expires_at": "2026-12-03"}, tz=TZ)
    assert "link" in str(info.value)


def test_publicity_renders_candidates_for_the_press():
    rendered = templating.render("publicity_list", "press", {
        "title": "2026年度四服务先进", "starts_on": "2026-12-01",
        "ends_on": "2026-12-07",
        "candidates": [{"candidate_id": "c1", "name": "张三",
                        "unit_name": "市发改委", "award": "优秀党员"}]},
        tz=TZ)
    assert "2026年12月1日至2026年12月7日" in rendered.body
    assert "张三（市发改委）优秀党员" in rendered.body


# -- planning -----------------------------------------------------------------

def envelope(event_type, data, event_id="e-1"):
    return ev.make_event(event_type, data, source="test", event_id=event_id)


def test_invitation_plan_stores_no_plain_phone():
    phone = "13912340000"
    result = planning.plan(
        envelope(ev.INVITATION_ISSUED, {
            "link": "http://x/f/t1", "expires_at": "2026-12-03",
            "recipient": {"name": "王五", "phone": phone}}),
        resolve=lambda ref: [], preference=lambda who: None, secret=SECRET,
        now=at(10), available={"sms"}, tz=TZ)
    [message] = result.messages
    assert message["to_masked"] == "139****0000"
    assert message["segments"] == 1 and message["status"] == domain.CREATED
    assert phone not in repr(message)


def test_broken_template_data_is_a_technical_failure_not_a_crash():
    result = planning.plan(
        envelope(ev.INVITATION_ISSUED, {
            "expires_at": "2026-12-03",
            "recipient": {"name": "王五", "phone": "13912340000"}}),
        resolve=lambda ref: [], preference=lambda who: None, secret=SECRET,
        now=at(10), available={"sms"}, tz=TZ)
    [message] = result.messages
    assert message["status"] == domain.TECHNICAL_FAILURE
    assert "link" in message["reason"]


def test_demand_escalation_plan_uses_contact_book_and_skips_unknown():
    book = {"unit:u1": [{"key": "unit:u1", "name": "市发改委",
                         "contacts": {"sms": "13800000001",
                                      "email": "fgw@example.cn"}}],
            "leader:u1": [{"key": "member:boss", "name": "李局",
                           "contacts": {"wechat": "oLeader123"}}]}
    result = planning.plan(
        envelope(ev.DEMAND_OVERDUE, {
            "demand_id": "d1", "owner_unit_id": "u1", "level": 3,
            "deadline_kind": "resolve",
            "deadline": "2026-11-20T18:00:00+08:00"}),
        resolve=lambda ref: book.get(ref, []), preference=lambda who: None,
        secret=SECRET, now=at(10), available={"sms", "email", "wechat"},
        tz=TZ)
    sent = sorted((m["recipient"], m["channel"]) for m in result.messages)
    assert sent == [("member:boss", "wechat"), ("unit:u1", "email"),
                    ("unit:u1", "sms")]
    reasons = {(s["recipient"], s["reason"]) for s in result.skips}
    assert ("role:supervision", "contact_unknown") in reasons
    assert ("member:boss", "no_address_for_channel") in reasons
    assert all("挂牌督办" in m["body"] for m in result.messages)


def test_recipient_keys_are_the_ones_plan_looks_up():
    book = {"unit:u1": [{"key": "unit:u1", "name": "市发改委",
                         "contacts": {"sms": "13800000001"}}]}
    events = [
        envelope(ev.INVITATION_ISSUED, {
            "link": "http://x/f/t1", "expires_at": "2026-12-03",
            "recipient": {"phone": "13912340000"}}),
        envelope(ev.DEMAND_OVERDUE, {
            "demand_id": "d1", "owner_unit_id": "u1", "level": 3,
            "deadline_kind": "resolve",
            "deadline": "2026-11-20T18:00:00+08:00"}, event_id="e-2"),
        envelope(ev.OBJECTION_ANSWERED, {
            "objection_id": "o1", "campaign_id": "c1",
            "candidate_id": "m1", "substantiated": False,
            "answer": "不成立"}, event_id="e-3")]
    for event in events:
        asked = set()

        def preference(who):
            asked.add(who)
            return None

        planning.plan(event, resolve=lambda ref: book.get(ref, []),
                      preference=preference, secret=SECRET, now=at(10),
                      available={"sms", "email", "wechat"}, tz=TZ)
        assert planning.recipient_keys(
            event, resolve=lambda ref: book.get(ref, []),
            secret=SECRET) == asked


def test_night_sms_is_held_until_eight():
    result = planning.plan(
        envelope(ev.INVITATION_ISSUED, {
            "link": "http://x/f/t1", "expires_at": "2026-12-03",
            "recipient": {"phone": "13912340000"}}),
        resolve=lambda ref: [], preference=lambda who: None, secret=SECRET,
        now=at(23), available={"sms"}, tz=TZ)
    [message] = result.messages
    assert message["next_at"] == at(8, day=27)
    assert message["held_for_quiet_hours"]


# -- the sweeper entrypoint, with an injected clock ------------------------------

def test_sweeper_uses_the_injected_clock():
    from nameko.testing.services import worker_factory
    from services.notify.service import NotifyService

    class Recorder:
        def __init__(self):
            self.calls = []

        def sweep(self, db, now, *, secret):
            self.calls.append((now, secret))
            return ["m1", "m2"]

    dispatcher = Recorder()
    service = worker_factory(NotifyService, clock=lambda: at(8, day=27),
                             channels=dispatcher,
                             config={"SIFUWU_SECRET": "s3"})
    assert service.sweep() == 2
    assert dispatcher.calls == [(at(8, day=27), "s3")]


# -- settings -------------------------------------------------------------------

def test_settings_read_every_name_with_the_former_defaults():
    from services.notify.settings import NotifySettings
    defaults = NotifySettings.load({}, {})
    assert (defaults.sms_providers, defaults.sms_breaker_threshold,
            defaults.sms_breaker_cooldown, defaults.smtp_host,
            defaults.smtp_port, defaults.smtp_from, defaults.wechat_url,
            defaults.web_board_url, defaults.web_board_token,
            defaults.press_dir, defaults.quiet_hours, defaults.retry_base,
            defaults.retry_cap, defaults.max_attempts) == (
        "", 3, 60.0, "", 25, "notify@sifuwu.local", "", "", "", "",
        "22-8", 30.0, 3600.0, 6)
    # nameko's config first, then the environment; empty numbers: default
    settings = NotifySettings.load(
        {"SIFUWU_SMTP_PORT": 2525, "SIFUWU_QUIET_HOURS": "off",
         "SIFUWU_NOTIFY_MAX_ATTEMPTS": ""},
        {"SIFUWU_SMTP_PORT": "26", "SIFUWU_NOTIFY_RETRY_BASE": "0.5",
         "SIFUWU_SMS_BREAKER_COOLDOWN": "5"})
    assert (settings.smtp_port, settings.quiet_hours, settings.max_attempts,
            settings.retry_base, settings.sms_breaker_cooldown) == (
        2525, "off", 6, 0.5, 5.0)
    names = {env for env, _, _ in NotifySettings.documented()}
    assert {"SIFUWU_SMS_PROVIDERS", "SIFUWU_SMS_BREAKER_THRESHOLD",
            "SIFUWU_SMS_BREAKER_COOLDOWN", "SIFUWU_SMTP_HOST",
            "SIFUWU_SMTP_PORT", "SIFUWU_SMTP_FROM", "SIFUWU_WECHAT_URL",
            "SIFUWU_WEB_BOARD_URL", "SIFUWU_WEB_BOARD_TOKEN",
            "SIFUWU_PRESS_DIR", "SIFUWU_QUIET_HOURS",
            "SIFUWU_NOTIFY_RETRY_BASE", "SIFUWU_NOTIFY_RETRY_CAP",
            "SIFUWU_NOTIFY_MAX_ATTEMPTS"} <= names


def test_selection_plan_names_each_award_by_its_title():
    """The plan as assessment announces it (``award``, ``title``, ``quota``):
    the board shows the title, never "None"."""
    from services.assessment.selection import steps as selection_steps
    plan = {"awards": [{"award": "four_services_branch", "quota": 2},
                       {"award": "excellent_member", "quota": 5}]}
    data = {"campaign_id": "c1", "title": "2026年度评选",
            "awards": selection_steps._award_titles(plan)}
    for channel in ("web", "wechat", "email"):
        try:
            rendered = templating.render("selection_plan", channel,
                                         data, tz=TZ)
        except templating.RenderError:
            continue
        assert "None" not in rendered.body, (channel, rendered.body)
    rendered = templating.render("selection_plan", "web", data, tz=TZ)
    titles = [a["title"] for a in data["awards"]]
    assert f"· {titles[0]}（名额 2）" in rendered.body, rendered.body
    assert f"· {titles[1]}（名额 5）" in rendered.body


def test_an_invitation_is_stored_with_its_link_redacted_and_sealed():
    from services.notify import planning, schemas
    from sifuwu.privacy import Sealer
    route = routing.routes_for(ev.INVITATION_ISSUED)[0]
    envelope = ev.make_event(ev.INVITATION_ISSUED, {
        "invitation_id": "i1", "link": "http://x/f/live-token.sig",
        "expires_at": "2026-12-03T00:00:00+00:00",
        "recipient": {"name": "王五", "phone": "13900000000"}},
        source="feedback")
    sealer = Sealer("s")
    message = planning.build_message(
        envelope, route, "sms", "contact:x", "13900000000", sealer=sealer,
        secret="s", now=dt.datetime(2026, 11, 20, tzinfo=dt.timezone.utc),
        tz=TZ, key="m1", quiet=None)
    assert "live-token" not in message["body"]
    assert "http://x/f/***" in message["body"]
    assert "http://x/f/live-token.sig" in sealer.open(message["body_enc"])
    shown = schemas.MessageSchema().dump(dict(
        message, body="旧消息 http://x/f/old-token 评价"))
    assert "old-token" not in shown["body"] and "body_enc" not in shown


def test_a_sealed_contact_is_opened_only_to_address_and_kept_sealed():
    from cryptography.fernet import Fernet
    from sifuwu.privacy import ContactKeys, contact, contact_hash

    keys = ContactKeys([Fernet.generate_key().decode()])
    phone = "13900000000"
    sealed = contact(phone, keys=keys, secret=SECRET)
    data = {"link": "http://x/f/t1", "expires_at": "2026-12-03",
            "recipient": {"name": "王五", "phone": sealed}}
    result = planning.plan(
        envelope(ev.INVITATION_ISSUED, data), resolve=lambda ref: [],
        preference=lambda who: None, secret=SECRET, now=at(10),
        available={"sms"}, tz=TZ, sealer=keys)
    [message] = result.messages
    assert keys.open(message["to_enc"]) == phone
    assert message["to_hash"] == contact_hash(SECRET, phone) == sealed["ref"]
    assert message["recipient"] == "contact:" + sealed["ref"][:32]
    assert message["to_masked"] == "139****0000"
    assert phone not in repr(message)
    assert data["recipient"]["phone"] is sealed   # the event is not changed
    # the old clear shape plans to the same message
    [old] = planning.plan(
        envelope(ev.INVITATION_ISSUED, dict(data, recipient={
            "name": "王五", "phone": phone})), resolve=lambda ref: [],
        preference=lambda who: None, secret=SECRET, now=at(10),
        available={"sms"}, tz=TZ, sealer=keys).messages
    assert old["_id"] == message["_id"] and old["to_hash"] == message["to_hash"]


def test_the_contact_book_keeps_a_directory_phone_sealed_as_it_came():
    from cryptography.fernet import Fernet
    from sifuwu.privacy import ContactKeys, contact

    keys = ContactKeys([Fernet.generate_key().decode()])
    sealed = contact("13900000001", keys=keys, secret=SECRET)
    doc = contacts.contact_document("member", "m1", {
        "name": "李明", "unit_id": "u1", "phone": sealed},
        secret=SECRET, now=at(10), sealer=keys)
    sms = doc["addresses"]["sms"]
    assert sms == {"enc": sealed["sealed"], "hash": sealed["ref"],
                   "masked": "139****0001"}
    [person] = contacts.people([doc], secret=SECRET, sealer=keys)
    assert person["contacts"]["sms"] == "13900000001"
