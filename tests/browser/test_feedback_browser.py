"""A real headless Chromium (Debian's /usr/bin/chromium, else Playwright's
own; tests/browser/browser.py), driven by Playwright in a subprocess, through
an invitation link and the public board of the running stack, at phone
width.

Screenshots go to a temp folder; set SIFUWU_SHOTS_DIR=docs/screenshots to
refresh the ones kept in the repository."""

import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from kombu import Connection
from kombu.pools import producers

from tests.helpers import StackStaff
from sifuwu import events as ev
from sifuwu import wiring
from tests.browser import browser
from tooling.peers import Inbox

DRIVER = Path(__file__).with_name("drive_feedback.py")
STAFF = StackStaff()  # the stack's 工委 account, signed in

CHROMIUM, NO_BROWSER = browser.find()

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=f"browser tests "
                                f"skipped: {NO_BROWSER}")


def poll(fetch, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fetch()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


def drive(args, timeout=120):
    args = {"chromium": CHROMIUM, **args}
    done = subprocess.run([sys.executable, str(DRIVER), json.dumps(args)],
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def invitation_link(stack, urls, phone):
    """The rating link as the recipient's phone gets it (the SMS stand-in:
    staff see it redacted in notify's messages API)."""
    member_id = "m-" + uuid.uuid4().hex[:8]
    response = requests.post(urls["activity"] + "/api/v1/activities", json={
        "category": "enterprise", "kind": "visit", "roles": ["coordinator"],
        "member_id": member_id, "member_name": "王芳", "unit_id": "u-fgw",
        "branch_id": "b-fgw-1",
        "recipient": {"id": "e-77", "type": "enterprise",
                      "name": "滨江智造科技有限公司", "phone": phone},
        "occurred_at": "2026-11-20T10:00:00+08:00",
        "summary": "走访企业，协调用工问题。"}, headers=STAFF, timeout=10)
    assert response.status_code == 201, response.text

    inbox = Inbox(stack.sms_controls())

    def link():
        for item in inbox.new(contains=phone):
            found = re.search(r"https?://\S+/f/[\w.\-]+",
                              item["json"]["content"])
            if found:
                return found.group(0)
        return None

    return poll(link), member_id


def open_publicity(stack):
    """What assessment publishes when a list goes public (公示)."""
    campaign_id = "c-" + uuid.uuid4().hex[:8]
    today = dt.date.today()
    envelope = ev.make_event(ev.PUBLICITY_OPENED, {
        "campaign_id": campaign_id,
        "title": "2026 年度“四服务”优秀党员和先进党支部拟表彰名单",
        "starts_on": (today - dt.timedelta(days=1)).isoformat(),
        "ends_on": (today + dt.timedelta(days=6)).isoformat(),
        "candidates": [
            {"candidate_id": "m-101", "name": "王芳", "unit_name": "市发改委",
             "award": "“四服务”优秀党员"},
            {"candidate_id": "m-102", "name": "陈建国",
             "unit_name": "市商务局", "award": "“四服务”优秀党员"},
            {"candidate_id": "b-202", "name": "市交通局机关第二党支部",
             "unit_name": "市交通局", "award": "“四服务”先进党支部"}]},
        source="assessment")
    exchange = wiring.event_exchange("assessment")
    with Connection(stack.amqp_uri) as conn:
        with producers[conn].acquire(block=True) as producer:
            producer.publish(envelope, exchange=exchange,
                             routing_key=ev.PUBLICITY_OPENED,
                             serializer="json", declare=[exchange],
                             retry=True)
    return campaign_id


def test_rating_and_objection_in_a_real_browser(stack, urls, tmp_path):
    shots = Path(os.environ.get("SIFUWU_SHOTS_DIR") or tmp_path)
    phone = "135" + str(uuid.uuid4().int)[:8]
    link, member_id = invitation_link(stack, urls, phone)
    campaign_id = open_publicity(stack)
    board_url = urls["feedback"] + "/publicity"
    poll(lambda: campaign_id in requests.get(board_url, timeout=5).text)

    seen = drive({"rate_link": link, "board_url": board_url,
                  "campaign_id": campaign_id, "phone": "13788889999",
                  "shots": str(shots)})

    rate = seen["rate"]
    assert rate["page_status"] == 200
    assert [t.strip() for t in rate["levels"]] == [
        "非常满意", "满意", "基本满意", "不满意", "非常不满意"]
    assert (rate["first_status"], rate["first_heading"]) == (200, "感谢您的评价")
    assert rate["second_status"] == 409
    assert "已评价" in rate["second_heading"]
    assert "已评价" in rate["reopen_heading"]
    assert rate["forged_status"] == 404 and "无效" in rate["forged_heading"]

    objection = seen["objection"]
    assert objection["board_status"] == 200
    assert "陈建国" in objection["candidates"]
    assert (objection["first_status"], objection["first_heading"]) == (
        200, "异议已受理")
    assert objection["second_status"] == 409
    assert "已对该公示对象提出过异议" in objection["second_heading"]

    # staff answer; the answer, not the objector, appears on the board
    items = requests.get(urls["feedback"] + "/api/v1/objections",
                         params={"campaign_id": campaign_id}, headers=STAFF,
                         timeout=5).json()["items"]
    answer = "经核实，所反映投诉已于当月办结，群众满意，不影响表彰。"
    assert requests.post(
        urls["feedback"] + f"/api/v1/objections/{items[0]['id']}/answer",
        json={"substantiated": False, "answer": answer}, headers=STAFF,
        timeout=5).status_code == 200
    board = drive({"board_url": board_url, "board_shot": True,
                   "shots": str(shots)})["board"]
    assert any(answer in text for text in board["answers"])
    assert not any("赵六" in text or "8888" in text
                   for text in board["answers"])
    for name in ("feedback-rate.png", "feedback-thanks.png",
                 "feedback-already-rated.png", "feedback-publicity.png",
                 "feedback-objection-filed.png"):
        assert (shots / name).stat().st_size > 5000
