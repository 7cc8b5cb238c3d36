"""Storage of the feedback service (reads and writes only, no rules):
invitations, ratings, rectifications (整改), appeals (申诉), recommendations
(推荐典型), objections (异议) and the public board's read model (公示).

``FeedbackRepository(uow)`` is what a step sees as ``uow.repo``: every write
goes through the unit of work (its session, its chunked collections), so the
events a step emits are stored in the same transaction. Reads outside a
transaction use ``reading(db)``. Contact details arrive sealed (encrypted);
look-ups use keyed hashes."""

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError

from sifuwu.store import find_in

INVITATIONS = "invitations"
RATINGS = "ratings"
RECTIFICATIONS = "rectifications"
APPEALS = "appeals"
RECOMMENDATIONS = "recommendations"
OBJECTIONS = "objections"
PUBLICITY = "publicity"
RATE_LIMITS = "rate_limits"  # written by services.feedback.rates

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
                         name="by_status"),
              IndexModel([("unit_id", ASCENDING), ("filed_at", ASCENDING)],
                         name="by_unit")],
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
    # a rate-limit window's counter goes once its window is over
    RATE_LIMITS: [IndexModel([("expires_at", ASCENDING)],
                             expireAfterSeconds=0, name="rate_window_ttl")],
}


DUPLICATE_KEY = 11000  # the server's error code for a unique index hit


class FeedbackRepository:
    """The feedback collections as seen from one unit of work."""

    def __init__(self, uow):
        self.uow = uow

    def _col(self, name):
        return self.uow.col(name)

    @property
    def _session(self):
        return self.uow.session

    def _find_one(self, name, query):
        return self._col(name).find_one(query, session=self._session)

    def _insert_unique(self, name, doc):
        """Insert ``doc``; False when a unique index already holds it."""
        try:
            self._col(name).insert_one(doc, session=self._session)
        except DuplicateKeyError:
            return False
        return True

    def _update_from(self, name, doc_id, status, update):
        """Apply ``update`` if the document is still in ``status``; the
        document after it, or None."""
        return self._col(name).find_one_and_update(
            {"_id": doc_id, "status": status}, update,
            return_document=ReturnDocument.AFTER, session=self._session)

    def _list(self, name, query, sort, limit):
        return list(self._col(name).find(query, sort=sort, limit=limit,
                                         session=self._session))

    # -- invitations ----------------------------------------------------------

    def invited_subjects(self, subject_ids):
        """The ones of ``subject_ids`` that already have an invitation."""
        return {doc["subject_id"] for doc in find_in(
            self._col(INVITATIONS), "subject_id", list(subject_ids),
            {"subject_id": 1}, self._session)}

    def insert_invitations(self, invitations):
        self._col(INVITATIONS).insert_many(invitations, session=self._session)

    def invitation(self, invitation_id):
        return self._find_one(INVITATIONS, {"_id": invitation_id})

    def invitations(self, invitation_ids):
        """{id: invitation} of those that exist, in one read."""
        return {doc["_id"]: doc for doc in find_in(
            self._col(INVITATIONS), "_id", invitation_ids,
            session=self._session)}

    def update_invitations(self, invitation_ids, changes):
        """Set ``changes`` on the invitations, by id alone (a filter of an id
        plus other conditions makes SecantusDB scan the collection); the
        number matched."""
        return self._col(INVITATIONS).update_many(
            {"_id": {"$in": invitation_ids}}, {"$set": changes},
            session=self._session).matched_count

    def update_invitation(self, invitation_id, changes):
        self._col(INVITATIONS).update_one(
            {"_id": invitation_id}, {"$set": changes}, session=self._session)

    def invitations_issued_before(self, status, cutoff, limit):
        """Ids of invitations in ``status`` issued at or before ``cutoff``."""
        return [doc["_id"] for doc in self._col(INVITATIONS).find(
            {"status": status, "issued_at": {"$lte": cutoff}}, {"_id": 1},
            limit=limit, session=self._session)]

    # -- ratings --------------------------------------------------------------

    def insert_ratings(self, ratings):
        """Insert the ratings; False when an invitation already has one."""
        try:
            self._col(RATINGS).insert_many(ratings, session=self._session)
        except BulkWriteError as exc:
            if {error.get("code") for error in
                    exc.details.get("writeErrors", [])} != {DUPLICATE_KEY}:
                raise
            return False
        return True

    def rating(self, rating_id):
        return self._find_one(RATINGS, {"_id": rating_id})

    def update_rating(self, rating_id, changes):
        self._col(RATINGS).update_one({"_id": rating_id}, {"$set": changes},
                                      session=self._session)

    # -- rectifications -------------------------------------------------------

    def insert_rectification(self, rect):
        self._col(RECTIFICATIONS).insert_one(rect, session=self._session)

    def rectification(self, rect_id):
        return self._find_one(RECTIFICATIONS, {"_id": rect_id})

    def update_rectification(self, rect_id, changes):
        self._col(RECTIFICATIONS).update_one(
            {"_id": rect_id}, {"$set": changes}, session=self._session)

    def move_rectification(self, rect_id, status, changes, entry):
        """Set ``changes`` and append ``entry`` to the history if the
        rectification is still in ``status``; it after, or None."""
        return self._update_from(RECTIFICATIONS, rect_id, status, {
            "$set": changes, "$push": {"history": entry}})

    def rectifications_due(self, status, kind, now, limit):
        """Ids in ``status`` whose ``<kind>_by`` passed, not flagged ``kind``."""
        return [doc["_id"] for doc in self._col(RECTIFICATIONS).find(
            {"status": status, f"{kind}_by": {"$lte": now},
             "overdue": {"$ne": kind}}, {"_id": 1}, limit=limit,
            session=self._session)]

    def flag_overdue(self, rect_id, kind):
        """Record ``kind`` as announced; False if it already was."""
        return self._col(RECTIFICATIONS).update_one(
            {"_id": rect_id, "overdue": {"$ne": kind}},
            {"$addToSet": {"overdue": kind}},
            session=self._session).modified_count == 1

    def list_rectifications(self, filters):
        """By unit and status (each optional), newest first."""
        query = {}
        if filters.get("unit_id"):
            query["unit_id"] = filters["unit_id"]
        if filters.get("status"):
            query["status"] = filters["status"]
        return self._list(RECTIFICATIONS, query, [("opened_at", DESCENDING)],
                          filters.get("limit", 100))

    # -- appeals --------------------------------------------------------------

    def insert_appeal(self, appeal):
        """False when the rating already has an appeal."""
        return self._insert_unique(APPEALS, appeal)

    def appeal(self, appeal_id):
        return self._find_one(APPEALS, {"_id": appeal_id})

    def decide_appeal(self, appeal_id, status, changes):
        """``changes`` if the appeal is still in ``status``; it after, or
        None."""
        return self._update_from(APPEALS, appeal_id, status,
                                 {"$set": changes})

    def list_appeals(self, filters):
        """By unit and status (each optional), oldest first."""
        query = {}
        if filters.get("unit_id"):
            query["unit_id"] = filters["unit_id"]
        if filters.get("status"):
            query["status"] = filters["status"]
        return self._list(APPEALS, query, [("filed_at", ASCENDING)],
                          filters.get("limit", 100))

    # -- recommendations ------------------------------------------------------

    def insert_recommendation(self, recommendation):
        self._col(RECOMMENDATIONS).insert_one(recommendation,
                                              session=self._session)

    def list_recommendations(self, filters):
        return self._list(RECOMMENDATIONS, {}, [("submitted_at", DESCENDING)],
                          filters.get("limit", 100))

    # -- the public board and objections --------------------------------------

    def save_publicity(self, publicity):
        self._col(PUBLICITY).replace_one({"_id": publicity["_id"]}, publicity,
                                         upsert=True, session=self._session)

    def publicity(self, campaign_id):
        return self._find_one(PUBLICITY, {"_id": campaign_id})

    def publicity_ending_since(self, since):
        """Lists ending on or after ``since`` (ISO date), by end."""
        return list(self._col(PUBLICITY).find(
            {"ends_on": {"$gte": since}}, sort=[("ends_on", ASCENDING)],
            session=self._session))

    def objections_in(self, campaign_id, status):
        """A list's objections in ``status``, by time of answer."""
        return list(self._col(OBJECTIONS).find(
            {"campaign_id": campaign_id, "status": status},
            sort=[("answered_at", ASCENDING)], session=self._session))

    def insert_objection(self, objection):
        """False when this person already objected to this candidate."""
        return self._insert_unique(OBJECTIONS, objection)

    def objection(self, objection_id):
        return self._find_one(OBJECTIONS, {"_id": objection_id})

    def answer_objection(self, objection_id, status, changes):
        """``changes`` if the objection is still in ``status``; it after, or
        None."""
        return self._update_from(OBJECTIONS, objection_id, status,
                                 {"$set": changes})

    def list_objections(self, filters):
        """By campaign, and within it by status (each optional)."""
        query = {}
        if filters.get("campaign_id"):
            query["campaign_id"] = filters["campaign_id"]
            if filters.get("status"):
                query["status"] = filters["status"]
        return self._list(OBJECTIONS, query, [("filed_at", ASCENDING)],
                          filters.get("limit", 100))


class Reading:
    """A unit of work for reads outside any transaction (no session, no
    events): ``reading(db).repo`` is the same repository."""

    session = None

    def __init__(self, db):
        self.db = db
        self.repo = FeedbackRepository(self)

    def col(self, name):
        return self.db[name]

    def emit(self, *args, **kwargs):
        raise RuntimeError("a read outside a transaction emits no event")


def reading(db):
    return Reading(db)
