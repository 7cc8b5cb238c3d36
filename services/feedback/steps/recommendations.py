"""Recommendations of models (推荐典型), from a rating or from anyone."""

from sifuwu import events as ev
from sifuwu.privacy import Sealer


def recommend(uow, data, now, *, source, secret=None, correlation_id=None,
              sealer=None):
    """A recipient recommends a member or a branch as a model; the
    recommender's contact, if given, is sealed."""
    recommendation = {
        "_id": ev.new_id(),
        "campaign_id": data.get("campaign_id"),
        "candidate_type": data["candidate_type"],
        "candidate_id": data["candidate_id"],
        "reason": data["reason"],
        "source": source,
        "submitted_at": now,
    }
    if secret and data.get("phone"):
        sealer = sealer or Sealer(secret)
        recommendation["recommender_phone_enc"] = sealer.seal(data["phone"])
        if data.get("name"):
            recommendation["recommender_name_enc"] = sealer.seal(data["name"])
    uow.repo.insert_recommendation(recommendation)
    uow.emit(ev.RECOMMENDATION_SUBMITTED, {
        "recommendation_id": recommendation["_id"],
        "campaign_id": recommendation["campaign_id"],
        "candidate_type": recommendation["candidate_type"],
        "candidate_id": recommendation["candidate_id"],
        "reason": recommendation["reason"],
    }, correlation_id=correlation_id)
    return recommendation


def list_recommendations(uow, filters):
    return uow.repo.list_recommendations(filters)
