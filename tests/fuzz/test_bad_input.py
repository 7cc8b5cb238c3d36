"""Bad input on the running stack (畸形输入): generated malformed, oversized,
wrongly typed, operator-injecting ($where, $gt) and wrongly encoded inputs
to every HTTP endpoint of the four services and to the ingest exchange.

Each HTTP request gets an answer below 500; a 4xx carries a reason (JSON
``error`` code, or a non-empty page for the HTML pages); a refused write
leaves the service's collections' counts unchanged. Each AMQP message lands
in ``sifuwu.ingest.rejected`` with ``x-rejection-reason``. Afterwards every
service still answers /health.
"""

import importlib
import json
import time
import uuid
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kombu import Connection, Exchange

from tests.helpers import StackStaff
from services.activity.examples import example_envelope
from services.activity.ingest.consumer import rejected_queue
from sifuwu import wiring
from tooling.stack import INGEST_DEMO_USER, SERVICE_CLASSES
from sifuwu.wiring import SERVICES

HTTP_EXAMPLES = 1100
AMQP_EXAMPLES = 150
TOKENS = {"staff": None, "ingest": "Bearer demo-token",
          "junk": "Bearer ' OR 1=1 --", "none": None}
# Mostly the staff token, so most inputs get past authentication to the
# validation they are meant to probe.


def token(auth):
    """The Authorization value of ``auth``: ``staff`` is the stack's 工委
    account, signed in at its identity service."""
    return StackStaff()["Authorization"] if auth == "staff" else TOKENS[auth]


AUTH_MIX = ["staff"] * 6 + ["ingest", "ingest", "junk", "none"]
WRITES = ("POST", "PUT", "PATCH", "DELETE")
FUZZ_HEADER = "x-fuzz-id"


def endpoints():
    """(service, method, url rule) of every @http entrypoint."""
    found = []
    for service, cls_name in SERVICE_CLASSES.items():
        cls = getattr(importlib.import_module(f"services.{service}.service"),
                      cls_name)
        for name in dir(cls):
            for entrypoint in getattr(getattr(cls, name, None),
                                      "nameko_entrypoints", ()):
                if hasattr(entrypoint, "url"):
                    found.append((service, entrypoint.method,
                                  entrypoint.url))
    return sorted(set(found))


ENDPOINTS = endpoints()
INJECTIONS = ["$gt", "$where", "$ne", '{"$gt": ""}', '{"$where": "sleep(1)"}',
              "this.a == 1", "..", "%00", "\x00", "null", "-1", "0",
              "99999999999999999999999", "2026-13", "a" * 3000, "🙂" * 50,
              "<script>alert(1)</script>", "' OR '1'='1"]
FIELD_NAMES = ["event_id", "type", "source", "occurred_at", "data", "events",
               "member_id", "unit_id", "rating", "token", "phone", "name",
               "recipient", "status", "reason", "to_unit_id", "version",
               "period", "candidate_id", "campaign_id", "score", "scores",
               "channel", "kind", "page", "per_page", "from", "to", "limit",
               "title", "starts_on", "ends_on", "items", "comment", "bad"]

scalars = st.one_of(st.none(), st.booleans(),
                    st.integers(min_value=-2**70, max_value=2**70),
                    st.floats(allow_nan=False, allow_infinity=False),
                    st.text(max_size=30), st.sampled_from(INJECTIONS))
json_values = st.recursive(
    scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(FIELD_NAMES),
                                  st.text(max_size=10)), inner, max_size=5)),
    max_leaves=20)
operator_objects = st.dictionaries(
    st.sampled_from(FIELD_NAMES),
    st.one_of(scalars, st.fixed_dictionaries(
        {"$gt": scalars}), st.fixed_dictionaries({"$where": st.just(
            "function() { return true; }")}), st.fixed_dictionaries(
        {"$ne": st.none()})), min_size=1, max_size=6).map(
    lambda d: dict(d, **{"$where": "1 == 1"}) if len(d) % 2 else d)
wrong_types = st.dictionaries(st.sampled_from(FIELD_NAMES), st.one_of(
    st.lists(st.integers(), max_size=3), st.integers(), st.booleans(),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2)),
    min_size=1, max_size=8)


def encode(kind, value):
    if kind == "json":
        return json.dumps(value, ensure_ascii=False).encode(), \
            "application/json"
    if kind == "broken_json":
        return b'{"event_id": "x", "data": {' + value.encode()[:50], \
            "application/json"
    if kind == "not_utf8":
        return '{"name": "%s"}'.encode("gb18030") % value.encode(
            "gb18030")[:30] + b"\xff\xfe\xfa", "application/json"
    if kind == "form":
        return ("a=1&$where=" + quote(str(value))).encode(), \
            "application/x-www-form-urlencoded"
    return b"", None


bodies = st.one_of(
    st.tuples(st.just("json"), json_values),
    st.tuples(st.just("json"), operator_objects),
    st.tuples(st.just("json"), wrong_types),
    st.tuples(st.just("broken_json"), st.text(max_size=20)),
    st.tuples(st.just("not_utf8"), st.sampled_from(["党员", "评价", "张三"])),
    st.tuples(st.just("form"), scalars),
    st.tuples(st.just("none"), st.none()),
)
path_values = st.one_of(st.sampled_from(INJECTIONS),
                        st.text(min_size=1, max_size=40))
queries = st.dictionaries(
    st.one_of(st.sampled_from(FIELD_NAMES + ["$where", "member_id[$gt]",
                                             "type", "subject_type",
                                             "overdue", "since", "until",
                                             "event", "to"]),
              st.text(min_size=1, max_size=8)),
    st.one_of(st.sampled_from(INJECTIONS), st.text(max_size=20),
              st.integers().map(str)), max_size=4)


def fill(rule, draw_value):
    """A concrete path for a werkzeug rule, each variable fuzzed."""
    path, rest = "", rule
    while "<" in rest:
        head, _, tail = rest.partition("<")
        spec, _, rest = tail.partition(">")
        path += head
        if spec.startswith("int:"):
            value = draw_value("int")
        elif spec.startswith("any("):
            value = draw_value("any")
        else:
            value = draw_value("text")
        path += quote(value, safe="")
    return path + rest


# Refused by the HTTP server itself, before any service code: the status
# line is the reason (eventlet's wsgi answers 414 with an empty body).
SERVER_LIMITS = (414, 431)


def reasoned(response):
    """Does a 4xx answer say why?"""
    if response.status_code in SERVER_LIMITS:
        return True
    kind = response.headers.get("Content-Type", "")
    if "json" in kind:
        try:
            return bool(response.json().get("error"))
        except ValueError:
            return False
    return bool(response.text.strip())


# Counters kept on purpose for refused attempts too (throttling public
# forms); not a partial write.
BOOKKEEPING = {"rate_limits"}


def counts(mongo, stack, service):
    db = mongo[f"{stack.db_prefix}{service}"]
    return {name: db[name].estimated_document_count()
            for name in db.list_collection_names()
            if name not in BOOKKEEPING}


@pytest.fixture(scope="module")
def fuzz_log():
    return {"http": 0, "statuses": {}, "writes_checked": 0}


@pytest.mark.timeout(600)  # ~1 min alone, 3 min beside other test runs
def test_every_endpoint_refuses_bad_input_with_a_reason(stack, urls, mongo,
                                                        fuzz_log):
    session = requests.Session()
    problems = []

    @settings(max_examples=HTTP_EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(endpoint=st.sampled_from(ENDPOINTS), data=st.data(),
           body=bodies, query=queries,
           auth=st.sampled_from(AUTH_MIX))
    def probe(endpoint, data, body, query, auth):
        service, method, rule = endpoint

        def draw_value(kind):
            if kind == "int":
                return data.draw(st.one_of(st.integers(-5, 10**30).map(str),
                                           path_values))
            if kind == "any":
                return data.draw(st.sampled_from(["png", "svg", "gif"]))
            return data.draw(path_values)

        path = fill(rule, draw_value)
        raw, content_type = encode(*body)
        headers = {}
        if token(auth):
            headers["Authorization"] = token(auth)
        if content_type:
            headers["Content-Type"] = content_type
        before = counts(mongo, stack, service) if method in WRITES else None
        response = session.request(method, urls[service] + path,
                                   params=query, data=raw or None,
                                   headers=headers, timeout=30)
        fuzz_log["http"] += 1
        status = response.status_code
        fuzz_log["statuses"][status] = fuzz_log["statuses"].get(status,
                                                                0) + 1
        found = []
        where = f"{method} {service}{path[:120]} body={raw[:120]!r}"
        if status >= 500:
            found.append(f"{status} {where}: {response.text[:300]}")
        elif status >= 400:
            if not reasoned(response):
                found.append(f"{status} without a reason: {where}")
            if before is not None:
                fuzz_log["writes_checked"] += 1
                after = counts(mongo, stack, service)
                changed = {k: (before.get(k), v) for k, v in after.items()
                           if before.get(k, 0) != v}
                if changed:
                    found.append(f"partial write {changed}: {where}")
        problems.extend(found)
        assert not found, found

    probe()

    # Oversized bodies to every write endpoint: 413 (or another 4xx with a
    # reason where the endpoint takes no body), never a 5xx.
    big = json.dumps({"events": [{"data": "党" * 1000}] * 3000}).encode()
    for service, method, rule in ENDPOINTS:
        if method not in WRITES:
            continue
        path = fill(rule, lambda kind: "png" if kind == "any" else "x1")
        response = session.request(
            method, urls[service] + path, data=big, timeout=60,
            headers={"Authorization": token("staff"),
                     "Content-Type": "application/json"})
        fuzz_log["http"] += 1
        assert response.status_code < 500, (service, path,
                                             response.text[:300])
        if response.status_code >= 400:
            assert reasoned(response), (service, path)
    print(f"\nfuzz: {fuzz_log['http']} HTTP requests to {len(ENDPOINTS)} "
          f"endpoints, statuses {dict(sorted(fuzz_log['statuses'].items()))},"
          f" refused writes checked for partial writes "
          f"{fuzz_log['writes_checked']}")
    assert fuzz_log["http"] >= 1000
    for service in SERVICES:
        assert requests.get(urls[service] + "/health",
                            timeout=10).status_code == 200


def corrupt(kind, value, tag):
    """An invalid ingest message body (bytes) of one kind."""
    envelope = example_envelope(value["type"], tag, source="demo")
    if kind == "wrong_type":
        envelope["data"] = {key: value["junk"] for key in envelope["data"]}
    elif kind == "operator":
        envelope["data"]["$where"] = "function() { return true; }"
        envelope["data"]["member_id"] = {"$gt": ""}
    elif kind == "unknown_field":  # never one the envelope defines
        envelope["x_" + value["field"].lstrip("$")] = value["junk"]
    elif kind == "naive_time":
        envelope["occurred_at"] = "2026-11-20T09:30:00"
    elif kind == "foreign_source":
        envelope["source"] = "hotline12345"
    elif kind == "missing":
        envelope.pop(value["field"] if value["field"] in envelope
                     else "event_id")
    elif kind == "not_utf8":
        return json.dumps(envelope, ensure_ascii=False).encode(
            "gb18030") + b"\xff"
    elif kind == "broken_json":
        return json.dumps(envelope).encode()[:-3]
    elif kind == "not_object":
        return json.dumps([envelope]).encode()
    elif kind == "oversized_field":
        envelope["data"]["summary"] = "党" * 200_000
        envelope["data"]["activity_id"] = {"$ne": None}
    return json.dumps(envelope, ensure_ascii=False).encode()


amqp_messages = st.tuples(
    st.sampled_from(["wrong_type", "operator", "unknown_field", "naive_time",
                     "foreign_source", "missing", "not_utf8", "broken_json",
                     "not_object", "oversized_field"]),
    st.fixed_dictionaries({
        "type": st.sampled_from(["directory.member", "activity.service",
                                 "demand.raised", "kpi.business",
                                 "activity.party"]),
        "junk": st.one_of(st.integers(), st.lists(st.booleans(), max_size=2),
                          st.sampled_from(INJECTIONS)),
        "field": st.sampled_from(["event_id", "type", "source", "data",
                                  "occurred_at", "$where", "extra"])}),
    st.integers(0, 4).map(bool))  # mostly with the user_id property


def test_every_bad_ingest_message_is_rejected_with_a_reason(stack, urls,
                                                            mongo):
    before = counts(mongo, stack, "activity")
    exchange = Exchange(wiring.INGEST_EXCHANGE, type="topic", durable=True)
    run = uuid.uuid4().hex[:8]
    sent = []
    with Connection(stack.ingest_amqp_uri(),
                    transport_options={"confirm_publish": True}) as conn:
        producer = conn.Producer()

        @settings(max_examples=AMQP_EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(message=amqp_messages)
        def publish(message):
            kind, value, with_user = message
            fuzz_id = f"{run}-{len(sent)}"
            body = corrupt(kind, value, fuzz_id)
            # without user_id the sender is unknown: rejected as well
            properties = {"user_id": INGEST_DEMO_USER} if with_user else {}
            producer.publish(body, exchange=exchange,
                             routing_key=value["type"], delivery_mode=2,
                             content_type="application/json",
                             content_encoding="utf-8",
                             headers={FUZZ_HEADER: fuzz_id}, **properties)
            sent.append(fuzz_id)

        publish()

    reasons = {}
    deadline = time.monotonic() + 90
    with Connection(stack.amqp_uri) as conn:
        queue = rejected_queue()(conn.default_channel)
        others = []  # other tests' messages, held unacked, given back after
        while len(reasons) < len(sent) and time.monotonic() < deadline:
            message = queue.get(no_ack=False)
            if message is None:
                time.sleep(0.2)
                continue
            fuzz_id = (message.headers or {}).get(FUZZ_HEADER, "")
            if fuzz_id.startswith(run):
                reasons[fuzz_id] = message.headers.get(
                    wiring.REJECTION_HEADER)
                message.ack()
            else:
                # requeued now, it would come straight back to this get
                others.append(message)
        for message in others:
            message.requeue()
    missing = [i for i in sent if i not in reasons]
    kinds = {}
    for reason in reasons.values():
        key = (reason or "").split(":", 1)[0]
        kinds[key] = kinds.get(key, 0) + 1
    print(f"\nfuzz: {len(sent)} AMQP messages, rejected {len(reasons)} "
          f"{kinds}")
    assert not missing, missing[:10]
    assert all(reasons.values())
    assert counts(mongo, stack, "activity") == before  # nothing half-written
    assert requests.get(urls["activity"] + "/health",
                        timeout=10).status_code == 200


def body_kinds():
    """{(service, method, url rule): "json" | "form"} of every write route."""
    kinds = {}
    for service, cls_name in SERVICE_CLASSES.items():
        cls = getattr(importlib.import_module(f"services.{service}.service"),
                      cls_name)
        for name in dir(cls):
            for entrypoint in getattr(getattr(cls, name, None),
                                      "nameko_entrypoints", ()):
                if hasattr(entrypoint, "url") and entrypoint.method in WRITES:
                    kinds[(service, entrypoint.method, entrypoint.url)] = \
                        getattr(entrypoint, "body", "json")
    return kinds


BODY_KINDS = body_kinds()
INGEST_ROUTES = ("/api/v1/events", "/api/v1/events:batch")
OTHER_MEDIA = [
    (b"rating=5", "text/plain"),
    (b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--\r\n',
     "multipart/form-data; boundary=x"),
    (b"<event><type>kpi.business</type></event>", "application/xml"),
    (b'{"event_id": "x"}', None),
    (b'{"event_id": "x"}', "application/json; charset=gbk"),
]
# Bodies that are JSON by their Content-Type but not acceptable JSON: 400
# with a field error (``MAX_DEPTH`` is 32).
BAD_JSON = {
    "not_utf8": b'{"name": "\xff\xfe\xfa"}',
    "utf8_surrogate": b'{"name": "\xed\xa0\x80"}',
    "lone_surrogate": b'{"name": "\\ud800", "reason": "x"}',
    "lone_surrogate_key": b'{"\\udfff": 1}',
    "deep_1000": b"[" * 1000 + b"]" * 1000,
    "deep_objects": b'{"a": ' * 1000 + b"1" + b"}" * 1000,
    "deep_200000": b"[" * 200_000 + b"]" * 200_000,
    "nan": b'{"rating": NaN, "score": NaN}',
    "infinity": b'{"rating": Infinity}',
    "minus_infinity": b'{"rating": -Infinity}',
}


BAD_FORMS = [b"rating=5&reason=%ED%A0%80", b"rating=\xff\xfe&csrf=%FF",
             b"score_a=NaN&score_b=Infinity", b"a=" + b"%5B" * 100_000,
             b"reason=" + b"x" * 2_000_000]


def has_chinese(text):
    return any("\u4e00" <= char <= "\u9fff" for char in text)


@pytest.mark.timeout(600)
def test_every_write_route_refuses_bad_bodies_with_the_right_status(urls):
    """415 for another media type, 413 over the limit, 400 with a field error
    for JSON the services cannot take; never a 5xx."""
    session = requests.Session()
    problems = []
    for (service, method, rule), kind in sorted(BODY_KINDS.items()):
        path = fill(rule.replace("<period>", "2026-11"),
                    lambda kind: "png" if kind == "any" else "x1")
        auth = token("ingest") if rule in INGEST_ROUTES else token("staff")

        def send(raw, content_type):
            headers = {"Authorization": auth}
            if content_type:
                headers["Content-Type"] = content_type
            return session.request(method, urls[service] + path, data=raw,
                                   headers=headers, timeout=60)

        where = f"{method} {service}{path}"
        media = OTHER_MEDIA if kind == "json" else [
            (b'{"rating": 5}', "application/json")]
        for raw, content_type in media:
            response = send(raw, content_type)
            if response.status_code != 415 or response.json().get(
                    "error") != "unsupported_media_type" or not has_chinese(
                    response.json().get("message", "")):
                problems.append(f"{where} {content_type}: {response.status_code}"
                                f" {response.text[:200]}")
        if kind != "json":
            for raw in BAD_FORMS:
                response = send(raw, "application/x-www-form-urlencoded")
                if response.status_code >= 500:
                    problems.append(f"{where} form {raw[:40]!r}: "
                                    f"{response.status_code}")
            continue
        # A route that takes no body answers a bad one as it answers none.
        bodiless = send(None, None).status_code
        allowed = {401, 403, 404} | ({bodiless} if bodiless < 300 else set())
        big = b'{"events": [' + b'"' + b"x" * 20_000_000 + b'"]}'
        response = send(big, "application/json")
        if response.status_code not in allowed | {413}:
            problems.append(f"{where} oversized: {response.status_code} "
                            f"{response.text[:200]}")
        for name, raw in BAD_JSON.items():
            response = send(raw, "application/json")
            status = response.status_code
            if status >= 500:
                problems.append(f"{where} {name}: {status} "
                                f"{response.text[:200]}")
            elif status == 400:
                if not response.json().get("fields"):
                    problems.append(f"{where} {name}: 400 without fields")
            elif status not in allowed:
                problems.append(f"{where} {name}: {status} "
                                f"{response.text[:200]}")
    assert not problems, "\n".join(problems)
    for service in SERVICES:
        assert requests.get(urls[service] + "/health",
                            timeout=10).status_code == 200
