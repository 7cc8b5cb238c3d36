"""Rectifications (整改) of bad reviews: opened by the review, called back
(回访), closed with a fix rating invited, voided by an upheld appeal, and
announced when a deadline passes (逐级督办)."""

from sifuwu import events as ev
from sifuwu.errors import NotFound
from sifuwu.privacy import Sealer
from services.feedback import domain
from services.feedback.steps import invitations


def rectification_event(rect):
    return {
        "rectification_id": rect["_id"],
        "rating_id": rect["rating_id"],
        "member_id": rect.get("member_id"),
        "unit_id": rect.get("unit_id"),
        "status": rect["status"],
        "callback_by": rect["callback_by"].isoformat(),
        "fix_by": rect["fix_by"].isoformat(),
        "closed_at": (rect["closed_at"].isoformat()
                      if rect.get("closed_at") else None),
    }


def open_rectification(uow, rating, invitation, now, *, tz, calendar,
                       correlation_id=None):
    """A bad review opens a case owned by the served member's unit, with
    its callback deadline in working days on ``calendar``."""
    callback_by, fix_by = domain.rectification_deadlines(now, tz, calendar)
    rect = {
        "_id": ev.new_id(),
        "rating_id": rating["_id"],
        "invitation_id": invitation["_id"],
        "subject_type": invitation["subject_type"],
        "subject_id": invitation["subject_id"],
        "member_id": rating.get("member_id"),
        "unit_id": rating.get("unit_id"),
        "branch_id": rating.get("branch_id"),
        "rating": rating["rating"],
        "comment": rating.get("comment", ""),
        "status": domain.RECT_OPEN,
        "opened_at": now,
        "callback_by": callback_by,
        "fix_by": fix_by,
        "callback_at": None,
        "callback_note": None,
        "closed_at": None,
        "outcome": None,
        "overdue": [],
        # The reviewer, sealed: only staff see it, to call back (回访).
        "reviewer_name_enc": invitation.get("recipient_name_enc"),
        "reviewer_phone_enc": invitation["recipient_phone_enc"],
        "history": [{"status": domain.RECT_OPEN, "at": now}],
    }
    uow.repo.insert_rectification(rect)
    uow.emit(ev.RECTIFICATION_OPENED, rectification_event(rect),
             correlation_id=correlation_id)
    return rect


def show_rectification(uow, rect_id):
    rect = uow.repo.rectification(rect_id)
    if rect is None:
        raise NotFound("未找到该整改事项")
    return rect


def move_rectification(uow, rect_id, new_status, changes, now, *, by):
    """A guarded move (only along ``domain.RECT_TRANSITIONS``), recorded in
    the rectification's history."""
    rect = show_rectification(uow, rect_id)
    domain.check_move(rect["status"], new_status)
    updated = uow.repo.move_rectification(
        rect_id, rect["status"], {"status": new_status, **changes},
        {"status": new_status, "at": now, "by": by})
    if updated is None:
        raise domain.moved_meanwhile()
    return updated


def record_callback(uow, rect_id, note, now, *, by):
    """回访 done: the unit called the reviewer back."""
    return move_rectification(uow, rect_id, domain.RECT_CALLED_BACK,
                              {"callback_at": now, "callback_note": note},
                              now, by=by)


def close_rectification(uow, rect_id, outcome, now, *, by, secret, signer,
                        base_url, sealer=None):
    """整改完成: announce it and invite the reviewer to rate the fix."""
    rect = move_rectification(uow, rect_id, domain.RECT_CLOSED,
                              {"closed_at": now, "outcome": outcome}, now,
                              by=by)
    uow.emit(ev.RECTIFICATION_CLOSED, rectification_event(rect),
             correlation_id=rect["subject_id"])
    sealer = sealer or Sealer(secret)
    contact = {"phone": sealer.open(rect["reviewer_phone_enc"]),
               "name": (sealer.open(rect["reviewer_name_enc"])
                        if rect.get("reviewer_name_enc") else None)}
    invitation = uow.repo.invitation(rect["invitation_id"]) or {}
    invitations.invite(
        uow, subject_type=domain.SUBJECT_RECTIFICATION, subject_id=rect["_id"],
        contact=contact, subject={
            "member_id": rect.get("member_id"),
            "member_name": invitation.get("member_name"),
            "unit_id": rect.get("unit_id"),
            "branch_id": rect.get("branch_id"),
            "category": invitation.get("category")},
        secret=secret, signer=signer, base_url=base_url, now=now,
        sealer=sealer,
        correlation_id=rect["subject_id"])
    return rect


def void_rectification(uow, rect_id, reason, now, *, by):
    """An upheld appeal voids the rectification while it is active."""
    rect = show_rectification(uow, rect_id)
    if not domain.voids_rectification(rect):
        return rect
    rect = move_rectification(uow, rect_id, domain.RECT_VOID,
                              {"closed_at": now, "outcome": "申诉成立：" + reason},
                              now, by=by)
    uow.emit(ev.RECTIFICATION_CLOSED, rectification_event(rect),
             correlation_id=rect["subject_id"])
    return rect


def overdue_candidates(uow, now, limit=500):
    """Ids of active rectifications with a passed, unannounced deadline."""
    ids = []
    for status, kind in domain.OVERDUE_QUERIES:
        ids.extend(uow.repo.rectifications_due(status, kind, now, limit))
    return list(dict.fromkeys(ids))


def flag_overdue(uow, rect_id, now):
    """Announce each newly passed deadline once (rectification.overdue)."""
    rect = show_rectification(uow, rect_id)
    announced = []
    for kind in domain.overdue_kinds(rect, now):
        if not uow.repo.flag_overdue(rect_id, kind):
            continue
        data = rectification_event(rect)
        data.update({
            "deadline_kind": kind,
            "deadline": rect[f"{kind}_by"].isoformat(),
            "level": domain.OVERDUE_LEVELS[kind],
        })
        uow.emit(ev.RECTIFICATION_OVERDUE, data,
                 correlation_id=rect["subject_id"])
        announced.append(kind)
    return announced


def list_rectifications(uow, filters):
    return uow.repo.list_rectifications(filters)
