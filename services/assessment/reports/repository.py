"""What reports read: they own no collection, and read the cards
(``scoring``), the branches' rungs (``ladder``) and the directory copy
(``directory``) through those repositories."""

from services.assessment.ladder.repository import LadderRepository
from services.assessment.scoring.repository import ScoringRepository


class ReportsRepository:
    """Reads for the results that are used, through a ``Reader``."""

    def __init__(self, uow):
        self.scoring = ScoringRepository(uow)
        self.ladder = LadderRepository(uow)
        self.directory = self.scoring.directory
