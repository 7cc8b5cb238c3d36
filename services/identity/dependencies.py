"""The identity service's own dependencies: token checks against its own
keys, password hashing off the event loop, and the province's OIDC provider
(统一身份认证), one per container so that its discovery document and keys
are cached across requests.

Every other service verifies tokens with the JWKS fetched from here
(``sifuwu.access.Access``); the identity service itself reads the published
keys from its own store (``OwnKeys``), so it never calls itself.
"""

from eventlet import tpool
from nameko.extensions import DependencyProvider

from sifuwu.access import Access, KeySet
from sifuwu.events import utcnow
from sifuwu.store import Store
from services.identity import domain
from services.identity.oidc.provider import Provider
from services.identity.repository import KEYS
from services.identity.settings import IdentitySettings


class OwnKeys:
    """Key look-up by id in the identity database: a key is known while it
    is published (``domain.published``) at ``now()``. ``store`` is the
    service's ``Store`` provider (its database is read at look-up time)."""

    def __init__(self, store, now):
        self.store = store
        self.now = now

    def get(self, kid):
        doc = self.store.db[KEYS].find_one({"_id": kid})
        if doc is None or not domain.published([doc], self.now()):
            return None
        return KeySet({"keys": [doc["public_jwk"]]}).get(kid)


class LocalAccess(Access):
    """``Access`` whose keys are the identity service's own (its ``Store``),
    on the service's own clock: the clock it signs tokens with."""

    def setup(self):
        super().setup()
        store = next(dep for dep in self.container.dependencies
                     if isinstance(dep, Store))
        self.now = lambda: utcnow() + self.offset
        self.keys = OwnKeys(store, self.now)


class PooledHasher:
    """An argon2 hasher whose hashing and verifying run in a native thread
    (eventlet's ``tpool``): a login's hash takes a good fraction of a second
    by design, and on the hub it would hold every other request that long."""

    def __init__(self, hasher):
        self._hasher = hasher

    def __getattr__(self, name):
        return getattr(self._hasher, name)

    def hash(self, password):
        return tpool.execute(self._hasher.hash, password)

    def verify(self, stored, password):
        return tpool.execute(self._hasher.verify, stored, password)




class OidcProvider(DependencyProvider):
    """The ``oidc.provider.Provider`` of this container, or None while
    ``SIFUWU_IDENTITY_OIDC_ISSUER`` is unset."""

    def setup(self):
        config = IdentitySettings.from_config(self.container.config).oidc
        self.provider = Provider(config) if config is not None else None

    def get_dependency(self, worker_ctx):
        return self.provider
