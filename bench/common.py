"""Shared pieces of the benchmarks: a private broker and store, timing."""

import contextlib
import tempfile
import time
import uuid

from tooling.stack import EmbeddedStack, Ports


@contextlib.contextmanager
def infra():
    """A private RabbitMQ node and SecantusDB, as the tests use them."""
    with tempfile.TemporaryDirectory(prefix="sifuwu-bench-") as base:
        stack = EmbeddedStack(base, Ports.free(),
                              db_prefix=f"b{uuid.uuid4().hex[:6]}_")
        try:
            stack.start_rabbit()
            stack.start_store()
            yield stack
        finally:
            stack.stop()


def wait_until(check, timeout=600, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        time.sleep(interval)
    raise TimeoutError("benchmark did not finish in time")


def percentile(values, pct):
    ordered = sorted(values)
    if not ordered:
        return None
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]
