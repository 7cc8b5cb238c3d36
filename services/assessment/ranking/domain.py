"""Ranking rules (排名、等次、名额、三率), as plain functions: competition
ranking with tie-breakers, grade bands with quota cut-offs, the three
rates of a unit."""

import math
import operator

import numpy as np

from services.assessment.scoring.domain import RANK_KEY_BASE, tie_key

_TOTAL = operator.itemgetter("total")
_GROUPS = operator.itemgetter("groups")
_SCORE = operator.itemgetter("score")
_SUBJECT_ID = operator.itemgetter("subject_id")
_RANK = operator.itemgetter("rank")
_RANK_KEY = operator.itemgetter("rank_key")


class Ranking(list):
    """What ``rank`` returns: the cards in rank order (a list), remembering
    the columns it read (cards in input order, their totals and ranks) so
    ``apply_quotas`` need not read every card again."""

    source = ()
    totals = ranks = None

    def columns(self):
        """(cards, totals, ranks) in input order, or None once the list no
        longer holds what ``rank`` put in it."""
        if self.totals is None or len(self) != len(self.source):
            return None
        return self.source, self.totals, self.ranks


def _scores(cards):
    """Total, satisfaction and four-services scores of every card, read in
    one pass (None scores count as 0), as float arrays; None when a card
    lacks the usual shape (then ``tie_key`` is asked card by card)."""
    totals, satisfaction, four = [], [], []
    add_total, add_sat, add_four = (totals.append, satisfaction.append,
                                    four.append)
    try:
        for card in cards:
            groups = card["groups"]
            add_total(card["total"])
            add_sat(groups["satisfaction"]["score"])
            add_four(groups["four_services"]["score"])
        if None in totals:
            return None
        for scores in (satisfaction, four):
            if None in scores:  # tie_key counts a missing score as 0
                scores[:] = [v or 0 for v in scores]
        return [np.array(values, dtype=float)
                for values in (totals, satisfaction, four)]
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _packed_keys(cards):
    """Every card's ``rank_key`` as an int64 array, or None if one lacks
    it."""
    try:
        keys = list(map(_RANK_KEY, cards))
    except (KeyError, TypeError):
        return None
    if None in keys:
        return None
    return np.array(keys, dtype=np.int64)


def _subject_ids(cards):
    """Every card's subject id as text, in a numpy unicode array (ties are
    ordered as text: numpy compares these by code point, as Python does,
    and sorts them in C, where an object array would call back into
    Python for every comparison)."""
    ids = np.array(list(map(_SUBJECT_ID, cards)))
    if ids.dtype.kind != "U":
        ids = np.array([str(i) for i in ids.tolist()])
    return ids


class RankOrder:
    """The ``tie_key`` ranking of cards as columns, the cards untouched:
    ``order`` (input indexes in rank order), ``ranks`` and ``totals`` (by
    input index)."""

    def __init__(self, cards, order, ranks, totals):
        self.cards, self.order, self.ranks, self.totals = (
            cards, order, ranks, totals)


def rank_order(cards):
    """Competition ranking by ``tie_key`` (ties in subject-id order) as a
    ``RankOrder``, reading two fields per card and writing none; None when
    a card lacks the scored shape (``rank`` then asks ``tie_key`` card by
    card)."""
    cards = list(cards)
    n = len(cards)
    packed = _packed_keys(cards)
    if packed is not None:
        columns = [packed]
        totals = (packed // RANK_KEY_BASE ** 2) / 100
    else:
        columns = _scores(cards)
        if columns is None:
            return None
        totals = columns[0]
    if not n:
        return RankOrder(cards, np.empty(0, dtype=np.int64),
                         np.empty(0, dtype=np.int64), totals)
    ids = _subject_ids(cards)
    # lexsort is stable and sorts by its last key first; cards that come in
    # subject-id order need no id column.
    by_id = () if (ids[1:] >= ids[:-1]).all() else (ids,)
    order = np.lexsort(by_id + tuple(-c for c in reversed(columns)))
    starts = np.zeros(n, dtype=bool)
    starts[0] = True
    for column in columns:
        ordered = column[order]
        starts[1:] |= ordered[1:] != ordered[:-1]
    ranks = np.maximum.accumulate(np.where(starts, np.arange(1, n + 1), 0))
    by_input = np.empty(n, dtype=np.int64)
    by_input[order] = ranks
    return RankOrder(cards, order, by_input, totals)


def rank(cards, key=tie_key):
    """Competition ranking; ties keep subject-id order for display.

    Returns the cards in rank order, each with its ``rank`` set. The cards
    are updated in place, not copied (copying 100,000 members' cards would
    cost more than ranking them): pass cards of your own."""
    cards = list(cards)
    n = len(cards)
    ranked = Ranking()
    if not n:
        return ranked
    columns = rank_order(cards) if key is tie_key else None
    if columns is not None:
        # written in input order: cards lie in memory about that way
        for card, value in zip(cards, columns.ranks.tolist()):
            card["rank"] = value
        ranked.extend(map(cards.__getitem__, columns.order.tolist()))
        ranked.source, ranked.totals, ranked.ranks = (
            cards, columns.totals, columns.ranks)
        return ranked
    keys = [key(card) for card in cards]
    ids = _subject_ids(cards).tolist()
    order = sorted(range(n), key=lambda i: (keys[i], ids[i]))
    previous = None
    for position, i in enumerate(order, start=1):
        card = cards[i]
        card["rank"] = ranked[-1]["rank"] if ranked and keys[i] == previous \
            else position
        previous = keys[i]
        ranked.append(card)
    return ranked


def _band_indexes(totals, bands):
    """``band_of`` for every total at once: the index of its band in
    ``bands`` (len(bands) for none)."""
    top = max(b["max"] for b in bands)
    found = np.full(len(totals), len(bands))
    for index in range(len(bands) - 1, -1, -1):  # the first band wins
        band = bands[index]
        inside = (totals >= band["min"]) & (totals < band["max"])
        if band["max"] == top:
            inside |= totals == top
        found[inside] = index
    return found


class Grades:
    """Grades with quota cut-offs as columns (by input index): ``grade``
    and ``band_grade`` (names), ``demoted`` (indexes) and their
    ``reasons``."""

    def __init__(self, grade, band_grade, demoted, reasons):
        self.grade, self.band_grade = grade, band_grade
        self.demoted, self.reasons = demoted, reasons


def quota_grades(totals, ranks, bands, quotas):
    """``apply_quotas``'s rule over columns: ``totals`` (float array) and
    ``ranks`` (int array, or a callable giving it when a quota needs it),
    by input index. Returns ``Grades``."""
    n = len(totals)
    names = [b["grade"] for b in bands] + [None]
    # grades as small integers: one per distinct name, in ``names`` order
    grade_ids = {}
    for name in names:
        grade_ids.setdefault(name, len(grade_ids))
    to_id = np.array([grade_ids[name] for name in names])
    grades = to_id[_band_indexes(totals, bands)] if n else np.empty(
        0, dtype=np.int64)
    band_grades = grades.copy()
    reasons = {}  # grade id demoted from -> reason
    demoted_from = np.full(n, -1)
    order = [b["grade"] for b in sorted(bands, key=lambda b: -b["min"])]
    for position, grade in enumerate(order):
        if grade not in (quotas or {}):
            continue
        allowed = math.floor(quotas[grade] * n + 1e-9)
        candidates = np.flatnonzero(grades == grade_ids[grade])
        if len(candidates) <= allowed:
            continue
        if callable(ranks):
            ranks = ranks()
        # ties in rank order; a tie is kept while the running count of the
        # ties so far stays within the quota, and every later tie is demoted
        candidate_ranks = ranks[candidates]
        values, counts = np.unique(candidate_ranks, return_counts=True)
        over = np.cumsum(counts) > allowed
        demoted = candidates[over[np.searchsorted(values, candidate_ranks)]]
        lower = order[position + 1] if position + 1 < len(order) else grade
        grades[demoted] = grade_ids[lower]
        demoted_from[demoted] = grade_ids[grade]
        reasons[grade_ids[grade]] = (
            f"{grade}名额为 {quotas[grade]:.0%}（{allowed} 名），"
            f"按排名顺延为{lower}")
    by_id = list(grade_ids)
    demoted = np.flatnonzero(demoted_from >= 0)
    return Grades(list(map(by_id.__getitem__, grades.tolist())),
                  list(map(by_id.__getitem__, band_grades.tolist())),
                  demoted.tolist(),
                  list(map(reasons.__getitem__,
                           demoted_from[demoted].tolist())))


def apply_quotas(ranked, bands, quotas):
    """Grades with quota cut-offs (名额控制).

    Each subject starts with the grade of its band. For a grade with a quota
    share q, at most floor(q × n) subjects keep it, in rank order; a tie that
    would cross the limit is demoted whole (so the quota is never exceeded),
    and demoted subjects take the next grade down (which may have its own
    quota).

    Sets ``grade``, ``band_grade``, ``demoted`` (and ``demotion_reason``) on
    the ranked cards in place (``rank`` gave them) and returns them."""
    graded = list(ranked)
    if not graded:
        return graded
    columns = ranked.columns() if isinstance(ranked, Ranking) else None
    if columns is None:
        cards = graded
        totals = np.array(list(map(_TOTAL, cards)), dtype=float)

        def ranks():
            return np.array(list(map(_RANK, cards)))
    else:
        cards, totals, ranks = columns
    result = quota_grades(totals, ranks, bands, quotas)
    # written once per card, after every quota is settled
    for card, grade, band_grade in zip(cards, result.grade,
                                       result.band_grade):
        card["grade"] = grade
        card["band_grade"] = band_grade
        card["demoted"] = False
    for index, reason in zip(result.demoted, result.reasons):
        card = cards[index]
        card["demoted"] = True
        card["demotion_reason"] = reason
    return graded


# -- boards ------------------------------------------------------------------

TIE_RULE = ("总分高者在前；总分相同比满意度得分，再比四服务得分；"
            "三者均相同者并列同一名次")
QUOTA_RULE = ("等次名额按 floor(比例×参评数) 计；并列者整体跨越名额线时"
              "整体顺延至下一等次")
RATES_TIE_RULE = "综合得分高者在前；相同比解决率，再比响应率；均相同者并列"


def board(subject_type, period, scheme, cards, names):
    """A ranking board: ranked and graded cards (with quota cut-offs) of a
    period, each named from ``names`` ({id: name})."""
    return {"period": period, "subject_type": subject_type,
            "scheme_version": scheme["version"],
            "tie_rule": TIE_RULE, "quota_rule": QUOTA_RULE,
            "quotas": scheme.get("quotas") or {},
            "entries": ranking_entries(cards, scheme, names)}


def ranking_entries(cards, scheme, names):
    """The ranking's rows, in rank order: ranked and graded as columns
    (``rank_order``, ``quota_grades``), the cards only read;
    cards without the scored shape are ranked and graded in place."""
    columns = rank_order(cards)
    if columns is None:
        ranked = rank(cards)
        graded = apply_quotas(ranked, scheme["bands"],
                                     scheme.get("quotas") or {})
        return [_entry(c, c["rank"], c["grade"], c["band_grade"],
                       c["demoted"], c.get("demotion_reason"), names)
                for c in graded]
    grades = quota_grades(columns.totals, columns.ranks,
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


# -- three rates (三率) --------------------------------------------------------

def three_rates(sums, weights):
    """Response, resolution and satisfaction rates (响应率、解决率、满意率)
    of a unit in a month, and their weighted composite (0..100).

    A rate without data (no demands, no ratings) is left out and the
    composite is weighted over the rates present."""
    demands = sums.get("demand_count", 0)
    ratings = sums.get("rating_count", 0)
    rates = {
        "response": sums.get("demand_responded_on_time", 0) / demands
        if demands else None,
        "resolution": sums.get("demand_resolved", 0) / demands
        if demands else None,
        "satisfaction": sums.get("good_count", 0) / ratings
        if ratings else None,
    }
    present = {k: v for k, v in rates.items() if v is not None}
    weight = sum(weights[k] for k in present)
    composite = (round(sum(weights[k] * v * 100 for k, v in present.items())
                       / weight, 2) if weight else None)
    return {"demand_count": demands, "rating_count": ratings,
            **{f"{k}_rate": round(v * 100, 2) if v is not None else None
               for k, v in rates.items()},
            "composite": composite}


def rates_key(row):
    """Three-rate ranking order: composite, then resolution, then response
    rate, descending; equal on all three share a rank."""
    return (-(row["composite"] or 0), -(row["resolution_rate"] or 0),
            -(row["response_rate"] or 0))


def rates_board(month, scheme, cards, names):
    """Units' three rates for a month, ranked (接诉即办): ``cards`` are the
    units' monthly cards (their sums); a unit without any rate is left
    out."""
    rows = []
    for card in cards:
        rates = three_rates(card["sums"], scheme["three_rates"])
        if rates["composite"] is None:
            continue
        rows.append(dict(rates, subject_id=card["subject_id"],
                         name=names.get(card["subject_id"],
                                        card["subject_id"])))
    ranked = rank(rows, key=rates_key)
    return {"period": month, "subject_type": "three_rates",
            "weights": scheme["three_rates"],
            "scheme_version": scheme["version"],
            "tie_rule": RATES_TIE_RULE,
            "entries": ranked}


def published_event(doc, board):
    """``ranking.published`` of a stored ranking ``doc``."""
    return {
        "ranking_id": doc["_id"], "period": board["period"],
        "subject_type": board["subject_type"],
        "scheme_version": board.get("scheme_version"),
        "entries": [{k: e.get(k) for k in ("rank", "subject_id", "name",
                                           "total", "composite", "grade")
                     if k in e} for e in board["entries"]]}
