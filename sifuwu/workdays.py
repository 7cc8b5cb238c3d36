"""The one working-day calendar (工作日历) of mainland China, for every rule.

Statutory holidays and 调休 make-up working days come from the
``chinese-calendar`` package (as the State Council publishes them each year); a
calendar file (``SIFUWU_CALENDAR_FILE``, JSON or YAML) overrides it and covers
years the package does not know yet::

    {"years": [2027],
     "holidays": ["2027-01-01", "2027-02-06"],
     "workdays": ["2027-02-07"]}

A date listed in ``holidays`` or ``workdays`` is taken as listed; in a year
listed in ``years`` every other date is a working day from Monday to Friday.

The convention (one for demands, rectification deadlines, default ratings and
publicity alike): **"N working days after D" is the N-th working day after D;
D itself is never counted**, whatever day it is, and 0 working days after D is
D when it is a working day, else the next working day. A publicity period
(公示) of N working days counts its opening as day 1 when that is a working
day (else the first working day after it), so it ends N - 1 working days after
its first day (docs/selection.md).

A year without holiday data (neither the package nor the file knows it):
- deadlines (demands, rectification callbacks, default ratings) fall back to
  Monday to Friday, log a warning once and carry ``note()`` with the record:
  a demand or a rectification must never be refused because next year's
  holidays are not published yet, and a deadline a day early is corrected by
  hand;
- publicity refuses (``CalendarUnavailable``): a 公示 period is a legal notice,
  and a guessed holiday would shorten it below what was announced.
"""

import datetime as dt
import json
import logging
import pathlib

import chinese_calendar
import yaml

from sifuwu.errors import DomainError

log = logging.getLogger(__name__)

ONE_DAY = dt.timedelta(days=1)


class CalendarUnavailable(DomainError):
    status = 409
    code = "calendar_unavailable"


def _as_date(value):
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _library_is_workday(day):
    """The package's answer, or None for a year it has no data for."""
    try:
        return chinese_calendar.is_workday(day)
    except NotImplementedError:
        return None


class WorkCalendar:
    """Working days from the file's entries, then the package, then the policy
    above for a year neither knows."""

    def __init__(self, holidays=(), workdays=(), years=(), is_workday=None):
        # ``is_workday`` pins the package's answer in tests (None = no data).
        self.holidays = {_as_date(d) for d in holidays}
        self.workdays = {_as_date(d) for d in workdays}
        self.years = {int(y) for y in years}
        self._lookup = is_workday or _library_is_workday
        self._warned = set()
        clash = self.holidays & self.workdays
        if clash:
            raise ValueError(f"dates both holiday and workday: {sorted(clash)}")

    @classmethod
    def from_file(cls, path):
        try:
            text = pathlib.Path(path).read_text(encoding="utf-8")
            data = (json.loads(text) if str(path).endswith(".json")
                    else yaml.safe_load(text)) or {}
            return cls(holidays=data.get("holidays", ()),
                       workdays=data.get("workdays", ()),
                       years=data.get("years", ()))
        except (OSError, ValueError, TypeError, AttributeError,
                yaml.YAMLError) as exc:
            raise CalendarUnavailable(
                f"工作日历配置文件 {path} 无法读取（{type(exc).__name__}），"
                "暂不能计算工作日") from exc

    @classmethod
    def configured(cls, path=None):
        """The calendar file at ``path`` if one is set, else the package's."""
        return cls.from_file(path) if path else CALENDAR

    def _answer(self, day):
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        if day.year in self.years:
            return day.weekday() < 5
        return self._lookup(day)

    def covered(self, year):
        """True when holiday data exists for ``year`` (file or package)."""
        return year in self.years or self._lookup(dt.date(year, 1, 1)) is not None

    def is_workday(self, day, strict=False):
        """Whether ``day`` is a working day; in a year without data, Monday to
        Friday, or ``CalendarUnavailable`` when ``strict``."""
        answer = self._answer(day)
        if answer is not None:
            return bool(answer)
        if strict:
            raise CalendarUnavailable(
                f"工作日历缺少 {day.year} 年的法定节假日和调休数据，无法计算公示期；"
                "请在日历配置文件（SIFUWU_CALENDAR_FILE）中补充该年数据后再发布公示")
        if day.year not in self._warned:
            self._warned.add(day.year)
            log.warning("no holiday data for %s: Monday-to-Friday calendar",
                        day.year)
        return day.weekday() < 5

    def note(self, *years):
        """A zh-CN remark for the years computed without holiday data."""
        missing = sorted({y for y in years if not self.covered(y)})
        if not missing:
            return None
        return ("、".join(f"{y} 年" for y in missing)
                + "无法定节假日数据，按周一至周五为工作日计算")

    def next_workday(self, day, strict=False):
        """``day`` itself when it is a working day, else the next one."""
        while not self.is_workday(day, strict):
            day += ONE_DAY
        return day

    # the name the demand rules read best with
    next_workday_on_or_after = next_workday

    def add_workdays(self, day, count, strict=False):
        """The ``count``-th working day after ``day`` (``day`` never counted);
        ``count`` = 0 gives ``next_workday(day)``."""
        if count < 0:
            raise ValueError("count must be >= 0")
        if count == 0:
            return self.next_workday(day, strict)
        seen = 0
        while seen < count:
            day += ONE_DAY
            if self.is_workday(day, strict):
                seen += 1
        return day

    def add_workdays_at(self, moment, count, tz):
        """``moment`` moved ``count`` working days on (dates in ``tz``), at the
        same local time of day; returned in UTC."""
        local = moment.astimezone(tz)
        day = self.add_workdays(local.date(), count)
        moved = dt.datetime.combine(day, local.timetz().replace(tzinfo=None))
        return moved.replace(tzinfo=tz).astimezone(dt.timezone.utc)

    def workdays_between(self, start, end, strict=False):
        """Working days from ``start`` to ``end``, both included."""
        days, day = 0, start
        while day <= end:
            days += self.is_workday(day, strict)
            day += ONE_DAY
        return days

    def publicity_window(self, opened_on, days):
        """公示期 of ``days`` working days opened on ``opened_on``: (first day,
        last day). Day 1 is ``opened_on`` when it is a working day, else the
        first working day after it. Refuses a year without data."""
        if days < 1:
            raise ValueError("days must be >= 1")
        starts_on = self.next_workday(opened_on, strict=True)
        return starts_on, self.add_workdays(starts_on, days - 1, strict=True)


CALENDAR = WorkCalendar()
