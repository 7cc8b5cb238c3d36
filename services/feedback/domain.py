"""Rules of 政务服务"好差评" ratings, rectifications (整改), appeals (申诉),
recommendations (推荐典型) and objections (异议). No nameko here: every rule
takes ``now`` (and anything random) as an argument."""

import datetime as dt
import hashlib
import hmac
import secrets
from zoneinfo import ZoneInfo

# Five levels, 5..1; the last two are bad reviews (差评).
LEVELS = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}
BAD_LEVELS = (1, 2)
# Optional aspect scores (分项评价), each 1..5.
ASPECTS = {"efficiency": "效率", "attitude": "态度", "expertise": "专业"}

INVITATION_DAYS = 15
# 默认好评: no rating within N working days counts as 满意 (0 = off).
DEFAULT_LEVEL = 4
CALLBACK_WORKING_DAYS = 1   # 回访: Zhejiang's rule, 1 working day
FIX_DAYS = 15               # 整改: 15 days

COMMENT_MAX = 500
REASON_MAX = 500
ANSWER_MAX = 1000

# What an invitation asks about (一事一评: one invitation per subject).
SUBJECT_ACTIVITY = "activity"          # a service activity (服务活动)
SUBJECT_DEMAND = "demand"              # a resolved demand (诉求办结)
SUBJECT_RECTIFICATION = "rectification"  # a closed rectification (整改完成)
SUBJECT_TYPES = (SUBJECT_ACTIVITY, SUBJECT_DEMAND, SUBJECT_RECTIFICATION)

SUBJECT_PROMPTS = {
    SUBJECT_ACTIVITY: "{member}近日为您提供了服务，请您对本次服务作出评价。",
    SUBJECT_DEMAND: "您反映的诉求已办结，请您对办理情况作出评价。",
    SUBJECT_RECTIFICATION: "针对您此前的评价，相关单位已完成整改，请您对整改情况作出评价。",
}

# Invitation statuses.
ISSUED, USED = "issued", "used"

# Rectification (整改) statuses and their allowed transitions.
RECT_OPEN = "open"                 # 待回访
RECT_CALLED_BACK = "called_back"   # 已回访，整改中
RECT_CLOSED = "closed"             # 已整改
RECT_VOID = "void"                 # 申诉成立，作废
RECT_STATUS_NAMES = {RECT_OPEN: "待回访", RECT_CALLED_BACK: "整改中",
                     RECT_CLOSED: "已整改", RECT_VOID: "已作废（申诉成立）"}
RECT_TRANSITIONS = {
    RECT_OPEN: (RECT_CALLED_BACK, RECT_VOID),
    RECT_CALLED_BACK: (RECT_CLOSED, RECT_VOID),
    RECT_CLOSED: (),
    RECT_VOID: (),
}
RECT_ACTIVE = (RECT_OPEN, RECT_CALLED_BACK)

# Appeal (申诉) statuses.
APPEAL_PENDING, APPEAL_UPHELD, APPEAL_REJECTED = "pending", "upheld", "rejected"

# Deadline kinds of an overdue rectification.
DEADLINE_CALLBACK, DEADLINE_FIX = "callback", "fix"

# Rate limits: (requests, window seconds), per client address and per token.
RATE_PER_ADDRESS = (60, 60)
RATE_PER_TOKEN = (20, 3600)

CSRF_MAX_AGE = 2 * 3600  # a form page is valid for two hours


def is_bad(rating):
    return rating in BAD_LEVELS


def invitation_expiry(issued_at, days=INVITATION_DAYS):
    return issued_at + dt.timedelta(days=days)


def invitation_state(invitation, now):
    """'open', 'used' or 'expired'."""
    if invitation["status"] == USED:
        return "used"
    if invitation["expires_at"] <= now:
        return "expired"
    return "open"


def add_working_days(start, days, timezone="Asia/Shanghai", holidays=()):
    """``start`` moved forward by ``days`` working days (Mon-Fri, not in
    ``holidays``, dates in the local ``timezone``), keeping the time of day."""
    tz = ZoneInfo(timezone)
    local = start.astimezone(tz)
    holidays = set(holidays)
    moved = 0
    while moved < days:
        local = local + dt.timedelta(days=1)
        if local.weekday() < 5 and local.date() not in holidays:
            moved += 1
    return local.astimezone(dt.timezone.utc)


def rectification_deadlines(opened_at, timezone="Asia/Shanghai",
                            callback_days=CALLBACK_WORKING_DAYS,
                            fix_days=FIX_DAYS):
    """(callback_by, fix_by) of a rectification opened at ``opened_at``."""
    return (add_working_days(opened_at, callback_days, timezone),
            opened_at + dt.timedelta(days=fix_days))


def can_move(current, new):
    return new in RECT_TRANSITIONS.get(current, ())


def overdue_kinds(rectification, now):
    """Deadlines of ``rectification`` passed at ``now`` and not yet
    announced: 'callback' (no callback yet) and/or 'fix' (not closed)."""
    kinds = []
    flagged = rectification.get("overdue") or []
    status = rectification["status"]
    if (status == RECT_OPEN and rectification["callback_by"] <= now
            and DEADLINE_CALLBACK not in flagged):
        kinds.append(DEADLINE_CALLBACK)
    if (status in RECT_ACTIVE and rectification["fix_by"] <= now
            and DEADLINE_FIX not in flagged):
        kinds.append(DEADLINE_FIX)
    return kinds


def publicity_is_open(publicity, today):
    """A publicity list (公示) is open from starts_on to ends_on inclusive."""
    return publicity["starts_on"] <= today <= publicity["ends_on"]


def local_date_text(moment, timezone="Asia/Shanghai"):
    """2026年12月5日, in local time."""
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local.year}年{local.month}月{local.day}日"


def local_today(now, timezone="Asia/Shanghai"):
    return now.astimezone(ZoneInfo(timezone)).date()


# -- rate limits ---------------------------------------------------------

def rate_window(now, window_seconds):
    """The fixed window ``now`` falls in: (index, window end)."""
    epoch = int(now.timestamp())
    index = epoch // window_seconds
    end = dt.datetime.fromtimestamp((index + 1) * window_seconds,
                                    dt.timezone.utc)
    return index, end


def parse_rate(spec, default):
    """'60/60' → (60, 60); anything else → ``default``."""
    try:
        count, _, seconds = str(spec).partition("/")
        count, seconds = int(count), int(seconds)
    except (TypeError, ValueError):
        return default
    if count <= 0 or seconds <= 0:
        return default
    return count, seconds


def rate_key(secret, scope, value):
    """The key of a rate-limit counter: a keyed hash, so addresses and
    tokens are not kept in clear, not even in memory."""
    digest = hmac.new(secret.encode(), f"{scope}:{value}".encode(),
                      hashlib.sha256).hexdigest()[:32]
    return f"{scope}:{digest}"


class RateCounter:
    """Fixed-window counters kept in process memory (one per service
    instance): ``hit`` counts one request and says whether it is within
    the limit. No I/O: the caller passes ``now``.

    Once more than ``max_keys`` counters are held, windows that are over
    are dropped, and if a flood of distinct keys keeps more than half of
    ``max_keys`` alive, the least recently hit ones too (memory stays
    bounded; those keys start afresh)."""

    def __init__(self, max_keys=100_000):
        self.max_keys = max_keys
        self._counts = {}  # (key, window seconds) -> (window index, count)

    def __len__(self):
        return len(self._counts)

    def hit(self, key, now, limit, window_seconds):
        index = int(now.timestamp()) // window_seconds  # as rate_window
        slot = (key, window_seconds)
        held = self._counts.pop(slot, None)
        count = held[1] + 1 if held is not None and held[0] == index else 1
        self._counts[slot] = (index, count)  # newest last
        if len(self._counts) > self.max_keys:
            self._prune(int(now.timestamp()))
        return count <= limit

    def _prune(self, epoch):
        live = [(slot, held) for slot, held in self._counts.items()
                if (held[0] + 1) * slot[1] > epoch]
        # keep at most half, the most recently hit: the next prune is at
        # least max_keys / 2 hits away
        self._counts = dict(live[-max(1, self.max_keys // 2):])


# -- CSRF (signed double-submit) ------------------------------------------

def new_csrf_nonce(randbytes=secrets.token_urlsafe):
    return randbytes(18)


def csrf_matches(cookie_nonce, form_nonce):
    """The nonce signed into the form must equal the cookie's."""
    if not cookie_nonce or not form_nonce:
        return False
    return hmac.compare_digest(str(cookie_nonce), str(form_nonce))


def short_ref(identifier):
    """A short reference people can quote (受理编号)."""
    return identifier[:8].upper()
