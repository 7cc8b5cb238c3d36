"""Items for the public board (网): notify's stored feed, optionally POSTed
to the board's own site."""

import requests

from services.notify.channels.base import (
    HTTP_TIMEOUT, Channel, Outcome, http_error_outcome,
)


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
                return http_error_outcome(self.provider, response, [])
        if delivery.board is not None:
            delivery.board(item)
        return Outcome.delivered(self.provider, item["_id"])
