"""Every service's ``/health``, from the embedded stack or the compose
stack, for ``sifuwu stack health``."""

import dataclasses
import json
import os
import time
from pathlib import Path

import requests

from tooling.stack import ROOT, EmbeddedStack


@dataclasses.dataclass
class HealthRow:
    service: str
    instance: str
    url: str | None
    status: str            # ok | unavailable | unreachable | container state
    http_status: int | None = None
    broker: str = "-"
    store: str = "-"
    version: str = "-"
    seconds: float | None = None

    @property
    def healthy(self):
        return self.status in ("ok", "healthy")


def sifuwu_home():
    return Path(os.environ.get("SIFUWU_HOME", ROOT / ".sifuwu"))


def embedded_state(home=None):
    """The running embedded stack's recorded state (stack.json), or None."""
    return EmbeddedStack(home or sifuwu_home()).running_state()


def probe(service, instance, url, timeout=3.0):
    """GET url/health and describe the answer as a HealthRow."""
    started = time.perf_counter()
    try:
        response = requests.get(url.rstrip("/") + "/health", timeout=timeout)
    except requests.RequestException as exc:
        return HealthRow(service, instance, url,
                         f"unreachable ({type(exc).__name__})",
                         seconds=time.perf_counter() - started)
    seconds = time.perf_counter() - started
    try:
        body = response.json()
    except ValueError:
        body = {}
    return HealthRow(service, instance, url,
                     body.get("status", f"HTTP {response.status_code}"),
                     http_status=response.status_code,
                     broker=str(body.get("broker", "-")),
                     store=str(body.get("store", "-")),
                     version=str(body.get("version", "-")), seconds=seconds)


def embedded_health(urls, timeout=3.0):
    return [probe(service, "embedded", url, timeout)
            for service, url in urls.items()]


def compose_health(stack, services, timeout=3.0):
    """Probe published ports over HTTP; otherwise report the container's
    own health check (which calls the same /health inside)."""
    rows = []
    for service, name, url, state in stack.health_targets(services):
        if url:
            rows.append(probe(service, name, url, timeout))
        else:
            rows.append(HealthRow(service, name, None, state or "unknown"))
    return rows


def rows_as_json(rows):
    return json.dumps([dataclasses.asdict(r) for r in rows],
                      ensure_ascii=False, indent=2)
