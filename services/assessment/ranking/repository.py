"""Storage of rankings: ``rankings`` (published boards). A ranking reads
the cards through ``scoring``, the names through ``scoring.directory``."""

from pymongo import ASCENDING, DESCENDING, IndexModel

from services.assessment.scoring.repository import ScoringRepository

RANKINGS = "rankings"

INDEXES = {
    RANKINGS: [IndexModel([("period", ASCENDING), ("subject_type", ASCENDING),
                           ("published_at", DESCENDING)], name="by_period")],
}


class RankingRepository:
    """Published rankings through a unit of work; ``scoring``: the cards."""

    def __init__(self, uow):
        self.uow = uow
        self.scoring = ScoringRepository(uow)

    def insert_ranking(self, doc):
        self.uow.col(RANKINGS).insert_one(doc, session=self.uow.session)
