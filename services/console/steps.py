"""The console's use cases: sign in (at the identity service, through
``upstream``), the current session, sign out. Each runs on a repository
(``SessionRepository`` over a unit of work or a reader)."""

import datetime as dt
import secrets

from services.console import domain


def sign_in(repo, answer, now):
    """A new session from identity's login ``answer`` (its token and the
    account); returns (cookie value, session). The token stays here,
    server-side; the browser holds only the random cookie."""
    account = answer["account"]
    cookie = secrets.token_urlsafe(32)
    session = {
        "_id": domain.session_key(cookie),
        "account": account["id"], "username": account["username"],
        "display_name": account.get("display_name"),
        "role": account["role"], "unit_id": account.get("unit_id"),
        "branch_id": account.get("branch_id"),
        "token": answer["token"],
        "token_expires_at": now + dt.timedelta(
            seconds=float(answer["expires_in"])),
        "csrf": secrets.token_urlsafe(24),
        "created_at": now, "last_seen_at": now,
    }
    repo.insert(session)
    return cookie, session


def current(repo, cookie, now, idle_seconds):
    """(state, session): the session behind ``cookie`` if it is active (and
    then marked as seen now); an ended one is removed."""
    if not cookie:
        return "missing", None
    key = domain.session_key(cookie)
    session = repo.get(key)
    state = domain.session_state(session, now, idle_seconds)
    if state == "active":
        return state, repo.touch(key, now)
    if session is not None:
        repo.delete(key)
    return state, None


def renew(repo, session, answer, now):
    """Keep a session going with the token identity renewed (``answer`` of
    ``POST /api/v1/token/refresh``)."""
    return repo.update(session["_id"], {
        "token": answer["token"],
        "token_expires_at": now + dt.timedelta(
            seconds=float(answer["expires_in"]))})


def sign_out(repo, cookie):
    if cookie:
        repo.delete(domain.session_key(cookie))
