"""The suite's published contracts, written to ``docs/``.

``python -m tooling.contract`` writes

* ``docs/openapi/<service>.json``: each service's HTTP contract, exactly the
  document the service serves at ``GET /openapi.json`` (``sifuwu.contract``);
* ``docs/asyncapi/sifuwu.yaml``: AsyncAPI 3.0 for every exchange, queue and
  event type of ``sifuwu.wiring``, each event's ``data`` from the marshmallow
  schema that publishes or consumes it.

Tests regenerate both and compare them with the committed files. The
activity service's ingest contract (``docs/openapi.json``,
``docs/asyncapi.yaml``, with examples) is ``services.activity.contract``.
"""

import copy
import importlib
import sys
from pathlib import Path

import yaml
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from sifuwu import __version__, contract, wiring
from sifuwu import events as ev
from services.activity import schemas as activity
from services.assessment import schemas as assessment
from services.assessment.selection import schemas as selection
from services.feedback import schemas as feedback

ROOT = Path(__file__).resolve().parents[1]
OPENAPI_DIR = ROOT / "docs" / "openapi"
ASYNCAPI_PATH = ROOT / "docs" / "asyncapi" / "sifuwu.yaml"
ASYNCAPI_VERSION = "3.0.0"
AMQP_BINDING = "0.3.0"

# The schema of each event type's ``data``: the publisher's where it has
# one (activity), else the one its consumers load it with.
EVENT_SCHEMAS = {
    **activity.OUTGOING_SCHEMAS,
    ev.FEEDBACK_SUBMITTED: assessment.FeedbackSubmittedSchema,
    ev.APPEAL_DECIDED: assessment.AppealDecidedSchema,
    ev.RECTIFICATION_CLOSED: assessment.RectificationClosedSchema,
    ev.RECOMMENDATION_SUBMITTED: selection.RecommendationEventSchema,
    ev.OBJECTION_FILED: selection.ObjectionFiledSchema,
    ev.OBJECTION_ANSWERED: selection.ObjectionAnsweredSchema,
    ev.PUBLICITY_OPENED: feedback.PublicityOpenedSchema,
    ev.OBJECTION_DECIDED: feedback.ObjectionAnsweredSchema,
}
# Types whose data no marshmallow schema describes yet (notify renders the
# first five into messages as they come; the last three have no consumer).
# Documented as an open object until one exists.
UNTYPED = (ev.INVITATION_ISSUED, ev.RECTIFICATION_OPENED,
           ev.RECTIFICATION_OVERDUE, ev.SELECTION_PUBLISHED,
           ev.SELECTION_FINALISED, ev.SCORECARD_UPDATED,
           ev.RANKING_PUBLISHED, ev.BRANCH_RUNG_CHANGED)
# Published with no consumer in the suite (for outside readers).
UNCONSUMED = {ev.SCORECARD_UPDATED: "assessment",
              ev.RANKING_PUBLISHED: "assessment",
              ev.BRANCH_RUNG_CHANGED: "assessment"}

def service_class(name):
    module = importlib.import_module(f"services.{name}.service")
    return next(value for value in vars(module).values()
                if isinstance(value, type) and getattr(value, "name", None)
                == name)


def openapi_documents():
    """{service: OpenAPI JSON text}, as each service serves it."""
    return {name: contract.render(contract.openapi(service_class(name)))
            for name in wiring.SERVICES}


# -- AsyncAPI ------------------------------------------------------------------

def _camel(text):
    parts = text.replace("-", ".").replace("_", ".").split(".")
    return parts[0] + "".join(p.capitalize() for p in parts[1:])


def _pascal(text):
    camel = _camel(text)
    return camel[0].upper() + camel[1:]


def message_id(event_type):
    return _camel(event_type)


def events_by_publisher():
    """{publisher: [event types]} from the wiring and ``UNCONSUMED``."""
    found = {}
    for publisher, event_type, _, _ in wiring.SUBSCRIPTIONS:
        found.setdefault(publisher, [])
        if event_type not in found[publisher]:
            found[publisher].append(event_type)
    for event_type, publisher in UNCONSUMED.items():
        found.setdefault(publisher, []).append(event_type)
    return {p: sorted(types) for p, types in sorted(found.items())}


def to_json_schema(node):
    """OpenAPI 3.0 schema objects → JSON Schema (AsyncAPI's schema
    format): ``nullable`` becomes a type union."""
    if isinstance(node, dict):
        node = {k: to_json_schema(v) for k, v in node.items()}
        if node.pop("nullable", False) and "type" in node:
            node["type"] = [node["type"], "null"]
        return node
    if isinstance(node, list):
        return [to_json_schema(v) for v in node]
    return node


def _data_components():
    spec = APISpec(title="sifuwu events", version=__version__,
                   openapi_version=contract.OPENAPI_VERSION,
                   plugins=[MarshmallowPlugin(
                       schema_name_resolver=lambda s: None)])
    names, given = {}, {}
    for event_type in sorted(EVENT_SCHEMAS):
        schema = EVENT_SCHEMAS[event_type]
        if schema not in given:
            name = schema.__name__.removesuffix("Schema")
            if name in given.values():  # the same name in two services
                name = _pascal(schema.__module__.split(".")[1]) + name
            given[schema] = name
            spec.components.schema(name, schema=schema)
        names[event_type] = given[schema]
    return names, to_json_schema(spec.to_dict()["components"]["schemas"])


def _envelope(event_type, data_ref):
    data = {"$ref": data_ref} if data_ref else {
        "type": "object", "additionalProperties": True,
        "description": "尚无模式描述其内容（见 tooling.contract.UNTYPED）"}
    return {
        "type": "object",
        "required": ["event_id", "type", "source", "occurred_at", "data"],
        "properties": {
            "event_id": {"type": "string", "minLength": 1, "maxLength": 128,
                         "description": "去重键：消费方以此保证只处理一次"},
            "type": {"type": "string", "const": event_type},
            "source": {"type": "string", "minLength": 1, "maxLength": 64},
            "occurred_at": {"type": "string", "format": "date-time"},
            "correlation_id": {"type": ["string", "null"], "maxLength": 128,
                               "description": "贯穿一个业务过程的关联编号"},
            "data": data,
        },
    }


def _exchange_binding(name, kind="topic"):
    return {"amqp": {"is": "routingKey", "exchange": {
        "name": name, "type": kind, "durable": True, "autoDelete": False,
        "vhost": "/"}, "bindingVersion": AMQP_BINDING}}


def _queue_binding(name):
    return {"amqp": {"is": "queue", "queue": {
        "name": name, "durable": True, "exclusive": False,
        "autoDelete": False, "vhost": "/"}, "bindingVersion": AMQP_BINDING}}


def asyncapi():
    """The AsyncAPI 3.0 document (a dict) of the suite's messaging."""
    names, schemas = _data_components()
    messages, channels, operations = {}, {}, {}
    publishers = events_by_publisher()
    all_types = sorted({t for types in publishers.values() for t in types})
    for event_type in all_types:
        data_name = names.get(event_type)
        envelope_name = _pascal(event_type) + "Envelope"
        schemas[envelope_name] = _envelope(
            event_type, data_name and f"#/components/schemas/{data_name}")
        schema = EVENT_SCHEMAS.get(event_type)
        summary = (schema.__doc__ or "").split("—", 1)[-1].strip() \
            if schema is not None and schema.__doc__ else event_type
        messages[message_id(event_type)] = {
            "name": event_type, "title": event_type, "summary": summary,
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{envelope_name}"},
            "bindings": {"amqp": {"messageType": event_type,
                                  "bindingVersion": AMQP_BINDING}}}
    for publisher, types in publishers.items():
        exchange = wiring.event_exchange(publisher).name
        channel = _camel(exchange)
        channels[channel] = {
            "address": exchange,
            "title": f"{contract.TITLES[publisher]}的事件",
            "description": ("topic 交换机，持久；路由键为事件类型。先写入发件箱，"
                            "提交后以发布确认转发"),
            "messages": {message_id(t): {
                "$ref": f"#/components/messages/{message_id(t)}"}
                for t in types},
            "bindings": _exchange_binding(exchange)}
        operations[f"{publisher}Publishes"] = {
            "action": "send", "channel": {"$ref": f"#/channels/{channel}"},
            "title": f"{contract.TITLES[publisher]}发布",
            "messages": [{"$ref": f"#/channels/{channel}/messages/"
                                  f"{message_id(t)}"} for t in types]}
    for publisher, event_type, consumer, method in wiring.SUBSCRIPTIONS:
        queue = wiring.subscription_queue_name(publisher, event_type,
                                               consumer, method)
        channel = _camel(f"{consumer}.{method}.{publisher}")
        channels[channel] = {
            "address": queue,
            "title": f"{contract.TITLES[consumer]}订阅 {event_type}",
            "description": (f"持久队列，绑定 {wiring.event_exchange(publisher).name}"
                            f"（路由键 {event_type}）；各服务启动时声明全部订阅队列"),
            "messages": {message_id(event_type): {
                "$ref": f"#/components/messages/{message_id(event_type)}"}},
            "bindings": _queue_binding(queue)}
        operations[_camel(f"{consumer}.{method}")] = {
            "action": "receive", "channel": {"$ref": f"#/channels/{channel}"},
            "title": f"{contract.TITLES[consumer]} {method}",
            "description": "以 event_id 去重；处理失败的消息附原因转入死信",
            "messages": [{"$ref": f"#/channels/{channel}/messages/"
                                  f"{message_id(event_type)}"}],
            "bindings": {"amqp": {"ack": True,
                                  "bindingVersion": AMQP_BINDING}}}
    _dead_letters(channels, operations, messages, schemas)
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "sifuwu 服务间事件",
            "version": __version__,
            "description": (
                "“机关党建 + 四服务”各服务之间经 RabbitMQ 交换的事件：每个发布方"
                "一个 topic 交换机（<service>.events），每个订阅一个持久队列，"
                "处理失败的消息进入死信队列。外部系统的数据接入见 "
                "docs/asyncapi.yaml。由 python -m tooling.contract 生成。")},
        "defaultContentType": "application/json",
        "servers": {"broker": {
            "host": "rabbitmq:5672", "protocol": "amqp",
            "protocolVersion": "0.9.1",
            "description": "套件的 RabbitMQ（compose 与 Kubernetes 中的服务名）"}},
        "channels": dict(sorted(channels.items())),
        "operations": dict(sorted(operations.items())),
        "components": {"messages": dict(sorted(messages.items())),
                       "schemas": dict(sorted(schemas.items()))},
    }


def _dead_letters(channels, operations, messages, schemas):
    schemas["DeadLetter"] = {
        "description": "原消息体，未作改动", "type": "object",
        "additionalProperties": True}
    messages["deadLetter"] = {
        "name": "dead_letter", "title": "死信",
        "summary": "被拒收或处理失败的消息，附原因与原交换机、路由键",
        "contentType": "application/json",
        "headers": {"type": "object", "properties": {
            wiring.REJECTION_HEADER: {"type": "string"},
            wiring.ORIGINAL_EXCHANGE_HEADER: {"type": "string"},
            wiring.ORIGINAL_ROUTING_KEY_HEADER: {"type": "string"}}},
        "payload": {"$ref": "#/components/schemas/DeadLetter"}}
    ref = {"deadLetter": {"$ref": "#/components/messages/deadLetter"}}
    channels["deadLetterExchange"] = {
        "address": wiring.DEAD_LETTER_EXCHANGE,
        "description": "死信交换机（fanout，持久）", "messages": ref,
        "bindings": _exchange_binding(wiring.DEAD_LETTER_EXCHANGE, "fanout")}
    channels["deadLetterQueue"] = {
        "address": wiring.DEAD_LETTER_QUEUE,
        "description": "死信队列（sifuwu dlq 查看与重放）", "messages": dict(ref),
        "bindings": _queue_binding(wiring.DEAD_LETTER_QUEUE)}
    operations["deadLetter"] = {
        "action": "send", "channel": {"$ref": "#/channels/deadLetterExchange"},
        "title": "各服务转入死信",
        "messages": [{"$ref": "#/channels/deadLetterExchange/messages/deadLetter"}]}
    operations["readDeadLetters"] = {
        "action": "receive", "channel": {"$ref": "#/channels/deadLetterQueue"},
        "title": "运维查看与重放死信",
        "messages": [{"$ref": "#/channels/deadLetterQueue/messages/deadLetter"}]}


def render_asyncapi():
    return yaml.safe_dump(copy.deepcopy(asyncapi()), allow_unicode=True,
                          sort_keys=False, width=100)


def write():
    """Write every document; returns the paths written."""
    OPENAPI_DIR.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in openapi_documents().items():
        path = OPENAPI_DIR / f"{name}.json"
        path.write_text(text, encoding="utf-8")
        written.append(path)
    ASYNCAPI_PATH.parent.mkdir(parents=True, exist_ok=True)
    ASYNCAPI_PATH.write_text(render_asyncapi(), encoding="utf-8")
    written.append(ASYNCAPI_PATH)
    return written


if __name__ == "__main__":
    for path in write():
        print(f"wrote {path.relative_to(ROOT)}", file=sys.stdout)
