"""The main job (``./run demo``): one story through all four services over
their public HTTP interfaces, printed as a readable summary in Chinese."""

import re
import time

import requests
from rich.console import Console
from rich.table import Table

from tooling.peers import Inbox
from tooling.stack import sms_controls_for, staff_login_for
from tooling.story import (  # noqa: F401
    LINK, NO_SMS_STANDIN, NO_STAFF_LOGIN, Story, StoryError, poll,
)

# The default demo is the full city (~60 departments, 300 branches, 5,100
# members, ~20,600 events) with a lighter year of service activities:
# 8 min 46 s from a fresh clone on the 2-core machine, the story 461 s
# (see README). --scale 0.05 is a 3-minute version.
DEMO_SCALE = 1.0
DEMO_ACTIVITIES_PER_MEMBER = 1.2


def skeleton_story(urls, member_id="m-demo-001", phone="13800138000",
                   staff_headers=None, rating=5, sms=None):
    """A member visits an enterprise; the recipient rates it by SMS link;
    the member's scorecard reflects both. Returns what each step saw.

    Staff see the SMS in notify's messages API with its link redacted; the
    live link is read where the recipient's phone gets it: the embedded
    stack's SMS stand-ins (``sms``: their control URLs; by default those
    of the embedded stack serving ``urls``). Staff calls go out as
    ``staff_headers`` (a ``tooling.login.Login``; by default the first 工委
    account of that embedded stack)."""
    controls = sms_controls_for(urls) if sms is None else list(sms)
    if not controls:
        raise StoryError(NO_SMS_STANDIN)
    staff_headers = staff_headers or staff_login_for(urls)
    if staff_headers is None:
        raise StoryError(NO_STAFF_LOGIN)
    seen = {}
    activity = {
        "category": "enterprise", "kind": "visit",
        "roles": ["informer", "coordinator"],
        "member_id": member_id, "member_name": "李明",
        "unit_id": "u-fgw", "branch_id": "b-fgw-1",
        "campaign_id": "c-wanren-wanqi",
        "recipient": {"id": "e-0001", "type": "enterprise",
                      "name": "滨江智造科技有限公司", "phone": phone},
        "occurred_at": "2026-11-20T10:00:00+08:00",
        "place": "滨江智造科技有限公司会议室",
        "summary": "“万人进万企”走访，了解企业用地和用工诉求。",
    }
    response = requests.post(urls["activity"] + "/api/v1/activities",
                             json=activity, headers=staff_headers,
                             timeout=10)
    if response.status_code != 201:
        raise StoryError(f"登记服务活动失败: {response.status_code} "
                         f"{response.text}")
    seen["activity"] = response.json()

    messages = poll(
        lambda: requests.get(urls["notify"] + "/api/v1/messages",
                             params={"to": phone}, headers=staff_headers,
                             timeout=10).json()["items"],
        lambda items: any(m["event_type"] == "invitation.issued"
                          and m["status"] == "delivered" for m in items),
        what="评价邀请短信")
    sms = next(m for m in messages if m["event_type"] == "invitation.issued")
    seen["sms"] = sms
    inbox = Inbox(controls)
    received = poll(
        lambda: [item for item in inbox.new(contains=sms["id"])
                 if (item.get("json") or {}).get("reference") == sms["id"]],
        lambda items: bool(items), what="收件人手机上的评价邀请短信")
    link = LINK.search(received[0]["json"]["content"]).group(0)
    seen["link"] = link

    browser = requests.Session()  # keeps the form's CSRF cookie
    page = browser.get(link, timeout=10)
    seen["page_status"] = page.status_code
    seen["page_has_levels"] = all(
        level in page.text for level in ("非常满意", "满意", "基本满意",
                                         "不满意", "非常不满意"))
    csrf = re.search(r'name="csrf" value="([^"]*)"', page.text)
    csrf = {"csrf": csrf.group(1)} if csrf else {}
    first = browser.post(link, data={"rating": str(rating),
                                     "comment": "服务热情，问题解决及时。",
                                     **csrf}, timeout=10)
    second = browser.post(link, data={"rating": "1", **csrf}, timeout=10)
    seen["first_submit"] = (first.status_code, "感谢您的评价" in first.text)
    seen["second_submit"] = (second.status_code, "已评价" in second.text)

    card = poll(
        lambda: requests.get(
            urls["assessment"] + f"/api/v1/scorecards/members/{member_id}",
            headers=staff_headers, timeout=10).json(),
        lambda c: c["activity_count"] >= 1 and c["rating_count"] >= 1,
        what="考评积分卡")
    seen["scorecard"] = card
    return seen


def print_summary(seen, console=None):
    console = console or Console(soft_wrap=True)
    table = Table(title="机关党建+四服务 · 演示流程", show_lines=True)
    table.add_column("步骤")
    table.add_column("结果")
    activity = seen["activity"]
    table.add_row("1 登记服务活动",
                  f"{activity['member_name']} 走访 "
                  f"{activity['recipient']['name']}（编号 {activity['id'][:8]}…）")
    table.add_row("2 发送评价邀请短信",
                  f"发往 {seen['sms']['to']}，状态 {seen['sms']['status']}")
    table.add_row("3 打开评价页面",
                  f"HTTP {seen['page_status']}，五级评价"
                  f"{'齐全' if seen['page_has_levels'] else '缺失'}")
    table.add_row("  提交评价", f"HTTP {seen['first_submit'][0]}，"
                  f"再次提交被拒绝: HTTP {seen['second_submit'][0]}")
    card = seen["scorecard"]
    table.add_row("4 党员积分卡",
                  f"服务活动 {card['activity_count']} 次，"
                  f"满意度均分 {card['average_satisfaction']}")
    console.print(table)


def run(urls, console=None):
    console = console or Console(soft_wrap=True)
    started = time.monotonic()
    seen = skeleton_story(urls)
    print_summary(seen, console)
    console.print(f"演示完成，用时 {time.monotonic() - started:.1f} 秒。")
    return seen


def run_story(urls, *, console=None, scale=None, seed=2026,
              activities_per_member=None, amqp_uri=None, management=None,
              stack=None, restore_clock=True, report_path=None):
    """The whole story (tooling.story), the HTML report and a summary."""
    from tooling import report

    console = console or Console(soft_wrap=True)
    started = time.monotonic()
    story = Story(urls, amqp_uri=amqp_uri, management=management,
                  scale=DEMO_SCALE if scale is None else scale, seed=seed,
                  activities_per_member=(DEMO_ACTIVITIES_PER_MEMBER
                                         if activities_per_member is None
                                         else activities_per_member),
                  stack=stack, console=console, restore_clock=restore_clock)
    if report_path:
        story._report_dir = str(__import__("pathlib").Path(
            report_path).parent)
    seen = story.run()
    if report_path:
        path = report.write_report(report.report_data(seen, story), report_path)
        seen["report"] = str(path)
    report.print_summary(seen, console)
    if report_path:
        console.print(f"报告：{seen['report']}")
    console.print(f"演示完成，用时 {time.monotonic() - started:.1f} 秒。")
    return seen
