"""Storage of demands and of the updates that arrived before their demand."""

from pymongo import ASCENDING, DESCENDING, IndexModel

from services.activity.directory.repository import MEMBERS, UNITS
from services.activity.storage import Repository, index_by, page, period

DEMANDS = "demands"
# demand.updated that arrived before its demand.raised, applied on arrival.
PENDING_UPDATES = "pending_demand_updates"

INDEXES = {
    DEMANDS: [
        index_by("owner_unit_id", "raised_at"),
        index_by("branch_id", "raised_at"),
        index_by("member_id", "raised_at"), index_by("category", "raised_at"),
        index_by("campaign_id", "raised_at"), index_by("status", "raised_at"),
        index_by("overdue", "raised_at"),
        IndexModel([("raised_at", DESCENDING)], name="by_time"),
        # The overdue sweeper asks only for demands with an escalation due.
        IndexModel([("next_escalation_at", ASCENDING)], name="escalation_due"),
    ],
    PENDING_UPDATES: [IndexModel([("demand_id", ASCENDING), ("at", ASCENDING)],
                                 name="by_demand")],
}

# Filters of the staff list -> the stored field (indexed above).
DEMAND_FILTERS = ("unit_id", "branch_id", "member_id", "category",
                  "campaign_id", "status", "overdue")
# Most selective first: the one field the store walks an index for.
DEMAND_PRIORITY = ("member_id", "branch_id", "owner_unit_id", "campaign_id",
                   "status", "category", "overdue")


def demand_filter(query):
    criteria = {}
    if query.get("unit_id"):
        criteria["owner_unit_id"] = query["unit_id"]
    for key in ("branch_id", "member_id", "category", "campaign_id",
                "status"):
        if query.get(key):
            criteria[key] = query[key]
    if query.get("overdue") is not None:
        criteria["overdue"] = query["overdue"]
    criteria.update(period(query, "raised_at"))
    return criteria


class DemandRepository(Repository):

    def demand_exists(self, demand_id):
        return self.col(DEMANDS).find_one(
            {"_id": demand_id}, {"_id": 1},
            session=self.session) is not None

    def get_demand(self, demand_id):
        return self.col(DEMANDS).find_one({"_id": demand_id},
                                          session=self.session)

    def insert_demand(self, demand):
        self.col(DEMANDS).insert_one(demand, session=self.session)

    def replace_demand(self, demand, version):
        """Replace the demand stored at ``version``; False if it moved on."""
        replaced = self.col(DEMANDS).replace_one(
            {"_id": demand["_id"], "version": version}, demand,
            session=self.session)
        return replaced.matched_count == 1

    def set_next_escalation(self, demand_id, when):
        self.col(DEMANDS).update_one(
            {"_id": demand_id}, {"$set": {"next_escalation_at": when}},
            session=self.session)

    def record_escalations(self, demand, version):
        """Store the escalation fields of ``demand`` if it is still at
        ``version`` (and step the version); False if it moved on."""
        updated = self.col(DEMANDS).update_one(
            {"_id": demand["_id"], "version": version},
            {"$set": {"escalations": demand["escalations"],
                      "next_escalation_at": demand["next_escalation_at"],
                      "overdue": demand["overdue"],
                      "escalation_level": demand["escalation_level"],
                      "version": version + 1}}, session=self.session)
        return updated.matched_count == 1

    def due(self, now, limit=200):
        """Ids of demands with an escalation due (indexed)."""
        return [d["_id"] for d in self.col(DEMANDS).find(
            {"next_escalation_at": {"$lte": now}}, {"_id": 1},
            sort=[("next_escalation_at", ASCENDING)], limit=limit,
            session=self.session)]

    def list_demands(self, query):
        return page(self.col(DEMANDS), demand_filter(query), DEMAND_PRIORITY,
                    "raised_at", query)

    # -- updates that came before their demand --------------------------------

    def pending_updates(self, demand_id):
        """The updates waiting for ``demand_id``, in time order."""
        return list(self.col(PENDING_UPDATES).find(
            {"demand_id": demand_id}, sort=[("at", ASCENDING)],
            session=self.session))

    def keep_pending_update(self, update):
        self.col(PENDING_UPDATES).insert_one(update, session=self.session)

    def refuse_pending_update(self, update_id, demand_id, refused):
        """Keep a refused update with its reason, off the waiting list."""
        self.col(PENDING_UPDATES).update_one(
            {"_id": update_id},
            {"$set": {"refused": refused,
                      "demand_id": f"refused:{demand_id}"}},
            session=self.session)

    def drop_pending_update(self, update_id):
        self.col(PENDING_UPDATES).delete_one({"_id": update_id},
                                             session=self.session)

    # -- what demands read of the directory -------------------------------------

    def member_branch(self, member_id):
        """The branch of a member, or None when the member is unknown."""
        member = self.col(MEMBERS).find_one({"_id": member_id},
                                            session=self.session)
        return member.get("branch_id") if member else None

    def unit_leader(self, unit_id):
        """The leader (member id) of a unit, or None."""
        unit = self.col(UNITS).find_one({"_id": unit_id},
                                        session=self.session) or {}
        return unit.get("leader_member_id")
