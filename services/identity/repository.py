"""Storage of the identity service (身份服务存储): accounts, the audit of
account changes, the signing keys, and the pending OIDC sign-ins
(统一身份认证: a login's state, nonce and PKCE verifier until its callback, a
TOTP ticket until its code). Reads and writes only; the rules are in
``domain`` and ``oidc.domain``.

``IdentityRepository(uow)`` works inside a unit of work (the store's
``repository=IdentityRepository``) or, through ``Direct(db)``, outside one
(the reading routes and the JWKS).

A unique index on ``username`` keeps one account per name; one on the keys'
``slot`` (``active``, ``next``, or ``retired:<kid>``) keeps one signing key
and one successor even when two replicas rotate at once (the second
transaction aborts on the index). A partial unique index on
``oidc_subject`` links one provider user to at most one account; the
pending sign-ins expire through a TTL index on ``expires_at`` (the steps
also check the time: the store sweeps only once a minute).
"""

import uuid

from pymongo import ASCENDING, DESCENDING, IndexModel

ACCOUNTS = "accounts"
AUDIT = "account_audit"
KEYS = "signing_keys"
OIDC_PENDING = "oidc_pending"

INDEXES = {
    ACCOUNTS: [
        IndexModel([("username", ASCENDING)], name="one_username",
                   unique=True),
        IndexModel([("role", ASCENDING), ("status", ASCENDING)],
                   name="by_role"),
        IndexModel([("oidc_subject", ASCENDING)], name="one_oidc_subject",
                   unique=True,
                   partialFilterExpression={"oidc_subject": {"$type": "string"}}),
    ],
    AUDIT: [
        IndexModel([("at", DESCENDING)], name="audit_recent"),
        IndexModel([("account", ASCENDING), ("at", DESCENDING)],
                   name="audit_by_account"),
    ],
    KEYS: [
        IndexModel([("slot", ASCENDING)], name="one_slot", unique=True),
    ],
    OIDC_PENDING: [
        IndexModel([("expires_at", ASCENDING)], name="oidc_pending_ttl",
                   expireAfterSeconds=0),
    ],
}

HIDDEN = {"password_hash": 0, "totp_secret": 0}


class Direct:
    """What the repository needs of a unit of work, outside a transaction."""

    session = None

    def __init__(self, db):
        self.db = db
        self.repo = IdentityRepository(self)

    def col(self, name):
        return self.db[name]


class IdentityRepository:
    def __init__(self, uow):
        self.uow = uow

    def _col(self, name):
        return self.uow.col(name)

    @property
    def _session(self):
        return self.uow.session

    # -- accounts ----------------------------------------------------------------

    def get_account(self, account_id):
        return self._col(ACCOUNTS).find_one({"_id": account_id},
                                            session=self._session)

    def find_by_username(self, username):
        return self._col(ACCOUNTS).find_one({"username": username},
                                            session=self._session)

    def any_account(self):
        return self._col(ACCOUNTS).find_one({}, {"_id": 1},
                                            session=self._session) is not None

    def count_active(self, role):
        return self._col(ACCOUNTS).count_documents(
            {"role": role, "status": "active"}, session=self._session)

    def insert_account(self, doc):
        self._col(ACCOUNTS).insert_one(dict(doc), session=self._session)
        return doc

    def update_account(self, account_id, fields):
        self._col(ACCOUNTS).update_one({"_id": account_id}, {"$set": fields},
                                       session=self._session)

    def find_by_oidc_subject(self, subject):
        return self._col(ACCOUNTS).find_one({"oidc_subject": subject},
                                            session=self._session)

    def list_accounts(self, query=None):
        return list(self._col(ACCOUNTS).find(
            query or {}, sort=[("username", ASCENDING)],
            session=self._session))

    # -- audit -------------------------------------------------------------------

    def append_audit(self, entry):
        doc = dict(entry, _id=uuid.uuid4().hex)
        self._col(AUDIT).insert_one(doc, session=self._session)
        return doc

    def audit_entries(self, account=None, limit=200):
        query = {} if account is None else {"account": account}
        return list(self._col(AUDIT).find(
            query, sort=[("at", DESCENDING)], limit=limit,
            session=self._session))

    # -- signing keys ------------------------------------------------------------

    def keys(self):
        return list(self._col(KEYS).find({}, sort=[("created_at", ASCENDING)],
                                         session=self._session))

    def insert_key(self, doc):
        self._col(KEYS).insert_one(dict(doc), session=self._session)
        return doc

    def update_key(self, kid, fields):
        self._col(KEYS).update_one({"_id": kid}, {"$set": fields},
                                   session=self._session)

    def delete_key(self, kid):
        self._col(KEYS).delete_one({"_id": kid}, session=self._session)


    # -- pending OIDC sign-ins ---------------------------------------------------

    def insert_pending(self, doc):
        self._col(OIDC_PENDING).insert_one(dict(doc), session=self._session)
        return doc

    def take_pending(self, key, kind):
        """The pending sign-in ``key`` of ``kind``, deleted as it is read
        (a second read of the same key finds nothing)."""
        return self._col(OIDC_PENDING).find_one_and_delete(
            {"_id": key, "kind": kind}, session=self._session)
