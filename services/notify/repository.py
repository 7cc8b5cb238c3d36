"""Persistence of the notify service: messages and the delivery log."""

from pymongo import ASCENDING, DESCENDING, IndexModel

from sifuwu.errors import Conflict
from sifuwu.privacy import Sealer, contact_hash, mask_phone, mask_text
from services.notify import domain

MESSAGES = "messages"

INDEXES = {
    MESSAGES: [
        IndexModel([("to_hash", ASCENDING), ("created_at", DESCENDING)],
                   name="by_recipient"),
        IndexModel([("status", ASCENDING), ("created_at", ASCENDING)],
                   name="by_status"),
        IndexModel([("channel", ASCENDING), ("created_at", DESCENDING)],
                   name="by_channel"),
    ],
}


def create_sms(uow, envelope, phone, body, template, *, secret, now):
    to_hash = contact_hash(secret, phone)
    message = {
        "_id": domain.message_key(envelope["event_id"], "sms", to_hash),
        "event_id": envelope["event_id"],
        "event_type": envelope["type"],
        "correlation_id": envelope.get("correlation_id"),
        "channel": "sms",
        "template": template,
        "to_hash": to_hash,
        "to_masked": mask_phone(phone),
        "to_enc": Sealer(secret).seal(phone),
        "body": body,
        "body_masked": mask_text(body),
        "status": domain.CREATED,
        "attempts": 0,
        "provider": None,
        "created_at": now,
        "updated_at": now,
    }
    uow.col(MESSAGES).insert_one(message, session=uow.session)
    return message


def move(db, message_id, new_status, now, **fields):
    """Guarded transition; returns the updated message."""
    allowed_from = [s for s, targets in domain.ALLOWED.items()
                    if new_status in targets]
    updated = db[MESSAGES].find_one_and_update(
        {"_id": message_id, "status": {"$in": allowed_from}},
        {"$set": dict(fields, status=new_status, updated_at=now)},
        return_document=True)
    if updated is None:
        raise Conflict(f"消息状态不允许转为 {new_status}")
    return updated


def query(db, filters, secret):
    criteria = {}
    if filters.get("to"):
        criteria["to_hash"] = contact_hash(secret, filters["to"])
    for key in ("channel", "status"):
        if filters.get(key):
            criteria[key] = filters[key]
    return list(db[MESSAGES].find(criteria).sort("created_at", DESCENDING)
                .limit(filters["limit"]))
