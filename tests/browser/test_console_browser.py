"""The staff console in a real headless Chromium (tests/browser/browser.py
finds it), signed in by keyboard as each kind of account on the running
stack: each sees its own menu and home page, a unit account only its unit's
activities (by menu or by typing the address), an operator no records.

Screenshots go to a temp folder; set SIFUWU_SHOTS_DIR=docs/screenshots/console
to refresh the ones kept in the repository."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from sifuwu import access
from tests.browser import browser
from tests.helpers import StackStaff
from tooling.login import create_account

DRIVER = Path(__file__).with_name("drive_console.py")
STAFF = StackStaff()
UNIT_A, UNIT_B = "u-cb-a", "u-cb-b"

CHROMIUM, NO_BROWSER = browser.find()

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=f"browser tests "
                                f"skipped: {NO_BROWSER}")


def account(urls, role, **scope):
    name = f"cb-{role.replace('_', '-')}-{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(18)
    _, totp = create_account(STAFF, urls["identity"], name, role, password,
                             **scope)
    return {"role": role, "username": name, "password": password,
            "totp": totp}


@pytest.mark.timeout(300)
def test_each_account_signs_in_and_sees_its_own(urls, tmp_path):
    for unit_id in (UNIT_A, UNIT_B):
        logged = requests.post(urls["activity"] + "/api/v1/activities", json={
            "category": "enterprise", "kind": "visit",
            "roles": ["coordinator"], "member_id": f"m-{unit_id}",
            "member_name": "吴刚", "unit_id": unit_id,
            "branch_id": f"b-{unit_id}", "campaign_id": "c-cb",
            "recipient": {"id": f"e-{unit_id}", "type": "enterprise",
                          "name": "滨江科技有限公司"},
            "occurred_at": "2026-11-18T15:00:00+08:00",
            "summary": f"{unit_id} 走访企业，协调用地"}, headers=STAFF,
            timeout=30)
        assert logged.status_code == 201, logged.text
    committee = account(urls, access.COMMITTEE)
    unit = account(urls, access.UNIT_STAFF, unit_id=UNIT_A)
    operator = account(urls, access.OPERATOR)
    shots = Path(os.environ.get("SIFUWU_SHOTS_DIR") or tmp_path)
    args = {"chromium": CHROMIUM, "url": urls["console"], "shots": str(shots),
            "accounts": [committee, unit, operator],
            "phone_account": dict(account(urls, access.UNIT_STAFF,
                                          unit_id=UNIT_A))}
    done = subprocess.run([sys.executable, str(DRIVER), json.dumps(args)],
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = {s["role"] + ("-phone" if i == 3 else ""): s for i, s in
            enumerate(json.loads(done.stdout.strip().splitlines()[-1]))}

    for role in ("committee", "unit_staff", "operator", "unit_staff-phone"):
        assert seen[role]["after_sign_in"] == "/", role
        assert seen[role]["first_tab"] == "跳到正文", role
    assert seen["committee"]["menu"] == ["首页", "服务活动", "诉求办理"]
    assert "单位综合考评排名" in seen["committee"]["home"]
    city = seen["committee"]["pages"]["/activities"]["text"]
    assert f"{UNIT_A} 走访企业" in city and f"{UNIT_B} 走访企业" in city
    mine = seen["unit_staff"]["pages"]["/activities"]["text"]
    assert f"{UNIT_A} 走访企业" in mine and UNIT_B not in mine
    assert seen["unit_staff-phone"]["pages"]["/activities"]["status"] == 200
    assert seen["operator"]["menu"] == ["首页"]
    assert "服务健康" in seen["operator"]["home"]
    typed = seen["operator"]["typed_activities"]
    assert typed["status"] == 403 and "无权访问" in typed["text"]
    assert (shots / "console-home-committee.png").stat().st_size > 10_000
    assert (shots / "console-activities-unit_staff-phone.png").exists()
