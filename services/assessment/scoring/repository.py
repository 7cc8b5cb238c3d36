"""Storage of scoring (计分): reads and writes only.

Collections:

* ``schemes``: versioned assessment schemes (考评方案), ``_id`` = version;
* ``period_schemes``: a month pinned to a scheme version by re-scoring;
* ``contributions``: one document per event (or per demand, updated to its
  latest state), with the event ids behind it: every figure is traceable;
* ``scorecards``: monthly cards per member, branch and unit, kept by
  running sums (``scoring/steps.py``); a card's contributions are found
  through the indexed contributions query, not listed on the card. A
  subject's cards are read by id, a type's cards of a month through the
  ``by_period`` index.
"""

from pymongo import ASCENDING, DESCENDING, IndexModel, ReplaceOne, UpdateOne
from pymongo.errors import DuplicateKeyError

from sifuwu.errors import NotFound
from sifuwu.store import find_in
from services.assessment.directory.repository import DirectoryRepository
from services.assessment.storage import by_ids

SCHEMES = "schemes"
PERIOD_SCHEMES = "period_schemes"
CONTRIBUTIONS = "contributions"
SCORECARDS = "scorecards"

INDEXES = {
    SCHEMES: [IndexModel([("version", DESCENDING)], name="by_version")],
    CONTRIBUTIONS: [
        IndexModel([("members", ASCENDING), ("month", ASCENDING)],
                   name="by_member_month"),
        IndexModel([("branch_id", ASCENDING), ("month", ASCENDING)],
                   name="by_branch_month"),
        IndexModel([("unit_id", ASCENDING), ("month", ASCENDING)],
                   name="by_unit_month"),
        IndexModel([("month", ASCENDING)], name="by_month"),
        IndexModel([("rating_id", ASCENDING)], name="by_rating"),
    ],
    SCORECARDS: [
        IndexModel([("subject_type", ASCENDING), ("period", ASCENDING)],
                   name="by_period"),
    ],
}

# Indexes earlier versions created that nothing reads any more: dropped at
# start-up (each one is rewritten on every write to its collection).
RETIRED_INDEXES = {
    # a subject's cards are read by id (``card_ids``)
    SCORECARDS: ["by_subject"],
}

SUBJECT_FIELD = {"member": "members", "branch": "branch_id",
                 "unit": "unit_id"}


class ScoringRepository:
    """Schemes, contributions and scorecards through a unit of work (or a
    ``Reader``); ``directory`` is the directory copy's repository."""

    def __init__(self, uow):
        self.uow = uow
        self.directory = DirectoryRepository(uow)

    @property
    def _db(self):
        return self.uow.db

    @property
    def _session(self):
        return self.uow.session

    # -- schemes ---------------------------------------------------------------

    def add_first_scheme(self, scheme):
        """Store ``scheme`` if there is no scheme yet; whether it was."""
        if self._db[SCHEMES].find_one({}, session=self._session) is not None:
            return False
        try:
            self._db[SCHEMES].insert_one(scheme, session=self._session)
        except DuplicateKeyError:
            return False
        return True

    def all_schemes(self):
        return list(self._db[SCHEMES].find({}, session=self._session).sort(
            "version", DESCENDING))

    def get_scheme(self, version):
        version = int(version)
        # Beyond BSON's int64 no scheme can exist (and the driver would
        # raise).
        scheme = self._db[SCHEMES].find_one(
            {"_id": version}, session=self._session) \
            if -2**63 <= version < 2**63 else None
        if scheme is None:
            raise NotFound(f"未找到第 {version} 版考评方案")
        return scheme

    def latest_scheme(self):
        return self.uow.col(SCHEMES).find_one(
            {}, sort=[("version", DESCENDING)], session=self._session)

    def insert_scheme(self, scheme):
        self.uow.col(SCHEMES).insert_one(scheme, session=self._session)

    def pinned_version(self, month):
        """The scheme version a month is pinned to, or None."""
        pin = self._db[PERIOD_SCHEMES].find_one({"_id": month},
                                                session=self._session)
        return None if pin is None else pin["scheme_version"]

    def pinned_versions(self, months):
        """{month: version} of the pinned ones among ``months``."""
        return {pin["_id"]: pin["scheme_version"] for pin in self._db[
            PERIOD_SCHEMES].find({"_id": {"$in": months}},
                                 session=self._session)}

    def pin(self, month, version, now):
        self.uow.col(PERIOD_SCHEMES).replace_one(
            {"_id": month}, {"_id": month, "scheme_version": version,
                             "pinned_at": now},
            upsert=True, session=self._session)

    # -- contributions ---------------------------------------------------------

    def existing(self, ids):
        """The ids of stored contributions among ``ids``."""
        return {c["_id"] for c in by_ids(self._db, CONTRIBUTIONS, ids,
                                          {"_id": 1}, session=self._session)}

    def contributions(self, ids):
        """The stored contributions with these ids, {id: contribution}."""
        return {c["_id"]: c for c in by_ids(
            self._db, CONTRIBUTIONS, ids, session=self._session)}

    def contribution(self, contribution_id):
        return self.uow.col(CONTRIBUTIONS).find_one(
            {"_id": contribution_id}, session=self._session)

    def insert_contributions(self, docs):
        self.uow.col(CONTRIBUTIONS).insert_many(docs, session=self._session)

    def insert_contribution(self, doc):
        self.uow.col(CONTRIBUTIONS).insert_one(doc, session=self._session)

    def update_contribution(self, contribution_id, change):
        self.uow.col(CONTRIBUTIONS).update_one(
            {"_id": contribution_id}, change, session=self._session)

    def save_contributions(self, replaced=(), patched=None):
        """One statement: contributions written whole (``replaced``) and
        fields set on others (``patched``: {id: fields}), in id order."""
        writes = {doc["_id"]: ReplaceOne({"_id": doc["_id"]}, doc,
                                         upsert=True) for doc in replaced}
        writes.update({key: UpdateOne({"_id": key}, {"$set": fields})
                       for key, fields in (patched or {}).items()})
        if writes:
            self.uow.col(CONTRIBUTIONS).bulk_write(
                [writes[key] for key in sorted(writes)],
                session=self._session)

    def about_ratings(self, rating_ids):
        """Contributions naming these ratings (the ratings and their
        marks)."""
        return find_in(self.uow.col(CONTRIBUTIONS), "rating_id", rating_ids,
                       session=self._session)

    def missing(self, field, member_ids):
        """Contributions of these members stored without ``field``."""
        return find_in(self.uow.col(CONTRIBUTIONS), "members", member_ids,
                       session=self._session, extra={field: None})

    def of_month(self, month):
        return self.uow.col(CONTRIBUTIONS).find({"month": month},
                                                session=self._session)

    def of_subject(self, subject_type, subject_id, months):
        query = {SUBJECT_FIELD[subject_type]: subject_id,
                 "month": months[0] if len(months) == 1 else {"$in": months}}
        return list(self._db[CONTRIBUTIONS].find(query,
                                                  session=self._session))

    def of_member(self, member_id):
        return list(self._db[CONTRIBUTIONS].find({"members": member_id},
                                                  session=self._session))

    # -- scorecards ------------------------------------------------------------

    def cards(self, ids):
        return by_ids(self._db, SCORECARDS, ids, session=self._session)

    def cards_of_month(self, subject_type, month):
        return self.uow.col(SCORECARDS).find(
            {"subject_type": subject_type, "period": month},
            session=self._session)

    def monthly_cards(self, subject_type, months, fields=None):
        projection = dict.fromkeys(fields, 1) if fields else None
        return list(self._db[SCORECARDS].find(
            {"subject_type": subject_type,
             "period": months[0] if len(months) == 1 else {"$in": months}},
            projection, session=self._session))

    def write_cards(self, cards):
        """Write cards whole, in order, in one statement."""
        self.uow.col(SCORECARDS).bulk_write(
            [ReplaceOne({"_id": card["_id"]}, card, upsert=True)
             for card in cards], session=self._session)
