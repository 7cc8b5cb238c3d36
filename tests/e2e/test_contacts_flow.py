"""Across services on the running stack: a member sent by the Party-member
system through the ingest contract lands in notify's contact book (sealed,
masked), so demand escalation can reach them."""

import time
import uuid

import requests

from tests.helpers import StackStaff
from services.activity.client import post_event
from sifuwu import events as ev

STAFF = StackStaff()  # the stack's 工委 account, signed in


def test_member_contact_reaches_notify_masked(urls, stack, mongo):
    member_id = f"m-{uuid.uuid4().hex[:8]}"
    envelope = ev.make_event("directory.member", {
        "member_id": member_id, "name": "周建国", "unit_id": "u-contacts",
        "branch_id": "b-contacts", "roles": ["branch_secretary"],
        "phone": "13655550123"}, source="demo")
    response = post_event(urls["activity"], "demo-token", envelope)
    assert response.status_code == 202, response.text

    deadline = time.monotonic() + 30
    contact = None
    while time.monotonic() < deadline:
        answer = requests.get(
            urls["notify"] + f"/api/v1/contacts/member/{member_id}",
            headers=STAFF, timeout=5)
        if answer.status_code == 200:
            contact = answer.json()
            break
        time.sleep(0.2)
    assert contact is not None, "the contact never reached notify"
    assert "13655550123" not in str(contact)
    assert "136****0123" in str(contact["addresses"])
    stored = mongo[f"{stack.db_prefix}notify"]["contacts"].find_one(
        {"_id": f"member:{member_id}"})
    assert stored is not None and "13655550123" not in repr(stored)
