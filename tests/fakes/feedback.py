"""A dict-backed stand-in for ``services.feedback.repository.FeedbackRepository``
(the same methods, the same unique indexes), for unit tests of the feedback
steps with ``tests.fakes.uow.InMemoryUnitOfWork``. Documents go in and come
out as copies, as they would through the store."""

import copy


def _copy(doc):
    return copy.deepcopy(doc)


class FakeFeedbackRepository:
    def __init__(self):
        self.invitations_by_id = {}
        self.ratings_by_id = {}
        self.rectifications_by_id = {}
        self.appeals_by_id = {}
        self.recommendations_by_id = {}
        self.publicity_by_id = {}
        self.objections_by_id = {}

    # -- helpers ----------------------------------------------------------------

    @staticmethod
    def _get(table, doc_id):
        doc = table.get(doc_id)
        return _copy(doc) if doc is not None else None

    @staticmethod
    def _update_from(table, doc_id, status, changes):
        doc = table.get(doc_id)
        if doc is None or doc["status"] != status:
            return None
        doc.update(_copy(changes))
        return _copy(doc)

    @staticmethod
    def _unique(table, doc, *fields):
        key = tuple(doc.get(f) for f in fields)
        return all(tuple(other.get(f) for f in fields) != key
                   for other in table.values())

    # -- invitations ------------------------------------------------------------

    def invited_subjects(self, subject_ids):
        wanted = set(subject_ids)
        return {doc["subject_id"] for doc in self.invitations_by_id.values()
                if doc["subject_id"] in wanted}

    def insert_invitations(self, invitations):
        for doc in invitations:
            assert self._unique(self.invitations_by_id, doc, "subject_id")
            self.invitations_by_id[doc["_id"]] = _copy(doc)

    def invitation(self, invitation_id):
        return self._get(self.invitations_by_id, invitation_id)

    def invitations(self, invitation_ids):
        return {i: _copy(self.invitations_by_id[i]) for i in set(invitation_ids)
                if i in self.invitations_by_id}

    def update_invitations(self, invitation_ids, changes):
        matched = 0
        for invitation_id in invitation_ids:
            if invitation_id in self.invitations_by_id:
                self.invitations_by_id[invitation_id].update(_copy(changes))
                matched += 1
        return matched

    def update_invitation(self, invitation_id, changes):
        self.update_invitations([invitation_id], changes)

    def invitations_issued_before(self, status, cutoff, limit):
        return [doc["_id"] for doc in self.invitations_by_id.values()
                if doc["status"] == status and doc["issued_at"] <= cutoff][:limit]

    # -- ratings ----------------------------------------------------------------

    def insert_ratings(self, ratings):
        staged = dict(self.ratings_by_id)
        for doc in ratings:
            if not self._unique(staged, doc, "invitation_id"):
                return False
            staged[doc["_id"]] = _copy(doc)
        self.ratings_by_id = staged
        return True

    def rating(self, rating_id):
        return self._get(self.ratings_by_id, rating_id)

    def update_rating(self, rating_id, changes):
        if rating_id in self.ratings_by_id:
            self.ratings_by_id[rating_id].update(_copy(changes))

    # -- rectifications ---------------------------------------------------------

    def insert_rectification(self, rect):
        assert self._unique(self.rectifications_by_id, rect, "rating_id")
        self.rectifications_by_id[rect["_id"]] = _copy(rect)

    def rectification(self, rect_id):
        return self._get(self.rectifications_by_id, rect_id)

    def update_rectification(self, rect_id, changes):
        if rect_id in self.rectifications_by_id:
            self.rectifications_by_id[rect_id].update(_copy(changes))

    def move_rectification(self, rect_id, status, changes, entry):
        moved = self._update_from(self.rectifications_by_id, rect_id, status,
                                  changes)
        if moved is None:
            return None
        self.rectifications_by_id[rect_id]["history"].append(_copy(entry))
        return self.rectification(rect_id)

    def rectifications_due(self, status, kind, now, limit):
        return [doc["_id"] for doc in self.rectifications_by_id.values()
                if doc["status"] == status and doc[f"{kind}_by"] <= now
                and kind not in doc["overdue"]][:limit]

    def flag_overdue(self, rect_id, kind):
        rect = self.rectifications_by_id[rect_id]
        if kind in rect["overdue"]:
            return False
        rect["overdue"].append(kind)
        return True

    def list_rectifications(self, filters):
        found = [_copy(doc) for doc in self.rectifications_by_id.values()
                 if all(doc.get(key) == filters[key]
                        for key in ("unit_id", "status") if filters.get(key))]
        found.sort(key=lambda doc: doc["opened_at"], reverse=True)
        return found[:filters.get("limit", 100)]

    # -- appeals ----------------------------------------------------------------

    def insert_appeal(self, appeal):
        if not self._unique(self.appeals_by_id, appeal, "rating_id"):
            return False
        self.appeals_by_id[appeal["_id"]] = _copy(appeal)
        return True

    def appeal(self, appeal_id):
        return self._get(self.appeals_by_id, appeal_id)

    def decide_appeal(self, appeal_id, status, changes):
        return self._update_from(self.appeals_by_id, appeal_id, status,
                                 changes)

    def list_appeals(self, filters):
        found = [_copy(doc) for doc in self.appeals_by_id.values()
                 if not filters.get("status")
                 or doc["status"] == filters["status"]]
        found.sort(key=lambda doc: doc["filed_at"])
        return found[:filters.get("limit", 100)]

    # -- recommendations --------------------------------------------------------

    def insert_recommendation(self, recommendation):
        self.recommendations_by_id[recommendation["_id"]] = _copy(recommendation)

    def list_recommendations(self, filters):
        found = [_copy(doc) for doc in self.recommendations_by_id.values()]
        found.sort(key=lambda doc: doc["submitted_at"], reverse=True)
        return found[:filters.get("limit", 100)]

    # -- the public board and objections ----------------------------------------

    def save_publicity(self, publicity):
        self.publicity_by_id[publicity["_id"]] = _copy(publicity)

    def publicity(self, campaign_id):
        return self._get(self.publicity_by_id, campaign_id)

    def publicity_ending_since(self, since):
        found = [_copy(doc) for doc in self.publicity_by_id.values()
                 if doc["ends_on"] >= since]
        return sorted(found, key=lambda doc: doc["ends_on"])

    def objections_in(self, campaign_id, status):
        found = [_copy(doc) for doc in self.objections_by_id.values()
                 if doc["campaign_id"] == campaign_id
                 and doc["status"] == status]
        return sorted(found, key=lambda doc: doc["answered_at"])

    def insert_objection(self, objection):
        if not self._unique(self.objections_by_id, objection, "campaign_id",
                            "candidate_id", "contact_hash"):
            return False
        self.objections_by_id[objection["_id"]] = _copy(objection)
        return True

    def objection(self, objection_id):
        return self._get(self.objections_by_id, objection_id)

    def answer_objection(self, objection_id, status, changes):
        return self._update_from(self.objections_by_id, objection_id, status,
                                 changes)

    def list_objections(self, filters):
        found = [_copy(doc) for doc in self.objections_by_id.values()
                 if not filters.get("campaign_id")
                 or (doc["campaign_id"] == filters["campaign_id"]
                     and (not filters.get("status")
                          or doc["status"] == filters["status"]))]
        found.sort(key=lambda doc: doc["filed_at"])
        return found[:filters.get("limit", 100)]
