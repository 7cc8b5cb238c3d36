"""统一身份认证 (OIDC) sign-in of the identity service in-process, against the
real broker and store and the local issuer stand-in (``tests/oidc_issuer``):
工委 links a provider user to an account, the browser's flow (followed with
``requests``) answers a token that verifies with the published JWKS, and
each refusal is a zh-CN 4xx: an unknown user, a disabled account, a
replayed state, a callback in another browser, a bad nonce or signature, a
provider's denial; 工委 still gives a TOTP code."""

import time
import urllib.parse
import uuid

import pyotp
import pytest
import requests
from pymongo.errors import DuplicateKeyError

from sifuwu import access
from services.identity.service import IdentityService
from tests.oidc_issuer import OidcIssuer, new_key
from tooling.stack import free_port

TOTP = pyotp.random_base32()
PASSWORD = "bootstrap-password-1"
STAFF_PASSWORD = "staff-password-123"


@pytest.fixture(scope="module")
def module_vhost(infra):
    name = f"oidc-{uuid.uuid4().hex[:10]}"
    infra.rabbitmqctl("add_vhost", name)
    infra.rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*",
                      ".*")
    yield name
    infra.rabbitmqctl("delete_vhost", name, check=False)


@pytest.fixture(scope="module")
def module_issuer():
    with OidcIssuer(redirect_uri="http://127.0.0.1:1/unset") as stand_in:
        yield stand_in


@pytest.fixture
def port():
    # a fresh port per test: a stopped container's listening socket may
    # linger (SO_REUSEPORT) and take half of the next one's connections
    return free_port()


@pytest.fixture
def web_url(port):
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def issuer(module_issuer, web_url):
    module_issuer.reset()
    module_issuer.user = {"sub": "test-user"}
    module_issuer.redirect_uri = f"{web_url}/api/v1/oidc/callback"
    return module_issuer


@pytest.fixture
def config(infra, module_vhost, port, issuer):
    return {
        "AMQP_URI": f"pyamqp://guest:guest@127.0.0.1:{infra.ports.amqp}/"
                    f"{module_vhost}",
        "MONGO_URI": infra.mongo_uri,
        "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
        "SIFUWU_DB_PREFIX": f"oidc{uuid.uuid4().hex[:8]}_",
        "SIFUWU_SECRET": "test-secret",
        "SIFUWU_RELAY_INTERVAL": 0.2,
        "SIFUWU_IDENTITY_BOOTSTRAP": f"admin:{PASSWORD}:{TOTP}",
        "SIFUWU_IDENTITY_KEY_SECRETS": "integration-seal",
        "SIFUWU_IDENTITY_ARGON2_TIME_COST": 1,
        "SIFUWU_IDENTITY_ARGON2_MEMORY_KIB": 1024,
        "SIFUWU_IDENTITY_ARGON2_PARALLELISM": 1,
        "SIFUWU_IDENTITY_OIDC_ISSUER": issuer.url,
        "SIFUWU_IDENTITY_OIDC_CLIENT_ID": issuer.client_id,
        "SIFUWU_IDENTITY_OIDC_CLIENT_SECRET": issuer.client_secret,
        "SIFUWU_IDENTITY_OIDC_REDIRECT_URI": issuer.redirect_uri,
        "max_workers": 10,
    }


@pytest.fixture
def identity(container_factory, config):
    container = container_factory(IdentityService, config)
    container.start()
    return container


@pytest.fixture
def db(mongo, config):
    return mongo[f"{config['SIFUWU_DB_PREFIX']}identity"]


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def admin_token(web_url):
    code = pyotp.TOTP(TOTP).now()
    answer = requests.post(f"{web_url}/api/v1/login", json={
        "username": "admin", "password": PASSWORD, "totp": code}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["token"]


def create(web_url, token, **spec):
    spec.setdefault("password", STAFF_PASSWORD)
    answer = requests.post(f"{web_url}/api/v1/accounts", json=spec,
                           headers=auth(token), timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()["account"]


def link(web_url, token, account_id, subject):
    return requests.put(f"{web_url}/api/v1/accounts/{account_id}/oidc",
                        json={"oidc_subject": subject}, headers=auth(token),
                        timeout=10)


def walk(web_url, browser=None):
    """The browser's flow: login → the provider → the callback."""
    browser = browser or requests.Session()
    return browser.get(f"{web_url}/api/v1/oidc/login", timeout=10), browser


def verify(web_url, token):
    keys = access.RemoteKeys.from_settings(
        access.AccessSettings(identity_url=web_url))
    return access.verify_token(token, keys, time.time(),
                               issuer="sifuwu-identity", audience="sifuwu",
                               leeway=0)


def refusal(answer):
    assert 400 <= answer.status_code < 500, answer.text
    body = answer.json()
    assert body["message"] and not body["message"].isascii()  # zh-CN
    return answer.status_code, body["error"]


def test_a_linked_account_signs_in_through_the_provider(identity, web_url,
                                                        issuer, db):
    admin = admin_token(web_url)
    made = create(web_url, admin, username="li.unit", role="unit_staff",
                  unit_id="u1")
    assert made["oidc_subject"] is None
    # 工委 links the account to its provider user; a second account cannot
    # take the same user
    linked = link(web_url, admin, made["id"], "zs-0001")
    assert linked.status_code == 200 and \
        linked.json()["account"]["oidc_subject"] == "zs-0001"
    other = create(web_url, admin, username="wang.unit", role="unit_staff",
                   unit_id="u2")
    taken = link(web_url, admin, other["id"], "zs-0001")
    assert refusal(taken) == (409, "oidc_subject_taken")
    staff = requests.post(f"{web_url}/api/v1/login", json={
        "username": "li.unit", "password": STAFF_PASSWORD}, timeout=10)
    assert link(web_url, staff.json()["token"], other["id"],
                "x").status_code == 403
    issuer.user = {"sub": "zs-0001", "name": "张三", "amr": ["pwd"]}
    answer, browser = walk(web_url)
    assert answer.status_code == 200, answer.text
    hops = [urllib.parse.urlsplit(r.url).path for r in answer.history]
    assert hops == ["/api/v1/oidc/login", "/authorize"]
    body = answer.json()
    assert set(body) == {"token", "token_type", "expires_in", "expires_at",
                         "account"}
    assert body["token_type"] == "Bearer" and \
        body["account"]["username"] == "li.unit"
    assert answer.headers["Cache-Control"] == "no-store"
    caller = verify(web_url, body["token"])
    assert (caller.account, caller.role, caller.unit_id) == (
        made["id"], access.UNIT_STAFF, "u1")
    me = requests.get(f"{web_url}/api/v1/me", headers=auth(body["token"]),
                      timeout=10)
    assert me.status_code == 200 and me.json()["username"] == "li.unit"
    # the provider got the PKCE verifier and our secret; the state is gone
    assert issuer.requests[-1]["code_verifier"]
    assert db.oidc_pending.count_documents({}) == 0
    # replaying the callback: the state served once
    replay = browser.get(answer.url, timeout=10)
    assert refusal(replay) == (400, "oidc_state_invalid")
    actions = [(e["action"], e["account"]) for e in db.account_audit.find()]
    assert ("account.oidc_linked", made["id"]) in actions
    # the store holds one link per provider user, whatever the step checks
    with pytest.raises(DuplicateKeyError):
        db.accounts.update_one({"_id": other["id"]},
                               {"$set": {"oidc_subject": "zs-0001"}})


def test_each_refusal_is_a_clear_4xx(identity, web_url, issuer, db):
    admin = admin_token(web_url)
    made = create(web_url, admin, username="li.unit", role="unit_staff",
                  unit_id="u1", oidc_subject="zs-0001")
    assert made["oidc_subject"] == "zs-0001"
    issuer.user = {"sub": "stranger"}
    assert refusal(walk(web_url)[0]) == (403, "oidc_not_linked")
    issuer.user = {"sub": "zs-0001"}
    issuer.id_token_claims = {"nonce": "not-the-one-we-sent"}
    bad_nonce = walk(web_url)[0]
    assert refusal(bad_nonce) == (401, "oidc_token_invalid")
    assert bad_nonce.json()["fields"] == {"id_token": ["声明 nonce 不符"]}
    issuer.reset()
    issuer.sign_with = new_key(issuer.key.kid)  # a forged signature
    forged = walk(web_url)[0]
    assert refusal(forged) == (401, "oidc_token_invalid")
    assert forged.json()["fields"] == {"id_token": ["签名无效"]}
    issuer.reset()
    issuer.id_token_claims = {"aud": "someone-else"}
    assert refusal(walk(web_url)[0]) == (401, "oidc_token_invalid")
    issuer.reset()
    issuer.id_token_claims = {"exp": int(time.time()) - 3600}
    assert refusal(walk(web_url)[0]) == (401, "oidc_token_invalid")
    issuer.reset()
    issuer.deny = True
    assert refusal(walk(web_url)[0]) == (401, "oidc_refused")
    issuer.reset()
    # the callback URL opened in another browser (login CSRF)
    started = requests.Session()
    to_provider = started.get(f"{web_url}/api/v1/oidc/login",
                              allow_redirects=False, timeout=10)
    assert to_provider.status_code == 302
    assert "HttpOnly" in to_provider.headers["Set-Cookie"]
    back = started.get(to_provider.headers["Location"],
                       allow_redirects=False, timeout=10)
    callback = back.headers["Location"]
    assert refusal(requests.get(callback, timeout=10)) == (
        400, "oidc_state_invalid")
    # a state never made, and none at all
    assert refusal(started.get(f"{web_url}/api/v1/oidc/callback?code=x&"
                               "state=forged", timeout=10))[1] == \
        "oidc_state_invalid"
    assert refusal(started.get(f"{web_url}/api/v1/oidc/callback",
                               timeout=10))[1] == "oidc_state_invalid"
    # a disabled account
    assert requests.post(f"{web_url}/api/v1/accounts/{made['id']}/disable",
                         headers=auth(admin), timeout=10).status_code == 200
    assert refusal(walk(web_url)[0]) == (403, "account_disabled")


def test_the_committee_still_gives_its_totp_code(identity, web_url, issuer):
    admin = admin_token(web_url)
    me = requests.get(f"{web_url}/api/v1/me", headers=auth(admin),
                      timeout=10).json()
    assert link(web_url, admin, me["account"], "boss").status_code == 200
    issuer.user = {"sub": "boss", "amr": ["pwd", "mfa"]}  # not trusted here
    answer, browser = walk(web_url)
    assert refusal(answer) == (401, "totp_required")
    ticket = answer.json()["ticket"]
    wrong = browser.post(f"{web_url}/api/v1/oidc/totp", json={
        "ticket": ticket, "totp": "000000"}, timeout=10)
    assert refusal(wrong) == (401, "invalid_credentials")
    used = browser.post(f"{web_url}/api/v1/oidc/totp", json={
        "ticket": ticket, "totp": pyotp.TOTP(TOTP).now()}, timeout=10)
    assert refusal(used) == (401, "oidc_ticket_invalid")
    time.sleep(1.1)  # the failed code's backoff
    answer, browser = walk(web_url)
    # the next time step: the admin's login above used the current code
    code = pyotp.TOTP(TOTP).at(time.time() + 30)
    done = browser.post(f"{web_url}/api/v1/oidc/totp", json={
        "ticket": answer.json()["ticket"], "totp": code}, timeout=10)
    assert done.status_code == 200, done.text
    assert verify(web_url, done.json()["token"]).role == access.COMMITTEE


@pytest.fixture
def trusting(container_factory, config, issuer):
    container_factory(IdentityService, dict(
        config, SIFUWU_IDENTITY_OIDC_MFA_AMR="mfa")).start()


def test_a_declared_mfa_claim_stands_in_for_totp(trusting, web_url, issuer):
    admin = admin_token(web_url)
    me = requests.get(f"{web_url}/api/v1/me", headers=auth(admin),
                      timeout=10).json()
    assert link(web_url, admin, me["account"], "boss").status_code == 200
    issuer.user = {"sub": "boss", "amr": ["pwd"]}
    assert refusal(walk(web_url)[0]) == (401, "totp_required")
    issuer.user = {"sub": "boss", "amr": ["pwd", "mfa"]}
    answer = walk(web_url)[0]
    assert answer.status_code == 200, answer.text
    assert verify(web_url, answer.json()["token"]).role == access.COMMITTEE


@pytest.fixture
def without_oidc(container_factory, config):
    plain = {key: value for key, value in config.items()
             if not key.startswith("SIFUWU_IDENTITY_OIDC_")}
    container_factory(IdentityService, plain).start()


def test_without_an_issuer_the_routes_answer_404(without_oidc, web_url):
    for path in ("/api/v1/oidc/login", "/api/v1/oidc/callback?state=x"):
        assert refusal(requests.get(web_url + path, timeout=10)) == (
            404, "oidc_disabled")
    totp = requests.post(f"{web_url}/api/v1/oidc/totp", json={
        "ticket": "x", "totp": "123456"}, timeout=10)
    assert refusal(totp) == (404, "oidc_disabled")


@pytest.fixture
def provider_down(container_factory, config):
    container_factory(IdentityService, dict(
        config, SIFUWU_IDENTITY_OIDC_ISSUER=f"http://127.0.0.1:"
                                            f"{free_port()}")).start()


def test_a_provider_that_cannot_be_reached_is_a_503(provider_down, web_url,
                                                    db):
    answer = requests.get(f"{web_url}/api/v1/oidc/login", timeout=30)
    assert answer.status_code == 503
    assert answer.json()["error"] == "oidc_unavailable"
    assert db.oidc_pending.count_documents({}) == 0
