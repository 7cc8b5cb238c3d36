"""Small helpers shared by the test tiers."""

import time

from kombu import Connection, Queue
from pymongo import monitoring

from sifuwu.outbox import outbox_envelopes


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


def drain(amqp_uri, queue_name):
    """Every message waiting in a durable queue, taken off it."""
    messages = []
    with Connection(amqp_uri) as conn:
        queue = Queue(queue_name, durable=True)(conn.default_channel)
        while True:
            message = queue.get(no_ack=True)
            if message is None:
                return messages
            messages.append(message)


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
            for envelope in outbox_envelopes(doc)
            if event_type is None or envelope["type"] == event_type]


def emitted(db, event_type, **match):
    """Envelopes of ``event_type`` in a service's outbox whose data match."""
    return [envelope for envelope in outbox_events(db, event_type)
            if all(envelope["data"].get(key) == value
                   for key, value in match.items())]


class Statements(monitoring.CommandListener):
    """The statements a service sends to one database while ``count``ing,
    as (command, collection), and whether each ran in a transaction.
    ``skip(name, collection, command)`` leaves out what runs beside the
    worker being measured (the outbox relay, sweepers)."""

    def __init__(self, skip=None):
        self.skip = skip or (lambda name, target, command: target == "outbox")
        self.database = None
        self.seen = []
        self.in_transaction = []

    def count(self, database):
        self.database, self.seen, self.in_transaction = database, [], []
        return self

    def __enter__(self):
        return self.seen

    def __exit__(self, *exc):
        self.database = None

    def started(self, event):
        name = event.command_name
        if self.database is None or (
                event.database_name != self.database
                and name not in ("commitTransaction", "abortTransaction")):
            return
        target = event.command.get(name)
        target = target if isinstance(target, str) else None
        if self.skip(name, target, event.command):
            return
        self.seen.append((name, target))
        self.in_transaction.append("txnNumber" in event.command)

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


def statement_counter(skip=None):
    """A registered ``Statements``. pymongo listeners are process-wide and
    must exist before a client is made: call this at import time."""
    counter = Statements(skip)
    monitoring.register(counter)
    return counter
