"""What every sifuwu service has: the store, dead-lettering, config and the
``/health`` endpoint. Each service subclasses ``ServiceBase``."""

import functools
import logging

from kombu import Connection
from nameko.dependency_providers import Config
from nameko.extensions import DependencyProvider
from werkzeug.wrappers import Response

from sifuwu import __version__, wiring
from sifuwu.access import Access
from sifuwu.policy import POLICY
from sifuwu.clock import Clock
from sifuwu.consumer import DeadLetters
from sifuwu import metrics
from sifuwu.settings import DEVELOPMENT, Settings
from sifuwu.store import Store
from sifuwu.web import http, json_response

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

    @http("GET", "/health")
    def health(self, request):
        status, body = health_report(self.name, self.store,
                                     self.settings.amqp_uri)
        return json_response(body, status=status)

    @http("GET", "/metrics")
    def prometheus_metrics(self, request):
        """Prometheus text format: events, failures, dead letters, handler
        and HTTP latency, and the depth of the queues this service reads."""
        body, content_type = metrics.exposition(
            self.settings.amqp_uri, metrics_queues(self.name))
        return Response(body, status=200, content_type=content_type)
