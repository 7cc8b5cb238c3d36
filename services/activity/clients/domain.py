"""Rules of the API clients (接入客户端), no nameko, no I/O.

* A client (``client``) is an outside system's account at the ingest: a
  display name, the sources it may send as (one or more), the event types it
  may send (empty: every type), a status (``STATUSES``, moves in ``MOVES``)
  and its keys.
* A key is ``sfw_<key id>_<secret>``: the key id (hex) finds the client, the
  secret (``secrets.token_urlsafe(32)``, 256 random bits) is stored only as
  its SHA-256 and compared in constant time. A random 256-bit secret needs
  no slow hash: nothing can be guessed from the digest.
* Rotation adds a key; each key still valid keeps working for the overlap
  (at most the configured one; 0: refused at once). Revocation stops every
  key of the client at once, for good.
* The bootstrap tokens (``SIFUWU_INGEST_TOKENS``, development only) each act
  as a client ``bootstrap:<system>`` that sends as ``system`` alone.
"""

import dataclasses
import datetime as dt
import hashlib
import hmac
import re

from marshmallow import ValidationError

from sifuwu.errors import Conflict, Forbidden, Unauthorized

ACTIVE = "active"      # 启用
REVOKED = "revoked"    # 已吊销
STATUSES = (ACTIVE, REVOKED)
STATUS_TITLES = {ACTIVE: "启用", REVOKED: "已吊销"}
# status -> the statuses it may move to (a revoked client stays revoked)
MOVES = {ACTIVE: {REVOKED}, REVOKED: set()}

# what a key is, seen at a moment
KEY_VALID = "valid"          # no end set
KEY_EXPIRING = "expiring"    # valid until expires_at (an overlap)
KEY_EXPIRED = "expired"

# audit actions (审计动作)
CREATED = "client.created"
ROTATED = "client.key_rotated"
REVOKED_ACTION = "client.revoked"

KEY_PREFIX = "sfw"
KEY_PATTERN = re.compile(r"^sfw_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
BOOTSTRAP_PREFIX = "bootstrap:"


@dataclasses.dataclass(frozen=True)
class Sender:
    """Who sent an envelope: the client, the sources it may send as and
    the types it may send (``None``: every type). ``bootstrap``: one of the
    development tokens (or an AMQP broker user), which sends as one
    source."""

    client_id: str
    sources: frozenset
    types: frozenset | None = None
    bootstrap: bool = False


def bootstrap_sender(system):
    """The client a bootstrap token (``system=token``) or an AMQP broker
    user mapped to ``system`` acts as."""
    return Sender(client_id=BOOTSTRAP_PREFIX + system,
                  sources=frozenset([system]), bootstrap=True)


# -- keys ----------------------------------------------------------------------

def hash_secret(secret):
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def key_text(key_id, secret):
    """The key as shown once to the client's integrator."""
    return f"{KEY_PREFIX}_{key_id}_{secret}"


def parse_key(token):
    """(key id, secret) of a token in the client key's form, else None."""
    match = KEY_PATTERN.match(token or "")
    return (match.group(1), match.group(2)) if match else None


def looks_like_key(token):
    return (token or "").startswith(KEY_PREFIX + "_")


def new_key(key_id, secret, now, actor):
    """The stored side of a new key (no secret, its digest)."""
    return {"key_id": key_id, "hash": hash_secret(secret),
            "created_at": now, "created_by": actor, "expires_at": None}


def key_state(key, now):
    end = key.get("expires_at")
    if end is None:
        return KEY_VALID
    return KEY_EXPIRING if now < end else KEY_EXPIRED


def new_client(client_id, data, key, now, actor):
    """A client as stored, with its first key."""
    return {"_id": client_id, "name": data["name"],
            "sources": sorted(set(data["sources"])),
            "types": sorted(set(data.get("types") or ())),
            "status": ACTIVE, "created_by": actor, "created_at": now,
            "revoked_by": None, "revoked_at": None, "keys": [key]}


def check_move(client, target):
    """409 ``client_revoked`` for a move ``MOVES`` does not allow."""
    if target not in MOVES[client["status"]]:
        raise Conflict(
            f"接入客户端 {client['_id']} 当前状态为"
            f"“{STATUS_TITLES[client['status']]}”，不能再变更",
            code="client_revoked")


def check_active(client):
    """409 ``client_revoked`` unless the client is active (a revoked
    client gets no new key)."""
    if client["status"] != ACTIVE:
        check_move(client, ACTIVE)


def overlap_for(requested, maximum):
    """The overlap of a rotation in seconds: ``requested`` (0 = the old
    keys stop at once) or, when None, the configured ``maximum``. A longer
    overlap than the configured one is refused."""
    if requested is None:
        return maximum
    if requested < 0 or requested > maximum:
        raise ValidationError({"overlap_seconds": [
            f"重叠期须在 0 到 {maximum} 秒之间（默认 {maximum} 秒）"]})
    return requested


def rotated_keys(client, key, now, overlap_seconds):
    """The client's keys after a rotation that adds ``key``: the expired
    ones dropped, every other old key valid until ``now`` plus the overlap
    (or sooner, if it ended sooner already)."""
    check_active(client)
    until = now + dt.timedelta(seconds=overlap_seconds)
    keys = []
    for old in client["keys"]:
        if key_state(old, now) == KEY_EXPIRED:
            continue
        end = old.get("expires_at")
        keys.append(dict(old, expires_at=until if end is None
                         else min(end, until)))
    return keys + [key]


def revoked(client, now, actor):
    """The fields a revocation sets (every key stops with the status)."""
    check_move(client, REVOKED)
    return {"status": REVOKED, "revoked_by": actor, "revoked_at": now,
            "keys": [dict(key, expires_at=now)
                     if key_state(key, now) != KEY_EXPIRED else key
                     for key in client["keys"]]}


def authenticate(client, key_id, secret, now):
    """The ``Sender`` a key stands for, or 401: unknown key id or wrong
    secret (``unauthorized``, the same answer for both), a revoked client
    (``key_revoked``), a key past its overlap (``key_expired``)."""
    key = next((k for k in (client or {}).get("keys", ())
                if k.get("key_id") == key_id), None)
    # compare even without a key, so timing does not tell which is wrong
    stored = key["hash"] if key else "0" * 64
    if not hmac.compare_digest(stored, hash_secret(secret)) or key is None:
        raise Unauthorized("访问令牌无效")
    if client["status"] != ACTIVE:
        raise Unauthorized(f"接入密钥所属客户端 {client['_id']} 已被吊销",
                           code="key_revoked")
    if key_state(key, now) == KEY_EXPIRED:
        raise Unauthorized("接入密钥已过期（已轮换，重叠期已过），请使用新密钥",
                           code="key_expired")
    return Sender(client_id=client["_id"], sources=frozenset(client["sources"]),
                  types=frozenset(client["types"]) or None)


# -- what a sender may send ------------------------------------------------------

def check_source(sender, source):
    """Refuse (403) an envelope whose ``source`` the sender may not send
    as: ``source_mismatch`` for a bootstrap token (its one system),
    ``source_not_allowed`` for a client."""
    if source in sender.sources:
        return
    if sender.bootstrap:
        [system] = sender.sources
        raise Forbidden(f"source 须为本系统（{system}），不能代其他系统报送",
                        code="source_mismatch")
    raise Forbidden(
        f"接入客户端 {sender.client_id} 只能以来源系统 "
        f"{'、'.join(sorted(sender.sources))} 报送，无权以 {source} 报送",
        code="source_not_allowed")


def check_type(sender, source, event_type, table):
    """Refuse (403 ``type_not_allowed``) a type the client may not send,
    or that ``SIFUWU_INGEST_SOURCE_TYPES`` (``table``: {source: types}, or
    None) does not give ``source``: the table bounds a source whatever
    client sends as it, the client's own list narrows it."""
    if sender.types is not None and event_type not in sender.types:
        raise Forbidden(f"接入客户端 {sender.client_id} 无权报送 "
                        f"{event_type} 类事件", code="type_not_allowed")
    if table is not None and event_type not in table.get(source, ()):
        raise Forbidden(f"来源系统 {source} 无权报送 {event_type} 类事件",
                        code="type_not_allowed")


# -- what is shown ------------------------------------------------------------

def view(client, now):
    """A client as staff see it: never a key's secret or digest."""
    return {
        "id": client["_id"], "name": client["name"],
        "sources": list(client["sources"]), "types": list(client["types"]),
        "status": client["status"],
        "created_by": client["created_by"], "created_at": client["created_at"],
        "revoked_by": client.get("revoked_by"),
        "revoked_at": client.get("revoked_at"),
        "keys": [{"key_id": key["key_id"], "created_at": key["created_at"],
                  "created_by": key.get("created_by"),
                  "expires_at": key.get("expires_at"),
                  "state": KEY_EXPIRED if client["status"] != ACTIVE
                  else key_state(key, now)}
                 for key in client["keys"]],
    }
