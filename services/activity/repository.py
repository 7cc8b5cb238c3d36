"""The activity service's storage, gathered: each sub-domain keeps its own
repository (``<sub-domain>/repository.py``); this module combines them for
the ingest, whose one transaction may touch them all, and lists every
collection's indexes (the service's ``indexes``)."""

from services.activity import storage
from services.activity.activities import repository as activities
from services.activity.activities.repository import ActivityLogRepository
from services.activity.campaigns import repository as campaigns
from services.activity.campaigns.repository import CampaignRepository
from services.activity.clients import repository as clients
from services.activity.demands import repository as demands
from services.activity.demands.repository import DemandRepository
from services.activity.directory import repository as directory
from services.activity.directory.repository import DirectoryRepository
from services.activity.indicators import repository as indicators
from services.activity.indicators.repository import IndicatorRepository
from services.activity.ingest import repository as ingest
from services.activity.ingest.repository import IngestRepository

# Collections, for tools that read them (bench, ops).
ACTIVITIES = activities.ACTIVITIES
RECEIPTS = ingest.RECEIPTS
ARRIVALS = storage.ARRIVALS

INDEXES = {**activities.INDEXES, **directory.INDEXES, **demands.INDEXES,
           **indicators.INDEXES, **campaigns.INDEXES, **ingest.INDEXES,
           **clients.INDEXES}


class ActivityRepository(IngestRepository, DemandRepository,
                         IndicatorRepository, CampaignRepository,
                         ActivityLogRepository, DirectoryRepository):
    """Every sub-domain's storage, in one unit of work."""
