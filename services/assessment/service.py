"""Assessment service (考评服务): the nameko service, combining the
entrypoints of each part.

Scoring consumers keep contributions and monthly scorecards current from
the other services' events (``scoring/``); staff endpoints manage schemes,
rankings (``ranking/``), the branch ladder (``ladder/``), exports and
charts (``reports/``), and open selections (``selection/``)."""

from sifuwu.service import ServiceBase
from services.assessment.dependencies import DefaultScheme
from services.assessment.directory.repository import (
    INDEXES as DIRECTORY_INDEXES,
)
from services.assessment.ladder.entrypoints import LadderEntrypoints
from services.assessment.ranking.entrypoints import RankingEntrypoints
from services.assessment.ranking.repository import (
    INDEXES as RANKING_INDEXES,
)
from services.assessment.reports.entrypoints import ReportEntrypoints
from services.assessment.scoring.entrypoints import ScoringEntrypoints
from services.assessment.scoring.repository import (
    INDEXES as SCORING_INDEXES, RETIRED_INDEXES,
)
from services.assessment.selection.entrypoints import SelectionEntrypoints
from services.assessment.selection.repository import SELECTION_INDEXES
from services.assessment.settings import AssessmentSettings


class AssessmentService(ScoringEntrypoints, RankingEntrypoints,
                        LadderEntrypoints, ReportEntrypoints,
                        SelectionEntrypoints, ServiceBase):
    """Combined assessment (综合考评) and open selection (开门评选, the
    ``SelectionEntrypoints`` mixin in services/assessment/selection/)."""

    name = "assessment"
    settings_class = AssessmentSettings
    indexes = {**SCORING_INDEXES, **DIRECTORY_INDEXES, **RANKING_INDEXES,
               **SELECTION_INDEXES}
    retired_indexes = RETIRED_INDEXES

    default_scheme = DefaultScheme()
