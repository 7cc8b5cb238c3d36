"""The published ingest contract, generated from the marshmallow schemas.

``python -m services.activity.contract`` writes ``docs/openapi.json`` (the
HTTP API, via apispec) and ``docs/asyncapi.yaml`` (the AMQP exchange); a test
regenerates both and compares them with the committed files, so the documents
cannot drift from the code that validates the events."""

import copy
import json
import sys
from pathlib import Path

import yaml
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from sifuwu import __version__, wiring
from sifuwu import events as ev
from services.activity import schemas
from services.activity.clients import contract as clients
from services.activity.demands import domain
from services.activity.examples import example_envelope

ROOT = Path(__file__).resolve().parents[2]
OPENAPI_PATH = ROOT / "docs" / "openapi.json"
ASYNCAPI_PATH = ROOT / "docs" / "asyncapi.yaml"

TITLE = "sifuwu 活动服务 · 数据接入与查询接口"
DESCRIPTION = (
    "“机关党建 + 四服务”活动服务的接入契约：其他政务系统（党员管理系统、"
    "12345 热线、营商环境平台、项目系统等）通过 HTTP 或 AMQP 报送组织架构、"
    "服务活动、党建活动、诉求和业务指标；党务干部通过查询接口按单位、支部、"
    "党员、类别、主题活动、状态和期间检索。详见 docs/ingest/README.md。")


def schema_name(event_type):
    """``directory.unit`` -> ``DirectoryUnitData``."""
    return "".join(part.capitalize() for part in
                   event_type.replace("_", ".").split(".")) + "Data"


def envelope_name(event_type):
    return schema_name(event_type)[:-4] + "Envelope"


def _envelope_component(event_type):
    """The envelope of one type: the common fields, ``type`` fixed."""
    meaning = schemas.DATA_SCHEMAS[event_type].__doc__.split("—", 1)[-1]
    return {
        "type": "object",
        "description": f"{event_type}：{meaning.strip()}",
        "required": ["event_id", "type", "source", "occurred_at", "data"],
        "additionalProperties": False,
        "properties": {
            "event_id": {"type": "string", "minLength": 1, "maxLength": 128,
                         "description": "来源系统内唯一；同一 (source, event_id) 重复报送不会重复生效"},
            "type": {"type": "string", "enum": [event_type]},
            "source": {"type": "string", "minLength": 1, "maxLength": 64,
                       "description": "来源系统标识，须与访问令牌（HTTP）或 AMQP 用户对应"},
            "occurred_at": {"type": "string", "format": "date-time",
                            "description": "带时区偏移的 ISO 8601 时间"},
            "correlation_id": {"type": "string", "maxLength": 128,
                               "nullable": True},
            "data": {"$ref": f"#/components/schemas/{schema_name(event_type)}"},
        },
        "example": example_envelope(event_type),
    }


def _spec():
    spec = APISpec(title=TITLE, version=__version__, openapi_version="3.0.3",
                   info={"description": DESCRIPTION},
                   plugins=[MarshmallowPlugin()])
    spec.components.security_scheme(
        "ingestToken", {"type": "http", "scheme": "bearer",
                        "description": "接入客户端的密钥 sfw_<密钥编号>_<密文>（工委通过 /api/v1/clients 发放）；"
                                       "开发环境亦可用 SIFUWU_INGEST_TOKENS（系统=令牌）"})
    spec.components.security_scheme(
        "staffToken", {"type": "http", "scheme": "bearer",
                       "description": "身份服务签发的访问令牌（POST /api/v1/login，端口 8005）"})
    for event_type in ev.INGEST_TYPES:
        spec.components.schema(schema_name(event_type),
                               schema=schemas.DATA_SCHEMAS[event_type])
    for event_type in ev.INGEST_TYPES:
        spec.components.schema(envelope_name(event_type),
                               component=_envelope_component(event_type))
    spec.components.schema("Envelope", component={
        "oneOf": [{"$ref": f"#/components/schemas/{envelope_name(t)}"}
                  for t in ev.INGEST_TYPES],
        "discriminator": {"propertyName": "type", "mapping": {
            t: f"#/components/schemas/{envelope_name(t)}"
            for t in ev.INGEST_TYPES}}})
    for name, schema in (("IngestAnswer", schemas.IngestAnswerSchema),
                         ("BatchAnswer", schemas.BatchAnswerSchema),
                         ("Error", schemas.ErrorSchema),
                         ("Activity", schemas.ActivitySchema),
                         ("ActivityCreate", schemas.ActivityCreateSchema),
                         ("Demand", schemas.DemandSchema),
                         ("DemandAction", schemas.DemandActionSchema),
                         ("CampaignCreate", schemas.CampaignCreateSchema),
                         ("Campaign", schemas.CampaignSchema)):
        spec.components.schema(name, schema=schema)
    _paths(spec)
    clients.add(spec, _json, _error)
    return spec


def _json(ref, description, example=None):
    content = {"application/json": {"schema": {"$ref": ref}}}
    if example is not None:
        content["application/json"]["example"] = example
    return {"description": description, "content": content}


def _error(description):
    return _json("#/components/schemas/Error", description)


def _page_of(ref):
    return {"description": "分页结果", "content": {"application/json": {
        "schema": {"type": "object", "properties": {
            "items": {"type": "array", "items": {"$ref": ref}},
            "total": {"type": "integer"}, "page": {"type": "integer"},
            "per_page": {"type": "integer"}}}}}}


def _paths(spec):
    ingest = [{"ingestToken": []}]
    staff = [{"staffToken": []}]
    common = {"401": _error("缺少或无效的令牌"),
              "413": _error("请求体超过大小上限")}
    spec.path(path="/api/v1/events", operations={"post": {
        "tags": ["ingest"], "operationId": "ingestEvent",
        "summary": "报送一条事件",
        "security": ingest,
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Envelope"},
            "examples": {t: {"value": example_envelope(t)}
                         for t in ev.INGEST_TYPES}}}},
        "responses": {
            "202": _json("#/components/schemas/IngestAnswer", "已受理",
                         {"event_id": "hotline12345-kpi.business-0001",
                          "status": "accepted",
                          "result": {"kpi_id": "unit:u-fgw:2026-11:projects_approved",
                                     "applied": True}}),
            "200": _json("#/components/schemas/IngestAnswer",
                         "重复报送（同一 source 与 event_id），不重复生效",
                         {"event_id": "hotline12345-kpi.business-0001",
                          "status": "duplicate", "result": None}),
            "400": _error("字段校验未通过（fields 给出逐字段原因；"
                          "occurred_at 晚于服务器当前时间超过允许的时钟偏差亦在此列）"),
            "403": _error("source 不是接入客户端可使用的来源系统（source_not_allowed；"
                          "开发令牌为 source_mismatch）、"
                          "本系统无权报送该类型（type_not_allowed），"
                          "或该记录由其他来源系统维护（not_owner）"),
            "404": _error("引用的对象不存在"),
            "409": _error("状态冲突：编号已登记，或诉求状态不允许该操作"),
            **common, "401": _error(
                "缺少或无效的令牌；密钥已被吊销（key_revoked）或已过重叠期（key_expired）")}}})
    spec.path(path="/api/v1/events:batch", operations={"post": {
        "tags": ["ingest"], "operationId": "ingestBatch",
        "summary": "批量报送（每批最多 1000 条，逐条答复）",
        "security": ingest,
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"type": "object", "required": ["events"],
                       "additionalProperties": False,
                       "properties": {"events": {
                           "type": "array", "minItems": 1, "maxItems": 1000,
                           "items": {"$ref": "#/components/schemas/Envelope"}}}}}}},
        "responses": {
            "200": _json("#/components/schemas/BatchAnswer",
                         "逐条结果：accepted / duplicate / rejected"),
            "400": _error("请求体不是 {events: [...]}"),
            "413": _error("超过 1000 条或请求体过大"),
            "401": common["401"]}}})
    query = [{"in": "query", "schema": schemas.QuerySchema}]
    spec.path(path="/api/v1/activities", operations={
        "get": {"tags": ["staff"], "operationId": "listActivities",
                "summary": "查询服务活动和党建活动", "security": staff,
                "parameters": query,
                "responses": {"200": _page_of("#/components/schemas/Activity"),
                              "400": _error("查询参数有误"),
                              "401": common["401"]}},
        "post": {"tags": ["staff"], "operationId": "logActivity",
                 "summary": "登记一次服务活动",
                 "requestBody": {"required": True, "content": {
                     "application/json": {"schema": {
                         "$ref": "#/components/schemas/ActivityCreate"}}}},
                 "responses": {"201": _json("#/components/schemas/Activity",
                                            "已登记"),
                               "400": _error("字段校验未通过")}}})
    spec.path(path="/api/v1/activities/{activity_id}", operations={"get": {
        "tags": ["staff"], "operationId": "getActivity", "summary": "一次活动",
        "security": staff,
        "parameters": [{"in": "path", "name": "activity_id", "required": True,
                        "schema": {"type": "string"}}],
        "responses": {"200": _json("#/components/schemas/Activity", "活动"),
                      "401": common["401"], "404": _error("未找到")}}})
    spec.path(path="/api/v1/demands", operations={"get": {
        "tags": ["staff"], "operationId": "listDemands", "summary": "查询诉求",
        "security": staff, "parameters": query,
        "responses": {"200": _page_of("#/components/schemas/Demand"),
                      "400": _error("查询参数有误"), "401": common["401"]}}})
    spec.path(path="/api/v1/demands/{demand_id}", operations={"get": {
        "tags": ["staff"], "operationId": "getDemand", "summary": "一项诉求",
        "security": staff,
        "parameters": [{"in": "path", "name": "demand_id", "required": True,
                        "schema": {"type": "string"}}],
        "responses": {"200": _json("#/components/schemas/Demand", "诉求"),
                      "401": common["401"], "404": _error("未找到")}}})
    spec.path(path="/api/v1/demands/{demand_id}/{action}", operations={"post": {
        "tags": ["staff"], "operationId": "actOnDemand",
        "summary": "响应 / 开始办理 / 办结 / 确认 / 重新打开 / 转办（转办须说明理由）",
        "security": staff,
        "parameters": [
            {"in": "path", "name": "demand_id", "required": True,
             "schema": {"type": "string"}},
            {"in": "path", "name": "action", "required": True,
             "schema": {"type": "string", "enum": list(domain.ACTIONS)}}],
        "requestBody": {"required": False, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/DemandAction"}}}},
        "responses": {"200": _json("#/components/schemas/Demand", "新状态"),
                      "400": _error("缺少转办理由等"),
                      "401": common["401"], "404": _error("未找到诉求或操作"),
                      "409": _error("当前状态不允许该操作（message 说明原因）")}}})
    spec.path(path="/api/v1/campaigns", operations={
        "get": {"tags": ["staff"], "operationId": "listCampaigns",
                "summary": "主题活动列表", "security": staff,
                "responses": {"200": {"description": "主题活动", "content": {
                    "application/json": {"schema": {"type": "object", "properties": {
                        "items": {"type": "array", "items": {
                            "$ref": "#/components/schemas/Campaign"}}}}}}},
                    "401": common["401"]}},
        "post": {"tags": ["staff"], "operationId": "createCampaign",
                 "summary": "设立主题活动及目标", "security": staff,
                 "requestBody": {"required": True, "content": {
                     "application/json": {"schema": {
                         "$ref": "#/components/schemas/CampaignCreate"}}}},
                 "responses": {"201": _json("#/components/schemas/Campaign",
                                            "已设立"),
                               "400": _error("字段校验未通过"),
                               "401": common["401"],
                               "409": _error("编号已存在")}}})
    spec.path(path="/api/v1/campaigns/{campaign_id}", operations={"get": {
        "tags": ["staff"], "operationId": "campaignProgress",
        "summary": "主题活动及其目标完成情况", "security": staff,
        "parameters": [{"in": "path", "name": "campaign_id", "required": True,
                        "schema": {"type": "string"}}],
        "responses": {"200": {"description": "主题活动与进度 (progress)"},
                      "401": common["401"], "404": _error("未找到")}}})
    spec.path(path="/health", operations={"get": {
        "tags": ["ops"], "operationId": "health", "summary": "健康检查",
        "responses": {"200": {"description": "正常"},
                      "503": {"description": "broker 或 store 不可用"}}}})


def openapi():
    return _spec().to_dict()


def convert(node):
    """OpenAPI 3.0 schema objects -> AsyncAPI 2.6 (JSON Schema draft 7):
    ``nullable`` becomes a type union."""
    if isinstance(node, dict):
        node = {k: convert(v) for k, v in node.items()}
        if node.pop("nullable", False) and "type" in node:
            node["type"] = [node["type"], "null"]
        return node
    if isinstance(node, list):
        return [convert(v) for v in node]
    return node


def _asyncapi_schemas(components):
    """The ingest schemas the AsyncAPI document needs, converted."""
    wanted = {schema_name(t) for t in ev.INGEST_TYPES} | {
        envelope_name(t) for t in ev.INGEST_TYPES}
    picked = {}
    pending = list(wanted)
    while pending:
        name = pending.pop()
        if name in picked:
            continue
        picked[name] = convert(copy.deepcopy(components[name]))
        text = json.dumps(picked[name])
        for other in components:
            if f'"#/components/schemas/{other}"' in text:
                pending.append(other)
    for schema in picked.values():
        schema.pop("discriminator", None)
    return {name: picked[name] for name in components if name in picked}


def outgoing_name(event_type):
    return schema_name(event_type)[:-4] + "Event"


def _outgoing_components():
    """Schemas of the events this service publishes, via apispec."""
    spec = APISpec(title=TITLE, version=__version__, openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin()])
    seen = {}
    for event_type, schema in schemas.OUTGOING_SCHEMAS.items():
        if schema not in seen:
            seen[schema] = schema.__name__
            spec.components.schema(schema.__name__, schema=schema)
    return convert(spec.to_dict()["components"]["schemas"])


def _outgoing_messages():
    messages = {}
    for event_type, schema in schemas.OUTGOING_SCHEMAS.items():
        messages[outgoing_name(event_type)] = {
            "name": event_type,
            "title": event_type,
            "summary": schema.__doc__.split("—", 1)[-1].strip(),
            "contentType": "application/json",
            "payload": {"type": "object",
                        "required": ["event_id", "type", "source",
                                     "occurred_at", "data"],
                        "properties": {
                            "event_id": {"type": "string"},
                            "type": {"type": "string", "enum": [event_type]},
                            "source": {"type": "string", "enum": ["activity"]},
                            "occurred_at": {"type": "string",
                                            "format": "date-time"},
                            "correlation_id": {"type": ["string", "null"]},
                            "data": {"$ref": "#/components/schemas/"
                                             + schema.__name__}}},
            "bindings": {"amqp": {"contentEncoding": "utf-8",
                                  "messageType": event_type,
                                  "bindingVersion": "0.2.0"}},
        }
    return messages


def asyncapi(openapi_doc=None):
    openapi_doc = openapi_doc or openapi()
    components = openapi_doc["components"]["schemas"]
    messages = {}
    for event_type in ev.INGEST_TYPES:
        messages[envelope_name(event_type)[:-8]] = {
            "name": event_type,
            "title": event_type,
            "summary": components[envelope_name(event_type)]["description"],
            "contentType": "application/json",
            "payload": {"$ref": f"#/components/schemas/{envelope_name(event_type)}"},
            "bindings": {"amqp": {"contentEncoding": "utf-8",
                                  "messageType": event_type,
                                  "bindingVersion": "0.2.0"}},
            "examples": [{"name": "example",
                          "payload": example_envelope(event_type)}],
        }
    rejected_headers = {"type": "object", "properties": {
        wiring.REJECTION_HEADER: {
            "type": "string",
            "description": "拒收原因：<代码>: <说明>，代码为 invalid / "
                           "unauthorized / source_mismatch / "
                           "type_not_allowed / not_owner / "
                           "illegal_transition / activity_exists / "
                           "demand_exists / handler_error 等"},
        "x-user-id": {"type": "string", "description": "原消息的 user_id"},
        "x-routing-key": {"type": "string", "description": "原消息的路由键"}}}
    refs = [{"$ref": f"#/components/messages/{name}"} for name in messages]
    return {
        "asyncapi": "2.6.0",
        "info": {"title": "sifuwu 数据接入（AMQP）", "version": __version__,
                 "description": (
                     "与 HTTP 接入同一契约的消息通道。来源系统以各自的 RabbitMQ "
                     "用户连接，消息必须带 user_id 属性（RabbitMQ 校验其与连接用户"
                     "一致，据此识别来源系统；信封的 source 须与之对应）。路由键为"
                     "事件类型，消息体为 UTF-8 JSON 信封，持久化投递（delivery_mode=2），"
                     "建议开启发布确认。无效消息不会丢弃：原样转入 "
                     f"{wiring.INGEST_REJECTED_QUEUE} 队列，并在头部 "
                     f"{wiring.REJECTION_HEADER} 给出原因。同一 (source, event_id) "
                     "重复投递只生效一次。")},
        "defaultContentType": "application/json",
        "servers": {"production": {
            "url": "rabbitmq:5672", "protocol": "amqp",
            "protocolVersion": "0-9-1",
            "description": "每个来源系统一个用户，仅授予对 sifuwu.ingest 的写权限"}},
        "channels": {
            wiring.INGEST_EXCHANGE: {
                "description": "接入交换机（topic，持久）；活动服务以队列 "
                               f"{wiring.INGEST_QUEUE} 绑定 #",
                "bindings": {"amqp": {
                    "is": "routingKey",
                    "exchange": {"name": wiring.INGEST_EXCHANGE,
                                 "type": "topic", "durable": True,
                                 "autoDelete": False, "vhost": "/"},
                    "bindingVersion": "0.2.0"}},
                "publish": {
                    "operationId": "sendIngestEvent",
                    "summary": "来源系统报送事件（路由键 = 事件类型）",
                    "bindings": {"amqp": {"deliveryMode": 2, "mandatory": False,
                                          "bindingVersion": "0.2.0"}},
                    "message": {"oneOf": refs}}},
            wiring.INGEST_REJECTED_QUEUE: {
                "description": "被拒收的消息（原样，附拒收原因），持久队列",
                "bindings": {"amqp": {
                    "is": "queue",
                    "queue": {"name": wiring.INGEST_REJECTED_QUEUE,
                              "durable": True, "exclusive": False,
                              "autoDelete": False, "vhost": "/"},
                    "bindingVersion": "0.2.0"}},
                "subscribe": {
                    "operationId": "readRejected",
                    "summary": "运维或来源系统读取被拒收的消息",
                    "message": {"name": "rejected",
                                "title": "被拒收的原消息",
                                "headers": rejected_headers,
                                "payload": {"description": "原消息体，未作改动"}}}},
            wiring.event_exchange("activity").name: {
                "description": "活动服务对套件内其他服务发布的事件（topic，持久，"
                               "路由键 = 事件类型；先写入发件箱，提交后以发布确认转发）。"
                               "消费方以 event_id 去重。",
                "bindings": {"amqp": {
                    "is": "routingKey",
                    "exchange": {"name": wiring.event_exchange("activity").name,
                                 "type": "topic", "durable": True,
                                 "autoDelete": False, "vhost": "/"},
                    "bindingVersion": "0.2.0"}},
                "subscribe": {
                    "operationId": "receiveActivityEvents",
                    "summary": "评价、考评、通知服务订阅",
                    "message": {"oneOf": [
                        {"$ref": f"#/components/messages/{outgoing_name(t)}"}
                        for t in schemas.OUTGOING_SCHEMAS]}}},
        },
        "components": {"messages": {**messages, **_outgoing_messages()},
                       "schemas": _merge(_asyncapi_schemas(components),
                                         _outgoing_components())},
    }


def _merge(ingest, outgoing):
    merged = dict(ingest)
    for name, schema in outgoing.items():
        if name in merged and merged[name] != schema:
            raise ValueError(f"two different schemas named {name}")
        merged[name] = schema
    return merged


def render():
    """(openapi.json text, asyncapi.yaml text), byte-stable."""
    doc = openapi()
    openapi_text = json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
    asyncapi_text = yaml.safe_dump(asyncapi(doc), allow_unicode=True,
                                   sort_keys=False, width=100)
    return openapi_text, asyncapi_text


def write():
    openapi_text, asyncapi_text = render()
    OPENAPI_PATH.parent.mkdir(parents=True, exist_ok=True)
    OPENAPI_PATH.write_text(openapi_text, encoding="utf-8")
    ASYNCAPI_PATH.write_text(asyncapi_text, encoding="utf-8")
    return OPENAPI_PATH, ASYNCAPI_PATH


if __name__ == "__main__":
    for path in write():
        print(f"wrote {path.relative_to(ROOT)}", file=sys.stdout)
