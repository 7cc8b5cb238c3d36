"""Small helpers shared by the test tiers."""

import collections.abc
import json
import time
import uuid

from kombu import Connection, Queue
from pymongo import monitoring

from services.identity import signing
from sifuwu import access
from sifuwu.events import utcnow
from sifuwu.outbox import outbox_envelopes

# Staff tokens for in-process containers: a signing key made for this test
# run, whose public half the containers take as SIFUWU_JWKS (so they never
# call an identity service). The end-to-end tiers log in at the real one.
TEST_KEY = signing.new_key()
TEST_KID = "test-" + uuid.uuid4().hex[:8]
TEST_JWKS = json.dumps({"keys": [signing.public_jwk(TEST_KEY, TEST_KID)]})


def staff_token(role=access.COMMITTEE, name="staff", unit_id=None,
                branch_id=None, ttl=4 * 3600):
    """A token as the identity service signs it, for ``role`` (and the unit
    or branch a unit-bound role needs), valid ``ttl`` seconds from now."""
    now = int(utcnow().timestamp())
    claims = {"iss": "sifuwu-identity", "aud": "sifuwu",
              "sub": f"acct-{name}", "name": name, "role": role,
              "iat": now, "exp": now + ttl}
    if unit_id:
        claims["unit_id"] = unit_id
    if branch_id:
        claims["branch_id"] = branch_id
    return signing.sign(claims, TEST_KEY, TEST_KID)


def staff_headers(role=access.COMMITTEE, name="staff", **scope):
    return {"Authorization": f"Bearer {staff_token(role, name, **scope)}"}


class StackStaff(collections.abc.Mapping):
    """The ``Authorization`` header of the session stack's first 工委
    account (signed in at its identity service; the ``stack`` fixture sets
    ``login``), for modules that keep their headers in a constant."""

    login = None

    def __getitem__(self, key):
        if StackStaff.login is None:
            raise RuntimeError("the stack fixture has not signed in yet")
        return StackStaff.login[key]

    def __iter__(self):
        return iter(("Authorization",))

    def __len__(self):
        return 1


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
