"""What every sifuwu service has: the store, dead-lettering, config and the
``/health`` endpoint. Each service subclasses ``ServiceBase``."""

import functools
import html
import logging

import swagger_ui_bundle
from kombu import Connection
from marshmallow import fields
from nameko.dependency_providers import Config
from nameko.extensions import DependencyProvider
from werkzeug.wrappers import Response

from sifuwu import __version__, contract, wiring
from sifuwu.access import Access
from sifuwu.policy import POLICY
from sifuwu.clock import Clock
from sifuwu.consumer import DeadLetters
from sifuwu import metrics
from sifuwu.settings import DEVELOPMENT, Settings
from sifuwu.store import Store
from sifuwu.web import error_body, http, json_response

log = logging.getLogger(__name__)


def check_broker(amqp_uri, timeout=2):
    with Connection(amqp_uri, connect_timeout=timeout) as conn:
        conn.ensure_connection(max_retries=1, timeout=timeout)


def health_report(service_name, store, amqp_uri):
    """(status code, body) of a health check of the broker and the store."""
    body = {"status": "ok", "service": service_name, "broker": "ok",
            "store": "ok", "version": __version__}
    failing = []
    try:
        check_broker(amqp_uri)
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        body["broker"] = f"unreachable: {type(exc).__name__}"
        failing.append("broker")
    try:
        store.ping()
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        body["store"] = f"unreachable: {type(exc).__name__}"
        failing.append("store")
    if failing:
        body["status"] = "unavailable"
        body["failing"] = failing
        return 503, body
    return 200, body


class ProductionRefused(RuntimeError):
    """A production service found a development default or a missing key."""


class ModeGuard(DependencyProvider):
    """In production mode (``SIFUWU_MODE=production``: the compose stack and
    Kubernetes), refuse to start on a development default or a missing key,
    naming each in zh-CN (``Settings.production_problems``)."""

    def setup(self):
        settings_class = getattr(self.container.service_cls, "settings_class",
                                 Settings)
        settings = settings_class.from_config(self.container.config)
        if settings.mode == DEVELOPMENT:
            return
        problems = settings.production_problems()
        if problems:
            message = (f"{self.container.service_name} 拒绝以生产模式启动：\n  "
                       + "\n  ".join(problems))
            log.critical(message)
            raise ProductionRefused(message)


def metrics_queues(service_name):
    """The queues whose depth a service reports: its subscriptions and the
    dead-letter queues."""
    mine = [wiring.subscription_queue_name(*sub)
            for sub in wiring.SUBSCRIPTIONS if sub[2] == service_name]
    return mine + [wiring.DEAD_LETTER_QUEUE, wiring.INGEST_REJECTED_QUEUE]


# Swagger UI's files (from the swagger-ui-bundle-v2 package) that /docs uses.
DOCS_ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui-standalone-preset.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
}

DOCS_INIT = """window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    // relative to the page, so it works behind a path prefix; no outside
    // validator (Swagger UI would otherwise call one on the internet)
    url: "openapi.json", validatorUrl: null, dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "StandaloneLayout"
  });
});
"""

DOCS_PAGE = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>{title} · 接口文档</title>
<link rel="stylesheet" href="docs/assets/swagger-ui.css">
<link rel="icon" type="image/png" href="docs/assets/favicon-32x32.png">
</head>
<body>
<header style="font-family: sans-serif; margin: 1em 2em">
<h1 style="font-size: 1.3em">{title} · 接口文档</h1>
<p>本页由 <a href="openapi.json">openapi.json</a>（OpenAPI 3，由各接口声明的模式生成）
呈现。带锁的接口需先在身份服务登录（POST /api/v1/login），点“Authorize”填入访问令牌。
错误答复统一为 {{error, message, fields}}。</p>
<noscript>本页需要 JavaScript；也可直接阅读 openapi.json。</noscript>
</header>
<div id="swagger-ui"></div>
<script src="docs/assets/swagger-ui-bundle.js"></script>
<script src="docs/assets/swagger-ui-standalone-preset.js"></script>
<script src="docs/assets/init.js"></script>
</body>
</html>
"""

Health = contract.shape(
    "Health", status=fields.String(), service=fields.String(),
    broker=fields.String(), store=fields.String(), version=fields.String(),
    failing=fields.List(fields.String()))


@functools.cache
def service_openapi(service_cls):
    """A service class's OpenAPI document as JSON text (built once)."""
    return contract.render(contract.openapi(service_cls))


class ServiceBase:
    """Shared dependencies and entrypoints of the four services."""

    name = None
    indexes = {}

    store = Store()
    dead_letters = DeadLetters()
    config = Config()
    clock = Clock()
    # production mode refuses development defaults (SIFUWU_MODE)
    mode_guard = ModeGuard()
    # token checks against the policy table (sifuwu.policy), for every
    # HTTP entrypoint before it runs
    access = Access(POLICY)

    # the service's settings class (a subclass of Settings for its own fields)
    settings_class = Settings

    @functools.cached_property
    def settings(self):
        """This worker's settings (a service instance serves one worker)."""
        return self.settings_class.from_config(self.config)

    @http("GET", "/health", response={200: Health, 503: Health},
          summary="健康检查（broker 与 store）")
    def health(self, request):
        status, body = health_report(self.name, self.store,
                                     self.settings.amqp_uri)
        return json_response(body, status=status)

    @http("GET", "/health/live",
          response=contract.shape("Alive", status=fields.String(),
                                  service=fields.String()),
          summary="存活检查（只看进程是否在响应，不查 broker 与 store）")
    def liveness(self, request):
        """Alive: the process answers. A broker or store outage fails
        ``/health`` (take the instance out of rotation), not this (a restart
        would not cure it)."""
        return json_response({"status": "alive", "service": self.name})

    @http("GET", "/metrics", response="text/plain",
          summary="Prometheus 指标（文本格式）")
    def prometheus_metrics(self, request):
        """Prometheus text format: events, failures, dead letters, handler
        and HTTP latency, and the depth of the queues this service reads."""
        body, content_type = metrics.exposition(
            self.settings.amqp_uri, metrics_queues(self.name))
        return Response(body, status=200, content_type=content_type)

    @http("GET", "/openapi.json", response="application/json",
          summary="本服务的 OpenAPI 3 文档")
    def openapi_json(self, request):
        """This service's HTTP contract (``sifuwu.contract``)."""
        return Response(service_openapi(type(self)), status=200,
                        mimetype="application/json",
                        headers={"Cache-Control": "public, max-age=300"})

    @http("GET", "/docs", response="text/html", summary="接口文档（Swagger UI）")
    def api_docs(self, request):
        """A page that shows ``/openapi.json`` with Swagger UI."""
        title = html.escape(f"sifuwu {contract.TITLES.get(self.name, self.name)}")
        return Response(DOCS_PAGE.format(title=title), status=200,
                        mimetype="text/html")

    @http("GET", "/docs/assets/<name>",
          response={200: "application/octet-stream"},
          summary="接口文档页的脚本、样式与图标（Swagger UI）")
    def api_docs_asset(self, request, name):
        """Swagger UI's own files, from the installed package; 404 for any
        other name."""
        if name == "init.js":
            body, mimetype = DOCS_INIT, "text/javascript; charset=utf-8"
        elif name in DOCS_ASSETS:
            body = (swagger_ui_bundle.swagger_ui_path / name).read_bytes()
            mimetype = DOCS_ASSETS[name]
        else:
            return json_response(error_body("not_found", "未找到该文件"),
                                 status=404)
        return Response(body, status=200, content_type=mimetype,
                        headers={"Cache-Control": "public, max-age=86400"})
