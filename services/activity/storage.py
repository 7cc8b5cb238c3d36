"""What the activity repositories share: the base class a unit of work builds
(``uow.repo``), the arrival documents of out-of-order pairs, and the paged,
index-planned staff queries. Storage only: no rules here."""

from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateOne

from sifuwu.store import find_in

# One document per awaited member or demand. Both sides of an out-of-order
# pair write it, so two concurrent transactions conflict and one retries
# (otherwise each could miss the other under snapshot isolation).
ARRIVALS = "arrival_locks"


def index_by(field, when="occurred_at"):
    return IndexModel([(field, ASCENDING), (when, DESCENDING)],
                      name=f"by_{field}")


class _Reading:
    """A unit of work's storage side outside any transaction (reads)."""

    session = None

    def __init__(self, db):
        self.db = db

    def col(self, name):
        return self.db[name]


class Repository:
    """Storage of one sub-domain, built by the unit of work
    (``store.transaction(fn, repository=...)``) or, for reads outside a
    transaction, by ``reading(db)``."""

    def __init__(self, uow):
        self.uow = uow

    @classmethod
    def reading(cls, db):
        return cls(_Reading(db))

    def col(self, name):
        return self.uow.col(name)

    @property
    def session(self):
        return self.uow.session

    def find_by_ids(self, collection, ids, projection=None):
        """{_id: document} of the documents with these ids (one ``$in``)."""
        ids = [i for i in ids if i is not None]
        return {doc["_id"]: doc for doc in find_in(
            self.col(collection), "_id", ids, projection, self.session)}

    def touch_arrival(self, key):
        """Write the arrival document ``key`` (see ``ARRIVALS``)."""
        self.col(ARRIVALS).update_one({"_id": key}, {"$inc": {"touched": 1}},
                                      upsert=True, session=self.session)

    def touch_arrivals(self, keys):
        self.col(ARRIVALS).bulk_write(
            [UpdateOne({"_id": key}, {"$inc": {"touched": 1}}, upsert=True)
             for key in keys], ordered=True, session=self.session)


# -- staff queries -------------------------------------------------------------


def period(query, field):
    span = {}
    if query.get("since"):
        span["$gte"] = query["since"]
    if query.get("until"):
        span["$lt"] = query["until"]
    return {field: span} if span else {}


def plan_query(criteria, priority, order_field):
    """Split a filter into what the store gets (one indexed field, plus the
    period on the same compound index) and the residual equality clauses.

    The embedded store uses an index only for one field, an exact compound
    equality or an equality prefix plus one range, so a combined filter is
    served by the most selective index and the rest is checked here."""
    store = {}
    primary = next((k for k in priority if k in criteria), None)
    if primary is not None:
        store[primary] = criteria[primary]
    if order_field in criteria:
        store[order_field] = criteria[order_field]
    residual = {k: v for k, v in criteria.items() if k not in store}
    return store, residual


def _matches(doc, residual):
    for key, wanted in residual.items():
        value = doc.get(key)
        if isinstance(value, list):
            if wanted not in value:
                return False
        elif value != wanted:
            return False
    return True


def page(col, criteria, priority, order_field, query):
    """One page of a staff list, newest first."""
    store, residual = plan_query(criteria, priority, order_field)
    sort = [(order_field, DESCENDING)]
    skip, limit = (query["page"] - 1) * query["per_page"], query["per_page"]
    if residual:
        matched = [doc for doc in col.find(store, sort=sort)
                   if _matches(doc, residual)]
        items, total = matched[skip:skip + limit], len(matched)
    else:
        items = list(col.find(store, sort=sort, skip=skip, limit=limit))
        total = col.count_documents(store)
    return {"items": items, "total": total, "page": query["page"],
            "per_page": query["per_page"]}
