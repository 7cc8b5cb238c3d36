"""WeChat template messages (微信) through an HTTP API."""

import re

import requests

from services.notify.channels.base import (
    HTTP_TIMEOUT, Channel, Outcome, http_error_outcome,
)

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
            return http_error_outcome(self.provider, response, [])
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
