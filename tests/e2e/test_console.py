"""The staff console on the real stack, as a browser would use it (cookies,
forms, redirects): sign-in with the form token, the session cookie's flags,
each role's home page and menu, unit scoping carried through to the pages,
and sign-out."""

import re
import secrets

import pyotp
import pytest
import requests

from sifuwu import access
from tests.helpers import StackStaff
from tooling.login import create_account

STAFF = StackStaff()
UNIT_A, UNIT_B = "u-console-a", "u-console-b"


def form_token(page):
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def sign_in(url, username, password, totp=None, next_page="/"):
    """A browser session signed in through the console's form."""
    browser = requests.Session()
    page = browser.get(url + "/login", params={"next": next_page}, timeout=30)
    assert page.status_code == 200 and "登录" in page.text
    form = {"username": username, "password": password,
            "csrf": form_token(page), "next": next_page}
    if totp:
        form["totp"] = pyotp.TOTP(totp).now()
    answer = browser.post(url + "/login", data=form, allow_redirects=False,
                          timeout=30)
    return browser, answer


@pytest.fixture(scope="module")
def accounts(urls):
    """One account per role, made by the stack's 工委 account."""
    made = {}
    for role, scope in [(access.COMMITTEE, {}),
                        (access.UNIT_STAFF, {"unit_id": UNIT_A}),
                        (access.OPERATOR, {}), (access.AUDITOR, {})]:
        name = f"c-{role.replace('_', '-')}-{secrets.token_hex(3)}"
        password = secrets.token_urlsafe(18)
        _, totp = create_account(STAFF, urls["identity"], name, role,
                                 password, **scope)
        made[role] = (name, password, totp)
    return made


def test_a_page_without_a_session_goes_to_sign_in(urls):
    answer = requests.get(urls["console"] + "/activities?page=2",
                          allow_redirects=False, timeout=30)
    assert answer.status_code == 303
    assert answer.headers["Location"].startswith(
        "/login?next=/activities?page=2")


def test_the_form_needs_its_token_and_says_what_is_wrong(urls, accounts):
    url = urls["console"]
    # an account of its own: a failed sign-in makes the next one wait
    name, password, _ = accounts[access.AUDITOR]
    forged = requests.post(url + "/login", data={
        "username": name, "password": password, "csrf": "x"}, timeout=30)
    assert forged.status_code == 403 and "页面已过期" in forged.text
    _, wrong = sign_in(url, name, "not-the-password-at-all")
    assert wrong.status_code == 401 and "用户名或密码错误" in wrong.text
    assert 'value="' + name + '"' in wrong.text  # the name stays filled in
    assert "sfw_console=" not in wrong.headers.get("Set-Cookie", "")


def test_a_committee_account_signs_in_and_sees_the_city(urls, accounts):
    url = urls["console"]
    browser, answer = sign_in(url, *accounts[access.COMMITTEE])
    assert answer.status_code == 303 and answer.headers["Location"] == "/"
    cookie = answer.headers["Set-Cookie"]
    assert "sfw_console=" in cookie and "HttpOnly" in cookie and \
        "SameSite=Strict" in cookie
    home = browser.get(url + "/", timeout=30)
    assert home.status_code == 200
    for text in ("本月服务活动", "逾期诉求", "单位综合考评排名", "服务活动",
                 "诉求办理", "工委"):
        assert text in home.text, text
    assert home.headers["Content-Security-Policy"].startswith(
        "default-src 'none'")
    # sign-out ends the session: the same cookie no longer opens a page
    csrf = form_token(home)
    out = browser.post(url + "/logout", data={"csrf": csrf},
                       allow_redirects=False, timeout=30)
    assert out.status_code == 303
    again = requests.get(url + "/", cookies={
        "sfw_console": re.search(r"sfw_console=([^;]+)", cookie).group(1)},
        allow_redirects=False, timeout=30)
    assert again.status_code == 303


def test_a_unit_account_sees_only_its_units_activities(urls, accounts):
    for unit_id, member in ((UNIT_A, "m-con-a"), (UNIT_B, "m-con-b")):
        logged = requests.post(urls["activity"] + "/api/v1/activities", json={
            "category": "masses", "kind": "visit", "roles": ["coordinator"],
            "member_id": member, "member_name": "周敏", "unit_id": unit_id,
            "branch_id": f"b-{unit_id}", "campaign_id": "c-console",
            "recipient": {"id": f"r-{member}", "type": "citizen",
                          "name": "居民"},
            "occurred_at": "2026-11-19T10:00:00+08:00",
            "summary": f"{unit_id} 入户走访"}, headers=STAFF, timeout=30)
        assert logged.status_code == 201, logged.text
    url = urls["console"]
    browser, answer = sign_in(url, *accounts[access.UNIT_STAFF][:2],
                              next_page="/activities")
    assert answer.headers["Location"] == "/activities"
    page = browser.get(url + "/activities", timeout=30)
    assert page.status_code == 200
    assert f"{UNIT_A} 入户走访" in page.text
    assert UNIT_B not in page.text
    assert f"单位党务干部（{UNIT_A}）" in page.text


def test_an_operator_sees_health_and_no_records(urls, accounts):
    url = urls["console"]
    browser, answer = sign_in(url, *accounts[access.OPERATOR])
    assert answer.status_code == 303
    home = browser.get(url + "/", timeout=30)
    assert "服务健康" in home.text and "服务活动" not in home.text
    refused = browser.get(url + "/activities", timeout=30)
    assert refused.status_code == 403 and "无权访问" in refused.text


def raise_demand(urls, demand_id, unit_id):
    from services.activity.examples import example_envelope
    from sifuwu.events import utcnow
    envelope = example_envelope("demand.raised", secrets.token_hex(3),
                                source="demo")
    envelope["data"].update(demand_id=demand_id, owner_unit_id=unit_id,
                            title=f"{unit_id} 路灯损坏")
    envelope["event_id"] = f"demo-{demand_id}"
    envelope["occurred_at"] = utcnow().isoformat()
    sent = requests.post(urls["activity"] + "/api/v1/events", json=envelope,
                         headers={"Authorization": "Bearer demo-token"},
                         timeout=30)
    assert sent.status_code == 202, sent.text


def test_a_unit_account_handles_its_units_demand(urls, accounts):
    from tests.helpers import wait_for
    mine, theirs = (f"d-con-{secrets.token_hex(3)}" for _ in range(2))
    raise_demand(urls, mine, UNIT_A)
    raise_demand(urls, theirs, UNIT_B)
    url = urls["console"]
    browser, _ = sign_in(url, *accounts[access.UNIT_STAFF][:2])
    page = wait_for(lambda: (lambda p: p if f"{UNIT_A} 路灯损坏" in p.text
                             else None)(browser.get(url + "/demands",
                                                    timeout=30)),
                    timeout=60, what="the unit's demand on the page")
    assert f"{UNIT_B} 路灯损坏" not in page.text
    assert f'action="/demands/{mine}/act"' in page.text
    forged = browser.post(f"{url}/demands/{mine}/act", data={
        "action": "respond", "csrf": "x"}, timeout=30)
    assert forged.status_code == 403
    done = browser.post(f"{url}/demands/{mine}/act", data={
        "action": "respond", "note": "已联系市民，明日现场查看。",
        "csrf": form_token(page)}, allow_redirects=False, timeout=30)
    assert (done.status_code, done.headers["Location"]) == (
        303, "/demands?done=respond")
    assert "已响应" in browser.get(url + done.headers["Location"],
                                  timeout=30).text
    demand = requests.get(f"{urls['activity']}/api/v1/demands/{mine}",
                          headers=STAFF, timeout=30).json()
    assert demand["status"] == "responded"
    assert demand["history"][-1]["by"].endswith("@unit_staff")
    # another unit's demand cannot be handled by typing its address
    refused = browser.post(f"{url}/demands/{theirs}/act", data={
        "action": "respond", "csrf": form_token(page)}, timeout=30)
    assert refused.status_code == 404 and "办理未成功" in refused.text


def test_a_form_sent_after_the_session_ended_goes_back_to_its_page(urls):
    answer = requests.post(urls["console"] + "/demands/d-x/act",
                           data={"action": "respond", "csrf": "x"},
                           allow_redirects=False, timeout=30)
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/login?next=/demands"
