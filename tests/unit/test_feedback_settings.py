"""The feedback service's settings: every SIFUWU_FEEDBACK_* name it reads,
with its default, and the working-day calendar they configure."""

import datetime as dt
import json
from zoneinfo import ZoneInfo

from nameko.testing.services import worker_factory

from services.feedback import domain
from services.feedback.service import FeedbackService
from services.feedback.settings import FeedbackSettings
from sifuwu.workdays import CALENDAR

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_defaults():
    settings = FeedbackSettings.load({}, {})
    assert settings.address_rate == domain.RATE_PER_ADDRESS == (60, 60)
    assert settings.token_rate == domain.RATE_PER_TOKEN == (20, 3600)
    assert settings.trust_forwarded is False
    assert settings.default_after_working_days == 0
    names = {env for env, _, _ in FeedbackSettings.documented()}
    assert {"SIFUWU_FEEDBACK_RATE_ADDRESS", "SIFUWU_FEEDBACK_RATE_TOKEN",
            "SIFUWU_FEEDBACK_TRUST_FORWARDED",
            "SIFUWU_FEEDBACK_DEFAULT_AFTER_WORKING_DAYS"} <= names
    assert FeedbackService.settings_class is FeedbackSettings


def test_config_then_environment_and_malformed_rates_fall_back():
    settings = FeedbackSettings.load(
        {"SIFUWU_FEEDBACK_RATE_TOKEN": "3/3600",
         "SIFUWU_FEEDBACK_DEFAULT_AFTER_WORKING_DAYS": 3},
        {"SIFUWU_FEEDBACK_RATE_TOKEN": "9/9",
         "SIFUWU_FEEDBACK_RATE_ADDRESS": "often",
         "SIFUWU_FEEDBACK_TRUST_FORWARDED": "yes"})
    assert settings.token_rate == (3, 3600)  # the config wins
    assert settings.address_rate == (60, 60)  # malformed: the default
    assert settings.trust_forwarded is True
    assert settings.default_after_working_days == 3
    assert FeedbackSettings.load(
        {"SIFUWU_FEEDBACK_RATE_ADDRESS": ""}, {}).address_rate == (60, 60)


def test_the_calendar_file_sets_the_working_days(tmp_path):
    path = tmp_path / "calendar.json"
    # a made-up holiday on Monday 23 November 2026
    path.write_text(json.dumps({"holidays": ["2026-11-23"]}))
    service = worker_factory(FeedbackService)
    service.config = {"SIFUWU_CALENDAR_FILE": str(path)}
    friday = dt.datetime(2026, 11, 20, 15, tzinfo=SHANGHAI)
    callback_by, _ = domain.rectification_deadlines(
        friday, service.settings.tz, service.calendar)
    assert callback_by == dt.datetime(2026, 11, 24, 15, tzinfo=SHANGHAI)
    plain = worker_factory(FeedbackService)
    plain.config = {}
    assert plain.calendar is CALENDAR
