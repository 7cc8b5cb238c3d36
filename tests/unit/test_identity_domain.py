"""The identity rules as plain functions: scopes of roles, who manages
accounts, backoff and lock-out, TOTP, token claims and the key lifecycle."""

import datetime as dt

import pyotp
import pytest

from sifuwu import access
from sifuwu.errors import Conflict, DomainError, Forbidden
from services.identity import domain

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
POLICY = domain.LoginPolicy(max_failures=3, lockout_seconds=600,
                            backoff_base=2, backoff_max=5)


def seconds(n):
    return dt.timedelta(seconds=n)


@pytest.mark.parametrize("role,unit,branch,scope", [
    (access.COMMITTEE, None, None, {"unit_id": None, "branch_id": None}),
    (access.UNIT_STAFF, "u1", None, {"unit_id": "u1", "branch_id": None}),
    (access.BRANCH_SECRETARY, "u1", "b1", {"unit_id": "u1", "branch_id": "b1"}),
    (access.BRANCH_SECRETARY, None, "b1", {"unit_id": None, "branch_id": "b1"}),
    (access.AUDITOR, None, None, {"unit_id": None, "branch_id": None}),
])
def test_a_role_binds_its_scope(role, unit, branch, scope):
    assert domain.scope_of(role, unit, branch) == scope


@pytest.mark.parametrize("role,unit,branch,code", [
    (access.UNIT_STAFF, None, None, "scope_required"),
    (access.UNIT_STAFF, "u1", "b1", "scope_required"),
    (access.BRANCH_SECRETARY, "u1", None, "scope_required"),
    (access.COMMITTEE, "u1", None, "scope_not_allowed"),
    (access.OPERATOR, None, "b1", "scope_not_allowed"),
    ("root", None, None, "unknown_role"),
])
def test_a_role_refuses_the_wrong_scope(role, unit, branch, code):
    with pytest.raises(DomainError) as err:
        domain.scope_of(role, unit, branch)
    assert err.value.code == code


def test_totp_is_required_for_committee_and_operators_only():
    assert {r for r in access.ROLES if domain.needs_totp(r)} == {
        access.COMMITTEE, access.OPERATOR}


@pytest.mark.parametrize("actor", [
    None,
    {"role": access.UNIT_STAFF, "status": "active"},
    {"role": access.AUDITOR, "status": "active"},
    {"role": access.COMMITTEE, "status": "disabled"},
])
def test_only_an_active_committee_account_manages_accounts(actor):
    with pytest.raises(Forbidden) as err:
        domain.require_manager(actor)
    assert err.value.code == "committee_only"
    domain.require_manager({"role": access.COMMITTEE, "status": "active"})


def test_account_moves_are_a_table():
    account = {"status": domain.ACTIVE}
    assert domain.move(account, domain.DISABLED) == domain.DISABLED
    with pytest.raises(Conflict):
        domain.move(account, domain.ACTIVE)
    assert domain.move({"status": domain.DISABLED}, domain.ACTIVE) == \
        domain.ACTIVE


def test_the_last_active_committee_account_stays():
    last = {"role": access.COMMITTEE, "status": domain.ACTIVE}
    with pytest.raises(Conflict) as err:
        domain.check_not_last_committee(last, 1, new_status=domain.DISABLED)
    assert err.value.code == "last_committee"
    with pytest.raises(Conflict):
        domain.check_not_last_committee(last, 1, new_role=access.AUDITOR)
    domain.check_not_last_committee(last, 2, new_status=domain.DISABLED)
    domain.check_not_last_committee(last, 1, new_role=access.COMMITTEE)
    domain.check_not_last_committee(
        {"role": access.AUDITOR, "status": domain.ACTIVE}, 1,
        new_status=domain.DISABLED)


def test_usernames_and_passwords():
    assert domain.check_username("wang.li_01") == "wang.li_01"
    for bad in ("ab", "Wang", "王五", "a b c", "-abc"):
        with pytest.raises(DomainError):
            domain.check_username(bad)
    with pytest.raises(DomainError) as err:
        domain.check_password("short")
    assert err.value.code == "weak_password"


def test_bootstrap_spec():
    secret = pyotp.random_base32()
    assert domain.parse_bootstrap("") is None
    assert domain.parse_bootstrap(f"admin:correct-horse-battery:{secret}") \
        == ("admin", "correct-horse-battery", secret)
    for bad in ("admin:pw", f"admin:short:{secret}",
                "admin:correct-horse-battery:not base32!", "a:b:c:d"):
        with pytest.raises(ValueError):
            domain.parse_bootstrap(bad)


# -- backoff and lock-out -------------------------------------------------------------

def fail(account, now):
    fields, locked = domain.after_failure(account, now, POLICY)
    return dict(account, **fields), locked


def test_each_failure_doubles_the_wait_then_locks():
    account = {"failed_count": 0}
    domain.check_may_attempt(account, T0, POLICY)
    account, locked = fail(account, T0)
    assert account["failed_count"] == 1 and not locked
    assert domain.backoff_until(account, POLICY) == T0 + seconds(2)
    with pytest.raises(domain.LoginBackoff) as err:
        domain.check_may_attempt(account, T0 + seconds(1), POLICY)
    assert err.value.status == 429 and err.value.fields == {"retry_after": ["2"]}
    domain.check_may_attempt(account, T0 + seconds(2), POLICY)
    account, locked = fail(account, T0 + seconds(2))
    # 2 * 2**1 = 4 s
    assert domain.backoff_until(account, POLICY) == T0 + seconds(6)
    account, locked = fail(account, T0 + seconds(6))
    assert locked and account["locked_until"] == T0 + seconds(606)
    with pytest.raises(domain.AccountLocked) as err:
        domain.check_may_attempt(account, T0 + seconds(300), POLICY)
    assert err.value.status == 423
    # the lock passes; the next failure starts a new count
    domain.check_may_attempt(account, T0 + seconds(606), POLICY)
    account, locked = fail(account, T0 + seconds(607))
    assert account["failed_count"] == 1 and not locked


def test_the_wait_is_capped():
    account = {"failed_count": 10, "last_failed_at": T0}
    assert domain.backoff_until(account, POLICY) == T0 + seconds(5)


def test_success_clears_the_count():
    assert domain.after_success(T0) == {
        "failed_count": 0, "last_failed_at": None, "locked_until": None,
        "last_login_at": T0}


# -- TOTP -------------------------------------------------------------------------------

def test_a_totp_code_counts_once_within_one_step_of_drift():
    secret = pyotp.random_base32()
    totp = pyotp.TOTP(secret)
    code = totp.at(T0)
    step = domain.totp_step(secret, code, T0)
    assert step == totp.timecode(T0)
    # 30 s later the same code still matches (one step of drift) ...
    assert domain.totp_step(secret, code, T0 + seconds(30)) == step
    # ... but not once used, nor 90 s later, nor a wrong or non-numeric one
    assert domain.totp_step(secret, code, T0, last_step=step) is None
    assert domain.totp_step(secret, code, T0 + seconds(90)) is None
    assert domain.totp_step(secret, "000000" if code != "000000" else "111111",
                            T0) is None
    assert domain.totp_step(secret, None, T0) is None
    # the next step's code after the last one used is accepted
    later = totp.at(T0 + seconds(30))
    assert domain.totp_step(secret, later, T0 + seconds(30),
                            last_step=step) == step + 1


def test_token_claims_carry_the_scope():
    account = {"_id": "a1", "username": "li", "role": access.UNIT_STAFF,
               "unit_id": "u1", "branch_id": None}
    claims = domain.token_claims(account, T0, 900, issuer="iss",
                                 audience="aud", token_id="j1")
    assert claims == {"iss": "iss", "aud": "aud", "sub": "a1", "name": "li",
                      "role": "unit_staff", "unit_id": "u1",
                      "iat": int(T0.timestamp()), "nbf": int(T0.timestamp()),
                      "exp": int(T0.timestamp()) + 900, "jti": "j1",
                      "auth_time": int(T0.timestamp())}
    # a renewed token keeps the time the person signed in
    assert domain.token_claims(account, T0, 900, issuer="iss", audience="aud",
                               token_id="j2", auth_time=1_000)[
        "auth_time"] == 1_000


def test_a_token_is_renewed_only_for_the_same_active_account_in_time():
    account = {"_id": "a1", "username": "li", "role": access.UNIT_STAFF,
               "unit_id": "u1", "branch_id": None, "status": domain.ACTIVE}
    who = access.Identity(account="a1", role=access.UNIT_STAFF, unit_id="u1")
    start = T0.timestamp()
    domain.check_refresh(account, who, start, T0 + seconds(3600), 43_200)
    with pytest.raises(domain.SessionTooOld):
        domain.check_refresh(account, who, start, T0 + seconds(43_201),
                             43_200)
    with pytest.raises(domain.AccountDisabled):
        domain.check_refresh(dict(account, status=domain.DISABLED), who,
                             start, T0, 43_200)
    with pytest.raises(Exception) as changed:
        domain.check_refresh(dict(account, unit_id="u2"), who, start, T0,
                             43_200)
    assert changed.value.code == "account_changed"


# -- the key lifecycle ------------------------------------------------------------------

def key(kid, status, activated=None, until=None):
    return {"_id": kid, "status": status, "activated_at": activated,
            "publish_until": until}


def test_first_keys_are_an_active_one_and_its_successor():
    assert domain.key_plan([], T0, rotate_every=3600, overlap=60) == \
        domain.KeyPlan(create=(domain.KEY_ACTIVE, domain.NEXT))


def test_nothing_to_do_before_rotation_is_due():
    keys = [key("k1", domain.KEY_ACTIVE, T0), key("k2", domain.NEXT)]
    plan = domain.key_plan(keys, T0 + seconds(3599), rotate_every=3600,
                           overlap=60)
    assert not plan.changes


def test_rotation_promotes_the_published_successor_and_keeps_the_old_key():
    keys = [key("k1", domain.KEY_ACTIVE, T0), key("k2", domain.NEXT)]
    now = T0 + seconds(3600)
    plan = domain.key_plan(keys, now, rotate_every=3600, overlap=60)
    assert plan == domain.KeyPlan(retire="k1", promote="k2",
                                  create=(domain.NEXT,),
                                  publish_until=now + seconds(60))
    forced = domain.key_plan(keys, T0, rotate_every=3600, overlap=60,
                             force=True)
    assert forced.retire == "k1" and forced.promote == "k2"


def test_a_retired_key_is_published_until_its_tokens_expire_then_pruned():
    retired = key("k0", domain.RETIRED, T0, until=T0 + seconds(60))
    keys = [retired, key("k1", domain.KEY_ACTIVE, T0), key("k2", domain.NEXT)]
    assert [k["_id"] for k in domain.published(keys, T0 + seconds(59))] == [
        "k0", "k1", "k2"]
    assert [k["_id"] for k in domain.published(keys, T0 + seconds(60))] == [
        "k1", "k2"]
    plan = domain.key_plan(keys, T0 + seconds(60), rotate_every=3600,
                           overlap=60)
    assert plan == domain.KeyPlan(prune=("k0",))


def test_a_missing_successor_is_created():
    plan = domain.key_plan([key("k1", domain.KEY_ACTIVE, T0)], T0,
                           rotate_every=3600, overlap=60)
    assert plan == domain.KeyPlan(create=(domain.NEXT,))
    plan = domain.key_plan([key("k2", domain.NEXT)], T0, rotate_every=3600,
                           overlap=60)
    assert plan == domain.KeyPlan(promote="k2", create=(domain.NEXT,))
