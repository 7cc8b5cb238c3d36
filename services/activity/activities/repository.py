"""Storage of the activity log."""

from pymongo import ASCENDING, DESCENDING, IndexModel

from services.activity.storage import Repository, index_by, page, period

ACTIVITIES = "activities"

INDEXES = {
    ACTIVITIES: [
        # Every staff filter has its own index, newest first.
        index_by("member_ids"), index_by("unit_id"), index_by("branch_id"),
        index_by("category"), index_by("campaign_id"), index_by("type"),
        IndexModel([("occurred_at", DESCENDING)], name="by_time"),
        # Activities waiting for their member (out-of-order arrival).
        IndexModel([("member_id", ASCENDING), ("member_linked", ASCENDING)],
                   name="awaiting_member"),
    ],
}

# Filters of the staff list -> the stored field (indexed above).
ACTIVITY_FILTERS = ("member_id", "unit_id", "branch_id", "category",
                    "campaign_id", "type")
# Most selective first: the one field the store walks an index for.
ACTIVITY_PRIORITY = ("member_ids", "branch_id", "unit_id", "campaign_id",
                     "category", "type")


def activity_filter(query):
    criteria = {}
    if query.get("member_id"):
        criteria["member_ids"] = query["member_id"]
    for key in ("unit_id", "branch_id", "category", "campaign_id", "type"):
        if query.get(key):
            criteria[key] = query[key]
    criteria.update(period(query, "occurred_at"))
    return criteria


class ActivityLogRepository(Repository):

    def get_activity(self, activity_id):
        return self.col(ACTIVITIES).find_one({"_id": activity_id},
                                             session=self.session)

    def activity_taken(self, activity_id):
        return self.col(ACTIVITIES).find_one(
            {"_id": activity_id}, {"_id": 1},
            session=self.session) is not None

    def activities_taken(self, activity_ids):
        return set(self.find_by_ids(ACTIVITIES, activity_ids, {"_id": 1}))

    def insert_activity(self, activity):
        self.col(ACTIVITIES).insert_one(activity, session=self.session)

    def insert_activities(self, activities):
        self.col(ACTIVITIES).insert_many(activities, ordered=True,
                                         session=self.session)

    def update_activity(self, activity_id, changes):
        self.col(ACTIVITIES).update_one({"_id": activity_id},
                                        {"$set": changes},
                                        session=self.session)

    def waiting_for(self, member_id):
        """Activities that named ``member_id`` before it was known."""
        return list(self.col(ACTIVITIES).find(
            {"member_id": member_id, "member_linked": False},
            session=self.session))

    def list_activities(self, query):
        return page(self.col(ACTIVITIES), activity_filter(query),
                    ACTIVITY_PRIORITY, "occurred_at", query)

    def campaign_activities(self, campaign_id):
        """A campaign's activities, as its progress needs them."""
        return list(self.col(ACTIVITIES).find(
            {"campaign_id": campaign_id},
            {"member_ids": 1, "category": 1, "kind": 1, "type": 1,
             "occurred_at": 1}, session=self.session))
