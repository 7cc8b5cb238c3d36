"""The console's rules, pure (no nameko, no I/O): each role's menu, when a
session ends, and the home page's figures from the services' answers."""

import dataclasses
import datetime as dt
import hashlib

from sifuwu import access

# The pages (path, title) and who sees each in the menu. A page checks the
# role again, and the services' own policies decide what the data holds.
PAGES = {
    "home": ("/", "首页"),
    "activities": ("/activities", "服务活动"),
    "demands": ("/demands", "诉求办理"),
}
MENUS = {
    access.COMMITTEE: ("home", "activities", "demands"),
    access.UNIT_STAFF: ("home", "activities", "demands"),
    access.BRANCH_SECRETARY: ("home", "activities", "demands"),
    access.SUPERVISOR: ("home", "activities", "demands"),
    access.OPERATOR: ("home",),
    access.AUDITOR: ("home", "activities", "demands"),
}

# who handles demands from the demands page (activity's policy agrees)
DEMAND_HANDLERS = (access.COMMITTEE, access.SUPERVISOR, access.UNIT_STAFF)

# what a page says after a form (?done=...)
DONE = {"respond": "已响应", "progress": "已开始办理", "resolve": "已办结",
        "transfer": "已转办"}

# the four services (四服务) as people read them
CATEGORY_NAMES = {"enterprise": "服务企业", "project": "服务项目",
                  "grassroots": "服务基层", "masses": "服务群众"}


def local_time(value, tz):
    """An ISO 8601 instant from an API as local ``YYYY-MM-DD HH:MM``."""
    if not value:
        return "—"
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")


SESSION_COOKIE = "sfw_console"
LOGIN_COOKIE = "sfw_console_login"  # ties the login form's token to a browser


@dataclasses.dataclass(frozen=True)
class MenuItem:
    key: str
    path: str
    title: str
    current: bool = False


def menu(role, current=None):
    """The menu of ``role``, the page ``current`` marked."""
    return [MenuItem(key, *PAGES[key], current=key == current)
            for key in MENUS.get(role, ())]


def may_see(role, page):
    return page in MENUS.get(role, ())


def session_key(cookie_value):
    """The stored id of a session: a hash of the cookie, so a copy of the
    sessions collection holds no usable cookie."""
    return hashlib.sha256(cookie_value.encode()).hexdigest()


def session_state(session, now, idle_seconds):
    """'active', 'idle' (no request for ``idle_seconds``) or 'expired' (its
    access token has run out: sign in again)."""
    if session is None:
        return "missing"
    if now >= session["token_expires_at"]:
        return "expired"
    if now - session["last_seen_at"] >= dt.timedelta(seconds=idle_seconds):
        return "idle"
    return "active"


# renew the access token when this little of it is left (seconds)
RENEW_MARGIN = 300


def needs_renewal(session, now):
    return session["token_expires_at"] - now < dt.timedelta(
        seconds=RENEW_MARGIN)


ENDED = {"idle": "长时间未操作，已自动退出，请重新登录",
         "expired": "登录已过期，请重新登录",
         "missing": "请先登录"}


def scope_title(session):
    """Who the signed-in person is, as the header says it."""
    title = access.ROLE_TITLES[session["role"]]
    where = session.get("unit_id") if session["role"] == access.UNIT_STAFF \
        else session.get("branch_id") \
        if session["role"] == access.BRANCH_SECRETARY else None
    return f"{title}（{where}）" if where else title


def month_of(now, tz):
    return now.astimezone(tz).strftime("%Y-%m")


def month_start(now, tz):
    """The first instant of ``now``'s month in ``tz`` (ISO 8601)."""
    local = now.astimezone(tz)
    return local.replace(day=1, hour=0, minute=0, second=0,
                         microsecond=0).isoformat()


def figures(answers):
    """The home page's key figures from the services' answers, each
    ``(title, value, note)``; a figure whose source refused or failed shows
    ``—`` with why."""
    def value(name, pick):
        answer = answers.get(name)
        if answer is None:
            return None
        status, body = answer
        if status != 200:
            return f"无权查看（{status}）" if status in (401, 403) \
                else f"暂不可用（{status}）"
        return pick(body)
    rows = [
        ("本月服务活动", value("activities", lambda b: b.get("total")), "条"),
        ("新受理的诉求", value("demands_received", lambda b: b.get("total")),
         "件"),
        ("办理中的诉求", value("demands_in_progress",
                         lambda b: b.get("total")), "件"),
        ("逾期诉求", value("demands_overdue", lambda b: b.get("total")), "件"),
        ("待整改的差评", value("rectifications",
                         lambda b: b.get("count")), "件"),
    ]
    return [(title, v, unit) for title, v, unit in rows if v is not None]
