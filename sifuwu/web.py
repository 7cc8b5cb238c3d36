"""HTTP plumbing: the error mapping and JSON helpers every service uses.

Every error a person or a system sees has a status, a machine ``code`` and a
zh-CN ``message``; field errors come as ``fields``. Never a stack trace.
"""

import dataclasses
import datetime as dt
import json
import logging
import re
import time

from marshmallow import ValidationError
from nameko.web.handlers import HttpRequestHandler
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from sifuwu.access import container_access
from sifuwu.errors import DomainError, PayloadTooLarge
from sifuwu import metrics
from sifuwu.jsonlog import log_context

log = logging.getLogger(__name__)

# The deepest nesting of arrays and objects a JSON body or message may have.
MAX_DEPTH = 32

JSON_TYPES = ("application/json",)
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
BODY_METHODS = ("POST", "PUT", "PATCH", "DELETE")

# A JSON string (escapes included) and the brackets outside strings.
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_BRACKET = re.compile(rb"[\[\]{}]")


def _default(value):
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return str(value)


def json_response(payload, status=200, headers=None):
    return Response(
        json.dumps(payload, ensure_ascii=False, default=_default),
        status=status, headers=headers,
        mimetype="application/json")


def error_body(code, message, fields=None):
    body = {"error": code, "message": message}
    if fields:
        body["fields"] = fields
    return body


def _has_body(request):
    return bool(request.content_length) or \
        "chunked" in request.headers.get("Transfer-Encoding", "").lower()


def _is_json(request):
    mimetype = request.mimetype or ""
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    return (mimetype in JSON_TYPES or (mimetype.startswith("application/")
                                       and mimetype.endswith("+json"))) \
        and charset in ("utf-8", "utf8")


def check_media_type(request, body):
    """415 unless a request with a body sends what the route takes:
    ``body="json"`` (``application/json``, UTF-8) or ``body="form"``."""
    if not _has_body(request):
        return
    if body == "form":
        if request.mimetype not in FORM_TYPES:
            raise DomainError(
                "请求须为表单（application/x-www-form-urlencoded 或 "
                "multipart/form-data）", code="unsupported_media_type",
                status=415)
    elif body == "json" and not _is_json(request):
        raise DomainError("请求须为 UTF-8 编码的 application/json",
                          code="unsupported_media_type", status=415)


def _too_deep(raw):
    """Does ``raw`` (JSON bytes) nest arrays/objects over MAX_DEPTH?"""
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub(b'""', raw)):
        if match.group() in (b"[", b"{"):
            depth += 1
            if depth > MAX_DEPTH:
                return True
        else:
            depth -= 1
    return False


def _refuse_constant(name):
    raise ValueError(f"constant {name}")


def reject_operators(value, path="body", depth=0):
    """Refuse keys that look like MongoDB operators or paths ($gt, a.b),
    nesting over MAX_DEPTH and strings that are not valid Unicode (lone
    surrogates from ``\\ud800`` escapes)."""
    if depth > MAX_DEPTH:
        raise ValidationError({path: [f"嵌套层级过深（最多 {MAX_DEPTH} 层）"]})
    if isinstance(value, str):
        _check_text(value, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or key.startswith("$") or "\x00" in key:
                raise ValidationError({path: [f"不允许的字段名: {key!r}"]})
            _check_text(key, path)
            reject_operators(item, f"{path}.{key}", depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            reject_operators(item, f"{path}[{index}]", depth + 1)


def _check_text(text, path):
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError({path: ["含有无效的 Unicode 字符（孤立代理项）"]})


def parse_json(raw):
    """Bytes (or text) of a JSON document → the value, or ValidationError
    with a field error: not UTF-8, not JSON, NaN/Infinity, nesting over
    MAX_DEPTH, lone surrogates, MongoDB operators as keys."""
    if isinstance(raw, str):
        try:
            raw = raw.encode("utf-8")
        except UnicodeEncodeError:
            raise ValidationError({"body": ["请求体须为 UTF-8 编码的 JSON"]})
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError({"body": ["请求体须为 UTF-8 编码的 JSON"]})
    if _too_deep(raw):
        raise ValidationError({"body": [f"嵌套层级过深（最多 {MAX_DEPTH} 层）"]})
    try:
        payload = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ValidationError({"body": [f"嵌套层级过深（最多 {MAX_DEPTH} 层）"]})
    except ValueError as exc:
        if str(exc).startswith("constant "):
            raise ValidationError({"body": ["不允许 NaN 或 Infinity"]})
        raise ValidationError({"body": ["请求体不是有效的 JSON"]})
    reject_operators(payload)
    return payload


def read_json(request, max_bytes):
    """Parse a JSON body: 415 when not ``application/json``, 413 when over
    ``max_bytes``, 400 (``parse_json``) when not acceptable JSON."""
    if not _is_json(request):
        raise DomainError("请求须为 UTF-8 编码的 application/json",
                          code="unsupported_media_type", status=415)
    length = request.content_length
    if length is not None and length > max_bytes:
        raise PayloadTooLarge(f"请求体超过 {max_bytes} 字节上限")
    raw = request.stream.read(max_bytes + 1) if length is None \
        else request.get_data(cache=True)
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"请求体超过 {max_bytes} 字节上限")
    return parse_json(raw)


def load_body(request, schema, max_bytes=1_048_576):
    """Parse and validate a JSON object body with a marshmallow schema."""
    payload = read_json(request, max_bytes)
    if not isinstance(payload, dict):
        raise ValidationError({"body": ["请求体须为 JSON 对象"]})
    return schema.load(payload)


@dataclasses.dataclass(frozen=True)
class RouteContract:
    """What an ``@http`` route declares it takes and answers."""

    request: object = None
    response: object = None
    query: object = None
    summary: str | None = None
    errors: dict = dataclasses.field(default_factory=dict)


class HttpEntrypoint(HttpRequestHandler):
    """nameko's ``@http`` with sifuwu's access policy and error mapping,
    counted in ``sifuwu_http_requests_total`` by route template and status.

    Before any service code runs, the caller is checked against the route's
    rule in the policy table (``sifuwu.policy``, through the service's
    ``Access`` dependency): 401 without a valid token on a closed route, 403
    for a role the rule does not name or a route with no rule. The
    ``Grant`` goes on as ``request.grant`` (who, and how far they see).

    ``body`` says what a write route takes: ``"json"`` (the default) or
    ``"form"``; a request with another kind of body gets 415.

    The route's contract is declared here too, for ``sifuwu.contract`` to
    read (nothing of it changes what the route does): ``request`` the
    marshmallow schema its body is loaded with (``False``: a write route
    that takes no body), ``query`` the one its query
    string is loaded with, ``response`` the schema it dumps (a schema
    class or instance for a 200 JSON answer, a media type such as
    ``"text/html"`` (a tuple of them for one answer in several), or
    ``{status: any of these}``; ``None`` as a value is an
    answer without a body), ``summary`` a zh-CN line and ``errors``
    ``{status: "zh-CN reason"}`` for the errors of its own beyond those
    every route can give."""

    def __init__(self, method, url, body="json", *, request=None,
                 response=None, query=None, summary=None, errors=None,
                 **kwargs):
        self.body = body
        self.contract = RouteContract(request=request, response=response,
                                      query=query, summary=summary,
                                      errors=dict(errors or {}))
        super().__init__(method, url, **kwargs)

    def setup(self):
        super().setup()
        self.access = container_access(self.container)
        self.route_name = f"{self.container.service_name}.{self.method_name}"

    def handle_request(self, request):
        started = time.perf_counter()
        status = 500
        try:
            with log_context(route=self.url):
                try:
                    request.grant = self.access.guard(
                        self.route_name).require(request)
                    if request.method in BODY_METHODS:
                        check_media_type(request, self.body)
                except DomainError as exc:
                    response = self.response_from_exception(exc)
                else:
                    response = super().handle_request(request)
            status = response.status_code
            return response
        finally:
            metrics.observe_http(self.container.service_name, self.method,
                                 self.url, status,
                                 time.perf_counter() - started)

    def response_from_exception(self, exc):
        if isinstance(exc, ValidationError):
            messages = exc.messages if isinstance(exc.messages, dict) else {
                "body": exc.messages}
            return json_response(
                error_body("validation_failed", "请求数据校验未通过", messages),
                status=400)
        if isinstance(exc, DomainError):
            return json_response(
                error_body(exc.code, exc.message, exc.fields),
                status=exc.status)
        if isinstance(exc, HTTPException):
            return json_response(
                error_body("http_error", exc.description or exc.name),
                status=exc.code or 500)
        log.error("unhandled error in HTTP entrypoint: %s: %s",
                  type(exc).__name__, exc)
        return json_response(
            error_body("internal_error", "服务器内部错误，请稍后重试"),
            status=500)


http = HttpEntrypoint.decorator
