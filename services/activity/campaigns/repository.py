"""Storage of campaigns."""

from pymongo import DESCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from services.activity.activities.repository import ActivityLogRepository
from services.activity.directory.repository import DirectoryRepository

CAMPAIGNS = "campaigns"

INDEXES = {
    CAMPAIGNS: [IndexModel([("starts_on", DESCENDING)], name="by_start")],
}


class CampaignTaken(Exception):
    """A campaign with this id is stored already."""


class CampaignRepository(ActivityLogRepository, DirectoryRepository):
    """Campaigns, and the members and activities their progress counts."""

    def insert_campaign(self, campaign):
        try:
            self.col(CAMPAIGNS).insert_one(campaign, session=self.session)
        except DuplicateKeyError:
            raise CampaignTaken(campaign["_id"])

    def get_campaign(self, campaign_id):
        return self.col(CAMPAIGNS).find_one({"_id": campaign_id},
                                            session=self.session)

    def list_campaigns(self):
        return list(self.col(CAMPAIGNS).find(
            {}, sort=[("starts_on", DESCENDING)], limit=200,
            session=self.session))
