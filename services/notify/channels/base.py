"""The adapter interface (渠道适配器): ``adapter.send(delivery) -> Outcome``.

An adapter never raises for a failed delivery: it classifies it (temporary:
worth a retry; permanent: the address or the content is refused; technical:
our own fault) and says why.
"""

import dataclasses

from services.notify import domain

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


class Unconfigured(Channel):
    """A channel with no endpoint configured: refuses with the reason."""

    def __init__(self, name, what):
        self.name = name
        self.what = what

    def send(self, delivery):
        return Outcome.technical(None, f"渠道未配置: {self.what}")


def http_error_outcome(provider, response, tried):
    """An HTTP peer's refusal: 400/404/410/422 will not change on retry."""
    reason = f"HTTP {response.status_code}: {response.text[:200]}"
    if response.status_code in (400, 404, 410, 422):
        return Outcome.permanent(provider, reason, tried)
    return Outcome.temporary(provider, reason, tried)
