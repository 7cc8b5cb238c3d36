"""Storage of the ingest receipts (one per (source, event_id))."""

from pymongo.errors import DuplicateKeyError

from sifuwu.store import Duplicate, find_in
from services.activity.storage import Repository

# One receipt per ingested (source, event_id): the dedupe record.
RECEIPTS = "ingest_receipts"

# Receipts need no index of their own: the _id is "source:event_id",
# unique by construction, and every look-up is by _id.
INDEXES = {}


class IngestRepository(Repository):

    def insert_receipt(self, receipt):
        """Store a receipt; ``Duplicate`` if (source, event_id) has one."""
        try:
            self.col(RECEIPTS).insert_one(receipt, session=self.session)
        except DuplicateKeyError:
            raise Duplicate(receipt["event_id"])

    def set_receipt_result(self, receipt_id, result):
        self.col(RECEIPTS).update_one({"_id": receipt_id},
                                      {"$set": {"result": result}},
                                      session=self.session)

    def get_receipt(self, source, event_id):
        return self.col(RECEIPTS).find_one({"_id": f"{source}:{event_id}"},
                                           session=self.session)

    def receipt_results(self, receipt_ids):
        """{receipt id: result} of the receipts stored among these."""
        return {doc["_id"]: doc.get("result") for doc in find_in(
            self.col(RECEIPTS), "_id", receipt_ids, {"result": 1},
            self.session)}

    def insert_receipts(self, receipts):
        self.col(RECEIPTS).insert_many(receipts, ordered=True,
                                       session=self.session)
