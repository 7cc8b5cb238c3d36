"""Indexes created at start-up (索引): idempotent, an index the code now defines
differently replaces the old one, retired ones are dropped."""

import logging

from pymongo.errors import OperationFailure

log = logging.getLogger(__name__)

# IndexOptionsConflict, IndexKeySpecsConflict: an index of an older version
# of the code has the same keys under another name, or the same name with
# other keys or options.
INDEX_CONFLICTS = (85, 86)

def ensure_indexes(db, indexes, retired=None):
    """Create every index; creating an existing one is a no-op. An index
    the code now defines differently (renamed, other keys or options)
    replaces the old one. ``retired`` ({collection: [index name]}): indexes
    an earlier version created, dropped if they are there."""
    for collection, names in (retired or {}).items():
        existing = {index["name"] for index in db[collection].list_indexes()}
        for name in set(names) & existing:
            log.warning("dropping retired index %s.%s", collection, name)
            db[collection].drop_index(name)
    for collection, models in indexes.items():
        if not models:
            continue
        try:
            db[collection].create_indexes(models)
        except OperationFailure as exc:
            if exc.code not in INDEX_CONFLICTS:
                raise
            for model in models:
                _ensure_index(db[collection], model)


def _ensure_index(col, model):
    try:
        col.create_indexes([model])
        return
    except OperationFailure as exc:
        if exc.code not in INDEX_CONFLICTS:
            raise
    spec = model.document
    keys = list(spec["key"].items())
    for existing in col.list_indexes():
        if existing["name"] == "_id_":
            continue
        if existing["name"] == spec["name"] or \
                list(existing["key"].items()) == keys:
            log.warning("replacing index %s.%s (now %s %s)", col.name,
                        existing["name"], spec["name"], keys)
            col.drop_index(existing["name"])
    col.create_indexes([model])
