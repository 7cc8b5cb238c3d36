"""A unit of work's big writes on the real store: ``insert_many`` and
``bulk_write`` go in statements of ``WRITE_CHUNK`` documents (so that other
transactions get in between) and still act as one write: one result, and
all or nothing inside the transaction."""

import uuid

import pytest
from pymongo import ReplaceOne
from pymongo.errors import BulkWriteError

from sifuwu import store
from sifuwu.store import UnitOfWork
from tests import helpers

STATEMENTS = helpers.statement_counter(lambda name, target, command: False)


@pytest.fixture(autouse=True)
def chunk_of_25(monkeypatch):
    monkeypatch.setattr(store, "WRITE_CHUNK", 25)


@pytest.fixture
def db(mongo):
    name = f"w{uuid.uuid4().hex[:8]}_store"
    yield mongo[name]
    mongo.drop_database(name)


def in_transaction(mongo, db, work):
    with mongo.start_session() as session:
        return session.with_transaction(
            lambda s: work(UnitOfWork(db, s, "probe")))


def test_insert_many_goes_in_chunks_and_returns_every_id(mongo, db):
    docs = [{"_id": f"d{n:03d}", "n": n} for n in range(60)]
    with STATEMENTS.count(db.name) as seen:
        result = in_transaction(
            mongo, db, lambda uow: uow.col("things").insert_many(
                docs, session=uow.session))
    assert result.inserted_ids == [doc["_id"] for doc in docs]
    assert seen.count(("insert", "things")) == 3  # 25 + 25 + 10
    assert db["things"].count_documents({}) == 60


def test_bulk_write_goes_in_chunks_and_adds_up_the_results(mongo, db):
    db["cards"].insert_many([{"_id": f"c{n:02d}", "v": 0} for n in range(10)])
    writes = [ReplaceOne({"_id": f"c{n:02d}"}, {"v": 1}, upsert=True)
              for n in range(40)]  # 10 replace, 30 upsert
    with STATEMENTS.count(db.name) as seen:
        result = in_transaction(
            mongo, db, lambda uow: uow.col("cards").bulk_write(
                writes, session=uow.session))
    assert seen.count(("update", "cards")) == 2  # 25 + 15
    assert (result.matched_count, result.modified_count,
            result.upserted_count) == (10, 10, 30)
    assert result.upserted_ids == {n: f"c{n:02d}" for n in range(10, 40)}
    assert db["cards"].count_documents({"v": 1}) == 40


def test_a_failing_chunk_undoes_the_chunks_before_it(mongo, db):
    db["things"].insert_one({"_id": "d040"})
    docs = [{"_id": f"d{n:03d}"} for n in range(60)]  # d040 in chunk 2
    with pytest.raises(BulkWriteError):
        in_transaction(mongo, db, lambda uow: uow.col("things").insert_many(
            docs, session=uow.session))
    assert [d["_id"] for d in db["things"].find()] == ["d040"]


def test_chunk_size_is_the_stores(mongo, db, monkeypatch):
    monkeypatch.setattr(store, "WRITE_CHUNK", 7)
    with STATEMENTS.count(db.name) as seen:
        in_transaction(mongo, db, lambda uow: uow.col("things").insert_many(
            [{"n": n} for n in range(20)], session=uow.session))
    assert seen.count(("insert", "things")) == 3
