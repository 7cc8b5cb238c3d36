"""Rules of the four-services and Party-building log (no nameko here): the
vocabularies, what an activity document holds, and what its events carry.
Time comes in as ``now``, the time zone as ``tz``."""

from sifuwu.errors import Conflict
from sifuwu.privacy import mask_phone
from services.activity.local_time import iso

# 四服务: the four categories of service.
CATEGORIES = ("enterprise", "project", "grassroots", "masses")
CATEGORY_LABELS = {"enterprise": "服务企业", "project": "服务项目",
                   "grassroots": "服务基层", "masses": "服务群众"}
# 服务方式:走访, 调研, 协调会, 政策宣讲, 帮办代办, 其他
KINDS = ("visit", "survey", "coordination", "briefing", "errand", "other")
# 信息员, 调研员, 协调员, 服务员
ROLES = ("informer", "researcher", "coordinator", "server")
RECIPIENT_TYPES = ("enterprise", "project", "community", "citizen")

# 党建活动: 三会一课, 主题党日, 学习
PARTY_KINDS = ("three_meetings_one_lesson", "theme_day", "study")
# 三会一课: 支部党员大会, 支部委员会, 党小组会, 党课
PARTY_SESSIONS = ("general_meeting", "committee_meeting", "group_meeting",
                  "party_lesson")

# Activity records: a service activity or a Party-building activity.
SERVICE = "service"
PARTY = "party"
TYPES = (SERVICE, PARTY)


def activity_exists():
    return Conflict("该活动编号已登记", code="activity_exists",
                    fields={"data": {"activity_id": ["该活动编号已登记"]}})


def seal_recipient(recipient, sealer):
    """(the recipient as stored, its phone in clear or None)."""
    recipient = dict(recipient)
    phone = recipient.pop("phone", None)
    if phone:
        recipient["phone_enc"] = sealer.seal(phone)
        recipient["phone_masked"] = mask_phone(phone)
    return recipient, phone


def staff_activity(data, activity_id, sealer, now):
    """The stored document of an activity logged by staff, and the
    recipient's phone in clear (or None)."""
    recipient, phone = seal_recipient(data["recipient"], sealer)
    activity = dict(data, _id=activity_id, type=SERVICE,
                    recipient=recipient, member_ids=[data["member_id"]],
                    member_linked=True, source="staff", logged_at=now)
    return activity, phone


def known_recipient_id(envelope):
    """The directory recipient whose phone an activity needs (it names one
    and gives no phone itself), or None."""
    recipient = envelope["data"]["recipient"]
    if not recipient.get("phone") and recipient.get("id"):
        return recipient["id"]
    return None


def new_service_activity(envelope, known_recipient, sealer, now):
    """The stored document of an ingested service activity, not linked to
    its member yet, and the recipient's phone in clear (or None)."""
    data = dict(envelope["data"])
    activity_id = data.pop("activity_id")
    recipient = dict(data.pop("recipient"))
    if known_recipient and known_recipient.get("phone_enc"):
        recipient["phone"] = sealer.open(known_recipient["phone_enc"])
    recipient, phone = seal_recipient(recipient, sealer)
    demands = data.pop("demands", [])
    participants = data.pop("participant_ids", [])
    member_ids = list(dict.fromkeys([data["member_id"], *participants]))
    activity = dict(data, _id=activity_id, type=SERVICE,
                    source=envelope["source"],
                    event_id=envelope["event_id"], recipient=recipient,
                    member_ids=member_ids, member_name=None,
                    member_linked=False, pending_demands=demands,
                    logged_at=now)
    return activity, phone


def link_changes(activity, member, now):
    """What linking an activity to its (now known) member changes."""
    return {"member_linked": True, "member_name": member.get("name"),
            "unit_id": activity.get("unit_id") or member.get("unit_id"),
            "branch_id": (activity.get("branch_id")
                          or member.get("branch_id")),
            "linked_at": now, "pending_demands": []}


def demands_raised_in(activity, demands, phone):
    """The ``demands`` recorded during a (linked) activity, as
    ``demand.raised`` data: the owner is the activity's unit, the raiser its
    recipient."""
    recipient = activity["recipient"]
    return [{
        "demand_id": demand["demand_id"],
        "category": demand.get("category") or activity["category"],
        "title": demand["title"],
        "description": demand.get("description", ""),
        "owner_unit_id": activity["unit_id"],
        "member_id": activity["member_id"],
        "activity_id": activity["_id"],
        "campaign_id": activity.get("campaign_id"),
        "raiser": {"name": recipient["name"], "phone": phone},
        "raised_at": activity["occurred_at"],
        "channel": "activity",
    } for demand in demands]


def active_ids(members):
    """The ids of the active members: who is expected at a meeting."""
    return [m["_id"] for m in members if m.get("active", True)]


def new_party_activity(envelope, branch, expected, now):
    """The stored document of an ingested Party-building activity;
    ``expected`` is used when the envelope does not list who was."""
    data = dict(envelope["data"])
    activity_id = data.pop("activity_id")
    if not data.get("unit_id") and branch:
        data["unit_id"] = branch.get("unit_id")
    if data.get("expected") is None:
        data["expected"] = list(expected)
    attendees = list(dict.fromkeys(data["attendees"]))
    return dict(data, _id=activity_id, type=PARTY,
                category="party", attendees=attendees,
                member_ids=attendees, member_linked=True,
                source=envelope["source"], event_id=envelope["event_id"],
                logged_at=now)


def party_result(activity):
    return {"activity_id": activity["_id"], "unit_id": activity.get("unit_id"),
            "attendance": f"{len(activity['attendees'])}/"
                          f"{len(activity['expected'])}"}


def activity_event_data(activity, phone, tz):
    """What ``activity.logged`` carries for the other services' own copies.

    The recipient's phone travels only so that feedback can invite them,
    and only sealed: ``phone`` is a sealed contact
    (``sifuwu.privacy.contact``) or None."""
    recipient = activity["recipient"]
    return {
        "activity_id": activity["_id"],
        "category": activity["category"],
        "kind": activity["kind"],
        "roles": activity["roles"],
        "member_id": activity["member_id"],
        "member_name": activity.get("member_name"),
        "participant_ids": [m for m in activity.get("member_ids", [])
                            if m != activity["member_id"]],
        "unit_id": activity.get("unit_id"),
        "branch_id": activity.get("branch_id"),
        "campaign_id": activity.get("campaign_id"),
        "recipient": {"id": recipient.get("id"), "type": recipient["type"],
                      "name": recipient["name"], "phone": phone},
        "occurred_at": iso(activity["occurred_at"], tz),
        "source": activity.get("source"),
    }


def party_event_data(activity, tz):
    """What ``party_activity.logged`` carries."""
    return {
        "activity_id": activity["_id"],
        "kind": activity["kind"],
        "session": activity.get("session"),
        "title": activity.get("title"),
        "branch_id": activity["branch_id"],
        "unit_id": activity.get("unit_id"),
        "occurred_at": iso(activity["occurred_at"], tz),
        "attendees": list(activity.get("attendees", [])),
        "expected": list(activity.get("expected", [])),
        "source": activity.get("source"),
    }
