"""Storage of the branch ladder: ``branches`` (``_id`` = branch id), each
with its rung and the history of its moves."""

from pymongo import UpdateOne

from services.assessment.directory.repository import DirectoryRepository
from services.assessment.scoring.repository import ScoringRepository
from services.assessment.storage import Reader, by_ids

BRANCHES = "branches"


class LadderRepository:
    """The branches' rungs through a unit of work. ``scoring`` reads the
    cards a ladder is evaluated from as the ranking API does, outside the
    transaction (as it always has); ``directory``: the branches' entries."""

    def __init__(self, uow):
        self.uow = uow
        self.scoring = ScoringRepository(Reader(uow.db))
        self.directory = DirectoryRepository(uow)

    def rungs(self, branch_ids):
        """{branch id: rung} of the stored branches among these."""
        return {b["_id"]: b.get("rung") for b in by_ids(
            self.uow.db, BRANCHES, branch_ids, {"rung": 1},
            session=self.uow.session)}

    def branch(self, branch_id):
        return self.uow.db[BRANCHES].find_one({"_id": branch_id},
                                              session=self.uow.session)

    def move(self, moves):
        """Store moves [(branch id, fields, change)] in one statement: the
        fields set, the change added to the history."""
        self.uow.col(BRANCHES).bulk_write(
            [UpdateOne({"_id": branch_id},
                       {"$set": fields, "$push": {"history": change}},
                       upsert=True)
             for branch_id, fields, change in moves],
            session=self.uow.session)
