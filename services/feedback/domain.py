"""Rules of 政务服务"好差评" ratings, rectifications (整改), appeals (申诉),
recommendations (推荐典型) and objections (异议). No nameko, no I/O: every
rule takes ``now`` (and the timezone and the working-day calendar) as
arguments; statuses and their allowed moves are tables."""

import datetime as dt
import hashlib
import hmac
import secrets

from sifuwu.errors import Conflict, Forbidden, Gone, NotFound, TooManyRequests
from sifuwu.privacy import Sealer, mask_name, mask_phone

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

# -- statuses and their allowed moves ----------------------------------------

# Invitation (评价邀请) statuses: a link is used once.
ISSUED, USED = "issued", "used"
INVITATION_TRANSITIONS = {ISSUED: (USED,), USED: ()}

# Rectification (整改) statuses.
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

# Appeal (申诉) statuses: decided once, by someone other than the filer.
APPEAL_PENDING, APPEAL_UPHELD, APPEAL_REJECTED = "pending", "upheld", "rejected"
APPEAL_TRANSITIONS = {
    APPEAL_PENDING: (APPEAL_UPHELD, APPEAL_REJECTED),
    APPEAL_UPHELD: (),
    APPEAL_REJECTED: (),
}

# Objection (异议) statuses: answered once.
OBJECTION_FILED, OBJECTION_ANSWERED = "filed", "answered"
OBJECTION_TRANSITIONS = {OBJECTION_FILED: (OBJECTION_ANSWERED,),
                         OBJECTION_ANSWERED: ()}

# Deadline kinds of an overdue rectification, and who hears of a missed one
# (逐级督办: a missed callback goes to the unit, a missed fix to the
# supervision office).
DEADLINE_CALLBACK, DEADLINE_FIX = "callback", "fix"
OVERDUE_LEVELS = {DEADLINE_CALLBACK: 1, DEADLINE_FIX: 3}

# Rate limits: (requests, window seconds), per client address and per token.
RATE_PER_ADDRESS = (60, 60)
RATE_PER_TOKEN = (20, 3600)

CSRF_MAX_AGE = 2 * 3600  # a form page is valid for two hours

ALREADY_RATED = "该服务已评价，感谢您的参与"


def is_bad(rating):
    return rating in BAD_LEVELS


# -- invitations --------------------------------------------------------------

def invitation_expiry(issued_at, days=INVITATION_DAYS):
    return issued_at + dt.timedelta(days=days)


def invitation_state(invitation, now):
    """'open', 'used' or 'expired'."""
    if invitation["status"] == USED:
        return "used"
    if invitation["expires_at"] <= now:
        return "expired"
    return "open"


def check_open_invitation(invitation, now):
    """``invitation`` (as read, or None) if it can still be rated at
    ``now``; otherwise the error the person sees."""
    if invitation is None:
        raise NotFound("评价链接无效", code="invalid_link")
    state = invitation_state(invitation, now)
    if state == "used":
        raise Conflict(ALREADY_RATED, code="already_rated")
    if state == "expired":
        raise Gone("评价链接已过期", code="link_expired")
    return invitation


def already_rated():
    return Conflict(ALREADY_RATED, code="already_rated")


# -- working days: rectification deadlines and default ratings ----------------

def rectification_deadlines(opened_at, tz, calendar,
                            callback_days=CALLBACK_WORKING_DAYS,
                            fix_days=FIX_DAYS):
    """(callback_by, fix_by) of a rectification opened at ``opened_at``: the
    callback ``callback_days`` working days later on ``calendar`` (dates in
    ``tz``, same time of day), the fix ``fix_days`` calendar days later."""
    return (calendar.add_workdays_at(opened_at, callback_days, tz),
            opened_at + dt.timedelta(days=fix_days))


def default_rating_due_at(issued_at, working_days, tz, calendar):
    """When an unused invitation counts as 满意 (默认好评): ``working_days``
    working days after it was issued, at the same time of day."""
    return calendar.add_workdays_at(issued_at, working_days, tz)


def default_rating_is_due(invitation, working_days, now, tz, calendar):
    return (invitation["status"] == ISSUED
            and default_rating_due_at(invitation["issued_at"], working_days,
                                      tz, calendar) <= now)


def default_rating_cutoff(now, working_days):
    """Invitations issued after this cannot be due yet (N working days are
    at least N days): the store's cheap first filter."""
    return now - dt.timedelta(days=working_days)


# -- rectifications -------------------------------------------------------------

def can_move(current, new):
    return new in RECT_TRANSITIONS.get(current, ())


def check_move(current, new):
    """Refuse a rectification move that RECT_TRANSITIONS does not allow."""
    if not can_move(current, new):
        raise Conflict(
            f"整改事项当前状态为“{RECT_STATUS_NAMES[current]}”，"
            f"不能变更为“{RECT_STATUS_NAMES[new]}”",
            code="invalid_transition")


def moved_meanwhile():
    return Conflict("整改事项状态已变化，请刷新后重试",
                    code="invalid_transition")


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


# What the store is asked for overdue candidates: (status, deadline kind).
OVERDUE_QUERIES = ((RECT_OPEN, DEADLINE_CALLBACK),) + tuple(
    (status, DEADLINE_FIX) for status in RECT_ACTIVE)


def reviewer_contact(rect, secret, reveal, sealer=None):
    """The reviewer's contact: clear for entitled staff, masked otherwise.
    ``sealer``: the contact keys (default: derived from ``secret``)."""
    sealer = sealer or Sealer(secret)
    name = (sealer.open(rect["reviewer_name_enc"])
            if rect.get("reviewer_name_enc") else None)
    phone = sealer.open(rect["reviewer_phone_enc"])
    if reveal:
        return {"name": name, "phone": phone}
    return {"name": mask_name(name), "phone": mask_phone(phone)}


# -- appeals ----------------------------------------------------------------------

def check_appealable(rating):
    """Only a bad review can be appealed."""
    if rating is None:
        raise NotFound("未找到该评价")
    if not rating["bad"]:
        raise Conflict("只能对差评提出申诉", code="not_a_bad_review")


def already_decided():
    return Conflict("该申诉已有决定", code="already_decided")


def check_decidable(appeal, by):
    """An appeal is decided once, and never by the one who filed it."""
    if appeal is None:
        raise NotFound("未找到该申诉")
    if not APPEAL_TRANSITIONS.get(appeal["status"]):
        raise already_decided()
    if appeal["filed_by"] == by:
        raise Forbidden("申诉人不能裁决本人提交的申诉")


def appeal_outcome(upheld):
    return APPEAL_UPHELD if upheld else APPEAL_REJECTED


def voids_rectification(rect):
    """An upheld appeal voids its rectification while that is active."""
    return rect["status"] in RECT_ACTIVE


# -- the public board and objections ---------------------------------------------

def publicity_is_open(publicity, today):
    """A publicity list (公示) is open from starts_on to ends_on inclusive."""
    return publicity["starts_on"] <= today <= publicity["ends_on"]


def board_since(today, recent_days=30):
    """The board shows lists ended on or after this day."""
    return (today - dt.timedelta(days=recent_days)).isoformat()


def on_board(publicity, today):
    """A list shows once its publicity has started."""
    return publicity["starts_on"] <= today


def check_objection(publicity, candidate_id, today):
    """An objection only while the publicity is open, only about a listed
    candidate."""
    if publicity is None:
        raise NotFound("未找到该公示")
    if not publicity_is_open(publicity, today):
        raise Conflict("该公示不在公示期内，不能提出异议",
                       code="publicity_closed")
    if candidate_id not in {c["candidate_id"]
                            for c in publicity["candidates"]}:
        raise NotFound("公示名单中没有该对象", code="unknown_candidate")


def objector_contact(objection, secret, sealer=None):
    """The objector's contact in clear (staff only)."""
    sealer = sealer or Sealer(secret)
    return {"name": (sealer.open(objection["objector_name_enc"])
                     if objection.get("objector_name_enc") else None),
            "phone": sealer.open(objection["objector_phone_enc"])}


# -- local dates -----------------------------------------------------------------

def local_date_text(moment, tz):
    """2026年12月5日, in local time."""
    local = moment.astimezone(tz)
    return f"{local.year}年{local.month}月{local.day}日"


def local_today(now, tz):
    return now.astimezone(tz).date()


# -- rate limits ---------------------------------------------------------

def rate_window(now, window_seconds):
    """The fixed window ``now`` falls in: (index, window end)."""
    epoch = int(now.timestamp())
    index = epoch // window_seconds
    end = dt.datetime.fromtimestamp((index + 1) * window_seconds,
                                    dt.timezone.utc)
    return index, end


# A window's counter outlives the window's end by this much, so a replica
# whose clock lags a little still finds it; the store's TTL index then
# drops it.
RATE_EXPIRY_GRACE = dt.timedelta(seconds=60)


def rate_slot(key, now, window_seconds):
    """(document id, expires_at) of the shared counter of ``key`` for the
    fixed window ``now`` falls in: one document per key, window length
    and window start, kept until the window is over (plus a grace)."""
    index, end = rate_window(now, window_seconds)
    return f"{key}:{window_seconds}:{index}", end + RATE_EXPIRY_GRACE


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


def rate_spec(rate):
    """(60, 60) → '60/60', the form a setting takes."""
    return "%d/%d" % rate


def rate_key(secret, scope, value):
    """The key of a rate-limit counter: a keyed hash, so addresses and
    tokens are not kept in clear, not even in memory."""
    digest = hmac.new(secret.encode(), f"{scope}:{value}".encode(),
                      hashlib.sha256).hexdigest()[:32]
    return f"{scope}:{digest}"


def check_rates(counter, secret, now, *, address, token, address_rate,
                token_rate):
    """Count one request against the per-address limit and, when it names
    an invitation token, the per-token limit; 429 past either."""
    count, window = address_rate
    if not counter.hit(rate_key(secret, "addr", address), now, count,
                       window):
        raise TooManyRequests(f"提交过于频繁，请 {window} 秒后再试")
    if token and isinstance(token, str):
        count, window = token_rate
        if not counter.hit(rate_key(secret, "token", token), now, count,
                           window):
            raise TooManyRequests("该链接提交次数过多，请稍后再试")


def client_address(forwarded_for, remote_addr, trust_forwarded):
    """The caller's address; behind one trusted reverse proxy the last
    X-Forwarded-For hop (the one that proxy added)."""
    if trust_forwarded:
        hops = [hop.strip() for hop in (forwarded_for or "").split(",")
                if hop.strip()]
        if hops:
            return hops[-1]
    return remote_addr or "unknown"


class RateCounter:
    """Fixed-window counters kept in process memory: ``hit`` counts one
    request and says whether it is within the limit. No I/O: the caller
    passes ``now``. The rules' tests use it; the service counts in the
    store (``services.feedback.rates.StoreRateCounter``, same ``hit``), so
    that every replica spends one budget.

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


def usable_nonce(nonce):
    """A cookie's nonce is reused only if it looks like one we made."""
    return bool(nonce) and 16 <= len(nonce) <= 64 and nonce.replace(
        "-", "").replace("_", "").isalnum()


def csrf_matches(cookie_nonce, form_nonce):
    """The nonce signed into the form must equal the cookie's."""
    if not cookie_nonce or not form_nonce:
        return False
    return hmac.compare_digest(str(cookie_nonce), str(form_nonce))


def short_ref(identifier):
    """A short reference people can quote (受理编号)."""
    return identifier[:8].upper()
