"""Each service's HTTP contract (OpenAPI 3), built from its routes.

Every ``@http`` route declares what it takes and answers where it is
defined (``sifuwu.web.HttpEntrypoint``: ``request``, ``query``,
``response``, ``summary``, ``errors``); ``openapi(ServiceClass)`` reads
those declarations, the URL rules and the policy table (``sifuwu.policy``)
and builds the document through apispec's marshmallow plugin, so the
schemas that validate a request are the ones published. A service serves
its own at ``GET /openapi.json`` (and Swagger UI at ``GET /docs``);
``python -m tooling.contract`` writes them to ``docs/openapi/``.

The shapes a route answers that no boundary schema names (a list with a
count, one record under a key, a page) are made here from the record's
schema: ``listing``, ``wrapped``, ``page_of``, ``shape``.
"""

import json
import re

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import INCLUDE, Schema, fields

from sifuwu import __version__
from sifuwu.access import CITY, HOME_SCOPE, ROLE_TITLES
from sifuwu.policy import POLICY
from sifuwu.web import BODY_METHODS, FORM_TYPES, HttpEntrypoint

OPENAPI_VERSION = "3.0.3"

TITLES = {
    "activity": "活动服务",
    "assessment": "考评服务",
    "feedback": "评价服务",
    "notify": "通知服务",
    "identity": "身份服务",
}

SCOPE_TITLES = {CITY: "全市", "own_unit": "本单位", "own_branch": "本支部"}

# Media types whose answers are files, not text.
BINARY = ("image/png",
          "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
          "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
          "application/octet-stream")

STATUS_TEXT = {
    200: "成功", 201: "已创建", 202: "已受理", 204: "无内容",
    303: "提交后跳转（表单）",
}

# The errors every route can give, as they apply (``sifuwu.web``).
COMMON_ERRORS = {
    400: "请求数据校验未通过（validation_failed；fields 给出逐字段原因）",
    401: "缺少或无效的访问令牌（unauthorized、invalid_token、token_expired、"
         "unknown_key）",
    403: "角色无权访问（role_forbidden）",
    404: "未找到",
    413: "请求体超过大小上限（payload_too_large）",
    415: "请求体的媒体类型不是该接口接受的（unsupported_media_type）",
    503: "暂时无法校验访问令牌（identity_unavailable）",
}


class ErrorSchema(Schema):
    """Every error answer (``sifuwu.web.error_body``)."""

    error = fields.String(required=True,
                          metadata={"description": "稳定的英文错误码，供程序判断"})
    message = fields.String(required=True,
                            metadata={"description": "给人看的中文说明"})
    fields = fields.Dict(metadata={"description": "逐字段的校验错误（字段 → 原因列表）"})


# -- shapes made from a record's schema ---------------------------------------

_SHAPES = {}


class OpenAnswer(Schema):
    """The base of the shapes: an answer may grow keys, so it allows them."""

    class Meta:
        unknown = INCLUDE


def shape(name, /, **members):
    """A response schema named ``name`` with ``members`` (marshmallow
    fields, or a schema class for one nested record, or ``[SchemaClass]``
    for a list of them). The same name gives the same class, so two routes
    answering the same shape share one component."""
    made = _SHAPES.get(name)
    if made is None:
        made = _SHAPES[name] = type(OpenAnswer)(name, (OpenAnswer,), {
            key: _field(value) for key, value in members.items()})
    elif set(made._declared_fields) != set(members):
        raise ValueError(f"two different shapes named {name}")
    return made


def _field(value):
    if isinstance(value, list):
        (item,) = value
        return fields.List(fields.Nested(item))
    if isinstance(value, type) and issubclass(value, Schema):
        return fields.Nested(value)
    return value


def _base(schema):
    return re.sub(r"Schema$", "", schema.__name__)


def extended(schema, name, **members):
    """``schema``'s fields and ``members`` beside them, named ``name``."""
    made = _SHAPES.get(name)
    if made is None:
        made = _SHAPES[name] = type(schema)(name, (schema,), {
            key: _field(value) for key, value in members.items()})
    return made


def listing(schema, count="count"):
    """``{"items": [record], count: n}`` (``count=None``: no count)."""
    members = {"items": [schema]}
    if count:
        members[count] = fields.Integer()
    return shape(f"{_base(schema)}List", **members)


def wrapped(key, schema):
    """``{key: record}``."""
    return shape(f"{_base(schema)}Reply", **{key: schema})


def page_of(schema):
    """A page of records: ``items``, ``total``, ``page``, ``per_page``."""
    return shape(f"{_base(schema)}Page", items=[schema],
                 total=fields.Integer(), page=fields.Integer(),
                 per_page=fields.Integer())


# -- routes --------------------------------------------------------------------

def http_routes(service_cls):
    """[(method name, HttpEntrypoint)] of a service class, by URL then
    method."""
    found = []
    for attr in dir(service_cls):
        for entrypoint in getattr(getattr(service_cls, attr, None),
                                  "nameko_entrypoints", ()):
            if isinstance(entrypoint, HttpEntrypoint):
                found.append((attr, entrypoint))
    return sorted(found, key=lambda item: (item[1].url, item[1].method,
                                           item[0]))


_RULE_PART = re.compile(r"<(?:(?P<converter>\w+)(?:\((?P<args>[^)]*)\))?:)?"
                        r"(?P<name>\w+)>")


def openapi_path(url):
    """A werkzeug rule as an OpenAPI path: ``<int:x>`` → ``{x}``."""
    return _RULE_PART.sub(lambda m: "{" + m.group("name") + "}", url)


def path_parameters(url):
    parameters = []
    for match in _RULE_PART.finditer(url):
        converter = match.group("converter")
        schema = {"type": "string"}
        if converter == "int":
            schema = {"type": "integer"}
        elif converter == "any":
            schema = {"type": "string", "enum": [
                value.strip().strip("'\"") for value in
                match.group("args").split(",")]}
        parameters.append({"in": "path", "name": match.group("name"),
                           "required": True, "schema": schema})
    return parameters


def declared_responses(contract):
    """``{status: schema, media type or None}`` of a route's ``response``."""
    response = contract.response
    if response is None:
        return {}
    if isinstance(response, dict):
        return dict(response)
    return {200: response}


def _is_schema(value):
    return isinstance(value, Schema) or (isinstance(value, type)
                                         and issubclass(value, Schema))


def _content(value):
    if value is None:
        return None
    if _is_schema(value):
        return {"application/json": {"schema": value}}
    if isinstance(value, str):
        schema = {"type": "string"}
        if value in BINARY:
            schema["format"] = "binary"
        return {value: {"schema": schema}}
    if isinstance(value, tuple):  # one answer in several media types
        return {media: body for item in value
                for media, body in _content(item).items()}
    raise TypeError(f"unknown response declaration {value!r}")


def _error(description):
    return {"description": description, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/Error"}}}}


def _who(rule):
    """The roles a rule allows, in zh-CN, for the operation's description."""
    if rule is None:
        return "未列入访问策略：一律拒绝（403 no_policy）"
    parts = []
    if rule.public:
        parts.append("公开（无需登录）")
    if rule.system:
        parts.append("外部系统的接入密钥（由接口自行校验来源与类型）")
    if rule.grants:
        roles = []
        for role, scope in rule.grants:
            scope = HOME_SCOPE[role] if scope == "own" else scope
            roles.append(f"{ROLE_TITLES[role]}（{SCOPE_TITLES[scope]}）")
        prefix = "登录后另可：" if rule.public else "允许的角色："
        parts.append(prefix + "、".join(roles))
    return "；".join(parts)


def _security(rule):
    if rule is None:
        return [{"bearerJWT": []}]
    if rule.system:
        return [{"ingestKey": []}]
    if rule.public:
        return [{}, {"bearerJWT": []}] if rule.grants else []
    return [{"bearerJWT": []}]


def operation(service_name, method_name, entrypoint):
    """The OpenAPI operation of one route (schemas still as classes, for
    apispec to resolve)."""
    contract = entrypoint.contract
    rule = POLICY.rule(f"{service_name}.{method_name}")
    http_method = entrypoint.method.upper()
    parameters = path_parameters(entrypoint.url)
    if contract.query is not None:
        parameters.append({"in": "query", "schema": contract.query})
    op = {"operationId": f"{service_name}.{method_name}",
          "tags": [service_name],
          "summary": contract.summary or method_name,
          "description": "访问：" + _who(rule),
          "security": _security(rule)}
    if parameters:
        op["parameters"] = parameters
    takes_body = contract.request not in (None, False)
    if takes_body:
        if entrypoint.body == "form":
            content = {media: {"schema": contract.request}
                       for media in FORM_TYPES}
        else:
            content = {"application/json": {"schema": contract.request}}
        op["requestBody"] = {"required": True, "content": content}
    responses = {}
    for status, value in declared_responses(contract).items():
        answer = {"description": STATUS_TEXT.get(status, str(status))}
        content = _content(value)
        if content is not None:
            answer["content"] = content
        responses[str(status)] = answer
    closed = rule is None or not rule.public
    errors = {}
    if takes_body or contract.query is not None:
        errors[400] = COMMON_ERRORS[400]
    if closed:
        errors[401] = COMMON_ERRORS[401]
        errors[403] = COMMON_ERRORS[403]
        if rule is None or not rule.system:
            errors[503] = COMMON_ERRORS[503]
    if parameters and any(p["in"] == "path" for p in parameters):
        errors[404] = COMMON_ERRORS[404]
    if http_method in BODY_METHODS:
        if takes_body:
            errors[413] = COMMON_ERRORS[413]
        errors[415] = COMMON_ERRORS[415]
    errors.update(contract.errors)
    for status in sorted(errors):
        responses.setdefault(str(status), _error(errors[status]))
    op["responses"] = dict(sorted(responses.items()))
    return http_method.lower(), op


def _resolver(schema):
    cls = schema if isinstance(schema, type) else type(schema)
    return re.sub(r"Schema$", "", cls.__name__) or cls.__name__


def openapi(service_cls):
    """The OpenAPI 3 document (a dict) of a service class's routes."""
    name = service_cls.name
    spec = APISpec(
        title=f"sifuwu {TITLES.get(name, name)}接口", version=__version__,
        openapi_version=OPENAPI_VERSION,
        info={"description": (
            f"“机关党建 + 四服务”{TITLES.get(name, name)}的 HTTP 接口，"
            "由各接口声明的 marshmallow 模式生成。错误答复统一为 "
            "{error, message, fields}：error 为稳定的英文错误码，message "
            "为中文说明。访问规则见 docs/security.md。")},
        plugins=[MarshmallowPlugin(schema_name_resolver=_resolver)])
    spec.components.security_scheme("bearerJWT", {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "身份服务签发的访问令牌（POST /api/v1/login，"
                       "身份服务端口 8005），有效期内在各服务通用"})
    spec.components.security_scheme("ingestKey", {
        "type": "http", "scheme": "bearer",
        "description": "接入客户端的密钥 sfw_<密钥编号>_<密文>"
                       "（工委通过 POST /api/v1/clients 发放）"})
    spec.components.schema("Error", schema=ErrorSchema)
    paths = {}
    for method_name, entrypoint in http_routes(service_cls):
        http_method, op = operation(name, method_name, entrypoint)
        paths.setdefault(openapi_path(entrypoint.url), {})[http_method] = op
    spec.tag({"name": name, "description": TITLES.get(name, name)})
    for path in sorted(paths):
        spec.path(path=path, operations=paths[path])
    return spec.to_dict()


def missing_declarations(service_cls):
    """Routes of a service without a contract: ``[(route, what)]`` for a
    route with no declared response, or a body route with no request
    schema (``request=False`` declares that it takes none)."""
    missing = []
    for method_name, entrypoint in http_routes(service_cls):
        route = f"{service_cls.name}.{method_name}"
        contract = entrypoint.contract
        if not declared_responses(contract):
            missing.append((route, "response"))
        if entrypoint.method.upper() in BODY_METHODS and \
                contract.request is None:
            missing.append((route, "request"))
    return missing


def render(document):
    """A document as byte-stable JSON text."""
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"
