"""Email (邮件) through the configured SMTP server (smtplib)."""

import smtplib
import socket
from email.message import EmailMessage
from email.utils import make_msgid

from services.notify.channels.base import Channel, Outcome


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
