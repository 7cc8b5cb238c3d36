"""A dict-backed stand-in for ``services.identity.repository.IdentityRepository``
in unit tests of the identity steps (with ``tests/fakes/uow.py``): the same
methods, the same answers, no store. The unique indexes (one username, one
key per slot) are checked as the store would."""

import copy
import uuid

from pymongo.errors import DuplicateKeyError


class FakeIdentityRepository:
    def __init__(self):
        self.accounts = {}
        self.audit = []
        self.signing_keys = {}

    # -- accounts ----------------------------------------------------------------

    def get_account(self, account_id):
        return copy.deepcopy(self.accounts.get(account_id))

    def find_by_username(self, username):
        for account in self.accounts.values():
            if account["username"] == username:
                return copy.deepcopy(account)
        return None

    def any_account(self):
        return bool(self.accounts)

    def count_active(self, role):
        return sum(1 for a in self.accounts.values()
                   if a["role"] == role and a["status"] == "active")

    def insert_account(self, doc):
        if self.find_by_username(doc["username"]) is not None:
            raise DuplicateKeyError("one_username")
        self.accounts[doc["_id"]] = copy.deepcopy(doc)
        return doc

    def update_account(self, account_id, fields):
        if account_id in self.accounts:
            self.accounts[account_id].update(copy.deepcopy(fields))

    def list_accounts(self, query=None):
        return [copy.deepcopy(a) for a in sorted(
            self.accounts.values(), key=lambda a: a["username"])
            if all(a.get(k) == v for k, v in (query or {}).items())]

    # -- audit -------------------------------------------------------------------

    def append_audit(self, entry):
        doc = dict(copy.deepcopy(entry), _id=uuid.uuid4().hex)
        self.audit.append(doc)
        return doc

    def audit_entries(self, account=None, limit=200):
        found = [e for e in reversed(self.audit)
                 if account is None or e["account"] == account]
        return copy.deepcopy(found[:limit])

    # -- signing keys ------------------------------------------------------------

    def keys(self):
        return [copy.deepcopy(k) for k in sorted(
            self.signing_keys.values(), key=lambda k: k["created_at"])]

    def _check_slot(self, kid, slot):
        if any(k["slot"] == slot and k["_id"] != kid
               for k in self.signing_keys.values()):
            raise DuplicateKeyError("one_slot")

    def insert_key(self, doc):
        self._check_slot(doc["_id"], doc["slot"])
        self.signing_keys[doc["_id"]] = copy.deepcopy(doc)
        return doc

    def update_key(self, kid, fields):
        if "slot" in fields:
            self._check_slot(kid, fields["slot"])
        self.signing_keys[kid].update(copy.deepcopy(fields))

    def delete_key(self, kid):
        self.signing_keys.pop(kid, None)
