"""The Chinese working-day calendar (工作日历) for publicity periods.

Statutory holidays and 调休 make-up days come from the ``chinese-calendar``
package; a configured calendar file (JSON or YAML) overrides it and covers
the years the package has no data for::

    {"years": [2027],
     "holidays": ["2027-01-01", "2027-02-06"],
     "workdays": ["2027-02-07"]}

A date listed in ``holidays`` or ``workdays`` is taken as listed; in a year
listed in ``years`` every other date is a working day from Monday to Friday.
In a year neither the package nor the file knows, ``CalendarUnavailable``
is raised with a zh-CN message: the service refuses to publish rather than
guess.
"""

import datetime as dt
import json
import pathlib

import yaml

from sifuwu.errors import DomainError


class CalendarUnavailable(DomainError):
    status = 409
    code = "calendar_unavailable"


def _library_is_workday(day):
    """The package's answer, or None for a year it has no data for."""
    try:
        import chinese_calendar
    except ImportError:  # pragma: no cover - a dependency of the project
        return None
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        return None


def _as_date(value):
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


class WorkingCalendar:
    """Answers ``is_workday`` from the file overrides, then the package."""

    def __init__(self, holidays=(), workdays=(), years=(), use_library=True):
        self.holidays = {_as_date(d) for d in holidays}
        self.workdays = {_as_date(d) for d in workdays}
        self.years = {int(y) for y in years}
        self.use_library = use_library
        clash = self.holidays & self.workdays
        if clash:
            raise ValueError(f"dates both holiday and workday: {sorted(clash)}")

    @classmethod
    def from_file(cls, path, use_library=True):
        try:
            text = pathlib.Path(path).read_text(encoding="utf-8")
            data = (json.loads(text) if str(path).endswith(".json")
                    else yaml.safe_load(text)) or {}
        except (OSError, ValueError, yaml.YAMLError) as exc:
            raise CalendarUnavailable(
                f"工作日历配置文件 {path} 无法读取（{type(exc).__name__}），"
                "暂不能计算公示期") from exc
        return cls(holidays=data.get("holidays", ()),
                   workdays=data.get("workdays", ()),
                   years=data.get("years", ()), use_library=use_library)

    @classmethod
    def configured(cls, path=None):
        return cls.from_file(path) if path else cls()

    def is_workday(self, day):
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        if day.year in self.years:
            return day.weekday() < 5
        answer = _library_is_workday(day) if self.use_library else None
        if answer is None:
            raise CalendarUnavailable(
                f"工作日历缺少 {day.year} 年的法定节假日和调休数据，无法计算公示期；"
                "请在日历配置文件（SIFUWU_CALENDAR_FILE）中补充该年数据后再发布公示")
        return answer

    def next_workday(self, day):
        """``day`` itself when it is a working day, else the next one."""
        while not self.is_workday(day):
            day += dt.timedelta(days=1)
        return day

    def add_workdays(self, start, count):
        """The ``count``-th working day counting ``start`` (a working day)
        as the first."""
        if count < 1:
            raise ValueError("count must be >= 1")
        day, seen = start, 0
        while True:
            if self.is_workday(day):
                seen += 1
                if seen == count:
                    return day
            day += dt.timedelta(days=1)

    def workdays_between(self, start, end):
        """Working days from ``start`` to ``end``, both included."""
        days, day = 0, start
        while day <= end:
            days += self.is_workday(day)
            day += dt.timedelta(days=1)
        return days


def publicity_window(opened_on, days, calendar):
    """公示期: from the first working day on or after ``opened_on``, for
    ``days`` (>= 5) working days. Returns (starts_on, ends_on) dates."""
    if days < 5:
        raise DomainError("公示期不得少于 5 个工作日", code="publicity_too_short",
                          status=422)
    starts_on = calendar.next_workday(opened_on)
    return starts_on, calendar.add_workdays(starts_on, days)
