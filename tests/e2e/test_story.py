"""The main job, small: the whole story (tooling.story) on a tiny generated
city against the running stack, its key numbers checked against a
recomputation from the generated data, and its HTML report opened in
headless Chromium."""

import json
import subprocess
import sys
import textwrap

import pytest
import requests

from tests.helpers import StackStaff
from tooling import report
from tooling.story import Story

STAFF = StackStaff()  # the stack's 工委 account, signed in

SCALE, SEED = 0.01, 7


@pytest.fixture(scope="module")
def told(stack, urls, tmp_path_factory):
    story = Story(urls, amqp_uri=stack.ingest_amqp_uri(),
                  management=f"http://127.0.0.1:{stack.ports.amqp_management}",
                  scale=SCALE, seed=SEED, stack=stack, restore_clock=True,
                  activities_per_member=0.6, staff=STAFF)
    story._report_dir = str(tmp_path_factory.mktemp("report"))
    seen = story.run()
    path = report.write_report(report.report_data(seen, story),
                               f"{story._report_dir}/index.html")
    return story, seen, path


def test_activity_count_per_member_matches_generated(told, urls):
    story, seen, _ = told
    generated = story.year.activity_count
    assert sum(generated.values()) == seen["events"]["activities"] > 0
    for member in story.city.members:
        card = requests.get(urls["assessment"] + "/api/v1/scorecards/members/"
                            + member["id"], headers=STAFF, timeout=30).json()
        assert card["activity_count"] == generated[member["id"]], member["id"]


def test_invitations_ratings_and_rectifications(told, urls):
    story, seen, _ = told
    # one invitation per activity with a recipient phone and per resolved
    # hotline demand (the raiser): recomputed from the generated events
    year = story.year
    reachable = {e["data"]["recipient_id"] for e in year.directory
                 if e["type"] == "directory.recipient"
                 and e["data"].get("phone")}
    expected = sum(1 for e in year.activities
                   if e["data"]["recipient"]["id"] in reachable)
    # a demand raised in an activity has the recipient as raiser
    expected += sum(1 for e in year.activities
                    if e["data"]["recipient"]["id"] in reachable
                    and e["data"].get("demands")
                    and e["data"]["demands"][0]["demand_id"] not in year.overdue)
    expected += sum(1 for e in year.hotline_updates
                    if e["data"]["action"] == "resolve")
    expected += sum(1 for d in year.recent if d.startswith("hl-"))
    assert seen["invitations"] == expected == year.invitations
    ratings = seen["ratings"]
    assert 0 < ratings["submitted"] <= expected
    assert sum(ratings["distribution"].values()) == ratings["submitted"]
    assert ratings["bad"] == sum(v for k, v in ratings["distribution"].items()
                                 if int(k) <= 2)
    rect = seen["rectifications"]
    # every bad review opened a rectification; all are closed or voided
    assert rect["listed_open"] == rect["opened"] == ratings["bad"]
    assert rect["closed"] + rect["voided_by_appeal"] == rect["opened"]
    assert rect["rerated"] == rect["closed"]
    left = requests.get(urls["feedback"] + "/api/v1/rectifications",
                        params={"status": "open"}, headers=STAFF,
                        timeout=30).json()
    # a fix still rated bad opens a new rectification, nothing else is open
    assert left["count"] == rect["rerated_bad"]


def test_assessment_boards_cover_the_city(told):
    story, seen, _ = told
    boards = seen["assessment"]["boards"]
    # the session's stack also holds other tests' units: the city's are all there
    assert {u["id"] for u in story.city.units} <= {
        e["subject_id"] for e in boards["unit"]["entries"]}
    assert {b["id"] for b in story.city.branches} <= {
        e["subject_id"] for e in boards["branch"]["entries"]}
    assert sum(seen["assessment"]["ladder"].values()) >= len(
        story.city.branches)


def test_selection_final_list_and_panel(told, urls):
    _, seen, _ = told
    selection = seen["selection"]
    assert selection["status"] == "finalised"
    assert len(selection["final"]) == selection["quota_total"]
    assert len(selection["candidates"]) > selection["quota_total"]  # 差额
    assert selection["verify_ok"], selection["verify_output"]
    assert selection["audit_valid"] is True
    assert len(selection["chain_head"]) == 64
    # the published export re-verifies from the URL as well
    result = subprocess.run(
        [sys.executable, "scripts/verify_panel.py",
         f"{urls['assessment']}/api/v1/selections/"
         f"{selection['campaign_id']}/draw/export"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert selection["simulated_days"] and selection["simulated_days"] > 0


def test_notifications_went_out_on_every_channel(told):
    _, seen, _ = told
    delivered = seen["notifications"]["delivered"]
    for channel in ("sms", "wechat", "email", "web", "press"):
        assert delivered.get(channel, 0) > 0, (channel, delivered)


DRIVER = textwrap.dedent("""
    import json, sys
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                    args=["--no-sandbox", "--headless"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto("file://" + sys.argv[1])
        page.wait_for_load_state("load")
        images = page.eval_on_selector_all(
            "img", "els => els.map(e => [e.alt, e.naturalWidth])")
        print(json.dumps({"title": page.title(), "images": images,
                          "text": page.inner_text("body")[:4000]}))
        browser.close()
""")


def test_report_renders_charts_in_chromium(told):
    _, seen, path = told
    result = subprocess.run([sys.executable, "-c", DRIVER, str(path)],
                            capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stderr[-2000:]
    page = json.loads(result.stdout)
    assert "四服务" in page["title"]
    widths = dict(page["images"])
    for chart in ("单位综合考评排名", "月度趋势", "三率", "满意度分布", "差评整改",
                  "党支部阶梯", "通知统计"):
        assert widths.get(chart, 0) > 0, (chart, widths)
    assert seen["selection"]["chain_head"] in page["text"]


def test_each_role_signs_in_and_sees_what_the_policy_allows(told, urls):
    """The story's last phase: accounts of every role, made by the 工委
    account, each reading the activity log, the SMS log and the audit."""
    story, seen, _ = told
    roles = {row["role"]: row for row in seen["access"]["roles"]}
    assert set(roles) == {"committee", "unit_staff", "branch_secretary",
                          "supervisor", "operator", "auditor"}
    city = roles["committee"]["activities"]["total"]
    unit_id = story.city.units[0]["id"]
    # what the committee finds asking for that unit (service and party
    # activities alike) is all the unit's staff see
    in_unit = requests.get(urls["activity"] + "/api/v1/activities", params={
        "unit_id": unit_id, "per_page": 1}, headers=STAFF,
        timeout=30).json()["total"]
    assert in_unit >= sum(1 for e in story.year.activities
                          if e["data"]["unit_id"] == unit_id)
    assert roles["unit_staff"]["activities"] == {"total": in_unit}
    assert 0 < in_unit < city
    assert roles["branch_secretary"]["activities"]["total"] <= in_unit
    assert roles["supervisor"]["activities"] == {"total": city}
    # 运维 sees no personal data; 审计 reads, never writes
    assert roles["operator"]["activities"] == {"refused": 403}
    assert roles["operator"]["messages"] == {"refused": 403}
    assert roles["auditor"]["messages"] == {"visible": True}
    assert roles["auditor"]["audit"] == {"visible": True}
    assert roles["unit_staff"]["audit"] == {"refused": 403}
    summary = report.access_summary(seen["access"])
    assert f"单位党务干部（{story.city.units[0]['name']}）：服务活动 {in_unit} 条" \
        in summary and "运维：服务活动 无权（403）" in summary
