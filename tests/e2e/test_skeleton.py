"""The walking skeleton: one story across all four services, through public
HTTP only, on the real broker and store."""

import requests

from tooling.demo import skeleton_story
from sifuwu.wiring import SERVICES


def test_every_service_reports_health(urls):
    for service in SERVICES:
        body = requests.get(urls[service] + "/health", timeout=5).json()
        assert body["status"] == "ok"
        assert body["service"] == service
        assert body["broker"] == "ok" and body["store"] == "ok"
        assert body["version"]


def test_activity_to_sms_to_rating_to_scorecard(urls):
    seen = skeleton_story(urls, member_id="m-skeleton-1", phone="13912345678",
                          rating=4)
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


def test_invalid_activity_gets_field_errors(urls):
    response = requests.post(urls["activity"] + "/api/v1/activities", json={
        "category": "weather", "kind": "visit", "member_id": "m1",
        "recipient": {"type": "enterprise", "name": "某公司",
                      "phone": "12345"},
        "occurred_at": "2026-11-20T10:00:00"}, timeout=5)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "validation_failed"
    assert set(body["fields"]) == {"category", "recipient", "occurred_at"}
    assert body["fields"]["recipient"]["phone"] == ["手机号格式不正确"]


def test_operator_keys_are_refused(urls):
    response = requests.post(urls["activity"] + "/api/v1/activities",
                             json={"member_id": {"$gt": ""}}, timeout=5)
    assert response.status_code == 400
    assert "$gt" in response.text


def test_stack_stores_no_plain_phone(stack, mongo):
    phone = "13700001111"
    skeleton_story({s: stack.url(s) for s in SERVICES}, member_id="m-pii",
                   phone=phone)
    for service in SERVICES:
        db = mongo[f"{stack.db_prefix}{service}"]
        for name in db.list_collection_names():
            if name == "outbox":  # events in flight carry it to notify
                continue
            for doc in db[name].find():
                assert phone not in repr(doc), (service, name)
