"""Backups (备份与恢复) of every service's database.

An archive is a ``.tar.gz`` with ``manifest.json`` and one file per
collection, ``<service>/<collection>.jsonl``: one document per line in
canonical extended JSON (bson.json_util), which keeps every BSON type
(ObjectId, dates to the millisecond, Decimal128, binary, int64) exact.
Archives name services, not databases, so a backup restores under another
prefix (``--prefix``).
"""

import datetime as dt
import io
import json
import tarfile
from pathlib import Path

from bson import json_util
from bson.json_util import JSONMode, JSONOptions
from pymongo import IndexModel, MongoClient

from sifuwu import __version__
from sifuwu.wiring import SERVICES

FORMAT = "sifuwu-backup/1"
JSON_OPTIONS = JSONOptions(json_mode=JSONMode.CANONICAL, tz_aware=True,
                           tzinfo=dt.timezone.utc)


class BackupError(RuntimeError):
    """A backup or restore cannot run; the message says why."""


def client_for(mongo_uri):
    return MongoClient(mongo_uri, tz_aware=True,
                       serverSelectionTimeoutMS=5000)


def archive_name(now):
    return f"sifuwu-backup-{now.strftime('%Y%m%dT%H%M%SZ')}.tar.gz"


def _add(tar, name, data, mtime):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(mtime.timestamp())
    tar.addfile(info, io.BytesIO(data))


def backup(mongo_uri, prefix, directory, now=None, services=SERVICES,
           progress=None):
    """Write every service database to a dated archive in ``directory``;
    returns (path, manifest)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / archive_name(now)
    manifest = {"format": FORMAT, "version": __version__,
                "created_at": now.isoformat(), "prefix": prefix,
                "services": {}}
    with client_for(mongo_uri) as client, \
            tarfile.open(path, "w:gz") as tar:
        for service in services:
            db = client[f"{prefix}{service}"]
            collections, indexes = {}, {}
            for name in sorted(db.list_collection_names()):
                lines = [json_util.dumps(doc, json_options=JSON_OPTIONS)
                         for doc in db[name].find(sort=[("_id", 1)])]
                data = ("\n".join(lines) + ("\n" if lines else "")).encode()
                _add(tar, f"{service}/{name}.jsonl", data, now)
                collections[name] = len(lines)
                indexes[name] = index_specs(db[name])
                if progress:
                    progress(service, name, len(lines))
            manifest["services"][service] = {"database": db.name,
                                             "collections": collections,
                                             "indexes": indexes}
        _add(tar, "manifest.json",
             json.dumps(manifest, ensure_ascii=False, indent=2).encode(), now)
    return path, manifest


INDEX_OPTIONS = ("name", "unique", "sparse", "expireAfterSeconds",
                 "partialFilterExpression")


def index_specs(collection):
    """The collection's secondary indexes as JSON-ready specs."""
    specs = []
    for name, info in collection.index_information().items():
        if name == "_id_":
            continue
        options = {k: info[k] for k in INDEX_OPTIONS if k in info}
        options["name"] = name
        specs.append({"key": [[field, direction]
                              for field, direction in info["key"]],
                      "options": json.loads(json_util.dumps(
                          options, json_options=JSON_OPTIONS))})
    return specs


def read_manifest(path):
    with tarfile.open(path, "r:gz") as tar:
        try:
            member = tar.getmember("manifest.json")
        except KeyError:
            raise BackupError(f"{path} 不是 sifuwu 备份（缺少 manifest.json）")
        manifest = json.load(tar.extractfile(member))
    if manifest.get("format") != FORMAT:
        raise BackupError(f"不支持的备份格式: {manifest.get('format')}")
    return manifest


def restore(path, mongo_uri, prefix, replace=False, progress=None):
    """Bring an archive back into ``<prefix><service>`` databases.

    Refuses to write into a non-empty collection unless ``replace`` (then
    the collection is emptied first). Returns {service: {collection: n}}.
    """
    manifest = read_manifest(path)
    restored = {}
    with client_for(mongo_uri) as client, tarfile.open(path, "r:gz") as tar:
        if not replace:
            busy = [f"{prefix}{service}.{name}"
                    for service, entry in manifest["services"].items()
                    for name, count in entry["collections"].items()
                    if count and client[f"{prefix}{service}"][name]
                    .estimated_document_count()]
            if busy:
                raise BackupError(
                    "目标集合非空，未做任何改动: " + ", ".join(busy[:5])
                    + ("…" if len(busy) > 5 else "")
                    + "。确认覆盖请加 --replace。")
        for service, entry in manifest["services"].items():
            db = client[f"{prefix}{service}"]
            restored[service] = {}
            for name in entry["collections"]:
                raw = tar.extractfile(f"{service}/{name}.jsonl").read()
                docs = [json_util.loads(line, json_options=JSON_OPTIONS)
                        for line in raw.decode().splitlines() if line]
                if replace:
                    db[name].delete_many({})
                if name not in db.list_collection_names():
                    db.create_collection(name)
                specs = entry.get("indexes", {}).get(name)
                if specs:
                    db[name].create_indexes([
                        IndexModel([tuple(k) for k in spec["key"]],
                                   **json_util.loads(
                                       json.dumps(spec["options"]),
                                       json_options=JSON_OPTIONS))
                        for spec in specs])
                if docs:
                    db[name].insert_many(docs, ordered=True)
                restored[service][name] = len(docs)
                if progress:
                    progress(service, name, len(docs))
    return restored
