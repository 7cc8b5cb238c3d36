"""Contact key rotation on the real store: values sealed with key A still
open after rotating to [B, A]; ``python -m sifuwu.reseal reseal`` moves them
to B, after which A can be dropped."""

import uuid

from cryptography.fernet import Fernet

from sifuwu import reseal
from sifuwu.privacy import ContactKeys, contact, open_contact

A, B = Fernet.generate_key().decode(), Fernet.generate_key().decode()
PHONE = "13912345670"


def test_reseal_moves_old_contacts_to_the_newest_key(infra, mongo, capsys):
    prefix = f"rot{uuid.uuid4().hex[:6]}_"
    db = mongo[prefix + "notify"]
    old = ContactKeys([A])
    db.contacts.insert_one({
        "_id": "member:m1", "name_enc": old.seal("李明"),
        "addresses": {"sms": {"enc": old.seal(PHONE), "hash": "h"}}})
    db.outbox.insert_one({"_id": "o1", "events": [{"data": {"recipient": {
        "phone": contact(PHONE, keys=old, secret="s")}}}]})
    env = {"MONGO_URI": infra.mongo_uri, "SIFUWU_DB_PREFIX": prefix,
           "SIFUWU_SECRET": "s", "SIFUWU_CONTACT_KEYS": f"{B},{A}"}
    rotated = ContactKeys([B, A])
    entry = db.contacts.find_one({"_id": "member:m1"})
    assert rotated.open(entry["addresses"]["sms"]["enc"]) == PHONE
    # new ones are sealed with B
    assert rotated.seal(PHONE).startswith(rotated.newest_id + ":")

    assert reseal.main(["reseal"], env=env) == 0
    assert "'contacts': 1" in capsys.readouterr().out
    only_b = ContactKeys([B])
    entry = db.contacts.find_one({"_id": "member:m1"})
    assert only_b.open(entry["name_enc"]) == "李明"
    assert only_b.open(entry["addresses"]["sms"]["enc"]) == PHONE
    assert entry["addresses"]["sms"]["hash"] == "h"
    [event] = db.outbox.find_one({"_id": "o1"})["events"]
    assert open_contact(event["data"]["recipient"]["phone"], only_b) == PHONE
    # nothing left for a second run
    reseal.main(["reseal"], env=env)
    assert "无需重新加密" in capsys.readouterr().out
    mongo.drop_database(prefix + "notify")
