"""Persistence of the assessment service (考评服务).

Collections:

* ``schemes``: versioned assessment schemes (考评方案), ``_id`` = version;
* ``contributions``: one document per event (or per demand, updated to its
  latest state), with the event ids behind it: every figure is traceable;
* ``scorecards``: monthly cards per member, branch and unit, recomputed
  from the contributions whenever one changes (so redelivery and reordering
  give the same card); quarters and years are summed from months;
* ``directory``: the copy of member → branch → unit kept from
  ``directory.changed``;
* ``period_schemes``: a month pinned to a scheme version by re-scoring;
* ``rankings``: published rankings; ``branches``: the branch ladder.
"""

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from sifuwu import events as ev
from sifuwu.errors import DomainError, NotFound
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
        IndexModel([("subject_type", ASCENDING), ("subject_id", ASCENDING),
                    ("period", ASCENDING)], name="by_subject"),
        IndexModel([("subject_type", ASCENDING), ("period", ASCENDING)],
                   name="by_period"),
    ],
    DIRECTORY: [IndexModel([("kind", ASCENDING), ("id", ASCENDING)],
                           name="by_kind")],
    RANKINGS: [IndexModel([("period", ASCENDING), ("subject_type", ASCENDING),
                           ("published_at", DESCENDING)], name="by_period")],
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


def apply_directory_change(uow, envelope):
    """Keep the newest record per entry; fill branch/unit of a member's
    contributions that arrived before the member did. Returns affected
    card keys."""
    data = envelope["data"]
    kind, entry_id = data["kind"], data["id"]
    if kind == "recipient":
        return set()
    record = data.get("record") or {}
    key = f"{kind}:{entry_id}"
    current = uow.col(DIRECTORY).find_one({"_id": key}, session=uow.session)
    occurred = envelope["occurred_at"]
    if current is not None and current["as_of"] > occurred:
        return set()
    doc = {"_id": key, "kind": kind, "id": entry_id, "as_of": occurred,
           "event_id": envelope["event_id"]}
    doc.update({f: record[f] for f in DIRECTORY_FIELDS if f in record})
    uow.col(DIRECTORY).replace_one({"_id": key}, doc, upsert=True,
                                   session=uow.session)
    affected = set()
    if kind == "member":
        _lock_member(uow, entry_id)
        for field in ("branch_id", "unit_id"):
            if not doc.get(field):
                continue
            query = {"members": entry_id, field: None}
            for contribution in uow.col(CONTRIBUTIONS).find(
                    query, session=uow.session):
                if contribution["kind"] == "party_activity":
                    continue
                uow.col(CONTRIBUTIONS).update_one(
                    {"_id": contribution["_id"]},
                    {"$set": {field: doc[field]}}, session=uow.session)
                contribution[field] = doc[field]
                affected |= card_keys(contribution)
    return affected


ATTRIBUTION_LOCKS = "attribution_locks"


def _lock(uow, key):
    """Make two transactions that each read what the other writes (a
    contribution missing its member's directory entry and the entry's
    arrival; a rating and the appeal about it) write one common document,
    so they conflict and the later one re-runs seeing the other (no write
    skew under snapshot isolation)."""
    uow.col(ATTRIBUTION_LOCKS).update_one(
        {"_id": key}, {"$inc": {"writes": 1}}, upsert=True,
        session=uow.session)


def _lock_member(uow, member_id):
    _lock(uow, f"member:{member_id}")


def _attribution(uow, member_id, branch_id=None, unit_id=None):
    member = directory_entry(uow.db, "member", member_id, uow.session)
    if member_id and member is None and not (branch_id and unit_id):
        _lock_member(uow, member_id)
    if member is not None:
        branch_id = branch_id or member.get("branch_id")
        unit_id = unit_id or member.get("unit_id")
    if branch_id and not unit_id:
        branch = directory_entry(uow.db, "branch", branch_id, uow.session)
        unit_id = branch.get("unit_id") if branch else None
    return branch_id, unit_id


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


def _insert_new(uow, doc):
    """Insert unless a contribution with that id exists (checked first: a
    duplicate-key error would abort the whole transaction)."""
    if uow.col(CONTRIBUTIONS).find_one({"_id": doc["_id"]}, {"_id": 1},
                                       session=uow.session) is not None:
        return False
    uow.col(CONTRIBUTIONS).insert_one(doc, session=uow.session)
    return True


def _insert_contribution(uow, doc):
    return card_keys(doc) if _insert_new(uow, doc) else set()


def add_activity(uow, envelope, month):
    data = envelope["data"]
    branch_id, unit_id = _attribution(uow, data["member_id"],
                                      data.get("branch_id"),
                                      data.get("unit_id"))
    return _insert_contribution(uow, {
        "_id": f"activity:{envelope['event_id']}", "kind": "activity",
        "event_ids": [envelope["event_id"]],
        "activity_id": data.get("activity_id"),
        "category": data.get("category"),
        "campaign_id": data.get("campaign_id"),
        "members": [data["member_id"]], "branch_id": branch_id,
        "unit_id": unit_id, "month": month,
        "figures": domain.activity_figures(data)})


def add_party_activity(uow, envelope, month):
    data = envelope["data"]
    attendees = sorted(set(data.get("attendees") or []))
    expected = sorted(set(data.get("expected") or []))
    unit_id = data.get("unit_id")
    if not unit_id:
        branch = directory_entry(uow.db, "branch", data["branch_id"],
                                 uow.session)
        unit_id = branch.get("unit_id") if branch else None
    return _insert_contribution(uow, {
        "_id": f"party:{envelope['event_id']}", "kind": "party_activity",
        "event_ids": [envelope["event_id"]],
        "activity_id": data.get("activity_id"),
        "activity_kind": data["kind"], "attendees": attendees,
        "expected": expected, "members": sorted(set(attendees) | set(expected)),
        "branch_id": data["branch_id"], "unit_id": unit_id, "month": month})


def add_rating(uow, envelope, month):
    data = envelope["data"]
    rating_id = data["rating_id"]
    _lock(uow, f"rating:{rating_id}")
    marks = list(uow.col(CONTRIBUTIONS).find(
        {"rating_id": rating_id, "kind": {"$in": ["appeal", "rectification"]}},
        session=uow.session))
    excluded_by = [m["event_ids"][0] for m in marks
                   if m["kind"] == "appeal" and m.get("upheld")]
    rectified_by = [m["event_ids"][0] for m in marks
                    if m["kind"] == "rectification"]
    branch_id, unit_id = _attribution(uow, data["member_id"],
                                      data.get("branch_id"),
                                      data.get("unit_id"))
    return _insert_contribution(uow, {
        "_id": f"rating:{rating_id}", "kind": "rating",
        "event_ids": [envelope["event_id"]], "rating_id": rating_id,
        "rating": data["rating"],
        "members": [data["member_id"]] if data["member_id"] else [],
        "branch_id": branch_id,
        "unit_id": unit_id, "month": month,
        "excluded": bool(excluded_by) or bool(data.get("excluded")),
        "excluded_by": excluded_by,
        "rectified_by": rectified_by,
        "figures": domain.rating_figures(data["rating"], bool(rectified_by))})


def add_rating_mark(uow, envelope, kind, month):
    """An appeal decision or a closed rectification about a rating: stored
    as its own contribution and applied to the rating (now or when the
    rating arrives)."""
    data = envelope["data"]
    rating_id = data["rating_id"]
    doc = {"_id": f"{kind}:{envelope['event_id']}", "kind": kind,
           "event_ids": [envelope["event_id"]], "rating_id": rating_id,
           "members": [], "branch_id": None, "unit_id": None, "month": month,
           "figures": {}}
    if kind == "appeal":
        doc.update(upheld=bool(data.get("upheld")),
                   appeal_id=data.get("appeal_id"), reason=data.get("reason"))
    else:
        doc.update(rectification_id=data.get("rectification_id"),
                   status=data.get("status"))
    if not _insert_new(uow, doc):
        return set()
    _lock(uow, f"rating:{rating_id}")
    rating = uow.col(CONTRIBUTIONS).find_one({"_id": f"rating:{rating_id}"},
                                             session=uow.session)
    if rating is None:
        return set()
    if kind == "appeal" and doc["upheld"]:
        change = {"$set": {"excluded": True},
                  "$addToSet": {"excluded_by": envelope["event_id"]}}
    elif kind == "rectification":
        change = {"$set": {"figures": domain.rating_figures(
                      rating["rating"], True)},
                  "$addToSet": {"rectified_by": envelope["event_id"]}}
    else:
        return set()
    uow.col(CONTRIBUTIONS).update_one({"_id": rating["_id"]}, change,
                                      session=uow.session)
    return card_keys(rating)


def _newest_wins(uow, key, envelope):
    """For a contribution that holds a subject's latest state: the stored
    one, every event id behind it (this one added), and whether this event
    is older than the stored state. An older event only adds its id."""
    current = uow.col(CONTRIBUTIONS).find_one({"_id": key},
                                              session=uow.session)
    event_ids = sorted(set((current or {}).get("event_ids", []))
                       | {envelope["event_id"]})
    stale = current is not None and current["as_of"] > envelope["occurred_at"]
    if stale:
        uow.col(CONTRIBUTIONS).update_one(
            {"_id": key}, {"$set": {"event_ids": event_ids}},
            session=uow.session)
    return current, event_ids, stale


def apply_demand(uow, envelope, month):
    """A demand counts once, in the month it was raised, at its latest known
    state (newest event wins, whatever order events arrive in)."""
    data = envelope["data"]
    key = f"demand:{data['demand_id']}"
    current, event_ids, stale = _newest_wins(uow, key, envelope)
    if stale:
        return set()
    occurred = envelope["occurred_at"]
    member_id = data.get("member_id")
    branch_id, unit_id = _attribution(uow, member_id, None,
                                      data.get("owner_unit_id"))
    doc = {"_id": key, "kind": "demand", "event_ids": event_ids,
           "event_id": envelope["event_id"], "as_of": occurred,
           "demand_id": data["demand_id"], "category": data.get("category"),
           "status": data.get("status"),
           "on_time_response": data.get("on_time_response"),
           "on_time_resolution": data.get("on_time_resolution"),
           "members": [member_id] if member_id else [],
           "branch_id": branch_id, "unit_id": unit_id, "month": month,
           "figures": domain.demand_figures(data)}
    uow.col(CONTRIBUTIONS).replace_one({"_id": key}, doc, upsert=True,
                                       session=uow.session)
    return card_keys(doc) | (card_keys(current) if current else set())


def apply_kpi(uow, envelope):
    """A business KPI value (业务指标): the newest value per subject, period
    and indicator counts."""
    data = envelope["data"]
    subject_type, subject_id = data["subject_type"], data["subject_id"]
    key = f"kpi:{subject_type}:{subject_id}:{data['period']}:{data['indicator']}"
    current, event_ids, stale = _newest_wins(uow, key, envelope)
    if stale:
        return set()
    occurred = envelope["occurred_at"]
    if subject_type == "member":
        members = [subject_id]
        branch_id, unit_id = _attribution(uow, subject_id)
    else:
        members, branch_id, unit_id = [], None, subject_id
    doc = {"_id": key, "kind": "kpi", "event_ids": event_ids,
           "event_id": envelope["event_id"], "as_of": occurred,
           "kpi_subject_type": subject_type, "indicator": data["indicator"],
           "value": data["value"], "members": members,
           "branch_id": branch_id, "unit_id": unit_id,
           "month": data["period"], "figures": domain.kpi_figures(
               data["value"])}
    uow.col(CONTRIBUTIONS).replace_one({"_id": key}, doc, upsert=True,
                                       session=uow.session)
    return card_keys(doc) | (card_keys(current) if current else set())


SUBJECT_FIELD = {"member": "members", "branch": "branch_id",
                 "unit": "unit_id"}


def contributions_of(db, subject_type, subject_id, months, session=None):
    query = {SUBJECT_FIELD[subject_type]: subject_id,
             "month": months[0] if len(months) == 1 else {"$in": months}}
    return list(db[CONTRIBUTIONS].find(query, session=session))


# -- scorecards --------------------------------------------------------------

def card_id(subject_type, subject_id, month):
    return f"{subject_type}:{subject_id}:{month}"


def recompute_card(uow, key, now, scheme=None):
    """Recompute one monthly card from its contributions; store it and emit
    ``scorecard.updated`` when it changed. Returns the card."""
    subject_type, subject_id, month = key
    contributions = contributions_of(uow.db, subject_type, subject_id,
                                     [month], uow.session)
    scheme = scheme or scheme_for_month(uow.db, month, uow.session, now)
    sums = domain.sums_of(contributions, subject_type, subject_id)
    result = domain.scorecard(sums, scheme)
    card = {"_id": card_id(*key), "subject_type": subject_type,
            "subject_id": subject_id, "period": month,
            "sums": result["sums"], "metrics": result["metrics"],
            "groups": result["groups"], "items": result["items"],
            "base": result["base"], "total": result["total"],
            "grade": result["grade"], "scheme_version": scheme["version"],
            "contribution_ids": sorted(c["_id"] for c in contributions)}
    current = uow.col(SCORECARDS).find_one({"_id": card["_id"]},
                                           session=uow.session)
    if current is not None and all(current.get(k) == card[k] for k in card):
        return current
    card["updated_at"] = now
    uow.col(SCORECARDS).replace_one({"_id": card["_id"]}, card, upsert=True,
                                    session=uow.session)
    uow.emit(ev.SCORECARD_UPDATED, {
        "subject_type": subject_type, "subject_id": subject_id,
        "period": month, "total": card["total"], "grade": card["grade"],
        "scheme_version": card["scheme_version"],
        "contribution_count": len(contributions)})
    return card


def recompute(uow, keys, now):
    return [recompute_card(uow, key, now) for key in sorted(keys)]


def rescore_month(uow, month, version, now):
    """Pin a month to a scheme version and recompute every card of it from
    the stored contributions (replay)."""
    scheme = get_scheme(uow.db, version, uow.session)
    uow.col(PERIOD_SCHEMES).replace_one(
        {"_id": month}, {"_id": month, "scheme_version": scheme["version"],
                         "pinned_at": now}, upsert=True, session=uow.session)
    keys = set()
    for contribution in uow.col(CONTRIBUTIONS).find({"month": month},
                                                    session=uow.session):
        keys |= card_keys(contribution)
    for card in uow.col(SCORECARDS).find({"period": month, "subject_type": {
            "$in": list(domain.SUBJECT_TYPES)}}, session=uow.session):
        keys.add((card["subject_type"], card["subject_id"], month))
    for key in sorted(keys):
        recompute_card(uow, key, now, scheme)
    return len(keys)


def monthly_cards(db, subject_type, months):
    return list(db[SCORECARDS].find(
        {"subject_type": subject_type,
         "period": months[0] if len(months) == 1 else {"$in": months}}))


def _period_card(cards, scheme, subject_type, subject_id, period, months):
    """Score a subject's monthly sums for a period under ``scheme``. A
    month's stored card is used as is when it was scored under that same
    version (always the case after live scoring or re-scoring); otherwise
    (a newer version came into force since) its sums are scored again."""
    if len(months) == 1 and cards[0].get("scheme_version") == \
            scheme["version"]:
        return cards[0]
    sums = {k: 0 for k in domain.SUMS}
    for card in sorted(cards, key=lambda c: c["period"]):
        domain.add_sums(sums, card["sums"])
    card = domain.scorecard(sums, scheme, months=len(months))
    return dict(card, subject_type=subject_type, subject_id=subject_id,
                period=period, contribution_ids=sorted(
                    cid for c in cards
                    for cid in c.get("contribution_ids", [])))


def period_cards(db, subject_type, period):
    """Cards of every subject of a type for a month, quarter or year: the
    months' sums added up and scored under the scheme of the period's first
    month, so one ranking never mixes scheme versions."""
    months = domain.months_of(period)
    by_subject = {}
    for card in monthly_cards(db, subject_type, months):
        by_subject.setdefault(card["subject_id"], []).append(card)
    scheme = scheme_for_month(db, months[0])
    return [_period_card(cards, scheme, subject_type, subject_id, period,
                         months)
            for subject_id, cards in sorted(by_subject.items())]


def subject_card(db, subject_type, subject_id, period):
    """One subject's card for a period, with its traced contributions."""
    months = domain.months_of(period)
    contributions = contributions_of(db, subject_type, subject_id, months)
    if not contributions:
        raise NotFound("该考评对象在此期间没有考评数据")
    cards = list(db[SCORECARDS].find(
        {"subject_type": subject_type, "subject_id": subject_id,
         "period": {"$in": months}}))
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
    cards = list(db[SCORECARDS].find(
        {"subject_type": "member", "subject_id": member_id}).sort(
            "period", ASCENDING))
    contributions = list(db[CONTRIBUTIONS].find({"members": member_id}))
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

def ranking(db, subject_type, period):
    """Ranked and graded cards (with quota cut-offs) for a period."""
    cards = period_cards(db, subject_type, period)
    scheme = scheme_for_month(db, domain.months_of(period)[0])
    ranked = domain.rank(cards)
    graded = domain.apply_quotas(ranked, scheme["bands"],
                                 scheme.get("quotas") or {})
    names = directory_names(db, subject_type)
    return {"period": period, "subject_type": subject_type,
            "scheme_version": scheme["version"],
            "tie_rule": ("总分高者在前；总分相同比满意度得分，再比四服务得分；"
                         "三者均相同者并列同一名次"),
            "quota_rule": ("等次名额按 floor(比例×参评数) 计；并列者整体跨越名额线时"
                           "整体顺延至下一等次"),
            "quotas": scheme.get("quotas") or {},
            "entries": [
                {"rank": c["rank"], "subject_id": c["subject_id"],
                 "name": names.get(c["subject_id"], c["subject_id"]),
                 "total": c["total"], "grade": c["grade"],
                 "band_grade": c["band_grade"], "demoted": c["demoted"],
                 "demotion_reason": c.get("demotion_reason"),
                 "groups": {g: v["score"] for g, v in c["groups"].items()}}
                for c in graded]}


def three_rates(db, month):
    """Units' three rates for a month, ranked (接诉即办)."""
    scheme = scheme_for_month(db, month)
    names = directory_names(db, "unit")
    rows = []
    for card in monthly_cards(db, "unit", [month]):
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
    board = ranking(uow.db, "branch", period)
    scheme = scheme_for_month(uow.db, domain.months_of(period)[0])
    cards = {c["subject_id"]: c for c in period_cards(uow.db, "branch",
                                                      period)}
    changes = []
    for entry in board["entries"]:
        card = dict(cards[entry["subject_id"]], grade=entry["grade"])
        rung, reason = domain.ladder_rung(card, scheme["ladder"])
        branch_id = entry["subject_id"]
        current = uow.col(BRANCHES).find_one({"_id": branch_id},
                                             session=uow.session)
        previous = current.get("rung") if current else None
        if previous == rung:
            continue
        change = {"from": previous, "to": rung, "period": period,
                  "reason": reason, "scheme_version": scheme["version"],
                  "at": now}
        uow.col(BRANCHES).update_one(
            {"_id": branch_id},
            {"$set": {"rung": rung, "rung_label": domain.rung_label(rung),
                      "reason": reason, "period": period, "updated_at": now},
             "$push": {"history": change}},
            upsert=True, session=uow.session)
        uow.emit(ev.BRANCH_RUNG_CHANGED, {
            "branch_id": branch_id, "from": previous, "to": rung,
            "from_label": domain.rung_label(previous),
            "to_label": domain.rung_label(rung), "period": period,
            "reason": reason, "scheme_version": scheme["version"]})
        changes.append(dict(change, branch_id=branch_id))
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
    cards = {c["period"]: c for c in db[SCORECARDS].find(
        {"subject_type": subject_type, "subject_id": subject_id,
         "period": {"$in": months}})}
    entry = directory_entry(db, subject_type, subject_id) or {}
    return (entry.get("name") or subject_id,
            [(m, cards.get(m)) for m in months])
