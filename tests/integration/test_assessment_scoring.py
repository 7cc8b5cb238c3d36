"""The assessment service in-process against the real broker and store:
events in through RabbitMQ → contributions and scorecards (with lineage),
redelivery and reordering, appeals and rectifications, three rates,
rankings with quotas, the branch ladder, re-scoring equal to live scoring,
exports (CSV, XLSX opened with openpyxl) and charts."""

import csv
import datetime as dt
import io
import time
import uuid

import pytest
import requests
from kombu import Connection
from kombu.pools import producers
from openpyxl import load_workbook

from services.assessment.service import AssessmentService
from sifuwu import events as ev
from sifuwu import wiring
from tests import helpers

STAFF = helpers.staff_headers()
TZ = dt.timezone(dt.timedelta(hours=8))
MONTH = "2026-11"

HANDLERS = {t: m for p, t, c, m in wiring.SUBSCRIPTIONS if c == "assessment"}


# -- helpers -----------------------------------------------------------------

def at(day, hour=10):
    return dt.datetime(2026, 11, day, hour, 0, tzinfo=TZ)


def publish_all(config, events):
    with Connection(config["AMQP_URI"]) as conn:
        with producers[conn].acquire(block=True) as producer:
            for publisher, envelope in events:
                exchange = wiring.event_exchange(publisher)
                producer.publish(envelope, exchange=exchange,
                                 routing_key=envelope["type"],
                                 serializer="json", declare=[exchange],
                                 retry=True)


# Activities and ratings leave no consumed record: their contribution,
# keyed by the event id (by the rating's id), is the record.
CONTRIBUTION_OF = {
    ev.ACTIVITY_LOGGED: lambda e: f"activity:{e['event_id']}",
    ev.PARTY_ACTIVITY_LOGGED: lambda e: f"party:{e['event_id']}",
    ev.FEEDBACK_SUBMITTED: lambda e: f"rating:{e['data']['rating_id']}",
}


def wait_consumed(db, events, timeout=60):
    wanted = {f"{HANDLERS[e['type']]}:{e['event_id']}" for _, e in events
              if e["type"] not in CONTRIBUTION_OF}
    contributions = {CONTRIBUTION_OF[e["type"]](e)
                     for _, e in events if e["type"] in CONTRIBUTION_OF}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = {d["_id"] for d in db["consumed_events"].find(
            {"_id": {"$in": sorted(wanted)}})}
        stored = {d["_id"] for d in db["contributions"].find(
            {"_id": {"$in": sorted(contributions)}}, {"_id": 1})}
        if done == wanted and stored == contributions:
            return
        time.sleep(0.2)
    raise AssertionError("not consumed: "
                         f"{sorted((wanted - done) | (contributions - stored))[:5]}")


def story(p):
    """A month of two units' work; every id carries the prefix ``p``."""
    u1, u2 = f"{p}u1", f"{p}u2"
    b1, b2, b3 = f"{p}b1", f"{p}b2", f"{p}b3"
    m1, m2, m3, m4, m5 = (f"{p}m{i}" for i in range(1, 6))
    events = []

    def add(publisher, event_type, data, when):
        events.append((publisher, ev.make_event(
            event_type, data, source=publisher, occurred_at=when,
            event_id=f"{p}{uuid.uuid4().hex[:12]}")))

    def directory(kind, entry_id, record, day=1):
        add("activity", ev.DIRECTORY_CHANGED,
            {"kind": kind, "id": entry_id, "record": record}, at(day, 8))

    directory("unit", u1, {"name": "市发改委"})
    directory("unit", u2, {"name": "市商务局"})
    directory("branch", b1, {"name": "发改委第一党支部", "unit_id": u1,
                             "secretary_id": m1})
    directory("branch", b2, {"name": "发改委第二党支部", "unit_id": u1})
    directory("branch", b3, {"name": "商务局党支部", "unit_id": u2,
                             "secretary_id": m4})
    for member, branch, unit, name in ((m1, b1, u1, "王芳"),
                                       (m2, b1, u1, "李强"),
                                       (m3, b2, u1, "赵敏"),
                                       (m4, b3, u2, "陈晨")):
        directory("member", member, {"name": name, "branch_id": branch,
                                     "unit_id": unit, "phone": "13900001111"})

    def party(kind, branch, unit, attendees, expected, day):
        add("activity", ev.PARTY_ACTIVITY_LOGGED, {
            "activity_id": uuid.uuid4().hex, "kind": kind,
            "branch_id": branch, "unit_id": unit,
            "occurred_at": at(day).isoformat(), "attendees": attendees,
            "expected": expected}, at(day))

    party("three_meetings_one_lesson", b1, u1, [m1, m2], [m1, m2], 3)
    party("theme_day", b1, u1, [m1, m2], [m1, m2], 4)
    party("study", b1, u1, [m1], [m1, m2], 5)
    party("study", b1, u1, [m1, m2], [m1, m2], 6)
    party("three_meetings_one_lesson", b2, u1, [m3], [m3, f"{p}m9"], 3)
    party("three_meetings_one_lesson", b3, u2, [m4], [m4], 3)

    def activity(member, branch, unit, day, campaign=None):
        data = {"activity_id": uuid.uuid4().hex, "category": "enterprise",
                "kind": "visit", "roles": ["server"], "member_id": member,
                "unit_id": unit, "branch_id": branch,
                "campaign_id": campaign, "recipient": {
                    "type": "enterprise", "name": "某公司", "phone": None},
                "occurred_at": at(day).isoformat()}
        add("activity", ev.ACTIVITY_LOGGED, data, at(day))
        return data

    for day in (7, 8, 9):
        activity(m1, b1, u1, day)
    activity(m1, b1, u1, 10, campaign="万人进万企")
    activity(m2, b1, u1, 7)
    activity(m3, b2, u1, 7)
    activity(m3, b2, u1, 8)
    activity(m4, b3, u2, 7)
    # m5 arrives in the directory after his activity (and without ids on it)
    activity(m5, None, None, 11)
    directory("member", m5, {"name": "周杰", "branch_id": b2,
                             "unit_id": u1}, day=12)

    def rating(member, branch, unit, value, day, rating_id=None):
        rating_id = rating_id or f"{p}r{uuid.uuid4().hex[:8]}"
        add("feedback", ev.FEEDBACK_SUBMITTED, {
            "rating_id": rating_id, "invitation_id": uuid.uuid4().hex,
            "subject_type": "activity", "subject_id": uuid.uuid4().hex,
            "member_id": member, "unit_id": unit, "branch_id": branch,
            "rating": value, "bad": value <= 2,
            "submitted_at": at(day, 15).isoformat()}, at(day, 15))
        return rating_id

    for value, day in ((5, 8), (5, 9), (4, 10)):
        rating(m1, b1, u1, value, day)
    bad = rating(m2, b1, u1, 2, 8)
    add("feedback", ev.RECTIFICATION_CLOSED, {
        "rectification_id": uuid.uuid4().hex, "rating_id": bad,
        "member_id": m2, "unit_id": u1, "status": "closed",
        "closed_at": at(12).isoformat()}, at(12))
    # the upheld appeal arrives before the rating it excludes
    appealed = f"{p}r-appealed"
    add("feedback", ev.APPEAL_DECIDED, {
        "appeal_id": uuid.uuid4().hex, "rating_id": appealed,
        "member_id": m3, "unit_id": u1, "upheld": True,
        "reason": "评价人误评"}, at(14))
    rating(m3, b2, u1, 1, 9, rating_id=appealed)
    rating(m4, b3, u2, 3, 9)

    def demand(demand_id, unit, member, status, day, on_resp, on_res):
        return {"demand_id": demand_id, "category": "enterprise",
                "owner_unit_id": unit, "member_id": member,
                "status": status, "previous_status": None,
                "raised_at": at(2).isoformat(),
                "deadlines": {"respond_by": at(3).isoformat(),
                              "resolve_by": at(20).isoformat()},
                "on_time_response": on_resp, "on_time_resolution": on_res}

    # d1: the resolution is published before the raise (reordering)
    add("activity", ev.DEMAND_STATUS_CHANGED,
        demand(f"{p}d1", u1, m1, "resolved", 6, True, True), at(6))
    add("activity", ev.DEMAND_RAISED,
        demand(f"{p}d1", u1, m1, "raised", 2, None, None), at(2))
    add("activity", ev.DEMAND_RAISED,
        demand(f"{p}d2", u1, None, "raised", 2, None, None), at(2))
    add("activity", ev.DEMAND_STATUS_CHANGED,
        demand(f"{p}d2", u1, None, "responded", 2, True, None), at(3))
    add("activity", ev.DEMAND_RAISED,
        demand(f"{p}d3", u2, m4, "raised", 2, None, None), at(2))
    add("activity", ev.DEMAND_STATUS_CHANGED,
        demand(f"{p}d3", u2, m4, "resolved", 2, False, False), at(25))

    for subject_type, subject_id, value, day in (
            ("member", m1, 92, 20), ("member", m2, 80, 20),
            ("unit", u2, 70, 20)):
        add("activity", ev.KPI_RECORDED, {
            "subject_type": subject_type, "subject_id": subject_id,
            "period": MONTH, "indicator": "重点任务完成率", "value": value},
            at(day))
    # a superseded KPI value arrives late: the newer 92 stays
    add("activity", ev.KPI_RECORDED, {
        "subject_type": "member", "subject_id": m1, "period": MONTH,
        "indicator": "重点任务完成率", "value": 10}, at(19))
    return events


def get(web_url, path, **kwargs):
    response = requests.get(web_url + path, headers=STAFF, timeout=30,
                            **kwargs)
    assert response.status_code == 200, response.text
    return response


def outbox(db, event_type):
    return helpers.emitted(db, event_type)


SCHEME_V2 = {
    "name": "2026年第四季度方案（服务对象满意度加权）",
    "effective_from": "2026-01",
    "groups": {
        "party_building": {"weight": 20, "indicators": [
            {"metric": "attendance_rate", "weight": 100,
             "points_per_unit": 100, "cap": 100}]},
        "business": {"weight": 20, "indicators": [
            {"metric": "kpi_average", "weight": 100, "points_per_unit": 1,
             "cap": 100}]},
        "four_services": {"weight": 20, "indicators": [
            {"metric": "activities", "weight": 50, "points_per_unit": 30,
             "cap": 90},
            {"metric": "on_time_rate", "weight": 50, "points_per_unit": 100,
             "cap": 100}]},
        "satisfaction": {"weight": 40, "indicators": [
            {"metric": "good_share", "weight": 100, "points_per_unit": 100,
             "cap": 100}]},
    },
    "bonuses": [],
    "deductions": [{"code": "bad", "label": "差评扣分",
                    "metric": "bad_reviews", "points_per_unit": 3,
                    "cap": 6}],
    "bands": [{"grade": "优秀", "min": 85, "max": 100},
              {"grade": "良好", "min": 70, "max": 85},
              {"grade": "一般", "min": 60, "max": 70},
              {"grade": "较差", "min": 0, "max": 60}],
    "quotas": {"优秀": 0.5},
    "three_rates": {"response": 20, "resolution": 40, "satisfaction": 40},
}


@pytest.fixture
def assessment(service_config, container_factory):
    # service_config (and its vhost) first, so the container stops before
    # the vhost is deleted at teardown
    container = container_factory(AssessmentService, service_config)
    container.start()
    yield container


@pytest.fixture
def db(mongo, service_config):
    return mongo[f"{service_config['SIFUWU_DB_PREFIX']}assessment"]


def test_combined_assessment_end_to_end(assessment, service_config, db,
                                        web_url):
    events = story("a-")
    # redelivery: the first activity and the first rating arrive twice
    first_activity = next(e for e in events
                          if e[1]["type"] == ev.ACTIVITY_LOGGED)
    first_rating = next(e for e in events
                        if e[1]["type"] == ev.FEEDBACK_SUBMITTED)
    publish_all(service_config, events + [first_activity, first_rating])
    wait_consumed(db, events)

    # -- the default scheme exists from start-up
    schemes = get(web_url, "/api/v1/schemes").json()["schemes"]
    assert [s["version"] for s in schemes] == [1]

    # -- the member card keeps the skeleton's shape, counted once
    m1 = requests.get(web_url + "/api/v1/scorecards/members/a-m1",
                      headers=STAFF, timeout=10).json()
    assert m1["activity_count"] == 4
    assert m1["rating_count"] == 3
    assert m1["average_satisfaction"] == 4.67
    kinds = sorted(c["kind"] for c in m1["periods"][0]["contributions"])
    assert kinds == ["activity"] * 4 + ["demand", "kpi"] + [
        "party_activity"] * 4 + ["rating"] * 3

    # -- a traced card: every indicator lists the events behind it
    card = get(web_url, f"/api/v1/scorecards/member/a-m1/{MONTH}").json()
    assert card["scheme_version"] == 1
    assert card["metrics"]["activities"] == 4
    assert card["metrics"]["attendance_rate"] == 1.0
    assert card["metrics"]["kpi_average"] == 92  # the older 10 is superseded
    assert card["metrics"]["on_time_rate"] == 1.0  # d1 resolved, reordered
    four = card["groups"]["four_services"]["indicators"]
    activity_sources = next(i for i in four
                            if i["metric"] == "activities")["sources"]
    sent_ids = {e["event_id"] for _, e in events
                if e["type"] == ev.ACTIVITY_LOGGED
                and e["data"]["member_id"] == "a-m1"}
    assert {s["event_ids"][0] for s in activity_sources} == sent_ids
    assert card["total"] == pytest.approx(
        sum(g["weight"] / 100 * g["score"] for g in card["groups"].values())
        + sum(i["points"] for i in card["items"]), abs=0.02)

    # -- appeals upheld exclude the rating (even when they arrive first)
    m3 = get(web_url, f"/api/v1/scorecards/member/a-m3/{MONTH}").json()
    assert m3["sums"]["rating_count"] == 0
    excluded = [c for c in m3["contributions"] if c["kind"] == "rating"]
    assert excluded[0]["excluded"] is True and excluded[0]["figures"] == {}
    # a closed rectification clears the deduction of m2's bad review
    m2 = get(web_url, f"/api/v1/scorecards/member/a-m2/{MONTH}").json()
    assert m2["sums"]["bad_count"] == 1 and m2["sums"]["rectified_count"] == 1
    assert [i["points"] for i in m2["items"]
            if i["code"] == "unrectified"] == [0]

    # -- the late directory entry attributes m5's activity to branch b2
    b2 = get(web_url, f"/api/v1/scorecards/branch/a-b2/{MONTH}").json()
    assert b2["sums"]["activity_count"] == 3  # m3 ×2 + m5
    assert b2["sums"]["meeting_expected"] == 2
    assert b2["sums"]["meeting_attended"] == 1

    # -- quarter and year cards are summed from the months
    year = get(web_url, "/api/v1/scorecards/unit/a-u1/2026").json()
    assert year["sums"]["activity_count"] == 8
    assert year["metrics"]["activities"] == pytest.approx(8 / 12, abs=1e-5)

    # -- three rates per unit per month (30/35/35)
    rates = get(web_url, f"/api/v1/rates/{MONTH}").json()
    by_unit = {e["subject_id"]: e for e in rates["entries"]}
    assert by_unit["a-u1"]["response_rate"] == 100.0  # d1, d2 on time
    assert by_unit["a-u1"]["resolution_rate"] == 50.0
    # 3 good of 4 ratings: the appealed one is excluded
    assert by_unit["a-u1"]["satisfaction_rate"] == 75.0
    assert by_unit["a-u2"]["resolution_rate"] == 100.0
    assert by_unit["a-u2"]["response_rate"] == 0.0
    assert by_unit["a-u1"]["composite"] == round(
        0.30 * 100 + 0.35 * 50 + 0.35 * 75, 2)
    assert [e["subject_id"] for e in rates["entries"]] == ["a-u1", "a-u2"]
    assert [e["rank"] for e in rates["entries"]] == [1, 2]

    # -- rankings with grades and the quota rule, published
    board = get(web_url, f"/api/v1/rankings/{MONTH}",
                params={"subject_type": "member"}).json()
    # a-m9 was expected at a meeting: on the board though not in the directory
    assert len(board["entries"]) == 6
    totals = [e["total"] for e in board["entries"]]
    assert totals == sorted(totals, reverse=True)
    assert sum(e["grade"] == "优秀" for e in board["entries"]) == 0  # 15% × 6
    assert board["entries"][0]["band_grade"] == "优秀"
    assert board["entries"][0]["demoted"] is True
    assert "并列" in board["tie_rule"]
    quarter = get(web_url, "/api/v1/rankings/2026-Q4",
                  params={"subject_type": "unit"}).json()
    assert [e["subject_id"] for e in quarter["entries"]] == ["a-u1", "a-u2"]
    assert all(e["grade"] for e in quarter["entries"])
    published = requests.post(web_url + f"/api/v1/rankings/{MONTH}/publish",
                              json={"subject_type": "three_rates"},
                              headers=STAFF, timeout=10)
    assert published.status_code == 201
    announced = outbox(db, ev.RANKING_PUBLISHED)
    assert announced[0]["data"]["subject_type"] == "three_rates"
    assert announced[0]["data"]["entries"][0]["subject_id"] == "a-u1"
    assert outbox(db, ev.SCORECARD_UPDATED)

    # -- the branch ladder: rung changes are events and on the record
    result = requests.post(web_url + f"/api/v1/ladder/{MONTH}/evaluate",
                           headers=STAFF, timeout=10).json()
    rungs = {c["branch_id"]: c["to"] for c in result["changes"]}
    assert rungs.get("a-b1") == "standardised"
    branch = get(web_url, "/api/v1/branches/a-b1").json()
    assert branch["rung"] == "standardised"
    assert branch["rung_label"] == "标准化党支部"
    assert "未达到“四服务”先进党支部" in branch["reason"]
    assert branch["history"][0]["to"] == "standardised"
    changed = [e["data"] for e in outbox(db, ev.BRANCH_RUNG_CHANGED)]
    assert {"branch_id": "a-b1", "to": "standardised"}.items() <= \
        next(c for c in changed if c["branch_id"] == "a-b1").items()
    again = requests.post(web_url + f"/api/v1/ladder/{MONTH}/evaluate",
                          headers=STAFF, timeout=10).json()
    assert again["changes"] == []  # no change, no event

    # -- exports: CSV and XLSX with a 述职评议 sheet per branch secretary
    text = get(web_url, f"/api/v1/exports/{MONTH}.csv",
               params={"subject_type": "unit"}).content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:4] == ["排名", "对象类型", "编号", "名称"]
    assert {r[3] for r in rows[1:]} == {"市发改委", "市商务局"}
    workbook = load_workbook(io.BytesIO(
        get(web_url, f"/api/v1/exports/{MONTH}.xlsx").content))
    assert {"党员考评", "党支部考评", "机关单位考评", "三率排名",
            "述职评议-发改委第一党支部"} <= set(workbook.sheetnames)
    members = workbook["党员考评"]
    assert members["A1"].value == "排名"
    exported = {members.cell(row=r, column=3).value:
                members.cell(row=r, column=9).value
                for r in range(2, members.max_row + 1)}
    assert exported["a-m1"] == card["total"]
    review = workbook["述职评议-发改委第一党支部"]
    cells = {row[0].value: row[1].value for row in review.iter_rows()
             if row[0].value}
    assert cells["党支部书记"] == "王芳"
    assert cells["支部阶梯"] == "标准化党支部"
    assert cells["书记个人总分"] == card["total"]
    rates_sheet = workbook["三率排名"]
    assert rates_sheet["C2"].value == "市发改委"
    assert rates_sheet["I2"].value == by_unit["a-u1"]["composite"]

    # -- charts: PNG and SVG; members' charts need the staff token
    png = requests.get(web_url + f"/api/v1/charts/rankings/{MONTH}.png",
                       params={"subject_type": "unit"}, timeout=30)
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    svg = get(web_url, "/api/v1/charts/trend/member/a-m1.svg",
              params={"year": "2026"})
    assert svg.headers["Content-Type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content[:500]
    assert requests.get(web_url + "/api/v1/charts/trend/member/a-m1.svg",
                        timeout=10).status_code == 401

    # -- schemes: refused with the reason, then a new version
    bad = dict(SCHEME_V2, bands=SCHEME_V2["bands"][:1] + [
        {"grade": "良好", "min": 70, "max": 88}] + SCHEME_V2["bands"][2:])
    refused = requests.post(web_url + "/api/v1/schemes", json=bad,
                            headers=STAFF, timeout=10)
    assert refused.status_code == 400
    assert refused.json()["error"] == "scheme_invalid"
    assert "重叠" in refused.json()["message"]
    created = requests.post(web_url + "/api/v1/schemes", json=SCHEME_V2,
                            headers=STAFF, timeout=10)
    assert created.status_code == 201, created.text
    assert created.json()["version"] == 2
    # v2 is in force for the month from now on: reads score under it at once
    fresh = get(web_url, f"/api/v1/scorecards/member/a-m1/{MONTH}").json()
    assert fresh["scheme_version"] == 2 and fresh["total"] != card["total"]

    # -- re-scoring the past month by replay == live scoring under v2:
    # the same story again (new ids) is scored live under v2 (in force)
    copy = story("b-")
    publish_all(service_config, copy)
    wait_consumed(db, copy)
    rescored = requests.post(web_url + f"/api/v1/periods/{MONTH}/rescore",
                             json={"version": 2}, headers=STAFF, timeout=60)
    assert rescored.status_code == 200, rescored.text
    compared = 0
    for live in db["scorecards"].find({"subject_id": {"$regex": "^b-"}}):
        replayed = db["scorecards"].find_one(
            {"_id": live["_id"].replace(":b-", ":a-")})
        assert replayed["scheme_version"] == live["scheme_version"] == 2
        for key in ("total", "grade", "groups", "base", "rank_key", "sums"):
            assert replayed[key] == live[key], (live["_id"], key)
        compared += 1
    assert compared == 6 + 3 + 2
    assert get(web_url, f"/api/v1/scorecards/member/a-m1/{MONTH}").json()[
        "total"] == fresh["total"]


def test_invalid_event_is_dead_lettered_with_the_reason(
        assessment, service_config):
    envelope = ev.make_event(ev.KPI_RECORDED, {
        "subject_type": "member", "subject_id": "m1", "period": "2026-13",
        "indicator": "x", "value": 1}, source="activity")
    publish_all(service_config, [("activity", envelope)])
    with Connection(service_config["AMQP_URI"]) as conn:
        queue = conn.SimpleQueue(wiring.DEAD_LETTER_QUEUE)
        message = queue.get(timeout=20)
        message.ack()
        queue.close()
    reason = message.headers[wiring.REJECTION_HEADER]
    assert "period" in reason and "YYYY-MM" in reason
    assert message.headers["x-entrypoint"] == "on_kpi_recorded"


def test_staff_endpoints_need_the_token_and_check_input(assessment, web_url):
    assert requests.get(web_url + "/api/v1/schemes",
                        timeout=10).status_code == 401
    response = requests.get(web_url + "/api/v1/rankings/2026-13",
                            headers=STAFF, timeout=10)
    assert response.status_code == 400
    assert "period" in response.json()["fields"]
    response = requests.post(web_url + "/api/v1/schemes", headers=STAFF,
                             json={"name": "x", "groups": {}, "bands": []},
                             timeout=10)
    assert response.status_code == 400
    assert "指标组须为且仅为" in response.json()["message"]
    assert requests.get(web_url + "/api/v1/branches/none",
                        headers=STAFF, timeout=10).status_code == 404
    response = requests.get(web_url + "/api/v1/charts/trend/unit/u1.png",
                            params={"year": "26"}, timeout=10)
    assert response.status_code == 400 and "year" in response.json()["fields"]
    response = requests.post(web_url + "/api/v1/periods/2026-11/rescore",
                             json={"version": 9}, headers=STAFF, timeout=10)
    assert response.status_code == 404
