"""Storage helpers the assessment's repositories share."""

from sifuwu.store import find_in


class Reader:
    """What a repository needs of a unit of work, for reads outside a
    transaction (the HTTP queries): ``db``, no session, ``col``.
    ``Reader(db, ScoringRepository).repo`` is that repository."""

    session = None

    def __init__(self, db, repository=None):
        self.db = db
        self.repo = repository(self) if repository is not None else None

    def col(self, name):
        return self.db[name]


def by_ids(db, collection, ids, projection=None, session=None):
    """The documents with these ``_id``s, read in a few statements
    (``IN_CHUNK`` ids each: see ``find_in``)."""
    return list(find_in(db[collection], "_id", ids, projection, session))


def as_stored(moment):
    """A time as the store keeps it (BSON: milliseconds), so a batch
    compares times in memory exactly as one event at a time would compare
    them with what it reads back."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
