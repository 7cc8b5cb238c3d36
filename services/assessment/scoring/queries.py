"""What scoring answers (reads only, outside a transaction): the cards of
a period, one subject's traced card, a member's running scorecard. Each
function takes a ``ScoringRepository`` (``Reader(db, ScoringRepository)
.repo``)."""

from sifuwu.errors import NotFound
from services.assessment.domain import months_of
from services.assessment.scoring import domain
from services.assessment.scoring.cards import (
    card_ids, contribution_view, period_card,
)
from services.assessment.scoring.steps import scheme_for_month


def period_cards(scores, subject_type, period, fields=None, scheme=None):
    """Cards of every subject of a type for a month, quarter or year: the
    months' sums added up and scored under the scheme of the period's first
    month, so one ranking never mixes scheme versions. ``fields``: read
    only these of each stored card (and the sums where they are needed)."""
    months = months_of(period)
    scheme = scheme or scheme_for_month(scores, months[0])
    if fields and len(months) > 1:
        fields = (*fields, "sums")
    by_subject = {}
    for card in scores.monthly_cards(subject_type, months, fields):
        by_subject.setdefault(card["subject_id"], []).append(card)
    if fields and len(months) == 1:
        stale = [cards[0]["_id"] for cards in by_subject.values()
                 if cards[0].get("scheme_version") != scheme["version"]]
        for card in scores.cards(stale):
            by_subject[card["subject_id"]] = [card]
    return [period_card(cards, scheme, subject_type, subject_id, period,
                         months, details=not fields)
            for subject_id, cards in sorted(by_subject.items())]


def subject_card(scores, subject_type, subject_id, period):
    """One subject's card for a period, with its traced contributions."""
    months = months_of(period)
    contributions = scores.of_subject(subject_type, subject_id, months)
    if not contributions:
        raise NotFound("该考评对象在此期间没有考评数据")
    cards = scores.cards(card_ids(subject_type, subject_id, months))
    if not cards:
        raise NotFound("该考评对象在此期间没有考评数据")
    card = period_card(cards, scheme_for_month(scores, months[0]), subject_type,
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


def member_scorecard(scores, member_id):
    """The member's running scorecard and monthly cards, each listing its
    contributions (the walking skeleton reads this)."""
    contributions = scores.of_member(member_id)
    # a member has cards for the months of the member's contributions
    cards = sorted(scores.cards(card_ids(
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
