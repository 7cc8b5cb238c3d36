"""The other services' public HTTP APIs, called with the signed-in
person's token: every service's own policy decides what they may see."""

import logging

import requests

log = logging.getLogger(__name__)

TIMEOUT = 15


class Upstream:
    """``call(service, method, path, ...)`` → (status, body); a service that
    cannot be reached answers (503, None), never an exception."""

    def __init__(self, urls, token=None, session=None):
        self.urls = urls
        self.token = token
        self.http = session or requests.Session()

    def call(self, service, method, path, **kwargs):
        headers = kwargs.pop("headers", {})
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = self.http.request(method, self.urls[service] + path,
                                         headers=headers, timeout=TIMEOUT,
                                         **kwargs)
        except requests.RequestException as exc:
            log.warning("console: %s unreachable (%s)", service,
                        type(exc).__name__)
            return 503, None
        try:
            body = response.json()
        except ValueError:
            body = None
        return response.status_code, body

    def get(self, service, path, **params):
        return self.call(service, "GET", path, params=params)
