"""SMS (短信): HTTP providers in order, each behind a circuit breaker (a
failing provider is skipped for the next one), or, when none is configured,
the delivery log as the gateway (the embedded default)."""

import dataclasses
import logging
import threading

import requests

from services.notify import domain
from services.notify.channels.base import (
    HTTP_TIMEOUT, Channel, Outcome, http_error_outcome,
)

log = logging.getLogger(__name__)


@dataclasses.dataclass
class SmsProvider:
    name: str
    url: str
    breaker: domain.CircuitBreaker = dataclasses.field(
        default_factory=domain.CircuitBreaker)


def parse_providers(spec, threshold=3, cooldown=60.0):
    """``name=url,name=url`` → [SmsProvider], in failover order."""
    providers = []
    for item in (spec or "").split(","):
        name, sep, url = item.strip().partition("=")
        if sep and name.strip() and url.strip():
            providers.append(SmsProvider(
                name.strip(), url.strip(),
                domain.CircuitBreaker(threshold=threshold,
                                      cooldown=cooldown)))
    return providers


class SmsGateway(Channel):
    """SMS through HTTP gateways with failover.

    Request: ``POST <url>`` JSON ``{to, content, segments, reference, sign}``;
    a 2xx answer is accepted. 4xx (bad number, refused content) is a
    permanent failure and no other provider is tried; 5xx, time-outs and
    refused connections count against the provider's breaker and the next
    provider is tried. When every provider failed or is open: temporary."""

    name = "sms"

    def __init__(self, providers, sign="四服务"):
        self.providers = list(providers)
        self.sign = sign
        self._lock = threading.Lock()

    def send(self, delivery):
        message = delivery.message
        tried = []
        last = None
        for provider in self.providers:
            with self._lock:
                allowed = provider.breaker.allow(delivery.now)
            if not allowed:
                tried.append({"provider": provider.name, "result": "open"})
                continue
            try:
                response = requests.post(provider.url, json={
                    "to": delivery.address,
                    "content": message["body"],
                    "segments": message.get("segments") or 1,
                    "reference": message["_id"],
                    "sign": self.sign,
                }, timeout=HTTP_TIMEOUT)
            except requests.RequestException as exc:
                outcome = Outcome.temporary(
                    provider.name, f"{type(exc).__name__}: {exc}"[:300])
            else:
                if response.ok:
                    with self._lock:
                        provider.breaker.success()
                    tried.append({"provider": provider.name,
                                  "result": "delivered"})
                    reference = None
                    try:
                        reference = str(response.json().get("id") or "")
                    except ValueError:
                        pass
                    return Outcome.delivered(provider.name, reference or None,
                                             tried)
                outcome = http_error_outcome(provider.name, response, tried)
                if outcome.status == domain.PERMANENT_FAILURE:
                    # The provider works; it refuses this message.
                    with self._lock:
                        provider.breaker.success()
                    tried.append({"provider": provider.name,
                                  "result": "refused"})
                    outcome.tried = tried
                    return outcome
            with self._lock:
                provider.breaker.failure(delivery.now)
            tried.append({"provider": provider.name, "result": "failed",
                          "reason": outcome.reason})
            last = outcome
        if last is None:
            return Outcome.temporary(None, "所有短信通道均处于熔断状态",
                                     tried)
        return Outcome.temporary(last.provider, last.reason, tried)

    def describe(self):
        return {"channel": self.name, "adapter": "SmsGateway",
                "providers": [{"name": p.name, "state": p.breaker.state,
                               "failures": p.breaker.failures}
                              for p in self.providers]}


class DeliveryLogSms(Channel):
    """No SMS provider configured (the embedded default): the delivery log
    is the gateway, so the walking skeleton works without one."""

    name = "sms"

    def send(self, delivery):
        log.info("sms %s recorded in the delivery log for %s",
                 delivery.message["_id"],
                 delivery.message.get("to_masked"))
        return Outcome.delivered("delivery-log")
