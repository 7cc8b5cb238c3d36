"""Rules of the four-services and Party-building log (no nameko here)."""

# 四服务: the four categories of service.
CATEGORIES = ("enterprise", "project", "grassroots", "masses")
CATEGORY_LABELS = {"enterprise": "服务企业", "project": "服务项目",
                   "grassroots": "服务基层", "masses": "服务群众"}
# 服务方式:走访, 调研, 协调会, 政策宣讲, 帮办代办, 其他
KINDS = ("visit", "survey", "coordination", "briefing", "errand", "other")
# 信息员, 调研员, 协调员, 服务员
ROLES = ("informer", "researcher", "coordinator", "server")
RECIPIENT_TYPES = ("enterprise", "project", "community", "citizen")


def activity_event_data(activity, phone=None):
    """What ``activity.logged`` carries for the other services' own copies.

    The recipient's phone travels only so that feedback can invite them."""
    recipient = activity["recipient"]
    return {
        "activity_id": activity["_id"],
        "category": activity["category"],
        "kind": activity["kind"],
        "roles": activity["roles"],
        "member_id": activity["member_id"],
        "member_name": activity.get("member_name"),
        "unit_id": activity.get("unit_id"),
        "branch_id": activity.get("branch_id"),
        "campaign_id": activity.get("campaign_id"),
        "recipient": {"id": recipient.get("id"), "type": recipient["type"],
                      "name": recipient["name"], "phone": phone},
        "occurred_at": activity["occurred_at"].isoformat(),
    }
