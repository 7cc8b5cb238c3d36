"""Scale-out: two instances of the same service (same config, vhost and
databases, as `docker compose up --scale` runs them) share one queue as
competing consumers; every event is applied exactly once, even when the
relay sends some of them twice."""

import uuid

from kombu import Connection, Producer
from pymongo import ASCENDING, IndexModel

from sifuwu import wiring
from sifuwu.consumer import consumes
from sifuwu.events import make_event
from sifuwu import metrics
from sifuwu.service import ServiceBase
from tooling.stack import free_port
from tests.helpers import wait_for

SOURCE = "opsprobe_src"
EVENT = "probe.happened"


class ScaleProbe(ServiceBase):
    """A minimal service on the shared plumbing (store, consumer, dedupe)."""

    name = "opsscale"
    indexes = {"applied": [IndexModel([("event_id", ASCENDING)],
                                      unique=True, name="applied_event")]}

    @consumes(SOURCE, EVENT)
    def on_probe(self, envelope):
        instance = self.config["SIFUWU_INSTANCE"]

        def apply(uow):
            uow.col("applied").insert_one(
                {"event_id": envelope["event_id"], "instance": instance},
                session=uow.session)
        self.store.transaction(apply,
                               consumed=envelope)


def consumed_total(outcome):
    return metrics.EVENTS_CONSUMED.labels(
        "opsscale", "on_probe", EVENT, outcome)._value.get()




def test_two_instances_compete_and_apply_each_event_once(
        container_factory, service_config, mongo):
    first = container_factory(ScaleProbe,
                              dict(service_config, SIFUWU_INSTANCE="a"))
    second = container_factory(ScaleProbe, dict(
        service_config, SIFUWU_INSTANCE="b",
        WEB_SERVER_ADDRESS=f"127.0.0.1:{free_port()}"))
    first.start()
    second.start()
    applied_before = consumed_total("applied")
    duplicate_before = consumed_total("duplicate")

    events = [make_event(EVENT, {"n": n}, source=SOURCE,
                         event_id=f"scale-{uuid.uuid4().hex}")
              for n in range(40)]
    resent = events[:10]  # a relay re-send after a lost confirm
    with Connection(service_config["AMQP_URI"]) as conn:
        producer = Producer(conn.channel())
        for envelope in events + resent:
            producer.publish(envelope, exchange=wiring.event_exchange(SOURCE),
                             routing_key=EVENT, serializer="json",
                             delivery_mode=2)

    assert wait_for(lambda: (consumed_total("applied") - applied_before
                             + consumed_total("duplicate") - duplicate_before)
                    >= len(events) + len(resent))

    db = mongo[f"{service_config['SIFUWU_DB_PREFIX']}opsscale"]
    docs = list(db["applied"].find())
    assert sorted(d["event_id"] for d in docs) == sorted(
        e["event_id"] for e in events)  # each exactly once
    assert consumed_total("applied") - applied_before == len(events)
    assert consumed_total("duplicate") - duplicate_before == len(resent)
    by_instance = {i: sum(d["instance"] == i for d in docs) for i in "ab"}
    assert by_instance["a"] > 0 and by_instance["b"] > 0, by_instance
    assert db["consumed_events"].count_documents({}) == len(events)
