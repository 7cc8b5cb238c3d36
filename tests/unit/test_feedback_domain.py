"""Pure rules of the feedback service: levels, deadlines in working days,
overdue detection, rate windows, CSRF nonces, schemas' limits and the
sweeper entrypoint with an injected clock."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from marshmallow import ValidationError
from nameko.testing.services import worker_factory

from services.feedback import domain, schemas
from services.feedback.entrypoints.web import first_messages
from services.feedback.service import FeedbackService
from sifuwu.workdays import CALENDAR, WorkCalendar

UTC = dt.timezone.utc
SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(*args):
    return dt.datetime(*args, tzinfo=UTC)


def test_five_levels_and_bad_reviews():
    assert [domain.LEVELS[n] for n in (5, 4, 3, 2, 1)] == [
        "非常满意", "满意", "基本满意", "不满意", "非常不满意"]
    assert [n for n in domain.LEVELS if domain.is_bad(n)] == [2, 1]


def test_invitation_state():
    now = at(2026, 11, 20, 2)
    invitation = {"status": domain.ISSUED,
                  "expires_at": domain.invitation_expiry(now)}
    assert invitation["expires_at"] == at(2026, 12, 5, 2)
    assert domain.invitation_state(invitation, now) == "open"
    assert domain.invitation_state(invitation, at(2026, 12, 5, 2)) == "expired"
    assert domain.invitation_state({**invitation, "status": domain.USED},
                                   now) == "used"


def test_callback_deadline_counts_working_days_in_shanghai():
    friday_3pm = at(2026, 11, 20, 7)  # 15:00 in Shanghai, a Friday
    callback_by, fix_by = domain.rectification_deadlines(friday_3pm, SHANGHAI,
                                                         CALENDAR)
    assert callback_by == at(2026, 11, 23, 7)  # Monday 15:00
    assert fix_by == at(2026, 12, 5, 7)
    tuesday = at(2026, 11, 24, 1)
    assert CALENDAR.add_workdays_at(tuesday, 1, SHANGHAI) == at(2026, 11, 25, 1)
    # Friday 23:30 Shanghai is still Friday there, though Friday UTC too
    late_friday = at(2026, 11, 20, 15, 30)
    assert CALENDAR.add_workdays_at(late_friday, 1, SHANGHAI) == \
        at(2026, 11, 23, 15, 30)
    holiday = dt.date(2026, 11, 23)
    assert WorkCalendar(holidays=[holiday]).add_workdays_at(
        friday_3pm, 1, SHANGHAI) == at(2026, 11, 24, 7)


def test_overdue_kinds_are_announced_once():
    opened = at(2026, 11, 20, 7)
    callback_by, fix_by = domain.rectification_deadlines(opened, SHANGHAI,
                                                         CALENDAR)
    rect = {"status": domain.RECT_OPEN, "callback_by": callback_by,
            "fix_by": fix_by, "overdue": []}
    assert domain.overdue_kinds(rect, opened) == []
    assert domain.overdue_kinds(rect, callback_by) == ["callback"]
    assert domain.overdue_kinds(rect, fix_by) == ["callback", "fix"]
    assert domain.overdue_kinds({**rect, "overdue": ["callback"]}, fix_by) \
        == ["fix"]
    called = {**rect, "status": domain.RECT_CALLED_BACK}
    assert domain.overdue_kinds(called, fix_by) == ["fix"]
    assert domain.overdue_kinds({**rect, "status": domain.RECT_CLOSED},
                                fix_by) == []


def test_rectification_transitions_are_guarded():
    assert domain.can_move(domain.RECT_OPEN, domain.RECT_CALLED_BACK)
    assert not domain.can_move(domain.RECT_OPEN, domain.RECT_CLOSED)
    assert domain.can_move(domain.RECT_CALLED_BACK, domain.RECT_CLOSED)
    assert not domain.can_move(domain.RECT_CLOSED, domain.RECT_OPEN)
    assert set(domain.RECT_STATUS_NAMES) == set(domain.RECT_TRANSITIONS)


def test_rate_windows_and_specs():
    index, end = domain.rate_window(at(2026, 1, 1, 0, 0, 30), 60)
    assert end == at(2026, 1, 1, 0, 1)
    assert domain.rate_window(at(2026, 1, 1, 0, 0, 59), 60)[0] == index
    assert domain.rate_window(at(2026, 1, 1, 0, 1), 60)[0] == index + 1
    assert domain.parse_rate("5/10", (1, 1)) == (5, 10)
    assert domain.parse_rate("", (60, 60)) == (60, 60)
    assert domain.parse_rate("0/10", (60, 60)) == (60, 60)
    key = domain.rate_key("s", "addr", "10.0.0.1")
    assert "10.0.0.1" not in key and key.startswith("addr:")


def test_rate_counter_counts_fixed_windows_in_memory():
    counter = domain.RateCounter()
    start = at(2026, 1, 1, 0, 0, 0)
    assert [counter.hit("a", start, 2, 60) for _ in range(3)] == [
        True, True, False]
    assert counter.hit("b", start, 2, 60)  # another key, its own count
    assert counter.hit("a", start, 5, 3600)  # another window length
    assert not counter.hit("a", at(2026, 1, 1, 0, 0, 59), 2, 60)
    assert counter.hit("a", at(2026, 1, 1, 0, 1), 2, 60)  # a new window


def test_rate_counter_stays_bounded():
    counter = domain.RateCounter(max_keys=100)
    start = at(2026, 1, 1, 0, 0, 0)
    for n in range(60):
        counter.hit(f"old{n}", start, 1, 60)
    later = at(2026, 1, 1, 0, 5)
    counter.hit("busy", later, 1, 60)
    for n in range(40):  # over max_keys: the finished windows go
        counter.hit(f"new{n}", later, 1, 60)
    assert len(counter) == 41
    assert not counter.hit("busy", later, 1, 60)  # still counted
    for n in range(500):  # a flood of live keys: at most max_keys held
        counter.hit(f"flood{n}", later, 1, 60)
        assert len(counter) <= 100
    assert not counter.hit("flood499", later, 1, 60)  # recent ones kept


def test_csrf_nonce_must_match_the_cookie():
    nonce = domain.new_csrf_nonce()
    assert len(nonce) >= 16
    assert domain.csrf_matches(nonce, nonce)
    assert not domain.csrf_matches(nonce, domain.new_csrf_nonce())
    assert not domain.csrf_matches(None, nonce)


def test_publicity_window():
    publicity = {"starts_on": "2026-11-20", "ends_on": "2026-11-26"}
    assert domain.publicity_is_open(publicity, "2026-11-26")
    assert not domain.publicity_is_open(publicity, "2026-11-27")
    assert not domain.publicity_is_open(publicity, "2026-11-19")
    assert domain.local_today(at(2026, 11, 26, 17), SHANGHAI) == \
        dt.date(2026, 11, 27)


def test_submit_schema_limits():
    schema = schemas.FeedbackSubmitSchema()
    with pytest.raises(ValidationError) as exc:
        schema.load({"token": "t" * 20, "rating": 3, "comment": "长" * 501,
                     "aspects": {"efficiency": 7, "speed": 1}})
    messages = first_messages(exc.value.messages)
    assert "留言不能超过 500 字" in messages
    assert "效率评分须为 1 至 5" in messages
    with pytest.raises(ValidationError) as exc:
        schema.load({"token": "t" * 20, "rating": 4, "recommend": True})
    assert exc.value.messages == {"recommend_reason": ["推荐典型时请填写推荐理由"]}
    loaded = schema.load({"token": "t" * 20, "rating": "2"})
    assert loaded["rating"] == 2 and loaded["aspects"] == {}


def test_objection_schema_wants_a_phone_and_a_real_reason():
    with pytest.raises(ValidationError) as exc:
        schemas.ObjectionSchema().load({"campaign_id": "c", "candidate_id": "m",
                                        "reason": "短", "phone": "110"})
    assert set(exc.value.messages) == {"reason", "phone"}


def test_sweeper_uses_the_injected_clock():
    service = worker_factory(FeedbackService)
    now = at(2026, 12, 31)
    service.clock = lambda: now
    service.store.db = object()
    calls = []

    def transaction(fn, **kwargs):
        calls.append(fn)
        return ["fix"]

    service.store.transaction.side_effect = transaction
    from services.feedback.steps import rectifications
    original = rectifications.overdue_candidates
    rectifications.overdue_candidates = lambda uow, when: (
        ["r1", "r2"] if when == now else [])
    try:
        assert service.sweep_overdue() == 2
    finally:
        rectifications.overdue_candidates = original
    assert len(calls) == 2


def test_client_address_trusts_forwarded_only_when_told():
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    request = Request(EnvironBuilder(
        headers={"X-Forwarded-For": "203.0.113.9, 198.51.100.7"},
        environ_base={"REMOTE_ADDR": "10.0.0.2"}).get_environ())
    service = worker_factory(FeedbackService)
    service.config = {}
    assert service._client_address(request) == "10.0.0.2"
    # settings are read once per worker: a worker with the other config
    service = worker_factory(FeedbackService)
    service.config = {"SIFUWU_FEEDBACK_TRUST_FORWARDED": "1"}
    assert service._client_address(request) == "198.51.100.7"


# -- one calendar: deadlines and default ratings across a holiday week ------

def test_a_callback_deadline_skips_the_national_day_week():
    """Opened on Wednesday 30 September 2026, 15:00 in Shanghai: 1-7 October
    are holidays, so the one working day ends on Thursday 8 October."""
    opened = dt.datetime(2026, 9, 30, 15, tzinfo=SHANGHAI)
    callback_by, fix_by = domain.rectification_deadlines(opened, SHANGHAI,
                                                         CALENDAR)
    assert callback_by == dt.datetime(2026, 10, 8, 15, tzinfo=SHANGHAI)
    assert fix_by == opened + dt.timedelta(days=15)  # calendar days
    pinned = WorkCalendar(holidays=[dt.date(2026, 10, d) for d in range(1, 8)],
                          years=[2026])
    assert domain.rectification_deadlines(opened, SHANGHAI, pinned)[0] == \
        dt.datetime(2026, 10, 8, 15, tzinfo=SHANGHAI)


def test_a_default_rating_waits_out_the_national_day_week():
    """Issued on 30 September 2026: 8 October is the first working day after
    it, 9 October the second, so 2 working days are due only from 9 October."""
    issued = dt.datetime(2026, 9, 30, 10, tzinfo=SHANGHAI)
    invitation = {"status": domain.ISSUED, "issued_at": issued}
    due = domain.default_rating_due_at(issued, 2, SHANGHAI, CALENDAR)
    assert due == dt.datetime(2026, 10, 9, 10, tzinfo=SHANGHAI)
    for now, expected in [
            (dt.datetime(2026, 10, 8, 23, tzinfo=SHANGHAI), False),
            (dt.datetime(2026, 10, 9, 9, 59, tzinfo=SHANGHAI), False),
            (dt.datetime(2026, 10, 9, 10, tzinfo=SHANGHAI), True)]:
        assert domain.default_rating_is_due(invitation, 2, now, SHANGHAI,
                                            CALENDAR) is expected, now
    used = {**invitation, "status": domain.USED}
    assert not domain.default_rating_is_due(used, 2, due, SHANGHAI, CALENDAR)
    # the store's first filter lets it through well before it is due
    assert domain.default_rating_cutoff(due, 2) >= issued
