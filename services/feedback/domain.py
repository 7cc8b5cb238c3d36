"""Rules of 政务服务"好差评" ratings (no nameko here)."""

import datetime as dt

# Five levels, 5..1; the last two are bad reviews (差评).
LEVELS = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}
BAD_LEVELS = (1, 2)
INVITATION_DAYS = 15

ISSUED, USED = "issued", "used"


def is_bad(rating):
    return rating in BAD_LEVELS


def invitation_expiry(issued_at, days=INVITATION_DAYS):
    return issued_at + dt.timedelta(days=days)
