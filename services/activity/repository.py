"""Persistence of the activity service: collections and their indexes."""

from pymongo import ASCENDING, DESCENDING, IndexModel

from sifuwu import events as ev
from sifuwu.privacy import Sealer, mask_phone
from services.activity import domain

ACTIVITIES = "activities"

INDEXES = {
    ACTIVITIES: [
        IndexModel([("member_id", ASCENDING), ("occurred_at", DESCENDING)],
                   name="by_member"),
        IndexModel([("unit_id", ASCENDING), ("occurred_at", DESCENDING)],
                   name="by_unit"),
    ],
}


def log_activity(uow, data, secret):
    """Store an activity and stage ``activity.logged`` in the same write."""
    recipient = dict(data["recipient"])
    phone = recipient.pop("phone", None)
    if phone:
        recipient["phone_enc"] = Sealer(secret).seal(phone)
        recipient["phone_masked"] = mask_phone(phone)
    activity = dict(data, _id=ev.new_id(), recipient=recipient,
                    logged_at=ev.utcnow())
    uow.col(ACTIVITIES).insert_one(activity, session=uow.session)
    uow.emit(ev.ACTIVITY_LOGGED, domain.activity_event_data(activity, phone),
             correlation_id=activity["_id"])
    return activity


def get_activity(db, activity_id):
    return db[ACTIVITIES].find_one({"_id": activity_id})
