"""From an event to the messages it causes (and the ones it cannot).

``plan`` walks the routing table for the event, resolves the audience,
applies preferences, renders the versioned templates and builds one message
per recipient × channel under its idempotency key. What cannot be sent is a
*skip* with a recorded reason, never silence. Lookups come in as functions,
so this runs the same against the store and in unit tests.
"""

import dataclasses

from sifuwu.privacy import Sealer, contact_hash, open_contact, redact_links
from services.notify import domain, routing, templating

# Small, non-personal facts kept with a message (for the board, filters).
CONTEXT_KEYS = ("campaign_id", "demand_id", "rectification_id",
                "objection_id", "invitation_id", "level")


@dataclasses.dataclass
class Plan:
    messages: list
    skips: list


def _skip(envelope, route, who, channel, reason, now):
    ident = f"{envelope['event_id']}:{route.template}:{who or '-'}:" \
            f"{channel or '-'}"
    return {"_id": ident, "event_id": envelope["event_id"],
            "event_type": envelope["type"], "template": route.template,
            "recipient": who, "channel": channel, "reason": reason,
            "at": now}


def _people(target, resolve, secret):
    """Who a (not missing) target stands for: [{key, name, contacts}],
    empty when the contact book knows nobody under its reference."""
    if target.ref == routing.PUBLIC_REF:
        return [{"key": routing.PUBLIC_REF, "name": None, "contacts": {}}]
    if target.ref:
        return resolve(target.ref)
    primary = next(iter(target.contacts.values()))
    return [{"key": "contact:" + contact_hash(secret, primary)[:32],
             "name": target.name, "contacts": target.contacts}]


# The people an event names inline, with contacts sealed on the bus.
INLINE_PEOPLE = ("recipient", "objector")
INLINE_CONTACTS = ("phone", "email")


def opened(data, sealer):
    """The event's data with the sealed contacts of the people it names
    opened, in memory only (to address and render the message; the message
    keeps the address sealed again). A clear string, the shape of events
    published before contacts were sealed, is taken as it is."""
    data = dict(data)
    for name in INLINE_PEOPLE:
        person = data.get(name)
        if isinstance(person, dict):
            person = dict(person)
            for key in INLINE_CONTACTS:
                if person.get(key):
                    person[key] = open_contact(person[key], sealer)
            data[name] = person
    return data


def recipient_keys(envelope, *, resolve, secret, sealer=None):
    """The recipient keys ``plan`` will look preferences up for, so a batch
    of events can read all their preferences at once."""
    keys = set()
    data = opened(envelope["data"], sealer or Sealer(secret))
    for route in routing.routes_for(envelope["type"]):
        for target in routing.targets(route, data):
            if not target.missing:
                keys.update(person["key"] for person in
                            _people(target, resolve, secret))
    return keys


def plan(envelope, *, resolve, preference, secret, now, available, tz,
         quiet=(domain.QUIET_START_HOUR, domain.QUIET_END_HOUR), sealer=None):
    """Messages and skips for one event.

    ``resolve(ref)`` → [{key, name, contacts}] from the contact book;
    ``preference(recipient_key)`` → stored preference or None;
    ``available`` → channels with a configured adapter; ``tz`` → the
    business timezone; ``quiet`` → the SMS quiet hours (start, end) or
    None; ``sealer`` → the contact keys (default: derived from ``secret``)."""
    sealer = sealer or Sealer(secret)
    envelope = dict(envelope, data=opened(envelope["data"], sealer))
    data = envelope["data"]
    messages, skips, seen = [], [], set()
    for route in routing.routes_for(envelope["type"]):
        for target in routing.targets(route, data):
            if target.missing:
                skips.append(_skip(envelope, route, None, None,
                                   target.missing, now))
                continue
            people = _people(target, resolve, secret)
            if not people:
                skips.append(_skip(envelope, route, target.ref, None,
                                   "contact_unknown", now))
                continue
            for person in people:
                who = person["key"]
                channels, why = domain.channels_for(
                    route.channels, preference(who), route.essential)
                if why:
                    skips.append(_skip(envelope, route, who, None, why, now))
                    continue
                for channel in channels:
                    if channel not in available:
                        skips.append(_skip(envelope, route, who, channel,
                                           "channel_not_configured", now))
                        continue
                    public = channel in ("web", "press") or \
                        who == routing.PUBLIC_REF
                    address = None if public else \
                        person["contacts"].get(channel)
                    if who == routing.PUBLIC_REF and channel == "wechat":
                        address = "@all"  # 公众号: everyone who follows
                    if not public and not address:
                        skips.append(_skip(envelope, route, who, channel,
                                           "no_address_for_channel", now))
                        continue
                    key = domain.message_key(
                        envelope["event_id"], channel,
                        contact_hash(secret, who))
                    if key in seen:
                        continue
                    seen.add(key)
                    messages.append(build_message(
                        envelope, route, channel, who, address,
                        sealer=sealer, secret=secret, now=now, tz=tz,
                        key=key, quiet=quiet))
    return Plan(messages, skips)


def build_message(envelope, route, channel, who, address, *, sealer, secret,
                  now, tz, key, quiet):
    data = envelope["data"]
    message = {
        "_id": key,
        "event_id": envelope["event_id"],
        "event_type": envelope["type"],
        "correlation_id": envelope.get("correlation_id"),
        "channel": channel,
        "template": route.template,
        "template_version": templating.CATALOGUE.get(route.template),
        "recipient": who,
        "to_hash": contact_hash(secret, address) if address else None,
        "to_masked": domain.mask_address(channel, address) if address else (
            "公众" if who == routing.PUBLIC_REF else None),
        "to_enc": sealer.seal(address) if address else None,
        "urgent": bool(route.urgent or data.get("urgent")),
        "essential": route.essential,
        "context": {k: data[k] for k in CONTEXT_KEYS if k in data
                    and isinstance(data[k], (str, int, float, bool))},
        "subject": "",
        "body": "",
        "segments": 0,
        "status": domain.CREATED,
        "attempts": 0,
        "provider": None,
        "reason": None,
        "created_at": now,
        "updated_at": now,
        "next_at": domain.due_at(channel,
                                 bool(route.urgent or data.get("urgent")),
                                 now, tz, quiet),
        "history": [{"status": domain.CREATED, "at": now}],
    }
    if message["next_at"] > now:
        message["held_for_quiet_hours"] = True
    try:
        rendered = templating.render(route.template, channel, data, tz=tz)
    except templating.RenderError as exc:
        message.update({
            "status": domain.TECHNICAL_FAILURE, "reason": str(exc),
            "next_at": None,
        })
        message["history"].append({"status": domain.TECHNICAL_FAILURE,
                                   "at": now, "reason": str(exc)})
        return message
    message.update({
        "template_version": rendered.version,
        "subject": rendered.subject,
        "body": redact_links(rendered.body),
        "segments": domain.sms_segments(rendered.body)
        if channel == "sms" else 0,
    })
    if message["body"] != rendered.body:
        # only the sender sees the live link: stored sealed, shown redacted
        message["body_enc"] = sealer.seal(rendered.body)
    return message


def log_line(message):
    """A message as it may appear in logs: address masked; the template,
    not the body (which names the citizen and holds their link)."""
    return (f"{message['channel']} {message['_id']} → "
            f"{message.get('to_masked')} [{message['status']}] "
            f"{message.get('template')}")
