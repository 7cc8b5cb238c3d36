"""The access policy on the real stack: every route of every service, called
by nobody, by each role (signed in at the identity service), and with an
outside system's key, answers what the policy table (``sifuwu.policy``)
says; and a unit-bound account sees only its own unit's records.

Calls that the policy lets through are sent so that they change nothing a
later test reads: record ids that do not exist, a period long past, a body
that is not valid JSON."""

import re
import secrets

import pytest
import requests

from sifuwu import access
from sifuwu.contract import http_routes
from sifuwu.policy import POLICY
from sifuwu.wiring import SERVICES
from tests.helpers import StackStaff
from tooling.contract import service_class
from tooling.login import Login, create_account

STAFF = StackStaff()
INGEST_KEY = "Bearer demo-token"  # the test stack's bootstrap key (source demo)
UNIT_A, UNIT_B = "u-matrix-a", "u-matrix-b"
BRANCH_A = "b-matrix-a1"
PAST = "1999-01"  # a period nothing is recorded in

# the callers: None is anonymous; each role signs in (unit-bound ones in
# unit A); "system" is an outside system's key
ROLE_SPECS = {
    access.COMMITTEE: {},
    access.UNIT_STAFF: {"unit_id": UNIT_A},
    access.BRANCH_SECRETARY: {"unit_id": UNIT_A, "branch_id": BRANCH_A},
    access.SUPERVISOR: {},
    access.OPERATOR: {},
    access.AUDITOR: {},
}


def routes():
    """(route name, service, HTTP method, URL rule) of every HTTP route."""
    return [(f"{name}.{attr}", name, method.strip(), entrypoint.url)
            for name in SERVICES
            for attr, entrypoint in http_routes(service_class(name))
            for method in entrypoint.method.split(",")]


def fill(rule):
    """A path for ``rule`` whose records do not exist."""
    def value(match):
        converter, _, name = match.group(1).rpartition(":")
        if converter.startswith("any("):
            return converter[4:-1].split(",")[0].strip()
        if converter == "int":
            return "999"
        if name == "period":
            return PAST
        if name in ("subject_type", "kind"):
            return "unit"
        return "matrix-none"
    return re.sub(r"<([^>]+)>", value, rule)


# what the policy check answers (sifuwu.access); a route's own refusals (a
# CSRF check, a bad link) carry other codes
REFUSALS = {"unauthorized", "invalid_token", "token_expired", "unknown_key",
            "role_forbidden", "no_policy"}


def refusal(response):
    """The policy's refusal code in ``response``, or None."""
    if response.status_code not in (401, 403):
        return None
    try:
        code = response.json().get("error")
    except ValueError:
        return None
    return code if code in REFUSALS else None


def expected(rule, caller):
    """``"open"`` (anything but 401/403), or the status the policy gives.
    (The test stack sets a scrape token, so ``/metrics`` is closed to
    anyone without it or an allowed role.)"""
    if rule.system:
        return "open" if caller == "system" else 401
    if caller == "system":  # a system key is no staff token
        return 401 if not rule.public else "bad_token"
    if caller is None:
        return "open" if rule.public else 401
    if rule.public or rule.scope_for(caller) is not None:
        return "open"
    return 403


@pytest.fixture(scope="module")
def logins(stack, urls):
    """A signed-in account per role, made by the stack's 工委 account."""
    made = {access.COMMITTEE: STAFF}
    for role, scope in ROLE_SPECS.items():
        if role == access.COMMITTEE:
            continue
        name = f"m-{role.replace('_', '-')}-{secrets.token_hex(3)}"
        password = secrets.token_urlsafe(18)
        _, totp = create_account(STAFF, urls["identity"], name, role,
                                 password, **scope)
        made[role] = Login(urls["identity"], name, password, totp)
    return made


def headers_for(caller, logins):
    if caller is None:
        return {}
    if caller == "system":
        return {"Authorization": INGEST_KEY}
    return dict(logins[caller])


@pytest.mark.timeout(600)
def test_every_route_answers_each_caller_as_the_policy_says(urls, logins):
    session = requests.Session()
    callers = [None, "system", *ROLE_SPECS]
    problems, calls = [], 0
    headers = {caller: headers_for(caller, logins) for caller in callers}
    table = routes()
    assert len(table) > 100
    for name, service, method, rule_text in table:
        rule = POLICY.rule(name)
        assert rule is not None, name
        path = fill(rule_text)
        for caller in callers:
            sent = dict(headers[caller])
            data = None
            if method in ("POST", "PUT", "PATCH", "DELETE"):
                # not valid JSON: an allowed call stops at validation
                data = b"{"
                sent["Content-Type"] = "application/x-www-form-urlencoded" \
                    if rule_text in ("/f/<token>", "/s/<token>",
                                     "/publicity/objections") \
                    else "application/json"
            response = session.request(method, urls[service] + path,
                                       data=data, headers=sent, timeout=60)
            calls += 1
            want = expected(rule, caller)
            status, code = response.status_code, refusal(response)
            if status >= 500:
                problems.append(f"{name} {caller}: {status}")
            elif want == "open":
                if code is not None:
                    problems.append(f"{name} {caller}: {status} {code}")
            elif want == "bad_token":  # a public route refuses a bad token
                if (status, code) != (401, "invalid_token"):
                    problems.append(f"{name} {caller}: {status} {code}, "
                                    "not 401 invalid_token")
            elif status != want or code is None or \
                    (want == 403 and code != "role_forbidden"):
                problems.append(f"{name} {caller}: {status} {code}, not "
                                f"{want} {response.text[:120]}")
    print(f"policy matrix: {len(table)} routes × {len(callers)} callers = "
          f"{calls} calls")
    assert not problems, "\n".join(problems)


def activity_of(unit_id, branch_id, member_id):
    return {
        "category": "grassroots", "kind": "visit", "roles": ["coordinator"],
        "member_id": member_id, "member_name": "张华", "unit_id": unit_id,
        "branch_id": branch_id, "campaign_id": "c-matrix",
        "recipient": {"id": f"r-{member_id}", "type": "community",
                      "name": "滨江社区", "phone": "13611119876"},
        "occurred_at": "2026-11-18T09:30:00+08:00",
        "summary": "走访社区，了解居民诉求。"}


def test_a_unit_account_sees_only_its_own_units_records(urls, logins):
    """Unit staff of unit A read A's activity, never B's: B's answers 404
    (existence does not leak) and lists hold none of B's rows; they may log
    an activity for their own unit only."""
    base = urls["activity"] + "/api/v1/activities"
    mine = requests.post(base, json=activity_of(UNIT_A, BRANCH_A, "m-mx-a"),
                         headers=logins[access.UNIT_STAFF], timeout=30)
    assert mine.status_code == 201, mine.text
    theirs = requests.post(base, json=activity_of(UNIT_B, "b-matrix-b1",
                                                  "m-mx-b"),
                           headers=STAFF, timeout=30)
    assert theirs.status_code == 201, theirs.text
    refused = requests.post(base, json=activity_of(UNIT_B, "b-matrix-b1",
                                                   "m-mx-c"),
                            headers=logins[access.UNIT_STAFF], timeout=30)
    assert (refused.status_code, refused.json()["error"]) == (
        403, "out_of_scope")

    unit = logins[access.UNIT_STAFF]
    own_id, other_id = mine.json()["id"], theirs.json()["id"]
    assert requests.get(f"{base}/{own_id}", headers=unit,
                        timeout=30).status_code == 200
    hidden = requests.get(f"{base}/{other_id}", headers=unit, timeout=30)
    assert hidden.status_code == 404
    assert requests.get(f"{base}/matrix-none", headers=unit,
                        timeout=30).json() == hidden.json()
    listed = requests.get(base, params={"per_page": 100}, headers=unit,
                          timeout=30).json()["items"]
    assert listed and {a["unit_id"] for a in listed} == {UNIT_A}
    assert requests.get(base, params={"unit_id": UNIT_B}, headers=unit,
                        timeout=30).json()["items"] == []
    # the committee sees both
    city = requests.get(base, params={"per_page": 100, "campaign_id":
                                      "c-matrix"}, headers=STAFF,
                        timeout=30).json()["items"]
    assert {UNIT_A, UNIT_B} <= {a["unit_id"] for a in city}
    # a branch secretary sees their branch's
    branch = requests.get(base, params={"per_page": 100},
                          headers=logins[access.BRANCH_SECRETARY],
                          timeout=30).json()["items"]
    assert branch and {a["branch_id"] for a in branch} == {BRANCH_A}


def test_a_system_key_sends_only_its_own_sources(urls):
    """The matrix's system caller, the other way round: an API client made
    by the 工委 account sends its own source (202) and is refused another
    system's (403 with the reason), on the running stack."""
    from services.activity.examples import example_envelope
    from sifuwu.events import utcnow

    made = requests.post(urls["activity"] + "/api/v1/clients", json={
        "name": "矩阵测试系统", "sources": ["matrix-sys"]}, headers=STAFF,
        timeout=30)
    assert made.status_code == 201, made.text
    key = {"Authorization": f"Bearer {made.json()['key']}"}

    def send(source):
        envelope = example_envelope("kpi.business", secrets.token_hex(4),
                                    source=source)
        envelope["event_id"] = f"{source}-{secrets.token_hex(6)}"
        envelope["occurred_at"] = utcnow().isoformat()
        return requests.post(urls["activity"] + "/api/v1/events",
                             json=envelope, headers=key, timeout=30)

    assert send("matrix-sys").status_code == 202
    refused = send("demo")
    assert (refused.status_code, refused.json()["error"]) == (
        403, "source_not_allowed")
    assert "demo" in refused.json()["message"]


def test_a_unit_account_reads_its_own_members_scorecards_only(urls, logins):
    """Scorecards, trend charts and feedback lists for unit-bound roles:
    their own unit's, 404 (or an empty list) for another unit's."""
    from services.activity.examples import example_envelope
    from sifuwu.events import utcnow
    from tests.helpers import wait_for

    members = {"m-mx-sa": (UNIT_A, BRANCH_A), "m-mx-sb": (UNIT_B, "b-mx-b1")}
    for member_id, (unit_id, branch_id) in members.items():
        envelope = example_envelope("directory.member", secrets.token_hex(3),
                                    source="demo")
        envelope["data"].update(member_id=member_id, unit_id=unit_id,
                                branch_id=branch_id, division_id=None,
                                phone=None)
        envelope["data"] = {k: v for k, v in envelope["data"].items()
                            if v is not None}
        envelope["occurred_at"] = utcnow().isoformat()
        sent = requests.post(urls["activity"] + "/api/v1/events",
                             json=envelope, headers={
                                 "Authorization": INGEST_KEY}, timeout=30)
        assert sent.status_code == 202, sent.text
    card = urls["assessment"] + "/api/v1/scorecards/members/"
    unit, branch = logins[access.UNIT_STAFF], logins[access.BRANCH_SECRETARY]
    # the directory reaches assessment over the bus
    wait_for(lambda: requests.get(card + "m-mx-sa", headers=unit,
                                  timeout=30).status_code == 200,
             timeout=60, what="the member's scorecard for its unit")
    assert requests.get(card + "m-mx-sa", headers=branch,
                        timeout=30).status_code == 200
    for who in (unit, branch):
        hidden = requests.get(card + "m-mx-sb", headers=who, timeout=30)
        assert hidden.status_code == 404, hidden.text
    assert requests.get(card + "m-mx-sb", headers=STAFF,
                        timeout=30).status_code == 200
    trend = urls["assessment"] + "/api/v1/charts/trend/member/{}.svg"
    assert requests.get(trend.format("m-mx-sa"), headers=unit,
                        timeout=30).status_code == 200
    assert requests.get(trend.format("m-mx-sb"), headers=unit,
                        timeout=30).status_code == 404
    assert requests.get(trend.format("m-mx-sa"),
                        timeout=30).status_code == 401
    # feedback's lists: the unit's own, never another unit's
    for path in ("/api/v1/rectifications", "/api/v1/appeals"):
        url = urls["feedback"] + path
        assert requests.get(url, params={"unit_id": UNIT_B}, headers=unit,
                            timeout=30).json()["items"] == []
        own = requests.get(url, headers=unit, timeout=30).json()["items"]
        assert {item["unit_id"] for item in own} <= {UNIT_A}
