"""Pipeline benchmark (issue 10): one run, same broker and store settings.

1. raw floor: a bare kombu consumer doing the same store writes in batches;
2. naive baseline: one nameko handler per message with single writes;
3. sifuwu: events in through the ingest exchange until stored and reflected
   in scorecards.

Each leg pre-loads N messages into its queue, then starts its consumer and
times until the last effect is stored. Then, on the same stack: the ingest →
scorecard lag at a paced rate, feedback POST latency at a paced rate, and the
ranking of 100,000 members. Each figure is printed with its target and
whether it is met; docs/performance.md holds the results.

Run: .venv/bin/python -m bench.pipeline [--events N] [--legs ...] (--help)
"""

import argparse
import gc
import json
import os
import random
import signal
import socket
import time
import uuid
import warnings

# exactly eventlet's deprecation notice, before eventlet is imported
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()  # noqa: E402

import urllib3  # noqa: E402
from kombu import Connection, Consumer, Exchange, Queue  # noqa: E402
from kombu.mixins import ConsumerMixin  # noqa: E402
from nameko.containers import ServiceContainer  # noqa: E402
from nameko.events import event_handler  # noqa: E402
from pymongo import MongoClient  # noqa: E402

from bench import floor  # noqa: E402
from bench.common import infra, percentile, wait_until  # noqa: E402
from services.activity.client import post_batch  # noqa: E402
from services.assessment.ranking import domain as ranking  # noqa: E402
from services.assessment.scoring import domain as scoring  # noqa: E402
from services.assessment.scoring import schemes  # noqa: E402
from sifuwu import events as ev  # noqa: E402
from sifuwu import wiring  # noqa: E402
from tooling.stack import INGEST_DEMO_USER  # noqa: E402
from sifuwu.outbox import ConfirmingPublisher  # noqa: E402
from sifuwu.wiring import SERVICES  # noqa: E402


def activity_payloads(n):
    """Single-insert legs' messages (activity.logged as activity emits)."""
    return [ev.make_event(ev.ACTIVITY_LOGGED, {
        "activity_id": f"a{i}", "member_id": f"m{i % 500}",
        "category": "enterprise", "kind": "visit",
        "occurred_at": "2026-03-02T09:00:00+08:00"}, source="activity")
        for i in range(n)]


def preload(amqp_uri, queue, payloads):
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        queue(conn.default_channel).declare()
        producer = conn.Producer()
        for payload in payloads:
            producer.publish(payload, exchange=queue.exchange,
                             routing_key=queue.routing_key, serializer="json",
                             delivery_mode=2)


def settle(stack, seconds=3):
    """Start a throughput leg on a quiet store: checkpoint what earlier
    legs wrote (``fsync``), then let the machine calm down, so no leg pays
    for the one before it."""
    with MongoClient(stack.mongo_uri) as client:
        client.admin.command("fsync")
    time.sleep(seconds)


def bench_db(stack, name):
    return MongoClient(stack.mongo_uri)[f"{stack.db_prefix}{name}"]


# -- 1. the raw floor: kombu, batches ---------------------------------------

def raw_floor(stack, payloads, apply, name, batch=200):
    """A bare kombu consumer: ``apply(bodies)`` per batch of ``batch``
    messages, ack after the write. Returns the seconds for all."""
    queue = Queue(f"bench.{name}", exchange=wiring.event_exchange("activity"),
                  routing_key=f"bench.{name}", durable=True)
    preload(stack.amqp_uri, queue, payloads)
    buffer = []
    started = time.monotonic()
    with Connection(stack.amqp_uri) as conn:
        channel = conn.channel()
        channel.basic_qos(0, batch * 2, False)

        def flush():
            apply([body for body, _ in buffer])
            for _, message in buffer:
                message.ack()
            done = len(buffer)
            buffer.clear()
            return done

        with Consumer(channel, queues=[queue], accept=["json"],
                      callbacks=[lambda body, msg: buffer.append((body, msg))]):
            done = 0
            while done < len(payloads):
                try:
                    conn.drain_events(timeout=0.05)
                except socket.timeout:
                    pass
                if len(buffer) >= batch or (buffer and done + len(buffer)
                                            == len(payloads)):
                    done += flush()
                elif buffer:
                    try:
                        conn.drain_events(timeout=0.01)
                    except socket.timeout:
                        done += flush()
        queue(channel).delete()
    return time.monotonic() - started


def insert_floor(stack, payloads):
    """The store's ceiling for one bare insert per event (reference)."""
    db = bench_db(stack, "raw_insert")
    elapsed = raw_floor(stack, payloads, lambda bodies: db.effects.insert_many(
        [{"_id": body["event_id"], "member_id": body["data"]["member_id"]}
         for body in bodies]), "raw_insert")
    assert db.effects.count_documents({}) == len(payloads)
    return elapsed


def same_writes_floor(stack, envelopes):
    """sifuwu's store writes (``bench.floor``) in batches of 200."""
    db = bench_db(stack, "raw")
    floor.prepare(db)
    effects = floor.Effects(member_places())
    elapsed = raw_floor(stack, envelopes,
                        lambda bodies: floor.apply_batch(db, effects, bodies),
                        "raw")
    check_floor(db, envelopes)
    return elapsed


def member_places():
    """member id → (branch id, unit id), as ``directory_envelopes``."""
    return {f"m{m}": (f"b{m % UNITS}", f"u{m % UNITS}")
            for m in range(MEMBERS)}


def check_floor(db, envelopes):
    """Every event stored once, and each member card counts its events."""
    assert db[floor.ACTIVITIES].count_documents({}) == len(envelopes)
    assert db[floor.CONTRIBUTIONS].count_documents({}) == len(envelopes)
    counted = sum(card["contribution_count"] for card in db[
        floor.SCORECARDS].find({"subject_type": "member"}))
    assert counted == len(envelopes), (counted, len(envelopes))


# -- 2. the naive baseline: nameko, one message, single writes --------------

class NaiveService:
    """The baseline: nameko's handler, single writes per message."""

    name = "naive"
    apply = None

    @event_handler("activity", ev.ACTIVITY_LOGGED)
    def on_activity_logged(self, payload):
        NaiveService.apply(payload)


def naive_baseline(stack, payloads, apply, done, max_workers=10):
    """Run ``NaiveService`` (``apply`` per message) until ``done()``; the
    container stops after its running workers finish."""
    queue = Queue(wiring.subscription_queue_name(
        "activity", ev.ACTIVITY_LOGGED, "naive", "on_activity_logged"),
        exchange=wiring.event_exchange("activity"),
        routing_key=ev.ACTIVITY_LOGGED, durable=True)
    preload(stack.amqp_uri, queue, payloads)
    NaiveService.apply = staticmethod(apply)
    container = ServiceContainer(NaiveService, {"AMQP_URI": stack.amqp_uri,
                                                "max_workers": max_workers})
    started = time.monotonic()
    container.start()
    try:
        finished = wait_until(done, interval=0.2)
    finally:
        container.stop()
        with Connection(stack.amqp_uri) as conn:  # not to fill up later
            queue(conn.default_channel).delete()
    return finished - started


def insert_naive(stack, payloads):
    """nameko + one bare insert_one per event (reference)."""
    db = bench_db(stack, "naive_insert")
    return naive_baseline(
        stack, payloads, lambda payload: db.effects.insert_one(
            {"_id": payload["event_id"],
             "member_id": payload["data"]["member_id"]}),
        lambda: db.effects.estimated_document_count() >= len(payloads))


def same_writes_naive(stack, envelopes):
    """sifuwu's store writes (``bench.floor``), one message at a time: a
    card is read, added to and written back, which without a transaction
    is exact only with one worker (two at once could lose an update)."""
    db = bench_db(stack, "naive")
    floor.prepare(db)
    effects = floor.Effects(member_places())
    elapsed = naive_baseline(
        stack, envelopes, lambda body: floor.apply_one(db, effects, body),
        lambda: db[floor.ACTIVITIES].estimated_document_count()
        >= len(envelopes), max_workers=1)
    check_floor(db, envelopes)
    return elapsed


# -- 3. sifuwu's own pipeline ----------------------------------------------------

UNITS = 50
MEMBERS = 500
INGEST_TOKEN = "demo-token"


def _post_batches(url, envelopes):
    for start in range(0, len(envelopes), 500):
        response = post_batch(url, INGEST_TOKEN, envelopes[start:start + 500],
                              timeout=300)
        response.raise_for_status()


def directory_envelopes(tag):
    """Units, branches and members of a middling city (50 units, 500
    members), sent before the stream like the real directory is."""
    out = []
    for u in range(UNITS):
        out.append(ingest_envelope("directory.unit", f"{tag}-u{u}", {
            "unit_id": f"u{u}", "name": f"市直单位{u}"}))
        out.append(ingest_envelope("directory.branch", f"{tag}-b{u}", {
            "branch_id": f"b{u}", "unit_id": f"u{u}",
            "name": f"市直单位{u}机关党支部"}))
    for m in range(MEMBERS):
        out.append(ingest_envelope("directory.member", f"{tag}-m{m}", {
            "member_id": f"m{m}", "name": f"党员{m}", "unit_id": f"u{m % UNITS}",
            "branch_id": f"b{m % UNITS}"}))
    return out


def ingest_envelope(event_type, event_id, data, correlation_id=None):
    return {"event_id": event_id, "type": event_type,
            "source": INGEST_DEMO_USER,
            "occurred_at": "2026-11-20T09:00:00+08:00",
            "correlation_id": correlation_id, "data": data}


def service_activity(tag, i, phone=None):
    minute = i % (60 * 24 * 25)
    at = (f"2026-11-{1 + minute // 1440:02d}T{minute % 1440 // 60:02d}:"
          f"{minute % 60:02d}:00+08:00")
    recipient = {"id": f"e-{tag}-{i}", "type": "enterprise",
                 "name": "滨江智造科技有限公司"}
    if phone:
        recipient["phone"] = phone
    return ingest_envelope("activity.service", f"{tag}-{i}", {
        "activity_id": f"act-{tag}-{i}", "category": "enterprise",
        "kind": "visit", "member_id": f"m{i % MEMBERS}",
        "recipient": recipient, "occurred_at": at})


def start_services(stack, max_workers=None):
    # One address sends every feedback POST here; production sees many.
    stack.extra_env.update({"SIFUWU_FEEDBACK_RATE_ADDRESS": "1000000/60",
                            "SIFUWU_RELAY_INTERVAL": "0.2"})
    if max_workers:
        stack.extra_env["SIFUWU_MAX_WORKERS"] = str(max_workers)
    stack.start_peers()
    for service in SERVICES:
        stack.start_service(service)
    stack.wait_healthy(timeout=180)
    envelopes = directory_envelopes("dir")
    _post_batches(stack.url("activity"), envelopes)
    consumed = MongoClient(stack.mongo_uri)[
        f"{stack.db_prefix}assessment"]["consumed_events"]
    wait_until(lambda: consumed.estimated_document_count()
               >= len(envelopes), timeout=300, interval=0.5)


def publish_ingest(uri, envelopes, pace=None, sent_at=None, group=50):
    """Publish to sifuwu.ingest as the demo source system with publisher
    confirms (waited for per group of ``group`` messages, not per message);
    ``pace`` events/s if given (``sent_at`` records each send time)."""
    exchange = Exchange(wiring.INGEST_EXCHANGE, type="topic", durable=True)
    publisher = ConfirmingPublisher(uri)
    group = max(1, min(group, int(pace / 100) if pace else group))
    try:
        started = time.monotonic()
        for index in range(0, len(envelopes), group):
            chunk = envelopes[index:index + group]
            if pace:
                delay = started + index / pace - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            if sent_at is not None:  # activity's events correlate by its id
                now = time.monotonic()
                for envelope in chunk:
                    sent_at[envelope["data"]["activity_id"]] = now
            publisher.publish(exchange, chunk, declare=False,
                              user_id=INGEST_DEMO_USER)
        return time.monotonic() - started
    finally:
        publisher.close()


def sifuwu_pipeline(stack, n):
    """Preload n ingest messages while activity is stopped, start it, and
    time until every one of them is reflected in the scorecards: the
    ``scorecard.updated`` events name the contributions that changed each
    card (``changed_by``); a contribution is written in the same transaction
    as the cards it changes. Watching the events, not counting documents,
    keeps the measuring off the store (a count is a scan in SecantusDB)."""
    watcher = FirstSeen(stack.amqp_uri, "assessment", ev.SCORECARD_UPDATED,
                        "pipeline", keys=lambda body: [
                            ref for ref in body["data"].get("changed_by") or []
                            if ref.startswith("activity:")])
    watcher.start()
    stack.kill_service("activity", signal.SIGTERM)
    tag = uuid.uuid4().hex[:6]
    publish_ingest(stack.ingest_amqp_uri(),
                   [service_activity(tag, i) for i in range(n)])
    started = time.monotonic()
    stack.start_service("activity")
    try:  # at 50 events/s at least (1M events: ~6 hours)
        wait_until(lambda: len(watcher.seen) >= n, timeout=max(600, n / 50),
                   interval=0.05)
    finally:
        watcher.stop()
    first, done = min(watcher.seen.values()), max(watcher.seen.values())
    stack.wait_healthy(["activity"])
    return {"wall": done - started, "steady": done - first,
            "startup": first - started}


class FirstSeen(ConsumerMixin):
    """Records when the first event naming each key arrives on
    ``exchange`` with ``routing_key`` (a bench queue of its own); the keys
    of an event are ``keys(body)`` (default: its correlation id)."""

    def __init__(self, amqp_uri, publisher, routing_key, name,
                 keys=lambda body: [body.get("correlation_id")]):
        self.connection = Connection(amqp_uri)
        self.queue = Queue(f"bench.{name}.{uuid.uuid4().hex[:6]}",
                           exchange=wiring.event_exchange(publisher),
                           routing_key=routing_key, auto_delete=True)
        self.seen = {}
        self.bodies = {}
        self.keys = keys
        self.should_stop = False

    def get_consumers(self, consumer_cls, channel):
        return [consumer_cls(queues=[self.queue], accept=["json"],
                             callbacks=[self.on_message])]

    def on_message(self, body, message):
        now = time.monotonic()
        for key in self.keys(body):
            if key not in self.seen:
                self.seen[key] = now
                self.bodies[key] = body
        message.ack()

    def start(self):
        with Connection(self.connection.as_uri(include_password=True)) as c:
            self.queue(c.default_channel).declare()
        self.thread = eventlet.spawn(self.run)

    def stop(self):
        self.should_stop = True
        self.thread.wait()


def lag_at_rate(stack, rate, seconds):
    """p99 of ingest publish → the first scorecard.updated naming that
    activity's contribution in ``changed_by`` (contribution ids are
    "activity:<activity.logged event id>"; a second watcher maps those
    event ids to activity ids)."""
    watcher = FirstSeen(stack.amqp_uri, "assessment", ev.SCORECARD_UPDATED,
                        "lag", keys=lambda body: body["data"].get(
                            "changed_by") or [])
    logged = FirstSeen(stack.amqp_uri, "activity", ev.ACTIVITY_LOGGED,
                       "logged", keys=lambda body: [body["event_id"]])
    watcher.start()
    logged.start()
    tag = uuid.uuid4().hex[:6]
    envelopes = [service_activity(tag, i) for i in range(int(rate * seconds))]
    sent_at = {}
    publish_seconds = publish_ingest(stack.ingest_amqp_uri(), envelopes,
                                     pace=rate, sent_at=sent_at)

    def reflected():
        activity_of = {body["correlation_id"]: f"activity:{event_id}"
                       for event_id, body in logged.bodies.items()}
        return {activity_id: watcher.seen[activity_of[activity_id]]
                for activity_id in sent_at
                if activity_of.get(activity_id) in watcher.seen}

    try:
        wait_until(lambda: len(reflected()) == len(sent_at), timeout=600,
                   interval=0.5)
    finally:
        watcher.stop()
        logged.stop()
    seen = reflected()
    lags = [seen[k] - sent_at[k] for k in sent_at]
    return {"p50": percentile(lags, 50), "p99": percentile(lags, 99),
            "max": max(lags), "achieved_rate": len(envelopes) / publish_seconds}


def queues_drained(stack):
    """No message waits or is being handled in any service's queue."""
    for line in stack.rabbitmqctl("list_queues", "-q", "name",
                                  "messages").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].startswith("evt-") \
                and parts[1].isdigit() and int(parts[1]):
            return False
    return True


def feedback_latency(stack, rate, seconds):
    """p99 of POST /api/v1/feedback at ``rate`` requests/s, each with the
    token of a real invitation (activities with phones → invitations)."""
    count = int(rate * seconds)
    watcher = FirstSeen(stack.amqp_uri, "feedback", ev.INVITATION_ISSUED,
                        "invitations")
    watcher.start()
    tag = uuid.uuid4().hex[:6]
    envelopes = [service_activity(tag, i, phone=f"139{i:08d}")
                 for i in range(count)]
    contributions = MongoClient(stack.mongo_uri)[
        f"{stack.db_prefix}assessment"]["contributions"]
    before = contributions.estimated_document_count()
    publish_ingest(stack.ingest_amqp_uri(), envelopes)
    try:
        wait_until(lambda: len(watcher.seen) >= count, timeout=600,
                   interval=0.2)
    finally:
        watcher.stop()
    # Let assessment score these activities and notify send their SMS:
    # measure POSTs on a stack that is not busy with an earlier backlog.
    wait_until(lambda: contributions.estimated_document_count()
               >= before + count, timeout=900, interval=1)
    wait_until(lambda: queues_drained(stack), timeout=900, interval=1)
    tokens = [body["data"]["link"].rsplit("/", 1)[1]
              for body in watcher.bodies.values()][:count]
    url = stack.url("feedback") + "/api/v1/feedback"
    latencies, statuses = [], {}
    pool = eventlet.GreenPool(500)
    # urllib3 directly (what requests wraps, at half the CPU: the
    # load generator shares the machine with what it measures), with one
    # keep-alive connection per concurrent request, as each phone has its
    # own
    http = urllib3.PoolManager(maxsize=500)

    def submit(token):
        started = time.monotonic()
        response = http.request(
            "POST", url, body=json.dumps({"token": token, "rating": 5}),
            headers={"Content-Type": "application/json"}, timeout=30)
        latencies.append(time.monotonic() - started)
        statuses[response.status] = statuses.get(response.status, 0) + 1

    cpu_before = cpu_seconds(stack)
    started = time.monotonic()
    for index, token in enumerate(tokens):
        delay = started + index / rate - time.monotonic()
        if delay > 0:
            eventlet.sleep(delay)
        pool.spawn_n(submit, token)
    offered = count / (time.monotonic() - started)
    pool.waitall()
    answered = count / (time.monotonic() - started)
    # ... and until assessment has scored them: the work a rating costs
    # (a count would scan, costing the store CPU: one contribution each)
    wait_until(lambda: contributions.estimated_document_count()
               >= before + 2 * count, timeout=300, interval=0.5)
    cpu_after = cpu_seconds(stack)
    return {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99),
            "statuses": statuses, "offered_rate": offered,
            "achieved_rate": answered,
            "cpu_ms": {name: (cpu_after[name] - cpu_before[name]) / count
                       * 1000 for name in cpu_before}}


def cpu_seconds(stack, names=("store", "feedback", "assessment")):
    """CPU seconds (user + system) each of these processes has used."""
    tick = os.sysconf("SC_CLK_TCK")
    used = {}
    for name in names:
        with open(f"/proc/{stack.processes[name].pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        used[name] = (int(fields[11]) + int(fields[12])) / tick
    return used


def ranking_time(members, repeats=3):
    """The ranking of ``members`` scored cards, in memory, as the ranking
    API does it once the cards are read (``repository.ranking_entries``:
    ``ranking.rank_order`` + ``ranking.quota_grades``, columns, the cards
    only read), and, for reference, ranking and grading the cards in place
    (``ranking.rank`` + ``ranking.apply_quotas``, which write four fields
    into each card). Best of ``repeats``, seconds: (columns, in place)."""
    rng = random.Random(7)
    scheme = schemes.default_scheme()
    cards = []
    for i in range(members):
        sums = {key: 0 for key in scoring.SUMS}
        sums.update(activity_count=rng.randrange(0, 12),
                    rating_count=rng.randrange(0, 8),
                    meeting_expected=12,
                    meeting_attended=rng.randrange(6, 13))
        sums["rating_sum"] = sums["rating_count"] * rng.randrange(3, 6)
        cards.append(dict(scoring.scorecard(sums, scheme),
                          subject_type="member", subject_id=f"m{i}"))
    quotas = scheme.get("quotas") or {}

    def columns():
        order = ranking.rank_order(cards)
        grades = ranking.quota_grades(order.totals, order.ranks,
                                     scheme["bands"], quotas)
        assert len(grades.grade) == len(order.order) == members

    def in_place():
        ranking.apply_quotas(ranking.rank(cards), scheme["bands"], quotas)

    return tuple(min(_seconds(work) for _ in range(repeats))
                 for work in (columns, in_place))


def _seconds(work):
    """Seconds ``work()`` takes, the garbage collector off meanwhile (as
    ``timeit`` does: a collection set off by building the test cards would
    otherwise land in the timing at random)."""
    gc.collect()
    gc.disable()
    try:
        started = time.perf_counter()
        work()
        return time.perf_counter() - started
    finally:
        gc.enable()


def verdict(met):
    return "met" if met else "NOT met"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--lag-rate", type=float, default=1000)
    parser.add_argument("--lag-seconds", type=float, default=5)
    parser.add_argument("--steady-lag-rate", type=float, default=None,
                        help="the steady-lag leg's rate (default: half the "
                        "sifuwu leg's measured rate)")
    parser.add_argument("--steady-lag-seconds", type=float, default=10)
    parser.add_argument("--feedback-rate", type=float, default=200)
    parser.add_argument("--feedback-seconds", type=float, default=5)
    parser.add_argument("--ranking-members", type=int, default=100_000)
    parser.add_argument("--max-workers", type=int, default=None,
                        help="SIFUWU_MAX_WORKERS for every service "
                        "(default: each service's own: 10, feedback 100)")
    parser.add_argument("--legs", default="insert,raw,naive,sifuwu,lag,"
                        "steady-lag,feedback,ranking", help="insert: the "
                        "single-insert reference legs; raw, naive: the same "
                        "store writes as sifuwu (bench/floor.py)")
    args = parser.parse_args(argv)
    legs = set(args.legs.split(","))
    n = args.events
    envelopes = [service_activity("floor", i) for i in range(n)]
    results = {}
    with infra() as stack:
        if "insert" in legs:
            payloads = activity_payloads(n)
            settle(stack)
            results["raw_insert"] = insert_floor(stack, payloads)
            settle(stack)
            results["naive_insert"] = insert_naive(stack, payloads)
        if "raw" in legs:
            settle(stack)
            results["raw"] = same_writes_floor(stack, envelopes)
        if "naive" in legs:
            settle(stack)
            results["naive"] = same_writes_naive(stack, envelopes)
        if legs & {"sifuwu", "lag", "steady-lag", "feedback"}:
            start_services(stack, args.max_workers)
        if "sifuwu" in legs:
            settle(stack)
            results["sifuwu"] = sifuwu_pipeline(stack, n)
        if "lag" in legs:
            results["lag"] = lag_at_rate(stack, args.lag_rate,
                                         args.lag_seconds)
        if "steady-lag" in legs:
            # a rate the pipeline sustains: half what the sifuwu leg measured
            steady = args.steady_lag_rate or (
                n / results["sifuwu"]["steady"] / 2 if "sifuwu" in results
                else 100)
            results["steady_lag"] = lag_at_rate(stack, steady,
                                                args.steady_lag_seconds)
        if "feedback" in legs:
            results["feedback"] = feedback_latency(
                stack, args.feedback_rate, args.feedback_seconds)
    if "ranking" in legs:
        results["ranking"] = ranking_time(args.ranking_members)

    print(f"events: {n}")
    rate = {}
    if "raw_insert" in results:
        print("reference, one bare insert per event: kombu + insert_many "
              f"{n / results['raw_insert']:.0f} events/s, nameko + "
              f"insert_one {n / results['naive_insert']:.0f} events/s")
    if "raw" in results:
        rate["raw"] = n / results["raw"]
        print("raw floor (kombu, sifuwu's store writes per 200 events):   "
              f"{rate['raw']:8.0f} events/s")
    if "naive" in results:
        rate["naive"] = n / results["naive"]
        print("naive (nameko, sifuwu's store writes one by one):          "
              f"{rate['naive']:8.0f} events/s")
    if "sifuwu" in results:
        s = results["sifuwu"]
        rate["sifuwu"] = n / s["steady"]
        print(f"sifuwu (ingest → activity → assessment scorecards): "
              f"{rate['sifuwu']:8.0f} events/s (steady; {n / s['wall']:.0f} "
              f"events/s counting the {s['startup']:.1f} s activity start)")
        if "naive" in rate:
            ratio = rate["sifuwu"] / rate["naive"]
            print(f"  sifuwu / naive    = {ratio:5.2f}x  (target ≥ 2.5x: "
                  f"{verdict(ratio >= 2.5)})")
        if "raw" in rate:
            ratio = rate["sifuwu"] / rate["raw"]
            print(f"  sifuwu / raw floor = {ratio:5.0%}  (target ≥ 50%: "
                  f"{verdict(ratio >= 0.5)})")
    if "lag" in results:
        lag = results["lag"]
        print(f"ingest → scorecard lag at {lag['achieved_rate']:.0f} events/s"
              f" offered: p50 {lag['p50']:.2f} s, p99 {lag['p99']:.2f} s, max "
              f"{lag['max']:.2f} s (target p99 < 1 s: "
              f"{verdict(lag['p99'] < 1)})")
        if "raw" in rate and rate["raw"] < lag["achieved_rate"]:
            print(f"  (the raw floor does these store writes at only "
                  f"{rate['raw']:.0f} events/s: at {lag['achieved_rate']:.0f}"
                  "/s offered any consumer on this store falls behind, and "
                  "the lag is the time in the queue)")
    if "steady_lag" in results:
        lag = results["steady_lag"]
        print(f"ingest → scorecard lag at {lag['achieved_rate']:.0f} events/s"
              f" (a rate the pipeline sustains): p50 {lag['p50']:.2f} s, p99 "
              f"{lag['p99']:.2f} s, max {lag['max']:.2f} s")
    if "feedback" in results:
        fb = results["feedback"]
        print(f"feedback POST offered at {fb['offered_rate']:.0f} requests/s"
              f" (all answered within {fb['achieved_rate']:.0f}/s): p50 "
              f"{fb['p50'] * 1000:.0f} ms, p99 {fb['p99'] * 1000:.0f} ms, "
              f"statuses {fb['statuses']} (target p99 < 100 ms: "
              f"{verdict(fb['p99'] < 0.1)})")
        print("  CPU per rating, POST to scored: " + ", ".join(
            f"{name} {ms:.1f} ms" for name, ms in fb["cpu_ms"].items()))
    if "ranking" in results:
        columns, in_place = results["ranking"]
        print(f"ranking over {args.ranking_members:,} members (rank order + "
              f"quota grades, as columns): {columns * 1000:.0f} ms (target "
              f"< 100 ms: {verdict(columns < 0.1)}); ranked and graded in "
              f"place in the cards: {in_place * 1000:.0f} ms")


if __name__ == "__main__":
    main()
