"""The contact key (SIFUWU_CONTACT_KEYS): key ids beside every sealed value,
rotation that still opens old contacts, re-sealing with the newest key, and
the sealed contact events carry instead of a phone or an email."""

import json
import types

import pytest
from cryptography.fernet import Fernet
from marshmallow import Schema, ValidationError

from sifuwu import privacy, reseal
from sifuwu.privacy import ContactKeys, contact, open_contact

A, B = Fernet.generate_key().decode(), Fernet.generate_key().decode()
PHONE = "13912345678"


def test_each_sealed_value_names_the_key_that_sealed_it():
    keys = ContactKeys([A])
    sealed = keys.seal(PHONE)
    kid, _ = privacy.split_sealed(sealed)
    assert kid == privacy.key_id(A) == keys.newest_id and len(kid) == 8
    assert PHONE not in sealed
    assert keys.open(sealed) == PHONE


def test_a_rotated_key_still_opens_old_contacts_and_seals_new_ones_with_the_newest():
    old = ContactKeys([A]).seal(PHONE)
    rotated = ContactKeys.configured(f"{B},{A}", "s")
    assert rotated.ids == [privacy.key_id(B), privacy.key_id(A)]
    assert rotated.open(old) == PHONE
    new = rotated.seal(PHONE)
    assert privacy.split_sealed(new)[0] == privacy.key_id(B)
    assert not rotated.is_current(old) and rotated.is_current(new)
    # re-sealed, it opens with B alone: A can then be dropped
    moved = rotated.reseal(old)
    assert ContactKeys([B]).open(moved) == PHONE
    assert rotated.reseal(moved) == moved
    with pytest.raises(Exception):
        ContactKeys([B]).open(old)


def test_values_sealed_before_key_ids_existed_still_open():
    # what privacy.Sealer(secret) wrote before: a bare Fernet token under
    # the key derived from SIFUWU_SECRET
    bare = Fernet(privacy.derived_contact_key("s").encode()).encrypt(
        PHONE.encode()).decode()
    assert ContactKeys.configured("", "s").open(bare) == PHONE
    assert ContactKeys.configured(f"{B},{privacy.derived_contact_key('s')}",
                                  "s").open(bare) == PHONE


def test_development_derives_the_contact_key_from_the_secret():
    keys = ContactKeys.configured("", "s")
    assert keys.ids == [privacy.key_id(privacy.derived_contact_key("s"))]
    assert privacy.Sealer("s").open(keys.seal(PHONE)) == PHONE


def test_a_bad_key_is_named_by_its_position():
    with pytest.raises(ValueError) as err:
        privacy.parse_contact_keys(f"{A},nope")
    assert "第 2 个" in str(err.value)


class FakeCollection:
    def __init__(self, docs):
        self.docs = {d["_id"]: d for d in docs}

    def find(self, _query):
        return [json.loads(json.dumps(d)) for d in self.docs.values()]

    def update_one(self, query, update):
        doc = self.docs.get(query["_id"])
        if doc is None or any(doc.get(k) != v for k, v in query.items()):
            return types.SimpleNamespace(modified_count=0)
        doc.update(update["$set"])
        return types.SimpleNamespace(modified_count=1)


class FakeDatabase(dict):
    def list_collection_names(self):
        return list(self)


def test_reseal_moves_every_sealed_field_to_the_newest_key():
    old = ContactKeys([A])
    db = FakeDatabase(
        contacts=FakeCollection([{"_id": "member:m1", "name_enc": old.seal("李明"),
                                  "addresses": {"sms": {"enc": old.seal(PHONE),
                                                        "hash": "h"}}}]),
        messages=FakeCollection([{"_id": "x", "to_enc": None, "body": "hi"}]),
        outbox=FakeCollection([{"_id": "e1", "data": {"recipient": {
            "phone": contact(PHONE, keys=old, secret="s")}}}]))
    rotated = ContactKeys([B, A])
    assert privacy.reseal_database(db, rotated) == {"contacts": 1, "outbox": 1}
    only_b = ContactKeys([B])
    entry = db["contacts"].docs["member:m1"]
    assert only_b.open(entry["name_enc"]) == "李明"
    assert only_b.open(entry["addresses"]["sms"]["enc"]) == PHONE
    assert entry["addresses"]["sms"]["hash"] == "h"
    sealed = db["outbox"].docs["e1"]["data"]["recipient"]["phone"]
    assert open_contact(sealed, only_b) == PHONE
    # a second run has nothing left to do
    assert privacy.reseal_database(db, rotated) == {}


def test_a_sealed_contact_holds_no_clear_value():
    keys = ContactKeys([A])
    sealed = contact("+86 139-1234-5678", keys=keys, secret="s")
    assert set(sealed) == {"ref", "sealed", "masked"}
    assert "5678" not in sealed["sealed"] and "1234" not in json.dumps(sealed)
    assert sealed["masked"] == "+86 139****5678"
    assert sealed["ref"] == privacy.contact_hash("s", "+86 139-1234-5678")
    assert open_contact(sealed, keys) == "+86 139-1234-5678"
    assert contact(sealed, keys=keys, secret="s") is sealed
    partial = {"ref": "", "sealed": sealed["sealed"], "masked": ""}
    rebuilt = contact(partial, keys=keys, secret="s")
    assert rebuilt["ref"] == sealed["ref"] and rebuilt["masked"] == sealed["masked"]
    assert contact(None, keys=keys, secret="s") is None
    email = contact("li.ming@example.cn", keys=keys, secret="s")
    assert email["masked"] == "l***@example.cn"


def test_consumers_accept_the_old_clear_shape_for_one_release():
    class Person(Schema):
        phone = privacy.ContactField(load_default=None, allow_none=True)

    keys = ContactKeys([A])
    assert Person().load({"phone": PHONE})["phone"] == PHONE
    sealed = contact(PHONE, keys=keys, secret="s")
    loaded = Person().load({"phone": sealed})["phone"]
    assert open_contact(loaded, keys) == PHONE
    with pytest.raises(ValidationError):
        Person().load({"phone": {"ref": "r"}})


def test_a_dead_letter_keeps_no_contact_in_clear_but_can_be_restored():
    keys = ContactKeys([A])
    body = json.dumps({"data": {"phone": "+86 139 1234 5678",
                                "email": "li.ming@example.cn"}}).encode()
    masked, sealed = privacy.seal_body(body, keys)
    assert b"1234 5678" not in masked and b"li.ming@" not in masked
    assert keys.open(sealed).encode() == body
    assert privacy.seal_body(b'{"a": 1}', keys) == (b'{"a": 1}', None)


def test_log_masking_covers_emails_too():
    assert privacy.mask_text("to li.ming@example.cn, 13912345678") == \
        "to l***@example.cn, 139****5678"


def test_the_cli_makes_a_key_and_names_the_configured_ones(capsys):
    assert reseal.main(["new-key"], env={}) == 0
    Fernet(capsys.readouterr().out.strip())
    assert reseal.main(["key-ids"], env={"SIFUWU_CONTACT_KEYS": f"{B},{A}"}) == 0
    assert privacy.key_id(B) in capsys.readouterr().out
    assert reseal.main(["legacy-key"], env={"SIFUWU_SECRET": "s"}) == 0
    assert capsys.readouterr().out.strip() == privacy.derived_contact_key("s")


def test_a_large_dead_letter_travels_sealed_as_its_body():
    """A header must fit in one AMQP frame: the sealed original of a large
    message is the body then, with a masked excerpt to read."""
    keys = ContactKeys([A])
    small = b'{"phone": "13912345678"}'
    body, headers = privacy.dead_letter(small, keys)
    assert b"13912345678" not in body and keys.open(
        headers[privacy.SEALED_BODY_HEADER]).encode() == small
    large = json.dumps({"phone": "13912345678",
                        "junk": "党" * 100_000}).encode()
    body, headers = privacy.dead_letter(large, keys)
    assert headers[privacy.WHOLE_BODY_SEALED_HEADER] == "1"
    assert keys.open(body.decode()).encode() == large
    excerpt = headers[privacy.MASKED_EXCERPT_HEADER]
    assert "139****5678" in excerpt and len(excerpt) <= 2000
    assert sum(len(str(v)) for v in headers.values()) < 16 * 1024
    assert privacy.dead_letter(b'{"a": 1}', keys) == (b'{"a": 1}', {})
