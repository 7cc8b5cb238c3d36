"""Working days for publicity (公示期): statutory holidays, 调休, the National
Day holiday, a year boundary, a calendar file, a year with no data."""

import datetime as dt
import json

import pytest

from services.assessment.selection.domain import publicity_window
from sifuwu.workdays import CalendarUnavailable
from sifuwu.workdays import WorkCalendar as WorkingCalendar

D = dt.date


def test_national_day_holiday_and_make_up_days():
    cal = WorkingCalendar()
    assert not cal.is_workday(D(2026, 10, 1))
    assert not cal.is_workday(D(2026, 10, 7))
    assert cal.is_workday(D(2026, 10, 10))   # Saturday, 调休 make-up day
    assert cal.is_workday(D(2026, 9, 20))    # Sunday, 调休 make-up day
    # Opened on the last working day before the holiday: 9-30, 10-8, 10-9,
    # 10-10 (Saturday make-up), 10-12.
    assert publicity_window(D(2026, 9, 30), 5, cal) == (D(2026, 9, 30),
                                                        D(2026, 10, 12))
    # Opened during the holiday: starts on the first working day after it.
    assert publicity_window(D(2026, 10, 3), 5, cal) == (D(2026, 10, 8),
                                                        D(2026, 10, 13))
    assert cal.workdays_between(D(2026, 9, 28), D(2026, 10, 11)) == 6


def test_year_boundary_with_new_year_holiday_and_make_up_sunday():
    cal = WorkingCalendar()
    # 12-29, 12-30, 12-31, (1-1..1-3 holiday), 1-4 (Sunday make-up), 1-5.
    assert publicity_window(D(2025, 12, 29), 5, cal) == (D(2025, 12, 29),
                                                         D(2026, 1, 5))
    # A weekend opening starts on Monday.
    assert publicity_window(D(2025, 12, 27), 5, cal)[0] == D(2025, 12, 29)


def test_publicity_shorter_than_five_working_days_is_refused():
    with pytest.raises(Exception) as err:
        publicity_window(D(2026, 3, 2), 4, WorkingCalendar())
    assert "5 个工作日" in str(err.value)


def test_year_without_data_refuses_with_a_clear_message():
    cal = WorkingCalendar()
    with pytest.raises(CalendarUnavailable) as err:
        publicity_window(D(2026, 12, 28), 5, cal)
    assert err.value.code == "calendar_unavailable"
    assert "2027 年" in err.value.message
    assert "SIFUWU_CALENDAR_FILE" in err.value.message


def test_calendar_file_covers_a_new_year_and_overrides_the_library(tmp_path):
    path = tmp_path / "calendar.json"
    path.write_text(json.dumps({
        "years": [2027],
        "holidays": ["2027-01-01", "2026-12-31"],
        "workdays": ["2026-10-11"]}), encoding="utf-8")
    cal = WorkingCalendar.from_file(path)
    assert not cal.is_workday(D(2026, 12, 31))   # file overrides library
    assert cal.is_workday(D(2026, 10, 11))
    assert cal.is_workday(D(2026, 10, 10))       # library still answers
    # 12-28, 12-29, 12-30, (12-31, 1-1 off, weekend), 1-4, 1-5.
    assert publicity_window(D(2026, 12, 28), 5, cal) == (D(2026, 12, 28),
                                                         D(2027, 1, 5))


def test_yaml_calendar_file(tmp_path):
    path = tmp_path / "calendar.yaml"
    path.write_text("years: [2030]\nholidays: ['2030-01-01']\n"
                    "workdays: ['2030-01-05']\n", encoding="utf-8")
    cal = WorkingCalendar.configured(str(path))
    assert not cal.is_workday(D(2030, 1, 1))
    assert cal.is_workday(D(2030, 1, 5))
    assert not cal.is_workday(D(2030, 1, 6))
    with pytest.raises(CalendarUnavailable):
        cal.is_workday(D(2031, 1, 2), strict=True)


def test_clashing_file_entries_are_rejected():
    with pytest.raises(ValueError):
        WorkingCalendar(holidays=["2027-01-01"], workdays=["2027-01-01"])


def test_unreadable_calendar_file_refuses_clearly(tmp_path):
    with pytest.raises(CalendarUnavailable) as err:
        WorkingCalendar.from_file(tmp_path / "missing.json")
    assert "无法读取" in err.value.message
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(CalendarUnavailable):
        WorkingCalendar.from_file(bad)
