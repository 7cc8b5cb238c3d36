"""A dict-backed stand-in for the activity service's demand storage
(``services.activity.demands.repository.DemandRepository``): the same
methods, kept in memory, for unit tests of the demand steps with
``tests.fakes.uow.InMemoryUnitOfWork``."""

import copy


class FakeDemandRepository:
    def __init__(self, members=None, units=None):
        self.demands = {}
        self.pending = {}
        self.arrivals = {}
        self.members = dict(members or {})
        self.units = dict(units or {})

    # -- demands -------------------------------------------------------------

    def demand_exists(self, demand_id):
        return demand_id in self.demands

    def get_demand(self, demand_id):
        demand = self.demands.get(demand_id)
        return copy.deepcopy(demand) if demand is not None else None

    def insert_demand(self, demand):
        if demand["_id"] in self.demands:
            raise KeyError(demand["_id"])
        self.demands[demand["_id"]] = copy.deepcopy(demand)

    def replace_demand(self, demand, version):
        stored = self.demands.get(demand["_id"])
        if stored is None or stored.get("version", 1) != version:
            return False
        self.demands[demand["_id"]] = copy.deepcopy(demand)
        return True

    def set_next_escalation(self, demand_id, when):
        self.demands[demand_id]["next_escalation_at"] = when

    def record_escalations(self, demand, version):
        stored = self.demands.get(demand["_id"])
        if stored is None or stored["version"] != version:
            return False
        for key in ("escalations", "next_escalation_at", "overdue",
                    "escalation_level"):
            stored[key] = copy.deepcopy(demand[key])
        stored["version"] = version + 1
        return True

    def due(self, now, limit=200):
        due = sorted((d["next_escalation_at"], d["_id"])
                     for d in self.demands.values()
                     if d.get("next_escalation_at") is not None
                     and d["next_escalation_at"] <= now)
        return [demand_id for _, demand_id in due][:limit]

    def list_demands(self, query):
        items = sorted(self.demands.values(), key=lambda d: d["raised_at"],
                       reverse=True)
        return {"items": items, "total": len(items), "page": 1,
                "per_page": len(items)}

    # -- updates before their demand ---------------------------------------------

    def pending_updates(self, demand_id):
        return sorted((copy.deepcopy(u) for u in self.pending.values()
                       if u["demand_id"] == demand_id),
                      key=lambda u: u["at"])

    def keep_pending_update(self, update):
        self.pending[update["_id"]] = copy.deepcopy(update)

    def refuse_pending_update(self, update_id, demand_id, refused):
        self.pending[update_id].update(refused=refused,
                                       demand_id=f"refused:{demand_id}")

    def drop_pending_update(self, update_id):
        del self.pending[update_id]

    def touch_arrival(self, key):
        self.arrivals[key] = self.arrivals.get(key, 0) + 1

    # -- the directory, as demands read it --------------------------------------

    def member_branch(self, member_id):
        member = self.members.get(member_id)
        return member.get("branch_id") if member else None

    def unit_leader(self, unit_id):
        return (self.units.get(unit_id) or {}).get("leader_member_id")


class FakeIngestRepository(FakeDemandRepository):
    """The demand storage above plus the directory and the business
    indicators, as the ingest's combined repository
    (``services.activity.repository.ActivityRepository``) offers them to the
    directory and indicator steps."""

    def __init__(self, members=None, units=None):
        super().__init__(members=members, units=units)
        self.records = {}   # {(kind, id): record}
        self.kpis = {}

    # -- the directory -------------------------------------------------------

    def get_record(self, kind, record_id):
        record = self.records.get((kind, record_id))
        return copy.deepcopy(record) if record is not None else None

    def put_record(self, kind, doc):
        self.records[(kind, doc["_id"])] = copy.deepcopy(doc)
        if kind == "member":
            self.members[doc["_id"]] = copy.deepcopy(doc)

    def waiting_for(self, member_id):
        return []

    # -- business indicators -------------------------------------------------

    def get_kpi(self, key):
        kpi = self.kpis.get(key)
        return copy.deepcopy(kpi) if kpi is not None else None

    def put_kpi(self, doc):
        self.kpis[doc["_id"]] = copy.deepcopy(doc)
