"""`sifuwu backup` / `sifuwu restore` on the real embedded store: a round
trip gives identical documents, every BSON type kept exactly."""

import datetime as dt
import tarfile
import uuid
from decimal import Decimal

from bson import Binary, Decimal128, Int64, ObjectId
from click.testing import CliRunner

from tooling.cli import main
from sifuwu.wiring import SERVICES


def cli(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def sample_documents():
    at = dt.datetime(2026, 11, 26, 8, 30, 15, 123000, tzinfo=dt.timezone.utc)
    return {
        "activity": {
            "activities": [
                {"_id": ObjectId(), "member_id": "m-1", "occurred_at": at,
                 "recipient": {"name": "张三", "phone_sealed": "gAAAA…"},
                 "tags": ["企业", "走访"], "hours": 1.5, "count": Int64(2**40)},
                {"_id": "a-2", "nested": {"deep": [{"x": None}, True]}},
            ],
            "outbox": [{"_id": "evt-1", "sent": False, "created_at": at,
                        "envelope": {"type": "activity.logged"}}],
        },
        "assessment": {
            "scorecards": [{"_id": "m-1", "score": Decimal128(Decimal("87.25")),
                            "blob": Binary(b"\x00\x01\xff"),
                            "period": "2026-11"}],
        },
        "feedback": {"ratings": []},  # an empty collection survives too
    }


def dump(mongo, prefix):
    result = {}
    for service in SERVICES:
        db = mongo[f"{prefix}{service}"]
        for name in db.list_collection_names():
            result[(service, name)] = list(db[name].find(sort=[("_id", 1)]))
    return result


def test_backup_restore_round_trip_is_identical(infra, mongo, tmp_path):
    prefix = f"bk{uuid.uuid4().hex[:6]}_"
    for service, collections in sample_documents().items():
        db = mongo[f"{prefix}{service}"]
        for name, docs in collections.items():
            db.create_collection(name)
            if docs:
                db[name].insert_many(docs)
    mongo[f"{prefix}activity"]["activities"].create_index(
        [("member_id", 1), ("occurred_at", -1)], name="member_time")
    mongo[f"{prefix}activity"]["outbox"].create_index(
        "created_at", name="outbox_ttl", expireAfterSeconds=604800)
    before = dump(mongo, prefix)
    assert len(before) == 4

    uri = infra.mongo_uri
    result = cli("backup", "--mongo-uri", uri, "--prefix", prefix,
                 "--output", str(tmp_path))
    assert result.exit_code == 0, result.output
    archive = result.output.strip().splitlines()[-1]
    assert archive.endswith(".tar.gz") and "sifuwu-backup-20" in archive
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {"manifest.json", "activity/activities.jsonl",
            "assessment/scorecards.jsonl", "feedback/ratings.jsonl"} <= names

    for service in SERVICES:
        mongo.drop_database(f"{prefix}{service}")
    assert dump(mongo, prefix) == {}
    restored = cli("restore", archive, "--mongo-uri", uri, "--prefix", prefix)
    assert restored.exit_code == 0, restored.output
    assert dump(mongo, prefix) == before
    indexes = mongo[f"{prefix}activity"]["activities"].index_information()
    assert indexes["member_time"]["key"] == [("member_id", 1),
                                             ("occurred_at", -1)]
    ttl = mongo[f"{prefix}activity"]["outbox"].index_information()
    assert ttl["outbox_ttl"]["expireAfterSeconds"] == 604800

    # a second restore refuses to mix data, --replace overwrites
    again = cli("restore", archive, "--mongo-uri", uri, "--prefix", prefix)
    assert again.exit_code == 1 and "--replace" in again.output
    assert dump(mongo, prefix) == before
    mongo[f"{prefix}activity"]["activities"].insert_one({"_id": "later"})
    replaced = cli("restore", archive, "--mongo-uri", uri, "--prefix",
                   prefix, "--replace")
    assert replaced.exit_code == 0, replaced.output
    assert dump(mongo, prefix) == before

    # and under another prefix (a staging copy)
    other = f"st{uuid.uuid4().hex[:6]}_"
    assert cli("restore", archive, "--mongo-uri", uri,
               "--prefix", other).exit_code == 0
    assert dump(mongo, other) == before


def test_restore_refuses_a_foreign_archive(tmp_path, infra):
    bogus = tmp_path / "x.tar.gz"
    with tarfile.open(bogus, "w:gz") as tar:
        tar.add(__file__, arcname="notes.txt")
    result = cli("restore", str(bogus), "--mongo-uri", infra.mongo_uri,
                 "--prefix", "z_")
    assert result.exit_code == 1
    assert "不是 sifuwu 备份" in result.output
