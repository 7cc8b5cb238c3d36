"""Rate-limit check benchmark (issue 25): checks per second of feedback's
store counter (``services.feedback.rates.StoreRateCounter``, one atomic
``$inc`` upsert per check) against the embedded store, beside the
in-process ``domain.RateCounter`` it replaced.

Legs: one hot key (every check on one window document, as a flood from one
address) and fresh keys (every check a new document, as many addresses);
each with one caller and with ``--concurrency`` green threads, as the
service's workers run under eventlet. Each check is timed; p50 and p99 are
printed with the rate and the store's CPU time per check.

Run: .venv/bin/python -m bench.rates [--checks N] [--concurrency C]
"""

import argparse
import contextlib
import datetime as dt
import os
import tempfile
import time
import uuid
import warnings

# exactly eventlet's deprecation notice, before eventlet is imported
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()  # noqa: E402

from eventlet.greenpool import GreenPool  # noqa: E402
from pymongo import MongoClient  # noqa: E402

from bench.common import percentile  # noqa: E402
from services.feedback import domain, repository  # noqa: E402
from services.feedback.rates import StoreRateCounter  # noqa: E402
from sifuwu.indexes import ensure_indexes  # noqa: E402
from tooling.stack import EmbeddedStack, Ports  # noqa: E402


@contextlib.contextmanager
def store():
    """A private SecantusDB (no broker: the counter needs none)."""
    with tempfile.TemporaryDirectory(prefix="sifuwu-bench-") as base:
        stack = EmbeddedStack(base, Ports.free(),
                              db_prefix=f"b{uuid.uuid4().hex[:6]}_")
        try:
            stack.start_store()
            yield stack
        finally:
            stack.stop()


def cpu_seconds(pid):
    """User + system CPU time of a process so far (Linux /proc)."""
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(counter, keys, concurrency, store_pid=None):
    """(checks per second, p50 s, p99 s, store CPU ms per check, refused)
    of one hit per key."""
    now = dt.datetime.now(dt.timezone.utc)
    latencies = []

    def check(key):
        started = time.perf_counter()
        allowed = counter.hit(key, now, 1_000_000_000, 60)
        latencies.append(time.perf_counter() - started)
        return allowed

    cpu = cpu_seconds(store_pid)
    started = time.perf_counter()
    if concurrency == 1:
        answers = [check(key) for key in keys]
    else:
        answers = list(GreenPool(concurrency).imap(check, keys))
    wall = time.perf_counter() - started
    cpu_ms = (cpu_seconds(store_pid) - cpu) * 1000 / len(keys)
    return (len(keys) / wall, percentile(latencies, 50),
            percentile(latencies, 99), cpu_ms, answers.count(False))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checks", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args(argv)
    n = args.checks
    legs = {"hot key": lambda run_id: [f"addr:hot{run_id}"] * n,
            "fresh keys": lambda run_id: [f"addr:{run_id}-{i}"
                                          for i in range(n)]}
    with store() as stack:
        client = MongoClient(stack.mongo_uri, tz_aware=True)
        db = client[f"{stack.db_prefix}feedback"]
        ensure_indexes(db, {repository.RATE_LIMITS:
                            repository.INDEXES[repository.RATE_LIMITS]})
        counter = StoreRateCounter(db[repository.RATE_LIMITS])
        counter.hit("addr:warm-up", dt.datetime.now(dt.timezone.utc), 1, 60)
        print(f"checks per leg: {n}")
        for name, keys in legs.items():
            for concurrency in (1, args.concurrency):
                rate, p50, p99, cpu_ms, refused = run(
                    counter, keys(uuid.uuid4().hex[:6]), concurrency,
                    stack.processes["store"].pid)
                print(f"store counter, {name:10}, {concurrency:3} at once: "
                      f"{rate:6.0f} checks/s, p50 {p50 * 1000:6.2f} ms, "
                      f"p99 {p99 * 1000:6.2f} ms, store CPU "
                      f"{cpu_ms:.2f} ms/check"
                      + (f", {refused} refused (!)" if refused else ""))
        client.close()
    memory = domain.RateCounter()
    for name, keys in legs.items():
        rate = run(memory, keys("m"), 1)[0]
        print(f"memory counter, {name:10}, one caller: {rate:10.0f} "
              f"checks/s (what one replica did alone, for scale)")


if __name__ == "__main__":
    main()
