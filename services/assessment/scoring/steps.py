"""The steps of scoring (计分), each run inside one unit of work.

Each function takes the unit of work first (``uow.repo`` is a
``ScoringRepository``) and ``now``; it checks the rules (``schemes``,
``cards``, ``domain``), writes, and emits ``scorecard.updated`` for every
card that changed, all in the same transaction.

Scorecards are kept by running sums: a change of a contribution adds its
change of figures to each card it feeds, in the same transaction
(redelivery and reordering give the same card; re-scoring from the
contributions gives the same card too). A batch costs a constant number of
statements whatever its size.
"""

from sifuwu import events as ev
from services.assessment.directory import domain as directory
from services.assessment.domain import SUBJECT_TYPES
from services.assessment.scoring import cards as docs
from services.assessment.scoring import schemes

# -- schemes -----------------------------------------------------------------


def ensure_default_scheme(scores, now):
    """Store the default scheme as version 1 if there is no scheme yet
    (``scores``: a ``ScoringRepository``)."""
    return scores.add_first_scheme(schemes.first_scheme(now))


def create_scheme(uow, body, *, now, created_by, default_from):
    """Validate and store a scheme as the next version."""
    schemes.check_scheme(body)
    ensure_default_scheme(uow.repo, now)
    scheme = schemes.next_version(uow.repo.latest_scheme(), body, now=now,
                                  created_by=created_by,
                                  default_from=default_from)
    uow.repo.insert_scheme(scheme)
    return scheme


def _all_schemes(scores, now):
    found = scores.all_schemes()
    if not found:
        ensure_default_scheme(scores, now or ev.utcnow())
        found = scores.all_schemes()
    return found


def scheme_for_month(scores, month, now=None):
    """The scheme a month is scored under: its pinned version (re-scoring),
    else the version in force."""
    pinned = scores.pinned_version(month)
    if pinned is not None:
        return scores.get_scheme(pinned)
    return schemes.scheme_in_force(_all_schemes(scores, now), month)


def schemes_for_months(scores, months, now=None):
    """``scheme_for_month`` of several months in two statements."""
    months = sorted(set(months))
    pins = scores.pinned_versions(months)
    found_schemes = _all_schemes(scores, now)
    versions = {scheme["version"]: scheme for scheme in found_schemes}
    found = {}
    for month in months:
        if month in pins:
            found[month] = versions.get(pins[month]) or scores.get_scheme(
                pins[month])
        else:
            found[month] = schemes.scheme_in_force(found_schemes, month)
    return found


# -- the cards ---------------------------------------------------------------

def _store_cards(uow, cards, stored, now, sources=None):
    """Write the cards that changed (one statement) and emit
    ``scorecard.updated`` for each. Returns the cards written."""
    written = []
    for card in cards:
        if not docs.changed(card, stored.get(card["_id"])):
            continue
        card["updated_at"] = now
        written.append(card)
        uow.emit(ev.SCORECARD_UPDATED, docs.updated_event(card, sources))
    if written:
        uow.repo.write_cards(written)
    return written


def apply_changes(uow, changes, now):
    """Add ``changes`` (``CardChanges``) to the monthly cards they touch:
    the cards read at once, the schemes in two statements, the cards
    written in one; each card is scored again from its new sums. The reads
    are inside the transaction, so two transactions changing one card
    conflict and the later re-runs (the sums stay exact). Returns the
    cards."""
    keys = changes.keys()
    if not keys:
        return []
    stored = {card["_id"]: card for card in uow.repo.cards(
        [docs.card_id(*key) for key in keys])}
    found = schemes_for_months(uow.repo, [key[2] for key in keys], now)
    cards = [docs.running_card(key, stored.get(docs.card_id(*key)), changes,
                               found[key[2]]) for key in keys]
    _store_cards(uow, cards, stored, now, changes.sources)
    return cards


def rescore_month(uow, month, version, now):
    """Pin a month to a scheme version and score every card of it again
    from the stored contributions (replay; equal to live scoring)."""
    scheme = uow.repo.get_scheme(version)
    uow.repo.pin(month, scheme["version"], now)
    contributions = list(uow.repo.of_month(month))
    stored = {}
    for subject_type in SUBJECT_TYPES:
        for card in uow.repo.cards_of_month(subject_type, month):
            stored[card["_id"]] = card
    cards = docs.replayed_cards(
        contributions, [(c["subject_type"], c["subject_id"], month)
                        for c in stored.values()], month, scheme)
    _store_cards(uow, cards, stored, now)
    return len(cards)


# -- attribution: member → branch → unit ---------------------------------------

def _attributions(uow, wanted):
    """(branch_id, unit_id) for each (member_id, branch_id, unit_id): the
    ids given, completed from the member's directory entry, then the
    branch's, read for all at once. A member not in the directory yet is
    locked (his entry's arrival then conflicts)."""
    entries = uow.repo.directory
    member_ids = {m for m, b, u in wanted if m and not (b and u)}
    members = entries.of_kind("member", member_ids)
    missing = member_ids - set(members)
    if missing:
        entries.lock([f"member:{m}" for m in missing])
    places = [directory.member_place(members.get(m), b, u)
              for m, b, u in wanted]
    branches = entries.of_kind("branch", {b for b, u in places if not u})
    return [directory.branch_place(place, branches) for place in places]


def apply_directory_changes(uow, envelopes, now):
    """Directory changes (member, branch, unit entries), in order, in a
    constant number of statements: the newest record per entry is written
    once; members' contributions that arrived without a branch (a unit)
    are attributed in the same transaction, and their cards changed."""
    changes = docs.CardChanges()
    envelopes = [e for e in envelopes
                 if e["data"]["kind"] not in directory.IGNORED_KINDS]
    if not envelopes:
        return apply_changes(uow, changes, now)
    entries = uow.repo.directory
    stored = entries.entries([directory.entry_key(e["data"]["kind"],
                                                  e["data"]["id"])
                              for e in envelopes])
    written, fillers = directory.newest_entries(envelopes, stored)
    if not written:
        return apply_changes(uow, changes, now)
    entries.replace(written)
    members = sorted({key.split(":", 1)[1] for key, doc in written.items()
                      if doc["kind"] == "member"})
    entries.lock([f"member:{m}" for m in members])
    changes.merge(_fill_attributions(uow, fillers))
    return apply_changes(uow, changes, now)


def _fill_attributions(uow, fillers):
    """Set the branch (unit) of members' contributions stored without one:
    ``fillers`` = {(member id, field): value}. One read per field (per
    ``IN_CHUNK`` members), one write for all."""
    found = {}
    for field in ("branch_id", "unit_id"):
        for contribution in uow.repo.missing(
                field, [m for m, f in fillers if f == field]):
            if contribution["kind"] != "party_activity":
                found.setdefault(contribution["_id"], contribution)
    changes = docs.CardChanges()
    patches = docs.attribution_patches(found, fillers)
    for contribution, patch in patches:
        changes.replace(contribution, dict(contribution, **patch))
    if patches:
        uow.repo.save_contributions(patched={
            contribution["_id"]: patch for contribution, patch in patches})
    return changes


# -- contributions -----------------------------------------------------------

def _insert_new(uow, new):
    """Insert the contributions not stored yet (checked first: a
    duplicate-key error would abort the whole transaction) in one
    statement. Returns the change to the cards."""
    new = list({doc["_id"]: doc for doc in new}.values())
    existing = uow.repo.existing([doc["_id"] for doc in new])
    fresh = [doc for doc in new if doc["_id"] not in existing]
    changes = docs.CardChanges()
    if fresh:
        uow.repo.insert_contributions(fresh)
        for doc in fresh:
            changes.replace(None, doc)
    return changes


def _places(uow, batch, member=lambda d: d["member_id"],
            unit=lambda d: d.get("unit_id"),
            branch=lambda d: d.get("branch_id")):
    return _attributions(uow, [(member(e["data"]), branch(e["data"]),
                                unit(e["data"])) for e, _ in batch])


def add_activities(uow, batch, now):
    """Service activities, ``batch`` = [(envelope, month)]: a constant
    number of statements whatever its size."""
    changes = _insert_new(uow, [
        docs.activity_doc(envelope, month, place)
        for (envelope, month), place in zip(batch, _places(uow, batch))])
    return apply_changes(uow, changes, now)


def add_party_activities(uow, batch, now):
    """Party activities, ``batch`` = [(envelope, month)]: a constant number
    of statements whatever its size."""
    branches = uow.repo.directory.of_kind("branch", {
        e["data"]["branch_id"] for e, _ in batch
        if not e["data"].get("unit_id")})
    changes = _insert_new(uow, [docs.party_doc(envelope, month, branches)
                                for envelope, month in batch])
    return apply_changes(uow, changes, now)


def add_ratings(uow, batch, now):
    """Rating contributions, ``batch`` = [(envelope, month)] in order (a
    rating repeated keeps its first event; an upheld appeal or a closed
    rectification recorded before it is applied to it): a constant number
    of statements whatever its size."""
    first = docs.first_ratings(batch)
    if not first:
        return apply_changes(uow, docs.CardChanges(), now)
    rating_ids = sorted(first)
    uow.repo.directory.lock([f"rating:{r}" for r in rating_ids])
    marks = {}
    for mark in uow.repo.about_ratings(rating_ids):
        if mark["kind"] in ("appeal", "rectification"):
            marks.setdefault(mark["rating_id"], []).append(mark)
    batch = list(first.values())
    changes = _insert_new(uow, [
        docs.rating_doc(envelope, month,
                        marks.get(envelope["data"]["rating_id"], []), place)
        for (envelope, month), place in zip(batch, _places(uow, batch))])
    return apply_changes(uow, changes, now)


def add_rating_mark(uow, envelope, kind, month, now):
    """An appeal decision or a closed rectification about a rating: stored
    as its own contribution and applied to the rating (now or when the
    rating arrives)."""
    doc = docs.rating_mark_doc(envelope, kind, month)
    changes = docs.CardChanges()
    if doc["_id"] in uow.repo.existing([doc["_id"]]):
        return apply_changes(uow, changes, now)
    uow.repo.insert_contribution(doc)
    rating_id = doc["rating_id"]
    uow.repo.directory.lock([f"rating:{rating_id}"])
    rating = uow.repo.contribution(f"rating:{rating_id}")
    marked = docs.marked_rating(rating, doc) if rating is not None else None
    if marked is not None:
        change, updated = marked
        uow.repo.update_contribution(rating["_id"], change)
        changes.replace(rating, updated)
    return apply_changes(uow, changes, now)


def _apply_newest(uow, states):
    """Newest state wins (``cards.newest_states``), for a batch in order,
    in a constant number of statements: the stored states read at once,
    the new ones written in one statement. Returns the change to the
    cards."""
    stored = uow.repo.contributions([doc["_id"] for _, doc in states])
    replaced, patched = docs.newest_states(states, stored)
    changes = docs.CardChanges()
    for doc in replaced:
        changes.replace(stored.get(doc["_id"]), doc)
    uow.repo.save_contributions(replaced, patched)
    return changes


def apply_demands(uow, batch, now):
    """Demand contributions (the newest state of each demand),
    ``batch`` = [(envelope, month)] in order: a constant number of
    statements whatever its size."""
    places = _places(uow, batch, member=lambda d: d.get("member_id"),
                     unit=lambda d: d.get("owner_unit_id"),
                     branch=lambda d: None)
    changes = _apply_newest(uow, [
        (envelope, docs.demand_doc(envelope, month, branch_id, unit_id))
        for (envelope, month), (branch_id, unit_id) in zip(batch, places)])
    return apply_changes(uow, changes, now)


def apply_kpis(uow, envelopes, now):
    """KPI contributions (the newest value of each subject, indicator and
    period), in order: a constant number of statements whatever its
    size."""
    members = [e["data"]["subject_id"] for e in envelopes
               if e["data"]["subject_type"] == "member"]
    places = dict(zip(members, _attributions(
        uow, [(m, None, None) for m in members])))
    changes = _apply_newest(uow, [
        (envelope, docs.kpi_doc(envelope, places.get(
            envelope["data"]["subject_id"]))) for envelope in envelopes])
    return apply_changes(uow, changes, now)
