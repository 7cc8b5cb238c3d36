"""A whole open selection (开门评选) through the HTTP interface of an
in-process service against the real broker and store: plan, nominations,
recommendations and objections from the feedback portal (real events),
pool, commitment, invalidation, draw, replacement, reveal, the re-computation
script, judges' scoring, aggregation, publicity across the National Day
holiday, objections, the final list, and the audit chain with tampering."""

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from kombu import Connection, Queue
from nameko.standalone.events import event_dispatcher

from services.assessment.selection.entrypoints import SelectionEntrypoints
from services.assessment.selection.repository import (
    AUDIT, EVALUATORS, SELECTION_INDEXES,
)
from sifuwu import events as ev
from sifuwu import wiring
from sifuwu.service import ServiceBase
from tests.helpers import staff_headers, wait_for

ROOT = Path(__file__).resolve().parents[2]
STAFF = staff_headers()


class SelectionTestService(SelectionEntrypoints, ServiceBase):
    name = "assessment"
    indexes = SELECTION_INDEXES


def at(year, month, day, hour=10):
    """Config with the service clock set to a Beijing local time."""
    target = dt.datetime(year, month, day, hour,
                         tzinfo=dt.timezone(dt.timedelta(hours=8)))
    return (target - dt.datetime.now(dt.timezone.utc)).total_seconds()




class EventTap:
    """A queue bound to the assessment service's event exchange."""

    def __init__(self, amqp_uri):
        self.conn = Connection(amqp_uri)
        self.queue = Queue(f"tap-{uuid.uuid4().hex[:8]}",
                           exchange=wiring.event_exchange("assessment"),
                           routing_key="#", exclusive=True)
        self.queue(self.conn.default_channel).declare()
        self.seen = []

    def drain(self):
        bound = self.queue(self.conn.default_channel)
        while True:
            message = bound.get(no_ack=True)
            if message is None:
                return self.seen
            self.seen.append(json.loads(message.body))

    def of(self, event_type, timeout=10):
        return wait_for(lambda: [e for e in self.drain()
                                 if e["type"] == event_type],
                        timeout, event_type)

    def close(self):
        self.conn.release()


def feedback_event(config, event_type, data):
    dispatch = event_dispatcher(config)
    dispatch("feedback", event_type,
             ev.make_event(event_type, data, source="feedback"))


PLAN = {
    "title": "2026年度“四服务”先进党支部和优秀党员评选",
    "period": "2026",
    "scope": "市直机关各党支部、党员",
    "criteria": "党建与业务融合，服务对象满意",
    "procedure": "推荐、资格审核、随机组成评选组现场评选、公示、确定",
    "awards": [
        {"award": "four_services_branch", "quota": 2, "candidate_count": 3},
        {"award": "excellent_member", "quota": 1, "candidate_count": 2},
    ],
    "panel": {"strata": {"expert": 2, "recipient": 3}},
    "weights": {"panel": 0.7, "scorecard": 0.3},
    "trim": 1,
    "publicity_days": 5,
    "promote_next": True,
}

BRANCHES = [("b-fgw", "发改委第一党支部", "u-fgw", "市发改委", 90),
            ("b-sw", "商务局机关党支部", "u-sw", "市商务局", 80),
            ("b-zj", "住建局第二党支部", "u-zj", "市住建局", 70)]
MEMBERS = [("m-li", "李明", "u-fgw", "市发改委", 85),
           ("m-wang", "王芳", "u-sw", "市商务局", 75)]


def pool():
    people = [{"evaluator_id": f"exp{i}", "name": f"专家{i}",
               "category": "expert", "unit_id": unit}
              for i, unit in enumerate(["uni-a", "uni-b", "u-fgw", "uni-c"])]
    people += [{"evaluator_id": f"rec{i}", "name": f"群众代表{i}",
                "category": "recipient", "unit_id": f"ent{i}",
                "relations": ["b-zj"] if i == 0 else [],
                "phone": f"1380000{i:04d}"} for i in range(6)]
    return people


def post(url, body=None, **kw):
    return requests.post(url, json=body if body is not None else {},
                         headers=STAFF, timeout=10, **kw)


@pytest.fixture
def tap(service_config):
    tap = EventTap(service_config["AMQP_URI"])
    yield tap
    tap.close()


def test_whole_campaign(container_factory, service_config, web_url, mongo,
                        tap, tmp_path):
    db = mongo[service_config["SIFUWU_DB_PREFIX"] + "assessment"]
    first = container_factory(SelectionTestService, dict(
        service_config, SIFUWU_CLOCK_OFFSET_SECONDS=at(2026, 9, 30)))
    first.start()
    api = web_url + "/api/v1/selections"

    # -- the plan ---------------------------------------------------------------
    refused = post(api, dict(PLAN, awards=[
        {"award": "four_services_branch", "quota": 3,
         "candidate_count": 3}]))
    assert refused.status_code == 422
    assert refused.json()["error"] == "not_differential"
    assert requests.post(api, json=PLAN, timeout=10).status_code == 401
    created = post(api, PLAN)
    assert created.status_code == 201, created.text
    cid = created.json()["campaign_id"]
    published = tap.of(ev.SELECTION_PUBLISHED)[0]
    assert published["data"]["campaign_id"] == cid
    assert [a["title"] for a in published["data"]["awards"]] == [
        "“四服务”先进党支部", "优秀党员"]

    # -- nominations, one refused by the 互置 rule -----------------------------
    for candidate_id, name, unit, unit_name, score in BRANCHES:
        r = post(f"{api}/{cid}/nominations", {
            "candidate_id": candidate_id, "candidate_type": "branch",
            "name": name, "unit_id": unit, "unit_name": unit_name,
            "award": "four_services_branch", "scorecard_score": score,
            "facts": {"party_building_met": True}})
        assert r.status_code == 201, r.text
    refused = post(f"{api}/{cid}/nominations", {
        "candidate_id": "m-zhao", "candidate_type": "member", "name": "赵强",
        "unit_id": "u-zj", "award": "excellent_member",
        "scorecard_score": 99, "facts": {"party_building_met": True}})
    assert refused.status_code == 422
    assert refused.json()["fields"]["rules"] == [
        "party_building_requires_four_services"]
    assert "互置" in refused.json()["message"]
    for candidate_id, name, unit, unit_name, score in MEMBERS:
        r = post(f"{api}/{cid}/nominations", {
            "candidate_id": candidate_id, "candidate_type": "member",
            "name": name, "unit_id": unit, "unit_name": unit_name,
            "award": "excellent_member", "scorecard_score": score,
            "source": "recipient",
            "facts": {"party_building_met": True,
                      "four_services_award": True}})
        assert r.status_code == 201, r.text
    # Nominations (names and scores) are not public before publicity.
    anonymous = requests.get(f"{api}/{cid}/nominations", timeout=10)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "unauthorized"
    assert "李明" not in anonymous.text
    bogus = requests.get(f"{api}/{cid}/nominations", timeout=10,
                         headers={"Authorization": "Bearer x"})
    assert bogus.status_code == 401
    listed = requests.get(f"{api}/{cid}/nominations", headers=STAFF,
                          timeout=10)
    assert listed.status_code == 200
    assert {n["candidate_id"] for n in listed.json()["nominations"]} >= {
        "b-fgw", "m-li"}

    # A recipient's recommendation through the feedback portal.
    feedback_event(service_config, ev.RECOMMENDATION_SUBMITTED, {
        "recommendation_id": "rec-1", "campaign_id": cid,
        "candidate_type": "member", "candidate_id": "m-wang",
        "reason": "帮企业跑通审批，热情负责"})
    recs = wait_for(lambda: requests.get(
        f"{api}/{cid}/recommendations", headers=STAFF,
        timeout=10).json()["recommendations"], what="recommendation")
    assert recs[0]["candidate_id"] == "m-wang"

    # -- pool and commitment; a pool change invalidates it --------------------
    r = post(f"{api}/{cid}/evaluators", {"evaluators": pool()})
    assert r.status_code == 200 and r.json()["size"] == 10
    stored = db[EVALUATORS].find_one({"evaluator_id": "rec1"})
    assert stored["phone"] and "13800000001" not in stored["phone"]
    commit = post(f"{api}/{cid}/commitment")
    assert commit.status_code == 201, commit.text
    assert "seed" not in commit.json() and len(commit.json()["hash"]) == 64
    r = post(f"{api}/{cid}/evaluators", {"evaluators": [
        {"evaluator_id": "exp9", "name": "专家9", "category": "expert",
         "unit_id": "uni-z"}]})
    assert r.status_code == 200
    state = requests.get(f"{api}/{cid}", timeout=10).json()
    assert state["status"] == "published" and state["commitment"] is None
    assert post(f"{api}/{cid}/draw").json()["error"] == "wrong_status"
    # Changed behind the service's back (directly in the store): refused.
    commit = post(f"{api}/{cid}/commitment").json()
    db[EVALUATORS].update_one({"evaluator_id": "exp9"},
                              {"$set": {"unit_id": "u-sw"}})
    r = post(f"{api}/{cid}/draw")
    assert r.status_code == 409 and r.json()["error"] == "pool_changed"
    assert requests.get(f"{api}/{cid}", timeout=10).json()[
        "status"] == "published"
    commit = post(f"{api}/{cid}/commitment").json()

    # -- draw, replacement, reveal, re-computation -----------------------------
    # links come from the configured base URL, never the Host header
    drawn = requests.post(f"{api}/{cid}/draw", json={}, timeout=10,
                          headers=dict(STAFF, Host="evil.example"))
    assert drawn.status_code == 201, drawn.text
    panel = drawn.json()["panel"]
    links = [p["judge_url"] for p in panel if p.get("judge_url")]
    assert links and all(link.startswith(web_url + "/s/") for link in links)
    assert "evil.example" not in drawn.text
    assert sorted(p["category"] for p in panel) == [
        "expert", "expert", "recipient", "recipient", "recipient"]
    ids = {p["evaluator_id"] for p in panel}
    assert not ids & {"exp2", "exp9", "rec0"}   # own unit, relation
    assert drawn.json()["excluded"] == {"exp2": "same_unit",
                                        "exp9": "same_unit",
                                        "rec0": "declared_relation"}
    assert requests.get(f"{api}/{cid}/draw/export", timeout=10).json()[
        "error"] == "seed_not_revealed"
    absent = next(p for p in panel if p["category"] == "recipient")
    sub = post(f"{api}/{cid}/panel/{absent['evaluator_id']}/absent")
    assert sub.status_code == 201, sub.text
    assert sub.json()["category"] == "recipient"
    revealed = post(f"{api}/{cid}/reveal").json()
    assert revealed["commitment"] == commit["hash"]
    export = requests.get(f"{api}/{cid}/draw/export", timeout=10).json()
    assert export["seed"] == revealed["seed"]
    path = tmp_path / "draw.json"
    path.write_text(json.dumps(export, ensure_ascii=False), encoding="utf-8")
    check = subprocess.run(
        [sys.executable, "-I", str(ROOT / "scripts" / "verify_panel.py"),
         str(path)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "复核通过" in check.stdout
    assert [p["evaluator_id"] for p in export["panel"]] == [
        p["evaluator_id"] for p in panel]
    assert f"{absent['evaluator_id']} → {sub.json()['evaluator_id']}" in \
        check.stdout

    # -- judges score on their phones ------------------------------------------
    judges = requests.get(f"{api}/{cid}/panel", headers=STAFF,
                          timeout=10).json()["panel"]
    seated = [j for j in judges if j["status"] == "seated"]
    assert len(seated) == 5 and all("judge_url" in j for j in seated)
    gone = requests.get(absent["judge_url"], timeout=10)
    assert gone.status_code == 403 and "已由他人递补" in gone.text
    forged = requests.get(seated[0]["judge_url"] + "x", timeout=10)
    assert forged.status_code == 404 and "评分链接无效" in forged.text

    candidates = [c[0] for c in BRANCHES + MEMBERS]
    # Judge scores: b-fgw is clearly first, then b-sw, b-zj; m-li over m-wang.
    base = {"b-fgw": 92, "b-sw": 85, "b-zj": 70, "m-li": 88, "m-wang": 80}
    page = requests.get(seated[0]["judge_url"], timeout=10)
    assert page.status_code == 200
    assert "发改委第一党支部" in page.text and 'lang="zh-CN"' in page.text
    assert "viewport" in page.text
    form = {f"score_{c}": str(base[c] + 1) for c in candidates}
    done = requests.post(seated[0]["judge_url"], data=form, timeout=10)
    assert done.status_code == 200 and "评分已提交" in done.text
    again = requests.post(seated[0]["judge_url"], data={"score_b-fgw": "10"},
                          timeout=10)
    assert again.status_code == 409 and "只能评分一次" in again.text

    early = post(f"{api}/{cid}/aggregate")
    assert early.status_code == 409
    assert early.json()["error"] == "scores_missing"
    def submit(judge, delta):
        token = judge["judge_url"].rsplit("/", 1)[1]
        return requests.post(f"{web_url}/api/v1/judge/{token}/scores", json={
            "scores": [{"candidate_id": c, "score": base[c] + delta}
                       for c in candidates]}, timeout=20)
    # Four judges at once: the audit chain stays one line.
    with ThreadPoolExecutor(4) as pool_:
        answers = list(pool_.map(submit, seated[1:], [-1, 0, 2, -3]))
    assert [r.status_code for r in answers] == [201] * 4, [
        r.text for r in answers]
    token = seated[1]["judge_url"].rsplit("/", 1)[1]
    dup = requests.post(f"{web_url}/api/v1/judge/{token}/scores", json={
        "scores": [{"candidate_id": "b-sw", "score": 1}]}, timeout=10)
    assert dup.status_code == 409 and dup.json()["error"] == "already_scored"

    # -- aggregation and publicity across the National Day holiday ----------
    ranking = post(f"{api}/{cid}/aggregate").json()["ranking"]
    by_id = {r["candidate_id"]: r for r in ranking}
    assert by_id["b-fgw"]["panel_score"] == 92.0     # trimmed mean
    assert by_id["b-fgw"]["score"] == round(0.7 * 92 + 0.3 * 90, 2)
    assert [r["candidate_id"] for r in ranking if r["proposed"]] == [
        "b-fgw", "b-sw", "m-li"]
    publicity = post(f"{api}/{cid}/publicity")
    assert publicity.status_code == 201, publicity.text
    assert (publicity.json()["starts_on"], publicity.json()["ends_on"]) == (
        "2026-09-30", "2026-10-12")
    opened = tap.of(ev.PUBLICITY_OPENED)[0]["data"]
    assert opened["ends_on"] == "2026-10-12"
    assert [c["candidate_id"] for c in opened["candidates"]] == [
        "b-fgw", "b-sw", "m-li"]
    assert opened["candidates"][0]["award"] == "“四服务”先进党支部"

    # Objections from the feedback portal.
    feedback_event(service_config, ev.OBJECTION_FILED, {
        "objection_id": "obj-1", "campaign_id": cid,
        "candidate_id": "b-fgw", "reason": "材料中服务企业数量不实"})
    feedback_event(service_config, ev.OBJECTION_FILED, {
        "objection_id": "obj-2", "campaign_id": cid,
        "candidate_id": "m-li", "reason": "对评选结果有疑问"})
    wait_for(lambda: len(requests.get(
        f"{api}/{cid}/objections", headers=STAFF,
        timeout=10).json()["objections"]) == 2, what="objections")
    early = post(f"{api}/{cid}/finalise")
    assert early.status_code == 409
    assert early.json()["error"] == "publicity_running"
    first.stop()

    # -- after the publicity period: answers and the final list -------------
    second = container_factory(SelectionTestService, dict(
        service_config, SIFUWU_CLOCK_OFFSET_SECONDS=at(2026, 10, 13)))
    second.start()
    blocked = post(f"{api}/{cid}/finalise")
    assert blocked.status_code == 409
    assert blocked.json()["error"] == "objections_open"
    answered = post(f"{api}/{cid}/objections/obj-1/answer", {
        "substantiated": True, "answer": "经核查，材料数据不实，取消其候选资格"})
    assert answered.status_code == 200, answered.text
    assert tap.of(ev.OBJECTION_DECIDED)[0]["data"]["substantiated"] is True
    feedback_event(service_config, ev.OBJECTION_ANSWERED, {
        "objection_id": "obj-2", "campaign_id": cid, "candidate_id": "m-li",
        "substantiated": False, "answer": "经核查，评选程序合规"})
    # An answer that overtakes its objection (two queues) is still kept.
    feedback_event(service_config, ev.OBJECTION_ANSWERED, {
        "objection_id": "obj-3", "campaign_id": cid, "candidate_id": "b-sw",
        "substantiated": False, "answer": "经核查，反映问题不属实"})

    def all_answered():
        found = requests.get(f"{api}/{cid}/objections", headers=STAFF,
                             timeout=10).json()["objections"]
        return len(found) == 3 and all(o["status"] == "answered"
                                       for o in found)
    wait_for(all_answered, what="answers")
    final = post(f"{api}/{cid}/finalise")
    assert final.status_code == 200, final.text
    assert [(r["candidate_id"], r["rank"]) for r in final.json()["final"]] \
        == [("b-sw", 1), ("b-zj", 2), ("m-li", 1)]
    announced = tap.of(ev.SELECTION_FINALISED)[0]["data"]
    assert [r["candidate_id"] for r in announced["final"]] == [
        "b-sw", "b-zj", "m-li"]
    board = requests.get(f"{api}/{cid}", timeout=10).json()
    assert board["status"] == "finalised" and board["removed"] == ["b-fgw"]
    assert announced["chain_head"] == board["chain_head"]["hash"]

    # The finished campaign's published draw still checks out (by URL).
    rerun = subprocess.run(
        [sys.executable, "-I", str(ROOT / "scripts" / "verify_panel.py"),
         f"{api}/{cid}/draw/export"], capture_output=True, text=True,
        timeout=30)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert rerun.stdout == check.stdout

    # -- the audit chain, and tampering with one entry ----------------------
    verdict = requests.get(f"{api}/{cid}/audit/verify", timeout=10).json()
    assert verdict["valid"] is True, verdict
    kinds = {e["kind"] for e in requests.get(
        f"{api}/{cid}/audit", headers=STAFF, timeout=10).json()["entries"]}
    assert kinds >= {
        "plan.published", "nomination.added", "recommendation.received",
        "pool.changed", "pool.snapshot", "commitment.published",
        "commitment.invalidated", "panel.drawn", "judge.replaced",
        "seed.revealed", "score.recorded", "scores.aggregated",
        "publicity.opened", "objection.filed", "objection.answered",
        "list.finalised"}
    env = dict(os.environ, MONGO_URI=service_config["MONGO_URI"],
               SIFUWU_DB_PREFIX=service_config["SIFUWU_DB_PREFIX"])
    command = [sys.executable, "-m", "tooling.verify_audit",
               "verify", "--campaign", cid]
    ok = subprocess.run(command, cwd=ROOT, env=env, capture_output=True,
                        text=True, timeout=60)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "校验通过" in ok.stdout

    score_entry = db[AUDIT].find_one({"campaign_id": cid,
                                      "kind": "score.recorded"})
    db[AUDIT].update_one({"_id": score_entry["_id"]},
                         {"$set": {"data.score": 100}})
    verdict = requests.get(f"{api}/{cid}/audit/verify", timeout=10).json()
    assert verdict["valid"] is False
    assert verdict["problems"] == [{"seq": score_entry["seq"],
                                    "problem": "altered"}]
    bad = subprocess.run(command, cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 1 and "内容被修改" in bad.stdout


def test_publicity_in_a_year_without_calendar_data(container_factory,
                                                   service_config, web_url,
                                                   tmp_path):
    """No holiday data for 2027: refuse with a clear message; a configured
    calendar file for 2027 then lets the publicity open."""
    calendar = tmp_path / "calendar.json"
    calendar.write_text(json.dumps({"years": []}), encoding="utf-8")
    container = container_factory(SelectionTestService, dict(
        service_config, SIFUWU_CLOCK_OFFSET_SECONDS=at(2026, 12, 29),
        SIFUWU_CALENDAR_FILE=str(calendar)))
    container.start()
    api = web_url + "/api/v1/selections"
    cid = post(api, dict(
        PLAN, awards=[{"award": "four_services_branch", "quota": 1,
                       "candidate_count": 2}],
        panel={"strata": {"expert": 1}}, trim=0,
        weights={"panel": 1, "scorecard": 0})).json()["campaign_id"]
    for candidate_id, name, unit, unit_name, score in BRANCHES[:2]:
        assert post(f"{api}/{cid}/nominations", {
            "candidate_id": candidate_id, "candidate_type": "branch",
            "name": name, "unit_id": unit, "award": "four_services_branch",
            "scorecard_score": score,
            "facts": {"party_building_met": True}}).status_code == 201
    post(f"{api}/{cid}/evaluators", {"evaluators": [
        {"evaluator_id": "e1", "name": "专家", "category": "expert",
         "unit_id": "uni"}]})
    assert post(f"{api}/{cid}/commitment").status_code == 201
    judge = post(f"{api}/{cid}/draw").json()["panel"][0]["judge_url"]
    post(f"{api}/{cid}/reveal")
    token = judge.rsplit("/", 1)[1]
    assert requests.post(f"{web_url}/api/v1/judge/{token}/scores", json={
        "scores": [{"candidate_id": "b-fgw", "score": 90},
                   {"candidate_id": "b-sw", "score": 80}]},
        timeout=10).status_code == 201
    assert post(f"{api}/{cid}/aggregate").status_code == 200

    refused = post(f"{api}/{cid}/publicity")
    assert refused.status_code == 409
    assert refused.json()["error"] == "calendar_unavailable"
    assert "2027 年" in refused.json()["message"]
    assert requests.get(f"{api}/{cid}", timeout=10).json()[
        "status"] == "aggregated"

    calendar.write_text(json.dumps({"years": [2027],
                                    "holidays": ["2027-01-01"]}),
                        encoding="utf-8")
    opened = post(f"{api}/{cid}/publicity")
    assert opened.status_code == 201, opened.text
    # 12-29, 12-30, 12-31, (1-1 holiday, weekend), 1-4, 1-5.
    assert (opened.json()["starts_on"], opened.json()["ends_on"]) == (
        "2026-12-29", "2027-01-05")
