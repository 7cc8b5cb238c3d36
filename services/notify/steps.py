"""The notify service's use cases (用例), each a function taking the unit of
work first: it reads and writes through ``uow.repo`` (a
``NotifyRepository``) and applies the rules of ``planning``, ``contacts``
and ``domain``; time comes in as ``now``, the timezone as ``tz``. notify
announces nothing, so no step emits an event.

The writing steps run inside a transaction (``store.transaction(...,
repository=NotifyRepository)``); the reading ones take anything with a
``repo`` (``repository.Direct(db)``). Sending what the steps stored is
``delivery``'s job, after the transaction.
"""

import dataclasses

from sifuwu.errors import Conflict, NotFound
from sifuwu.privacy import contact_hash
from services.notify import contacts, domain, planning, routing


@dataclasses.dataclass(frozen=True)
class Planning:
    """What planning needs besides the event: the secret that seals and
    hashes contacts, the time, the channels with an adapter, the business
    timezone and the SMS quiet hours (or None)."""

    secret: str
    now: object
    available: frozenset
    tz: object
    quiet: tuple | None
    sealer: object = None   # the contact keys (default: derived from secret)


def _plan(envelope, context, resolve, preference):
    return planning.plan(
        envelope, resolve=resolve, preference=preference,
        secret=context.secret, sealer=context.sealer, now=context.now,
        available=context.available,
        tz=context.tz, quiet=context.quiet)


def _resolver(uow, secret, sealer=None):
    """Who stands behind a contact-book reference, each reference read
    once per resolver."""
    book = {}

    def resolve(ref):
        if ref not in book:
            book[ref] = contacts.people(uow.repo.contact_entries(ref),
                                        secret=secret, sealer=sealer)
        return book[ref]
    return resolve


# -- routed events ---------------------------------------------------------------

def plan_event(uow, envelope, context):
    """Plan an event into messages (one per recipient × channel) and
    recorded skips, and store them; returns the messages stored now (none
    for an event planned before)."""
    result = _plan(envelope, context,
                   _resolver(uow, context.secret, context.sealer),
                   uow.repo.get_preference)
    return uow.repo.insert_planned(result.messages, result.skips)


def plan_batch(uow, envelopes, context):
    """``plan_event`` for a batch of events with a constant number of
    statements: each contact-book reference read once, the preferences of
    every recipient at once, existing messages at once, one insert."""
    resolve = _resolver(uow, context.secret, context.sealer)
    keys = set()
    for envelope in envelopes:
        keys |= planning.recipient_keys(envelope, resolve=resolve,
                                        secret=context.secret,
                                        sealer=context.sealer)
    preferences = uow.repo.get_preferences(keys)
    messages, skips = [], []
    for envelope in envelopes:
        result = _plan(envelope, context, resolve, preferences.get)
        messages += result.messages
        skips += result.skips
    return uow.repo.insert_planned(messages, skips)


# -- the contact book ------------------------------------------------------------

def save_contact(uow, kind, ref_id, record, *, secret, now, as_of=None,
                 sealer=None):
    """Merge a directory record (``as_of`` its time) or a staff entry (no
    ``as_of``) into the contact book; returns the entry as stored."""
    doc = contacts.contact_document(kind, ref_id, record, secret=secret,
                                    sealer=sealer,
                                    now=now)
    if as_of is not None:
        existing = uow.repo.get_contact(doc["_id"])
        if contacts.is_stale(existing, as_of):
            return existing
        doc["as_of"] = as_of
    return uow.repo.merge_contact(doc["_id"], contacts.changes(doc, record),
                                  now)


def record_directory_change(uow, change, *, secret, now, as_of, sealer=None):
    """A ``directory.changed`` event (loaded) into the contact book."""
    return save_contact(uow, change["kind"], change["id"], change["record"],
                        secret=secret, now=now, as_of=as_of, sealer=sealer)


def enter_contact(uow, kind, ref_id, record, *, secret, now, sealer=None):
    """Staff add addresses the directory does not carry."""
    contacts.check_kind(kind)
    return save_contact(uow, kind, ref_id, record, secret=secret, now=now,
                        sealer=sealer)


def show_contact(uow, kind, ref_id):
    saved = uow.repo.get_contact(contacts.contact_id(kind, ref_id))
    if saved is None:
        raise NotFound("通讯录中没有该联系人")
    return saved


# -- preferences -------------------------------------------------------------------

def recipient_key(wishes, secret):
    """The recipient preferences are kept under: a phone's keyed hash (as
    planning derives it for contacts carried by an event), else the given
    contact-book key."""
    if wishes.get("phone"):
        return "contact:" + contact_hash(secret, wishes["phone"])[:32]
    return wishes["recipient"]


def set_preference(uow, recipient, wishes, now):
    """Which channels a recipient wants, and whether non-essential
    messages are refused; what the wishes leave out stays as stored."""
    update = {"updated_at": now}
    for key in ("channels", "opt_out_non_essential"):
        if key in wishes and wishes[key] is not None:
            update[key] = wishes[key]
    return uow.repo.save_preference(recipient, update, now)


def opt_out(uow, recipient, now):
    """The recipient's own opt-out of non-essential messages (退订)."""
    return set_preference(uow, recipient, {"opt_out_non_essential": True},
                          now)


def show_preference(uow, recipient):
    return uow.repo.get_preference(recipient) or {
        "_id": recipient, "channels": None, "opt_out_non_essential": False}


# -- operators -------------------------------------------------------------------

def resend(uow, message_id, now, by):
    """A failed message sent again: a temporary failure is due now (the
    sweeper's retry, brought forward); a final failure is copied into a new
    message (the failed one keeps its state). Returns the message to send."""
    original = uow.repo.get_message(message_id)
    domain.check_resend(original)
    if original["status"] == domain.TEMPORARY_FAILURE:
        updated = uow.repo.bring_forward(
            message_id, domain.TEMPORARY_FAILURE, now,
            domain.history_entry("resend-requested", now, by=by))
        if updated is None:
            raise Conflict("消息状态已变化，请刷新")
        return updated
    count = uow.repo.count_resends(message_id) + 1
    return uow.repo.insert_message(
        domain.resend_copy(original, count, now, by))


def list_messages(uow, filters, *, secret):
    """Messages by recipient (``to``: an address, matched by its keyed
    hash; ``recipient``: a contact-book key), event (a routed type, else an
    event id), channel, status and period."""
    criteria = {}
    if filters.get("to"):
        criteria["to_hash"] = contact_hash(secret, filters["to"])
    if filters.get("recipient"):
        criteria["recipient"] = filters["recipient"]
    if filters.get("event"):
        key = "event_type" if filters["event"] in routing.BY_EVENT \
            else "event_id"
        criteria[key] = filters["event"]
    for key in ("channel", "status"):
        if filters.get(key):
            criteria[key] = filters[key]
    return uow.repo.find_messages(criteria, filters.get("since"),
                                  filters.get("until"),
                                  filters.get("limit") or 50)


def message_stats(uow, since=None, until=None):
    """Counts per channel × provider × status, with delivery rates."""
    return domain.stats_rows(uow.repo.message_facts(since, until))
