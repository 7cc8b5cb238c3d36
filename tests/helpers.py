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


def emitted(db, event_type, **match):
    """Envelopes of ``event_type`` in a service's outbox whose data match."""
    return [entry["envelope"] for entry in db["outbox"].find(
        {"envelope.type": event_type,
         **{f"envelope.data.{key}": value for key, value in match.items()}})]
