"""``sifuwu.access`` as plain functions and through a real HTTP entrypoint:
tokens verified locally against a JWKS (expiry on the injected clock, key
ids, a cached JWKS refreshed only when needed), the policy as data (401, 403,
404 out of scope, filtered lists) and the identity service's route table."""

import datetime as dt
from types import SimpleNamespace

import jwt
import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from sifuwu import access
from sifuwu.errors import Forbidden, NotFound, Unauthorized
from sifuwu.web import http, json_response
from services.identity import signing
from sifuwu.policy import POLICY as IDENTITY_POLICY
from services.identity.service import IdentityService

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
KEY = signing.new_key()
OTHER = signing.new_key()
JWKS = {"keys": [signing.public_jwk(KEY, "k1")]}
KEYS = access.StaticKeys(JWKS)
OPTS = {"issuer": "sifuwu-identity", "audience": "sifuwu", "leeway": 30}


def token(role=access.UNIT_STAFF, key=KEY, kid="k1", ttl=900, at=T0, **extra):
    claims = {"iss": "sifuwu-identity", "aud": "sifuwu", "sub": "a1",
              "name": "li", "role": role, "iat": int(at.timestamp()),
              "exp": int(at.timestamp()) + ttl}
    if role == access.UNIT_STAFF:
        claims["unit_id"] = "u1"
    if role == access.BRANCH_SECRETARY:
        claims.update(unit_id="u1", branch_id="b1")
    claims.update(extra)
    return signing.sign(claims, key, kid)


def later(seconds):
    return T0 + dt.timedelta(seconds=seconds)


# -- tokens -------------------------------------------------------------------------

def test_a_valid_token_is_an_identity():
    identity = access.verify_token(token(), KEYS, T0, **OPTS)
    assert identity == access.Identity(account="a1", role="unit_staff",
                                       unit_id="u1", username="li")


def test_expiry_is_checked_on_the_callers_clock_with_leeway():
    access.verify_token(token(), KEYS, later(929), **OPTS)
    with pytest.raises(Unauthorized) as err:
        access.verify_token(token(), KEYS, later(931), **OPTS)
    assert err.value.code == "token_expired"
    with pytest.raises(Unauthorized):
        access.verify_token(token(at=later(100)), KEYS, T0, **OPTS)


@pytest.mark.parametrize("bad,code", [
    (lambda: token(key=OTHER), "invalid_token"),           # forged signature
    (lambda: token(kid="k9"), "unknown_key"),              # unknown key id
    (lambda: token(iss="elsewhere"), "invalid_token"),
    (lambda: token(aud="other"), "invalid_token"),
    (lambda: token(role="root"), "invalid_token"),
    (lambda: token(unit_id=None), "invalid_token"),        # unit role, no unit
    (lambda: jwt.encode({"sub": "a1", "role": "committee"}, None,
                        algorithm="none", headers={"kid": "k1"}),
     "invalid_token"),
    (lambda: jwt.encode({"sub": "a1", "role": "committee", "exp": 2**40,
                         "iat": 0}, "k" * 32, algorithm="HS256",
                        headers={"kid": "k1"}), "invalid_token"),
    (lambda: "not.a.jwt", "invalid_token"),
])
def test_bad_tokens_are_refused(bad, code):
    with pytest.raises(Unauthorized) as err:
        access.verify_token(bad(), KEYS, T0, **OPTS)
    assert err.value.code == code


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_the_jwks_is_fetched_once_and_refreshed_only_when_needed():
    served = [JWKS]
    fetches = []

    def fetch():
        fetches.append(1)
        return served[-1]

    clock = Clock()
    keys = access.RemoteKeys(fetch, max_age=300, min_refresh=10,
                             monotonic=clock)
    for _ in range(50):
        access.verify_token(token(), keys, T0, **OPTS)
    assert len(fetches) == 1
    # an unknown kid refreshes, but random kids cannot make it call per request
    clock.now = 10
    for n in range(20):
        with pytest.raises(Unauthorized):
            access.verify_token(token(kid=f"x{n}"), keys, T0, **OPTS)
    assert len(fetches) == 2
    # a new key appears: the next unknown kid after min_refresh finds it
    served.append({"keys": JWKS["keys"] + [signing.public_jwk(OTHER, "k2")]})
    clock.now = 15
    with pytest.raises(Unauthorized):
        access.verify_token(token(key=OTHER, kid="k2"), keys, T0, **OPTS)
    clock.now = 20
    assert access.verify_token(token(key=OTHER, kid="k2"), keys, T0,
                               **OPTS).role == "unit_staff"
    assert len(fetches) == 3
    # an old JWKS is refetched: a key no longer published drops out
    served.append({"keys": [signing.public_jwk(OTHER, "k2")]})
    clock.now = 400
    with pytest.raises(Unauthorized) as err:
        access.verify_token(token(), keys, T0, **OPTS)
    assert err.value.code == "unknown_key"


def test_an_unreachable_identity_service_keeps_the_keys_held():
    answers = [JWKS]

    def fetch():
        if not answers:
            raise ConnectionError("down")
        return answers.pop()

    clock = Clock()
    keys = access.RemoteKeys(fetch, max_age=300, min_refresh=10,
                             monotonic=clock)
    access.verify_token(token(), keys, T0, **OPTS)
    clock.now = 500
    assert access.verify_token(token(), keys, T0, **OPTS).account == "a1"
    never = access.RemoteKeys(fetch, monotonic=clock)
    with pytest.raises(access.IdentityUnavailable) as err:
        access.verify_token(token(), never, T0, **OPTS)
    assert err.value.status == 503


def test_jwks_entries_of_another_algorithm_are_left_out():
    keyset = access.KeySet({"keys": [
        {"kid": "h", "kty": "oct", "k": "c2VjcmV0", "alg": "HS256"},
        {"kid": "bad", "kty": "OKP", "crv": "Ed25519", "x": "!!"},
        JWKS["keys"][0]]})
    assert set(keyset.keys) == {"k1"}


# -- policy -------------------------------------------------------------------------

POLICY = access.Policy({
    "demo.board": access.public(),
    "demo.me": access.any_staff(),
    "demo.list_activities": access.any_staff(),
    "demo.accounts": access.allow(access.COMMITTEE, scope=access.CITY),
    "demo.demands": access.allow(access.SUPERVISOR, scope=access.CITY)
    | access.allow(access.UNIT_STAFF),
})


def request(authorization=None):
    headers = {"Authorization": authorization} if authorization else {}
    return Request(EnvironBuilder(headers=headers).get_environ())


def grant(name, authorization=None, now=T0):
    return access.require(request(authorization), name, policy=POLICY,
                          keys=KEYS, now=now, **OPTS)


def bearer(role=access.UNIT_STAFF, **kw):
    return f"Bearer {token(role, **kw)}"


def test_public_routes_need_no_token_but_refuse_a_bad_one():
    assert grant("demo.board") == access.Grant(None, access.CITY)
    assert grant("demo.board", "Basic abc") == access.Grant(None, access.CITY)
    with pytest.raises(Unauthorized):
        grant("demo.board", "Bearer x")


def test_closed_routes_answer_401_then_403():
    for header in (None, "Bearer x", "Basic abc", bearer(ttl=-100)):
        with pytest.raises(Unauthorized):
            grant("demo.accounts", header)
    with pytest.raises(Forbidden) as err:
        grant("demo.accounts", bearer())
    assert err.value.code == "role_forbidden" and err.value.status == 403
    assert grant("demo.accounts", bearer(access.COMMITTEE)).scope == \
        access.CITY


def test_a_route_missing_from_the_table_is_closed():
    with pytest.raises(Forbidden) as err:
        grant("demo.new_route", bearer(access.COMMITTEE))
    assert err.value.code == "no_policy"


def test_each_role_sees_its_home_scope():
    staff = grant("demo.list_activities", bearer())
    assert staff.scope == access.OWN_UNIT
    assert staff.filter() == {"unit_id": "u1"}
    secretary = grant("demo.list_activities",
                      bearer(access.BRANCH_SECRETARY))
    assert secretary.filter() == {"branch_id": "b1"}
    committee = grant("demo.list_activities", bearer(access.COMMITTEE))
    assert committee.filter() == {}
    # a list query narrowed to the scope; another unit's asks for nothing
    assert staff.narrow({"status": "open"}) == {"status": "open",
                                                "unit_id": "u1"}
    assert staff.narrow({"unit_id": "u1"}) == {"unit_id": "u1"}
    assert staff.narrow({"unit_id": "u2"}) is None
    assert committee.narrow({"unit_id": "u2"}) == {"unit_id": "u2"}
    assert grant("demo.demands", bearer(access.SUPERVISOR)).scope == \
        access.CITY


def test_another_units_record_is_not_found():
    staff = grant("demo.list_activities", bearer())
    staff.check(unit_id="u1")
    with pytest.raises(NotFound) as err:
        staff.check(unit_id="u2", what="活动")
    assert err.value.status == 404 and err.value.message == "未找到该活动"
    secretary = grant("demo.list_activities",
                      bearer(access.BRANCH_SECRETARY))
    secretary.check(unit_id="u1", branch_id="b1")
    with pytest.raises(NotFound):
        secretary.check(unit_id="u1", branch_id="b2")
    grant("demo.list_activities", bearer(access.COMMITTEE)).check(unit_id="u9")


def test_rules_refuse_unknown_roles_and_scopes():
    with pytest.raises(ValueError):
        access.allow("root")
    with pytest.raises(ValueError):
        access.allow(access.COMMITTEE, scope="planet")


def test_every_identity_route_has_a_policy():
    assert IDENTITY_POLICY.missing(IdentityService) == []
    assert "identity.login" in IDENTITY_POLICY
    assert IDENTITY_POLICY.rule("identity.login").public
    assert IDENTITY_POLICY.rule("identity.create_account").roles == (
        access.COMMITTEE,)


def test_a_walk_finds_a_route_without_a_policy():
    partial = access.Policy({k: v for k, v in IDENTITY_POLICY.rules.items()
                             if k != "identity.audit"})
    assert partial.missing(IdentityService) == ["identity.audit"]


# -- in an entrypoint -----------------------------------------------------------------

SETTINGS = access.AccessSettings(token_leeway=0)


def guard(name=None, policy=IDENTITY_POLICY, now=T0, context=None):
    return access.Guard(policy, KEYS, SETTINGS, lambda: now,
                        default_name=name, context=context)


class Gate:
    """A service with three routes: public, one role, and one with no rule."""

    name = "gate"
    access = access.Access(access.Policy({
        "gate.board": access.public(),
        "gate.mine": access.allow(access.UNIT_STAFF),
    }), keys=KEYS)

    @http("GET", "/board")
    def board(self, request):
        return json_response({"who": request.grant.identity is not None})

    @http("POST", "/mine")
    def mine(self, request):
        grant = request.grant
        return json_response({"unit": grant.identity.unit_id,
                              "filter": grant.filter()})

    @http("GET", "/unlisted")
    def unlisted(self, request):
        return json_response({"reached": True})


@pytest.fixture
def gate():
    from nameko.containers import ServiceContainer
    from tooling.stack import free_port
    port = free_port()
    container = ServiceContainer(Gate, {"WEB_SERVER_ADDRESS":
                                        f"127.0.0.1:{port}"})
    container.start()
    yield f"http://127.0.0.1:{port}"
    container.stop()


def test_the_http_entrypoint_checks_the_policy_before_the_method(gate):
    import requests
    now = access.utcnow()
    valid = bearer(at=now)
    assert requests.get(gate + "/board").json() == {"who": False}
    assert requests.get(gate + "/board",
                        headers={"Authorization": valid}).json() == {
        "who": True}
    answer = requests.post(gate + "/mine")
    assert answer.status_code == 401 and answer.json()["message"]
    answer = requests.post(gate + "/mine", data=b"{}", headers={
        "Authorization": bearer(access.AUDITOR, at=now),
        "Content-Type": "application/json"})
    assert (answer.status_code, answer.json()["error"]) == (
        403, "role_forbidden")
    # the policy check comes first: a stranger learns nothing of the body
    answer = requests.post(gate + "/mine", data=b"x",
                           headers={"Content-Type": "text/plain"})
    assert answer.status_code == 401
    answer = requests.post(gate + "/mine", headers={"Authorization": valid})
    assert answer.json() == {"unit": "u1", "filter": {"unit_id": "u1"}}
    answer = requests.get(gate + "/unlisted", headers={"Authorization": valid})
    assert (answer.status_code, answer.json()["error"]) == (403, "no_policy")
    # an expired token, by the wall clock
    answer = requests.post(gate + "/mine", headers={
        "Authorization": bearer(at=now - dt.timedelta(hours=1))})
    assert (answer.status_code, answer.json()["error"]) == (
        401, "token_expired")


def test_rpc_callers_put_the_token_in_the_context():
    g = guard("identity.me", context={access.CONTEXT_KEY: bearer()})
    assert g.require_context().identity.unit_id == "u1"
    with pytest.raises(Unauthorized):
        guard("identity.me", context={}).require_context()


def test_the_access_dependency_names_the_running_entrypoint():
    provider = access.Access(POLICY, keys=KEYS)
    provider.container = SimpleNamespace(config={}, service_name="demo")
    provider.setup()
    worker_ctx = SimpleNamespace(
        entrypoint=SimpleNamespace(method_name="accounts"),
        context_data={})
    g = provider.get_dependency(worker_ctx)
    assert g.default_name == "demo.accounts"
    # the guard's clock is the wall clock, whatever the business clock's
    # offset (identity's own LocalAccess signs and checks on its clock)
    assert abs((g.now() - access.utcnow()).total_seconds()) < 5
