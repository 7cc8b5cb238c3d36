"""The store dependency: a pymongo client per service container, the
service's own database, idempotent index creation at start-up, and the unit of
work that writes a state change, the consumed event id and the events to
publish (outbox) in one transaction.
"""

import logging

import eventlet
from eventlet.event import Event
from eventlet.queue import Empty, LightQueue
from kombu import Connection
from kombu.pools import producers
from nameko.extensions import DependencyProvider
from pymongo import ASCENDING, IndexModel, MongoClient
from pymongo.errors import DuplicateKeyError

from sifuwu import events as ev
from sifuwu import wiring
from sifuwu.ops import metrics
from sifuwu.settings import Settings

log = logging.getLogger(__name__)

OUTBOX = "outbox"
CONSUMED = "consumed_events"

BASE_INDEXES = {
    OUTBOX: [
        IndexModel([("sent", ASCENDING), ("created_at", ASCENDING)],
                   name="outbox_pending"),
        # Sent entries are kept a week for inspection, then expire.
        IndexModel([("sent_at", ASCENDING)], name="outbox_sent_ttl",
                   expireAfterSeconds=7 * 24 * 3600),
    ],
}

RELAY_BATCH = 500


class Duplicate(Exception):
    """The event was already consumed by this handler."""


def database_name(settings, service_name):
    return f"{settings.db_prefix}{service_name}"


def ensure_indexes(db, indexes):
    """Create every index; creating an existing one is a no-op."""
    for collection, models in indexes.items():
        if models:
            db[collection].create_indexes(models)


class UnitOfWork:
    """One transaction: state changes via ``db``/``session``, events via
    ``emit``. Emitted events are written to the outbox in one statement when
    the work is done (``flush``), inside the same transaction; nothing is
    published until the transaction commits."""

    def __init__(self, db, session, service_name, correlation_id=None):
        self.db = db
        self.session = session
        self.service_name = service_name
        self.correlation_id = correlation_id
        self.emitted = []

    def emit(self, event_type, data, *, correlation_id=None, event_id=None):
        envelope = ev.make_event(
            event_type, data, source=self.service_name,
            correlation_id=correlation_id or self.correlation_id,
            event_id=event_id)
        self.emitted.append(envelope)
        return envelope

    def flush(self):
        """Write the emitted events to the outbox (one statement)."""
        if self.emitted:
            now = ev.utcnow()
            self.db[OUTBOX].insert_many(
                [{"_id": envelope["event_id"], "envelope": envelope,
                  "sent": False, "created_at": now, "seq": seq}
                 for seq, envelope in enumerate(self.emitted)],
                ordered=True, session=self.session)

    def col(self, name):
        return self.db[name]


class StoreAccess:
    """What a worker sees of the store."""

    def __init__(self, provider):
        self._provider = provider
        self.db = provider.db
        self.client = provider.client

    def __getitem__(self, name):
        return self.db[name]

    def transaction(self, fn, *, consumed=None, correlation_id=None):
        """Run ``fn(uow)`` in one transaction and return its result.

        ``consumed=(handler, event_id)`` records the consumed event in the
        same transaction; if it was already recorded, ``fn`` does not run and
        ``Duplicate`` is raised.
        """
        provider = self._provider

        def callback(session):
            uow = UnitOfWork(provider.db, session, provider.service_name,
                             correlation_id)
            if consumed is not None:
                handler, event_id = consumed
                try:
                    provider.db[CONSUMED].insert_one(
                        {"_id": f"{handler}:{event_id}", "at": ev.utcnow()},
                        session=session)
                except DuplicateKeyError:
                    raise Duplicate(event_id)
            result = fn(uow)
            uow.flush()
            return result, uow.emitted

        with provider.client.start_session() as session:
            result, emitted = session.with_transaction(callback)
        if emitted:
            provider.nudge()
        return result

    def transaction_batch(self, fn, handler, envelopes):
        """Apply a batch of consumed events in one transaction.

        Events this handler already consumed (or repeated in the batch) are
        dropped first; ``fn(uow, fresh)`` gets the rest, and their ids are
        recorded in the same transaction. A concurrent duplicate aborts the
        transaction with DuplicateKeyError (the caller replays one by one).
        Returns the fresh envelopes.
        """
        keys = {}
        for envelope in envelopes:
            keys.setdefault(f"{handler}:{envelope['event_id']}", envelope)
        seen = {doc["_id"] for doc in self.db[CONSUMED].find(
            {"_id": {"$in": list(keys)}}, {"_id": 1})}
        fresh = [env for key, env in keys.items() if key not in seen]
        if not fresh:
            return []

        def apply(uow):
            now = ev.utcnow()
            uow.col(CONSUMED).insert_many(
                [{"_id": f"{handler}:{env['event_id']}", "at": now}
                 for env in fresh], session=uow.session)
            fn(uow, fresh)
            return fresh

        return self.transaction(apply)

    def ping(self):
        self.client.admin.command("ping")


class Store(DependencyProvider):
    """pymongo to the service's own database, with the outbox relay.

    The service class lists its indexes in ``indexes``
    ({collection: [IndexModel, ...]}); they are created at start-up.
    """

    def setup(self):
        self.settings = Settings.from_config(self.container.config)
        self.service_name = self.container.service_name
        self.client = MongoClient(
            self.settings.mongo_uri, tz_aware=True,
            serverSelectionTimeoutMS=self.settings.store_timeout_ms,
            connectTimeoutMS=self.settings.store_timeout_ms)
        self.db = self.client[database_name(self.settings, self.service_name)]
        self._wake = LightQueue()
        self._running = False
        self._ready = Event()

    def start(self):
        indexes = dict(BASE_INDEXES)
        for name, models in getattr(self.container.service_cls, "indexes",
                                    {}).items():
            indexes[name] = list(indexes.get(name, [])) + list(models)
        self._retry_start(lambda: ensure_indexes(self.db, indexes),
                          "create indexes")
        self._retry_start(self._declare_topology, "declare queues")
        self._running = True
        self._ready.send(True)
        self.container.spawn_managed_thread(self._relay_loop)

    def wait_ready(self):
        """Block until the indexes exist and the queues are declared.

        nameko starts entrypoints alongside dependencies, so a request or
        an event can arrive while the indexes are still being created; no
        write may race that (SecantusDB can deadlock on an insert racing
        createIndexes on a fresh database, and a unique index created late
        would not guard what was written before)."""
        if not self._ready.ready():
            self._ready.wait()

    def _retry_start(self, action, what, attempts=30):
        for attempt in range(attempts):
            try:
                return action()
            except Exception as exc:  # noqa: BLE001 - retried, then raised
                if attempt == attempts - 1:
                    raise
                log.warning("start-up: cannot %s yet (%s), retrying", what,
                            type(exc).__name__)
                eventlet.sleep(1)

    def _declare_topology(self):
        with Connection(self.settings.amqp_uri, connect_timeout=5) as conn:
            wiring.declare_topology(conn)

    def stop(self):
        self._running = False
        self.nudge()

    def kill(self):
        self._running = False

    def get_dependency(self, worker_ctx):
        self.wait_ready()
        return StoreAccess(self)

    # -- the outbox relay --------------------------------------------------

    def nudge(self):
        self._wake.put(None)

    def _relay_loop(self):
        while self._running:
            try:
                self._wake.get(timeout=self.settings.relay_interval)
            except Empty:
                pass
            while True:  # drain extra nudges
                try:
                    self._wake.get_nowait()
                except Empty:
                    break
            try:
                while self.relay_once() == RELAY_BATCH:
                    pass
            except Exception as exc:  # noqa: BLE001 - keep relaying
                log.warning("outbox relay failed (%s: %s); will retry",
                            type(exc).__name__, exc)
                eventlet.sleep(1)

    def relay_once(self):
        """Publish one batch of pending outbox entries; returns its size."""
        pending = list(self.db[OUTBOX].find(
            {"sent": False},
            sort=[("created_at", ASCENDING), ("seq", ASCENDING)],
            limit=RELAY_BATCH))
        if not pending:
            return 0
        exchange = wiring.event_exchange(self.service_name)
        conn = Connection(self.settings.amqp_uri,
                          transport_options={"confirm_publish": True})
        published = []
        try:
            with producers[conn].acquire(block=True) as producer:
                for entry in pending:
                    envelope = entry["envelope"]
                    producer.publish(
                        envelope, exchange=exchange,
                        routing_key=envelope["type"], serializer="json",
                        delivery_mode=2, declare=[exchange], retry=True,
                        retry_policy={"max_retries": 3},
                        headers={"correlation_id":
                                 envelope.get("correlation_id") or ""})
                    published.append(entry["_id"])
                    metrics.EVENTS_PUBLISHED.labels(
                        self.service_name, envelope["type"]).inc()
        finally:
            if published:
                self.db[OUTBOX].update_many(
                    {"_id": {"$in": published}},
                    {"$set": {"sent": True, "sent_at": ev.utcnow()}})
        return len(pending)


def is_transient(exc):
    """Errors worth a retry: the store or the broker is unreachable."""
    from kombu.exceptions import OperationalError
    from pymongo.errors import ConnectionFailure, NetworkTimeout, PyMongoError
    # A write conflict that outlasted with_transaction's own retries (hot
    # scorecards under load) is worth a retry too, never a dead letter.
    if isinstance(exc, PyMongoError) and exc.has_error_label(
            "TransientTransactionError"):
        return True
    return isinstance(exc, (ConnectionFailure, NetworkTimeout,
                            OperationalError, ConnectionError, TimeoutError))

