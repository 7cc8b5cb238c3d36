"""Channel adapters (渠道适配器): one interface (``base``), one adapter per
channel, built from the service's settings.

* ``sms.SmsGateway``: HTTP SMS providers in order, each behind a circuit
  breaker; a failing provider is skipped for the next one (failover).
* ``sms.DeliveryLogSms``: the embedded default when no provider is
  configured: the delivery log is the gateway.
* ``email.SmtpEmail``: smtplib to the configured SMTP server.
* ``wechat.WechatTemplate``: WeChat template messages through an HTTP API.
* ``web.WebBoard``: items for the public board (stored feed, optionally
  POSTed).
* ``press.PressDesk``: a DOCX manuscript for the newspaper/magazine desk
  (报刊).
"""

from services.notify.channels.base import (
    Channel, Delivery, Outcome, Unconfigured, http_error_outcome,
)
from services.notify.channels.email import SmtpEmail
from services.notify.channels.press import PressDesk
from services.notify.channels.sms import (
    DeliveryLogSms, SmsGateway, SmsProvider, parse_providers,
)
from services.notify.channels.web import WebBoard
from services.notify.channels.wechat import WECHAT_PERMANENT, WechatTemplate

__all__ = [
    "Channel", "Delivery", "DeliveryLogSms", "Outcome", "PressDesk",
    "SmsGateway", "SmsProvider", "SmtpEmail", "Unconfigured",
    "WECHAT_PERMANENT", "WebBoard", "WechatTemplate", "build_adapters",
    "http_error_outcome", "parse_providers",
]


def build_adapters(settings):
    """{channel: adapter} from the service's settings (``NotifySettings``)."""
    providers = parse_providers(settings.sms_providers,
                                settings.sms_breaker_threshold,
                                settings.sms_breaker_cooldown)
    return {
        "sms": SmsGateway(providers) if providers else DeliveryLogSms(),
        "email": (SmtpEmail(settings.smtp_host, settings.smtp_port,
                            settings.smtp_from)
                  if settings.smtp_host else
                  Unconfigured("email", "SIFUWU_SMTP_HOST")),
        "wechat": (WechatTemplate(settings.wechat_url)
                   if settings.wechat_url
                   else Unconfigured("wechat", "SIFUWU_WECHAT_URL")),
        "web": WebBoard(settings.web_board_url,
                        token=settings.web_board_token or None),
        "press": (PressDesk(settings.press_dir) if settings.press_dir
                  else Unconfigured("press", "SIFUWU_PRESS_DIR")),
    }
