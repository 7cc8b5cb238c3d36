"""The published contract cannot drift: docs/openapi.json and
docs/asyncapi.yaml are exactly what the marshmallow schemas generate, are
valid JSON/YAML with resolvable references, list exactly the service's HTTP
routes and the wiring's exchange and queue, and their examples validate
against both the documents and the code."""

import json
import re

import pytest
import yaml

from services.activity import contract, schemas
from services.activity.examples import example_envelope
from services.activity.service import ActivityService
from sifuwu.service import ServiceBase
from sifuwu import events as ev
from sifuwu import wiring
from sifuwu.web import HttpEntrypoint


@pytest.fixture(scope="module")
def rendered():
    return contract.render()


@pytest.fixture(scope="module")
def openapi_doc():
    return json.loads(contract.OPENAPI_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def asyncapi_doc():
    return yaml.safe_load(contract.ASYNCAPI_PATH.read_text(encoding="utf-8"))


def test_committed_documents_are_what_the_schemas_generate(rendered):
    openapi_text, asyncapi_text = rendered
    assert contract.OPENAPI_PATH.read_text(encoding="utf-8") == openapi_text, \
        "docs/openapi.json is stale: run python -m services.activity.contract"
    assert contract.ASYNCAPI_PATH.read_text(encoding="utf-8") == asyncapi_text, \
        "docs/asyncapi.yaml is stale: run python -m services.activity.contract"


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
        node = node[part]
    return node


def test_every_reference_resolves(openapi_doc, asyncapi_doc):
    for doc in (openapi_doc, asyncapi_doc):
        for ref in set(refs(doc)):
            assert resolve(doc, ref) is not None, ref


def service_routes():
    """The activity service's own routes and /health (other shared
    operational routes are documented in docs/operations.md)."""
    routes = {("get", "/health")}
    # the service's own classes (its entrypoint mixins), not ServiceBase's
    own = [cls for cls in ActivityService.__mro__
           if cls not in ServiceBase.__mro__]
    methods = [method for cls in own for method in vars(cls).values()]
    for method in methods:
        for entrypoint in getattr(method, "nameko_entrypoints", ()):
            if isinstance(entrypoint, HttpEntrypoint):
                path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", entrypoint.url)
                routes.add((entrypoint.method.lower(), path))
    return routes


def test_openapi_lists_exactly_the_service_routes(openapi_doc):
    assert openapi_doc["openapi"] == "3.0.3"
    documented = {(method, path) for path, operations in
                  openapi_doc["paths"].items() for method in operations}
    assert documented == service_routes()
    ingest = openapi_doc["paths"]["/api/v1/events"]["post"]
    assert set(ingest["responses"]) >= {"202", "200", "400", "401", "403",
                                        "413"}
    mapping = openapi_doc["components"]["schemas"]["Envelope"][
        "discriminator"]["mapping"]
    assert set(mapping) == set(ev.INGEST_TYPES)
    names = {p["name"] for p in openapi_doc["paths"]["/api/v1/demands"][
        "get"]["parameters"]}
    assert {"unit_id", "branch_id", "member_id", "category", "campaign_id",
            "status", "from", "to", "page", "per_page"} <= names


def test_asyncapi_describes_the_exchange_and_rejected_queue(asyncapi_doc):
    assert asyncapi_doc["asyncapi"] == "2.6.0"
    outgoing = wiring.event_exchange("activity").name
    assert set(asyncapi_doc["channels"]) == {
        wiring.INGEST_EXCHANGE, wiring.INGEST_REJECTED_QUEUE, outgoing}
    exchange = asyncapi_doc["channels"][wiring.INGEST_EXCHANGE]
    assert exchange["bindings"]["amqp"]["exchange"]["type"] == "topic"
    assert exchange["bindings"]["amqp"]["exchange"]["durable"] is True

    def names(channel, operation):
        return {resolve(asyncapi_doc, ref["$ref"])["name"] for ref in
                asyncapi_doc["channels"][channel][operation]["message"][
                    "oneOf"]}
    assert names(wiring.INGEST_EXCHANGE, "publish") == set(ev.INGEST_TYPES)
    assert names(outgoing, "subscribe") == set(schemas.OUTGOING_SCHEMAS) == {
        ev.ACTIVITY_LOGGED, ev.PARTY_ACTIVITY_LOGGED, ev.DEMAND_RAISED,
        ev.DEMAND_STATUS_CHANGED, ev.DEMAND_OVERDUE, ev.DIRECTORY_CHANGED,
        ev.KPI_RECORDED}
    documented = asyncapi_doc["components"]["schemas"]
    for schema in schemas.OUTGOING_SCHEMAS.values():
        assert set(documented[schema.__name__]["properties"]) == set(
            schema().fields)
    rejected = asyncapi_doc["channels"][wiring.INGEST_REJECTED_QUEUE]
    assert wiring.REJECTION_HEADER in rejected["subscribe"]["message"][
        "headers"]["properties"]


# A small validator for the JSON Schema subset the documents use, so the
# documented examples are checked against the documents themselves.
def validate(doc, schema, value, path="$"):
    if "$ref" in schema:
        return validate(doc, resolve(doc, schema["$ref"]), value, path)
    if "oneOf" in schema:
        passing = [s for s in schema["oneOf"] if not validate(doc, s, value, path)]
        return [] if len(passing) == 1 else [f"{path}: oneOf"]
    errors = []
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    if value is None:
        if "null" in kinds or schema.get("nullable"):
            return []
        return [f"{path}: null"] if kinds else []
    checks = {"object": dict, "array": list, "string": str, "boolean": bool,
              "integer": int, "number": (int, float)}
    if kinds and not any(isinstance(value, checks[k]) for k in kinds
                         if k in checks):
        return [f"{path}: not {kinds}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: not in enum")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0) or \
                len(value) > schema.get("maxLength", 10 ** 9):
            errors.append(f"{path}: length")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        errors += [f"{path}.{k}: required" for k in schema.get("required", [])
                   if k not in value]
        for key, item in value.items():
            if key in props:
                errors += validate(doc, props[key], item, f"{path}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{path}.{key}: not allowed")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            errors += validate(doc, schema["items"], item, f"{path}[{index}]")
    return errors


def test_examples_validate_against_documents_and_code(openapi_doc,
                                                      asyncapi_doc):
    envelope_schema = {"$ref": "#/components/schemas/Envelope"}
    examples = openapi_doc["paths"]["/api/v1/events"]["post"]["requestBody"][
        "content"]["application/json"]["examples"]
    assert set(examples) == set(ev.INGEST_TYPES)
    for event_type, example in examples.items():
        assert validate(openapi_doc, envelope_schema, example["value"]) == []
        assert schemas.load_ingest(example["value"])["type"] == event_type
    for message in asyncapi_doc["components"]["messages"].values():
        for example in message.get("examples", []):
            assert validate(asyncapi_doc, message["payload"],
                            example["payload"]) == []
    # and the validator does catch a wrong envelope
    broken = example_envelope("kpi.business")
    broken["data"]["subject_type"] = "branch"
    broken["extra"] = 1
    assert len(validate(openapi_doc, envelope_schema, broken)) > 0


def test_data_schemas_match_the_code_field_by_field(openapi_doc):
    components = openapi_doc["components"]["schemas"]
    for event_type, schema_cls in schemas.DATA_SCHEMAS.items():
        documented = components[contract.schema_name(event_type)]
        declared = schema_cls().fields
        assert set(documented["properties"]) == {
            f.data_key or name for name, f in declared.items()}
        assert set(documented.get("required", [])) == {
            f.data_key or name for name, f in declared.items() if f.required}
        assert documented["additionalProperties"] is False
