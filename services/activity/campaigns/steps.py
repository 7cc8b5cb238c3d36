"""Use cases of campaigns: create one (in a unit of work, ``uow.repo`` a
``CampaignRepository``), read one with its progress."""

from sifuwu.errors import Conflict, NotFound
from services.activity.campaigns import domain
from services.activity.campaigns.repository import CampaignTaken


def create_campaign(uow, data, now):
    campaign = domain.new_campaign(data, now)
    try:
        uow.repo.insert_campaign(campaign)
    except CampaignTaken:
        raise Conflict("该主题活动已存在", code="campaign_exists")
    return campaign


def get_campaign(repo, campaign_id):
    campaign = repo.get_campaign(campaign_id)
    if campaign is None:
        raise NotFound("未找到该主题活动")
    return campaign


def list_campaigns(repo):
    return repo.list_campaigns()


def campaign_progress(repo, campaign, tz):
    """Progress of ``campaign``: its units' active members against its
    target, counting its service activities."""
    members = []
    for unit_id in campaign["unit_ids"]:
        members.extend(domain.active_members(repo.unit_members(unit_id)))
    activities = domain.counted_activities(
        repo.campaign_activities(campaign["_id"]))
    return domain.campaign_progress(campaign, members, activities, tz)
