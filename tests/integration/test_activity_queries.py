"""The staff query API in-process against the real store: filters, periods,
paging, campaign progress, and the store's own query plans showing every
query path served by an index."""

import uuid

import pytest
import requests

from services.activity.activities import repository as activities
from services.activity.demands import repository as demands
from services.activity.directory.repository import MEMBERS
from services.activity.storage import plan_query
from sifuwu import events as ev
from services.activity.client import post_batch
from services.activity.examples import example_envelope
from services.activity.service import ActivityService
from tests.helpers import TEST_JWKS, staff_headers
from tooling.stack import free_port

SYSTEM = "partymembers"
TOKEN = "party-token"
STAFF = staff_headers()


@pytest.fixture(scope="module")
def world(infra, mongo):
    """One service and one small directory with activities and demands."""
    from nameko.containers import ServiceContainer
    vhost = f"t-act-q-{uuid.uuid4().hex[:6]}"
    infra.rabbitmqctl("add_vhost", vhost)
    infra.rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*",
                      ".*")
    config = {
        "AMQP_URI": f"pyamqp://guest:guest@127.0.0.1:{infra.ports.amqp}/{vhost}",
        "MONGO_URI": infra.mongo_uri,
        "WEB_SERVER_ADDRESS": f"127.0.0.1:{free_port()}",
        "SIFUWU_DB_PREFIX": f"i{uuid.uuid4().hex[:8]}_",
        "SIFUWU_SECRET": "test-secret",
        "SIFUWU_JWKS": TEST_JWKS,
        "SIFUWU_INGEST_TOKENS": f"{SYSTEM}={TOKEN}",
        "max_workers": 10,
    }
    container = ServiceContainer(ActivityService, config)
    container.start()
    url = "http://" + config["WEB_SERVER_ADDRESS"]
    t = uuid.uuid4().hex[:6]
    n = 0

    def env(event_type, data):
        nonlocal n
        n += 1
        return example_envelope(event_type, t, source=SYSTEM, data=data,
                                event_id=f"q-{t}-{n}")

    events = [
        env("directory.unit", {"unit_id": "u1", "name": "市发改委"}),
        env("directory.unit", {"unit_id": "u2", "name": "市住建局"}),
        env("directory.branch", {"branch_id": "b1", "unit_id": "u1",
                                 "name": "第一党支部"}),
        env("directory.branch", {"branch_id": "b2", "unit_id": "u2",
                                 "name": "机关党支部"}),
    ]
    for member, unit, branch in (("m1", "u1", "b1"), ("m2", "u1", "b1"),
                                 ("m3", "u2", "b2")):
        events.append(env("directory.member", {
            "member_id": member, "name": f"党员{member}", "unit_id": unit,
            "branch_id": branch}))
    plan = [("a1", "m1", "enterprise", "visit", "2026-11-02T10:00:00+08:00"),
            ("a2", "m1", "enterprise", "survey", "2026-11-09T10:00:00+08:00"),
            ("a3", "m2", "enterprise", "visit", "2026-11-10T10:00:00+08:00"),
            ("a4", "m3", "masses", "errand", "2026-11-12T10:00:00+08:00"),
            ("a5", "m3", "project", "coordination",
             "2026-10-20T10:00:00+08:00")]
    for activity_id, member, category, kind, when in plan:
        events.append(env("activity.service", {
            "activity_id": activity_id, "category": category, "kind": kind,
            "member_id": member, "campaign_id": "c1" if when > "2026-11" else None,
            "recipient": {"type": "enterprise", "name": "某企业"},
            "occurred_at": when}))
    events.append(env("activity.party", {
        "activity_id": "p1", "kind": "theme_day", "title": "主题党日",
        "branch_id": "b1", "occurred_at": "2026-11-05T15:00:00+08:00",
        "attendees": ["m1", "m2"]}))
    for demand_id, unit, category, member in (
            ("d1", "u1", "enterprise", "m1"), ("d2", "u1", "masses", None),
            ("d3", "u2", "masses", None)):
        events.append(env("demand.raised", {
            "demand_id": demand_id, "category": category, "title": "诉求",
            "owner_unit_id": unit, "member_id": member,
            "raised_at": "2026-11-20T09:00:00+08:00"}))
    events.append(env("demand.updated", {"demand_id": "d2",
                                         "action": "respond"}))
    answer = post_batch(url, TOKEN, events)
    assert answer.json()["accepted"] == len(events), answer.text
    yield {"url": url, "db": mongo[config["SIFUWU_DB_PREFIX"] + "activity"]}
    container.stop()
    infra.rabbitmqctl("delete_vhost", vhost, check=False)


def get(world, path, **params):
    return requests.get(world["url"] + path, params=params, headers=STAFF,
                        timeout=10)


def ids(response):
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_activities_by_every_filter_newest_first(world):
    assert ids(get(world, "/api/v1/activities", member_id="m1")) == [
        "a2", "p1", "a1"]
    assert ids(get(world, "/api/v1/activities", unit_id="u2")) == ["a4", "a5"]
    assert ids(get(world, "/api/v1/activities", branch_id="b1")) == [
        "a3", "a2", "p1", "a1"]
    assert ids(get(world, "/api/v1/activities", category="enterprise")) == [
        "a3", "a2", "a1"]
    assert ids(get(world, "/api/v1/activities", campaign_id="c1")) == [
        "a4", "a3", "a2", "a1"]
    assert ids(get(world, "/api/v1/activities", type="party")) == ["p1"]
    assert ids(get(world, "/api/v1/activities", unit_id="u1",
                   category="enterprise", **{"from": "2026-11-05T00:00:00+08:00",
                                             "to": "2026-11-10T00:00:00+08:00"})
               ) == ["a2"]
    one = get(world, "/api/v1/activities/a1").json()
    assert (one["id"], one["member_name"], one["type"]) == ("a1", "党员m1",
                                                            "service")
    assert requests.get(world["url"] + "/api/v1/activities/a1",
                        timeout=5).status_code == 401
    assert get(world, "/api/v1/activities/nope").status_code == 404
    party = get(world, "/api/v1/activities", type="party").json()["items"][0]
    assert party["attendees"] == ["m1", "m2"] and party["unit_id"] == "u1"


def test_paging(world):
    first = get(world, "/api/v1/activities", per_page=2, page=1).json()
    second = get(world, "/api/v1/activities", per_page=2, page=2).json()
    assert first["total"] == second["total"] == 6
    assert len(first["items"]) == len(second["items"]) == 2
    assert not {i["id"] for i in first["items"]} & {
        i["id"] for i in second["items"]}


def test_demands_by_every_filter(world):
    assert sorted(ids(get(world, "/api/v1/demands", unit_id="u1"))) == [
        "d1", "d2"]
    assert ids(get(world, "/api/v1/demands", status="responded")) == ["d2"]
    assert ids(get(world, "/api/v1/demands", member_id="m1")) == ["d1"]
    assert ids(get(world, "/api/v1/demands", branch_id="b1")) == ["d1"]
    assert sorted(ids(get(world, "/api/v1/demands", category="masses"))) == [
        "d2", "d3"]
    assert ids(get(world, "/api/v1/demands", overdue="true")) == []
    assert ids(get(world, "/api/v1/demands",
                   **{"to": "2026-11-01T00:00:00+08:00"})) == []


def test_bad_queries_are_refused(world):
    assert requests.get(world["url"] + "/api/v1/activities",
                        timeout=5).status_code == 401
    bad = get(world, "/api/v1/demands", status="lost", per_page=1000)
    assert bad.status_code == 400
    assert set(bad.json()["fields"]) == {"status", "per_page"}
    assert get(world, "/api/v1/activities", nosuch="1").status_code == 400
    repeated = requests.get(world["url"] + "/api/v1/activities?unit_id=u1"
                            "&unit_id=u2", headers=STAFF, timeout=5)
    assert repeated.status_code == 400


def test_campaign_progress_against_its_target(world):
    campaign = {"campaign_id": "c1", "title": "万人进万企",
                "starts_on": "2026-11-01", "ends_on": "2026-12-31",
                "unit_ids": ["u1", "u2"],
                "target": {"per_member": 2, "category": "enterprise"}}
    created = requests.post(world["url"] + "/api/v1/campaigns", json=campaign,
                            headers=STAFF, timeout=5)
    assert created.status_code == 201
    again = requests.post(world["url"] + "/api/v1/campaigns", json=campaign,
                          headers=STAFF, timeout=5)
    assert again.status_code == 409
    body = get(world, "/api/v1/campaigns/c1").json()
    progress = body["progress"]
    assert progress["activities"] == 3       # the enterprise visits only
    assert (progress["members"], progress["members_met"]) == (3, 1)
    assert progress["units"][0] == {"unit_id": "u1", "members": 2,
                                    "members_met": 1, "activities": 3}
    assert [c["id"] for c in get(world, "/api/v1/campaigns").json()[
        "items"]] == ["c1"]
    assert get(world, "/api/v1/campaigns/nope").status_code == 404


def plan_stages(plan):
    stages = [plan.get("stage")]
    for key in ("inputStage", "queryPlan"):
        if key in plan:
            stages += plan_stages(plan[key])
    for child in plan.get("inputStages", []):
        stages += plan_stages(child)
    return stages


def winning(col, store_filter, order_field=None):
    cursor = col.find(store_filter)
    if order_field:
        cursor = cursor.sort(order_field, -1)
    return plan_stages(cursor.explain()["queryPlanner"]["winningPlan"])


def test_every_query_path_uses_an_index(world):
    """Every filter, alone, with the period, and combined, reaches the store
    as an index scan (the store's own plan says so)."""
    db = world["db"]
    now = ev.utcnow()
    period = {"since": now, "until": now}
    cases = (
        (activities.ACTIVITIES, activities.activity_filter, "occurred_at",
         activities.ACTIVITY_FILTERS, activities.ACTIVITY_PRIORITY),
        (demands.DEMANDS, demands.demand_filter, "raised_at",
         demands.DEMAND_FILTERS, demands.DEMAND_PRIORITY))
    for collection, to_filter, order, names, priority in cases:
        queries = [period, {"since": now}]
        for name in names:
            single = {name: True if name == "overdue" else "x"}
            queries += [single, dict(single, **period)]
        everything = {n: True if n == "overdue" else "x" for n in names}
        queries += [everything, dict(everything, **period)]
        for query in queries:
            store, _ = plan_query(to_filter(query), priority, order)
            stages = winning(db[collection], store, order)
            assert "IXSCAN" in stages and "COLLSCAN" not in stages, (
                collection, query, stages)
    for collection, store in (
            (demands.DEMANDS, {"next_escalation_at": {"$lte": now}}),
            (activities.ACTIVITIES, {"member_id": "m", "member_linked": False}),
            (MEMBERS, {"unit_id": "u1"}),
            (MEMBERS, {"branch_id": "b1"}),
            (demands.PENDING_UPDATES, {"demand_id": "d"})):
        assert "IXSCAN" in winning(db[collection], store), (collection, store)
