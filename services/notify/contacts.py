"""The contact book's rules (通讯录), pure: how a directory or staff record
becomes an entry, which of its fields replace the stored ones, when a
directory record is too old to apply, and who behind an entry is addressed.

Contact data (phones, emails, WeChat openids, names) is kept only sealed
(``*_enc``), with a keyed hash to find it and a masked form to show. A
directory record carries its phone as a sealed contact
(``sifuwu.privacy.contact``): kept as it came, never opened here.
"""

from sifuwu.errors import NotFound
from sifuwu.privacy import Sealer, contact_hash, is_sealed, mask_name
from services.notify.domain import mask_address

KINDS = ("member", "unit", "recipient", "branch", "division")

CONTACT_FIELDS = {"sms": ("phone", "mobile"),
                  "email": ("email",),
                  "wechat": ("wechat_openid", "openid")}


def contact_id(kind, ref_id):
    return f"{kind}:{ref_id}"


def check_kind(kind):
    """Staff keep entries of the directory's kinds only."""
    if kind not in KINDS:
        raise NotFound("未知的联系人类型")


def contact_document(kind, ref_id, record, *, secret, now, sealer=None):
    """A contact-book entry from a ``directory.changed`` record; contacts
    sealed, hashed and masked, never in clear. ``sealer``: the contact keys
    (default: derived from ``secret``)."""
    sealer = sealer or Sealer(secret)
    record = record or {}
    roles = record.get("roles") or []
    if isinstance(roles, str):
        roles = [roles]
    roles = list(roles)
    if record.get("role") and record["role"] not in roles:
        roles.append(record["role"])
    if (record.get("supervision") or record.get("is_supervision_office")) \
            and "supervision" not in roles:
        roles.append("supervision")
    doc = {
        "_id": contact_id(kind, ref_id),
        "kind": kind,
        "ref_id": ref_id,
        "unit_id": record.get("unit_id") or (ref_id if kind == "unit"
                                             else None),
        "leader_id": record.get("leader_member_id") or record.get(
            "leader_id"),
        "roles": roles,
        "active": record.get("active", True) is not False,
        "updated_at": now,
        "addresses": {},
    }
    name = record.get("name")
    if name:
        doc["name_enc"] = sealer.seal(name)
        doc["name_masked"] = name if kind == "unit" else mask_name(name)
    for channel, keys in CONTACT_FIELDS.items():
        value = next((record[k] for k in keys if record.get(k)), None)
        if is_sealed(value):
            doc["addresses"][channel] = {
                "enc": value["sealed"],
                "hash": value.get("ref") or contact_hash(
                    secret, sealer.open(value["sealed"])),
                "masked": value.get("masked") or "***",
            }
        elif value:
            value = str(value).strip()
            doc["addresses"][channel] = {
                "enc": sealer.seal(value),
                "hash": contact_hash(secret, value),
                "masked": mask_address(channel, value),
            }
    return doc


def is_stale(existing, as_of):
    """A directory record older (``as_of``) than the stored one changes
    nothing: events may arrive out of order."""
    return existing is not None and bool(existing.get("as_of")) and \
        existing["as_of"] > as_of


def changes(doc, record):
    """The fields of ``doc`` to set on the stored entry: those the record
    carries replace the stored ones; an address it does not carry is kept
    (a directory update without contacts does not erase what staff
    entered), and so are the roles unless it names some."""
    fields = {k: v for k, v in doc.items()
              if k not in ("_id", "addresses") and (
                  v not in (None, []) or k in ("active",))}
    if "roles" not in (record or {}) and "role" not in (record or {}) \
            and "supervision" not in doc["roles"]:
        fields.pop("roles", None)
    for channel, address in doc["addresses"].items():
        fields[f"addresses.{channel}"] = address
    return fields


def people(entries, *, secret, sealer=None):
    """The active entries opened: [{key, name, contacts}] (what planning
    addresses)."""
    sealer = sealer or Sealer(secret)
    return [open_entry(doc, sealer) for doc in entries
            if doc.get("active", True)]


def open_entry(doc, sealer):
    addresses = {channel: sealer.open(item["enc"])
                 for channel, item in (doc.get("addresses") or {}).items()}
    name = sealer.open(doc["name_enc"]) if doc.get("name_enc") else None
    return {"key": doc["_id"], "name": name, "contacts": addresses}
