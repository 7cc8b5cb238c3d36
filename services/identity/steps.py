"""The use cases of the identity service (身份服务用例), each run inside one
unit of work: check the rule (``domain``), write, append the audit entry.

A step takes the unit of work first, ``now`` and what it needs as
arguments (a ``Secrets`` of the hasher, the sealer and the token and key
settings). Account changes need the acting account as stored (a token of a
since-disabled 工委 account manages nothing). A login must store its failure
count even when it fails, so ``login`` returns a ``LoginOutcome`` whose
``error`` the entrypoint raises after the transaction has committed.
"""

import dataclasses
import uuid

import pyotp

from sifuwu import access
from sifuwu.errors import Conflict, NotFound
from services.identity import domain, signing
from services.identity.oidc import domain as oidc


@dataclasses.dataclass(frozen=True)
class Secrets:
    """What the steps need to hash, seal, sign and rotate."""

    hasher: object
    sealer: object
    issuer: str
    audience: str
    token_ttl: int
    rotate_every: float
    overlap: float
    totp_issuer: str = "sifuwu"
    login_policy: domain.LoginPolicy = domain.LoginPolicy()


@dataclasses.dataclass
class LoginOutcome:
    error: Exception | None = None
    token: str | None = None
    expires_at: object = None
    account: dict | None = None


_DUMMY_HASHES = {}


def _dummy_hash(hasher):
    """A hash to verify against for an unknown username, so that answering
    takes as long as for a known one."""
    key = (hasher.time_cost, hasher.memory_cost, hasher.parallelism)
    if key not in _DUMMY_HASHES:
        _DUMMY_HASHES[key] = hasher.hash(uuid.uuid4().hex)
    return _DUMMY_HASHES[key]


def _audit(uow, action, account, actor, now, **details):
    """One audit entry: who (account id, username, role) did what to whom."""
    return uow.repo.append_audit({
        "at": now, "action": action, "account": account,
        "actor": actor.get("_id") if actor else None,
        "actor_username": actor.get("username") if actor else None,
        "actor_role": actor.get("role") if actor else None,
        "details": details})


def _actor(uow, identity):
    actor = uow.repo.get_account(identity.account) if identity else None
    domain.require_manager(actor)
    return actor


def _account(uow, account_id):
    account = uow.repo.get_account(account_id)
    if account is None:
        raise NotFound("未找到该账户", code="account_not_found")
    return account


def _new_account(spec, secrets, now, created_by):
    username = domain.check_username(spec["username"])
    domain.check_password(spec["password"])
    scope = domain.scope_of(spec["role"], spec.get("unit_id"),
                            spec.get("branch_id"))
    totp_secret = spec.get("totp_secret")
    if totp_secret is None and domain.needs_totp(spec["role"]):
        totp_secret = pyotp.random_base32()
    return {
        "_id": uuid.uuid4().hex, "username": username,
        "display_name": spec.get("display_name") or username,
        "role": spec["role"], **scope, "status": domain.ACTIVE,
        "password_hash": secrets.hasher.hash(spec["password"]),
        "totp_secret": signing.seal(secrets.sealer, totp_secret)
        if totp_secret else None,
        "totp_last_step": None, "failed_count": 0, "last_failed_at": None,
        "locked_until": None, "oidc_subject": oidc.check_subject(
            spec.get("oidc_subject")),
        "created_at": now, "created_by": created_by,
        "updated_at": now, "last_login_at": None}, totp_secret


def _enrolment(account, totp_secret, secrets):
    """The TOTP secret and its provisioning URI, shown once."""
    if not totp_secret:
        return None
    return {"secret": totp_secret,
            "uri": pyotp.TOTP(totp_secret).provisioning_uri(
                name=account["username"], issuer_name=secrets.totp_issuer)}


# -- accounts ----------------------------------------------------------------------

def bootstrap(uow, spec, secrets, now):
    """The first 工委 account from ``SIFUWU_IDENTITY_BOOTSTRAP``
    ((username, password, totp secret)), only while no account exists."""
    if spec is None or uow.repo.any_account():
        return None
    username, password, totp_secret = spec
    account, _ = _new_account(
        {"username": username, "password": password,
         "role": access.COMMITTEE, "display_name": "工委管理员（初始）",
         "totp_secret": totp_secret}, secrets, now, created_by=None)
    uow.repo.insert_account(account)
    _audit(uow, domain.BOOTSTRAPPED, account["_id"], None, now,
           username=username, role=access.COMMITTEE)
    return account


def create_account(uow, identity, spec, secrets, now):
    """A new account, by a 工委 account; with its TOTP enrolment when the
    role needs one (shown once)."""
    actor = _actor(uow, identity)
    if uow.repo.find_by_username(spec["username"]) is not None:
        raise Conflict("用户名已被使用", code="username_taken")
    account, totp_secret = _new_account(
        dict(spec, totp_secret=None), secrets, now, created_by=actor["_id"])
    _check_subject_free(uow, account["oidc_subject"], account["_id"])
    uow.repo.insert_account(account)
    details = {"oidc_subject": account["oidc_subject"]} \
        if account["oidc_subject"] else {}
    _audit(uow, domain.CREATED, account["_id"], actor, now,
           username=account["username"], role=account["role"],
           unit_id=account["unit_id"], branch_id=account["branch_id"],
           **details)
    return account, _enrolment(account, totp_secret, secrets)


def set_status(uow, identity, account_id, status, now):
    """Disable (停用) or enable an account, by a 工委 account."""
    actor = _actor(uow, identity)
    account = _account(uow, account_id)
    new = domain.move(account, status)
    domain.check_not_last_committee(
        account, uow.repo.count_active(access.COMMITTEE), new_status=new)
    uow.repo.update_account(account_id, {"status": new, "updated_at": now})
    action = domain.DISABLED_ACTION if new == domain.DISABLED else \
        domain.ENABLED_ACTION
    _audit(uow, action, account_id, actor, now, before=account["status"],
           after=new)
    return dict(account, status=new, updated_at=now)


def change_role(uow, identity, account_id, change, secrets, now):
    """Give an account another role and scope, by a 工委 account. A role
    that needs TOTP and has none gets an enrolment (shown once)."""
    actor = _actor(uow, identity)
    account = _account(uow, account_id)
    role = change["role"]
    scope = domain.scope_of(role, change.get("unit_id"),
                            change.get("branch_id"))
    domain.check_not_last_committee(
        account, uow.repo.count_active(access.COMMITTEE), new_role=role)
    fields = {"role": role, **scope, "updated_at": now}
    totp_secret = None
    if domain.needs_totp(role) and not account.get("totp_secret"):
        totp_secret = pyotp.random_base32()
        fields["totp_secret"] = signing.seal(secrets.sealer, totp_secret)
        fields["totp_last_step"] = None
    uow.repo.update_account(account_id, fields)
    before = {key: account.get(key) for key in ("role", "unit_id",
                                                "branch_id")}
    _audit(uow, domain.ROLE_CHANGED, account_id, actor, now, before=before,
           after={"role": role, **scope})
    updated = dict(account, **fields)
    return updated, _enrolment(updated, totp_secret, secrets)


def _check_subject_free(uow, subject, account_id):
    if subject is None:
        return
    holder = uow.repo.find_by_oidc_subject(subject)
    if holder is not None and holder["_id"] != account_id:
        raise oidc.SubjectTaken()


def link_oidc(uow, identity, account_id, subject, now):
    """Link an account to its user at the province's 统一身份认证 (or
    unlink it: ``subject`` None), by a 工委 account; audited."""
    actor = _actor(uow, identity)
    account = _account(uow, account_id)
    subject = oidc.check_subject(subject)
    _check_subject_free(uow, subject, account_id)
    before = account.get("oidc_subject")
    uow.repo.update_account(account_id, {"oidc_subject": subject,
                                         "updated_at": now})
    _audit(uow, oidc.LINKED if subject else oidc.UNLINKED, account_id,
           actor, now, before=before, after=subject)
    return dict(account, oidc_subject=subject, updated_at=now)


def change_password(uow, identity, current, new, secrets, now):
    """An account's own new password, given the current one."""
    account = _account(uow, identity.account)
    if not signing.verify_password(secrets.hasher, account["password_hash"],
                                   current):
        raise domain.InvalidCredentials("当前密码不正确")
    domain.check_password(new)
    uow.repo.update_account(account["_id"], {
        "password_hash": secrets.hasher.hash(new), "updated_at": now})
    _audit(uow, domain.PASSWORD_CHANGED, account["_id"], account, now)
    return account


def list_accounts(uow):
    return uow.repo.list_accounts()


def show_account(uow, account_id):
    return _account(uow, account_id)


def audit_entries(uow, account=None, limit=200):
    return uow.repo.audit_entries(account, limit)


# -- logins ------------------------------------------------------------------------

def login(uow, credentials, secrets, now):
    """Check a login and sign a token; a ``LoginOutcome`` (see above).

    The password is checked before the TOTP code and before the account's
    status, so neither a wrong password nor an unknown name tells more than
    "用户名或密码错误". The right password without a code answers
    ``totp_required`` and is not counted as a failure.
    """
    policy = secrets.login_policy
    account = uow.repo.find_by_username(credentials["username"])
    if account is None:
        signing.verify_password(secrets.hasher, _dummy_hash(secrets.hasher),
                                credentials["password"])
        return LoginOutcome(error=domain.InvalidCredentials())
    try:
        domain.check_may_attempt(account, now, policy)
    except Exception as refused:  # noqa: BLE001 - returned, raised after commit
        return LoginOutcome(error=refused)
    error = None
    totp_step = None
    if not signing.verify_password(secrets.hasher, account["password_hash"],
                                   credentials["password"]):
        error = domain.InvalidCredentials()
    elif domain.needs_totp(account["role"]) or account.get("totp_secret"):
        code = credentials.get("totp")
        if not code:
            error = domain.TotpRequired()
        elif not account.get("totp_secret"):
            error = domain.TotpRequired("账户尚未登记动态口令，请联系工委")
        else:
            secret = signing.unseal(secrets.sealer, account["totp_secret"])
            totp_step = domain.totp_step(secret, code, now,
                                         account.get("totp_last_step"))
            if totp_step is None:
                error = domain.InvalidCredentials("动态口令错误或已使用")
    if isinstance(error, domain.TotpRequired):
        # the right password without a code: the first step of two, not a
        # failed guess (a wrong code counts)
        return LoginOutcome(error=error)
    if error is not None:
        return LoginOutcome(error=record_failure(uow, account, error, now,
                                                 policy))
    if account["status"] != domain.ACTIVE:
        return LoginOutcome(error=domain.AccountDisabled())
    fields = domain.after_success(now)
    if totp_step is not None:
        fields["totp_last_step"] = totp_step
    if secrets.hasher.check_needs_rehash(account["password_hash"]):
        fields["password_hash"] = secrets.hasher.hash(credentials["password"])
    return issue_token(uow, account, fields, secrets, now)


def record_failure(uow, account, error, now, policy):
    """Count a failed attempt (and lock when it is one too many, audited);
    the error to answer."""
    fields, locked = domain.after_failure(account, now, policy)
    uow.repo.update_account(account["_id"], fields)
    if locked:
        _audit(uow, domain.LOCKED, account["_id"], None, now,
               failures=fields["failed_count"])
        return domain.AccountLocked()
    return error


def issue_token(uow, account, fields, secrets, now, auth_time=None):
    """Store a sign-in's ``fields`` on the account and sign its token."""
    uow.repo.update_account(account["_id"], fields)
    key = _signing_key(uow, secrets, now)
    claims = domain.token_claims(account, now, secrets.token_ttl,
                                 issuer=secrets.issuer,
                                 audience=secrets.audience,
                                 token_id=uuid.uuid4().hex,
                                 auth_time=auth_time)
    private = signing.load_private(signing.unseal(secrets.sealer,
                                                  key["sealed_private"]))
    token = signing.sign(claims, private, key["_id"])
    return LoginOutcome(token=token, expires_at=claims["exp"],
                        account=dict(account, **fields))


def refresh_token(uow, identity, auth_time, secrets, now,
                  max_session_seconds):
    """A new token for the signed-in ``identity`` (its current token was
    verified by the entrypoint), keeping the sign-in time ``auth_time``:
    the account must still be active, in the same role and scope, and the
    sign-in no older than ``max_session_seconds``."""
    account = uow.repo.get_account(identity.account)
    domain.check_refresh(account, identity, auth_time, now,
                         max_session_seconds)
    return issue_token(uow, account, {"refreshed_at": now}, secrets, now,
                       auth_time=auth_time)


# -- signing keys --------------------------------------------------------------------

def _slot(status, kid):
    return f"{domain.RETIRED}:{kid}" if status == domain.RETIRED else status


def _apply(uow, plan, secrets, now):
    for kid in plan.prune:
        uow.repo.delete_key(kid)
    if plan.retire:
        uow.repo.update_key(plan.retire, {
            "status": domain.RETIRED, "slot": _slot(domain.RETIRED,
                                                    plan.retire),
            "retired_at": now, "publish_until": plan.publish_until})
    if plan.promote:
        uow.repo.update_key(plan.promote, {
            "status": domain.KEY_ACTIVE, "slot": domain.KEY_ACTIVE,
            "activated_at": now})
    for status in plan.create:
        doc = signing.key_document(signing.new_key(), uuid.uuid4().hex,
                                   secrets.sealer, now)
        doc.update(status=status, slot=status)
        if status == domain.KEY_ACTIVE:
            doc["activated_at"] = now
        uow.repo.insert_key(doc)


def maintain_keys(uow, secrets, now, identity=None, force=False):
    """Create, rotate and prune the signing keys as ``domain.key_plan``
    says; a rotation is audited (by the acting account when forced)."""
    plan = domain.key_plan(uow.repo.keys(), now,
                           rotate_every=secrets.rotate_every,
                           overlap=secrets.overlap, force=force)
    actor = uow.repo.get_account(identity.account) if identity else None
    _apply(uow, plan, secrets, now)
    if plan.retire or force:
        _audit(uow, domain.KEYS_ROTATED, None, actor, now,
               retired=plan.retire, publish_until=plan.publish_until,
               forced=force)
    return plan


def _signing_key(uow, secrets, now):
    key = domain.signing_key(uow.repo.keys())
    if key is None:
        maintain_keys(uow, secrets, now)
        key = domain.signing_key(uow.repo.keys())
    return key


def published_keys(uow, now):
    """The JWKS: the next, active and still-published retired keys."""
    return signing.jwks(domain.published(uow.repo.keys(), now))


def key_windows(uow, now):
    """The keys with their states and windows (no key material)."""
    return [{"kid": key["_id"], "status": key["status"],
             "created_at": key["created_at"],
             "activated_at": key.get("activated_at"),
             "retired_at": key.get("retired_at"),
             "publish_until": key.get("publish_until"),
             "published": key in domain.published([key], now)}
            for key in uow.repo.keys()]
