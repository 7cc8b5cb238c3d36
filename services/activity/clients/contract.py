"""The API clients' routes and the receipt route in the published OpenAPI
document (``services.activity.contract`` calls ``add``)."""

from services.activity.clients import schemas
from services.activity.ingest.schemas import ReceiptSchema

COMPONENTS = (("ClientCreate", schemas.ClientCreateSchema),
              ("ClientRotate", schemas.RotateSchema),
              ("Client", schemas.ClientSchema),
              ("ClientDetail", schemas.ClientDetailSchema),
              ("IssuedKey", schemas.IssuedKeySchema),
              ("Receipt", ReceiptSchema))


def _ref(name):
    return f"#/components/schemas/{name}"


def _path_param(name):
    return {"in": "path", "name": name, "required": True,
            "schema": {"type": "string"}}


def add(spec, json_answer, error):
    """Register the components and paths; ``json_answer(ref, description)``
    and ``error(description)`` build answers as the rest of the document
    does."""
    for name, schema in COMPONENTS:
        spec.components.schema(name, schema=schema)
    staff = [{"staffToken": []}]
    denied = {"401": error("缺少或无效的令牌"),
              "403": error("角色无权执行此操作（仅工委；审计、运维可查看）")}
    client = [_path_param("client_id")]
    spec.path(path="/api/v1/clients", operations={
        "get": {"tags": ["clients"], "operationId": "listClients",
                "summary": "接入客户端列表（不含密钥）", "security": staff,
                "responses": {"200": {"description": "接入客户端", "content": {
                    "application/json": {"schema": {
                        "type": "object", "properties": {"items": {
                            "type": "array",
                            "items": {"$ref": _ref("Client")}}}}}}},
                    **denied}},
        "post": {"tags": ["clients"], "operationId": "createClient",
                 "summary": "新建接入客户端（答复中的密钥只显示这一次）",
                 "security": staff,
                 "requestBody": {"required": True, "content": {
                     "application/json": {"schema": {
                         "$ref": _ref("ClientCreate")}}}},
                 "responses": {"201": json_answer(_ref("IssuedKey"), "已新建"),
                               "400": error("字段校验未通过"), **denied}}})
    spec.path(path="/api/v1/clients/{client_id}", operations={"get": {
        "tags": ["clients"], "operationId": "getClient",
        "summary": "一个接入客户端及其变更记录（不含密钥）", "security": staff,
        "parameters": client,
        "responses": {"200": json_answer(_ref("ClientDetail"), "接入客户端"),
                      "404": error("未找到"), **denied}}})
    spec.path(path="/api/v1/clients/{client_id}/rotate", operations={"post": {
        "tags": ["clients"], "operationId": "rotateClientKey",
        "summary": "轮换密钥：发放新密钥，旧密钥在重叠期内继续有效",
        "security": staff, "parameters": client,
        "requestBody": {"required": False, "content": {"application/json": {
            "schema": {"$ref": _ref("ClientRotate")}}}},
        "responses": {"201": json_answer(_ref("IssuedKey"), "新密钥（只显示这一次）"),
                      "400": error("重叠期超出允许范围"),
                      "404": error("未找到"),
                      "409": error("客户端已被吊销（client_revoked）"),
                      **denied}}})
    spec.path(path="/api/v1/clients/{client_id}/revoke", operations={"post": {
        "tags": ["clients"], "operationId": "revokeClient",
        "summary": "吊销：该客户端的全部密钥立即失效", "security": staff,
        "parameters": client,
        "responses": {"200": json_answer(_ref("Client"), "已吊销"),
                      "404": error("未找到"),
                      "409": error("已被吊销（client_revoked）"), **denied}}})
    spec.path(path="/api/v1/events/{source}/{event_id}", operations={"get": {
        "tags": ["ingest"], "operationId": "getReceipt",
        "summary": "一条已受理事件的回执：何时、经哪条通道、由哪个接入客户端报送",
        "security": staff,
        "parameters": [_path_param("source"), _path_param("event_id")],
        "responses": {"200": json_answer(_ref("Receipt"), "回执"),
                      "404": error("未找到"), **denied}}})
