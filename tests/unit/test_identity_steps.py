"""The identity steps against an in-memory unit of work and a dict-backed
repository: bootstrap, account changes by 工委 only (audited), logins with
backoff, lock-out and TOTP, and signing keys that rotate with overlap; the
tokens are checked with ``sifuwu.access`` against the published JWKS."""

import datetime as dt

import pyotp
import pytest

from sifuwu import access
from sifuwu.errors import Conflict, Forbidden, Unauthorized
from services.identity import domain, signing, steps
from tests.fakes.identity import FakeIdentityRepository
from tests.fakes.uow import InMemoryUnitOfWork

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
TOTP = pyotp.random_base32()
PASSWORD = "correct-horse-battery"
SECRETS = steps.Secrets(
    hasher=signing.hasher(time_cost=1, memory_cost=8, parallelism=1),
    sealer=signing.sealer(["unit-test-seal"]), issuer="sifuwu-identity",
    audience="sifuwu", token_ttl=900, rotate_every=86_400, overlap=930,
    login_policy=domain.LoginPolicy(max_failures=3, lockout_seconds=600,
                                    backoff_base=1, backoff_max=8))


def later(seconds):
    return T0 + dt.timedelta(seconds=seconds)


@pytest.fixture
def uow():
    uow = InMemoryUnitOfWork(repo=FakeIdentityRepository(),
                             service_name="identity")
    uow.run(steps.bootstrap, ("admin", PASSWORD, TOTP), SECRETS, T0)
    return uow


def admin(uow):
    account = uow.repo.find_by_username("admin")
    return access.Identity(account=account["_id"], role=account["role"])


def log_in(uow, username, password=PASSWORD, totp=None, now=T0):
    return uow.run(steps.login, {"username": username, "password": password,
                                 "totp": totp}, SECRETS, now)


def verify(uow, token, now=T0):
    keys = access.StaticKeys(steps.published_keys(uow, now))
    return access.verify_token(token, keys, now, issuer="sifuwu-identity",
                               audience="sifuwu", leeway=0)


def test_bootstrap_only_while_no_account_exists(uow):
    account = uow.repo.find_by_username("admin")
    assert account["role"] == access.COMMITTEE
    assert account["password_hash"].startswith("$argon2id$")
    assert signing.unseal(SECRETS.sealer, account["totp_secret"]) == TOTP
    assert uow.run(steps.bootstrap, ("other", PASSWORD, TOTP), SECRETS,
                   T0) is None
    assert [e["action"] for e in uow.repo.audit] == [domain.BOOTSTRAPPED]


def test_committee_creates_accounts_each_audited(uow):
    account, enrolment = uow.run(steps.create_account, admin(uow), {
        "username": "li.unit", "password": PASSWORD,
        "role": access.UNIT_STAFF, "unit_id": "u1"}, SECRETS, T0)
    assert account["unit_id"] == "u1" and enrolment is None
    operator, enrolment = uow.run(steps.create_account, admin(uow), {
        "username": "ops", "password": PASSWORD, "role": access.OPERATOR},
        SECRETS, T0)
    assert enrolment["uri"].startswith("otpauth://totp/")
    assert signing.unseal(SECRETS.sealer, operator["totp_secret"]) == \
        enrolment["secret"]
    entry = uow.repo.audit_entries()[0]
    assert entry["action"] == domain.CREATED and entry["account"] == \
        operator["_id"]
    assert entry["actor_username"] == "admin" and \
        entry["actor_role"] == access.COMMITTEE
    with pytest.raises(Conflict):
        uow.run(steps.create_account, admin(uow), {
            "username": "ops", "password": PASSWORD, "role": access.AUDITOR},
            SECRETS, T0)


def test_only_committee_changes_accounts(uow):
    staff, _ = uow.run(steps.create_account, admin(uow), {
        "username": "li.unit", "password": PASSWORD,
        "role": access.UNIT_STAFF, "unit_id": "u1"}, SECRETS, T0)
    as_staff = access.Identity(account=staff["_id"], role=access.UNIT_STAFF,
                               unit_id="u1")
    # a forged role claim does not help: the stored account decides
    forged = access.Identity(account=staff["_id"], role=access.COMMITTEE)
    audited = len(uow.repo.audit)
    for who in (as_staff, forged, None):
        with pytest.raises(Forbidden):
            uow.run(steps.create_account, who, {
                "username": "x.y.z", "password": PASSWORD,
                "role": access.COMMITTEE}, SECRETS, T0)
        with pytest.raises(Forbidden):
            uow.run(steps.set_status, who, staff["_id"], domain.DISABLED, T0)
        with pytest.raises(Forbidden):
            uow.run(steps.change_role, who, staff["_id"],
                    {"role": access.COMMITTEE}, SECRETS, T0)
    assert len(uow.repo.audit) == audited


def test_disable_enable_and_re_role_are_audited(uow):
    staff, _ = uow.run(steps.create_account, admin(uow), {
        "username": "li.unit", "password": PASSWORD,
        "role": access.UNIT_STAFF, "unit_id": "u1"}, SECRETS, T0)
    uow.run(steps.set_status, admin(uow), staff["_id"], domain.DISABLED,
            later(1))
    assert log_in(uow, "li.unit").error.code == "account_disabled"
    uow.run(steps.set_status, admin(uow), staff["_id"], domain.ACTIVE,
            later(2))
    updated, enrolment = uow.run(steps.change_role, admin(uow), staff["_id"],
                                 {"role": access.OPERATOR}, SECRETS, later(3))
    assert updated["role"] == access.OPERATOR and updated["unit_id"] is None
    assert enrolment is not None  # an operator needs TOTP
    actions = [e["action"] for e in uow.repo.audit_entries(staff["_id"])]
    assert actions == [domain.ROLE_CHANGED, domain.ENABLED_ACTION,
                       domain.DISABLED_ACTION, domain.CREATED]
    change = uow.repo.audit_entries(staff["_id"])[0]["details"]
    assert change == {"before": {"role": "unit_staff", "unit_id": "u1",
                                 "branch_id": None},
                      "after": {"role": "operator", "unit_id": None,
                                "branch_id": None}}


def test_the_last_committee_cannot_disable_itself(uow):
    me = admin(uow)
    with pytest.raises(Conflict):
        uow.run(steps.set_status, me, me.account, domain.DISABLED, T0)


def test_login_signs_a_token_that_verifies_against_the_jwks(uow):
    staff, _ = uow.run(steps.create_account, admin(uow), {
        "username": "wang.branch", "password": PASSWORD,
        "role": access.BRANCH_SECRETARY, "unit_id": "u1",
        "branch_id": "b7"}, SECRETS, T0)
    outcome = log_in(uow, "wang.branch")
    assert outcome.error is None
    identity = verify(uow, outcome.token)
    assert identity == access.Identity(
        account=staff["_id"], role=access.BRANCH_SECRETARY, unit_id="u1",
        branch_id="b7", username="wang.branch")
    assert outcome.expires_at == int(T0.timestamp()) + 900
    assert uow.repo.get_account(staff["_id"])["last_login_at"] == T0


def test_committee_needs_a_fresh_totp_code(uow):
    assert log_in(uow, "admin").error.code == "totp_required"
    code = pyotp.TOTP(TOTP).at(later(5))
    outcome = log_in(uow, "admin", totp=code, now=later(5))
    assert outcome.error is None
    assert verify(uow, outcome.token, later(5)).role == access.COMMITTEE
    # the same code again is refused (and counted as a failure)
    replay = log_in(uow, "admin", totp=code, now=later(10))
    assert replay.error.code == "invalid_credentials"


def test_unknown_user_and_wrong_password_say_the_same(uow):
    unknown = log_in(uow, "nobody")
    wrong = log_in(uow, "admin", password="wrong-password-123")
    assert type(unknown.error) is type(wrong.error) is \
        domain.InvalidCredentials
    assert unknown.error.message == wrong.error.message


def test_failed_logins_back_off_then_lock_and_are_stored(uow):
    bad = "wrong-password-123"
    code = pyotp.TOTP(TOTP)
    assert log_in(uow, "admin", bad).error.code == "invalid_credentials"
    # within the backoff even the right password is refused
    refused = log_in(uow, "admin", totp=code.at(T0), now=later(0.5))
    assert refused.error.code == "login_backoff"
    assert log_in(uow, "admin", bad, now=later(1)).error.code == \
        "invalid_credentials"
    locked = log_in(uow, "admin", bad, now=later(3))
    assert locked.error.code == "account_locked"
    account = uow.repo.find_by_username("admin")
    assert account["failed_count"] == 3
    assert account["locked_until"] == later(603)
    assert uow.repo.audit_entries()[0]["action"] == domain.LOCKED
    assert log_in(uow, "admin", totp=code.at(later(60)),
                  now=later(60)).error.code == "account_locked"
    opened = log_in(uow, "admin", totp=code.at(later(603)), now=later(603))
    assert opened.error is None
    assert uow.repo.find_by_username("admin")["failed_count"] == 0


def test_change_password_needs_the_current_one(uow):
    me = admin(uow)
    with pytest.raises(Unauthorized):
        uow.run(steps.change_password, me, "not-the-password", "new-password-1234",
                SECRETS, T0)
    uow.run(steps.change_password, me, PASSWORD, "new-password-1234",
            SECRETS, T0)
    assert log_in(uow, "admin").error.code == "invalid_credentials"


def test_keys_rotate_with_overlap(uow):
    uow.run(steps.maintain_keys, SECRETS, T0)
    statuses = sorted(k["status"] for k in uow.repo.keys())
    assert statuses == [domain.KEY_ACTIVE, domain.NEXT]
    first_kids = {k["kid"] for k in steps.published_keys(uow, T0)["keys"]}
    token = log_in(uow, "admin", totp=pyotp.TOTP(TOTP).at(T0)).token
    old_kid = access.jwt.get_unverified_header(token)["kid"]
    # nothing to do before the period is up
    assert not uow.run(steps.maintain_keys, SECRETS, later(60)).changes
    plan = uow.run(steps.maintain_keys, SECRETS, later(100), admin(uow),
                   True)
    assert plan.retire == old_kid and plan.promote in first_kids
    assert plan.publish_until == later(100 + 930)
    assert uow.repo.audit_entries()[0]["action"] == domain.KEYS_ROTATED
    # during the overlap the old token verifies; a new login uses the new key
    assert verify(uow, token, later(800)).role == access.COMMITTEE
    fresh = log_in(uow, "admin", totp=pyotp.TOTP(TOTP).at(later(800)),
                   now=later(800)).token
    assert access.jwt.get_unverified_header(fresh)["kid"] == plan.promote
    # after it, the old key is no longer published and the token is refused
    published = {k["kid"] for k in steps.published_keys(uow, later(1030))[
        "keys"]}
    assert old_kid not in published and plan.promote in published
    with pytest.raises(Unauthorized) as err:
        verify(uow, token, later(1030))
    assert err.value.code == "unknown_key"
    uow.run(steps.maintain_keys, SECRETS, later(1030))
    assert old_kid not in {k["_id"] for k in uow.repo.keys()}


def test_private_keys_are_stored_sealed(uow):
    uow.run(steps.maintain_keys, SECRETS, T0)
    for doc in uow.repo.keys():
        assert "PRIVATE KEY" not in doc["sealed_private"]
        assert "PRIVATE KEY" in signing.unseal(SECRETS.sealer,
                                               doc["sealed_private"])
        assert "d" not in doc["public_jwk"]
    other = signing.sealer(["another-seal"])
    with pytest.raises(ValueError):
        signing.unseal(other, uow.repo.keys()[0]["sealed_private"])
    # a rotated sealing secret still opens what the old one sealed
    rotated = signing.sealer(["new-seal", "unit-test-seal"])
    assert "PRIVATE KEY" in signing.unseal(rotated, uow.repo.keys()[0][
        "sealed_private"])


def test_a_missing_code_is_not_a_failed_guess(uow):
    assert log_in(uow, "admin").error.code == "totp_required"
    assert uow.repo.find_by_username("admin")["failed_count"] == 0
    assert log_in(uow, "admin", "wrong-password-123").error.code == \
        "invalid_credentials"


def test_the_upkeep_timer_bootstraps_and_rotates_in_two_transactions():
    from nameko.testing.services import worker_factory
    from pymongo.errors import DuplicateKeyError

    from services.identity.service import IdentityService

    service = worker_factory(IdentityService, clock=lambda: T0, config={
        "SIFUWU_IDENTITY_BOOTSTRAP": f"admin:{PASSWORD}:{TOTP}",
        "SIFUWU_IDENTITY_ARGON2_MEMORY_KIB": 8,
        "SIFUWU_IDENTITY_ARGON2_TIME_COST": 1,
        "SIFUWU_IDENTITY_ARGON2_PARALLELISM": 1})
    fake = InMemoryUnitOfWork(repo=FakeIdentityRepository())
    service.store.transaction.side_effect = lambda fn, **kw: fake.run(fn)
    plan = service.maintain()
    assert fake.repo.find_by_username("admin")["role"] == access.COMMITTEE
    assert plan.create == (domain.KEY_ACTIVE, domain.NEXT)
    assert service.store.transaction.call_count == 2
    # another replica got there first: nothing raised
    service.store.transaction.side_effect = DuplicateKeyError("one_slot")
    assert service.maintain() is None


def test_a_bad_bootstrap_setting_creates_nothing_and_breaks_nothing():
    from nameko.testing.services import worker_factory

    from services.identity.service import IdentityService

    service = worker_factory(IdentityService, config={
        "SIFUWU_IDENTITY_BOOTSTRAP": "admin:short"})
    assert service._bootstrap() is None
    service.store.transaction.assert_not_called()
