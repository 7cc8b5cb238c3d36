"""Every route and every event type has a contract, and the committed
documents are what the code generates.

* Every HTTP route declares its response, and a write route its request
  schema (or ``request=False``); ``docs/openapi/<service>.json`` is exactly
  what the service serves at ``/openapi.json``, lists exactly its routes
  and carries the policy table's security.
* ``docs/asyncapi/sifuwu.yaml`` (AsyncAPI 3.0) names every exchange,
  subscription queue and event type of ``sifuwu.wiring``, each with an
  envelope whose ``data`` has a schema (except ``UNTYPED``), and holds
  together: references resolve, operations send or receive messages of
  their own channel, schemas are valid JSON Schema.
"""

import json
import re

import jsonschema
import pytest
import yaml
from marshmallow import Schema, fields
from nameko.testing.services import worker_factory
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from sifuwu import contract, wiring
from sifuwu.policy import POLICY
from sifuwu.web import BODY_METHODS, http
from tooling import contract as docs

SERVICES = wiring.SERVICES


@pytest.fixture(scope="module")
def documents():
    return docs.openapi_documents()


@pytest.fixture(scope="module")
def asyncapi_doc():
    return yaml.safe_load(docs.ASYNCAPI_PATH.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", SERVICES)
def test_every_route_declares_its_contract(name):
    assert contract.missing_declarations(docs.service_class(name)) == []


def test_the_completeness_check_catches_a_route_without_a_contract():
    class Bare:
        name = "bare"

        @http("POST", "/api/v1/things")
        def make_thing(self, request):
            return None

        @http("GET", "/api/v1/things", response=Schema)
        def list_things(self, request):
            return None

        @http("POST", "/api/v1/things/<thing_id>/close", request=False,
              response=Schema)
        def close_thing(self, request, thing_id):
            return None

    assert contract.missing_declarations(Bare) == [
        ("bare.make_thing", "response"), ("bare.make_thing", "request")]


@pytest.mark.parametrize("name", SERVICES)
def test_committed_openapi_is_what_the_service_serves(name, documents):
    path = docs.OPENAPI_DIR / f"{name}.json"
    assert path.read_text(encoding="utf-8") == documents[name], \
        f"{path.name} is stale: run python -m tooling.contract"


def test_committed_asyncapi_is_current():
    assert docs.ASYNCAPI_PATH.read_text(encoding="utf-8") == \
        docs.render_asyncapi(), \
        "docs/asyncapi/sifuwu.yaml is stale: run python -m tooling.contract"


def refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def resolve(doc, ref):
    assert ref.startswith("#/"), ref
    node = doc
    for part in ref[2:].split("/"):
        assert part in node, ref
        node = node[part]
    return node


@pytest.mark.parametrize("name", SERVICES)
def test_openapi_lists_exactly_the_routes_with_policy_and_errors(name,
                                                                 documents):
    doc = json.loads(documents[name])
    assert doc["openapi"].startswith("3.0")
    for ref in set(refs(doc)):
        resolve(doc, ref)
    expected = {}
    for method_name, entrypoint in contract.http_routes(
            docs.service_class(name)):
        path = re.sub(r"<(?:[^:>]+:)?(\w+)>", r"{\1}", entrypoint.url)
        expected[(entrypoint.method.lower(), path)] = (method_name,
                                                       entrypoint)
    documented = {(method, path) for path, ops in doc["paths"].items()
                  for method in ops}
    assert documented == set(expected)
    assert {("get", "/openapi.json"), ("get", "/docs")} <= documented
    for (method, path), (method_name, entrypoint) in expected.items():
        op = doc["paths"][path][method]
        rule = POLICY.rule(f"{name}.{method_name}")
        assert rule is not None, method_name
        names = {p["name"] for p in op.get("parameters", ())
                 if p["in"] == "path"}
        assert names == set(re.findall(r"{(\w+)}", path)), path
        if rule.system:
            assert op["security"] == [{"ingestKey": []}]
        elif rule.public:
            assert {} in op["security"] or op["security"] == []
        else:
            assert op["security"] == [{"bearerJWT": []}]
            assert {"401", "403"} <= set(op["responses"]), path
        declared = contract.declared_responses(entrypoint.contract)
        for status, answer in op["responses"].items():
            if int(status) >= 400 and int(status) not in declared:
                assert answer["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"}
        if method.upper() in BODY_METHODS:
            assert "415" in op["responses"]
            if entrypoint.contract.request is not False:
                assert "requestBody" in op and "400" in op["responses"]
        assert any(int(s) < 400 for s in op["responses"]), path


def test_openapi_schemas_carry_the_declared_fields(documents):
    doc = json.loads(documents["identity"])
    login = doc["paths"]["/api/v1/login"]["post"]
    assert login["security"] == []
    ref = login["requestBody"]["content"]["application/json"]["schema"]
    body = resolve(doc, ref["$ref"])
    assert set(body["required"]) == {"username", "password"}
    assert body["additionalProperties"] is False
    accounts = doc["paths"]["/api/v1/accounts"]["get"]
    assert "工委（全市）" in accounts["description"]
    error = doc["components"]["schemas"]["Error"]
    assert set(error["properties"]) == {"error", "message", "fields"}
    charts = json.loads(documents["assessment"])["paths"]
    chart = charts["/api/v1/charts/rankings/{period}.{fmt}"]["get"]
    assert {p["name"]: p["schema"] for p in chart["parameters"]}["fmt"] == {
        "type": "string", "enum": ["png", "svg"]}
    assert "image/png" in chart["responses"]["200"]["content"]
    pages = json.loads(documents["feedback"])["paths"]
    assert "text/html" in pages["/f/{token}"]["get"]["responses"]["200"][
        "content"]


# -- served ----------------------------------------------------------------------

def _request(path):
    return Request(EnvironBuilder(path=path, method="GET").get_environ())


@pytest.mark.parametrize("name", ["identity", "feedback"])
def test_each_service_serves_its_contract_and_a_docs_page(name, documents):
    worker = worker_factory(docs.service_class(name))
    served = worker.openapi_json(_request("/openapi.json"))
    assert served.status_code == 200
    assert served.mimetype == "application/json"
    assert served.get_data(as_text=True) == documents[name]
    page = worker.api_docs(_request("/docs"))
    assert page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert 'lang="zh-CN"' in text and "接口文档" in text
    assert "//" not in re.sub(r"<!DOCTYPE[^>]*>", "", text).replace(
        'href="openapi.json"', ""), "no address outside the service"
    for asset in re.findall(r'(?:src|href)="docs/assets/([^"]+)"', text):
        answer = worker.api_docs_asset(_request(f"/docs/assets/{asset}"),
                                       asset)
        assert answer.status_code == 200, asset
        assert len(answer.get_data()) > 0
    script = worker.api_docs_asset(_request("/docs/assets/init.js"),
                                   "init.js").get_data(as_text=True)
    assert 'url: "openapi.json"' in script and "validatorUrl: null" in script
    missing = worker.api_docs_asset(_request("/docs/assets/x"), "../x")
    assert missing.status_code == 404


def test_the_docs_routes_are_public():
    for route in ("openapi_json", "api_docs", "api_docs_asset"):
        for name in SERVICES:
            assert POLICY.rule(f"{name}.{route}").public


# -- AsyncAPI --------------------------------------------------------------------

def wiring_types():
    return {event_type for _, event_type, _, _ in wiring.SUBSCRIPTIONS}


def test_asyncapi_is_3_0_and_holds_together(asyncapi_doc):
    doc = asyncapi_doc
    assert doc["asyncapi"] == "3.0.0"
    assert {"title", "version"} <= set(doc["info"])
    for ref in set(refs(doc)):
        resolve(doc, ref)
    for channel_id, channel in doc["channels"].items():
        assert channel["address"], channel_id
        assert channel["messages"], channel_id
    for operation_id, operation in doc["operations"].items():
        assert operation["action"] in ("send", "receive"), operation_id
        channel_ref = operation["channel"]["$ref"]
        for message in operation["messages"]:
            # AsyncAPI 3.0: an operation's messages are its channel's
            assert message["$ref"].startswith(channel_ref + "/messages/"), \
                operation_id
    for name, schema in doc["components"]["schemas"].items():
        jsonschema.Draft7Validator.check_schema(schema)
    for message in doc["components"]["messages"].values():
        assert message["payload"]["$ref"].startswith("#/components/schemas/")


def test_asyncapi_names_every_exchange_queue_and_event_type(asyncapi_doc):
    doc = asyncapi_doc
    addresses = {c["address"] for c in doc["channels"].values()}
    publishers = {pub for pub, _, _, _ in wiring.SUBSCRIPTIONS}
    assert {wiring.event_exchange(p).name for p in publishers} <= addresses
    assert {wiring.subscription_queue_name(*s)
            for s in wiring.SUBSCRIPTIONS} <= addresses
    assert {wiring.DEAD_LETTER_EXCHANGE, wiring.DEAD_LETTER_QUEUE} <= addresses
    messages = {m["name"]: m for m in doc["components"]["messages"].values()}
    untyped = set()
    for event_type in wiring_types() | set(docs.UNCONSUMED):
        assert event_type in messages, f"{event_type} has no message"
        envelope = resolve(doc, messages[event_type]["payload"]["$ref"])
        assert envelope["properties"]["type"] == {"type": "string",
                                                  "const": event_type}
        data = envelope["properties"]["data"]
        if "$ref" in data:
            assert resolve(doc, data["$ref"])["properties"], event_type
        else:
            untyped.add(event_type)
    assert untyped == set(docs.UNTYPED), \
        "an event type in the wiring has no schema: add it to EVENT_SCHEMAS"
    receivers = {op["title"] for op in doc["operations"].values()
                 if op["action"] == "receive"}
    assert len(receivers) >= len(wiring.SUBSCRIPTIONS)


def test_event_data_schemas_match_the_code_field_by_field(asyncapi_doc):
    components = asyncapi_doc["components"]["schemas"]
    messages = {m["name"]: m for m in
                asyncapi_doc["components"]["messages"].values()}
    for event_type, schema_cls in docs.EVENT_SCHEMAS.items():
        envelope = resolve(asyncapi_doc, messages[event_type]["payload"]["$ref"])
        documented = resolve(asyncapi_doc,
                             envelope["properties"]["data"]["$ref"])
        assert documented in components.values()
        assert set(documented["properties"]) == {
            f.data_key or name for name, f in schema_cls().fields.items()
            if not f.load_only}, event_type


def test_shapes_are_named_once():
    first = contract.shape("TestShapeOnce", a=fields.String())
    assert contract.shape("TestShapeOnce", a=fields.String()) is first
    with pytest.raises(ValueError):
        contract.shape("TestShapeOnce", b=fields.String())
