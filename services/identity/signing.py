"""Keys and secrets of the identity service (签名密钥与加密): Ed25519 signing
keys, their JWKS form, token signing, password hashing and the sealing of
secrets at rest. Computation only, no I/O.

Why EdDSA (Ed25519): small keys and signatures, fast to verify on every
request, deterministic (no nonce to get wrong), and supported by PyJWT with
the ``cryptography`` package the suite already installs.

Why the signing keys live in the identity database (the private half
sealed) rather than in settings: rotation with overlap is a sequence of
states over days (next → active → retired → pruned) that every replica of
the identity service must agree on; kept in the store, a rotation is one
transaction that all replicas see at once, the service can rotate by itself
on schedule, and the overlap is recorded next to the key. Keys in settings
would need an operator to edit the environment and restart every replica at
each step, in the right order. What stays in settings is the key that seals
the private keys (``SIFUWU_IDENTITY_KEY_SECRETS``): a thief of the database
(or of a backup) alone cannot sign. That setting is a comma-separated list:
the first seals, all unseal (``MultiFernet``), so it rotates too.
"""

import base64
import json

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
)
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from jwt.algorithms import OKPAlgorithm

from sifuwu.access import ALGORITHM

SEAL_PURPOSE = b"sifuwu-identity-seal-v1"


# -- sealing secrets at rest ------------------------------------------------------

def _fernet(secret):
    """A Fernet key derived from any secret text (HKDF-SHA256, one purpose)."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=SEAL_PURPOSE).derive(secret.encode("utf-8"))
    return Fernet(base64.urlsafe_b64encode(derived))


def sealer(secrets):
    """A ``MultiFernet`` from a list of secrets: the first seals, all
    unseal."""
    secrets = [item for item in secrets if item]
    if not secrets:
        raise ValueError("no sealing secret")
    return MultiFernet([_fernet(item) for item in secrets])


def seal(fernet, text):
    return fernet.encrypt(text.encode("utf-8")).decode("ascii")


def unseal(fernet, token):
    try:
        return fernet.decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise ValueError("sealed value cannot be opened with the configured "
                         "SIFUWU_IDENTITY_KEY_SECRETS")


# -- signing keys ----------------------------------------------------------------

def new_key():
    """A fresh Ed25519 private key."""
    return Ed25519PrivateKey.generate()


def private_pem(key):
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode("ascii")


def load_private(pem):
    return serialization.load_pem_private_key(pem.encode("ascii"),
                                              password=None)


def public_jwk(key, kid):
    """The JWK of ``key``'s public half, with its key id."""
    jwk = OKPAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return dict(jwk, kid=kid, alg=ALGORITHM, use="sig")


def sign(claims, key, kid):
    """A compact JWT of ``claims`` signed by ``key``, ``kid`` in its header."""
    return jwt.encode(claims, key, algorithm=ALGORITHM,
                      headers={"kid": kid, "typ": "JWT"})


def key_document(key, kid, fernet, now):
    """The stored form of a signing key (private half sealed), without its
    status (the steps set it)."""
    return {"_id": kid, "public_jwk": public_jwk(key, kid),
            "sealed_private": seal(fernet, private_pem(key)),
            "created_at": now, "activated_at": None, "retired_at": None,
            "publish_until": None}


def jwks(keys):
    """The JWKS document of stored keys."""
    return {"keys": [json.loads(json.dumps(key["public_jwk"])) for key in keys]}


# -- passwords --------------------------------------------------------------------

def hasher(time_cost=3, memory_cost=65536, parallelism=4):
    """argon2id with these costs (argon2-cffi's defaults, RFC 9106's
    second recommendation)."""
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_cost,
                          parallelism=parallelism)


def verify_password(password_hasher, stored, password):
    """Whether ``password`` matches the stored hash."""
    try:
        return password_hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
