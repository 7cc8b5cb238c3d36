"""Rules of business indicators: one value per subject, period and
indicator; the newest report wins. No nameko, no I/O."""


def kpi_key(data):
    return ":".join((data["subject_type"], data["subject_id"], data["period"],
                     data["indicator"]))


def is_stale(existing, as_of):
    """Whether the stored value is newer than one reported ``as_of``."""
    return existing is not None and existing["as_of"] > as_of
