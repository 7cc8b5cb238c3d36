"""Rules of campaigns (主题活动): what one holds and how its progress is
counted. No nameko, no I/O; the time zone is an argument."""

from services.activity.activities.domain import PARTY
from services.activity.local_time import zone


def new_campaign(data, now):
    """The stored document of a campaign."""
    return {"_id": data["campaign_id"], "title": data["title"],
            "starts_on": data["starts_on"].isoformat(),
            "ends_on": data["ends_on"].isoformat(),
            "unit_ids": data["unit_ids"], "target": data["target"],
            "created_at": now}


def counted_activities(activities):
    """The activities a campaign counts: service ones, not Party-building."""
    return [a for a in activities if a.get("type") != PARTY]


def active_members(members):
    return [m for m in members if m.get("active", True)]


def campaign_progress(campaign, members, activities, tz):
    """Progress of a campaign against its per-member target.

    ``members``: the members of the participating units ({_id, unit_id,
    name}); ``activities``: the campaign's service activities ({member_ids,
    category, kind, occurred_at}). A target {per_member, category?, kind?}
    counts each member's matching activities within the campaign's period
    (``starts_on``..``ends_on``, local dates in ``tz``, inclusive)."""
    tz = zone(tz)
    target = campaign.get("target") or {}
    per_member = target.get("per_member") or 0

    starts_on = campaign.get("starts_on")
    ends_on = campaign.get("ends_on")

    def in_period(activity):
        when = activity.get("occurred_at")
        if when is None or not (starts_on and ends_on):
            return True
        day = when.astimezone(tz).date().isoformat()
        return starts_on <= day <= ends_on

    def counts(activity):
        return ((not target.get("category")
                 or activity.get("category") == target["category"])
                and (not target.get("kind")
                     or activity.get("kind") == target["kind"])
                and in_period(activity))

    tally = {}
    matching = 0
    for activity in activities:
        if not counts(activity):
            continue
        matching += 1
        for member_id in activity.get("member_ids", []):
            tally[member_id] = tally.get(member_id, 0) + 1
    units = {}
    met_total = 0
    for member in members:
        done = tally.get(member["_id"], 0)
        met = per_member > 0 and done >= per_member
        met_total += met
        unit = units.setdefault(member.get("unit_id"), {
            "unit_id": member.get("unit_id"), "members": 0,
            "members_met": 0, "activities": 0})
        unit["members"] += 1
        unit["members_met"] += met
        unit["activities"] += done
    return {
        "campaign_id": campaign["_id"],
        "target": target,
        "activities": matching,
        "members": len(members),
        "members_met": met_total,
        "rate": round(met_total / len(members), 4) if members else None,
        "units": sorted(units.values(), key=lambda u: str(u["unit_id"])),
    }
