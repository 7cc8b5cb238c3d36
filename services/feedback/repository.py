"""Persistence of the feedback service: invitations and ratings."""

from pymongo import ASCENDING, IndexModel

from sifuwu import events as ev
from sifuwu.errors import Conflict, Gone, NotFound
from sifuwu.privacy import Sealer
from services.feedback import domain

INVITATIONS = "invitations"
RATINGS = "ratings"

INDEXES = {
    INVITATIONS: [IndexModel([("subject_id", ASCENDING)], unique=True,
                             name="one_invitation_per_event")],
    RATINGS: [IndexModel([("invitation_id", ASCENDING)], unique=True,
                         name="one_rating_per_invitation"),
              IndexModel([("member_id", ASCENDING)], name="by_member")],
}


def issue_invitation(uow, activity, *, secret, signer, base_url, now):
    """Invite the recipient of a service activity to rate it (一事一评)."""
    recipient = activity["recipient"]
    invitation_id = ev.new_id()
    invitation = {
        "_id": invitation_id,
        "subject_type": "activity",
        "subject_id": activity["activity_id"],
        "member_id": activity["member_id"],
        "member_name": activity.get("member_name"),
        "unit_id": activity.get("unit_id"),
        "branch_id": activity.get("branch_id"),
        "category": activity.get("category"),
        "recipient_name": recipient.get("name"),
        "recipient_phone_enc": Sealer(secret).seal(recipient["phone"]),
        "status": domain.ISSUED,
        "issued_at": now,
        "expires_at": domain.invitation_expiry(now),
    }
    uow.col(INVITATIONS).insert_one(invitation, session=uow.session)
    token = signer.dumps(invitation_id)
    uow.emit(ev.INVITATION_ISSUED, {
        "invitation_id": invitation_id,
        "subject_type": "activity",
        "subject_id": activity["activity_id"],
        "link": f"{base_url}/f/{token}",
        "recipient": {"name": recipient.get("name"),
                      "phone": recipient["phone"]},
        "member_name": activity.get("member_name"),
        "expires_at": invitation["expires_at"].isoformat(),
    })
    return invitation


def find_open_invitation(db, invitation_id, now):
    invitation = db[INVITATIONS].find_one({"_id": invitation_id})
    if invitation is None:
        raise NotFound("评价链接无效")
    if invitation["status"] == domain.USED:
        raise Conflict("该服务已评价，感谢您的参与", code="already_rated")
    if invitation["expires_at"] < now:
        raise Gone("评价链接已过期")
    return invitation


def submit_rating(uow, invitation_id, data, now):
    """Use the invitation once, store the rating, stage ``feedback.submitted``."""
    invitation = find_open_invitation(uow.db, invitation_id, now)
    claimed = uow.col(INVITATIONS).find_one_and_update(
        {"_id": invitation_id, "status": domain.ISSUED},
        {"$set": {"status": domain.USED, "used_at": now}},
        session=uow.session)
    if claimed is None:
        raise Conflict("该服务已评价，感谢您的参与", code="already_rated")
    rating = {
        "_id": ev.new_id(),
        "invitation_id": invitation_id,
        "subject_type": invitation["subject_type"],
        "subject_id": invitation["subject_id"],
        "member_id": invitation["member_id"],
        "unit_id": invitation.get("unit_id"),
        "branch_id": invitation.get("branch_id"),
        "rating": data["rating"],
        "comment": data.get("comment", ""),
        "bad": domain.is_bad(data["rating"]),
        "submitted_at": now,
    }
    uow.col(RATINGS).insert_one(rating, session=uow.session)
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
        "submitted_at": now.isoformat(),
    }, correlation_id=invitation["subject_id"])
    return rating


