"""Ratings (好差评): a link used once; a bad review opens a rectification; a
recommendation is recorded; no rating within N working days counts as 满意
(默认好评)."""

from sifuwu import events as ev
from sifuwu.errors import DomainError, NotFound
from services.feedback import domain
from services.feedback.steps import recommendations, rectifications


def claim_invitations(uow, claims, now):
    """Read the invitations of rating claims ([(invitation id, data)]) in
    one statement and sort the claims: (outcomes, valid), where
    ``outcomes[i]`` is the DomainError refusing claim ``i`` (a link unknown,
    used, expired or claimed twice in the batch) or None, and ``valid`` is
    [(i, invitation, data)] of the others."""
    found = uow.repo.invitations([i for i, _ in claims])
    outcomes, valid, claimed = [None] * len(claims), [], set()
    for index, (invitation_id, data) in enumerate(claims):
        try:
            invitation = domain.check_open_invitation(
                found.get(invitation_id), now)
            if invitation_id in claimed:
                raise domain.already_rated()
        except DomainError as exc:
            outcomes[index] = exc
            continue
        claimed.add(invitation_id)
        valid.append((index, invitation, data))
    return outcomes, valid


def submit_ratings(uow, claims, now, *, tz, calendar):
    """Use each claim's invitation once, store its rating, emit its
    ``feedback.submitted``. ``claims``: [(invitation, data)], each invitation
    a different one, as ``claim_invitations`` found it (what a rating copies
    from it never changes once issued). Returns the ratings, in order.

    The invitations are marked used by id (one statement) and the ratings
    inserted (one statement): the unique index on the rating's invitation
    (and the write conflict on the invitation) let exactly one of concurrent
    submissions commit; the others get "already rated", and the whole unit
    of work is refused (the caller retries the claims one by one)."""
    ids = [invitation["_id"] for invitation, _ in claims]
    marked = uow.repo.update_invitations(
        ids, {"status": domain.USED, "used_at": now})
    if marked != len(ids):
        raise NotFound("评价链接无效", code="invalid_link")
    return record_ratings(uow, claims, now, tz=tz, calendar=calendar)


def due_default_ratings(uow, now, working_days, limit=500):
    """Unused invitations that may be due a default rating (a superset:
    ``apply_default_rating`` checks each against the calendar)."""
    return uow.repo.invitations_issued_before(
        domain.ISSUED, domain.default_rating_cutoff(now, working_days), limit)


def apply_default_rating(uow, invitation_id, now, working_days, *, tz,
                         calendar):
    """No rating within ``working_days`` working days counts as 满意, marked
    defaulted; None when the invitation is used or not yet due."""
    invitation = uow.repo.invitation(invitation_id)
    if invitation is None or not domain.default_rating_is_due(
            invitation, working_days, now, tz, calendar):
        return None
    # by id: read and written in this unit of work, and the rating's unique
    # index (Conflict when rated meanwhile), keep a concurrent submission
    # from rating it too
    uow.repo.update_invitation(invitation_id, {
        "status": domain.USED, "used_at": now, "defaulted": True})
    return record_ratings(uow, [(invitation, {"rating": domain.DEFAULT_LEVEL})],
                          now, tz=tz, calendar=calendar, defaulted=True)[0]


def record_ratings(uow, claims, now, *, tz, calendar, defaulted=False):
    """Store the ratings of claimed invitations ([(invitation, data)]) in
    one insert, with their side effects, and emit their events."""
    ratings = [_stage_rating(uow, invitation, data, now, tz=tz,
                             calendar=calendar, defaulted=defaulted)
               for invitation, data in claims]
    if not uow.repo.insert_ratings(ratings):
        raise domain.already_rated()
    return ratings


def _stage_rating(uow, invitation, data, now, *, tz, calendar, defaulted):
    """The rating document (not yet inserted); a bad review's rectification,
    a recommendation and a rectification's fix rating written, the event
    emitted."""
    invitation_id = invitation["_id"]
    aspects = {key: value for key, value in (data.get("aspects") or {}).items()
               if value is not None}
    rating = {
        "_id": ev.new_id(),
        "invitation_id": invitation_id,
        "subject_type": invitation["subject_type"],
        "subject_id": invitation["subject_id"],
        "member_id": invitation.get("member_id"),
        "unit_id": invitation.get("unit_id"),
        "branch_id": invitation.get("branch_id"),
        "rating": data["rating"],
        "comment": (data.get("comment") or "").strip(),
        "aspects": aspects,
        "bad": domain.is_bad(data["rating"]),
        "defaulted": defaulted,
        "excluded": False,
        "rectification_id": None,
        "recommendation_id": None,
        "submitted_at": now,
    }
    correlation = invitation["subject_id"]
    if rating["bad"]:
        rating["rectification_id"] = rectifications.open_rectification(
            uow, rating, invitation, now, tz=tz, calendar=calendar,
            correlation_id=correlation)["_id"]
    if data.get("recommend") and rating["member_id"]:
        rating["recommendation_id"] = recommendations.recommend(
            uow, {"campaign_id": None, "candidate_type": "member",
                  "candidate_id": rating["member_id"],
                  "reason": data["recommend_reason"].strip()},
            now, source="rating", correlation_id=correlation)["_id"]
    if invitation["subject_type"] == domain.SUBJECT_RECTIFICATION:
        uow.repo.update_rectification(invitation["subject_id"], {
            "fix_rating": rating["rating"], "fix_rating_id": rating["_id"]})
    uow.emit(ev.FEEDBACK_SUBMITTED, {
        "rating_id": rating["_id"],
        "invitation_id": invitation_id,
        "subject_type": rating["subject_type"],
        "subject_id": rating["subject_id"],
        "member_id": rating["member_id"],
        "unit_id": rating["unit_id"],
        "branch_id": rating["branch_id"],
        "rating": rating["rating"],
        "bad": rating["bad"],
        "aspects": aspects,
        "defaulted": defaulted,
        "excluded": False,
        "submitted_at": now.isoformat(),
    }, correlation_id=correlation)
    return rating
