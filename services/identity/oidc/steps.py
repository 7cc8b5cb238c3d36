"""The use cases of the 统一身份认证 (OIDC) sign-in, each run inside one unit
of work of the identity store (``IdentityRepository``).

The callback runs two of them around the provider's token endpoint, so
that no network call holds a transaction open: ``take_login`` first (the
pending sign-in is deleted and committed whatever follows, so a state
serves once), then ``sign_in`` with the verified claims. A step whose
refusal must still be stored (a used ticket, a failed TOTP code) returns a
``LoginOutcome`` whose ``error`` the entrypoint raises after the commit.
"""

import dataclasses
import secrets as random

from sifuwu.errors import DomainError
from services.identity import domain as accounts
from services.identity import signing
from services.identity.oidc import domain
from services.identity.steps import LoginOutcome, issue_token, record_failure


def new_secret():
    """A random URL-safe value (state, nonce, browser cookie, ticket)."""
    return random.token_urlsafe(32)


def new_verifier():
    """A PKCE code verifier (RFC 7636: 43–128 characters)."""
    return random.token_urlsafe(48)


@dataclasses.dataclass(frozen=True)
class Begun:
    """A sign-in begun: what goes to the provider, and the browser cookie."""

    state: str
    nonce: str
    verifier: str
    browser: str


def begin_login(uow, config, now, make_secret=new_secret,
                make_verifier=new_verifier):
    """Keep a new pending sign-in for ``config.state_ttl`` seconds."""
    begun = Begun(state=make_secret(), nonce=make_secret(),
                  verifier=make_verifier(), browser=make_secret())
    uow.repo.insert_pending(domain.pending_login(
        begun.state, begun.nonce, begun.verifier, begun.browser, now,
        config.state_ttl))
    return begun


def take_login(uow, state, browser, now):
    """The pending sign-in of ``state`` begun in this ``browser``, deleted
    as it is taken; None when it is gone (used already, or never made),
    expired, or from another browser."""
    if not state:
        return None
    pending = uow.repo.take_pending(domain.digest(state), domain.LOGIN)
    return pending if domain.check_pending(pending, now, browser) else None


def sign_in(uow, claims, config, secrets, now, make_secret=new_secret):
    """The account linked to the provider's user in ``claims`` (verified)
    gets a token; a TOTP role without a trusted multi-factor claim gets a
    ticket for its TOTP code instead (``TotpStillRequired``)."""
    try:
        subject = domain.subject_of(claims, config.user_claim)
        account = domain.check_may_sign_in(
            uow.repo.find_by_oidc_subject(subject))
    except DomainError as refused:
        return LoginOutcome(error=refused)
    if domain.needs_totp(account, claims, config):
        ticket = make_secret()
        uow.repo.insert_pending(domain.pending_totp(
            ticket, account["_id"], subject, now, config.state_ttl))
        return LoginOutcome(error=domain.TotpStillRequired(
            ticket, config.state_ttl))
    # a provider sign-in is no password attempt: the password's failure
    # count and lock are the password's own
    return issue_token(uow, account, {"last_login_at": now}, secrets, now)


def finish_totp(uow, ticket, code, secrets, now):
    """The TOTP code after a provider sign-in: the ticket serves once; a
    wrong code counts as a failed attempt (backoff and lock-out as for a
    password login)."""
    pending = uow.repo.take_pending(domain.digest(ticket), domain.TOTP)
    if not domain.check_pending(pending, now):
        return LoginOutcome(error=domain.TicketInvalid())
    account = uow.repo.get_account(pending["account"])
    if account is None or account.get("oidc_subject") != pending["subject"]:
        return LoginOutcome(error=domain.TicketInvalid())  # unlinked since
    try:
        domain.check_may_sign_in(account)
        accounts.check_may_attempt(account, now, secrets.login_policy)
    except DomainError as refused:
        return LoginOutcome(error=refused)
    if not account.get("totp_secret"):
        return LoginOutcome(error=accounts.TotpRequired(
            "账户尚未登记动态口令，请联系工委"))
    step = accounts.totp_step(
        signing.unseal(secrets.sealer, account["totp_secret"]), code, now,
        account.get("totp_last_step"))
    if step is None:
        return LoginOutcome(error=record_failure(
            uow, account, accounts.InvalidCredentials("动态口令错误或已使用"),
            now, secrets.login_policy))
    fields = dict(accounts.after_success(now), totp_last_step=step)
    return issue_token(uow, account, fields, secrets, now)
