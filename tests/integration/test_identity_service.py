"""The identity service in-process against the real broker and store: the
first 工委 account from the bootstrap setting, logins (TOTP, backoff,
lock-out, stored counts), accounts managed by 工委 only and audited, the
published JWKS, tokens verified by ``sifuwu.access`` from it, and key
rotation (an old token valid during the overlap, refused after it)."""

import time
import uuid

import jwt
import pyotp
import pytest
import requests

from sifuwu import access
from services.identity.service import IdentityService
from tooling.stack import free_port
from tests.helpers import wait_for

TOTP = pyotp.random_base32()
PASSWORD = "bootstrap-password-1"
STAFF_PASSWORD = "staff-password-123"


@pytest.fixture(scope="module")
def module_vhost(infra):
    name = f"id-{uuid.uuid4().hex[:10]}"
    infra.rabbitmqctl("add_vhost", name)
    infra.rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*",
                      ".*")
    yield name
    infra.rabbitmqctl("delete_vhost", name, check=False)


@pytest.fixture
def config(infra, module_vhost):
    port = free_port()
    return {
        "AMQP_URI": f"pyamqp://guest:guest@127.0.0.1:{infra.ports.amqp}/"
                    f"{module_vhost}",
        "MONGO_URI": infra.mongo_uri,
        "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
        "SIFUWU_DB_PREFIX": f"id{uuid.uuid4().hex[:8]}_",
        "SIFUWU_SECRET": "test-secret",
        "SIFUWU_RELAY_INTERVAL": 0.2,
        "SIFUWU_IDENTITY_BOOTSTRAP": f"admin:{PASSWORD}:{TOTP}",
        "SIFUWU_IDENTITY_KEY_SECRETS": "integration-seal",
        # cheap hashes keep the tests fast; the defaults are argon2id's own
        "SIFUWU_IDENTITY_ARGON2_TIME_COST": 1,
        "SIFUWU_IDENTITY_ARGON2_MEMORY_KIB": 1024,
        "SIFUWU_IDENTITY_ARGON2_PARALLELISM": 1,
        "SIFUWU_IDENTITY_BACKOFF_SECONDS": 0.5,
        "SIFUWU_IDENTITY_MAX_FAILED_LOGINS": 3,
        "SIFUWU_IDENTITY_LOCKOUT_SECONDS": 60,
        "max_workers": 10,
    }


@pytest.fixture
def web_url(config):
    return "http://" + config["WEB_SERVER_ADDRESS"]


@pytest.fixture
def identity(container_factory, config):
    container = container_factory(IdentityService, config)
    container.start()
    return container


@pytest.fixture
def db(mongo, config):
    return mongo[f"{config['SIFUWU_DB_PREFIX']}identity"]


def login(web_url, username, password, totp=None):
    body = {"username": username, "password": password}
    if totp:
        body["totp"] = totp
    return requests.post(f"{web_url}/api/v1/login", json=body, timeout=10)


def admin_token(web_url, offset=0):
    """A 工委 token; ``offset`` steps ahead so each login of a test uses a
    code not used before (a code counts once)."""
    code = pyotp.TOTP(TOTP).at(time.time() + 30 * offset)
    answer = login(web_url, "admin", PASSWORD, code)
    assert answer.status_code == 200, answer.text
    return answer.json()["token"]


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def verifier(web_url):
    return access.RemoteKeys.from_settings(
        access.AccessSettings(identity_url=web_url))


def verify(token, keys, leeway=0):
    return access.verify_token(token, keys, time.time(),
                               issuer="sifuwu-identity", audience="sifuwu",
                               leeway=leeway)


def create(web_url, token, **spec):
    spec.setdefault("password", STAFF_PASSWORD)
    return requests.post(f"{web_url}/api/v1/accounts", json=spec,
                         headers=auth(token), timeout=10)


def test_bootstrap_login_and_a_token_verified_from_the_jwks(identity, web_url,
                                                            db):
    no_code = login(web_url, "admin", PASSWORD)
    assert no_code.status_code == 401
    assert no_code.json()["error"] == "totp_required"
    token = admin_token(web_url)
    jwks = requests.get(f"{web_url}/.well-known/jwks.json", timeout=10)
    assert jwks.status_code == 200
    assert "max-age" in jwks.headers["Cache-Control"]
    keys = jwks.json()["keys"]
    assert len(keys) == 2  # the active key and its published successor
    assert all(k["kty"] == "OKP" and k["alg"] == "EdDSA" and "d" not in k
               for k in keys)
    assert jwt.get_unverified_header(token)["kid"] in {k["kid"] for k in keys}
    identity_ = verify(token, verifier(web_url))
    assert identity_.role == access.COMMITTEE and identity_.username == "admin"
    me = requests.get(f"{web_url}/api/v1/me", headers=auth(token), timeout=10)
    assert me.status_code == 200 and me.json()["role"] == "committee"
    # stored: an argon2id hash, a sealed TOTP secret, sealed private keys
    account = db.accounts.find_one({"username": "admin"})
    assert account["password_hash"].startswith("$argon2id$")
    assert TOTP not in str(account)
    for key in db.signing_keys.find():
        assert "PRIVATE KEY" not in key["sealed_private"]
    assert [e["action"] for e in db.account_audit.find()] == [
        "account.bootstrapped"]


def test_committee_alone_manages_accounts_and_each_change_is_audited(
        identity, web_url, db):
    admin = admin_token(web_url)
    anonymous = requests.get(f"{web_url}/api/v1/accounts", timeout=10)
    assert anonymous.status_code == 401
    made = create(web_url, admin, username="li.unit", role="unit_staff",
                  unit_id="u1", display_name="李干部")
    assert made.status_code == 201, made.text
    staff_id = made.json()["account"]["id"]
    assert "totp" not in made.json()
    assert create(web_url, admin, username="ops", role="operator").json()[
        "totp"]["uri"].startswith("otpauth://")
    assert create(web_url, admin, username="nobody.unit",
                  role="unit_staff").status_code == 400
    assert create(web_url, admin, username="li.unit",
                  role="auditor").status_code == 409
    staff = login(web_url, "li.unit", STAFF_PASSWORD)
    assert staff.status_code == 200
    staff_token = staff.json()["token"]
    assert verify(staff_token, verifier(web_url)).unit_id == "u1"
    # a unit cadre may not manage accounts, nor read them
    assert create(web_url, staff_token, username="x.unit",
                  role="committee").status_code == 403
    assert requests.get(f"{web_url}/api/v1/accounts", headers=auth(
        staff_token), timeout=10).status_code == 403
    # re-role and disable, by the committee
    rerole = requests.put(f"{web_url}/api/v1/accounts/{staff_id}/role",
                          json={"role": "auditor"}, headers=auth(admin),
                          timeout=10)
    assert rerole.status_code == 200 and \
        rerole.json()["account"]["unit_id"] is None
    off = requests.post(f"{web_url}/api/v1/accounts/{staff_id}/disable",
                        headers=auth(admin), timeout=10)
    assert off.status_code == 200 and off.json()["account"]["status"] == \
        "disabled"
    refused = login(web_url, "li.unit", STAFF_PASSWORD)
    assert refused.status_code == 403
    assert refused.json()["error"] == "account_disabled"
    audit = requests.get(f"{web_url}/api/v1/audit",
                         params={"account": staff_id}, headers=auth(admin),
                         timeout=10).json()["items"]
    assert [e["action"] for e in audit] == [
        "account.disabled", "account.role_changed", "account.created"]
    assert {e["actor_username"] for e in audit} == {"admin"}
    assert {e["actor_role"] for e in audit} == {"committee"}


def test_wrong_passwords_back_off_then_lock_with_counts_in_the_store(
        identity, web_url, db):
    admin = admin_token(web_url)
    assert create(web_url, admin, username="wang.branch",
                  role="branch_secretary", unit_id="u1",
                  branch_id="b1").status_code == 201
    first = login(web_url, "wang.branch", "wrong-password-1")
    assert first.status_code == 401
    assert first.json()["error"] == "invalid_credentials"
    unknown = login(web_url, "no.such.user", "wrong-password-1")
    assert unknown.json() == first.json()
    # at once, even the right password waits
    waiting = login(web_url, "wang.branch", STAFF_PASSWORD)
    assert waiting.status_code == 429
    assert waiting.json()["error"] == "login_backoff"
    assert db.accounts.find_one({"username": "wang.branch"})[
        "failed_count"] == 1
    time.sleep(0.6)
    assert login(web_url, "wang.branch", "wrong-password-2").status_code == 401
    time.sleep(1.1)
    locked = login(web_url, "wang.branch", "wrong-password-3")
    assert locked.status_code == 423
    assert locked.json()["error"] == "account_locked"
    time.sleep(2.1)
    assert login(web_url, "wang.branch", STAFF_PASSWORD).status_code == 423
    stored = db.accounts.find_one({"username": "wang.branch"})
    assert stored["failed_count"] == 3 and stored["locked_until"] is not None
    assert db.account_audit.find_one({"action": "account.locked"})


@pytest.fixture
def short_lived(config):
    """Tokens of 3 s and no leeway: a retired key is published 3 s."""
    return dict(config, SIFUWU_IDENTITY_TOKEN_TTL=3, SIFUWU_TOKEN_LEEWAY=0)


def test_keys_rotate_with_overlap(container_factory, short_lived, web_url):
    container_factory(IdentityService, short_lived).start()
    admin = admin_token(web_url)
    assert create(web_url, admin, username="audit.one",
                  role="auditor").status_code == 201
    old = login(web_url, "audit.one", STAFF_PASSWORD).json()["token"]
    old_kid = jwt.get_unverified_header(old)["kid"]
    cached = verifier(web_url)
    verify(old, cached)
    fetches = cached.fetches

    admin = admin_token(web_url, offset=1)
    rotated = requests.post(f"{web_url}/api/v1/keys/rotate",
                            headers=auth(admin), timeout=10)
    assert rotated.status_code == 201, rotated.text
    assert rotated.json()["retired"] == old_kid
    new = login(web_url, "audit.one", STAFF_PASSWORD).json()["token"]
    new_kid = jwt.get_unverified_header(new)["kid"]
    assert new_kid != old_kid
    # during the overlap: both verify, and the cached JWKS already knew the
    # new key (it was published as the successor), so nothing was refetched
    assert verify(old, verifier(web_url)).username == "audit.one"
    assert verify(new, cached).username == "audit.one"
    assert cached.fetches == fetches
    kids = {k["kid"] for k in requests.get(
        f"{web_url}/.well-known/jwks.json", timeout=10).json()["keys"]}
    assert {old_kid, new_kid} <= kids and len(kids) == 3

    # after it: the old key is no longer published; its token is refused
    wait_for(lambda: old_kid not in {k["kid"] for k in requests.get(
        f"{web_url}/.well-known/jwks.json", timeout=10).json()["keys"]},
        timeout=10, what="the old key to leave the JWKS")
    with pytest.raises(access.Unauthorized) as err:
        verify(old, verifier(web_url), leeway=3600)
    assert err.value.code == "unknown_key"
    auditor = login(web_url, "audit.one", STAFF_PASSWORD).json()["token"]
    listed = requests.get(f"{web_url}/api/v1/keys", headers=auth(auditor),
                          timeout=10).json()["items"]
    assert {k["kid"]: k["published"] for k in listed}[old_kid] is False


def test_a_token_is_renewed_keeping_the_sign_in_time(identity, web_url):
    """The console keeps a person signed in: a valid token buys a new one
    with the same sign-in time; a re-roled account must sign in again."""
    admin = admin_token(web_url)
    made = create(web_url, admin, username="renew.li", role="unit_staff",
                  unit_id="u1")
    assert made.status_code == 201, made.text
    first = login(web_url, "renew.li", STAFF_PASSWORD).json()["token"]
    renewed = requests.post(f"{web_url}/api/v1/token/refresh",
                            headers=auth(first), timeout=10)
    assert renewed.status_code == 200, renewed.text
    second = renewed.json()["token"]
    assert second != first and renewed.json()["account"]["username"] == \
        "renew.li"
    claims = [jwt.decode(t, options={"verify_signature": False})
              for t in (first, second)]
    assert claims[0]["auth_time"] == claims[1]["auth_time"]
    assert claims[1]["jti"] != claims[0]["jti"]
    assert verify(second, verifier(web_url)).unit_id == "u1"
    assert requests.post(f"{web_url}/api/v1/token/refresh",
                         timeout=10).status_code == 401
    # re-roled: the old token cannot be renewed into the old scope
    account_id = made.json()["account"]["id"]
    changed = requests.put(f"{web_url}/api/v1/accounts/{account_id}/role",
                           json={"role": "unit_staff", "unit_id": "u2"},
                           headers=auth(admin), timeout=10)
    assert changed.status_code == 200, changed.text
    refused = requests.post(f"{web_url}/api/v1/token/refresh",
                            headers=auth(second), timeout=10)
    assert (refused.status_code, refused.json()["error"]) == (
        401, "account_changed")
