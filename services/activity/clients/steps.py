"""Use cases of the API clients, each inside one unit of work (``uow.repo``
a ``ClientRepository``): check the rule (``domain``), write, append the
audit entry. ``keygen`` makes a key's (id, secret); tests pass their own."""

import secrets
import uuid

from sifuwu.errors import NotFound, Unauthorized
from services.activity.clients import domain


def new_credentials():
    """(key id, secret) of a new key: 64 random bits to find it, 256 to
    prove it."""
    return secrets.token_hex(8), secrets.token_urlsafe(32)


def _audit(uow, action, client_id, actor, now, **details):
    entry = {"_id": uuid.uuid4().hex, "action": action, "client_id": client_id,
             "actor": actor, "at": now, **details}
    uow.repo.append_audit(entry)
    return entry


def _client(repo, client_id):
    client = repo.get_client(client_id)
    if client is None:
        raise NotFound(f"未找到接入客户端 {client_id}", code="client_not_found")
    return client


def create_client(uow, data, *, actor, now, keygen=new_credentials):
    """A new client with its first key: (client, the key's text, shown
    once)."""
    key_id, secret = keygen()
    client = domain.new_client(f"cl-{uuid.uuid4().hex[:12]}", data,
                               domain.new_key(key_id, secret, now, actor),
                               now, actor)
    uow.repo.insert_client(client)
    _audit(uow, domain.CREATED, client["_id"], actor, now, key_id=key_id,
           name=client["name"], sources=client["sources"],
           types=client["types"])
    return client, domain.key_text(key_id, secret)


def rotate_key(uow, client_id, *, overlap, max_overlap, actor, now,
               keygen=new_credentials):
    """A new key for the client; its other keys keep working for the
    overlap (``overlap`` seconds, None: ``max_overlap``). Returns (client,
    the new key's text, shown once)."""
    client = _client(uow.repo, client_id)
    seconds = domain.overlap_for(overlap, max_overlap)
    key_id, secret = keygen()
    keys = domain.rotated_keys(client, domain.new_key(key_id, secret, now,
                                                      actor), now, seconds)
    uow.repo.update_client(client_id, {"keys": keys})
    _audit(uow, domain.ROTATED, client_id, actor, now, key_id=key_id,
           overlap_seconds=seconds)
    return dict(client, keys=keys), domain.key_text(key_id, secret)


def revoke_client(uow, client_id, *, actor, now):
    """Every key of the client stops at once, for good."""
    client = _client(uow.repo, client_id)
    changes = domain.revoked(client, now, actor)
    uow.repo.update_client(client_id, changes)
    _audit(uow, domain.REVOKED_ACTION, client_id, actor, now)
    return dict(client, **changes)


def get_client(repo, client_id):
    return _client(repo, client_id)


def list_clients(repo):
    return repo.list_clients()


def client_history(repo, client_id):
    return repo.audit_entries(client_id)


def authenticate(repo, token, now):
    """The ``Sender`` behind a client key, or 401."""
    parsed = domain.parse_key(token)
    if parsed is None:
        raise Unauthorized("访问令牌无效")
    key_id, secret = parsed
    return domain.authenticate(repo.client_by_key(key_id), key_id, secret,
                               now)
