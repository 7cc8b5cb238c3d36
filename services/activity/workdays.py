"""The Chinese working-day calendar (工作日历) behind demand deadlines.

Wraps the ``chinese-calendar`` package (statutory holidays and 调休 make-up
working days as published by the State Council each year). For a year the
package has no data for, the calendar falls back to "Monday to Friday are
working days" and says so: ``note(year)`` returns a zh-CN remark that is
stored with every deadline computed that way, and a warning is logged once.
"""

import datetime as dt
import logging

import chinese_calendar

log = logging.getLogger(__name__)


class WorkdayCalendar:
    """Working days in mainland China; pure apart from the package's tables."""

    def __init__(self, is_workday=None):
        # ``is_workday`` lets tests pin a calendar; by default the package.
        self._lookup = is_workday or chinese_calendar.is_workday
        self._missing = set()

    def covered(self, year):
        """True when holiday data exists for ``year``."""
        if year in self._missing:
            return False
        try:
            self._lookup(dt.date(year, 1, 1))
            return True
        except NotImplementedError:
            self._missing.add(year)
            log.warning("no holiday data for %s: weekends-only calendar", year)
            return False

    def is_workday(self, day):
        if self.covered(day.year):
            return bool(self._lookup(day))
        return day.weekday() < 5

    def note(self, *years):
        """A zh-CN remark for the years computed without holiday data."""
        missing = sorted({y for y in years if not self.covered(y)})
        if not missing:
            return None
        return ("、".join(f"{y} 年" for y in missing)
                + "无法定节假日数据，按周一至周五为工作日计算")

    def add_workdays(self, day, count):
        """The ``count``-th working day after ``day`` (``day`` itself not
        counted); ``count`` = 0 gives ``day`` if it is a working day, else the
        next working day."""
        current = day
        if count == 0:
            while not self.is_workday(current):
                current += dt.timedelta(days=1)
            return current
        seen = 0
        while seen < count:
            current += dt.timedelta(days=1)
            if self.is_workday(current):
                seen += 1
        return current

    def next_workday_on_or_after(self, day):
        return self.add_workdays(day, 0)


CALENDAR = WorkdayCalendar()
