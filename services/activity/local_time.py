"""Times for people and for events: local time (北京时间 by default) in the
business time zone the settings give. Pure functions; the zone is always an
argument."""

import datetime as dt
from zoneinfo import ZoneInfo


def zone(tz):
    """``tz`` as a tzinfo (a ``ZoneInfo`` or a zone name)."""
    return tz if isinstance(tz, dt.tzinfo) else ZoneInfo(tz)


def iso(value, tz):
    """ISO 8601 in local time, or None."""
    return value.astimezone(zone(tz)).isoformat() if value else None


def local(value, tz):
    """Datetimes (also nested) as ISO 8601 in local time."""
    if isinstance(value, dt.datetime):
        return value.astimezone(zone(tz)).isoformat()
    if isinstance(value, dict):
        return {k: local(v, tz) for k, v in value.items()}
    if isinstance(value, list):
        return [local(v, tz) for v in value]
    return value
