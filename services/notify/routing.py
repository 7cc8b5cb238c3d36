"""The routing table (路由表): event type → template → audience → channels.

One place says who hears about what, and how. ``targets(route, data)`` turns
an event's data into the addressees, either with contacts carried by the event
(an invitation's recipient, an objector) or as references into the contact
book that ``directory.changed`` keeps (``member:<id>``, ``unit:<id>``,
``leader:<unit id>``, ``role:supervision``) or the public channels.
"""

import dataclasses

from sifuwu import events as ev

# Audiences.
EVENT_RECIPIENT = "event_recipient"        # the person named in the event
DEMAND_OWNER = "demand_owner"              # 诉求承办单位与承办人
ESCALATION = "escalation"                  # 督查: owner → unit leader → 督查室
RECTIFICATION_UNIT = "rectification_unit"  # 整改单位与责任人
RECTIFICATION_ESCALATION = "rectification_escalation"  # 逐级督办
PUBLIC = "public"                          # 报刊网微: web, WeChat, press
OBJECTOR = "objector"                      # 异议人

PUBLIC_REF = "public"
SUPERVISION_REF = "role:supervision"


@dataclasses.dataclass(frozen=True)
class Route:
    event_type: str
    template: str
    audience: str
    channels: tuple
    essential: bool = True   # opt-out of non-essential messages skips it
    urgent: bool = False     # urgent SMS ignores quiet hours


ROUTES = (
    Route(ev.INVITATION_ISSUED, "feedback_invitation", EVENT_RECIPIENT,
          ("sms",), essential=False),
    Route(ev.DEMAND_RAISED, "demand_assigned", DEMAND_OWNER,
          ("sms", "wechat", "email")),
    Route(ev.DEMAND_OVERDUE, "demand_overdue", ESCALATION,
          ("sms", "wechat", "email")),
    Route(ev.RECTIFICATION_OPENED, "rectification_opened",
          RECTIFICATION_UNIT, ("sms", "wechat", "email")),
    Route(ev.RECTIFICATION_OVERDUE, "rectification_overdue",
          RECTIFICATION_ESCALATION, ("sms", "wechat", "email")),
    Route(ev.SELECTION_PUBLISHED, "selection_plan", PUBLIC,
          ("web", "wechat", "press"), essential=False),
    Route(ev.PUBLICITY_OPENED, "publicity_list", PUBLIC,
          ("web", "wechat", "press"), essential=False),
    Route(ev.SELECTION_FINALISED, "selection_final", PUBLIC,
          ("web", "wechat", "press"), essential=False),
    Route(ev.OBJECTION_ANSWERED, "objection_answer", OBJECTOR,
          ("sms", "email")),
)

BY_EVENT = {}
for _route in ROUTES:
    BY_EVENT.setdefault(_route.event_type, []).append(_route)


def routes_for(event_type):
    return BY_EVENT.get(event_type, [])


@dataclasses.dataclass
class Target:
    """One addressee: a contact-book reference, or contacts given inline
    ({channel: address}) under a key derived from them."""

    ref: str | None = None
    contacts: dict | None = None
    name: str | None = None
    missing: str | None = None   # why nobody can be addressed


def _inline(person, missing_reason):
    person = person or {}
    contacts = {}
    if person.get("phone"):
        contacts["sms"] = str(person["phone"])
    if person.get("email"):
        contacts["email"] = str(person["email"])
    if person.get("wechat_openid") or person.get("openid"):
        contacts["wechat"] = str(person.get("wechat_openid")
                                 or person.get("openid"))
    if not contacts:
        return [Target(missing=missing_reason)]
    return [Target(contacts=contacts, name=person.get("name"))]


def targets(route, data):
    """The addressees of ``route`` for an event's ``data``."""
    audience = route.audience
    if audience == EVENT_RECIPIENT:
        return _inline(data.get("recipient"), "recipient_contact_absent")
    if audience == OBJECTOR:
        return _inline(data.get("objector"), "objector_contact_absent")
    if audience == PUBLIC:
        return [Target(ref=PUBLIC_REF)]
    if audience == DEMAND_OWNER:
        found = []
        if data.get("owner_unit_id"):
            found.append(Target(ref=f"unit:{data['owner_unit_id']}"))
        if data.get("member_id"):
            found.append(Target(ref=f"member:{data['member_id']}"))
        return found or [Target(missing="demand_owner_absent")]
    if audience == ESCALATION:
        unit = data.get("owner_unit_id")
        level = int(data.get("level") or 1)
        if not unit:
            return [Target(missing="demand_owner_absent")]
        found = [Target(ref=f"unit:{unit}")]
        if level >= 2:
            found.append(Target(ref=f"leader:{unit}"))
        if level >= 3:
            found.append(Target(ref=SUPERVISION_REF))
        return found
    if audience in (RECTIFICATION_UNIT, RECTIFICATION_ESCALATION):
        found = []
        unit = data.get("unit_id")
        if unit:
            found.append(Target(ref=f"unit:{unit}"))
        if data.get("member_id"):
            found.append(Target(ref=f"member:{data['member_id']}"))
        if audience == RECTIFICATION_ESCALATION:
            # a missed callback stays with the unit (level 1); a missed fix
            # goes up to the unit leader and the supervision office (3)
            level = int(data.get("level") or 1)
            if level >= 2 and unit:
                found.append(Target(ref=f"leader:{unit}"))
            if level >= 3:
                found.append(Target(ref=SUPERVISION_REF))
        return found or [Target(missing="rectification_unit_absent")]
    raise ValueError(f"unknown audience {audience}")
