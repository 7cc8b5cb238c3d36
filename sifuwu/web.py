"""HTTP plumbing: the error mapping and JSON helpers every service uses.

Every error a person or a system sees has a status, a machine ``code`` and a
zh-CN ``message``; field errors come as ``fields``. Never a stack trace.
"""

import datetime as dt
import json
import logging
import time

from marshmallow import ValidationError
from nameko.web.handlers import HttpRequestHandler
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from sifuwu.errors import DomainError, PayloadTooLarge
from sifuwu import metrics
from sifuwu.jsonlog import log_context

log = logging.getLogger(__name__)

MAX_DEPTH = 32


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


def reject_operators(value, path="body", depth=0):
    """Refuse keys that look like MongoDB operators or paths ($gt, a.b)."""
    if depth > MAX_DEPTH:
        raise ValidationError({path: ["嵌套层级过深"]})
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or key.startswith("$") or "\x00" in key:
                raise ValidationError({path: [f"不允许的字段名: {key!r}"]})
            reject_operators(item, f"{path}.{key}", depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            reject_operators(item, f"{path}[{index}]", depth + 1)


def read_json(request, max_bytes):
    """Parse a JSON body; 413 when too large, 400 when not JSON."""
    length = request.content_length
    if length is not None and length > max_bytes:
        raise PayloadTooLarge(f"请求体超过 {max_bytes} 字节上限")
    raw = request.get_data(cache=True)
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"请求体超过 {max_bytes} 字节上限")
    try:
        payload = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValidationError({"body": ["请求体须为 UTF-8 编码的 JSON"]})
    except ValueError:
        raise ValidationError({"body": ["请求体不是有效的 JSON"]})
    reject_operators(payload)
    return payload


def load_body(request, schema, max_bytes=1_048_576):
    """Parse and validate a JSON object body with a marshmallow schema."""
    payload = read_json(request, max_bytes)
    if not isinstance(payload, dict):
        raise ValidationError({"body": ["请求体须为 JSON 对象"]})
    return schema.load(payload)


class HttpEntrypoint(HttpRequestHandler):
    """nameko's ``@http`` with sifuwu's error mapping, counted in
    ``sifuwu_http_requests_total`` by route template and status."""

    def handle_request(self, request):
        started = time.perf_counter()
        status = 500
        try:
            with log_context(route=self.url):
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
