"""The steps of rankings (排名): the boards (reads, given a
``ScoringRepository``) and publishing one (in a unit of work whose
``uow.repo`` is a ``RankingRepository``)."""

from sifuwu import events as ev
from services.assessment.domain import months_of
from services.assessment.ranking import domain
from services.assessment.scoring.cards import RANKING_FIELDS
from services.assessment.scoring.queries import period_cards
from services.assessment.scoring.steps import scheme_for_month


def ranking(scores, subject_type, period, cards=None, scheme=None):
    """Ranked and graded cards (with quota cut-offs) for a period. Reads
    only what ranking needs of each card, unless given ``cards``."""
    scheme = scheme or scheme_for_month(scores, months_of(period)[0])
    if cards is None:
        cards = period_cards(scores, subject_type, period, RANKING_FIELDS,
                             scheme)
    names = scores.directory.names(subject_type)
    return domain.board(subject_type, period, scheme, cards, names)


def three_rates(scores, month):
    """Units' three rates for a month, ranked (接诉即办)."""
    scheme = scheme_for_month(scores, month)
    names = scores.directory.names("unit")
    cards = scores.monthly_cards("unit", [month], ("subject_id", "sums"))
    return domain.rates_board(month, scheme, cards, names)


def publish_ranking(uow, board, now, published_by):
    """Store a board as published and announce it (``ranking.published``)."""
    doc = dict(board, _id=ev.new_id(), published_at=now,
               published_by=published_by)
    uow.repo.insert_ranking(doc)
    uow.emit(ev.RANKING_PUBLISHED, domain.published_event(doc, board))
    return doc
