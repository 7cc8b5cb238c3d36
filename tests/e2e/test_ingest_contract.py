"""The ingest contract on the running stack, through its public interfaces
only: an outside system reports a member and a visit over HTTP and the
recipient gets a rating SMS; it raises a demand over AMQP as its own broker
user and staff see it; a broken message lands in the rejected queue."""

import uuid

import requests
from kombu import Connection

from tests.helpers import StackStaff
from services.activity.client import post_event, publish_event
from services.activity.examples import example_envelope
from services.activity.ingest.consumer import rejected_queue
from sifuwu import wiring
from tooling.story import poll

STAFF = StackStaff()  # the stack's 工委 account, signed in
SYSTEM, TOKEN = "demo", "demo-token"   # the embedded stack's default


def test_http_ingest_reaches_the_recipient(urls):
    t = uuid.uuid4().hex[:8]
    phone = "139" + str(uuid.uuid4().int)[:8]
    member = example_envelope("directory.member", t, source=SYSTEM)
    activity = example_envelope("activity.service", t, source=SYSTEM)
    activity["data"]["recipient"]["phone"] = phone
    # out of order: the visit arrives before the member it names
    assert post_event(urls["activity"], TOKEN, activity).status_code == 202
    assert post_event(urls["activity"], TOKEN, member).status_code == 202
    assert post_event(urls["activity"], TOKEN, member).status_code == 200

    listed = requests.get(urls["activity"] + "/api/v1/activities",
                          params={"member_id": f"m-0001-{t}"}, headers=STAFF,
                          timeout=10).json()
    [shown] = listed["items"]
    assert shown["member_linked"] is True and shown["member_name"] == "李明"
    assert shown["recipient"]["phone"] == phone[:3] + "****" + phone[-4:]
    messages = poll(
        lambda: requests.get(urls["notify"] + "/api/v1/messages",
                             params={"to": phone}, headers=STAFF,
                             timeout=10).json()["items"],
        lambda items: any(m["event_type"] == "invitation.issued"
                          for m in items),
        what="the rating invitation")
    assert messages


def test_amqp_ingest_as_the_systems_broker_user(stack, urls):
    # the stack provisions the system's broker user (publish to the ingest
    # exchange only); other tests share it, so its password stays as is
    uri = stack.ingest_amqp_uri()
    t = uuid.uuid4().hex[:8]
    raised = example_envelope("demand.raised", t, source=SYSTEM)
    publish_event(uri, raised, user_id=SYSTEM)
    demand_id = raised["data"]["demand_id"]
    demand = poll(
        lambda: requests.get(f"{urls['activity']}/api/v1/demands/{demand_id}",
                             headers=STAFF, timeout=10),
        lambda r: r.status_code == 200, what="the demand")
    body = demand.json()
    assert body["status"] == "received" and body["source"] == SYSTEM
    assert body["raiser"]["phone"] == "137****0003"

    broken = example_envelope("kpi.business", t, source=SYSTEM)
    broken["data"]["value"] = "很多"
    publish_event(uri, broken, user_id=SYSTEM)
    with Connection(stack.amqp_uri) as conn:
        queue = rejected_queue()(conn.default_channel)
        found = poll(lambda: queue.get(no_ack=True), lambda m: m is not None,
                     what="the rejected message")
    assert found.headers[wiring.REJECTION_HEADER].startswith("invalid: ")
    assert broken["event_id"] in (found.body if isinstance(found.body, str)
                                  else found.body.decode())
