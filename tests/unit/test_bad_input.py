"""Bad input at the HTTP and AMQP edges, as plain functions (畸形输入): a
body that is not JSON, too large, not UTF-8, with lone surrogates, nested
deeper than ``MAX_DEPTH``, or with NaN/Infinity is refused with a status
and a field error, never an unhandled exception."""

import io
import json
from types import SimpleNamespace

import pytest
from marshmallow import Schema, ValidationError, fields
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from services.activity.ingest.domain import Rejected, decode
from sifuwu.errors import DomainError, PayloadTooLarge
from sifuwu.web import MAX_DEPTH, check_media_type, load_body, parse_json, \
    read_json


def request(data=b"", content_type="application/json", method="POST"):
    builder = EnvironBuilder(method=method, data=data,
                             content_type=content_type)
    return Request(builder.get_environ())


class NameSchema(Schema):
    name = fields.String()


DEEP = b"[" * 200_000 + b"]" * 200_000


@pytest.mark.parametrize("raw,field", [
    (b'{"name": "\\ud800"}', "body.name"),          # lone high surrogate
    (b'{"name": "a\\udfffb"}', "body.name"),        # lone low surrogate
    (b'{"\\ud800": 1}', "body"),                    # in a key
    (b'{"a": [1, {"b": "\\udc00"}]}', "body.a[1].b"),
    (b'{"name": NaN}', "body"),
    (b'{"name": Infinity}', "body"),
    (b'{"name": -Infinity}', "body"),
    (b'{"name": "\xff\xfe"}', "body"),              # not UTF-8
    (b'{"name": "\xed\xa0\x80"}', "body"),          # surrogate as UTF-8
    (b"[" * 1000 + b"]" * 1000, "body"),
    (DEEP, "body"),
    (b'{"a": ' * 5000 + b"1" + b"}" * 5000, "body"),
    (b"{not json", "body"),
])
def test_parse_json_refuses_with_a_field_error(raw, field):
    with pytest.raises(ValidationError) as err:
        parse_json(raw)
    assert field in err.value.messages, err.value.messages
    assert all(isinstance(m, str) for m in err.value.messages[field])


def test_nesting_up_to_the_documented_depth_passes():
    nested = json.dumps(json.loads("[" * MAX_DEPTH + "]" * MAX_DEPTH))
    assert parse_json(nested.encode()) is not None
    too_deep = "[" * (MAX_DEPTH + 2) + "]" * (MAX_DEPTH + 2)
    with pytest.raises(ValidationError) as err:
        parse_json(too_deep.encode())
    assert "嵌套" in err.value.messages["body"][0]


def test_brackets_inside_strings_do_not_count_as_nesting():
    text = json.dumps({"name": "[" * 10_000 + '\\"{' * 100})
    assert parse_json(text.encode())["name"].startswith("[[[")


def test_valid_json_with_unicode_passes():
    raw = json.dumps({"name": "党员🙂", "n": 1.5}, ensure_ascii=False)
    assert parse_json(raw.encode()) == {"name": "党员🙂", "n": 1.5}
    assert parse_json('{"name": "\\ud83d\\ude42"}') == {"name": "🙂"}


@pytest.mark.parametrize("content_type", [
    "text/plain", "multipart/form-data; boundary=x", "application/xml",
    "application/x-www-form-urlencoded", None,
    "application/json; charset=gbk"])
def test_a_json_route_refuses_other_media_types_with_415(content_type):
    with pytest.raises(DomainError) as err:
        read_json(request(b'{"name": "x"}', content_type), 1024)
    assert err.value.status == 415
    assert err.value.code == "unsupported_media_type"
    assert "application/json" in err.value.message
    with pytest.raises(DomainError) as err:
        check_media_type(request(b'{"name": "x"}', content_type), "json")
    assert err.value.status == 415


@pytest.mark.parametrize("content_type", [
    "application/json", "application/json; charset=utf-8",
    "application/JSON", "application/merge-patch+json"])
def test_json_media_types_pass(content_type):
    assert load_body(request(b'{"name": "x"}', content_type),
                     NameSchema()) == {"name": "x"}
    check_media_type(request(b'{"name": "x"}', content_type), "json")


def test_a_body_less_request_passes_the_media_check():
    check_media_type(request(b"", None), "json")
    check_media_type(request(b"", None), "form")


def test_a_form_route_refuses_json_and_takes_forms():
    with pytest.raises(DomainError) as err:
        check_media_type(request(b"{}", "application/json"), "form")
    assert err.value.status == 415
    check_media_type(request(b"a=1", "application/x-www-form-urlencoded"),
                     "form")
    check_media_type(request(b"--x--", "multipart/form-data; boundary=x"),
                     "form")


def test_over_the_size_limit_is_413_even_without_content_length():
    with pytest.raises(PayloadTooLarge):
        read_json(request(b'{"name": "' + b"x" * 2000 + b'"}'), 1024)
    builder = EnvironBuilder(method="POST", content_type="application/json",
                             input_stream=io.BytesIO(b"[" + b"1," * 5000
                                                     + b"1]"))
    environ = builder.get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    environ["wsgi.input_terminated"] = True
    with pytest.raises(PayloadTooLarge):
        read_json(Request(environ), 1024)


def message(body, user_id="demo"):
    return SimpleNamespace(body=body, properties={"user_id": user_id})


@pytest.mark.parametrize("body", [
    DEEP, DEEP.decode(), b'{"a": "\\ud800"}', b'{"a": NaN}',
    b'{"a": ' * 5000 + b"1" + b"}" * 5000])
def test_amqp_decode_rejects_what_the_decoder_cannot_take(body):
    with pytest.raises(Rejected) as err:
        decode(message(body), {"demo": "demo"})
    assert err.value.reason.startswith("invalid: ")
