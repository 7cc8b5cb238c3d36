"""Appeals (申诉) of bad reviews by the unit that holds them mistaken or
malicious, decided by other staff with a stated reason."""

from sifuwu import events as ev
from sifuwu.errors import Conflict
from services.feedback import domain
from services.feedback.steps import rectifications


def rating_of(uow, rating_id):
    """The rating an appeal would be about (None if there is none)."""
    return uow.repo.rating(rating_id)


def file_appeal(uow, rating_id, reason, now, *, by):
    """Only a bad review can be appealed, once."""
    rating = uow.repo.rating(rating_id)
    domain.check_appealable(rating)
    appeal = {
        "_id": ev.new_id(),
        "rating_id": rating_id,
        "rectification_id": rating.get("rectification_id"),
        "member_id": rating.get("member_id"),
        "unit_id": rating.get("unit_id"),
        "status": domain.APPEAL_PENDING,
        "reason": reason,
        "filed_by": by,
        "filed_at": now,
        "decision_reason": None,
        "decided_by": None,
        "decided_at": None,
    }
    if not uow.repo.insert_appeal(appeal):
        raise Conflict("该评价已提出过申诉", code="already_appealed")
    return appeal


def decide_appeal(uow, appeal_id, upheld, reason, now, *, by):
    """Staff other than the filer decide once; only an upheld appeal
    excludes the review from scores (and voids its open rectification)."""
    appeal = uow.repo.appeal(appeal_id)
    domain.check_decidable(appeal, by)
    appeal = uow.repo.decide_appeal(appeal_id, appeal["status"], {
        "status": domain.appeal_outcome(upheld), "decision_reason": reason,
        "decided_by": by, "decided_at": now})
    if appeal is None:
        raise domain.already_decided()
    rating = uow.repo.rating(appeal["rating_id"])
    if upheld:
        uow.repo.update_rating(appeal["rating_id"], {
            "excluded": True, "excluded_by_appeal": appeal_id})
        if appeal.get("rectification_id"):
            rectifications.void_rectification(
                uow, appeal["rectification_id"], reason, now, by=by)
    uow.emit(ev.APPEAL_DECIDED, {
        "appeal_id": appeal_id,
        "rating_id": appeal["rating_id"],
        "member_id": appeal.get("member_id"),
        "unit_id": appeal.get("unit_id"),
        "upheld": bool(upheld),
        "reason": reason,
        "rating": rating["rating"] if rating else None,
    }, correlation_id=(rating or {}).get("subject_id"))
    return appeal


def list_appeals(uow, filters):
    return uow.repo.list_appeals(filters)
