"""Persistence of the assessment service: scorecards as projections."""

from pymongo import ASCENDING, IndexModel

from services.assessment import domain

SCORECARDS = "scorecards"

INDEXES = {
    SCORECARDS: [IndexModel([("subject_type", ASCENDING),
                             ("subject_id", ASCENDING),
                             ("period", ASCENDING)], name="by_subject")],
}


def add_contribution(uow, envelope, member_id, period, increments, kind):
    """Apply one event's contribution to a member's monthly scorecard."""
    uow.col(SCORECARDS).update_one(
        {"_id": f"member:{member_id}:{period}"},
        {"$setOnInsert": {"subject_type": "member", "subject_id": member_id,
                          "period": period},
         "$inc": increments,
         "$push": {"contributions": {"event_id": envelope["event_id"],
                                     "kind": kind, **increments}}},
        upsert=True, session=uow.session)


def member_scorecard(db, member_id):
    cards = list(db[SCORECARDS].find(
        {"subject_type": "member", "subject_id": member_id}).sort(
            "period", ASCENDING))
    summary = domain.summarise(cards)
    periods = [dict(card, **domain.summarise([card])) for card in cards]
    return dict(summary, member_id=member_id, periods=periods)
