"""Small helpers shared by the test tiers."""

import time


def wait_for(fetch, timeout=15, what="result", interval=0.1):
    """Poll ``fetch()`` until it returns something truthy and return that;
    fail the test when ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fetch()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def outbox_events(db, event_type=None, *, sent=None):
    """Envelopes in a service's outbox (one outbox document per
    transaction, holding its events in order), oldest first; of
    ``event_type`` only if given, sent or unsent only if ``sent`` is given."""
    query = {} if event_type is None else {"types": event_type}
    if sent is not None:
        query["sent"] = sent
    return [envelope
            for doc in db["outbox"].find(query, sort=[("created_at", 1),
                                                      ("seq", 1)])
            for envelope in doc["envelopes"]
            if event_type is None or envelope["type"] == event_type]


def emitted(db, event_type, **match):
    """Envelopes of ``event_type`` in a service's outbox whose data match."""
    return [envelope for envelope in outbox_events(db, event_type)
            if all(envelope["data"].get(key) == value
                   for key, value in match.items())]
