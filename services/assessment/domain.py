"""Scoring rules of the combined assessment (综合考评), as plain functions."""

import datetime as dt
from zoneinfo import ZoneInfo


def month_of(moment, timezone="Asia/Shanghai"):
    """The assessment month (考核月份) an instant falls in, local time."""
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment)
    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m")


def average(total, count):
    return round(total / count, 2) if count else None


def summarise(cards):
    """Sum monthly scorecards into a running one."""
    activities = sum(c.get("activity_count", 0) for c in cards)
    rating_sum = sum(c.get("rating_sum", 0) for c in cards)
    rating_count = sum(c.get("rating_count", 0) for c in cards)
    return {"activity_count": activities, "rating_count": rating_count,
            "average_satisfaction": average(rating_sum, rating_count)}
