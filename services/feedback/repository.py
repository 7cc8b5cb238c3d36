"""Persistence of the feedback service: invitations, ratings, rectifications
(整改), appeals (申诉), recommendations (推荐典型), objections (异议) and the
public board's read model (公示). (Rate-limit counters live in memory: see
``domain.RateCounter``.)

Every write that other services must hear about stages its event in the same
transaction (``uow.emit``). Contact details are sealed (encrypted) at rest;
look-ups use keyed hashes."""

import datetime as dt

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError

from sifuwu import events as ev
from sifuwu.errors import Conflict, Forbidden, Gone, NotFound
from sifuwu.privacy import Sealer, contact_hash, mask_name, mask_phone
from sifuwu.store import find_in
from services.feedback import domain

INVITATIONS = "invitations"
RATINGS = "ratings"
RECTIFICATIONS = "rectifications"
APPEALS = "appeals"
RECOMMENDATIONS = "recommendations"
OBJECTIONS = "objections"
PUBLICITY = "publicity"

INDEXES = {
    INVITATIONS: [IndexModel([("subject_id", ASCENDING)], unique=True,
                             name="one_invitation_per_event"),
                  IndexModel([("status", ASCENDING), ("issued_at", ASCENDING)],
                             name="by_status_issued_at")],
    RATINGS: [IndexModel([("invitation_id", ASCENDING)], unique=True,
                         name="one_rating_per_invitation"),
              IndexModel([("member_id", ASCENDING)], name="by_member")],
    RECTIFICATIONS: [
        IndexModel([("rating_id", ASCENDING)], unique=True,
                   name="one_rectification_per_rating"),
        IndexModel([("status", ASCENDING), ("callback_by", ASCENDING)],
                   name="by_status_callback_by"),
        IndexModel([("status", ASCENDING), ("fix_by", ASCENDING)],
                   name="by_status_fix_by"),
        IndexModel([("unit_id", ASCENDING), ("opened_at", DESCENDING)],
                   name="by_unit"),
    ],
    APPEALS: [IndexModel([("rating_id", ASCENDING)], unique=True,
                         name="one_appeal_per_rating"),
              IndexModel([("status", ASCENDING), ("filed_at", ASCENDING)],
                         name="by_status")],
    RECOMMENDATIONS: [IndexModel([("candidate_id", ASCENDING)],
                                 name="by_candidate"),
                      IndexModel([("submitted_at", DESCENDING)],
                                 name="by_time")],
    OBJECTIONS: [
        IndexModel([("campaign_id", ASCENDING), ("candidate_id", ASCENDING),
                    ("contact_hash", ASCENDING)], unique=True,
                   name="one_objection_per_person_and_candidate"),
        IndexModel([("campaign_id", ASCENDING), ("status", ASCENDING)],
                   name="by_campaign_status"),
    ],
    PUBLICITY: [IndexModel([("ends_on", ASCENDING)], name="by_end")],
}

ALREADY_RATED = "该服务已评价，感谢您的参与"
DUPLICATE_KEY = 11000  # the server's error code for a unique index hit


# -- invitations ------------------------------------------------------------

def issue_invitation(uow, *, subject_type, subject_id, contact, subject,
                     secret, signer, base_url, now,
                     days=domain.INVITATION_DAYS, correlation_id=None):
    """Invite the person in ``contact`` ({name, phone}) to rate one subject
    (一事一评). ``subject`` carries member_id, member_name, unit_id,
    branch_id, category. Returns None when the subject already has one."""
    [invitation] = issue_invitations(
        uow, [{"subject_type": subject_type, "subject_id": subject_id,
               "contact": contact, "subject": subject,
               "correlation_id": correlation_id}],
        secret=secret, signer=signer, base_url=base_url, now=now, days=days)
    return invitation


def issue_invitations(uow, wanted, *, secret, signer, base_url, now,
                      days=domain.INVITATION_DAYS):
    """Batch form of ``issue_invitation``: ``wanted`` is a list of
    {subject_type, subject_id, contact, subject, correlation_id}. Three
    statements whatever the size: one read of the subjects already invited
    ($in), one insert_many, and the events go out with the outbox. Returns
    one invitation per entry, None where the subject already has one (in the
    store or earlier in ``wanted``)."""
    col = uow.col(INVITATIONS)
    ids = list({item["subject_id"] for item in wanted})
    invited = {doc["subject_id"] for doc in find_in(
        col, "subject_id", ids, {"subject_id": 1}, uow.session)}
    sealer = Sealer(secret)
    expires_at = domain.invitation_expiry(now, days)
    issued, new = [], []
    for item in wanted:
        subject_id = item["subject_id"]
        if subject_id in invited:
            issued.append(None)
            continue
        invited.add(subject_id)
        contact, subject = item["contact"], item["subject"]
        invitation = {
            "_id": ev.new_id(),
            "subject_type": item["subject_type"],
            "subject_id": subject_id,
            "member_id": subject.get("member_id"),
            "member_name": subject.get("member_name"),
            "unit_id": subject.get("unit_id"),
            "branch_id": subject.get("branch_id"),
            "category": subject.get("category"),
            "recipient_name_enc": (sealer.seal(contact["name"])
                                   if contact.get("name") else None),
            "recipient_phone_enc": sealer.seal(contact["phone"]),
            "recipient_hash": contact_hash(secret, contact["phone"]),
            "status": domain.ISSUED,
            "issued_at": now,
            "expires_at": expires_at,
        }
        new.append(invitation)
        issued.append(invitation)
        token = signer.dumps(invitation["_id"])
        uow.emit(ev.INVITATION_ISSUED, {
            "invitation_id": invitation["_id"],
            "subject_type": invitation["subject_type"],
            "subject_id": subject_id,
            "link": f"{base_url}/f/{token}",
            # The phone travels only to notify, which delivers the link.
            "recipient": {"name": contact.get("name"),
                          "phone": contact["phone"]},
            "member_name": subject.get("member_name"),
            "expires_at": expires_at.isoformat(),
        }, correlation_id=item.get("correlation_id") or subject_id)
    if new:
        col.insert_many(new, session=uow.session)
    return issued


def find_invitation(db, invitation_id):
    invitation = db[INVITATIONS].find_one({"_id": invitation_id})
    if invitation is None:
        raise NotFound("评价链接无效", code="invalid_link")
    return invitation


def find_open_invitation(db, invitation_id, now, session=None):
    return open_invitation(
        db[INVITATIONS].find_one({"_id": invitation_id}, session=session),
        now)


def find_invitations(db, invitation_ids):
    """{id: invitation} of those that exist, in one read."""
    return {doc["_id"]: doc
            for doc in find_in(db[INVITATIONS], "_id", invitation_ids)}


def open_invitation(invitation, now):
    """``invitation`` (as read, or None) if it can still be rated at
    ``now``; otherwise the error the person sees."""
    if invitation is None:
        raise NotFound("评价链接无效", code="invalid_link")
    state = domain.invitation_state(invitation, now)
    if state == "used":
        raise Conflict(ALREADY_RATED, code="already_rated")
    if state == "expired":
        raise Gone("评价链接已过期", code="link_expired")
    return invitation


# -- ratings ------------------------------------------------------------------

def submit_ratings(uow, claims, now, *, timezone="Asia/Shanghai"):
    """Use each claim's invitation once, store its rating, stage its
    ``feedback.submitted``; a bad review opens a rectification, a
    recommendation is recorded. ``claims``: [(invitation, data)], each
    invitation a different one. Returns the ratings, in order.

    Each invitation is as ``open_invitation`` found it at ``now``, read
    before the transaction (what a rating copies from it never changes once
    issued). The transaction marks them used by id (one statement) and
    inserts the ratings (one statement): the unique index on the rating's
    invitation (and the write conflict on the invitation) let exactly one
    of concurrent submissions commit; the others get "already rated", and
    the whole transaction is refused (the caller retries the claims one by
    one). (A guard such as ``status: issued`` in the update's filter would
    make SecantusDB scan the collection.)"""
    ids = [invitation["_id"] for invitation, _ in claims]
    marked = uow.col(INVITATIONS).update_many(
        {"_id": {"$in": ids}},
        {"$set": {"status": domain.USED, "used_at": now}},
        session=uow.session)
    if marked.matched_count != len(ids):
        raise NotFound("评价链接无效", code="invalid_link")
    return record_ratings(uow, claims, now, timezone=timezone)


def default_candidates(db, now, working_days, limit=500):
    """Unused invitations issued at least ``working_days`` days ago."""
    cutoff = now - dt.timedelta(days=working_days)
    return [doc["_id"] for doc in db[INVITATIONS].find(
        {"status": domain.ISSUED, "issued_at": {"$lte": cutoff}},
        {"_id": 1}, limit=limit)]


def apply_default_rating(uow, invitation_id, now, working_days, *,
                         timezone="Asia/Shanghai"):
    """No rating within N working days counts as 满意, marked defaulted."""
    invitation = uow.col(INVITATIONS).find_one({"_id": invitation_id},
                                               session=uow.session)
    if invitation is None or invitation["status"] != domain.ISSUED:
        return None
    if domain.add_working_days(invitation["issued_at"], working_days,
                               timezone) > now:
        return None
    # by id: read and written in this transaction, and the rating's unique
    # index (Conflict when rated meanwhile), keep a concurrent submission
    # from rating it too
    uow.col(INVITATIONS).update_one(
        {"_id": invitation_id},
        {"$set": {"status": domain.USED, "used_at": now, "defaulted": True}},
        session=uow.session)
    return record_rating(uow, invitation, {"rating": domain.DEFAULT_LEVEL},
                         now, timezone=timezone, defaulted=True)


def record_rating(uow, invitation, data, now, *, timezone="Asia/Shanghai",
                  defaulted=False):
    """Store a rating for a claimed invitation and stage its events."""
    return record_ratings(uow, [(invitation, data)], now, timezone=timezone,
                          defaulted=defaulted)[0]


def record_ratings(uow, claims, now, *, timezone="Asia/Shanghai",
                   defaulted=False):
    """Store the ratings of claimed invitations ([(invitation, data)]) in
    one insert, with their side effects, and stage their events."""
    ratings = [_stage_rating(uow, invitation, data, now, timezone=timezone,
                             defaulted=defaulted)
               for invitation, data in claims]
    try:
        uow.col(RATINGS).insert_many(ratings, session=uow.session)
    except BulkWriteError as exc:
        # only a rating already stored for an invitation means "rated"
        if {error.get("code") for error in
                exc.details.get("writeErrors", [])} != {DUPLICATE_KEY}:
            raise
        raise Conflict(ALREADY_RATED, code="already_rated") from None
    return ratings


def _stage_rating(uow, invitation, data, now, *, timezone, defaulted):
    """The rating document (not yet inserted); a bad review's rectification,
    a recommendation and a rectification's fix rating written, the event
    staged."""
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
        rating["rectification_id"] = open_rectification(
            uow, rating, invitation, now, timezone=timezone,
            correlation_id=correlation)["_id"]
    if data.get("recommend") and rating["member_id"]:
        rating["recommendation_id"] = record_recommendation(
            uow, {"campaign_id": None, "candidate_type": "member",
                  "candidate_id": rating["member_id"],
                  "reason": data["recommend_reason"].strip()},
            now, source="rating", correlation_id=correlation)["_id"]
    if invitation["subject_type"] == domain.SUBJECT_RECTIFICATION:
        uow.col(RECTIFICATIONS).update_one(
            {"_id": invitation["subject_id"]},
            {"$set": {"fix_rating": rating["rating"],
                      "fix_rating_id": rating["_id"]}}, session=uow.session)
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


# -- rectifications (整改) -------------------------------------------------

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


def open_rectification(uow, rating, invitation, now, *,
                       timezone="Asia/Shanghai", correlation_id=None):
    """A bad review opens a case owned by the served member's unit."""
    callback_by, fix_by = domain.rectification_deadlines(now, timezone)
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
    uow.col(RECTIFICATIONS).insert_one(rect, session=uow.session)
    uow.emit(ev.RECTIFICATION_OPENED, rectification_event(rect),
             correlation_id=correlation_id)
    return rect


def get_rectification(db, rect_id, session=None):
    rect = db[RECTIFICATIONS].find_one({"_id": rect_id}, session=session)
    if rect is None:
        raise NotFound("未找到该整改事项")
    return rect


def move_rectification(uow, rect_id, new_status, changes, now, *, by):
    """Guarded transition of a rectification (only along RECT_TRANSITIONS)."""
    rect = get_rectification(uow.db, rect_id, session=uow.session)
    if not domain.can_move(rect["status"], new_status):
        raise Conflict(
            f"整改事项当前状态为“{domain.RECT_STATUS_NAMES[rect['status']]}”，"
            f"不能变更为“{domain.RECT_STATUS_NAMES[new_status]}”",
            code="invalid_transition")
    updated = uow.col(RECTIFICATIONS).find_one_and_update(
        {"_id": rect_id, "status": rect["status"]},
        {"$set": {"status": new_status, **changes},
         "$push": {"history": {"status": new_status, "at": now, "by": by}}},
        return_document=ReturnDocument.AFTER, session=uow.session)
    if updated is None:
        raise Conflict("整改事项状态已变化，请刷新后重试",
                       code="invalid_transition")
    return updated


def record_callback(uow, rect_id, note, now, *, by):
    """回访 done: the unit called the reviewer back."""
    return move_rectification(uow, rect_id, domain.RECT_CALLED_BACK,
                              {"callback_at": now, "callback_note": note},
                              now, by=by)


def close_rectification(uow, rect_id, outcome, now, *, by, secret, signer,
                        base_url):
    """整改完成: announce it and invite the reviewer to rate the fix."""
    rect = move_rectification(uow, rect_id, domain.RECT_CLOSED,
                              {"closed_at": now, "outcome": outcome}, now,
                              by=by)
    uow.emit(ev.RECTIFICATION_CLOSED, rectification_event(rect),
             correlation_id=rect["subject_id"])
    sealer = Sealer(secret)
    contact = {"phone": sealer.open(rect["reviewer_phone_enc"]),
               "name": (sealer.open(rect["reviewer_name_enc"])
                        if rect.get("reviewer_name_enc") else None)}
    invitation = uow.col(INVITATIONS).find_one(
        {"_id": rect["invitation_id"]}, session=uow.session) or {}
    issue_invitation(
        uow, subject_type=domain.SUBJECT_RECTIFICATION, subject_id=rect["_id"],
        contact=contact, subject={
            "member_id": rect.get("member_id"),
            "member_name": invitation.get("member_name"),
            "unit_id": rect.get("unit_id"),
            "branch_id": rect.get("branch_id"),
            "category": invitation.get("category")},
        secret=secret, signer=signer, base_url=base_url, now=now,
        correlation_id=rect["subject_id"])
    return rect


def overdue_candidates(db, now, limit=500):
    """Ids of active rectifications with a passed, unannounced deadline."""
    ids = []
    for doc in db[RECTIFICATIONS].find(
            {"status": domain.RECT_OPEN, "callback_by": {"$lte": now},
             "overdue": {"$ne": domain.DEADLINE_CALLBACK}},
            {"_id": 1}, limit=limit):
        ids.append(doc["_id"])
    for status in domain.RECT_ACTIVE:
        for doc in db[RECTIFICATIONS].find(
                {"status": status, "fix_by": {"$lte": now},
                 "overdue": {"$ne": domain.DEADLINE_FIX}},
                {"_id": 1}, limit=limit):
            ids.append(doc["_id"])
    return list(dict.fromkeys(ids))


def flag_overdue(uow, rect_id, now):
    """Announce each newly passed deadline once (rectification.overdue)."""
    rect = get_rectification(uow.db, rect_id, session=uow.session)
    announced = []
    for kind in domain.overdue_kinds(rect, now):
        result = uow.col(RECTIFICATIONS).update_one(
            {"_id": rect_id, "overdue": {"$ne": kind}},
            {"$addToSet": {"overdue": kind}}, session=uow.session)
        if result.modified_count != 1:
            continue
        data = rectification_event(rect)
        data.update({
            "deadline_kind": kind,
            "deadline": rect[f"{kind}_by"].isoformat(),
            # 逐级督办: a missed callback goes to the unit, a missed fix
            # to the supervision office.
            "level": 1 if kind == domain.DEADLINE_CALLBACK else 3,
        })
        uow.emit(ev.RECTIFICATION_OVERDUE, data,
                 correlation_id=rect["subject_id"])
        announced.append(kind)
    return announced


def list_rectifications(db, filters):
    query = {}
    if filters.get("unit_id"):
        query["unit_id"] = filters["unit_id"]
    if filters.get("status"):
        query["status"] = filters["status"]
    return list(db[RECTIFICATIONS].find(
        query, sort=[("opened_at", DESCENDING)],
        limit=filters.get("limit", 100)))


def reviewer_contact(rect, secret, reveal):
    """The reviewer's contact: clear for entitled staff, masked otherwise."""
    sealer = Sealer(secret)
    name = (sealer.open(rect["reviewer_name_enc"])
            if rect.get("reviewer_name_enc") else None)
    phone = sealer.open(rect["reviewer_phone_enc"])
    if reveal:
        return {"name": name, "phone": phone}
    return {"name": mask_name(name), "phone": mask_phone(phone)}


# -- appeals (申诉) ----------------------------------------------------------

def file_appeal(uow, rating_id, reason, now, *, by):
    """The unit appeals a bad review it holds mistaken or malicious."""
    rating = uow.col(RATINGS).find_one({"_id": rating_id},
                                       session=uow.session)
    if rating is None:
        raise NotFound("未找到该评价")
    if not rating["bad"]:
        raise Conflict("只能对差评提出申诉", code="not_a_bad_review")
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
    try:
        uow.col(APPEALS).insert_one(appeal, session=uow.session)
    except DuplicateKeyError:
        raise Conflict("该评价已提出过申诉", code="already_appealed")
    return appeal


def decide_appeal(uow, appeal_id, upheld, reason, now, *, by):
    """Staff decide with a stated reason; only an upheld appeal excludes the
    review from scores (and voids its open rectification)."""
    appeal = uow.col(APPEALS).find_one({"_id": appeal_id},
                                       session=uow.session)
    if appeal is None:
        raise NotFound("未找到该申诉")
    if appeal["status"] != domain.APPEAL_PENDING:
        raise Conflict("该申诉已有决定", code="already_decided")
    if appeal["filed_by"] == by:
        raise Forbidden("申诉人不能裁决本人提交的申诉")
    status = domain.APPEAL_UPHELD if upheld else domain.APPEAL_REJECTED
    appeal = uow.col(APPEALS).find_one_and_update(
        {"_id": appeal_id, "status": domain.APPEAL_PENDING},
        {"$set": {"status": status, "decision_reason": reason,
                  "decided_by": by, "decided_at": now}},
        return_document=ReturnDocument.AFTER, session=uow.session)
    if appeal is None:
        raise Conflict("该申诉已有决定", code="already_decided")
    rating = uow.col(RATINGS).find_one({"_id": appeal["rating_id"]},
                                       session=uow.session)
    if upheld:
        uow.col(RATINGS).update_one(
            {"_id": appeal["rating_id"]},
            {"$set": {"excluded": True, "excluded_by_appeal": appeal_id}},
            session=uow.session)
        rect_id = appeal.get("rectification_id")
        if rect_id:
            rect = get_rectification(uow.db, rect_id, session=uow.session)
            if rect["status"] in domain.RECT_ACTIVE:
                rect = move_rectification(
                    uow, rect_id, domain.RECT_VOID,
                    {"closed_at": now, "outcome": "申诉成立：" + reason},
                    now, by=by)
                uow.emit(ev.RECTIFICATION_CLOSED, rectification_event(rect),
                         correlation_id=rect["subject_id"])
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


def list_appeals(db, filters):
    query = {}
    if filters.get("status"):
        query["status"] = filters["status"]
    return list(db[APPEALS].find(query, sort=[("filed_at", ASCENDING)],
                                 limit=filters.get("limit", 100)))


# -- recommendations (推荐典型) ---------------------------------------------

def record_recommendation(uow, data, now, *, source, secret=None,
                          correlation_id=None):
    """A recipient recommends a member or a branch as a model."""
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
        sealer = Sealer(secret)
        recommendation["recommender_phone_enc"] = sealer.seal(data["phone"])
        if data.get("name"):
            recommendation["recommender_name_enc"] = sealer.seal(data["name"])
    uow.col(RECOMMENDATIONS).insert_one(recommendation, session=uow.session)
    uow.emit(ev.RECOMMENDATION_SUBMITTED, {
        "recommendation_id": recommendation["_id"],
        "campaign_id": recommendation["campaign_id"],
        "candidate_type": recommendation["candidate_type"],
        "candidate_id": recommendation["candidate_id"],
        "reason": recommendation["reason"],
    }, correlation_id=correlation_id)
    return recommendation


def list_recommendations(db, filters):
    return list(db[RECOMMENDATIONS].find(
        {}, sort=[("submitted_at", DESCENDING)],
        limit=filters.get("limit", 100)))


# -- the public board (公示) and objections (异议) -------------------------

def save_publicity(uow, data, now):
    """Keep the board's copy of a publicity list (read model)."""
    doc = {
        "_id": data["campaign_id"],
        "title": data["title"],
        "starts_on": data["starts_on"].isoformat(),
        "ends_on": data["ends_on"].isoformat(),
        "candidates": data["candidates"],
        "received_at": now,
    }
    uow.col(PUBLICITY).replace_one({"_id": doc["_id"]}, doc, upsert=True,
                                   session=uow.session)
    return doc


def board(db, today, recent_days=30):
    """Publicity lists still open or ended within ``recent_days``, each with
    its answered objections (the answer, never the objector)."""
    since = (today - dt.timedelta(days=recent_days)).isoformat()
    lists = list(db[PUBLICITY].find({"ends_on": {"$gte": since}},
                                    sort=[("ends_on", ASCENDING)]))
    lists = [p for p in lists if p["starts_on"] <= today.isoformat()]
    for publicity in lists:
        publicity["open"] = domain.publicity_is_open(publicity,
                                                     today.isoformat())
        names = {c["candidate_id"]: c["name"] for c in publicity["candidates"]}
        publicity["answers"] = [
            {"ref": o["ref"], "candidate_id": o["candidate_id"],
             "candidate_name": names.get(o["candidate_id"], ""),
             "substantiated": o["substantiated"], "answer": o["answer"],
             "answered_at": o["answered_at"]}
            for o in db[OBJECTIONS].find(
                {"campaign_id": publicity["_id"], "status": "answered"},
                sort=[("answered_at", ASCENDING)])]
    return lists


def file_objection(uow, data, now, *, secret, today):
    """异议: kept with sealed contact details; one per person and candidate."""
    publicity = uow.col(PUBLICITY).find_one({"_id": data["campaign_id"]},
                                            session=uow.session)
    if publicity is None:
        raise NotFound("未找到该公示")
    if not domain.publicity_is_open(publicity, today.isoformat()):
        raise Conflict("该公示不在公示期内，不能提出异议",
                       code="publicity_closed")
    if data["candidate_id"] not in {c["candidate_id"]
                                    for c in publicity["candidates"]}:
        raise NotFound("公示名单中没有该对象", code="unknown_candidate")
    sealer = Sealer(secret)
    objection_id = ev.new_id()
    objection = {
        "_id": objection_id,
        "ref": domain.short_ref(objection_id),
        "campaign_id": data["campaign_id"],
        "candidate_id": data["candidate_id"],
        "reason": data["reason"].strip(),
        "objector_name_enc": (sealer.seal(data["name"].strip())
                              if (data.get("name") or "").strip() else None),
        "objector_phone_enc": sealer.seal(data["phone"]),
        "contact_hash": contact_hash(secret, data["phone"]),
        "status": "filed",
        "substantiated": None,
        "answer": None,
        "filed_at": now,
        "answered_at": None,
    }
    try:
        uow.col(OBJECTIONS).insert_one(objection, session=uow.session)
    except DuplicateKeyError:
        raise Conflict("您已对该公示对象提出过异议，请等待答复",
                       code="already_objected")
    uow.emit(ev.OBJECTION_FILED, {
        "objection_id": objection_id,
        "campaign_id": objection["campaign_id"],
        "candidate_id": objection["candidate_id"],
        "reason": objection["reason"],
    }, correlation_id=objection["campaign_id"])
    return objection


def answer_objection(uow, objection_id, substantiated, answer, now, *, by,
                     secret=None):
    objection = uow.col(OBJECTIONS).find_one_and_update(
        {"_id": objection_id, "status": "filed"},
        {"$set": {"status": "answered", "substantiated": substantiated,
                  "answer": answer, "answered_by": by, "answered_at": now}},
        return_document=ReturnDocument.AFTER, session=uow.session)
    if objection is None:
        if uow.col(OBJECTIONS).find_one({"_id": objection_id},
                                        session=uow.session) is None:
            raise NotFound("未找到该异议")
        raise Conflict("该异议已答复", code="already_answered")
    uow.emit(ev.OBJECTION_ANSWERED, {
        "objection_id": objection_id,
        "campaign_id": objection["campaign_id"],
        "candidate_id": objection["candidate_id"],
        "substantiated": substantiated,
        "answer": answer,
        # only notify reads it, to send the answer to the objector (答复异议人)
        "objector": objector_contact(objection, secret) if secret else None,
    }, correlation_id=objection["campaign_id"])
    return objection


def record_answer_from_assessment(uow, data, now):
    """An answer given by assessment's staff: shown on the board too (no
    event: assessment already announced it)."""
    return uow.col(OBJECTIONS).find_one_and_update(
        {"_id": data["objection_id"], "status": "filed"},
        {"$set": {"status": "answered",
                  "substantiated": data["substantiated"],
                  "answer": data["answer"], "answered_by": "assessment",
                  "answered_at": now}},
        return_document=ReturnDocument.AFTER, session=uow.session)


def list_objections(db, filters):
    query = {}
    if filters.get("campaign_id"):
        query["campaign_id"] = filters["campaign_id"]
        if filters.get("status"):
            query["status"] = filters["status"]
    return list(db[OBJECTIONS].find(query, sort=[("filed_at", ASCENDING)],
                                    limit=filters.get("limit", 100)))


def objector_contact(objection, secret):
    sealer = Sealer(secret)
    return {"name": (sealer.open(objection["objector_name_enc"])
                     if objection.get("objector_name_enc") else None),
            "phone": sealer.open(objection["objector_phone_enc"])}
