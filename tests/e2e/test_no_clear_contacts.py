"""个人信息保护 on the running stack: after a story that sends a known phone
and a known email through every service, neither appears in clear, in any
of its Chinese forms, in any service database (outbox rows included), in the
dead-letter queues, in the services' logs or on the public pages. The SMS
stand-in's inbox (what the phone received) is the one place it may be."""

import json
import time
import uuid

import requests
from kombu import Connection, Exchange, Queue

from services.activity.client import post_event
from services.activity.examples import example_envelope
from sifuwu import events as ev
from sifuwu.privacy import PHONE_RE, contact, contact_keys
from sifuwu.settings import Settings
from sifuwu.wiring import DEAD_LETTER_QUEUE, INGEST_REJECTED_QUEUE, SERVICES
from tests.helpers import StackStaff
from tooling.demo import skeleton_story
from tooling.stack import INGEST_DEMO_USER

STAFF = StackStaff()
# Its own phone and email: tests sharing a phone read each other's SMS.
PHONE = "13700002468"
EMAIL = "scan.li@example.cn"
FORMS = (PHONE, "+86 137 0000 2468", "+86-137-0000-2468", "(+86)13700002468",
         "137 0000 2468", "137-0000-2468", "8613700002468", "0086 13700002468")


def leaks(text):
    """Where ``text`` holds the phone (any form ``PHONE_RE`` knows) or the
    email in clear."""
    text = str(text)
    found = [m.group(0) for m in PHONE_RE.finditer(text)
             if m.group("head") + m.group("mid") + m.group("tail") == PHONE]
    if EMAIL in text.lower():
        found.append(EMAIL)
    return found


def test_the_scanner_sees_every_form():
    for form in FORMS:
        assert leaks(f"x {form} y"), form
    assert leaks("mail SCAN.li@example.cn")
    assert not leaks("137****2468 s***@example.cn 13700002469")


def peek(amqp_uri, queue_name):
    """Every message waiting in ``queue_name``, left in it: read without
    acknowledging, so they go back when the channel closes."""
    found = []
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        queue = Queue(queue_name, durable=True)(channel)
        while True:
            message = queue.get(no_ack=False)
            if message is None:
                break
            found.append((message.body, message.headers or {}))
        channel.close()
    return found


def as_text(body):
    return body.decode("utf-8", "replace") if isinstance(body, bytes) \
        else str(body)


def wait_for_message(amqp_uri, queue_name, marker, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(marker in as_text(body) for body, _ in peek(amqp_uri,
                                                          queue_name)):
            return
        time.sleep(0.5)
    raise AssertionError(f"no message with {marker} in {queue_name}")


def send_a_bad_ingest_message(stack, marker):
    """An outside system's message that fails validation, with the phone
    and the email in it: it lands in sifuwu.ingest.rejected."""
    body = json.dumps({
        "event_id": marker, "type": "directory.member", "source": "demo",
        "occurred_at": "2026-11-20T10:00:00+08:00",
        "data": {"member_id": marker, "phone": "+86 137-0000-2468",
                 "email": EMAIL}}, ensure_ascii=False)
    with Connection(stack.ingest_amqp_uri()) as conn:
        conn.Producer().publish(
            body, exchange=Exchange("sifuwu.ingest", type="topic",
                                    durable=True),
            routing_key="directory.member", content_type="application/json",
            user_id=INGEST_DEMO_USER, delivery_mode=2)


def send_a_bad_internal_event(stack, marker):
    """An ``activity.logged`` its consumers refuse (no member), carrying a
    phone as producers now do, sealed: it is dead-lettered."""
    settings = Settings.from_env(stack.service_env("activity"))
    sealed = contact(PHONE, keys=contact_keys(settings),
                     secret=settings.secret)
    envelope = ev.make_event(ev.ACTIVITY_LOGGED, {
        "activity_id": marker, "recipient": {
            "type": "enterprise", "name": "x", "phone": sealed}},
        source="activity", event_id=marker)
    with Connection(stack.amqp_uri) as conn:
        conn.Producer().publish(
            json.dumps(envelope), exchange=Exchange(
                "activity.events", type="topic", durable=True),
            routing_key=ev.ACTIVITY_LOGGED, content_type="application/json",
            delivery_mode=2)


def test_no_phone_or_email_in_clear_anywhere_after_a_story(stack, urls,
                                                          mongo):
    tag = uuid.uuid4().hex[:6]
    member_id = f"m-scan-{tag}"
    # the Party-member system sends the member with the phone
    member = example_envelope(
        "directory.member", tag=tag, source="demo", data=dict(
            example_envelope("directory.member")["data"], member_id=member_id,
            unit_id="u-fgw", branch_id="b-fgw-1", division_id=None,
            phone=PHONE))
    assert post_event(urls["activity"], "demo-token", member).status_code \
        in (200, 202)
    # the 12345 hotline's demand names the phone as its raiser's
    demand = example_envelope(
        "demand.raised", tag=tag, source="demo", data=dict(
            example_envelope("demand.raised", tag=tag)["data"],
            owner_unit_id="u-fgw", raiser={"name": "王芳", "phone": PHONE}))
    assert post_event(urls["activity"], "demo-token", demand).status_code \
        in (200, 202)
    # staff give notify the member's email
    saved = requests.put(
        f"{urls['notify']}/api/v1/contacts/member/{member_id}",
        json={"email": EMAIL}, headers=STAFF, timeout=10)
    assert saved.status_code == 200, saved.text
    assert EMAIL not in saved.text
    # the SMS invitation goes to the phone, the recipient rates
    seen = skeleton_story(urls, member_id=member_id, phone=PHONE,
                          sms=stack.sms_controls(), staff_headers=STAFF)
    assert seen["sms"]["status"] == "delivered"
    assert seen["first_submit"][0] == 200
    # one refused message of each kind, so the dead letters exist
    send_a_bad_ingest_message(stack, f"scan-ingest-{tag}")
    send_a_bad_internal_event(stack, f"scan-dead-{tag}")
    wait_for_message(stack.amqp_uri, INGEST_REJECTED_QUEUE,
                     f"scan-ingest-{tag}")
    wait_for_message(stack.amqp_uri, DEAD_LETTER_QUEUE, f"scan-dead-{tag}")
    time.sleep(2)   # the relays publish what the story staged

    found, scanned = {}, {"documents": 0, "dead letters": 0, "log lines": 0}
    for service in SERVICES:
        db = mongo[f"{stack.db_prefix}{service}"]
        for name in db.list_collection_names():
            for doc in db[name].find():
                scanned["documents"] += 1
                if leaks(repr(doc)):
                    found.setdefault(f"{service}.{name}", []).append(
                        leaks(repr(doc)))
    for queue in (INGEST_REJECTED_QUEUE, DEAD_LETTER_QUEUE):
        for body, headers in peek(stack.amqp_uri, queue):
            scanned["dead letters"] += 1
            where = leaks(as_text(body)) + leaks(repr(headers))
            if where:
                found.setdefault(queue, []).append(where)
    for path in sorted((stack.base / "logs").glob("*")):
        for number, line in enumerate(
                path.read_text("utf-8", "replace").splitlines(), 1):
            scanned["log lines"] += 1
            if leaks(line):
                found.setdefault(f"logs/{path.name}", []).append(number)
    for path in sorted((stack.base / "press").rglob("*")):
        if path.is_file() and leaks(path.read_text("utf-8", "replace")):
            found.setdefault(f"press/{path.name}", []).append(path.name)
    for url in (urls["feedback"] + "/publicity",
                urls["feedback"] + "/api/v1/publicity",
                urls["notify"] + "/api/v1/board-items", seen["link"]):
        page = requests.get(url, timeout=10)
        assert page.status_code < 500, url
        if leaks(page.text):
            found[url] = leaks(page.text)
    assert found == {}
    assert all(scanned.values()), scanned

    # the rejected message is still readable, masked, and restorable
    [(body, headers)] = [m for m in peek(stack.amqp_uri, INGEST_REJECTED_QUEUE)
                         if f"scan-ingest-{tag}" in as_text(m[0])]
    assert "137****2468" in as_text(body)
    settings = Settings.from_env(stack.service_env("activity"))
    restored = contact_keys(settings).open(headers["x-sealed-body"])
    assert leaks(restored)

    # staff still see the masked form where they work
    messages = requests.get(urls["notify"] + "/api/v1/messages",
                            params={"to": PHONE}, headers=STAFF,
                            timeout=10).json()["items"]
    assert messages and {m["to"] for m in messages} == {"137****2468"}
