"""Activity service (活动服务): the nameko service, made of one entrypoint
mixin per sub-domain.

Ways in: staff HTTP (activities, demands, campaigns, the API clients of
outside systems), the ingest contract
over HTTP (``/api/v1/events``) and over AMQP (exchange ``sifuwu.ingest``),
and the overdue sweeper (timer, every ``SIFUWU_SWEEP_INTERVAL`` seconds).

Where things are: ``<sub-domain>/entrypoints.py`` → ``steps.py`` (use cases
in a unit of work) → ``domain.py`` (pure rules) → ``repository.py``
(storage), for ``activities``, ``directory``, ``demands``, ``campaigns``,
``indicators``, ``clients`` and ``ingest``."""

import functools

from sifuwu.service import ServiceBase
from services.activity.activities.entrypoints import ActivityEntrypoints
from services.activity.campaigns.entrypoints import CampaignEntrypoints
from services.activity.clients.entrypoints import ClientEntrypoints
from services.activity.demands.entrypoints import DemandEntrypoints
from services.activity.ingest.entrypoints import IngestEntrypoints
from services.activity.repository import INDEXES
from services.activity.settings import ActivitySettings


class ActivityService(ActivityEntrypoints, IngestEntrypoints,
                      DemandEntrypoints, CampaignEntrypoints,
                      ClientEntrypoints, ServiceBase):
    name = "activity"
    indexes = INDEXES
    settings_class = ActivitySettings

    @functools.cached_property
    def rules(self):
        """What the steps need from the settings (a worker's own)."""
        return self.settings.rules()
