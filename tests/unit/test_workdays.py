"""The one working-day calendar (``sifuwu.workdays``) and its one convention,
across the 2026 National Day week for all four of its uses: demand deadlines,
rectification callbacks, default ratings and publicity periods.

2026: 10-01..10-07 off (National Day and Mid-Autumn), Sunday 09-20 and
Saturday 10-10 make-up working days. "N working days after D" is the N-th
working day after D, D never counted; a publicity period counts its first
working day as day 1.
"""

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest

from services.activity.demands import domain as demands
from services.assessment.selection import domain as selection
from services.feedback import domain as feedback
from sifuwu.workdays import CALENDAR, CalendarUnavailable, WorkCalendar

TZ = ZoneInfo("Asia/Shanghai")
D = dt.date


def local(*args):
    return dt.datetime(*args, tzinfo=TZ)


def test_the_holiday_week_and_its_make_up_days():
    assert [CALENDAR.is_workday(D(2026, 10, d)) for d in range(1, 12)] == [
        False] * 7 + [True, True, True, False]   # 10-10 Saturday make-up
    assert CALENDAR.is_workday(D(2026, 9, 20))     # Sunday make-up
    assert CALENDAR.add_workdays(D(2026, 9, 30), 1) == D(2026, 10, 8)
    assert CALENDAR.add_workdays(D(2026, 9, 30), 3) == D(2026, 10, 10)
    assert CALENDAR.add_workdays(D(2026, 10, 3), 0) == D(2026, 10, 8)
    assert CALENDAR.workdays_between(D(2026, 9, 28), D(2026, 10, 11)) == 6


def test_demand_deadline_over_the_holiday():
    deadlines, note = demands.demand_deadlines(
        local(2026, 9, 30, 10), "masses", CALENDAR, TZ,
        {"masses": {"respond": [1, "workdays"], "resolve": [2, "workdays"]}})
    assert deadlines["respond_by"].date() == D(2026, 10, 8)
    assert deadlines["resolve_by"].date() == D(2026, 10, 9)
    assert note is None


def test_rectification_callback_over_the_holiday():
    callback_by, _ = feedback.rectification_deadlines(
        local(2026, 9, 30, 15), TZ, CALENDAR)
    assert callback_by == local(2026, 10, 8, 15)


def test_default_rating_over_the_holiday():
    due = feedback.default_rating_due_at(local(2026, 9, 30, 15), 2, TZ,
                                         CALENDAR)
    assert due == local(2026, 10, 9, 15)


def test_publicity_over_the_holiday_counts_its_first_day():
    # 9-30 (day 1), 10-08, 10-09, 10-10 (make-up Saturday), 10-12
    assert selection.publicity_window(D(2026, 9, 30), 5, CALENDAR) == (
        D(2026, 9, 30), D(2026, 10, 12))
    # opened during the holiday: day 1 is the first working day after it
    assert selection.publicity_window(D(2026, 10, 3), 5, CALENDAR) == (
        D(2026, 10, 8), D(2026, 10, 13))


def test_a_year_without_data_falls_back_for_deadlines_and_refuses_publicity():
    calendar = WorkCalendar(is_workday=lambda day: None)   # no data at all
    assert calendar.add_workdays(D(2031, 10, 3), 1) == D(2031, 10, 6)
    assert calendar.note(2031) == "2031 年无法定节假日数据，按周一至周五为工作日计算"
    _, note = demands.demand_deadlines(local(2031, 10, 3, 10), "masses",
                                       calendar, TZ)
    assert note == calendar.note(2031)
    with pytest.raises(CalendarUnavailable) as refused:
        selection.publicity_window(D(2031, 10, 3), 5, calendar)
    assert "SIFUWU_CALENDAR_FILE" in refused.value.message


def test_a_calendar_file_covers_a_year_for_every_use(tmp_path):
    path = tmp_path / "calendar.json"
    path.write_text(json.dumps({"years": [2031], "holidays": ["2031-10-06"]}),
                    encoding="utf-8")
    calendar = WorkCalendar.configured(str(path))
    assert calendar.add_workdays(D(2031, 10, 3), 1) == D(2031, 10, 7)
    assert selection.publicity_window(D(2031, 10, 3), 5, calendar) == (
        D(2031, 10, 3), D(2031, 10, 10))
    callback_by, _ = feedback.rectification_deadlines(
        local(2031, 10, 3, 9), TZ, calendar)
    assert callback_by == local(2031, 10, 7, 9)
