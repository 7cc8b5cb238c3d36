"""Channel adapters (渠道适配器): one interface, one adapter per channel.

``adapter.send(delivery) -> Outcome``. An adapter never raises for a failed
delivery: it classifies it (temporary: worth a retry; permanent: the address
or the content is refused; technical: our own fault) and says why.

* ``SmsGateway``: HTTP SMS providers in order, each behind a circuit breaker;
  a failing provider is skipped for the next one (failover).
* ``DeliveryLogSms``: the embedded default when no provider is configured:
  the delivery log is the gateway.
* ``SmtpEmail``: smtplib to the configured SMTP server.
* ``WechatTemplate``: WeChat template messages through an HTTP API.
* ``WebBoard``: items for the public board (stored feed, optionally POSTed).
* ``PressDesk``: a DOCX manuscript for the newspaper/magazine desk (报刊).
"""

import dataclasses
import logging
import re
import smtplib
import socket
import threading
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import requests

from services.notify import domain

log = logging.getLogger(__name__)

HTTP_TIMEOUT = 5.0


@dataclasses.dataclass
class Outcome:
    status: str
    provider: str | None = None
    reason: str | None = None
    reference: str | None = None
    tried: list = dataclasses.field(default_factory=list)

    @classmethod
    def delivered(cls, provider, reference=None, tried=None):
        return cls(domain.DELIVERED, provider, None, reference, tried or [])

    @classmethod
    def temporary(cls, provider, reason, tried=None):
        return cls(domain.TEMPORARY_FAILURE, provider, reason, None,
                   tried or [])

    @classmethod
    def permanent(cls, provider, reason, tried=None):
        return cls(domain.PERMANENT_FAILURE, provider, reason, None,
                   tried or [])

    @classmethod
    def technical(cls, provider, reason):
        return cls(domain.TECHNICAL_FAILURE, provider, reason)


@dataclasses.dataclass
class Delivery:
    """What an adapter gets: the stored message, the decrypted address
    (None for public channels), the time, and the board sink."""

    message: dict
    address: str | None
    now: object
    board: object = None   # callable(item) storing a web board item


class Channel:
    """The adapter interface."""

    name = None

    def send(self, delivery):  # pragma: no cover - interface
        raise NotImplementedError

    def describe(self):
        return {"channel": self.name, "adapter": type(self).__name__}


def _http_error_outcome(provider, response, tried):
    reason = f"HTTP {response.status_code}: {response.text[:200]}"
    if response.status_code in (400, 404, 410, 422):
        return Outcome.permanent(provider, reason, tried)
    return Outcome.temporary(provider, reason, tried)


# -- SMS ----------------------------------------------------------------------

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
                outcome = _http_error_outcome(provider.name, response, tried)
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


# -- email --------------------------------------------------------------------

class SmtpEmail(Channel):
    """Email through SMTP (smtplib). 4xx replies are temporary, 5xx
    permanent; an unreachable server is temporary."""

    name = "email"

    def __init__(self, host, port=25, sender="notify@sifuwu.local",
                 timeout=10.0, provider="smtp"):
        self.host = host
        self.port = int(port)
        self.sender = sender
        self.timeout = timeout
        self.provider = provider

    def send(self, delivery):
        message = delivery.message
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = delivery.address
        mail["Subject"] = message.get("subject") or "四服务通知"
        mail["Message-ID"] = make_msgid(domain="sifuwu.local")
        mail["X-Sifuwu-Message"] = message["_id"]
        mail.set_content(message["body"], charset="utf-8")
        try:
            with smtplib.SMTP(self.host, self.port,
                              timeout=self.timeout) as smtp:
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            reason = f"SMTP recipient refused: {codes}"
            if all(400 <= c < 500 for c in codes):
                return Outcome.temporary(self.provider, reason)
            return Outcome.permanent(self.provider, reason)
        except smtplib.SMTPResponseException as exc:
            reason = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"[:300]
            if 400 <= exc.smtp_code < 500:
                return Outcome.temporary(self.provider, reason)
            return Outcome.permanent(self.provider, reason)
        except (smtplib.SMTPException, OSError, socket.timeout) as exc:
            return Outcome.temporary(self.provider,
                                     f"{type(exc).__name__}: {exc}"[:300])
        return Outcome.delivered(self.provider, mail["Message-ID"])


# -- WeChat -------------------------------------------------------------------

# errcodes that will not change on retry: invalid openid, user unsubscribed,
# template refused.
WECHAT_PERMANENT = {40003, 40036, 40037, 43004, 43101, 47003}


class WechatTemplate(Channel):
    """WeChat template messages: ``POST <url>`` JSON
    ``{touser, template_id, url, data: {first, keyword1.., remark}}``; the
    answer's ``errcode`` 0 means accepted."""

    name = "wechat"

    def __init__(self, url, provider="wechat"):
        self.url = url
        self.provider = provider

    def send(self, delivery):
        message = delivery.message
        link = None
        found = re.search(r"https?://\S+", message["body"])
        if found:
            link = found.group(0)
        payload = {
            "touser": delivery.address,
            "template_id": f"sifuwu.{message['template']}."
                           f"v{message.get('template_version', 1)}",
            "url": link,
            "data": {
                "first": {"value": message.get("subject") or ""},
                "keyword1": {"value": message["body"]},
                "remark": {"value": "机关党建+四服务"},
            },
            "client_msg_id": message["_id"],
        }
        try:
            response = requests.post(self.url, json=payload,
                                     timeout=HTTP_TIMEOUT)
        except requests.RequestException as exc:
            return Outcome.temporary(self.provider,
                                     f"{type(exc).__name__}: {exc}"[:300])
        if not response.ok:
            return _http_error_outcome(self.provider, response, [])
        try:
            answer = response.json()
        except ValueError:
            return Outcome.temporary(self.provider, "微信接口返回非 JSON")
        code = int(answer.get("errcode", 0) or 0)
        if code == 0:
            return Outcome.delivered(self.provider,
                                     str(answer.get("msgid") or "") or None)
        reason = f"errcode {code}: {answer.get('errmsg', '')}"[:300]
        if code in WECHAT_PERMANENT:
            return Outcome.permanent(self.provider, reason)
        return Outcome.temporary(self.provider, reason)


# -- web board ----------------------------------------------------------------

class WebBoard(Channel):
    """Items for the public board: stored in notify's feed (served at
    ``GET /api/v1/board-items``) and, when ``url`` is set, POSTed there."""

    name = "web"

    def __init__(self, url=None, provider="board", token=None):
        self.url = url or None
        self.provider = provider if not url else "board-http"
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def item(self, delivery):
        message = delivery.message
        return {
            "_id": message["_id"],
            "kind": message["template"],
            "event_type": message["event_type"],
            "title": message.get("subject") or "",
            "body": message["body"],
            "reference": (message.get("context") or {}).get("campaign_id"),
            "published_at": delivery.now,
        }

    def send(self, delivery):
        item = self.item(delivery)
        if self.url:
            body = dict(item, published_at=delivery.now.isoformat())
            try:
                response = requests.post(self.url, json=body,
                                         headers=self.headers,
                                         timeout=HTTP_TIMEOUT)
            except requests.RequestException as exc:
                return Outcome.temporary(
                    self.provider, f"{type(exc).__name__}: {exc}"[:300])
            if not response.ok:
                return _http_error_outcome(self.provider, response, [])
        if delivery.board is not None:
            delivery.board(item)
        return Outcome.delivered(self.provider, item["_id"])


# -- press --------------------------------------------------------------------

class PressDesk(Channel):
    """A DOCX manuscript (稿件) for the newspaper and magazine desk, written
    to ``folder`` (python-docx)."""

    name = "press"

    def __init__(self, folder, provider="press-desk"):
        self.folder = Path(folder)
        self.provider = provider

    def path_for(self, message):
        safe = re.sub(r"[^\w.-]+", "_", message["_id"])[:120]
        return self.folder / f"{message['template']}-{safe}.docx"

    def send(self, delivery):
        try:
            from docx import Document
            from docx.shared import Pt
        except ImportError as exc:
            return Outcome.technical(self.provider, f"python-docx: {exc}")
        message = delivery.message
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            document = Document()
            document.core_properties.title = message.get("subject") or ""
            document.core_properties.identifier = message["_id"]
            document.add_heading(message.get("subject") or "四服务", level=1)
            for line in message["body"].splitlines():
                if line.strip():
                    paragraph = document.add_paragraph(line.strip())
                    for run in paragraph.runs:
                        run.font.size = Pt(12)
            document.add_paragraph(
                f"稿件编号：{message['_id']}  模板：{message['template']} "
                f"v{message.get('template_version', 1)}")
            path = self.path_for(message)
            partial = path.with_suffix(".part")
            document.save(str(partial))
            partial.replace(path)  # the desk never sees half a file
        except OSError as exc:
            return Outcome.temporary(self.provider,
                                     f"{type(exc).__name__}: {exc}"[:300])
        return Outcome.delivered(self.provider, path.name)


# -- the set of adapters ------------------------------------------------------

class Unconfigured(Channel):
    """A channel with no endpoint configured: refuses with the reason."""

    def __init__(self, name, what):
        self.name = name
        self.what = what

    def send(self, delivery):
        return Outcome.technical(None, f"渠道未配置: {self.what}")


@dataclasses.dataclass
class NotifyConfig:
    sms_providers: str = ""
    sms_breaker_threshold: int = 3
    sms_breaker_cooldown: float = 60.0
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_from: str = "notify@sifuwu.local"
    wechat_url: str = ""
    web_board_url: str = ""
    web_board_token: str = ""
    press_dir: str = ""
    quiet_hours: str = "22-8"
    retry_base: float = domain.RETRY_BASE_SECONDS
    retry_cap: float = domain.RETRY_CAP_SECONDS
    max_attempts: int = domain.MAX_ATTEMPTS

    @classmethod
    def from_lookup(cls, get):
        base = cls()
        return cls(
            sms_providers=get("SIFUWU_SMS_PROVIDERS", base.sms_providers) or "",
            sms_breaker_threshold=int(get("SIFUWU_SMS_BREAKER_THRESHOLD",
                                          base.sms_breaker_threshold)),
            sms_breaker_cooldown=float(get("SIFUWU_SMS_BREAKER_COOLDOWN",
                                           base.sms_breaker_cooldown)),
            smtp_host=get("SIFUWU_SMTP_HOST", base.smtp_host) or "",
            smtp_port=int(get("SIFUWU_SMTP_PORT", base.smtp_port) or 25),
            smtp_from=get("SIFUWU_SMTP_FROM", base.smtp_from),
            wechat_url=get("SIFUWU_WECHAT_URL", base.wechat_url) or "",
            web_board_url=get("SIFUWU_WEB_BOARD_URL", base.web_board_url)
            or "",
            web_board_token=get("SIFUWU_WEB_BOARD_TOKEN",
                                base.web_board_token) or "",
            press_dir=get("SIFUWU_PRESS_DIR", base.press_dir) or "",
            quiet_hours=str(get("SIFUWU_QUIET_HOURS", base.quiet_hours)),
            retry_base=float(get("SIFUWU_NOTIFY_RETRY_BASE",
                                 base.retry_base)),
            retry_cap=float(get("SIFUWU_NOTIFY_RETRY_CAP", base.retry_cap)),
            max_attempts=int(get("SIFUWU_NOTIFY_MAX_ATTEMPTS",
                                 base.max_attempts)),
        )


def build_adapters(config):
    """{channel: adapter} from a ``NotifyConfig``."""
    providers = parse_providers(config.sms_providers,
                                config.sms_breaker_threshold,
                                config.sms_breaker_cooldown)
    return {
        "sms": SmsGateway(providers) if providers else DeliveryLogSms(),
        "email": (SmtpEmail(config.smtp_host, config.smtp_port,
                            config.smtp_from)
                  if config.smtp_host else
                  Unconfigured("email", "SIFUWU_SMTP_HOST")),
        "wechat": (WechatTemplate(config.wechat_url) if config.wechat_url
                   else Unconfigured("wechat", "SIFUWU_WECHAT_URL")),
        "web": WebBoard(config.web_board_url,
                        token=config.web_board_token or None),
        "press": (PressDesk(config.press_dir) if config.press_dir
                  else Unconfigured("press", "SIFUWU_PRESS_DIR")),
    }
