"""Rules of the directory copy, as plain functions: which fields are kept,
and which record of an entry wins (the newest; one arriving late changes
nothing)."""

from services.assessment.storage import as_stored

# Directory fields kept (no phones or other personal contact data).
DIRECTORY_FIELDS = ("name", "unit_id", "branch_id", "division_id",
                    "secretary_id", "secretary_member_id", "secretary_name",
                    "position", "status")

# Entries of these kinds are not kept (recipients are feedback's).
IGNORED_KINDS = ("recipient",)


def entry_key(kind, entry_id):
    return f"{kind}:{entry_id}"


def newest_entries(envelopes, stored):
    """Directory changes in order against the ``stored`` entries ({key:
    entry}): the newest record per entry wins. Returns (written, fillers):
    the entries to write ({key: entry}) and, for each member, the first
    record applied that names a branch (a unit): {(member id, field):
    value}, which fills the contributions that arrived without one, as it
    would one event at a time."""
    latest = dict(stored)
    written = {}
    fillers = {}  # (member id, field) -> value, first applied wins
    for envelope in envelopes:
        data = envelope["data"]
        kind, entry_id = data["kind"], data["id"]
        key = entry_key(kind, entry_id)
        occurred = as_stored(envelope["occurred_at"])
        current = latest.get(key)
        if current is not None and current["as_of"] > occurred:
            continue
        record = data.get("record") or {}
        doc = {"_id": key, "kind": kind, "id": entry_id, "as_of": occurred,
               "event_id": envelope["event_id"]}
        doc.update({f: record[f] for f in DIRECTORY_FIELDS if f in record})
        latest[key] = written[key] = doc
        if kind == "member":
            for field in ("branch_id", "unit_id"):
                if doc.get(field):
                    fillers.setdefault((entry_id, field), doc[field])
    return written, fillers


def member_place(member, branch_id, unit_id):
    """(branch_id, unit_id): the ids given, completed from the member's
    entry (``member``, or None)."""
    if member is not None:
        branch_id = branch_id or member.get("branch_id")
        unit_id = unit_id or member.get("unit_id")
    return branch_id, unit_id


def branch_place(place, branches):
    """A ``member_place`` without a unit completed from its branch's entry
    (``branches``: {branch id: entry})."""
    branch_id, unit_id = place
    if unit_id or not branch_id:
        return branch_id, unit_id
    return branch_id, branches.get(branch_id, {}).get("unit_id")
