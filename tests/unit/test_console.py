"""The console's rules and use cases: menus by role, when a session ends,
sign-in, the current session and sign-out (on a dict-backed repository),
where a sign-in may send the browser back to, and production's cookie."""

import datetime as dt

import pytest

from services.console import domain, steps
from services.console.service import safe_next
from services.console.settings import ConsoleSettings
from sifuwu import access

T0 = dt.datetime(2026, 12, 4, 9, 0, tzinfo=dt.timezone.utc)


class Sessions:
    def __init__(self):
        self.docs = {}

    def insert(self, session):
        assert session["_id"] not in self.docs
        self.docs[session["_id"]] = dict(session)

    def get(self, key):
        return self.docs.get(key)

    def touch(self, key, now):
        self.docs[key]["last_seen_at"] = now
        return self.docs[key]

    def delete(self, key):
        self.docs.pop(key, None)


ANSWER = {"token": "jwt", "expires_in": 900, "account": {
    "id": "a1", "username": "li", "role": access.UNIT_STAFF,
    "unit_id": "u1", "branch_id": None}}


def test_each_role_has_its_menu_and_operators_no_records():
    assert [i.title for i in domain.menu(access.COMMITTEE, "home")] == [
        "首页", "服务活动", "诉求办理"]
    assert domain.menu(access.COMMITTEE, "home")[0].current
    assert [i.key for i in domain.menu(access.OPERATOR)] == ["home"]
    assert not domain.may_see(access.OPERATOR, "activities")
    assert domain.menu("nobody") == []
    assert set(domain.MENUS) == set(access.ROLES)


def test_a_session_is_stored_by_the_hash_of_its_cookie():
    repo = Sessions()
    cookie, session = steps.sign_in(repo, ANSWER, T0)
    assert len(cookie) >= 40 and cookie not in repr(repo.docs)
    assert session["_id"] == domain.session_key(cookie)
    assert session["token_expires_at"] == T0 + dt.timedelta(seconds=900)
    assert session["csrf"] and session["unit_id"] == "u1"


def test_an_idle_or_expired_session_ends_and_is_removed():
    repo = Sessions()
    cookie, _ = steps.sign_in(repo, ANSWER, T0)
    later = T0 + dt.timedelta(seconds=300)
    state, session = steps.current(repo, cookie, later, idle_seconds=600)
    assert state == "active" and session["last_seen_at"] == later
    state, session = steps.current(repo, cookie, later + dt.timedelta(
        seconds=300), idle_seconds=300)
    assert (state, session) == ("idle", None) and repo.docs == {}
    cookie, _ = steps.sign_in(repo, ANSWER, T0)
    assert steps.current(repo, cookie, T0 + dt.timedelta(seconds=900),
                         idle_seconds=3600) == ("expired", None)
    assert steps.current(repo, "forged", T0, 600) == ("missing", None)
    assert steps.current(repo, None, T0, 600) == ("missing", None)


def test_sign_out_removes_the_session():
    repo = Sessions()
    cookie, _ = steps.sign_in(repo, ANSWER, T0)
    steps.sign_out(repo, cookie)
    assert repo.docs == {}


@pytest.mark.parametrize("value, target", [
    ("/activities?page=2", "/activities?page=2"), ("/", "/"),
    ("//evil.example/", "/"), ("https://evil.example", "/"),
    ("/\\evil", "/"), (None, "/"), ("", "/")])
def test_sign_in_goes_back_only_to_a_page_of_this_site(value, target):
    assert safe_next(value) == target


def test_the_home_figures_say_why_one_is_missing():
    rows = domain.figures({
        "activities": (200, {"total": 12}),
        "demands_received": (403, {"error": "role_forbidden"}),
        "demands_overdue": (503, None)})
    assert rows == [("本月服务活动", 12, "条"),
                    ("新受理的诉求", "无权查看（403）", "件"),
                    ("逾期诉求", "暂不可用（503）", "件")]


def test_production_needs_secure_cookies():
    base = {"SIFUWU_MODE": "production", "SIFUWU_SECRET": "s" * 64,
            "SIFUWU_INGEST_TOKENS": "a=" + "k" * 40,
            "SIFUWU_METRICS_TOKEN": "m" * 32,
            "SIFUWU_CONTACT_KEYS": "Qm9JbxVmSVf5m0o6dM2hp8yfa3MdpUO8hQ1cA8mbi0s=",
            "SIFUWU_FEEDBACK_BASE_URL": "https://x.example"}
    problems = ConsoleSettings.load(base, env={}).production_problems()
    assert any("SIFUWU_CONSOLE_COOKIE_SECURE" in p for p in problems)
    assert ConsoleSettings.load({**base, "SIFUWU_CONSOLE_COOKIE_SECURE":
                                 "true"}, env={}).production_problems() == []


class Renewable(Sessions):
    def update(self, key, fields):
        self.docs[key].update(fields)
        return self.docs[key]


def test_a_session_is_renewed_before_its_token_runs_out():
    repo = Renewable()
    cookie, session = steps.sign_in(repo, ANSWER, T0)
    assert not domain.needs_renewal(session, T0 + dt.timedelta(seconds=500))
    soon = T0 + dt.timedelta(seconds=700)
    assert domain.needs_renewal(session, soon)
    renewed = steps.renew(repo, session, {"token": "jwt2", "expires_in": 900},
                          soon)
    assert renewed["token"] == "jwt2"
    assert renewed["token_expires_at"] == soon + dt.timedelta(seconds=900)
    # past the first token's expiry, the renewed one keeps it going
    assert steps.current(repo, cookie, T0 + dt.timedelta(seconds=1000),
                         idle_seconds=1800)[0] == "active"


def test_times_are_shown_in_the_business_timezone():
    from zoneinfo import ZoneInfo
    shanghai = ZoneInfo("Asia/Shanghai")
    assert domain.local_time("2026-11-18T07:00:00+00:00", shanghai) == \
        "2026-11-18 15:00"
    assert domain.local_time("2026-11-18T15:00:00+08:00", shanghai) == \
        "2026-11-18 15:00"
    assert domain.local_time(None, shanghai) == "—"
    assert domain.local_time("soon", shanghai) == "soon"
