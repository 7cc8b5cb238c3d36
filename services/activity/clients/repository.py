"""Storage of the API clients (接入客户端) and the audit of their changes.
Reads and writes only."""

from pymongo import ASCENDING, DESCENDING, IndexModel

from services.activity.storage import Repository

CLIENTS = "api_clients"
AUDIT = "api_client_audit"

INDEXES = {
    CLIENTS: [
        # every ingest request with a client key finds its client by key id
        IndexModel([("keys.key_id", ASCENDING)], name="by_key_id"),
        IndexModel([("created_at", DESCENDING)], name="recent"),
    ],
    AUDIT: [
        IndexModel([("client_id", ASCENDING), ("at", DESCENDING)],
                   name="by_client"),
    ],
}


class ClientRepository(Repository):

    def insert_client(self, client):
        self.col(CLIENTS).insert_one(client, session=self.session)

    def get_client(self, client_id):
        return self.col(CLIENTS).find_one({"_id": client_id},
                                          session=self.session)

    def client_by_key(self, key_id):
        return self.col(CLIENTS).find_one({"keys.key_id": key_id},
                                          session=self.session)

    def list_clients(self, limit=200):
        return list(self.col(CLIENTS).find(
            {}, sort=[("created_at", DESCENDING)], limit=limit,
            session=self.session))

    def update_client(self, client_id, changes):
        self.col(CLIENTS).update_one({"_id": client_id}, {"$set": changes},
                                     session=self.session)

    def append_audit(self, entry):
        self.col(AUDIT).insert_one(entry, session=self.session)

    def audit_entries(self, client_id, limit=100):
        return list(self.col(AUDIT).find(
            {"client_id": client_id}, sort=[("at", DESCENDING)], limit=limit,
            session=self.session))
