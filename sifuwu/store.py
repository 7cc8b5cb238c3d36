"""The store dependency (存储): a pymongo client per service container, the
service's own database, its indexes created at start-up, the outbox relay, and
what a worker sees: transactions in a unit of work that write a state change,
the consumed event id (under the running entrypoint's name) and the events to
publish (the outbox) together."""

import logging

import eventlet
from eventlet.event import Event
from kombu import Connection
from nameko.extensions import DependencyProvider
from pymongo import MongoClient
from pymongo.errors import DuplicateKeyError
from pymongo.results import BulkWriteResult, InsertManyResult

from sifuwu import events as ev
from sifuwu import wiring
from sifuwu.indexes import ensure_indexes
from sifuwu.outbox import OUTBOX, OUTBOX_INDEXES, OutboxRelay, outbox_documents
from sifuwu.settings import Settings

log = logging.getLogger(__name__)

CONSUMED = "consumed_events"


class Duplicate(Exception):
    """The event was already consumed by this handler."""


def database_name(settings, service_name):
    return f"{settings.db_prefix}{service_name}"


# SecantusDB checks every document a ``$in`` finds against the whole list, one
# value after another: short lists read faster (docs/performance.md, "Store
# costs behind constants in the code").
IN_CHUNK = 25

# SecantusDB runs each statement of a transaction under one server-wide lock:
# a statement writing many documents holds every other transaction that long.
# Written a few at a time, the others get in between (docs/performance.md,
# "Store costs behind constants in the code").
WRITE_CHUNK = 10


def find_in(collection, field, values, projection=None, session=None,
            extra=None):
    """The documents whose ``field`` is one of ``values`` (repeats read
    once), in statements of ``IN_CHUNK`` values; ``extra`` adds conditions
    to each. A generator."""
    values = sorted(set(values))
    for start in range(0, len(values), IN_CHUNK):
        query = {field: {"$in": values[start:start + IN_CHUNK]}}
        query.update(extra or {})
        yield from collection.find(query, projection, session=session)


class UnitOfWork:
    """One transaction: state changes via ``db``/``session``, events via
    ``emit``. Emitted events are written to the outbox when the work is done
    (``flush``), inside the same transaction, as one outbox document per
    ``OUTBOX_CHUNK`` events; nothing is published until the transaction
    commits."""

    def __init__(self, db, session, service_name, correlation_id=None,
                 repository=None):
        self.db = db
        self.session = session
        self.service_name = service_name
        self.correlation_id = correlation_id
        self.emitted = []
        self.outbox_docs = []
        # ``repository(uow)``: the storage a step reads and writes through
        self.repo = repository(self) if repository is not None else None

    def emit(self, event_type, data, *, correlation_id=None, event_id=None):
        envelope = ev.make_event(
            event_type, data, source=self.service_name,
            correlation_id=correlation_id or self.correlation_id,
            event_id=event_id)
        self.emitted.append(envelope)
        return envelope

    def flush(self):
        """Write the emitted events to the outbox (one statement)."""
        self.outbox_docs = outbox_documents(self.emitted, ev.utcnow())
        if self.outbox_docs:
            self.db[OUTBOX].insert_many(self.outbox_docs, ordered=True,
                                        session=self.session)

    def col(self, name):
        """The collection, writing in statements of ``WRITE_CHUNK``."""
        return ChunkedWrites(self.db[name])


class ChunkedWrites:
    """A pymongo collection whose ``insert_many`` and ``bulk_write`` send
    at most ``WRITE_CHUNK`` documents per statement (see ``WRITE_CHUNK``),
    in order, and return one result for all; everything else is the
    collection's. Inside a transaction a failed chunk aborts it all, as one
    statement would."""

    def __init__(self, collection):
        self._collection = collection

    def __getattr__(self, name):
        return getattr(self._collection, name)

    def _chunks(self, items):
        items = list(items)
        if not items:  # pymongo's own error for an empty write
            return [items]
        return [items[start:start + WRITE_CHUNK]
                for start in range(0, len(items), WRITE_CHUNK)]

    def insert_many(self, documents, *args, **kwargs):
        ids = []
        for chunk in self._chunks(documents):
            ids.extend(self._collection.insert_many(
                chunk, *args, **kwargs).inserted_ids)
        return InsertManyResult(ids, True)

    COUNTS = ("nInserted", "nUpserted", "nMatched", "nModified", "nRemoved")

    def bulk_write(self, requests, *args, **kwargs):
        total = dict.fromkeys(self.COUNTS, 0)
        total.update(upserted=[], writeErrors=[], writeConcernErrors=[])
        offset = 0
        for chunk in self._chunks(requests):
            result = self._collection.bulk_write(
                chunk, *args, **kwargs).bulk_api_result
            for key in self.COUNTS:
                total[key] += result.get(key, 0)
            total["upserted"].extend(
                dict(item, index=item["index"] + offset)
                for item in result.get("upserted", []))
            offset += len(chunk)
        return BulkWriteResult(total, True)


def consumed_key(handler, consumed):
    """The record of ``handler`` having consumed an event (id or envelope)."""
    event_id = consumed["event_id"] if isinstance(consumed, dict) else consumed
    return f"{handler}:{event_id}"


class StoreAccess:
    """What a worker sees of the store.

    ``handler`` is the name of the entrypoint the worker runs (nameko's
    ``worker_ctx.entrypoint.method_name``): consumed events are recorded
    under it, so a handler never types its own name and a rename cannot make
    dedupe miss silently (a renamed handler sees old events as new, once).
    """

    def __init__(self, provider, handler=None):
        self._provider = provider
        self.db = provider.db
        self.client = provider.client
        self.handler = handler

    def __getitem__(self, name):
        return self.db[name]

    def transaction(self, fn, *, consumed=None, correlation_id=None,
                    repository=None):
        """Run ``fn(uow)`` in one transaction and return its result.

        ``consumed`` (the event's envelope or id) records the consumed event
        in the same transaction under this worker's handler; if it was
        already recorded, ``fn`` does not run and ``Duplicate`` is raised.
        ``repository`` builds ``uow.repo``.
        """
        provider = self._provider
        key = consumed_key(self.handler, consumed) if consumed is not None \
            else None
        if key is not None and self.handler is None:
            raise RuntimeError("consumed events need the worker's handler")

        def callback(session):
            uow = UnitOfWork(provider.db, session, provider.service_name,
                             correlation_id, repository)
            if key is not None:
                try:
                    provider.db[CONSUMED].insert_one(
                        {"_id": key, "at": ev.utcnow()}, session=session)
                except DuplicateKeyError:
                    raise Duplicate(key.split(":", 1)[1])
            result = fn(uow)
            uow.flush()
            return result, uow.outbox_docs

        with provider.client.start_session() as session:
            result, outbox_docs = session.with_transaction(callback)
        if outbox_docs:
            provider.hand_over(outbox_docs)
        return result

    def transaction_batch(self, fn, envelopes, record=True, repository=None):
        """Apply a batch of consumed events in one transaction.

        Events this worker's handler already consumed (or repeated in the
        batch) are dropped first; ``fn(uow, fresh)`` gets the rest, and their
        ids are recorded in the same transaction. A concurrent duplicate
        aborts the transaction with DuplicateKeyError (the caller replays one
        by one). Returns the fresh envelopes.

        ``record=False`` is for a handler whose every effect is a document
        keyed by the event id, written only if absent: that document is the
        record, so no consumed id is read or written (``fn`` gets every
        envelope of the batch once and must skip the ones it finds done).
        """
        keys = {}
        for envelope in envelopes:
            keys.setdefault(consumed_key(self.handler, envelope), envelope)
        if not record:
            unique = list(keys.values())
            self.transaction(lambda uow: fn(uow, unique),
                             repository=repository)
            return unique
        if self.handler is None:
            raise RuntimeError("consumed events need the worker's handler")
        seen = {doc["_id"] for doc in find_in(self.db[CONSUMED], "_id", keys,
                                              {"_id": 1})}
        fresh = {key: env for key, env in keys.items() if key not in seen}
        if not fresh:
            return []

        def apply(uow):
            now = ev.utcnow()
            uow.col(CONSUMED).insert_many(
                [{"_id": key, "at": now} for key in fresh],
                session=uow.session)
            fn(uow, list(fresh.values()))
            return list(fresh.values())

        return self.transaction(apply, repository=repository)

    def ping(self):
        self.client.admin.command("ping")


class Store(DependencyProvider):
    """pymongo to the service's own database, with the outbox relay.

    The service class lists its indexes in ``indexes``
    ({collection: [IndexModel, ...]}); they are created at start-up, and
    those in ``retired_indexes`` ({collection: [name, ...]}) dropped.
    """

    def setup(self):
        self.settings = Settings.from_config(self.container.config)
        self.service_name = self.container.service_name
        self.client = MongoClient(
            self.settings.mongo_uri, tz_aware=True,
            serverSelectionTimeoutMS=self.settings.store_timeout_ms,
            connectTimeoutMS=self.settings.store_timeout_ms)
        self.db = self.client[database_name(self.settings, self.service_name)]
        self.relay = OutboxRelay(self.db, self.service_name,
                                 self.settings.amqp_uri,
                                 self.settings.relay_interval)
        self._ready = Event()

    def start(self):
        indexes = dict(OUTBOX_INDEXES)
        for name, models in getattr(self.container.service_cls, "indexes",
                                    {}).items():
            indexes[name] = list(indexes.get(name, [])) + list(models)
        retired = getattr(self.container.service_cls, "retired_indexes", {})
        self._retry_start(lambda: ensure_indexes(self.db, indexes, retired),
                          "create indexes")
        self._retry_start(self._declare_topology, "declare queues")
        self.relay.running = True
        self._ready.send(True)
        self.container.spawn_managed_thread(self.relay.run)

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
        self.relay.running = False
        self.relay.nudge()

    def kill(self):
        self.relay.running = False

    def hand_over(self, docs):
        """Committed outbox documents, to be published by the relay."""
        self.relay.hand_over(docs)

    def get_dependency(self, worker_ctx):
        self.wait_ready()
        return StoreAccess(self, worker_ctx.entrypoint.method_name)


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
