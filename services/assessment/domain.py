"""The vocabulary every part of the assessment (考评) shares: the subjects
assessed, the four indicator groups, and periods (a month, a quarter, a
year). Plain functions, no I/O."""

import datetime as dt

SUBJECT_TYPES = ("member", "branch", "unit")
SUBJECT_LABELS = {"member": "党员", "branch": "党支部", "unit": "机关单位"}

GROUPS = ("party_building", "business", "four_services", "satisfaction")
GROUP_LABELS = {"party_building": "党建工作", "business": "业务工作",
                "four_services": "四服务工作", "satisfaction": "服务对象满意度"}


# -- periods -----------------------------------------------------------------

def month_of(moment, tz):
    """The assessment month (考核月份) an instant falls in, local time in
    ``tz`` (a ``ZoneInfo``: the service's ``settings.tz``)."""
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment)
    return moment.astimezone(tz).strftime("%Y-%m")


def period_kind(period):
    """'month' (2026-11), 'quarter' (2026-Q4) or 'year' (2026); else None."""
    if not isinstance(period, str):
        return None
    if len(period) == 4 and period.isdigit():
        return "year"
    if (len(period) == 7 and period[4] == "-" and period[:4].isdigit()
            and period[5:].isdigit() and 1 <= int(period[5:]) <= 12):
        return "month"
    if (len(period) == 7 and period[4:6] == "-Q" and period[:4].isdigit()
            and period[6] in "1234"):
        return "quarter"
    return None


def months_of(period):
    """The months (YYYY-MM) a month, quarter or year covers."""
    kind = period_kind(period)
    if kind == "month":
        return [period]
    if kind == "quarter":
        first = (int(period[6]) - 1) * 3 + 1
        return [f"{period[:4]}-{m:02d}" for m in range(first, first + 3)]
    if kind == "year":
        return [f"{period}-{m:02d}" for m in range(1, 13)]
    raise ValueError(f"not a period: {period!r}")


def periods_containing(month):
    """The month, its quarter and its year."""
    quarter = (int(month[5:]) - 1) // 3 + 1
    return [month, f"{month[:4]}-Q{quarter}", month[:4]]

