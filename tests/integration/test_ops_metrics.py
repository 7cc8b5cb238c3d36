"""/metrics (Prometheus) and the JSON logs of a service on the shared
plumbing, in-process against the real broker and store."""

import io
import json
import logging
import uuid

import requests
from kombu import Connection, Producer
from prometheus_client.parser import text_string_to_metric_families

from sifuwu.access import Access, Policy, public
from sifuwu import wiring
from sifuwu.consumer import consumes
from sifuwu.events import make_event
from sifuwu.jsonlog import JsonFormatter
from sifuwu.service import ServiceBase
from sifuwu.web import http, json_response
from tests.helpers import wait_for

SOURCE = "opsmetrics_src"
EVENT = "probe.counted"
log = logging.getLogger("sifuwu.tests.opsmetrics")


class MetricsProbe(ServiceBase):
    name = "opsmetrics"
    access = Access(Policy({f"opsmetrics.{route}": public() for route in (
        "health", "prometheus_metrics", "thing")}))

    @consumes(SOURCE, EVENT)
    def on_probe(self, envelope):
        log.info("通知已发送给 %s", envelope["data"]["phone"])

        def apply(uow):
            uow.emit("probe.echoed", {"n": 1})
        self.store.transaction(apply,
                               consumed=envelope)

    @http("GET", "/api/v1/things/<thing_id>")
    def thing(self, request, thing_id):
        return json_response({"id": thing_id})


def samples(text):
    """{(name, frozenset(labels)): value}"""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = (
                sample.value)
    return found


def value(found, name, **labels):
    return found.get((name, frozenset(labels.items())), 0.0)




def test_metrics_and_json_logs(container_factory, service_config, web_url):
    lines = io.StringIO()
    capture = logging.StreamHandler(lines)
    capture.setFormatter(JsonFormatter())
    log.addHandler(capture)
    log.setLevel(logging.INFO)
    try:
        container = container_factory(MetricsProbe, service_config)
        container.start()
        event_id = f"m-{uuid.uuid4().hex}"
        good = make_event(EVENT, {"phone": "13912345678"}, source=SOURCE,
                          event_id=event_id, correlation_id="story-7")
        with Connection(service_config["AMQP_URI"]) as conn:
            producer = Producer(conn.channel())
            for body in (good, {"type": EVENT}):  # the second is invalid
                producer.publish(body, exchange=wiring.event_exchange(SOURCE),
                                 routing_key=EVENT, serializer="json")
        assert requests.get(web_url + "/api/v1/things/t1",
                            timeout=5).status_code == 200
        assert requests.get(web_url + "/health", timeout=5).status_code == 200

        def scrape():
            response = requests.get(web_url + "/metrics", timeout=5)
            assert response.status_code == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            return samples(response.text)

        svc = {"service": "opsmetrics"}
        handler = dict(svc, handler="on_probe", event_type=EVENT)
        assert wait_for(lambda: value(
            scrape(), "sifuwu_events_published_total", **svc,
            event_type="probe.echoed") == 1.0)
        found = scrape()
    finally:
        log.removeHandler(capture)

    assert value(found, "sifuwu_events_consumed_total", **handler,
                 outcome="applied") == 1.0
    assert value(found, "sifuwu_events_consumed_total", **handler,
                 outcome="dead_lettered") == 1.0
    assert value(found, "sifuwu_event_failures_total", **handler,
                 kind="invalid") == 1.0
    assert value(found, "sifuwu_dead_lettered_total", **svc,
                 queue=wiring.DEAD_LETTER_QUEUE) == 1.0
    assert value(found, "sifuwu_handler_seconds_count", **handler) == 2.0
    assert value(found, "sifuwu_http_requests_total", **svc, method="GET",
                 route="/api/v1/things/<thing_id>", status="200") == 1.0
    assert value(found, "sifuwu_http_requests_total", **svc, method="GET",
                 route="/health", status="200") == 1.0
    assert value(found, "sifuwu_http_request_seconds_count", **svc,
                 method="GET", route="/health") == 1.0
    assert value(found, "sifuwu_queue_messages",
                 queue=wiring.DEAD_LETTER_QUEUE) == 1.0

    records = [json.loads(line) for line in lines.getvalue().splitlines()]
    sent, = [r for r in records if r["message"].startswith("通知已发送")]
    assert sent["message"] == "通知已发送给 139****5678"
    assert sent["event_id"] == event_id
    assert sent["correlation_id"] == "story-7"
    assert sent["event_type"] == EVENT and sent["level"] == "INFO"
