"""Contributions and monthly scorecards as documents, as plain functions:
what each event stores (its contribution), which cards a contribution
feeds, what a change of contributions does to them (running sums), and a
card as stored and as shown. No I/O.

A monthly card keeps its sums and what rankings read (total, grade, rank
key, group scores); its metrics, indicators and items are scored from the
sums when it is shown (``card_details``). ``_id`` =
``subject_type:subject_id:month``; quarters and years are summed from
months.
"""

from services.assessment.domain import GROUPS
from services.assessment.scoring import domain
from services.assessment.storage import as_stored

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


def activity_doc(envelope, month, place):
    """The contribution of a service activity (``activity:<event id>``)."""
    branch_id, unit_id = place
    return {
        "_id": f"activity:{envelope['event_id']}", "kind": "activity",
        "event_ids": [envelope["event_id"]],
        "activity_id": envelope["data"].get("activity_id"),
        "category": envelope["data"].get("category"),
        "campaign_id": envelope["data"].get("campaign_id"),
        "members": [envelope["data"]["member_id"]], "branch_id": branch_id,
        "unit_id": unit_id, "month": month,
        "figures": domain.activity_figures(envelope["data"])}


def party_doc(envelope, month, branches):
    """The contribution of a Party activity (``party:<event id>``); its
    unit from the event, else from its branch's entry (``branches``)."""
    data = envelope["data"]
    attendees = sorted(set(data.get("attendees") or []))
    expected = sorted(set(data.get("expected") or []))
    unit_id = data.get("unit_id") or branches.get(
        data["branch_id"], {}).get("unit_id")
    return {
        "_id": f"party:{envelope['event_id']}", "kind": "party_activity",
        "event_ids": [envelope["event_id"]],
        "activity_id": data.get("activity_id"),
        "activity_kind": data["kind"], "attendees": attendees,
        "expected": expected,
        "members": sorted(set(attendees) | set(expected)),
        "branch_id": data["branch_id"], "unit_id": unit_id,
        "month": month}


def first_ratings(batch):
    """{rating id: (envelope, month)}: a rating repeated keeps its first
    event."""
    first = {}
    for envelope, month in batch:
        first.setdefault(envelope["data"]["rating_id"], (envelope, month))
    return first


def rating_doc(envelope, month, marks, place):
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


def rating_mark_doc(envelope, kind, month):
    """An appeal decision (``kind`` = "appeal") or a closed rectification
    ("rectification") about a rating, as its own contribution."""
    data = envelope["data"]
    event_id = envelope["event_id"]
    doc = {"_id": f"{kind}:{event_id}", "kind": kind,
           "event_ids": [event_id], "rating_id": data["rating_id"],
           "members": [], "branch_id": None, "unit_id": None, "month": month,
           "figures": {}}
    if kind == "appeal":
        doc.update(upheld=bool(data.get("upheld")),
                   appeal_id=data.get("appeal_id"), reason=data.get("reason"))
    else:
        doc.update(rectification_id=data.get("rectification_id"),
                   status=data.get("status"))
    return doc


def marked_rating(rating, mark):
    """(the change to store, the rating as it becomes) when ``mark`` changes
    ``rating``; None when it does not (a rejected appeal)."""
    event_id = mark["event_ids"][0]
    if mark["kind"] == "appeal" and mark["upheld"]:
        change = {"$set": {"excluded": True},
                  "$addToSet": {"excluded_by": event_id}}
        updated = dict(rating, excluded=True)
        marks = "excluded_by"
    elif mark["kind"] == "rectification":
        figures = domain.rating_figures(rating["rating"], True)
        change = {"$set": {"figures": figures},
                  "$addToSet": {"rectified_by": event_id}}
        updated = dict(rating, figures=figures)
        marks = "rectified_by"
    else:
        return None
    updated[marks] = list(rating.get(marks) or [])
    if event_id not in updated[marks]:
        updated[marks].append(event_id)
    return change, updated


def demand_doc(envelope, month, branch_id, unit_id):
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


def kpi_key(data):
    return (f"kpi:{data['subject_type']}:{data['subject_id']}:"
            f"{data['period']}:{data['indicator']}")


def kpi_doc(envelope, place):
    """The contribution of a KPI value; ``place`` = (branch, unit) of a
    member's value."""
    data = envelope["data"]
    subject_type, subject_id = data["subject_type"], data["subject_id"]
    if subject_type == "member":
        members = [subject_id]
        branch_id, unit_id = place
    else:
        members, branch_id, unit_id = [], None, subject_id
    return {"_id": kpi_key(data), "kind": "kpi",
            "event_ids": [envelope["event_id"]],
            "event_id": envelope["event_id"],
            "as_of": envelope["occurred_at"],
            "kpi_subject_type": subject_type, "indicator": data["indicator"],
            "value": data["value"], "members": members,
            "branch_id": branch_id, "unit_id": unit_id,
            "month": data["period"], "figures": domain.kpi_figures(
                data["value"])}


def newest_states(states, stored):
    """Newest state wins (by the event's occurred_at; a strictly older
    event is stale), for a batch in order. ``states`` = [(envelope, doc)]:
    the contribution each event would write (``_id`` its subject's key);
    ``stored``: the stored ones by key. Per key, the newest state of the
    batch and the stored one is found, with every event id behind it; an
    event older than the state it meets adds only its id. Returns
    (replaced, patched): the contributions to write whole, and {key:
    {"event_ids": ids}} for those whose ids alone changed."""
    latest = dict(stored)
    event_ids = {key: set(c.get("event_ids", [])) for key, c in stored.items()}
    replaced = set()
    for envelope, doc in states:
        key = doc["_id"]
        event_ids.setdefault(key, set()).add(envelope["event_id"])
        occurred = as_stored(envelope["occurred_at"])
        current = latest.get(key)
        if current is not None and current["as_of"] > occurred:
            continue
        latest[key] = dict(doc, as_of=occurred)
        replaced.add(key)
    docs, patched = [], {}
    for key in sorted(event_ids):
        ids = sorted(event_ids[key])
        if key in replaced:
            docs.append(dict(latest[key], event_ids=ids))
        elif ids != stored[key].get("event_ids"):
            patched[key] = {"event_ids": ids}
    return docs, patched


def attribution_patches(contributions, fillers):
    """The branch (unit) of members' contributions stored without one:
    ``fillers`` = {(member id, field): value}. Returns [(contribution,
    patch)] in id order, those with nothing to fill left out."""
    patches = []
    for cid, contribution in sorted(contributions.items()):
        patch = {}
        for field in ("branch_id", "unit_id"):
            if contribution.get(field) is not None:
                continue
            value = next((fillers[(m, field)]
                          for m in contribution.get("members") or []
                          if (m, field) in fillers), None)
            if value:
                patch[field] = value
        if patch:
            patches.append((contribution, patch))
    return patches


def contribution_view(contribution):
    view = {k: v for k, v in contribution.items()
            if k not in ("members", "as_of", "attendees", "expected")}
    view["id"] = view.pop("_id")
    if contribution.get("kind") == "party_activity":
        view["attendee_count"] = len(contribution.get("attendees") or [])
        view["expected_count"] = len(contribution.get("expected") or [])
    return view


# -- scorecards --------------------------------------------------------------

def card_id(subject_type, subject_id, month):
    return f"{subject_type}:{subject_id}:{month}"


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


def stored_count(card):
    if "contribution_count" in card:
        return card["contribution_count"]
    return len(card.get("contribution_ids") or [])  # cards stored before


def running_card(key, current, changes, scheme):
    """The monthly card ``key`` after ``changes`` (``CardChanges``): the
    ``current`` stored card's sums (None: a new card) plus the change,
    scored again under ``scheme``."""
    sums, count = domain.zero_sums(), 0
    if current is not None:
        sums.update(current.get("sums") or {})
        count = stored_count(current)
    domain.add_sums(sums, changes.sums[key])
    return monthly_card(key, sums, count + changes.counts[key], scheme)


def replayed_cards(contributions, keys, month, scheme):
    """Every card of ``month`` scored again from its contributions
    (re-scoring): the cards they feed, and ``keys`` (cards stored) too."""
    by_key = {}
    for contribution in contributions:
        for key in card_keys(contribution):
            by_key.setdefault(key, []).append(contribution)
    for key in keys:
        by_key.setdefault(key, [])
    return [monthly_card(key, domain.sums_of(by_key[key], key[0], key[1]),
                         len(by_key[key]), scheme) for key in sorted(by_key)]


CHANGED_BY_LIMIT = 500


def changed(card, current):
    """Whether ``card`` differs from the ``current`` stored one."""
    return current is None or not all(current.get(k) == v
                                      for k, v in card.items())


def updated_event(card, sources=None):
    """``scorecard.updated`` of a card, with the ids of the contributions
    that changed it (``changed_by``, at most ``CHANGED_BY_LIMIT``; none on
    a re-scoring)."""
    return {
        "subject_type": card["subject_type"],
        "subject_id": card["subject_id"], "period": card["period"],
        "total": card["total"], "grade": card["grade"],
        "scheme_version": card["scheme_version"],
        "contribution_count": card["contribution_count"],
        "changed_by": (sources or {}).get(
            (card["subject_type"], card["subject_id"], card["period"]),
            [])[:CHANGED_BY_LIMIT]}


# What a ranking reads of each monthly card (a card scored under another
# version, or months to add up, need the sums too).
RANKING_FIELDS = ("subject_type", "subject_id", "period", "scheme_version",
                  "total", "grade", "rank_key",
                  *(f"groups.{g}.score" for g in GROUPS))


def period_card(cards, scheme, subject_type, subject_id, period, months,
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
