"""Storage of the console's sessions (``sessions``, ``_id`` = the hash of
the cookie): reads and writes only. A TTL index removes a session once its
token has expired."""

from pymongo import ASCENDING, IndexModel, ReturnDocument

SESSIONS = "sessions"

INDEXES = {
    SESSIONS: [IndexModel([("token_expires_at", ASCENDING)],
                          expireAfterSeconds=0, name="expired_sessions")],
}


class SessionRepository:
    def __init__(self, uow):
        self.uow = uow

    def _col(self):
        return self.uow.col(SESSIONS)

    def insert(self, session):
        self._col().insert_one(session, session=self.uow.session)

    def get(self, key):
        return self._col().find_one({"_id": key}, session=self.uow.session)

    def touch(self, key, now):
        return self._col().find_one_and_update(
            {"_id": key}, {"$set": {"last_seen_at": now}},
            return_document=ReturnDocument.AFTER, session=self.uow.session)

    def update(self, key, fields):
        return self._col().find_one_and_update(
            {"_id": key}, {"$set": fields},
            return_document=ReturnDocument.AFTER, session=self.uow.session)

    def delete(self, key):
        self._col().delete_one({"_id": key}, session=self.uow.session)
