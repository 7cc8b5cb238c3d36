"""`sifuwu dlq` on the real broker: a service dead-letters what it cannot
handle with the reason and where the message came from; `list` shows it
without consuming, `replay` sends chosen ones back after a fix, `purge`
drops only with confirmation. Dead-letter queues have no TTL."""

import json
import uuid

from click.testing import CliRunner
from kombu import Connection, Exchange, Producer, Queue

from sifuwu import wiring
from tooling.cli import main
from sifuwu.consumer import consumes
from sifuwu.events import make_event
from tooling.ops import dlq
from sifuwu.service import ServiceBase
from tests.helpers import wait_for

SOURCE = "opsdlq_src"
EVENT = "probe.failed"
FIXED = {"value": False}


class FlakyProbe(ServiceBase):
    """Fails on ``poison`` events until the "fix" is deployed."""

    name = "opsdlq"

    @consumes(SOURCE, EVENT)
    def on_probe(self, envelope):
        if envelope["data"].get("poison") and not FIXED["value"]:
            raise RuntimeError("模拟缺陷: 无法处理")

        def apply(uow):
            uow.col("applied").insert_one({"_id": envelope["event_id"]},
                                          session=uow.session)
        self.store.transaction(apply,
                               consumed=envelope)


def cli(*args, input=None):
    return CliRunner().invoke(main, list(args), input=input,
                              catch_exceptions=False)




def test_list_replay_purge_on_the_real_broker(container_factory,
                                              service_config, mongo):
    uri = service_config["AMQP_URI"]
    FIXED["value"] = False
    container = container_factory(FlakyProbe, service_config)
    container.start()
    poison = [make_event(EVENT, {"poison": True, "phone": "13912345678"},
                         source=SOURCE, event_id=f"poison-{uuid.uuid4().hex}")
              for _ in range(2)]
    invalid = {"type": EVENT, "data": {"n": 1}}  # no event_id, no source
    with Connection(uri) as conn:
        producer = Producer(conn.channel())
        for body in [*poison, invalid]:
            producer.publish(body, exchange=wiring.event_exchange(SOURCE),
                             routing_key=EVENT, serializer="json")
    queues = dlq.DeadLetterQueues(uri)
    assert wait_for(lambda: queues.counts()[wiring.DEAD_LETTER_QUEUE] == 3)

    # list: reasons, origin, preview; nothing consumed (twice, same result)
    listed = json.loads(cli("dlq", "list", "--amqp-uri", uri,
                            "--json").output)
    again = json.loads(cli("dlq", "list", "--amqp-uri", uri,
                           "--json").output)
    assert listed == again
    letters = {item["key"]: item for item in listed[wiring.DEAD_LETTER_QUEUE]}
    assert len(letters) == 3
    for event in poison:
        item = letters[event["event_id"]]
        assert item["reason"] == ("handler_error: RuntimeError: "
                                  "模拟缺陷: 无法处理")
        assert item["service"] == "opsdlq"
        assert (item["exchange"], item["routing_key"]) == (
            f"{SOURCE}.events", EVENT)
        assert event["event_id"] in item["preview"]
    invalid_key = next(k for k in letters if k.startswith("sha1:"))
    assert letters[invalid_key]["reason"].startswith("invalid: ")
    assert queues.counts()[wiring.DEAD_LETTER_QUEUE] == 3

    table = cli("dlq", "list", "--amqp-uri", uri)
    assert table.exit_code == 0 and "模拟缺陷" in table.output

    # replay one after the fix: applied by the service, gone from the DLQ
    FIXED["value"] = True
    replayed = cli("dlq", "replay", "--amqp-uri", uri,
                   "--id", poison[0]["event_id"])
    assert replayed.exit_code == 0, replayed.output
    assert f"已重放 {poison[0]['event_id']} → {SOURCE}.events" in (
        replayed.output)
    applied = mongo[f"{service_config['SIFUWU_DB_PREFIX']}opsdlq"]["applied"]
    assert wait_for(lambda: applied.find_one({"_id": poison[0]["event_id"]}))
    assert queues.counts()[wiring.DEAD_LETTER_QUEUE] == 2
    assert applied.find_one({"_id": poison[1]["event_id"]}) is None

    # purge asks first; "no" drops nothing
    refused = cli("dlq", "purge", "--amqp-uri", uri, "--id", invalid_key,
                  input="n\n")
    assert refused.exit_code == 1 and "未删除任何消息" in refused.output
    assert queues.counts()[wiring.DEAD_LETTER_QUEUE] == 2
    chosen = cli("dlq", "purge", "--amqp-uri", uri, "--id", invalid_key,
                 "--yes")
    assert "已删除 1 条" in chosen.output
    remaining = [i.key for i in queues.list(wiring.DEAD_LETTER_QUEUE)]
    assert remaining == [poison[1]["event_id"]]
    everything = cli("dlq", "purge", "--amqp-uri", uri, "--yes")
    assert "已删除 1 条" in everything.output
    assert queues.counts()[wiring.DEAD_LETTER_QUEUE] == 0


def test_replay_needs_a_choice(infra):
    result = cli("dlq", "replay", "--amqp-uri", infra.amqp_uri)
    assert result.exit_code == 2 and "--all" in result.output


def test_unreachable_broker_is_a_clear_error():
    result = cli("dlq", "list", "--amqp-uri",
                 "pyamqp://guest:guest@127.0.0.1:1//")
    assert result.exit_code == 1
    assert "无法连接 RabbitMQ" in result.output


def test_dead_letter_queues_never_expire_messages(infra, vhost):
    uri = f"pyamqp://guest:guest@127.0.0.1:{infra.ports.amqp}/{vhost}"
    with Connection(uri) as conn:
        wiring.declare_topology(conn)
        dlq.declare(conn)
        producer = Producer(conn.channel())
        producer.publish({"x": 1}, exchange=wiring.dead_letter_exchange(),
                         routing_key=wiring.DEAD_LETTER_QUEUE,
                         headers={wiring.REJECTION_HEADER: "test"},
                         serializer="json", delivery_mode=2)
    rows = json.loads(infra.rabbitmqctl(
        "list_queues", "-p", vhost, "name", "arguments", "policy",
        "durable", "auto_delete", "--formatter", "json", "--quiet"))
    found = {row["name"]: row for row in rows}
    for name in dlq.QUEUES:
        row = found[name]
        assert row["durable"] is True and row["auto_delete"] is False
        args = {key for key, *_ in row["arguments"]} if isinstance(
            row["arguments"], list) else set(row["arguments"] or {})
        assert not args & {"x-message-ttl", "x-expires", "x-max-length",
                           "x-max-length-bytes", "x-delivery-limit"}
        assert row["policy"] in ("", None)
    assert json.loads(infra.rabbitmqctl(
        "list_policies", "-p", vhost, "--formatter", "json",
        "--quiet") or "[]") == []
    # and the message itself carries no expiration
    letter, = dlq.DeadLetterQueues(uri).list(wiring.DEAD_LETTER_QUEUE)
    assert letter.reason == "test"
    with Connection(uri) as conn:
        message = conn.default_channel.basic_get(wiring.DEAD_LETTER_QUEUE,
                                                 no_ack=False)
        assert "expiration" not in (message.properties or {})


def test_replay_all_pages_through_more_than_a_thousand(infra, vhost):
    """No cap: 1,500 dead letters (more than ``list`` shows) all go back,
    two that cannot be replayed stay, with a progress bar on stderr."""
    uri = f"pyamqp://guest:guest@127.0.0.1:{infra.ports.amqp}/{vhost}"
    target = Queue("opsdlq.replayed", exchange=Exchange(
        "opsdlq_many.events", type="topic"), routing_key="#", durable=True)
    with Connection(uri, transport_options={"confirm_publish": True}) as conn:
        wiring.declare_topology(conn)
        dlq.declare(conn)
        target(conn.default_channel).declare()
        producer = Producer(conn.channel())
        for n in range(1502):
            headers = {wiring.REJECTION_HEADER: "handler_error: test"}
            if n < 1500:
                headers.update({
                    wiring.ORIGINAL_EXCHANGE_HEADER: "opsdlq_many.events",
                    wiring.ORIGINAL_ROUTING_KEY_HEADER: "probe.many"})
            producer.publish({"event_id": f"many-{n}", "n": n},
                             exchange=wiring.dead_letter_exchange(),
                             routing_key=wiring.DEAD_LETTER_QUEUE,
                             headers=headers, serializer="json",
                             delivery_mode=2)
    queues = dlq.DeadLetterQueues(uri)
    assert queues.counts()[wiring.DEAD_LETTER_QUEUE] == 1502
    assert len(queues.list(wiring.DEAD_LETTER_QUEUE)) == 1000
    listed = cli("dlq", "list", "--amqp-uri", uri)
    assert "共 1502 条，只列出前 1000 条" in listed.stderr, (listed.stdout[:300], listed.stderr)

    result = cli("dlq", "replay", "--amqp-uri", uri, "--all")
    assert result.exit_code == 1, result.output  # two could not be replayed
    assert "已重放 1500 条 → opsdlq_many.events / probe.many" in result.stdout
    assert "共重放 1500 条。" in result.stdout
    # stdout holds the results only (the bar is on stderr)
    assert all(line.startswith(("已重放", "共重放"))
               for line in result.stdout.splitlines())
    assert result.stderr.count("跳过") == 2
    assert "many-1500" in result.stderr and "many-1501" in result.stderr
    assert queues.counts()[wiring.DEAD_LETTER_QUEUE] == 2
    with Connection(uri) as conn:
        _, ready, _ = conn.default_channel.queue_declare(
            queue="opsdlq.replayed", passive=True)
    assert ready == 1500
    left = [letter.key for letter in queues.list(wiring.DEAD_LETTER_QUEUE)]
    assert left == ["many-1500", "many-1501"]


def test_replay_reports_progress_even_on_an_empty_queue(infra, vhost):
    uri = f"pyamqp://guest:guest@127.0.0.1:{infra.ports.amqp}/{vhost}"
    with Connection(uri) as conn:
        dlq.declare(conn)
    seen = []
    replayed, skipped = dlq.DeadLetterQueues(uri).replay(
        wiring.DEAD_LETTER_QUEUE, progress=lambda *a: seen.append(a))
    assert (replayed, skipped, seen) == ([], [], [(0, 0)])
