"""Rules of the directory: the newest version of a record wins, personal
data is sealed at rest and masked (or left out) in ``directory.changed``.
No nameko, no I/O."""

from sifuwu.privacy import mask_name, mask_phone

# 党员的职务: 普通党员, 党支部书记, 支部委员, 单位领导
MEMBER_ROLES = ("member", "branch_secretary", "branch_committee",
                "unit_leader")
KINDS = ("unit", "division", "branch", "member", "recipient")


LABELS = {"unit": "单位", "division": "处室", "branch": "党支部",
          "member": "党员", "recipient": "服务对象"}


def record_label(kind, record_id):
    """How a refusal names a record, e.g. 党员 m-0001."""
    return f"{LABELS[kind]} {record_id}"


def is_stale(existing, as_of):
    """Whether a record stored ``existing`` is newer than one ``as_of``: an
    older event arriving late changes nothing."""
    return existing is not None and bool(existing.get("as_of")) and \
        existing["as_of"] > as_of


def directory_event_data(kind, record_id, record):
    return {"kind": kind, "id": record_id, "record": record}


def member_record(member_id, data, sealer, contact=None):
    """(stored record, public record) of a member; ``data`` without its
    id. ``contact(phone)`` gives the sealed contact the public record
    carries (``sifuwu.privacy.contact``); without it the public record has
    no phone."""
    data = dict(data)
    phone = data.pop("phone", None)
    record = dict(data)
    if phone:
        record["phone_enc"] = sealer.seal(phone)
        record["phone_masked"] = mask_phone(phone)
    public = dict(data, member_id=member_id)
    if phone and contact is not None:
        # notify's contact book needs it for demand escalation (督查) and
        # rectification deadlines: sealed on the bus, opened only there.
        public["phone"] = contact(phone)
    return record, public


def recipient_record(recipient_id, data, sealer):
    """(stored record, public record) of a recipient; ``data`` without its
    id."""
    data = dict(data)
    phone = data.pop("phone", None)
    record = dict(data)
    public = {"recipient_id": recipient_id, "type": data["type"],
              "name": data["name"], "has_phone": bool(phone)}
    if phone:
        record["phone_enc"] = sealer.seal(phone)
        record["phone_masked"] = mask_phone(phone)
    if data["type"] == "citizen":
        # A citizen's name and address are personal data: sealed at rest,
        # masked in the directory event.
        record["name_enc"] = sealer.seal(record.pop("name"))
        record["name_masked"] = public["name"] = mask_name(data["name"])
        if record.get("address"):
            record["address_enc"] = sealer.seal(record.pop("address"))
        else:
            record.pop("address", None)
    return record, public
