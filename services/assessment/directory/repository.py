"""Storage of the directory copy: ``directory`` (``_id`` = ``kind:id``) and
``attribution_locks`` (documents two transactions both write so that they
conflict; see ``DirectoryRepository.lock``)."""

from pymongo import ASCENDING, IndexModel, ReplaceOne, UpdateOne

from services.assessment.directory.domain import entry_key
from services.assessment.storage import by_ids

DIRECTORY = "directory"
ATTRIBUTION_LOCKS = "attribution_locks"

INDEXES = {
    DIRECTORY: [IndexModel([("kind", ASCENDING), ("id", ASCENDING)],
                           name="by_kind")],
}


class DirectoryRepository:
    """Reads and writes of the directory copy through a unit of work."""

    def __init__(self, uow):
        self.uow = uow

    def entry(self, kind, entry_id):
        if not entry_id:
            return None
        return self.uow.db[DIRECTORY].find_one(
            {"_id": entry_key(kind, entry_id)}, session=self.uow.session)

    def names(self, kind):
        """{id: name (or the id)} of every entry of a kind."""
        return {d["id"]: d.get("name") or d["id"]
                for d in self.uow.db[DIRECTORY].find(
                    {"kind": kind}, session=self.uow.session)}

    def entries(self, keys):
        """The stored entries with these keys, {key: entry}."""
        return {entry["_id"]: entry for entry in by_ids(
            self.uow.db, DIRECTORY, keys, session=self.uow.session)}

    def of_kind(self, kind, ids):
        """Entries of one kind by id, {id: entry}."""
        return {entry["id"]: entry for entry in by_ids(
            self.uow.db, DIRECTORY, [entry_key(kind, i) for i in ids if i],
            session=self.uow.session)}

    def replace(self, written):
        """Write entries ({key: entry}), in key order, in one statement."""
        self.uow.col(DIRECTORY).bulk_write(
            [ReplaceOne({"_id": key}, doc, upsert=True)
             for key, doc in sorted(written.items())],
            session=self.uow.session)

    def lock(self, keys):
        """Make two transactions that each read what the other writes (a
        contribution missing its member's directory entry and the entry's
        arrival; a rating and the appeal about it) write one common
        document, so they conflict and the later one re-runs seeing the
        other (no write skew under snapshot isolation). One statement for
        all ``keys``."""
        if not keys:
            return
        self.uow.col(ATTRIBUTION_LOCKS).bulk_write(
            [UpdateOne({"_id": key}, {"$inc": {"writes": 1}}, upsert=True)
             for key in sorted(set(keys))], session=self.uow.session)
