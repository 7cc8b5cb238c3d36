"""The 统一身份认证 (OIDC) sign-in's rules and steps: the ID token checks
(issuer, audience, nonce, expiry, signature, algorithm), the mapping of the
provider's user to a linked account, the multi-factor decision for 工委 and
运维, pending sign-ins used once, links set by 工委 only (audited), and the
provider client against the local issuer stand-in (``tests/oidc_issuer``)."""

import dataclasses
import datetime as dt
import urllib.parse

import pyotp
import pytest
import requests
from joserfc import jwt
from joserfc.jwk import OctKey

from sifuwu import access
from sifuwu.errors import Forbidden
from services.identity import domain as accounts
from services.identity import signing, steps
from services.identity.oidc import domain, steps as oidc_steps
from services.identity.oidc.provider import Provider
from services.identity.settings import IdentitySettings
from tests.fakes.identity import FakeIdentityRepository
from tests.fakes.uow import InMemoryUnitOfWork
from tests.oidc_issuer import OidcIssuer, new_key
from tooling.stack import free_port

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
TOTP = pyotp.random_base32()
PASSWORD = "correct-horse-battery"
ISSUER = "https://sso.example.gov.cn"
CONFIG = domain.OidcConfig(issuer=ISSUER, client_id="sifuwu",
                           redirect_uri="https://sifuwu.example/cb",
                           leeway=30)
SECRETS = steps.Secrets(
    hasher=signing.hasher(time_cost=1, memory_cost=8, parallelism=1),
    sealer=signing.sealer(["unit-test-seal"]), issuer="sifuwu-identity",
    audience="sifuwu", token_ttl=900, rotate_every=86_400, overlap=930,
    login_policy=accounts.LoginPolicy(max_failures=3, lockout_seconds=600,
                                      backoff_base=1, backoff_max=8))
KEY = new_key("province-1")
JWKS = {"keys": [KEY.as_dict(private=False)]}


def later(seconds):
    return T0 + dt.timedelta(seconds=seconds)


def id_token(key=KEY, header=None, **claims):
    now = int(T0.timestamp())
    body = {"iss": ISSUER, "aud": "sifuwu", "sub": "u-1", "nonce": "n-1",
            "iat": now, "exp": now + 300}
    body.update(claims)
    return jwt.encode(header or {"alg": "RS256", "kid": key.kid},
                      {k: v for k, v in body.items() if v is not None}, key)


def validate(token, nonce="n-1", now=T0, **kwargs):
    return domain.validate_id_token(token, JWKS, CONFIG, nonce, now,
                                    **kwargs)


def reason(exc_info):
    return exc_info.value.fields["id_token"][0]


# -- the ID token ---------------------------------------------------------------

def test_a_good_id_token_gives_its_claims():
    claims = validate(id_token(preferred_username="zhang.san"))
    assert claims["sub"] == "u-1" and claims["preferred_username"] == \
        "zhang.san"


@pytest.mark.parametrize("claims, why", [
    ({"iss": "https://other.example"}, "声明 iss 不符"),
    ({"aud": "another-client"}, "声明 aud 不符"),
    ({"nonce": "replayed"}, "声明 nonce 不符"),
    ({"nonce": None}, "缺少声明 nonce"),
    ({"exp": int(T0.timestamp()) - 60}, "ID 令牌已过期"),
    ({"sub": None}, "缺少声明 sub"),
])
def test_a_token_with_a_wrong_claim_is_refused_with_the_reason(claims, why):
    with pytest.raises(domain.TokenInvalid) as refused:
        validate(id_token(**claims))
    assert refused.value.status == 401
    assert refused.value.code == "oidc_token_invalid"
    assert reason(refused) == why


def test_the_clock_leeway_is_the_configured_one():
    token = id_token(exp=int(T0.timestamp()) - 10)
    assert validate(token)["sub"] == "u-1"  # within 30 s
    with pytest.raises(domain.TokenInvalid):
        domain.validate_id_token(token, JWKS, dataclasses.replace(
            CONFIG, leeway=0), "n-1", T0)


def test_several_audiences_need_us_as_the_authorized_party():
    assert validate(id_token(aud=["sifuwu", "other"], azp="sifuwu"))
    with pytest.raises(domain.TokenInvalid) as refused:
        validate(id_token(aud=["sifuwu", "other"], azp="other"))
    assert reason(refused) == "声明 azp 不符"


def test_a_signature_by_another_key_is_refused():
    forged = new_key(KEY.kid)  # same kid, another key
    with pytest.raises(domain.TokenInvalid) as refused:
        validate(id_token(key=forged))
    assert reason(refused) == "签名无效" and not refused.value.unknown_key


def test_a_key_not_in_the_jwks_says_so_for_a_refetch():
    with pytest.raises(domain.TokenInvalid) as refused:
        validate(id_token(key=new_key("province-2")))
    assert refused.value.unknown_key


def test_none_and_hmac_algorithms_are_refused():
    body = {"iss": ISSUER, "aud": "sifuwu", "sub": "u-1", "nonce": "n-1",
            "iat": int(T0.timestamp()), "exp": int(T0.timestamp()) + 300}
    hmac_token = jwt.encode({"alg": "HS256"}, body, OctKey.import_key(
        "client-secret-used-as-a-key-0123456789"))
    for token in (hmac_token, hmac_token.rsplit(".", 1)[0] + "."):
        with pytest.raises(domain.TokenInvalid):
            validate(token)
    # what the provider advertises narrows the list, never widens it
    assert domain.algorithms({"id_token_signing_alg_values_supported": [
        "none", "HS256", "RS256"]}) == ["RS256"]
    assert "HS256" not in domain.algorithms({})


@pytest.mark.parametrize("token", [None, "", "not-a-jwt", "a.b.c",
                                   "eyJhbGciOiJSUzI1NiJ9.e30.AAAA"])
def test_garbage_is_a_4xx(token):
    with pytest.raises(domain.TokenInvalid):
        validate(token)


@pytest.mark.parametrize("jwks", [{"keys": [{"kty": "nope"}]},
                                  {"keys": "x"}, {"keys": [1]}, {}, []])
def test_an_unusable_jwks_is_a_4xx(jwks):
    with pytest.raises(domain.TokenInvalid):
        domain.validate_id_token(id_token(), jwks, CONFIG, "n-1", T0)
    assert domain.algorithms({"id_token_signing_alg_values_supported":
                              "RS256"}) == list(domain.ALGORITHMS)


# -- mapping and multi-factor -------------------------------------------------------

def test_the_user_claim_names_the_user():
    claims = {"sub": "u-1", "preferred_username": "zhang.san", "uid": 42}
    assert domain.subject_of(claims, "sub") == "u-1"
    assert domain.subject_of(claims, "preferred_username") == "zhang.san"
    assert domain.subject_of(claims, "uid") == "42"
    for claim in ("missing", "flag"):
        with pytest.raises(domain.TokenInvalid):
            domain.subject_of(dict(claims, flag=True), claim)


def test_only_declared_mfa_values_count():
    trusting = dataclasses.replace(CONFIG, mfa_amr=frozenset({"mfa", "otp"}),
                                   mfa_acr=frozenset({"urn:gov:loa:3"}))
    assert not domain.mfa_satisfied({"amr": ["mfa"]}, CONFIG)  # trust none
    assert domain.mfa_satisfied({"amr": ["pwd", "otp"]}, trusting)
    assert not domain.mfa_satisfied({"amr": ["pwd"]}, trusting)
    assert not domain.mfa_satisfied({"amr": "mfa"}, trusting)  # not a list
    assert domain.mfa_satisfied({"acr": "urn:gov:loa:3"}, trusting)
    assert not domain.mfa_satisfied({"acr": "urn:gov:loa:1"}, trusting)
    committee = {"role": access.COMMITTEE}
    unit = {"role": access.UNIT_STAFF}
    assert domain.needs_totp(committee, {"amr": ["pwd"]}, trusting)
    assert not domain.needs_totp(committee, {"amr": ["mfa"]}, trusting)
    assert not domain.needs_totp(unit, {}, CONFIG)


def test_the_provider_error_and_issuer_in_the_callback():
    assert domain.provider_error({}) is None
    refused = domain.provider_error({"error": "access_denied"})
    assert refused.status == 401 and "access_denied" in refused.message
    assert domain.provider_error({"error": "<script>"}).fields == {
        "error": ["invalid"]}
    domain.check_issuer_param({"iss": ISSUER}, CONFIG)
    domain.check_issuer_param({}, CONFIG)
    with pytest.raises(domain.StateInvalid) as mixed:
        domain.check_issuer_param({"iss": "https://evil.example"}, CONFIG)
    assert mixed.value.code == "oidc_issuer_mismatch"


def test_settings_switch_oidc_on_and_name_what_is_missing():
    assert IdentitySettings().oidc is None
    config = IdentitySettings(oidc_issuer="http://sso.local",
                              oidc_client_id="c", oidc_mfa_amr="mfa, otp",
                              oidc_redirect_uri="http://me/cb").oidc
    assert config.mfa_amr == {"mfa", "otp"} and config.problems() == []
    assert len(config.problems(production=True)) == 2  # http, twice
    assert IdentitySettings(oidc_issuer="https://sso").oidc.problems()
    assert any("OIDC_ISSUER" in p for p in IdentitySettings(
        mode="production", secret="x" * 40, key_secrets="seal",
        oidc_issuer="http://sso", oidc_client_id="c",
        oidc_redirect_uri="https://me/cb").production_problems())


# -- steps ---------------------------------------------------------------------------

class FakeRepository(FakeIdentityRepository):
    """The identity fake with the OIDC link and the pending sign-ins."""

    def __init__(self):
        super().__init__()
        self.pending = {}

    def find_by_oidc_subject(self, subject):
        for account in self.accounts.values():
            if account.get("oidc_subject") == subject:
                return dict(account)
        return None

    def insert_pending(self, doc):
        self.pending[doc["_id"]] = dict(doc)
        return doc

    def take_pending(self, key, kind):
        doc = self.pending.get(key)
        if doc is None or doc["kind"] != kind:
            return None
        return self.pending.pop(key)


@pytest.fixture
def uow():
    uow = InMemoryUnitOfWork(repo=FakeRepository(), service_name="identity")
    uow.run(steps.bootstrap, ("admin", PASSWORD, TOTP), SECRETS, T0)
    return uow


def admin(uow):
    account = uow.repo.find_by_username("admin")
    return access.Identity(account=account["_id"], role=account["role"])


def make(uow, username, role, subject=None, **scope):
    account, _ = uow.run(steps.create_account, admin(uow), {
        "username": username, "password": PASSWORD, "role": role,
        "oidc_subject": subject, **scope}, SECRETS, T0)
    return account


def verify(uow, token, now=T0):
    keys = access.StaticKeys(steps.published_keys(uow, now))
    return access.verify_token(token, keys, now, issuer="sifuwu-identity",
                               audience="sifuwu", leeway=0)


def test_a_pending_sign_in_serves_once_in_its_own_browser(uow):
    begun = uow.run(oidc_steps.begin_login, CONFIG, T0)
    assert begun.state != begun.nonce and 43 <= len(begun.verifier) <= 128
    stored = next(iter(uow.repo.pending.values()))
    # only hashes of the state and the browser cookie are stored
    assert begun.state not in str(stored) and begun.browser not in \
        str(stored)
    other = uow.run(oidc_steps.begin_login, CONFIG, T0)
    assert uow.run(oidc_steps.take_login, other.state, begun.browser,
                   T0) is None  # another browser's: refused (and burnt)
    assert uow.run(oidc_steps.take_login, other.state, other.browser,
                   T0) is None
    pending = uow.run(oidc_steps.take_login, begun.state, begun.browser,
                      later(10))
    assert pending["nonce"] == begun.nonce and pending["code_verifier"] == \
        begun.verifier
    assert uow.run(oidc_steps.take_login, begun.state, begun.browser,
                   later(11)) is None  # replayed
    late = uow.run(oidc_steps.begin_login, CONFIG, T0)
    assert uow.run(oidc_steps.take_login, late.state, late.browser,
                   later(CONFIG.state_ttl)) is None  # expired
    assert uow.run(oidc_steps.take_login, None, None, T0) is None


def test_a_linked_account_signs_in_and_gets_a_verifiable_token(uow):
    account = make(uow, "li.unit", access.UNIT_STAFF, subject="u-1",
                   unit_id="u1")
    outcome = uow.run(oidc_steps.sign_in, {"sub": "u-1"}, CONFIG, SECRETS,
                      later(5))
    assert outcome.error is None
    identity = verify(uow, outcome.token, later(5))
    assert (identity.account, identity.role, identity.unit_id) == (
        account["_id"], access.UNIT_STAFF, "u1")
    assert uow.repo.get_account(account["_id"])["last_login_at"] == later(5)


def test_unknown_users_and_disabled_accounts_are_refused(uow):
    outcome = uow.run(oidc_steps.sign_in, {"sub": "nobody"}, CONFIG, SECRETS,
                      T0)
    assert isinstance(outcome.error, domain.NotLinked)
    assert outcome.error.status == 403
    account = make(uow, "li.unit", access.UNIT_STAFF, subject="u-1",
                   unit_id="u1")
    uow.run(steps.set_status, admin(uow), account["_id"], accounts.DISABLED,
            T0)
    outcome = uow.run(oidc_steps.sign_in, {"sub": "u-1"}, CONFIG, SECRETS,
                      T0)
    assert isinstance(outcome.error, accounts.AccountDisabled)
    outcome = uow.run(oidc_steps.sign_in, {"name": "x"}, CONFIG, SECRETS, T0)
    assert isinstance(outcome.error, domain.TokenInvalid)


def test_a_totp_role_still_gives_its_code_unless_the_provider_did_mfa(uow):
    uow.run(steps.link_oidc, admin(uow), admin(uow).account, "boss", T0)
    outcome = uow.run(oidc_steps.sign_in, {"sub": "boss", "amr": ["mfa"]},
                      CONFIG, SECRETS, T0)
    error = outcome.error
    assert isinstance(error, domain.TotpStillRequired) and error.status == \
        401 and error.code == "totp_required" and outcome.token is None
    wrong = uow.run(oidc_steps.finish_totp, error.ticket, "000000", SECRETS,
                    later(1))
    assert isinstance(wrong.error, accounts.InvalidCredentials)
    assert uow.repo.find_by_username("admin")["failed_count"] == 1
    # the ticket served once: a new provider sign-in, after the backoff
    again = uow.run(oidc_steps.finish_totp, error.ticket, "000000", SECRETS,
                    later(2))
    assert isinstance(again.error, domain.TicketInvalid)
    ticket = uow.run(oidc_steps.sign_in, {"sub": "boss"}, CONFIG, SECRETS,
                     later(3)).error.ticket
    done = uow.run(oidc_steps.finish_totp, ticket,
                   pyotp.TOTP(TOTP).at(later(3)), SECRETS, later(3))
    assert done.error is None
    assert verify(uow, done.token, later(3)).role == access.COMMITTEE
    assert uow.repo.find_by_username("admin")["failed_count"] == 0
    # a provider whose multi-factor claim the deployment declared
    trusting = dataclasses.replace(CONFIG, mfa_amr=frozenset({"mfa"}))
    direct = uow.run(oidc_steps.sign_in, {"sub": "boss", "amr": ["mfa"]},
                     trusting, SECRETS, later(4))
    assert direct.error is None and direct.token


def test_an_expired_ticket_or_a_link_removed_meanwhile_is_refused(uow):
    uow.run(steps.link_oidc, admin(uow), admin(uow).account, "boss", T0)
    ticket = uow.run(oidc_steps.sign_in, {"sub": "boss"}, CONFIG, SECRETS,
                     T0).error.ticket
    late = uow.run(oidc_steps.finish_totp, ticket, pyotp.TOTP(TOTP).at(T0),
                   SECRETS, later(CONFIG.state_ttl + 1))
    assert isinstance(late.error, domain.TicketInvalid)
    ticket = uow.run(oidc_steps.sign_in, {"sub": "boss"}, CONFIG, SECRETS,
                     T0).error.ticket
    uow.run(steps.link_oidc, admin(uow), admin(uow).account, None, T0)
    unlinked = uow.run(oidc_steps.finish_totp, ticket,
                       pyotp.TOTP(TOTP).at(T0), SECRETS, T0)
    assert isinstance(unlinked.error, domain.TicketInvalid)


def test_the_committee_links_accounts_and_each_link_is_audited(uow):
    unit = make(uow, "li.unit", access.UNIT_STAFF, subject="u-1",
                unit_id="u1")
    created = uow.repo.audit_entries()[0]
    assert created["action"] == accounts.CREATED and \
        created["details"]["oidc_subject"] == "u-1"
    other = make(uow, "wang.unit", access.UNIT_STAFF, unit_id="u2")
    with pytest.raises(domain.SubjectTaken):
        uow.run(steps.link_oidc, admin(uow), other["_id"], "u-1", T0)
    with pytest.raises(domain.SubjectTaken):
        make(uow, "zhao.unit", access.UNIT_STAFF, subject="u-1",
             unit_id="u3")
    linked = uow.run(steps.link_oidc, admin(uow), other["_id"], "u-2",
                     later(1))
    assert linked["oidc_subject"] == "u-2"
    entry = uow.repo.audit_entries()[0]
    assert (entry["action"], entry["account"], entry["actor_username"],
            entry["details"]) == (domain.LINKED, other["_id"], "admin",
                                  {"before": None, "after": "u-2"})
    uow.run(steps.link_oidc, admin(uow), unit["_id"], None, later(2))
    entry = uow.repo.audit_entries()[0]
    assert entry["action"] == domain.UNLINKED and entry["details"] == {
        "before": "u-1", "after": None}
    staff = access.Identity(account=unit["_id"], role=access.UNIT_STAFF)
    with pytest.raises(Forbidden):
        uow.run(steps.link_oidc, staff, other["_id"], "x", T0)
    with pytest.raises(accounts.DomainError):
        uow.run(steps.link_oidc, admin(uow), other["_id"], "a\nb", T0)


# -- the provider client against the stand-in ------------------------------------------

@pytest.fixture
def issuer():
    with OidcIssuer(redirect_uri="http://127.0.0.1:1/cb",
                    user={"sub": "u-1", "amr": ["pwd"]}) as stand_in:
        yield stand_in


def config_of(stand_in, **changes):
    return dataclasses.replace(domain.OidcConfig(
        issuer=stand_in.url, client_id=stand_in.client_id,
        client_secret=stand_in.client_secret,
        redirect_uri=stand_in.redirect_uri, timeout=5), **changes)


def authorize(provider, state="s-1", nonce="n-1", verifier="v" * 43):
    url = provider.authorization_url(state, nonce, verifier)
    back = requests.get(url, allow_redirects=False, timeout=5)
    assert back.status_code == 302, back.text
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(
        back.headers["Location"]).query))
    assert query["state"] == state
    return query


def test_the_provider_client_walks_the_code_flow_with_pkce(issuer):
    provider = Provider(config_of(issuer))
    url = provider.authorization_url("s-1", "n-1", "v" * 43)
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert params["code_challenge_method"] == "S256" and \
        params["nonce"] == "n-1" and "v" * 43 not in url
    code = authorize(provider)["code"]
    token = provider.exchange(code, "v" * 43)
    claims = provider.verify(token, "n-1", dt.datetime.now(UTC))
    assert claims["sub"] == "u-1"
    assert issuer.requests[-1]["code_verifier"] == "v" * 43
    with pytest.raises(domain.CodeInvalid):  # a code serves once
        provider.exchange(code, "v" * 43)
    with pytest.raises(domain.CodeInvalid):  # the wrong verifier
        provider.exchange(authorize(provider)["code"], "w" * 43)


def test_the_provider_client_refetches_keys_after_a_rotation(issuer):
    provider = Provider(config_of(issuer))
    provider.jwks()
    issuer.key = new_key()  # rotated after our JWKS was cached
    token = provider.exchange(authorize(provider)["code"], "v" * 43)
    assert provider.verify(token, "n-1", dt.datetime.now(UTC))["sub"] == \
        "u-1"


def test_a_provider_that_is_down_or_wrong_is_never_a_500(issuer):
    down = Provider(dataclasses.replace(config_of(issuer),
                                        issuer=f"http://127.0.0.1:"
                                               f"{free_port()}"))
    with pytest.raises(domain.OidcUnavailable) as refused:
        down.metadata()
    assert refused.value.status == 503
    issuer.discovery_issuer = "https://elsewhere.example"
    with pytest.raises(domain.OidcMisconfigured):
        Provider(config_of(issuer)).metadata()
    issuer.reset()
    bad_secret = Provider(config_of(issuer, client_secret="wrong"))
    with pytest.raises(domain.CodeInvalid):
        bad_secret.exchange(authorize(bad_secret)["code"], "v" * 43)


def test_the_discovery_document_is_cached(issuer):
    clock = [0.0]
    provider = Provider(config_of(issuer, metadata_ttl=60),
                        clock=lambda: clock[0])
    first = provider.metadata()
    issuer.discovery_issuer = "https://elsewhere.example"
    assert provider.metadata() is first
    clock[0] = 61
    with pytest.raises(domain.OidcMisconfigured):
        provider.metadata()
