"""Persistence of the assessment service (考评服务).

Collections:

* ``schemes``: versioned assessment schemes (考评方案), ``_id`` = version;
* ``contributions``: one document per event (or per demand, updated to its
  latest state), with the event ids behind it: every figure is traceable;
* ``scorecards``: monthly cards per member, branch and unit, kept by
  running sums: a change of a contribution adds its change of figures to
  each card it feeds, in the same transaction (redelivery and reordering
  give the same card; re-scoring from the contributions gives the same
  card too); a card's contributions are found through the indexed
  contributions query, not listed on the card; quarters and years are
  summed from months. A card keeps its sums and what rankings read
  (total, grade, rank key, group scores); its metrics, indicators and
  items are scored from the sums when it is shown (``card_details``).
  ``_id`` = ``subject_type:subject_id:month``: a subject's cards are read
  by id, a type's cards of a month through the ``by_period`` index;
* ``directory``: the copy of member → branch → unit kept from
  ``directory.changed``;
* ``period_schemes``: a month pinned to a scheme version by re-scoring;
* ``rankings``: published rankings; ``branches``: the branch ladder.
"""

from pymongo import (
    ASCENDING, DESCENDING, IndexModel, ReplaceOne, UpdateOne,
)
from pymongo.errors import DuplicateKeyError

from sifuwu import events as ev
from sifuwu.errors import DomainError, NotFound
from sifuwu.store import find_in
from services.assessment import domain

SCHEMES = "schemes"
CONTRIBUTIONS = "contributions"
SCORECARDS = "scorecards"
DIRECTORY = "directory"
PERIOD_SCHEMES = "period_schemes"
RANKINGS = "rankings"
BRANCHES = "branches"

INDEXES = {
    SCHEMES: [IndexModel([("version", DESCENDING)], name="by_version")],
    CONTRIBUTIONS: [
        IndexModel([("members", ASCENDING), ("month", ASCENDING)],
                   name="by_member_month"),
        IndexModel([("branch_id", ASCENDING), ("month", ASCENDING)],
                   name="by_branch_month"),
        IndexModel([("unit_id", ASCENDING), ("month", ASCENDING)],
                   name="by_unit_month"),
        IndexModel([("month", ASCENDING)], name="by_month"),
        IndexModel([("rating_id", ASCENDING)], name="by_rating"),
    ],
    SCORECARDS: [
        IndexModel([("subject_type", ASCENDING), ("period", ASCENDING)],
                   name="by_period"),
    ],
    DIRECTORY: [IndexModel([("kind", ASCENDING), ("id", ASCENDING)],
                           name="by_kind")],
    RANKINGS: [IndexModel([("period", ASCENDING), ("subject_type", ASCENDING),
                           ("published_at", DESCENDING)], name="by_period")],
}

# Indexes earlier versions created that nothing reads any more: dropped at
# start-up (each one is rewritten on every write to its collection).
RETIRED_INDEXES = {
    # a subject's cards are read by id (``card_ids``)
    SCORECARDS: ["by_subject"],
}

# Directory fields kept (no phones or other personal contact data).
DIRECTORY_FIELDS = ("name", "unit_id", "branch_id", "division_id",
                    "secretary_id", "secretary_member_id", "secretary_name",
                    "position", "status")


class SchemeInvalid(DomainError):
    status = 400
    code = "scheme_invalid"
    message = "考评方案不成立"


# -- schemes -----------------------------------------------------------------

def ensure_default_scheme(db, now, session=None):
    """Store the default scheme as version 1 if there is no scheme yet."""
    if db[SCHEMES].find_one({}, session=session) is not None:
        return False
    scheme = domain.default_scheme()
    try:
        db[SCHEMES].insert_one(dict(
            scheme, _id=1, version=1, effective_from="0000-01",
            created_at=now, created_by="system"), session=session)
    except DuplicateKeyError:
        return False
    return True


def all_schemes(db, session=None):
    return list(db[SCHEMES].find({}, session=session).sort(
        "version", DESCENDING))


def get_scheme(db, version, session=None):
    version = int(version)
    # Beyond BSON's int64 no scheme can exist (and the driver would raise).
    scheme = db[SCHEMES].find_one({"_id": version}, session=session) \
        if -2**63 <= version < 2**63 else None
    if scheme is None:
        raise NotFound(f"未找到第 {version} 版考评方案")
    return scheme


def create_scheme(uow, body, *, now, created_by, default_from):
    """Validate and store a scheme as the next version."""
    problems = domain.validate_scheme(body)
    if problems:
        raise SchemeInvalid("考评方案不成立：" + "；".join(problems),
                            fields={"scheme": problems})
    ensure_default_scheme(uow.db, now, uow.session)
    latest = uow.col(SCHEMES).find_one({}, sort=[("version", DESCENDING)],
                                       session=uow.session)
    version = (latest["version"] if latest else 0) + 1
    scheme = dict(body, _id=version, version=version,
                  effective_from=body.get("effective_from") or default_from,
                  created_at=now, created_by=created_by)
    uow.col(SCHEMES).insert_one(scheme, session=uow.session)
    return scheme


def scheme_for_month(db, month, session=None, now=None):
    """The scheme a month is scored under: its pinned version (re-scoring),
    else the version in force."""
    pin = db[PERIOD_SCHEMES].find_one({"_id": month}, session=session)
    if pin is not None:
        return get_scheme(db, pin["scheme_version"], session)
    schemes = all_schemes(db, session)
    if not schemes:
        ensure_default_scheme(db, now or ev.utcnow(), session)
        schemes = all_schemes(db, session)
    return domain.scheme_in_force(schemes, month)


# -- directory ---------------------------------------------------------------

def directory_entry(db, kind, entry_id, session=None):
    if not entry_id:
        return None
    return db[DIRECTORY].find_one({"_id": f"{kind}:{entry_id}"},
                                  session=session)


def directory_names(db, kind):
    return {d["id"]: d.get("name") or d["id"]
            for d in db[DIRECTORY].find({"kind": kind})}


def _as_stored(moment):
    """A time as the store keeps it (BSON: milliseconds), so a batch
    compares times in memory exactly as one event at a time would compare
    them with what it reads back."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def apply_directory_changes(uow, envelopes):
    """Directory changes (member, branch, unit entries), in order, in a
    constant number of statements: the newest record per entry (an older
    record arriving late changes nothing) is found in memory
    (across the batch and the stored entries) and written once; for each
    member, the first record applied that names a branch (a unit) fills
    the contributions that arrived without one, as it would one event at
    a time. Returns the change to the cards."""
    changes = CardChanges()
    envelopes = [e for e in envelopes if e["data"]["kind"] != "recipient"]
    if not envelopes:
        return changes
    stored = {entry["_id"]: entry for entry in by_ids(
        uow.db, DIRECTORY, [f"{e['data']['kind']}:{e['data']['id']}"
                            for e in envelopes], session=uow.session)}
    latest = dict(stored)
    written = {}
    fillers = {}  # (member id, field) -> value, first applied wins
    for envelope in envelopes:
        data = envelope["data"]
        kind, entry_id = data["kind"], data["id"]
        key = f"{kind}:{entry_id}"
        occurred = _as_stored(envelope["occurred_at"])
        current = latest.get(key)
        if current is not None and current["as_of"] > occurred:
            continue
        record = data.get("record") or {}
        doc = {"_id": key, "kind": kind, "id": entry_id, "as_of": occurred,
               "event_id": envelope["event_id"]}
        doc.update({f: record[f] for f in DIRECTORY_FIELDS if f in record})
        latest[key] = written[key] = doc
        if kind == "member":
            for field in ("branch_id", "unit_id"):
                if doc.get(field):
                    fillers.setdefault((entry_id, field), doc[field])
    if not written:
        return changes
    uow.col(DIRECTORY).bulk_write(
        [ReplaceOne({"_id": key}, doc, upsert=True)
         for key, doc in sorted(written.items())], session=uow.session)
    members = sorted({key.split(":", 1)[1] for key, doc in written.items()
                      if doc["kind"] == "member"})
    _lock(uow, [f"member:{m}" for m in members])
    return changes.merge(_fill_attributions(uow, fillers))


def _fill_attributions(uow, fillers):
    """Set the branch (unit) of members' contributions stored without one:
    ``fillers`` = {(member id, field): value}. One read per field (per
    ``IN_CHUNK`` members), one write for all."""
    found = {}
    for field in ("branch_id", "unit_id"):
        for contribution in find_in(
                uow.col(CONTRIBUTIONS), "members",
                [m for m, f in fillers if f == field], session=uow.session,
                extra={field: None}):
            if contribution["kind"] != "party_activity":
                found.setdefault(contribution["_id"], contribution)
    changes = CardChanges()
    writes = []
    for cid, contribution in sorted(found.items()):
        patch = {}
        for field in ("branch_id", "unit_id"):
            if contribution.get(field) is not None:
                continue
            value = next((fillers[(m, field)]
                          for m in contribution.get("members") or []
                          if (m, field) in fillers), None)
            if value:
                patch[field] = value
        if not patch:
            continue
        writes.append(UpdateOne({"_id": cid}, {"$set": patch}))
        changes.replace(contribution, dict(contribution, **patch))
    if writes:
        uow.col(CONTRIBUTIONS).bulk_write(writes, session=uow.session)
    return changes


ATTRIBUTION_LOCKS = "attribution_locks"


def _lock(uow, keys):
    """Make two transactions that each read what the other writes (a
    contribution missing its member's directory entry and the entry's
    arrival; a rating and the appeal about it) write one common document,
    so they conflict and the later one re-runs seeing the other (no write
    skew under snapshot isolation). One statement for all ``keys``."""
    if not keys:
        return
    uow.col(ATTRIBUTION_LOCKS).bulk_write(
        [UpdateOne({"_id": key}, {"$inc": {"writes": 1}}, upsert=True)
         for key in sorted(set(keys))], session=uow.session)


def by_ids(db, collection, ids, projection=None, session=None):
    """The documents with these ``_id``s, read in a few statements
    (``IN_CHUNK`` ids each: see ``find_in``)."""
    return list(find_in(db[collection], "_id", ids, projection, session))


def _directory(uow, kind, ids):
    """Directory entries of one kind by id."""
    return {entry["id"]: entry for entry in by_ids(
        uow.db, DIRECTORY, [f"{kind}:{i}" for i in ids if i],
        session=uow.session)}


def _attributions(uow, wanted):
    """(branch_id, unit_id) for each (member_id, branch_id, unit_id): the
    ids given, completed from the member's directory entry, then the
    branch's, read for all at once. A member not in the directory yet is
    locked (his entry's arrival then conflicts)."""
    member_ids = {m for m, b, u in wanted if m and not (b and u)}
    members = _directory(uow, "member", member_ids)
    missing = member_ids - set(members)
    if missing:
        _lock(uow, [f"member:{m}" for m in missing])
    places = []
    for member_id, branch_id, unit_id in wanted:
        member = members.get(member_id)
        if member is not None:
            branch_id = branch_id or member.get("branch_id")
            unit_id = unit_id or member.get("unit_id")
        places.append((branch_id, unit_id))
    branches = _directory(uow, "branch", {b for b, u in places if not u})
    return [(b, u) if u or not b else (b, branches.get(b, {}).get("unit_id"))
            for b, u in places]


def _attribution(uow, member_id, branch_id=None, unit_id=None):
    return _attributions(uow, [(member_id, branch_id, unit_id)])[0]


# -- contributions -----------------------------------------------------------

def card_keys(contribution):
    """The monthly cards a contribution feeds."""
    month = contribution["month"]
    keys = {("member", m, month) for m in contribution.get("members") or []
            if m}
    if contribution.get("branch_id"):
        keys.add(("branch", contribution["branch_id"], month))
    if contribution.get("unit_id"):
        keys.add(("unit", contribution["unit_id"], month))
    return keys


class CardChanges:
    """What a transaction's contribution changes do to the monthly cards
    they feed: per card key, the change of its sums and of its number of
    contributions. Cards are kept by these running sums (``apply_changes``),
    never re-read from all their contributions."""

    def __init__(self):
        self.sums = {}
        self.counts = {}
        self.sources = {}

    def replace(self, old, new):
        """Contribution ``old`` (None: there was none) became ``new``."""
        old_keys = card_keys(old) if old else set()
        new_keys = card_keys(new) if new else set()
        for key in old_keys | new_keys:
            subject_type, subject_id, _ = key
            before = domain.contribution_figures(
                old, subject_type, subject_id) if key in old_keys else {}
            after = domain.contribution_figures(
                new, subject_type, subject_id) if key in new_keys else {}
            domain.add_sums(self.sums.setdefault(key, {}),
                            domain.figures_change(before, after))
            self.counts[key] = self.counts.get(key, 0) + (
                (key in new_keys) - (key in old_keys))
            self.sources.setdefault(key, []).append((new or old)["_id"])
        return self

    def keys(self):
        return sorted(self.sums)

    def merge(self, other):
        """Add another ``CardChanges`` to this one."""
        for key, sums in other.sums.items():
            domain.add_sums(self.sums.setdefault(key, {}), sums)
            self.counts[key] = self.counts.get(key, 0) + other.counts[key]
            self.sources.setdefault(key, []).extend(other.sources[key])
        return self


def _existing(uow, ids):
    """The ids of stored contributions among ``ids``."""
    return {c["_id"] for c in by_ids(uow.db, CONTRIBUTIONS, ids, {"_id": 1},
                                      session=uow.session)}


def _insert_new(uow, docs):
    """Insert the contributions not stored yet (checked first: a
    duplicate-key error would abort the whole transaction) in one
    statement. Returns the change to the cards."""
    docs = list({doc["_id"]: doc for doc in docs}.values())
    existing = _existing(uow, [doc["_id"] for doc in docs])
    fresh = [doc for doc in docs if doc["_id"] not in existing]
    changes = CardChanges()
    if fresh:
        uow.col(CONTRIBUTIONS).insert_many(fresh, session=uow.session)
        for doc in fresh:
            changes.replace(None, doc)
    return changes


def add_activities(uow, batch):
    """Service activities, ``batch`` = [(envelope, month)]: a constant
    number of statements whatever its size."""
    places = _attributions(uow, [
        (e["data"]["member_id"], e["data"].get("branch_id"),
         e["data"].get("unit_id")) for e, _ in batch])
    return _insert_new(uow, [{
        "_id": f"activity:{envelope['event_id']}", "kind": "activity",
        "event_ids": [envelope["event_id"]],
        "activity_id": envelope["data"].get("activity_id"),
        "category": envelope["data"].get("category"),
        "campaign_id": envelope["data"].get("campaign_id"),
        "members": [envelope["data"]["member_id"]], "branch_id": branch_id,
        "unit_id": unit_id, "month": month,
        "figures": domain.activity_figures(envelope["data"])}
        for (envelope, month), (branch_id, unit_id) in zip(batch, places)])


def add_party_activities(uow, batch):
    """Party activities, ``batch`` = [(envelope, month)]: a constant number
    of statements whatever its size."""
    branches = _directory(uow, "branch", {
        e["data"]["branch_id"] for e, _ in batch
        if not e["data"].get("unit_id")})
    docs = []
    for envelope, month in batch:
        data = envelope["data"]
        attendees = sorted(set(data.get("attendees") or []))
        expected = sorted(set(data.get("expected") or []))
        unit_id = data.get("unit_id") or branches.get(
            data["branch_id"], {}).get("unit_id")
        docs.append({
            "_id": f"party:{envelope['event_id']}", "kind": "party_activity",
            "event_ids": [envelope["event_id"]],
            "activity_id": data.get("activity_id"),
            "activity_kind": data["kind"], "attendees": attendees,
            "expected": expected,
            "members": sorted(set(attendees) | set(expected)),
            "branch_id": data["branch_id"], "unit_id": unit_id,
            "month": month})
    return _insert_new(uow, docs)


def add_ratings(uow, batch):
    """Rating contributions, ``batch`` = [(envelope, month)] in order (a
    rating repeated keeps its first event; an upheld appeal or a closed
    rectification recorded before it is applied to it): a constant number
    of statements whatever its size."""
    first = {}
    for envelope, month in batch:
        first.setdefault(envelope["data"]["rating_id"], (envelope, month))
    if not first:
        return CardChanges()
    rating_ids = sorted(first)
    _lock(uow, [f"rating:{r}" for r in rating_ids])
    marks = {}
    for mark in find_in(uow.col(CONTRIBUTIONS), "rating_id", rating_ids,
                        session=uow.session):
        if mark["kind"] in ("appeal", "rectification"):
            marks.setdefault(mark["rating_id"], []).append(mark)
    batch = list(first.values())
    places = _attributions(uow, [
        (e["data"]["member_id"], e["data"].get("branch_id"),
         e["data"].get("unit_id")) for e, _ in batch])
    return _insert_new(uow, [
        _rating_doc(envelope, month, marks.get(envelope["data"]["rating_id"],
                                               []), place)
        for (envelope, month), place in zip(batch, places)])


def _rating_doc(envelope, month, marks, place):
    data = envelope["data"]
    excluded_by = [m["event_ids"][0] for m in marks
                   if m["kind"] == "appeal" and m.get("upheld")]
    rectified_by = [m["event_ids"][0] for m in marks
                    if m["kind"] == "rectification"]
    branch_id, unit_id = place
    return {
        "_id": f"rating:{data['rating_id']}", "kind": "rating",
        "event_ids": [envelope["event_id"]], "rating_id": data["rating_id"],
        "rating": data["rating"],
        "members": [data["member_id"]] if data["member_id"] else [],
        "branch_id": branch_id,
        "unit_id": unit_id, "month": month,
        "excluded": bool(excluded_by) or bool(data.get("excluded")),
        "excluded_by": excluded_by,
        "rectified_by": rectified_by,
        "figures": domain.rating_figures(data["rating"],
                                         bool(rectified_by))}


def add_rating_mark(uow, envelope, kind, month):
    """An appeal decision or a closed rectification about a rating: stored
    as its own contribution and applied to the rating (now or when the
    rating arrives)."""
    data = envelope["data"]
    rating_id = data["rating_id"]
    event_id = envelope["event_id"]
    doc = {"_id": f"{kind}:{event_id}", "kind": kind,
           "event_ids": [event_id], "rating_id": rating_id,
           "members": [], "branch_id": None, "unit_id": None, "month": month,
           "figures": {}}
    if kind == "appeal":
        doc.update(upheld=bool(data.get("upheld")),
                   appeal_id=data.get("appeal_id"), reason=data.get("reason"))
    else:
        doc.update(rectification_id=data.get("rectification_id"),
                   status=data.get("status"))
    changes = CardChanges()
    if doc["_id"] in _existing(uow, [doc["_id"]]):
        return changes
    uow.col(CONTRIBUTIONS).insert_one(doc, session=uow.session)
    _lock(uow, [f"rating:{rating_id}"])
    rating = uow.col(CONTRIBUTIONS).find_one({"_id": f"rating:{rating_id}"},
                                             session=uow.session)
    if rating is None:
        return changes
    if kind == "appeal" and doc["upheld"]:
        change = {"$set": {"excluded": True},
                  "$addToSet": {"excluded_by": event_id}}
        updated = dict(rating, excluded=True)
        marks = "excluded_by"
    elif kind == "rectification":
        figures = domain.rating_figures(rating["rating"], True)
        change = {"$set": {"figures": figures},
                  "$addToSet": {"rectified_by": event_id}}
        updated = dict(rating, figures=figures)
        marks = "rectified_by"
    else:
        return changes
    updated[marks] = list(rating.get(marks) or [])
    if event_id not in updated[marks]:
        updated[marks].append(event_id)
    uow.col(CONTRIBUTIONS).update_one({"_id": rating["_id"]}, change,
                                      session=uow.session)
    return changes.replace(rating, updated)


def _demand_doc(envelope, month, branch_id, unit_id):
    data = envelope["data"]
    member_id = data.get("member_id")
    return {"_id": f"demand:{data['demand_id']}", "kind": "demand",
            "event_ids": [envelope["event_id"]],
            "event_id": envelope["event_id"],
            "as_of": envelope["occurred_at"],
            "demand_id": data["demand_id"], "category": data.get("category"),
            "status": data.get("status"),
            "on_time_response": data.get("on_time_response"),
            "on_time_resolution": data.get("on_time_resolution"),
            "members": [member_id] if member_id else [],
            "branch_id": branch_id, "unit_id": unit_id, "month": month,
            "figures": domain.demand_figures(data)}


def _kpi_key(data):
    return (f"kpi:{data['subject_type']}:{data['subject_id']}:"
            f"{data['period']}:{data['indicator']}")


def _kpi_doc(envelope, place):
    """The contribution of a KPI value; ``place`` = (branch, unit) of a
    member's value."""
    data = envelope["data"]
    subject_type, subject_id = data["subject_type"], data["subject_id"]
    if subject_type == "member":
        members = [subject_id]
        branch_id, unit_id = place
    else:
        members, branch_id, unit_id = [], None, subject_id
    return {"_id": _kpi_key(data), "kind": "kpi",
            "event_ids": [envelope["event_id"]],
            "event_id": envelope["event_id"],
            "as_of": envelope["occurred_at"],
            "kpi_subject_type": subject_type, "indicator": data["indicator"],
            "value": data["value"], "members": members,
            "branch_id": branch_id, "unit_id": unit_id,
            "month": data["period"], "figures": domain.kpi_figures(
                data["value"])}


def _apply_newest(uow, states):
    """Newest state wins (by the event's occurred_at; a strictly older
    event is stale), for a batch in order, in a constant number of
    statements. ``states`` = [(envelope, doc)]: the contribution each event
    would write (``_id`` its subject's key). Per key, the newest state of
    the batch and the stored one is found in memory and written once, with
    every event id behind it; an event older than the state it meets adds
    only its id. Returns the change to the cards."""
    stored = {c["_id"]: c for c in by_ids(
        uow.db, CONTRIBUTIONS, [doc["_id"] for _, doc in states],
        session=uow.session)}
    latest = dict(stored)
    event_ids = {key: set(c.get("event_ids", [])) for key, c in stored.items()}
    replaced = set()
    for envelope, doc in states:
        key = doc["_id"]
        event_ids.setdefault(key, set()).add(envelope["event_id"])
        occurred = _as_stored(envelope["occurred_at"])
        current = latest.get(key)
        if current is not None and current["as_of"] > occurred:
            continue
        latest[key] = dict(doc, as_of=occurred)
        replaced.add(key)
    changes = CardChanges()
    writes = []
    for key in sorted(event_ids):
        ids = sorted(event_ids[key])
        if key in replaced:
            doc = dict(latest[key], event_ids=ids)
            writes.append(ReplaceOne({"_id": key}, doc, upsert=True))
            changes.replace(stored.get(key), doc)
        elif ids != stored[key].get("event_ids"):
            writes.append(UpdateOne({"_id": key},
                                    {"$set": {"event_ids": ids}}))
    if writes:
        uow.col(CONTRIBUTIONS).bulk_write(writes, session=uow.session)
    return changes


def apply_demands(uow, batch):
    """Demand contributions (the newest state of each demand),
    ``batch`` = [(envelope, month)] in order: a constant number of
    statements whatever its size."""
    places = _attributions(uow, [
        (e["data"].get("member_id"), None, e["data"].get("owner_unit_id"))
        for e, _ in batch])
    return _apply_newest(uow, [
        (envelope, _demand_doc(envelope, month, branch_id, unit_id))
        for (envelope, month), (branch_id, unit_id) in zip(batch, places)])


def apply_kpis(uow, envelopes):
    """KPI contributions (the newest value of each subject, indicator and
    period), in order: a constant number of statements whatever its
    size."""
    members = [e["data"]["subject_id"] for e in envelopes
               if e["data"]["subject_type"] == "member"]
    places = dict(zip(members, _attributions(
        uow, [(m, None, None) for m in members])))
    return _apply_newest(uow, [
        (envelope, _kpi_doc(envelope, places.get(
            envelope["data"]["subject_id"]))) for envelope in envelopes])


SUBJECT_FIELD = {"member": "members", "branch": "branch_id",
                 "unit": "unit_id"}


def contributions_of(db, subject_type, subject_id, months, session=None):
    query = {SUBJECT_FIELD[subject_type]: subject_id,
             "month": months[0] if len(months) == 1 else {"$in": months}}
    return list(db[CONTRIBUTIONS].find(query, session=session))


# -- scorecards --------------------------------------------------------------

def card_id(subject_type, subject_id, month):
    return f"{subject_type}:{subject_id}:{month}"


def schemes_for_months(db, months, session=None, now=None):
    """``scheme_for_month`` of several months in two statements."""
    months = sorted(set(months))
    pins = {pin["_id"]: pin["scheme_version"] for pin in db[
        PERIOD_SCHEMES].find({"_id": {"$in": months}}, session=session)}
    schemes = all_schemes(db, session)
    if not schemes:
        ensure_default_scheme(db, now or ev.utcnow(), session)
        schemes = all_schemes(db, session)
    versions = {scheme["version"]: scheme for scheme in schemes}
    found = {}
    for month in months:
        if month in pins:
            found[month] = versions.get(pins[month]) or get_scheme(
                db, pins[month], session)
        else:
            found[month] = domain.scheme_in_force(schemes, month)
    return found


def card_ids(subject_type, subject_id, months):
    return [card_id(subject_type, subject_id, month) for month in months]


def monthly_card(key, sums, count, scheme):
    """A monthly card as stored: its sums scored under ``scheme``, with
    what rankings read (total, grade, rank key, each group's score). The
    metrics, indicators and items follow from the sums and the scheme
    (``card_details``): not stored, a card is a quarter of the bytes to
    write on every change."""
    subject_type, subject_id, month = key
    result = domain.scorecard(sums, scheme)
    return {"_id": card_id(*key), "subject_type": subject_type,
            "subject_id": subject_id, "period": month,
            "sums": result["sums"],
            "groups": {group: {"score": value["score"]}
                       for group, value in result["groups"].items()},
            "base": result["base"], "total": result["total"],
            "grade": result["grade"], "rank_key": result["rank_key"],
            "scheme_version": scheme["version"],
            "contribution_count": count}


def card_details(card, scheme):
    """A stored monthly card with its metrics, indicators and items, scored
    from its sums under ``scheme`` (the version it was scored under: the
    same total and grade)."""
    return dict(card, **domain.scorecard(card["sums"], scheme))


CHANGED_BY_LIMIT = 500


def _store_cards(uow, cards, stored, now, sources=None):
    """Write the cards that changed (one statement) and emit
    ``scorecard.updated`` for each, with the ids of the contributions that
    changed it (``changed_by``, at most ``CHANGED_BY_LIMIT``; none on a
    re-scoring). Returns the cards written."""
    written = []
    for card in cards:
        current = stored.get(card["_id"])
        if current is not None and all(current.get(k) == v
                                       for k, v in card.items()):
            continue
        card["updated_at"] = now
        written.append(card)
        uow.emit(ev.SCORECARD_UPDATED, {
            "subject_type": card["subject_type"],
            "subject_id": card["subject_id"], "period": card["period"],
            "total": card["total"], "grade": card["grade"],
            "scheme_version": card["scheme_version"],
            "contribution_count": card["contribution_count"],
            "changed_by": (sources or {}).get(
                (card["subject_type"], card["subject_id"], card["period"]),
                [])[:CHANGED_BY_LIMIT]})
    if written:
        uow.col(SCORECARDS).bulk_write(
            [ReplaceOne({"_id": card["_id"]}, card, upsert=True)
             for card in written], session=uow.session)
    return written


def _stored_count(card):
    if "contribution_count" in card:
        return card["contribution_count"]
    return len(card.get("contribution_ids") or [])  # cards stored before


def apply_changes(uow, changes, now):
    """Add ``changes`` (``CardChanges``) to the monthly cards they touch:
    the cards read at once (``by_ids``), the schemes in two statements, the
    cards written in one; each card is scored again from its new sums. The
    reads are inside the transaction, so two transactions changing one card
    conflict and the later re-runs (the sums stay exact). Returns the
    cards."""
    keys = changes.keys()
    if not keys:
        return []
    stored = {card["_id"]: card for card in by_ids(
        uow.db, SCORECARDS, [card_id(*key) for key in keys],
        session=uow.session)}
    schemes = schemes_for_months(uow.db, [key[2] for key in keys],
                                 uow.session, now)
    cards = []
    for key in keys:
        current = stored.get(card_id(*key))
        sums, count = domain.zero_sums(), 0
        if current is not None:
            sums.update(current.get("sums") or {})
            count = _stored_count(current)
        domain.add_sums(sums, changes.sums[key])
        cards.append(monthly_card(key, sums, count + changes.counts[key],
                           schemes[key[2]]))
    _store_cards(uow, cards, stored, now, changes.sources)
    return cards


def rescore_month(uow, month, version, now):
    """Pin a month to a scheme version and score every card of it again
    from the stored contributions (replay; equal to live scoring)."""
    scheme = get_scheme(uow.db, version, uow.session)
    uow.col(PERIOD_SCHEMES).replace_one(
        {"_id": month}, {"_id": month, "scheme_version": scheme["version"],
                         "pinned_at": now}, upsert=True, session=uow.session)
    by_key = {}
    for contribution in uow.col(CONTRIBUTIONS).find({"month": month},
                                                    session=uow.session):
        for key in card_keys(contribution):
            by_key.setdefault(key, []).append(contribution)
    stored = {}
    for subject_type in domain.SUBJECT_TYPES:
        for card in uow.col(SCORECARDS).find(
                {"subject_type": subject_type, "period": month},
                session=uow.session):
            stored[card["_id"]] = card
            by_key.setdefault((subject_type, card["subject_id"], month), [])
    cards = [monthly_card(key, domain.sums_of(by_key[key], key[0], key[1]),
                   len(by_key[key]), scheme) for key in sorted(by_key)]
    _store_cards(uow, cards, stored, now)
    return len(cards)


# What a ranking reads of each monthly card (a card scored under another
# version, or months to add up, need the sums too).
RANKING_FIELDS = ("subject_type", "subject_id", "period", "scheme_version",
                  "total", "grade", "rank_key",
                  *(f"groups.{g}.score" for g in domain.GROUPS))


def monthly_cards(db, subject_type, months, fields=None):
    projection = dict.fromkeys(fields, 1) if fields else None
    return list(db[SCORECARDS].find(
        {"subject_type": subject_type,
         "period": months[0] if len(months) == 1 else {"$in": months}},
        projection))


def _period_card(cards, scheme, subject_type, subject_id, period, months,
                 details=True):
    """Score a subject's monthly sums for a period under ``scheme``. A
    month's stored card is used as is when it was scored under that same
    version (always the case after live scoring or re-scoring) and only
    what it stores is asked for (not ``details``); otherwise (a newer
    version came into force since, or its details are shown) its sums are
    scored again."""
    if len(months) == 1 and cards[0].get("scheme_version") == \
            scheme["version"]:
        return card_details(cards[0], scheme) if details else cards[0]
    sums = domain.zero_sums()
    for card in sorted(cards, key=lambda c: c["period"]):
        domain.add_sums(sums, card["sums"])
    card = domain.scorecard(sums, scheme, months=len(months))
    return dict(card, subject_type=subject_type, subject_id=subject_id,
                period=period)


def period_cards(db, subject_type, period, fields=None, scheme=None):
    """Cards of every subject of a type for a month, quarter or year: the
    months' sums added up and scored under the scheme of the period's first
    month, so one ranking never mixes scheme versions. ``fields``: read
    only these of each stored card (and the sums where they are needed)."""
    months = domain.months_of(period)
    scheme = scheme or scheme_for_month(db, months[0])
    if fields and len(months) > 1:
        fields = (*fields, "sums")
    by_subject = {}
    for card in monthly_cards(db, subject_type, months, fields):
        by_subject.setdefault(card["subject_id"], []).append(card)
    if fields and len(months) == 1:
        stale = [cards[0]["_id"] for cards in by_subject.values()
                 if cards[0].get("scheme_version") != scheme["version"]]
        for card in by_ids(db, SCORECARDS, stale):
            by_subject[card["subject_id"]] = [card]
    return [_period_card(cards, scheme, subject_type, subject_id, period,
                         months, details=not fields)
            for subject_id, cards in sorted(by_subject.items())]


def subject_card(db, subject_type, subject_id, period):
    """One subject's card for a period, with its traced contributions."""
    months = domain.months_of(period)
    contributions = contributions_of(db, subject_type, subject_id, months)
    if not contributions:
        raise NotFound("该考评对象在此期间没有考评数据")
    cards = by_ids(db, SCORECARDS, card_ids(subject_type, subject_id,
                                            months))
    if not cards:
        raise NotFound("该考评对象在此期间没有考评数据")
    card = _period_card(cards, scheme_for_month(db, months[0]), subject_type,
                        subject_id, period, months)
    sources = domain.sources_by_metric(contributions, subject_type,
                                       subject_id)
    card = dict(card)
    for group in card["groups"].values():
        for indicator in group["indicators"]:
            indicator["sources"] = sources.get(indicator["metric"], [])
    card["contributions"] = [
        dict(contribution_view(c), figures=domain.contribution_figures(
            c, subject_type, subject_id))
        for c in sorted(contributions, key=lambda c: str(c["_id"]))]
    return card


def contribution_view(contribution):
    view = {k: v for k, v in contribution.items()
            if k not in ("members", "as_of", "attendees", "expected")}
    view["id"] = view.pop("_id")
    if contribution.get("kind") == "party_activity":
        view["attendee_count"] = len(contribution.get("attendees") or [])
        view["expected_count"] = len(contribution.get("expected") or [])
    return view


def member_scorecard(db, member_id):
    """The member's running scorecard and monthly cards, each listing its
    contributions (the walking skeleton reads this)."""
    contributions = list(db[CONTRIBUTIONS].find({"members": member_id}))
    # a member has cards for the months of the member's contributions
    cards = sorted(by_ids(db, SCORECARDS, card_ids(
        "member", member_id, {c["month"] for c in contributions})),
        key=lambda card: card["period"])
    by_month = {}
    for c in sorted(contributions, key=lambda c: str(c["_id"])):
        by_month.setdefault(c["month"], []).append(c)
    periods = []
    totals = {k: 0 for k in domain.SUMS}
    for card in cards:
        sums = card.get("sums", {})
        domain.add_sums(totals, sums)
        periods.append({
            "period": card["period"],
            "activity_count": sums.get("activity_count", 0),
            "rating_count": sums.get("rating_count", 0),
            "average_satisfaction": domain.average(
                sums.get("rating_sum", 0), sums.get("rating_count", 0)),
            "total": card.get("total"), "grade": card.get("grade"),
            "scheme_version": card.get("scheme_version"),
            "contributions": [
                {"event_id": c.get("event_id") or c["event_ids"][-1],
                 "event_ids": c.get("event_ids", []), "kind": c["kind"],
                 "excluded": bool(c.get("excluded")),
                 **domain.contribution_figures(c, "member", member_id)}
                for c in by_month.get(card["period"], [])]})
    return {"member_id": member_id,
            "activity_count": totals["activity_count"],
            "rating_count": totals["rating_count"],
            "average_satisfaction": domain.average(totals["rating_sum"],
                                                   totals["rating_count"]),
            "periods": periods}


# -- rankings ----------------------------------------------------------------

def ranking(db, subject_type, period, cards=None, scheme=None):
    """Ranked and graded cards (with quota cut-offs) for a period. Reads
    only what ranking needs of each card, unless given ``cards``."""
    scheme = scheme or scheme_for_month(db, domain.months_of(period)[0])
    if cards is None:
        cards = period_cards(db, subject_type, period, RANKING_FIELDS,
                             scheme)
    names = directory_names(db, subject_type)
    return {"period": period, "subject_type": subject_type,
            "scheme_version": scheme["version"],
            "tie_rule": ("总分高者在前；总分相同比满意度得分，再比四服务得分；"
                         "三者均相同者并列同一名次"),
            "quota_rule": ("等次名额按 floor(比例×参评数) 计；并列者整体跨越名额线时"
                           "整体顺延至下一等次"),
            "quotas": scheme.get("quotas") or {},
            "entries": ranking_entries(cards, scheme, names)}


def ranking_entries(cards, scheme, names):
    """The ranking's rows, in rank order: ranked and graded as columns
    (``domain.rank_order``, ``domain.quota_grades``), the cards only read;
    cards without the scored shape are ranked and graded in place."""
    columns = domain.rank_order(cards)
    if columns is None:
        ranked = domain.rank(cards)
        graded = domain.apply_quotas(ranked, scheme["bands"],
                                     scheme.get("quotas") or {})
        return [_entry(c, c["rank"], c["grade"], c["band_grade"],
                       c["demoted"], c.get("demotion_reason"), names)
                for c in graded]
    grades = domain.quota_grades(columns.totals, columns.ranks,
                                 scheme["bands"], scheme.get("quotas") or {})
    reasons = dict(zip(grades.demoted, grades.reasons))
    ranks = columns.ranks.tolist()
    return [_entry(columns.cards[i], ranks[i], grades.grade[i],
                   grades.band_grade[i], i in reasons, reasons.get(i), names)
            for i in columns.order.tolist()]


def _entry(card, rank, grade, band_grade, demoted, reason, names):
    return {"rank": rank, "subject_id": card["subject_id"],
            "name": names.get(card["subject_id"], card["subject_id"]),
            "total": card["total"], "grade": grade, "band_grade": band_grade,
            "demoted": demoted, "demotion_reason": reason,
            "groups": {g: v["score"] for g, v in card["groups"].items()}}


def three_rates(db, month):
    """Units' three rates for a month, ranked (接诉即办)."""
    scheme = scheme_for_month(db, month)
    names = directory_names(db, "unit")
    rows = []
    for card in monthly_cards(db, "unit", [month], ("subject_id", "sums")):
        rates = domain.three_rates(card["sums"], scheme["three_rates"])
        if rates["composite"] is None:
            continue
        rows.append(dict(rates, subject_id=card["subject_id"],
                         name=names.get(card["subject_id"],
                                        card["subject_id"])))
    ranked = domain.rank(rows, key=domain.rates_key)
    return {"period": month, "subject_type": "three_rates",
            "weights": scheme["three_rates"],
            "scheme_version": scheme["version"],
            "tie_rule": "综合得分高者在前；相同比解决率，再比响应率；均相同者并列",
            "entries": ranked}


def publish_ranking(uow, board, now, published_by):
    doc = dict(board, _id=ev.new_id(), published_at=now,
               published_by=published_by)
    uow.col(RANKINGS).insert_one(doc, session=uow.session)
    uow.emit(ev.RANKING_PUBLISHED, {
        "ranking_id": doc["_id"], "period": board["period"],
        "subject_type": board["subject_type"],
        "scheme_version": board.get("scheme_version"),
        "entries": [{k: e.get(k) for k in ("rank", "subject_id", "name",
                                           "total", "composite", "grade")
                     if k in e} for e in board["entries"]]})
    return doc


# -- the branch ladder -------------------------------------------------------

def get_branch(db, branch_id):
    branch = db[BRANCHES].find_one({"_id": branch_id})
    if branch is None:
        entry = directory_entry(db, "branch", branch_id)
        if entry is None:
            raise NotFound("未找到该党支部")
        branch = {"_id": branch_id, "rung": None, "history": []}
    return branch


def evaluate_ladder(uow, period, now):
    """Place every branch assessed in the period on the ladder; record and
    announce each change with its reason."""
    scheme = scheme_for_month(uow.db, domain.months_of(period)[0])
    listed = period_cards(uow.db, "branch", period, scheme=scheme)
    cards = {c["subject_id"]: c for c in listed}
    board = ranking(uow.db, "branch", period, cards=listed, scheme=scheme)
    rungs = {b["_id"]: b.get("rung") for b in by_ids(
        uow.db, BRANCHES, cards, {"rung": 1}, session=uow.session)}
    changes = []
    writes = []
    for entry in board["entries"]:
        card = dict(cards[entry["subject_id"]], grade=entry["grade"])
        rung, reason = domain.ladder_rung(card, scheme["ladder"])
        branch_id = entry["subject_id"]
        previous = rungs.get(branch_id)
        if previous == rung:
            continue
        change = {"from": previous, "to": rung, "period": period,
                  "reason": reason, "scheme_version": scheme["version"],
                  "at": now}
        writes.append(UpdateOne(
            {"_id": branch_id},
            {"$set": {"rung": rung, "rung_label": domain.rung_label(rung),
                      "reason": reason, "period": period, "updated_at": now},
             "$push": {"history": change}},
            upsert=True))
        uow.emit(ev.BRANCH_RUNG_CHANGED, {
            "branch_id": branch_id, "from": previous, "to": rung,
            "from_label": domain.rung_label(previous),
            "to_label": domain.rung_label(rung), "period": period,
            "reason": reason, "scheme_version": scheme["version"]})
        changes.append(dict(change, branch_id=branch_id))
    if writes:
        uow.col(BRANCHES).bulk_write(writes, session=uow.session)
    return changes


# -- results that are used ---------------------------------------------------

def secretary_reviews(db, period, boards):
    """One 述职评议 entry per branch: the branch card, its rank and grade,
    its rung, and the secretary's own card when known."""
    by_type = {b["subject_type"]: b for b in boards}
    branch_board = by_type.get("branch") or ranking(db, "branch", period)
    member_board = by_type.get("member") or ranking(db, "member", period)
    members = {e["subject_id"]: e for e in member_board["entries"]}
    cards = {c["subject_id"]: c for c in period_cards(db, "branch", period)}
    reviews = []
    for entry in branch_board["entries"]:
        branch_id = entry["subject_id"]
        info = directory_entry(db, "branch", branch_id) or {}
        secretary_id = info.get("secretary_id") or info.get(
            "secretary_member_id")
        secretary = directory_entry(db, "member", secretary_id) or {}
        rung = (db[BRANCHES].find_one({"_id": branch_id}) or {}).get("rung")
        reviews.append({
            "branch_id": branch_id, "branch_name": entry["name"],
            "secretary_id": secretary_id,
            "secretary_name": secretary.get("name") or info.get(
                "secretary_name") or "未登记",
            "period": period, "card": cards[branch_id],
            "rank": entry["rank"], "grade": entry["grade"],
            "rung_label": domain.rung_label(rung),
            "secretary_card": members.get(secretary_id)})
    return reviews


def trend(db, subject_type, subject_id, year):
    """(name, [(month, card or None)]) of a subject over a year."""
    months = domain.months_of(year)
    cards = {c["period"]: c for c in by_ids(
        db, SCORECARDS, card_ids(subject_type, subject_id, months))}
    entry = directory_entry(db, subject_type, subject_id) or {}
    return (entry.get("name") or subject_id,
            [(m, cards.get(m)) for m in months])
