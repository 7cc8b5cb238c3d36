"""API clients of outside systems (接入客户端): the rules as plain functions,
the steps against the in-memory unit of work with a dict-backed repository,
and the ingest entrypoint's loading with worker_factory."""

import copy
import datetime as dt

import pytest
from marshmallow import ValidationError
from nameko.testing.services import worker_factory

from sifuwu.errors import Conflict, Forbidden, NotFound, Unauthorized
from services.activity.clients import domain, steps
from services.activity.clients.schemas import (
    ClientCreateSchema, ClientSchema, IssuedKeySchema,
)
from services.activity.examples import example_envelope
from services.activity.ingest import domain as ingest_domain
from services.activity.ingest import steps as ingest_steps
from services.activity.service import ActivityService
from services.activity.settings import ActivitySettings
from tests.fakes.activity import FakeIngestRepository
from tests.fakes.uow import InMemoryUnitOfWork

NOW = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.timezone.utc)
WEEK = 7 * 24 * 3600
HOTLINE = "hotline12345"
ACTOR = "gongwei"


def later(seconds):
    return NOW + dt.timedelta(seconds=seconds)


class FakeClientRepository:
    """Clients and their audit in dicts, with ``ClientRepository``'s
    methods."""

    def __init__(self):
        self.clients = {}
        self.audit = []

    def insert_client(self, client):
        self.clients[client["_id"]] = copy.deepcopy(client)

    def get_client(self, client_id):
        return copy.deepcopy(self.clients.get(client_id))

    def client_by_key(self, key_id):
        return next((copy.deepcopy(c) for c in self.clients.values()
                     if any(k["key_id"] == key_id for k in c["keys"])), None)

    def list_clients(self, limit=200):
        return sorted((copy.deepcopy(c) for c in self.clients.values()),
                      key=lambda c: c["created_at"], reverse=True)[:limit]

    def update_client(self, client_id, changes):
        self.clients[client_id].update(copy.deepcopy(changes))

    def append_audit(self, entry):
        self.audit.append(copy.deepcopy(entry))

    def audit_entries(self, client_id, limit=100):
        return [e for e in reversed(self.audit)
                if e["client_id"] == client_id][:limit]


def keygen(*ids):
    """Key ids and secrets in turn, as ``steps.new_credentials`` makes
    them."""
    made = iter(ids)

    def make():
        key_id = next(made)
        return key_id, (key_id * 3)[:43]
    return make


A, B, C = "a" * 16, "b" * 16, "c" * 16


def new(uow, sources=(HOTLINE,), types=(), key=A):
    data = ClientCreateSchema().load({"name": "12345 热线", "sources":
                                      list(sources), "types": list(types)})
    return uow.run(steps.create_client, data, actor=ACTOR, now=NOW,
                   keygen=keygen(key))


def setup_client(**kwargs):
    uow = InMemoryUnitOfWork(repo=FakeClientRepository(),
                             service_name="activity")
    client, key = new(uow, **kwargs)
    return uow, client, key


# -- keys --------------------------------------------------------------------------

def test_a_key_is_shown_as_sfw_key_id_secret_and_stored_only_as_its_digest():
    key_id, secret = steps.new_credentials()
    text = domain.key_text(key_id, secret)
    assert text.startswith(f"sfw_{key_id}_") and len(secret) == 43
    assert domain.parse_key(text) == (key_id, secret)
    stored = domain.new_key(key_id, secret, NOW, ACTOR)
    assert secret not in repr(stored)
    assert stored["hash"] == domain.hash_secret(secret) != secret
    for bad in ("", "sfw_", "sfw_xyz_abc", f"sfw_{key_id}_short",
                f"abc_{key_id}_{secret}", text + "x"):
        assert domain.parse_key(bad) is None, bad


def test_create_stores_the_hash_audits_the_actor_and_shows_the_key_once():
    uow, client, key = setup_client(types=["demand.raised"])
    assert uow.committed
    assert key == domain.key_text(A, (A * 3)[:43])
    stored = uow.repo.clients[client["_id"]]
    assert stored["sources"] == [HOTLINE]
    assert stored["types"] == ["demand.raised"]
    assert stored["status"] == domain.ACTIVE
    assert stored["created_by"] == ACTOR and stored["created_at"] == NOW
    assert key.split("_", 2)[2] not in repr(stored)
    [entry] = uow.repo.audit
    assert (entry["action"], entry["actor"], entry["key_id"]) == (
        domain.CREATED, ACTOR, A)
    shown = ClientSchema().dump(domain.view(stored, NOW))
    assert "hash" not in repr(shown) and key not in repr(shown)
    assert shown["keys"] == [{"key_id": A, "created_at": NOW.isoformat(),
                              "created_by": ACTOR, "expires_at": None,
                              "state": domain.KEY_VALID}]
    issued = IssuedKeySchema().dump(dict(domain.view(stored, NOW), key=key))
    assert issued["key"] == key


def test_a_client_needs_a_name_and_a_source_and_known_types():
    with pytest.raises(ValidationError) as err:
        ClientCreateSchema().load({"name": "", "sources": [],
                                   "types": ["kpi.nonsense"]})
    assert set(err.value.messages) == {"name", "sources", "types"}
    assert ClientCreateSchema().load({"name": "x", "sources": ["s"]})[
        "types"] == []


def test_authenticate_gives_the_client_as_a_sender():
    uow, client, key = setup_client(sources=[HOTLINE, "hotline-b"],
                                    types=["demand.raised"])
    sender = steps.authenticate(uow.repo, key, NOW)
    assert sender == domain.Sender(client_id=client["_id"],
                                   sources=frozenset([HOTLINE, "hotline-b"]),
                                   types=frozenset(["demand.raised"]))
    _, client, key = setup_client(types=[])
    assert domain.authenticate(client, A, (A * 3)[:43], NOW).types is None


def test_a_wrong_secret_or_unknown_key_is_refused_alike():
    uow, _, key = setup_client()
    for token in (key[:-1] + ("x" if key[-1] != "x" else "y"),
                  domain.key_text(B, (A * 3)[:43]), "sfw_nonsense"):
        with pytest.raises(Unauthorized) as err:
            steps.authenticate(uow.repo, token, NOW)
        assert err.value.code == "unauthorized" and err.value.status == 401


def test_rotation_keeps_the_old_key_for_the_overlap():
    uow, client, old = setup_client()
    rotated, new_key = uow.run(steps.rotate_key, client["_id"], overlap=None,
                               max_overlap=WEEK, actor=ACTOR, now=NOW,
                               keygen=keygen(B))
    assert new_key != old and domain.parse_key(new_key)[0] == B
    for key in (old, new_key):
        assert steps.authenticate(uow.repo, key, later(WEEK - 1))
    with pytest.raises(Unauthorized) as err:
        steps.authenticate(uow.repo, old, later(WEEK))
    assert err.value.code == "key_expired"
    assert steps.authenticate(uow.repo, new_key, later(WEEK * 10))
    states = [k["state"] for k in domain.view(
        uow.repo.clients[client["_id"]], NOW)["keys"]]
    assert states == [domain.KEY_EXPIRING, domain.KEY_VALID]
    entry = uow.repo.audit[-1]
    assert (entry["action"], entry["actor"], entry["overlap_seconds"],
            entry["key_id"]) == (domain.ROTATED, ACTOR, WEEK, B)


def test_a_rotation_with_overlap_0_stops_the_old_key_at_once():
    uow, client, old = setup_client()
    _, new_key = uow.run(steps.rotate_key, client["_id"], overlap=0,
                         max_overlap=WEEK, actor=ACTOR, now=NOW,
                         keygen=keygen(B))
    with pytest.raises(Unauthorized) as err:
        steps.authenticate(uow.repo, old, NOW)
    assert err.value.code == "key_expired"
    assert steps.authenticate(uow.repo, new_key, NOW)


def test_a_second_rotation_never_extends_an_overlap_and_drops_expired_keys():
    uow, client, first = setup_client()
    uow.run(steps.rotate_key, client["_id"], overlap=3600, max_overlap=WEEK,
            actor=ACTOR, now=NOW, keygen=keygen(B))
    uow.run(steps.rotate_key, client["_id"], overlap=WEEK, max_overlap=WEEK,
            actor=ACTOR, now=later(60), keygen=keygen(C))
    keys = {k["key_id"]: k for k in uow.repo.clients[client["_id"]]["keys"]}
    assert keys[A]["expires_at"] == later(3600)        # not extended
    assert keys[B]["expires_at"] == later(60 + WEEK)
    assert keys[C]["expires_at"] is None
    uow.run(steps.rotate_key, client["_id"], overlap=0, max_overlap=WEEK,
            actor=ACTOR, now=later(7200), keygen=keygen("d" * 16))
    assert [k["key_id"] for k in uow.repo.clients[client["_id"]]["keys"]] \
        == [B, C, "d" * 16]                            # A had expired


def test_an_overlap_longer_than_the_setting_is_refused():
    uow, client, _ = setup_client()
    for overlap in (WEEK + 1, -1):
        with pytest.raises(ValidationError) as err:
            uow.run(steps.rotate_key, client["_id"], overlap=overlap,
                    max_overlap=WEEK, actor=ACTOR, now=NOW, keygen=keygen(B))
        assert list(err.value.messages) == ["overlap_seconds"]
    assert len(uow.repo.clients[client["_id"]]["keys"]) == 1
    assert ActivitySettings.load({}, {}).ingest_key_overlap_seconds == WEEK


def test_revocation_stops_every_key_at_once_and_for_good():
    uow, client, old = setup_client()
    _, new_key = uow.run(steps.rotate_key, client["_id"], overlap=None,
                         max_overlap=WEEK, actor=ACTOR, now=NOW,
                         keygen=keygen(B))
    revoked = uow.run(steps.revoke_client, client["_id"], actor="other",
                      now=later(5))
    assert revoked["status"] == domain.REVOKED
    assert (revoked["revoked_by"], revoked["revoked_at"]) == ("other",
                                                              later(5))
    for key in (old, new_key):
        with pytest.raises(Unauthorized) as err:
            steps.authenticate(uow.repo, key, later(5))
        assert err.value.code == "key_revoked"
    assert uow.repo.audit[-1]["action"] == domain.REVOKED_ACTION
    assert uow.repo.audit[-1]["actor"] == "other"
    for step, kwargs in ((steps.revoke_client, {}),
                         (steps.rotate_key, {"overlap": None,
                                             "max_overlap": WEEK,
                                             "keygen": keygen(C)})):
        with pytest.raises(Conflict) as err:
            uow.run(step, client["_id"], actor=ACTOR, now=later(6), **kwargs)
        assert err.value.code == "client_revoked"
    assert {k["state"] for k in domain.view(
        uow.repo.clients[client["_id"]], later(6))["keys"]} == {
            domain.KEY_EXPIRED}


def test_an_unknown_client_is_404():
    uow = InMemoryUnitOfWork(repo=FakeClientRepository())
    with pytest.raises(NotFound):
        steps.get_client(uow.repo, "cl-none")
    with pytest.raises(NotFound):
        uow.run(steps.revoke_client, "cl-none", actor=ACTOR, now=NOW)


def test_list_and_history_show_no_key():
    uow, client, key = setup_client()
    uow.run(steps.rotate_key, client["_id"], overlap=0, max_overlap=WEEK,
            actor=ACTOR, now=NOW, keygen=keygen(B))
    listed = ClientSchema(many=True).dump(
        [domain.view(c, NOW) for c in steps.list_clients(uow.repo)])
    assert [c["id"] for c in listed] == [client["_id"]]
    assert "hash" not in repr(listed) and key.split("_", 2)[2] not in repr(
        listed)
    assert [e["action"] for e in steps.client_history(uow.repo,
                                                      client["_id"])] == [
        domain.ROTATED, domain.CREATED]


# -- what a sender may send ------------------------------------------------------

def test_a_client_sends_only_as_its_sources_and_only_its_types():
    client = domain.Sender("cl-1", frozenset([HOTLINE]),
                           frozenset(["demand.raised"]))
    domain.check_source(client, HOTLINE)
    with pytest.raises(Forbidden) as err:
        domain.check_source(client, "partymembers")
    assert err.value.code == "source_not_allowed" and err.value.status == 403
    assert "partymembers" in err.value.message and HOTLINE in \
        err.value.message
    domain.check_type(client, HOTLINE, "demand.raised", None)
    with pytest.raises(Forbidden) as err:
        domain.check_type(client, HOTLINE, "kpi.business", None)
    assert err.value.code == "type_not_allowed"
    # the source table bounds the source whichever client sends as it
    every = domain.Sender("cl-2", frozenset([HOTLINE]))
    table = ingest_domain.parse_source_types(f"{HOTLINE}=demand.raised")
    domain.check_type(every, HOTLINE, "demand.raised", table)
    with pytest.raises(Forbidden) as err:
        domain.check_type(every, HOTLINE, "kpi.business", table)
    assert err.value.code == "type_not_allowed"


def test_a_bootstrap_token_acts_as_a_client_of_its_one_system():
    sender = domain.bootstrap_sender("demo")
    assert sender.client_id == "bootstrap:demo" and sender.bootstrap
    assert sender.sources == frozenset(["demo"]) and sender.types is None
    with pytest.raises(Forbidden) as err:
        domain.check_source(sender, HOTLINE)
    assert err.value.code == "source_mismatch"   # as before clients


# -- the ingest records the client -------------------------------------------------

class FakeReceiptRepository(FakeIngestRepository):
    def __init__(self):
        super().__init__()
        self.receipts = {}

    def insert_receipt(self, receipt):
        self.receipts[receipt["_id"]] = dict(receipt)

    def set_receipt_result(self, receipt_id, result):
        self.receipts[receipt_id]["result"] = result

    def receipt_results(self, ids):
        return {i: self.receipts[i].get("result") for i in ids
                if i in self.receipts}

    def insert_receipts(self, receipts):
        for receipt in receipts:
            self.receipts[receipt["_id"]] = dict(receipt)

    def get_receipt(self, source, event_id):
        return self.receipts.get(f"{source}:{event_id}")


def kpi(event_id):
    envelope = example_envelope("kpi.business", source=HOTLINE)
    envelope.update(event_id=event_id, occurred_at=NOW)
    return envelope


def test_the_receipt_names_the_client_one_by_one_and_in_a_batch():
    rules = ActivitySettings.load({"SIFUWU_SECRET": "s"}, {}).rules()
    uow = InMemoryUnitOfWork(repo=FakeReceiptRepository(),
                             service_name="activity")
    uow.run(ingest_steps.ingest, kpi("e1"), via="http", now=NOW, rules=rules,
            client_id="cl-1")
    uow.run(ingest_steps.ingest_many, [kpi("e2"), kpi("e3")], via="amqp",
            now=NOW, rules=rules, client_ids=["cl-2", None])
    found = {r["event_id"]: r["client_id"] for r in uow.repo.receipts.values()}
    assert found == {"e1": "cl-1", "e2": "cl-2", "e3": f"bootstrap:{HOTLINE}"}
    assert ingest_steps.find_receipt(uow.repo, HOTLINE, "e1")["client_id"] \
        == "cl-1"
    with pytest.raises(NotFound):
        ingest_steps.find_receipt(uow.repo, HOTLINE, "e9")


def worker(**settings):
    config = {"SIFUWU_SECRET": "s", "SIFUWU_INGEST_TOKENS": "demo=d"}
    config.update(settings)
    return worker_factory(ActivityService, clock=lambda: NOW, config=config)


def test_the_entrypoint_refuses_another_source_per_item_before_the_store():
    w = worker()
    sender = domain.Sender("cl-1", frozenset([HOTLINE]),
                           frozenset(["kpi.business"]))
    foreign = dict(kpi("f1"), source="partymembers")
    assert w._load(kpi("ok"), sender, NOW)["source"] == HOTLINE
    with pytest.raises(Forbidden) as err:
        w._ingest(foreign, sender, "http")
    assert err.value.code == "source_not_allowed"
    refused, wrong_type = w.ingest_messages([
        (foreign, sender),
        (dict(example_envelope("demand.raised", source=HOTLINE),
              occurred_at=NOW.isoformat()), sender)])
    assert refused.code == "source_not_allowed"
    assert wrong_type.code == "type_not_allowed"
    w.store.transaction.assert_not_called()
