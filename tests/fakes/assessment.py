"""Dict-backed stand-ins for the assessment's repositories, exposing the same
methods as the real ones (``services/assessment/*/repository.py``), for unit
tests of the steps with ``tests.fakes.uow.InMemoryUnitOfWork``."""

import copy

from sifuwu.errors import NotFound


class FakeDirectoryRepository:
    def __init__(self, entries=None):
        self.docs = {}  # key -> entry
        self.locks = {}
        for entry in entries or []:
            self.docs[f"{entry['kind']}:{entry['id']}"] = dict(
                entry, _id=f"{entry['kind']}:{entry['id']}")

    def entry(self, kind, entry_id):
        if not entry_id:
            return None
        return copy.deepcopy(self.docs.get(f"{kind}:{entry_id}"))

    def names(self, kind):
        return {d["id"]: d.get("name") or d["id"]
                for d in self.docs.values() if d["kind"] == kind}

    def entries(self, keys):
        return {k: copy.deepcopy(self.docs[k]) for k in keys if k in self.docs}

    def of_kind(self, kind, ids):
        return {i: copy.deepcopy(self.docs[f"{kind}:{i}"])
                for i in ids if i and f"{kind}:{i}" in self.docs}

    def replace(self, written):
        self.docs.update(copy.deepcopy(written))

    def lock(self, keys):
        for key in keys:
            self.locks[key] = self.locks.get(key, 0) + 1


class FakeScoringRepository:
    def __init__(self, directory=None):
        self.directory = directory or FakeDirectoryRepository()
        self.schemes = {}
        self.pins = {}
        self.contribution_docs = {}
        self.card_docs = {}

    # -- schemes
    def add_first_scheme(self, scheme):
        if self.schemes:
            return False
        self.schemes[scheme["_id"]] = copy.deepcopy(scheme)
        return True

    def all_schemes(self):
        return [copy.deepcopy(s) for _, s in sorted(self.schemes.items(),
                                                    reverse=True)]

    def get_scheme(self, version):
        if int(version) not in self.schemes:
            raise NotFound(f"未找到第 {version} 版考评方案")
        return copy.deepcopy(self.schemes[int(version)])

    def latest_scheme(self):
        return copy.deepcopy(self.schemes[max(self.schemes)]) \
            if self.schemes else None

    def insert_scheme(self, scheme):
        self.schemes[scheme["_id"]] = copy.deepcopy(scheme)

    def pinned_version(self, month):
        return self.pins.get(month)

    def pinned_versions(self, months):
        return {m: self.pins[m] for m in months if m in self.pins}

    def pin(self, month, version, now):
        self.pins[month] = version

    # -- contributions
    def existing(self, ids):
        return {i for i in ids if i in self.contribution_docs}

    def contributions(self, ids):
        return {i: copy.deepcopy(self.contribution_docs[i])
                for i in ids if i in self.contribution_docs}

    def contribution(self, contribution_id):
        return copy.deepcopy(self.contribution_docs.get(contribution_id))

    def insert_contributions(self, docs):
        for doc in docs:
            assert doc["_id"] not in self.contribution_docs
            self.contribution_docs[doc["_id"]] = copy.deepcopy(doc)

    def insert_contribution(self, doc):
        self.insert_contributions([doc])

    def update_contribution(self, contribution_id, change):
        doc = self.contribution_docs[contribution_id]
        doc.update(copy.deepcopy(change.get("$set", {})))
        for field, value in change.get("$addToSet", {}).items():
            values = doc.setdefault(field, [])
            if value not in values:
                values.append(value)

    def save_contributions(self, replaced=(), patched=None):
        for doc in replaced:
            self.contribution_docs[doc["_id"]] = copy.deepcopy(doc)
        for key, fields in (patched or {}).items():
            self.contribution_docs[key].update(copy.deepcopy(fields))

    def about_ratings(self, rating_ids):
        return [copy.deepcopy(c) for c in self.contribution_docs.values()
                if c.get("rating_id") in rating_ids]

    def missing(self, field, member_ids):
        return [copy.deepcopy(c) for c in self.contribution_docs.values()
                if c.get(field) is None
                and set(c.get("members") or []) & set(member_ids)]

    def of_month(self, month):
        return [copy.deepcopy(c) for c in self.contribution_docs.values()
                if c["month"] == month]

    def of_subject(self, subject_type, subject_id, months):
        field = {"member": "members", "branch": "branch_id",
                 "unit": "unit_id"}[subject_type]
        return [copy.deepcopy(c) for c in self.contribution_docs.values()
                if c["month"] in months and (
                    subject_id in (c.get(field) or [])
                    if field == "members" else c.get(field) == subject_id)]

    def of_member(self, member_id):
        return self.of_subject("member", member_id,
                               {c["month"] for c in
                                self.contribution_docs.values()})

    # -- scorecards
    def cards(self, ids):
        return [copy.deepcopy(self.card_docs[i]) for i in ids
                if i in self.card_docs]

    def cards_of_month(self, subject_type, month):
        return self.monthly_cards(subject_type, [month])

    def monthly_cards(self, subject_type, months, fields=None):
        return [copy.deepcopy(c) for _, c in sorted(self.card_docs.items())
                if c["subject_type"] == subject_type
                and c["period"] in months]

    def write_cards(self, cards):
        for card in cards:
            self.card_docs[card["_id"]] = copy.deepcopy(card)


class FakeRankingRepository:
    def __init__(self, scoring=None):
        self.scoring = scoring or FakeScoringRepository()
        self.rankings = {}

    def insert_ranking(self, doc):
        self.rankings[doc["_id"]] = copy.deepcopy(doc)


class FakeLadderRepository:
    def __init__(self, scoring=None):
        self.scoring = scoring or FakeScoringRepository()
        self.directory = self.scoring.directory
        self.branches = {}

    def rungs(self, branch_ids):
        return {b: self.branches[b].get("rung") for b in branch_ids
                if b in self.branches}

    def branch(self, branch_id):
        return copy.deepcopy(self.branches.get(branch_id))

    def move(self, moves):
        for branch_id, fields, change in moves:
            branch = self.branches.setdefault(branch_id, {"_id": branch_id,
                                                          "history": []})
            branch.update(copy.deepcopy(fields))
            branch["history"].append(copy.deepcopy(change))
