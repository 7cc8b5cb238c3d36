"""The walking skeleton: one story across the services, through public
HTTP only, on the real broker and store."""

import requests

from tests.helpers import StackStaff
from tooling.demo import skeleton_story
from sifuwu.wiring import SERVICES

STAFF = StackStaff()  # the stack's 工委 account, signed in


def test_every_service_reports_health(urls):
    for service in SERVICES:
        body = requests.get(urls[service] + "/health", timeout=5).json()
        assert body["status"] == "ok"
        assert body["service"] == service
        assert body["broker"] == "ok" and body["store"] == "ok"
        assert body["version"]


def test_activity_to_sms_to_rating_to_scorecard(stack, urls):
    seen = skeleton_story(urls, member_id="m-skeleton-1", phone="13912345678",
                          rating=4, sms=stack.sms_controls(),
                          staff_headers=STAFF)
    assert seen["activity"]["recipient"]["phone"] == "139****5678"
    assert seen["sms"]["to"] == "139****5678"
    assert seen["sms"]["status"] == "delivered"
    assert seen["link"].startswith(urls["feedback"] + "/f/")
    assert seen["page_status"] == 200 and seen["page_has_levels"]
    assert seen["first_submit"] == (200, True)
    assert seen["second_submit"] == (409, True)
    card = seen["scorecard"]
    assert card["activity_count"] == 1
    assert card["rating_count"] == 1
    assert card["average_satisfaction"] == 4.0
    kinds = sorted(c["kind"] for p in card["periods"]
                   for c in p["contributions"])
    assert kinds == ["activity", "rating"]


def test_messages_api_requires_staff_token(urls):
    response = requests.get(urls["notify"] + "/api/v1/messages",
                            params={"to": "13912345678"}, timeout=5)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


def test_anonymous_or_bogus_activity_is_refused_and_sends_no_sms(urls):
    """Anyone who reached port 8001 could score a member and make the city
    send an SMS to any phone: logging an activity needs a staff token."""
    phone = "13955550101"
    activity = {
        "category": "enterprise", "kind": "visit", "roles": ["coordinator"],
        "member_id": "m-anon", "member_name": "王芳", "unit_id": "u-fgw",
        "branch_id": "b-fgw-1",
        "recipient": {"id": "e-anon", "type": "enterprise",
                      "name": "某公司", "phone": phone},
        "occurred_at": "2026-11-20T10:00:00+08:00", "summary": "走访企业。"}
    for headers in ({}, {"Authorization": "Bearer x"}):
        response = requests.post(urls["activity"] + "/api/v1/activities",
                                 json=activity, headers=headers, timeout=5)
        assert response.status_code == 401, response.text
        # no token: unauthorized; a token that is not one: invalid_token
        assert response.json()["error"] == ("invalid_token" if headers
                                            else "unauthorized")
    # a staff token's activity goes through (so the check above means
    # something), and only its invitation reaches notify
    ok = requests.post(urls["activity"] + "/api/v1/activities",
                       json=dict(activity, member_id="m-staff"), headers=STAFF,
                       timeout=5)
    assert ok.status_code == 201, ok.text
    sent = poll_messages(urls, phone)
    assert len(sent) == 1


def poll_messages(urls, phone):
    import time
    deadline = time.monotonic() + 60
    while True:
        items = requests.get(urls["notify"] + "/api/v1/messages",
                             params={"to": phone}, headers=STAFF,
                             timeout=5).json()["items"]
        if items or time.monotonic() > deadline:
            time.sleep(2)  # a second invitation would have arrived by now
            return requests.get(urls["notify"] + "/api/v1/messages",
                                params={"to": phone}, headers=STAFF,
                                timeout=5).json()["items"]
        time.sleep(0.5)


def test_a_member_scorecard_needs_a_staff_token(urls):
    for headers in ({}, {"Authorization": "Bearer x"}):
        response = requests.get(
            urls["assessment"] + "/api/v1/scorecards/members/m-skeleton-1",
            headers=headers, timeout=5)
        assert response.status_code == 401


def test_invalid_activity_gets_field_errors(urls):
    response = requests.post(urls["activity"] + "/api/v1/activities", json={
        "category": "weather", "kind": "visit", "member_id": "m1",
        "recipient": {"type": "enterprise", "name": "某公司",
                      "phone": "12345"},
        "occurred_at": "2026-11-20T10:00:00"}, headers=STAFF, timeout=5)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "validation_failed"
    assert set(body["fields"]) == {"category", "recipient", "occurred_at"}
    assert body["fields"]["recipient"]["phone"] == ["手机号格式不正确"]


def test_operator_keys_are_refused(urls):
    response = requests.post(urls["activity"] + "/api/v1/activities",
                             json={"member_id": {"$gt": ""}}, headers=STAFF,
                             timeout=5)
    assert response.status_code == 400
    assert "$gt" in response.text


def test_stack_stores_no_plain_phone(stack, mongo):
    phone = "13700001111"
    skeleton_story({s: stack.url(s) for s in SERVICES}, member_id="m-pii",
                   phone=phone, sms=stack.sms_controls(), staff_headers=STAFF)
    for service in SERVICES:
        db = mongo[f"{stack.db_prefix}{service}"]
        for name in db.list_collection_names():   # outbox rows included
            for doc in db[name].find():
                assert phone not in repr(doc), (service, name)
