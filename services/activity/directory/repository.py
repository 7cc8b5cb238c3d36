"""Storage of the directory: one collection per kind of record."""

from pymongo import ASCENDING, IndexModel

from services.activity.storage import Repository

UNITS = "units"
DIVISIONS = "divisions"
BRANCHES = "branches"
MEMBERS = "members"
RECIPIENTS = "recipients"
COLLECTIONS = {"unit": UNITS, "division": DIVISIONS, "branch": BRANCHES,
               "member": MEMBERS, "recipient": RECIPIENTS}

INDEXES = {
    MEMBERS: [IndexModel([("unit_id", ASCENDING)], name="by_unit"),
              IndexModel([("branch_id", ASCENDING)], name="by_branch")],
    BRANCHES: [IndexModel([("unit_id", ASCENDING)], name="by_unit")],
    DIVISIONS: [IndexModel([("unit_id", ASCENDING)], name="by_unit")],
}


class DirectoryRepository(Repository):

    def get_record(self, kind, record_id):
        return self.col(COLLECTIONS[kind]).find_one({"_id": record_id},
                                                    session=self.session)

    def put_record(self, kind, doc):
        self.col(COLLECTIONS[kind]).replace_one(
            {"_id": doc["_id"]}, doc, upsert=True, session=self.session)

    def member(self, member_id):
        return self.get_record("member", member_id)

    def members(self, member_ids):
        return self.find_by_ids(MEMBERS, member_ids)

    def recipient(self, recipient_id):
        return self.get_record("recipient", recipient_id)

    def recipients(self, recipient_ids):
        return self.find_by_ids(RECIPIENTS, recipient_ids)

    def branch(self, branch_id):
        return self.get_record("branch", branch_id)

    def branches(self, branch_ids):
        return self.find_by_ids(BRANCHES, branch_ids)

    def branch_members(self, branch_id):
        """The members of a branch ({_id, active})."""
        return list(self.col(MEMBERS).find(
            {"branch_id": branch_id}, {"_id": 1, "active": 1},
            session=self.session))

    def unit_members(self, unit_id):
        """The members of a unit ({_id, unit_id, active})."""
        return list(self.col(MEMBERS).find(
            {"unit_id": unit_id}, {"_id": 1, "unit_id": 1, "active": 1},
            session=self.session))
