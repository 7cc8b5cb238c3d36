"""The whole story (全流程演示) on a generated city, through the public
interfaces only: HTTP and AMQP ingest, the staff APIs, rating links taken
where the recipients' phones get them (the embedded stack's SMS stand-ins;
notify's messages API shows staff each SMS with its link redacted), the
judges' credential links, the public publicity board.

``Story(urls, ...).run()`` returns a dict of everything it saw and counted;
``generate(city, ...)`` is the pure part (the events other systems send)."""

import dataclasses
import datetime as dt
import hashlib
import json
import random
import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import requests

from tooling.citygen import City
from tooling.peers import Inbox
from tooling.login import Login, create_account
from tooling.stack import ROOT, sms_controls_for, staff_login_for

NO_STAFF_LOGIN = ("演示需要一个工委账户：嵌入式栈会自动创建（见 .sifuwu/"
                  "identity-bootstrap.txt）；其他栈请以 staff= 传入 Login")
INGEST_TOKEN = "demo-token"
SOURCE = "demo"
CAMPAIGN_ID = "c-wanren-wanqi-2026"
YEAR = 2026
TZ = dt.timezone(dt.timedelta(hours=8))
CATEGORIES = ("enterprise", "project", "grassroots", "masses")
CATEGORY_NAMES = {"enterprise": "服务企业", "project": "服务项目",
                  "grassroots": "服务基层", "masses": "服务群众"}
KINDS = ("visit", "survey", "coordination", "briefing", "errand")
KIND_NAMES = {"visit": "走访", "survey": "调研", "coordination": "协调会",
              "briefing": "政策宣讲", "errand": "帮办代办"}
ROLES = ("informer", "researcher", "coordinator", "server")
DEMAND_TITLES = {
    "enterprise": ("扩产用地指标咨询", "高新技术企业认定辅导", "用工招聘对接",
                   "融资担保政策咨询", "出口退税进度"),
    "project": ("施工许可并联审批", "管线迁改协调", "征拆遗留问题",
                "配套道路接驳"),
    "grassroots": ("社区活动场地改造", "老旧小区加装电梯", "网格员配备"),
    "masses": ("路灯不亮", "小区噪音扰民", "公交站点增设", "医保报销咨询",
               "学位申请咨询"),
}
HOTLINE_TITLES = ("路面坑洼影响通行", "夜间施工噪音", "垃圾清运不及时",
                  "占道经营", "供暖不热", "公园设施损坏")
COMMENTS = {5: ("服务热情，问题解决及时。", "上门服务很贴心，点赞！",
                "政策讲得清楚，手续一次办好。"),
            4: ("总体满意，办理效率还可以。", "沟通顺畅，希望继续跟进。"),
            3: ("基本解决了，但等的时间有点长。", "还行，后续还要再看看。"),
            2: ("反映的问题拖了很久没人管。", "答复敷衍，问题没有解决。"),
            1: ("态度差，问题没解决，非常不满意。",)}
STRATA = {"people_deputy": 2, "expert": 3, "recipient": 2}
STRATUM_NAMES = {"people_deputy": "人大代表/政协委员", "expert": "专家学者",
                 "recipient": "服务对象代表"}
AWARD_NAMES = {"four_services_branch": "“四服务”先进党支部",
               "four_services_member": "“四服务”先进党员"}


class StoryError(RuntimeError):
    pass


NO_SMS_STANDIN = (
    "评价链接只发到服务对象的手机，通知服务的消息接口只显示脱敏后的链接："
    "本演示需要嵌入式栈的本地短信网关（./run up 或 ./run demo 启动的短信对端）"
    "来读取服务对象收到的短信。compose 栈以投递日志作为短信网关，没有可读取的"
    "短信对端，请改用嵌入式栈运行演示。")


def poll(fetch, ready, timeout=30, what="结果", interval=0.2):
    """``fetch()`` until ``ready(value)``; ``StoryError`` after
    ``timeout`` seconds, naming what was awaited and the last value."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = fetch()
        if ready(value):
            return value
        time.sleep(interval)
    raise StoryError(f"等待{what}超时（{timeout} 秒）：{str(value)[:300]}")


def at(day, hour=10, minute=0):
    """A Beijing-time ISO moment on ``day`` (a date)."""
    return dt.datetime(day.year, day.month, day.day, hour, minute,
                       tzinfo=TZ).isoformat()


def envelope(event_id, kind, data, occurred_at):
    return {"event_id": event_id, "type": kind, "source": SOURCE,
            "occurred_at": occurred_at, "data": data}


# -- the generated year (pure) -------------------------------------------------

@dataclasses.dataclass
class Year:
    """What the other systems send, and what the story expects to see."""

    city: City
    directory: list
    activities: list          # activity.service envelopes (HTTP)
    party: list               # activity.party envelopes (HTTP)
    kpis: list                # kpi.business envelopes (HTTP)
    demands_http: list        # demand.raised + demand.updated (HTTP)
    demands_amqp: list        # the 12345 hotline's, over AMQP
    hotline_updates: list     # its handling, reported afterwards (HTTP)
    recent: list              # demand ids staff respond/resolve now
    overdue: list             # demand ids left overdue (escalate)
    activity_count: Counter   # per member: service activities led
    invitations: int          # expected rating invitations (phones)
    demand_outcomes: Counter
    months: list

    @property
    def total_events(self):
        return (len(self.directory) + len(self.activities) + len(self.party)
                + len(self.kpis) + len(self.demands_http)
                + len(self.demands_amqp) + len(self.hotline_updates))


def generate(city, *, today, activities_per_member=1.5, seed=2026,
             party_months=(3, 6, 9)):
    """A year of events for ``city`` up to ``today`` (a date)."""
    rng = random.Random(seed * 7 + 1)
    start = dt.date(YEAR, 1, 5)
    end = today - dt.timedelta(days=1)
    months = [f"{YEAR}-{m:02d}" for m in range(1, end.month + 1)]
    first = at(dt.date(YEAR, 1, 2), 9)

    def day_between(lo, hi):
        while True:
            day = lo + dt.timedelta(days=rng.randrange(max(1, (hi - lo).days)))
            if day.weekday() < 5:
                return day

    directory = []
    seq = Counter()

    def add_dir(kind, key, data):
        seq[kind] += 1
        directory.append(envelope(f"dir-{kind}-{key}", f"directory.{kind}",
                                  data, first))

    leaders = {}
    for unit in city.units:
        leaders[unit["id"]] = f"{unit['id']}-b01-m001"
        add_dir("unit", unit["id"], {
            "unit_id": unit["id"], "name": unit["name"],
            "short_name": unit["name"].removeprefix("市")[:6],
            "leader_member_id": leaders[unit["id"]]})
    for division in city.divisions:
        add_dir("division", division["id"], {
            "division_id": division["id"], "unit_id": division["unit_id"],
            "name": division["name"]})
    for branch in city.branches:
        add_dir("branch", branch["id"], {
            "branch_id": branch["id"], "unit_id": branch["unit_id"],
            "name": branch["name"],
            "secretary_member_id": branch["secretary_id"]})
    members_by_branch = defaultdict(list)
    for member in city.members:
        members_by_branch[member["branch_id"]].append(member)
        roles = ["member"]
        if member["role"] == "branch_secretary":
            roles.append("branch_secretary")
        if leaders[member["unit_id"]] == member["id"]:
            roles.append("unit_leader")
        add_dir("member", member["id"], {
            "member_id": member["id"], "name": member["name"],
            "unit_id": member["unit_id"], "branch_id": member["branch_id"],
            "division_id": member["division_id"], "roles": roles,
            "phone": member["phone"]})
    recipients = {c: city.recipients_for(c) for c in CATEGORIES}
    # About a quarter of the recipients left no mobile number: their
    # activities are logged but nobody can be invited to rate them.
    reachable = set()
    for category, items in recipients.items():
        for item in items:
            record = {"recipient_id": item["id"], "type": item["type"],
                      "name": item["name"]}
            if rng.random() < 0.75:
                record["phone"] = item["phone"]
                reachable.add(item["id"])
            add_dir("recipient", item["id"], record)

    # Units differ: a few excel, a few lag (a believable spread).
    unit_zeal = {u["id"]: rng.choice((0.6, 0.9, 1.0, 1.0, 1.2, 1.5))
                 for u in city.units}
    activities, activity_count, invitations = [], Counter(), 0
    demands_http, demands_amqp, hotline_updates = [], [], []
    outcome = Counter()
    recent, overdue = [], []
    n = 0

    def demand_updates(demand_id, raised, fate, prefix):
        """Historic handling reported by the source system."""
        events = []
        if fate == "on_time":
            steps = [("respond", raised + dt.timedelta(hours=3)),
                     ("resolve", raised + dt.timedelta(days=3, hours=2))]
        else:  # late
            steps = [("respond", raised + dt.timedelta(days=5)),
                     ("resolve", raised + dt.timedelta(days=16))]
        for action, moment in steps:
            events.append(envelope(
                f"{prefix}-{demand_id}-{action}", "demand.updated",
                {"demand_id": demand_id, "action": action,
                 "note": "已联系诉求人" if action == "respond"
                 else "已办结并回复诉求人", "at": moment.isoformat()},
                moment.isoformat()))
        return events

    def fate_for(raised_day):
        age = (today - raised_day).days
        if age <= 4:
            return "recent"
        if age < 20:
            return "on_time"
        roll = rng.random()
        if age >= 20 and roll < 0.06:
            return "overdue"
        if roll < 0.26:
            return "late"
        return "on_time"

    for member in city.members:
        zeal = unit_zeal[member["unit_id"]]
        count = int(activities_per_member * zeal + rng.random())
        for _ in range(count):
            n += 1
            category = rng.choices(CATEGORIES, (5, 2, 2, 3))[0]
            recipient = rng.choice(recipients[category])
            day = day_between(start, end)
            kind = rng.choice(KINDS)
            with_phone = recipient["id"] in reachable
            activity_id = f"act-{n:06d}"
            data = {
                "activity_id": activity_id, "category": category,
                "kind": kind, "roles": rng.sample(ROLES, rng.randint(1, 2)),
                "member_id": member["id"], "unit_id": member["unit_id"],
                "branch_id": member["branch_id"],
                "recipient": {"id": recipient["id"],
                              "type": recipient["type"],
                              "name": recipient["name"]},
                "occurred_at": at(day, rng.randint(9, 16), rng.choice(
                    (0, 15, 30, 45))),
                "place": recipient["name"],
                "summary": f"{CATEGORY_NAMES[category]}·{KIND_NAMES[kind]}："
                           f"{recipient['name']}",
            }
            if category == "enterprise":
                data["campaign_id"] = CAMPAIGN_ID
            if with_phone:
                data["recipient"]["phone"] = recipient["phone"]
                invitations += 1
            if rng.random() < 0.08:
                demand_id = f"dm-{n:06d}"
                data["demands"] = [{
                    "demand_id": demand_id, "category": category,
                    "title": rng.choice(DEMAND_TITLES[category])}]
                raised = dt.datetime.fromisoformat(data["occurred_at"])
                fate = fate_for(day)
                outcome[fate] += 1
                if with_phone and fate != "overdue":
                    invitations += 1  # the recipient, as raiser, once resolved
                if fate in ("on_time", "late"):
                    demands_http.extend(demand_updates(demand_id, raised,
                                                       fate, "upd"))
                elif fate == "recent":
                    recent.append(demand_id)
                else:
                    overdue.append(demand_id)
            activity_count[member["id"]] += 1
            activities.append(envelope(f"ev-{activity_id}",
                                       "activity.service", data,
                                       data["occurred_at"]))

    # The 12345 hotline's demands (AMQP): citizens with a phone.
    hotline_count = max(4, round(len(city.members) * 0.05))
    for i in range(hotline_count):
        citizen = rng.choice(city.citizens)
        unit = rng.choice(city.units)
        day = day_between(start, end)
        raised = dt.datetime(day.year, day.month, day.day,
                             rng.randint(8, 17), rng.randint(0, 59), tzinfo=TZ)
        if i < 2:  # the last days' calls, handled by staff during the demo
            raised = dt.datetime.combine(today - dt.timedelta(days=1),
                                         dt.time(10, 0), TZ)
        demand_id = f"hl-{i + 1:05d}"
        demands_amqp.append(envelope(f"hotline-{demand_id}", "demand.raised", {
            "demand_id": demand_id, "category": "masses",
            "title": rng.choice(HOTLINE_TITLES),
            "description": "市民来电反映，请首接单位核实处理。",
            "owner_unit_id": unit["id"],
            "raiser": {"name": citizen["name"], "phone": citizen["phone"]},
            "raised_at": raised.isoformat(), "channel": "12345"},
            raised.isoformat()))
        fate = fate_for(raised.date())
        outcome[fate] += 1
        if fate in ("on_time", "late"):
            hotline_updates.extend(demand_updates(demand_id, raised, fate,
                                                  "hotline-upd"))
        elif fate == "recent":
            recent.append(demand_id)
        else:
            overdue.append(demand_id)
    # Resolved demands with a raiser phone invite the raiser too; demands
    # raised in activities have no raiser here (the activity is rated).
    invitations += sum(1 for e in hotline_updates
                       if e["data"]["action"] == "resolve")
    invitations += sum(1 for d in recent if d.startswith("hl-"))

    # Party-building (三会一课, 主题党日): monthly per branch.
    party = []
    sessions = ("general_meeting", "committee_meeting", "group_meeting",
                "party_lesson")
    for branch in city.branches:
        roster = [m["id"] for m in members_by_branch[branch["id"]]]
        diligence = rng.choice((0.75, 0.85, 0.9, 0.95, 1.0))
        for month in [m for m in party_months if m <= end.month]:
            for kind in ("three_meetings_one_lesson", "theme_day"):
                if rng.random() > diligence:
                    continue
                day = dt.date(YEAR, month, rng.randint(1, 26))
                if day >= today:
                    continue
                attendees = [m for m in roster if rng.random() < diligence]
                activity_id = f"pa-{branch['id']}-{month:02d}-{kind[:5]}"
                data = {"activity_id": activity_id, "kind": kind,
                        "branch_id": branch["id"],
                        "unit_id": branch["unit_id"],
                        "title": (f"{month}月主题党日" if kind == "theme_day"
                                  else f"{month}月{('党员大会', '支委会', '党小组会', '党课')[month % 4]}"),
                        "occurred_at": at(day, 15),
                        "attendees": attendees or roster[:1],
                        "expected": roster}
                if kind == "three_meetings_one_lesson":
                    data["session"] = sessions[month % 4]
                party.append(envelope(f"ev-{activity_id}", "activity.party",
                                      data, data["occurred_at"]))

    # Business KPIs per unit and month.
    kpis = []
    for unit in city.units:
        base = rng.uniform(70, 95)
        for month in months:
            value = round(min(100, base + rng.uniform(-6, 6)), 1)
            kpis.append(envelope(f"kpi-{unit['id']}-{month}", "kpi.business", {
                "subject_type": "unit", "subject_id": unit["id"],
                "period": month, "indicator": "task_completion",
                "value": value, "unit_of_measure": "%"},
                # reported on the 28th, or yesterday for the month under way
                # (ingest refuses a time in the future)
                at(min(dt.date(int(month[:4]), int(month[5:]), 28), end), 18)))

    return Year(city, directory, activities, party, kpis, demands_http,
                demands_amqp, hotline_updates, recent, overdue, activity_count, invitations,
                outcome, months)


# -- running it against the stack ---------------------------------------------

LINK = re.compile(r"https?://\S+/f/([\w.\-]+)")
RATING_WEIGHTS = {5: 52, 4: 30, 3: 11, 2: 4, 1: 3}


class Story:
    """Runs the story; ``progress(text)`` reports steps, ``bar`` (optional)
    is a rich Progress for long phases."""

    def __init__(self, urls, *, amqp_uri=None, scale=1.0, seed=2026,
                 activities_per_member=1.5, stack=None, management=None,
                 console=None, restore_clock=True, today=None, workers=4,
                 sms=None, staff=None):
        self.urls = urls
        # the 工委 account staff calls go out as (a tooling.login.Login;
        # None: the first account of the embedded stack serving ``urls``)
        self._committee = staff
        self._reviewer = None
        # the SMS stand-ins' control URLs (None: those of ``stack``, or of
        # the embedded stack serving ``urls``)
        self.sms = sms
        self.amqp_uri = amqp_uri
        self.scale = scale
        self.seed = seed
        self.activities_per_member = activities_per_member
        self.stack = stack
        self.management = management
        self.console = console
        self.restore_clock = restore_clock
        self.today = today or dt.datetime.now(TZ).date()
        self.workers = workers
        self.http = requests.Session()
        self.rng = random.Random(seed)
        self.seen = {"timings": {}}
        self.progress_bar = None
        self.shifted = set()  # services restarted with a moved clock

    # -- plumbing ---------------------------------------------------------------

    def say(self, text):
        if self.console is not None:
            self.console.log(text)

    def call(self, method, service, path, expect=(200, 201), **kwargs):
        kwargs.setdefault("timeout", 120)
        response = self.http.request(method, self.urls[service] + path,
                                     **kwargs)
        if response.status_code not in expect:
            raise StoryError(f"{method} {service}{path}: HTTP "
                             f"{response.status_code} {response.text[:400]}")
        return response.json() if "json" in response.headers.get(
            "Content-Type", "") else response

    def staff(self, method, service, path, **kwargs):
        return self.call(method, service, path, headers=self.committee,
                         **kwargs)

    @property
    def committee(self):
        if self._committee is None:
            self._committee = staff_login_for(self.urls) if self.stack is None \
                else self.stack.committee_login()
            if self._committee is None:
                raise StoryError(NO_STAFF_LOGIN)
        return self._committee

    def reviewer(self):
        """A second 工委 account, made for this story: appeals are decided
        by someone other than who filed them."""
        if self._reviewer is None:
            import secrets
            name = f"jw-shenhe-{secrets.token_hex(3)}"
            password = secrets.token_urlsafe(18)
            _, totp = create_account(self.committee, self.urls["identity"],
                                     name, "committee", password)
            self._reviewer = Login(self.urls["identity"], name, password, totp)
        return self._reviewer

    def poll(self, fetch, ready, timeout=120, what="结果", interval=0.5):
        return poll(fetch, ready, timeout=timeout, what=what,
                    interval=interval)

    def phase(self, name):
        return _Phase(self, name)

    def bar(self, description, total):
        return _Bar(self, description, total)

    def backlog(self):
        """Messages waiting or in flight in the broker (None: unknown)."""
        if not self.management:
            return None
        try:
            queues = requests.get(self.management + "/api/queues",
                                  auth=("guest", "guest"), timeout=10).json()
        except (requests.RequestException, ValueError):
            return None
        return sum((q.get("messages") or 0) for q in queues
                   if not q["name"].endswith(("rejected", "dead-letters"))
                   and not q["name"].startswith("amq."))

    def settle(self, what, timeout=600):
        """Wait until the services have consumed what is in the broker."""
        if not self.management:
            time.sleep(3)
            return
        quiet, started = 0, time.monotonic()
        with self.bar(f"等待{what}处理完毕", None) as bar:
            while quiet < 3:
                depth = self.backlog()
                bar.update(f"等待{what}处理完毕（队列积压 {depth} 条）")
                quiet = quiet + 1 if depth == 0 else 0
                if time.monotonic() - started > timeout:
                    raise StoryError(f"等待{what}处理超时，积压 {depth} 条")
                time.sleep(0.4 if depth == 0 else 1.0)

    # -- the story ----------------------------------------------------------------

    def sms_controls(self):
        if self.sms is not None:
            return list(self.sms)
        if self.stack is not None and self.stack.sms_controls():
            return self.stack.sms_controls()
        return sms_controls_for(self.urls)

    def run(self):
        started = time.monotonic()
        controls = self.sms_controls()
        if not controls:
            raise StoryError(NO_SMS_STANDIN)
        # only this story's messages count (a stack may have served others)
        self.messages_since = dt.datetime.now(dt.timezone.utc).isoformat()
        self.inbox = Inbox(controls)
        self.inbox.skip()        # what the phones got before this story
        self.unmatched = {}      # message id → link, not yet in the API
        with self.phase("生成虚构城市与全年数据"):
            city = City.generate(self.seed, self.scale)
            year = generate(city, today=self.today, seed=self.seed,
                            activities_per_member=self.activities_per_member)
            self.city, self.year = city, year
            self.seen["city"] = {
                "units": len(city.units), "divisions": len(city.divisions),
                "branches": len(city.branches), "members": len(city.members),
                "enterprises": len(city.enterprises),
                "projects": len(city.projects),
                "communities": len(city.communities),
                "citizens": len(city.citizens)}
            self.seen["events"] = {
                "directory": len(year.directory),
                "activities": len(year.activities),
                "party": len(year.party), "kpis": len(year.kpis),
                "demand_updates_http": len(year.demands_http),
                "hotline_amqp": len(year.demands_amqp),
                "hotline_updates_http": len(year.hotline_updates),
                "total": year.total_events}
            self.say(f"虚构城市：{len(city.units)} 个单位、{len(city.branches)} 个"
                     f"党支部、{len(city.members)} 名党员、{len(city.enterprises)} "
                     f"家企业；全年事件 {year.total_events} 条")
        with self.phase("1 其他系统报送目录与全年事件"):
            self.contacts()
            self.campaign()
            self.ingest(year)
        with self.phase("1 诉求：干部办理近期诉求，逾期诉求逐级督办"):
            self.demands(year)
        with self.phase("2 服务对象通过短信链接评价"):
            self.ratings(year)
        with self.phase("2 差评整改、回访、复评与申诉"):
            self.rectifications()
        with self.phase("3 综合考评：积分卡、三率、排名、支部阶梯"):
            self.assessment(year)
        with self.phase("4 开门评选"):
            self.selection()
        with self.phase("5 通知统计"):
            self.notifications()
        with self.phase("6 分角色登录：每个角色看到什么"):
            self.roles()
        self.seen["elapsed"] = round(time.monotonic() - started, 1)
        return self.seen

    # -- 1: directory, campaign, events ----------------------------------------------

    def contacts(self):
        """Units' duty phones, emails and WeChat openids for notify (the
        directory carries members' phones only)."""
        for unit in self.city.units:
            digest = hashlib.sha1(unit["id"].encode()).hexdigest()
            self.staff("PUT", "notify", f"/api/v1/contacts/unit/{unit['id']}",
                       json={"name": unit["name"] + "值班室",
                             "phone": "1" + str(50 + int(digest[:2], 16) % 40)
                             + str(int(digest[2:10], 16))[:8].rjust(8, "0"),
                             "email": f"duty-{unit['id']}@example.gov.cn",
                             "wechat_openid": f"oDemo{digest[:20]}"})

    def campaign(self):
        body = {"campaign_id": CAMPAIGN_ID, "title": "2026年“万人进万企”活动",
                "starts_on": f"{YEAR}-01-01", "ends_on": f"{YEAR}-12-31",
                "unit_ids": [u["id"] for u in self.city.units],
                "target": {"per_member": 1, "category": "enterprise"}}
        response = self.http.post(self.urls["activity"] + "/api/v1/campaigns",
                                  json=body, headers=self.committee,
                                  timeout=30)
        if response.status_code not in (200, 201, 409):
            raise StoryError(f"设立主题活动失败：{response.status_code} "
                             f"{response.text[:300]}")

    def ingest(self, year):
        groups = [("目录（单位、处室、支部、党员、服务对象）", year.directory),
                  ("服务活动", year.activities), ("党建活动", year.party),
                  ("业务指标", year.kpis), ("诉求办理进展", year.demands_http)]
        counts = Counter()
        t0 = time.monotonic()
        total = sum(len(g) for _, g in groups)
        with self.bar("HTTP 批量报送", total) as bar:
            for label, events in groups:
                bar.update(f"HTTP 批量报送 · {label}")
                for i in range(0, len(events), 1000):
                    chunk = events[i:i + 1000]
                    answer = self.call(
                        "POST", "activity", "/api/v1/events:batch",
                        json={"events": chunk},
                        headers={"Authorization": f"Bearer {INGEST_TOKEN}"},
                        timeout=600)
                    counts["accepted"] += answer["accepted"]
                    counts["duplicate"] += answer["duplicate"]
                    if answer["rejected"]:
                        bad = next(r for r in answer["results"]
                                   if r["status"] == "rejected")
                        raise StoryError(f"报送被拒收：{json.dumps(bad, ensure_ascii=False)[:500]}")
                    bar.advance(len(chunk))
        http_seconds = time.monotonic() - t0
        self.seen["ingest"] = {"http": dict(counts),
                               "http_seconds": round(http_seconds, 1),
                               "amqp": 0}
        if year.demands_amqp:
            self.publish_amqp(year.demands_amqp)
            self.settle("热线诉求")
            self.call("POST", "activity", "/api/v1/events:batch",
                      json={"events": year.hotline_updates},
                      headers={"Authorization": f"Bearer {INGEST_TOKEN}"},
                      timeout=600)
        self.say(f"HTTP 报送 {total} 条（受理 {counts['accepted']}，重复 "
                 f"{counts['duplicate']}），{total / max(http_seconds, 0.1):.0f} 条/秒；"
                 f"AMQP 报送 12345 热线诉求 {len(year.demands_amqp)} 条")
        self.settle("事件")

    def publish_amqp(self, events):
        from kombu import Connection, Exchange
        from sifuwu import wiring
        if not self.amqp_uri:
            raise StoryError("缺少 AMQP 接入地址（ingest_amqp_uri）")
        exchange = Exchange(wiring.INGEST_EXCHANGE, type="topic",
                            durable=True)
        user = re.match(r"\w+://([^:]+):", self.amqp_uri).group(1)
        with Connection(self.amqp_uri, transport_options={
                "confirm_publish": True}) as conn:
            producer = conn.Producer()
            with self.bar("AMQP 报送 12345 热线诉求", len(events)) as bar:
                for event in events:
                    producer.publish(
                        json.dumps(event, ensure_ascii=False).encode(),
                        exchange=exchange, routing_key=event["type"],
                        delivery_mode=2, content_type="application/json",
                        content_encoding="utf-8", user_id=user, retry=True)
                    bar.advance(1)
        self.seen["ingest"]["amqp"] = len(events)
        last = events[-1]["data"]["demand_id"]
        self.poll(lambda: self.http.get(
            self.urls["activity"] + f"/api/v1/demands/{last}",
            headers=self.committee, timeout=30).status_code,
            lambda status: status == 200, what="AMQP 诉求入库")

    # -- demands ------------------------------------------------------------------

    def demands(self, year):
        handled = 0
        for demand_id in year.recent:
            self.staff("POST", "activity", f"/api/v1/demands/{demand_id}/respond",
                       json={"note": "已电话联系诉求人，正在办理"})
            self.staff("POST", "activity", f"/api/v1/demands/{demand_id}/resolve",
                       json={"note": "已办结，结果已告知诉求人"})
            handled += 1
        self.seen["demands"] = dict(year.demand_outcomes, staff_handled=handled,
                                    overdue_ids=len(year.overdue))
        if year.overdue:
            messages = self.poll(
                lambda: self.staff("GET", "notify", "/api/v1/messages", params={
                    "event": "demand.overdue", "limit": 500,
                    "since": self.messages_since})["items"],
                lambda items: any(m.get("status") == "delivered"
                                  for m in items),
                timeout=120, interval=2, what="逾期督办通知")
            self.seen["demands"]["overdue_messages"] = len(messages)
        self.say(f"诉求：按时办结 {year.demand_outcomes['on_time']}、超时办结 "
                 f"{year.demand_outcomes['late']}、干部当场办理 {handled}、"
                 f"逾期督办 {len(year.overdue)}")
        self.settle("诉求")

    # -- 2: ratings -----------------------------------------------------------------

    def sms_links(self, known):
        """Rating links not yet in ``known`` that the recipients' phones got
        (at the SMS stand-ins, only what arrived since the last call), each
        with its invitation as notify's API shows it to staff (recipient
        masked, status, link redacted), in the API's order."""
        for item in self.inbox.new(contains="/f/"):
            request = item.get("json") or {}
            match = LINK.search(request.get("content") or "")
            if match and match.group(0) not in known:
                self.unmatched[request.get("reference")] = match
        found = []
        if not self.unmatched:
            return found
        for message in self.invitation_messages():
            match = self.unmatched.pop(message.get("id"), None)
            if match is not None and match.group(0) not in known:
                known.add(match.group(0))
                found.append((match.group(0), match.group(1), message))
            if not self.unmatched:
                return found
        # every invitation of this story is listed before it is sent: the
        # rest are no invitations of this story
        self.unmatched.clear()
        return found

    def invitations_in_flight(self):
        """Whether an invitation of this story is still to be sent."""
        return any(self.staff("GET", "notify", "/api/v1/messages", params={
            "event": "invitation.issued", "status": status, "limit": 1,
            "since": self.messages_since})["items"]
            for status in ("created", "sending", "temporary-failure"))

    def invitation_messages(self):
        """This story's invitation SMS in notify's messages API, newest
        first, page by page."""
        until = None
        while True:
            params = {"event": "invitation.issued", "limit": 500,
                      "since": self.messages_since}
            if until:
                params["until"] = until
            items = self.staff("GET", "notify", "/api/v1/messages",
                               params=params)["items"]
            yield from items
            if len(items) < 500:
                return
            # Messages written in one batch share a timestamp, and "until"
            # is exclusive: the next page starts just after the oldest
            # timestamp seen, so none at that boundary is skipped (repeats
            # are in ``known``).
            oldest = dt.datetime.fromisoformat(
                min(m["created_at"] for m in items))
            nxt = (oldest + dt.timedelta(milliseconds=1)).isoformat()
            if until == nxt:
                return
            until = nxt

    def ratings(self, year):
        known = set()
        links = []
        with self.bar("收集评价邀请短信", year.invitations) as bar:
            def fetch():
                links.extend(self.sms_links(known))
                bar.set(len(links))
                return len(links)
            self.poll(fetch, lambda n: n >= year.invitations, timeout=600,
                      interval=2, what="评价邀请短信")
        self.known_links = known
        self.seen["invitations"] = len(links)
        self.seen["invitation_statuses"] = dict(Counter(
            m.get("status") for _, _, m in links))
        in_story_order(links)
        rng = self.rng
        plan = []
        for link, token, message in links:
            if rng.random() < 0.9:  # one in ten does not answer
                plan.append((link, token, rng.choices(
                    list(RATING_WEIGHTS), list(RATING_WEIGHTS.values()))[0]))
        results = self.rate_all(plan, "服务对象评价")
        self.seen["ratings"] = {
            "submitted": len(results),
            "distribution": dict(Counter(r["rating"] for r in results)),
            "bad": sum(1 for r in results if r["bad"]),
            "by_subject": dict(Counter(r["subject_type"] for r in results))}
        self.bad_ratings = [r for r in results if r["bad"]]
        self.say(f"评价邀请短信 {len(links)} 条，收到评价 {len(results)} 条，"
                 f"差评 {self.seen['ratings']['bad']} 条")
        self.settle("评价")

    def rate_all(self, plan, what):
        from concurrent.futures import ThreadPoolExecutor

        # The first one goes through the phone page (form + CSRF), as a
        # recipient on a phone would; the rest through the JSON API.
        results = []
        if plan:
            link, token, _ = plan[0]
            plan[0] = (link, token, 5)
            results.append(self.rate_by_form(link, token, 5))
        with self.bar(what, len(plan)) as bar:
            bar.advance(len(results))

            def one(item):
                link, token, rating = item
                session = phone_session(token)
                response = session.post(
                    self.urls["feedback"] + "/api/v1/feedback", json={
                        "token": token, "rating": rating,
                        "comment": random.Random(token).choice(
                            COMMENTS[rating])}, timeout=120)
                if response.status_code != 201:
                    raise StoryError(f"评价提交失败：{response.status_code} "
                                     f"{response.text[:300]}")
                return response.json()

            with ThreadPoolExecutor(self.workers) as pool:
                for result in pool.map(one, plan[1:]):
                    results.append(result)
                    bar.advance(1)
        return results

    def rate_by_form(self, link, token, rating):
        browser = phone_session(token)
        page = browser.get(link, timeout=30)
        csrf = re.search(r'name="csrf" value="([^"]*)"', page.text)
        data = {"rating": str(rating), "comment": COMMENTS[rating][0]}
        if csrf:
            data["csrf"] = csrf.group(1)
        answer = browser.post(link, data=data, timeout=30)
        if answer.status_code != 200 or "感谢" not in answer.text:
            raise StoryError(f"评价页面提交失败：{answer.status_code}")
        return {"rating": rating, "bad": rating <= 2, "id": None,
                "subject_type": "activity", "via": "form"}

    # -- 2: rectifications, re-rating, appeals -------------------------------------------

    def rectifications(self):
        expected = len(self.bad_ratings)
        opened = self.poll(
            lambda: self.staff("GET", "feedback", "/api/v1/rectifications",
                               params={"status": "open", "limit": 500})["items"],
            lambda items: len(items) >= min(expected, 500), timeout=120,
            what="整改单")
        appeals = []
        appealable = [r for r in self.bad_ratings if r.get("id")][:2]
        for index, rating in enumerate(appealable):
            appeal = self.staff(
                "POST", "feedback", f"/api/v1/ratings/{rating['id']}/appeals",
                json={"reason": "经核实，评价人反映的事项不属于本单位职责，且已向评价人说明。"
                      if index == 0 else "评价人对办理结果有误解，申请复核。"})
            decided = self.http.post(
                self.urls["feedback"] + f"/api/v1/appeals/{appeal['id']}/decision",
                headers=self.reviewer(), timeout=60,
                json={"upheld": index == 0,
                      "reason": "申诉成立，该评价不计入考评。" if index == 0
                      else "申诉不成立，评价有效，请继续整改。"})
            if decided.status_code != 200:
                raise StoryError(f"申诉裁决失败：{decided.status_code} "
                                 f"{decided.text[:200]}")
            decided = decided.json()
            appeals.append({"upheld": index == 0,
                            "status": decided.get("status")})
        closed = 0
        remaining = self.staff("GET", "feedback", "/api/v1/rectifications",
                               params={"status": "open", "limit": 500})["items"]
        voided = len(opened) - len(remaining)
        while remaining:
            with self.bar("整改：回访并销号", len(remaining)) as bar:
                for rect in remaining:
                    rect_id = rect["id"]
                    self.staff("GET", "feedback",
                               f"/api/v1/rectifications/{rect_id}")
                    self.staff("POST", "feedback",
                               f"/api/v1/rectifications/{rect_id}/callback",
                               json={"note": "已电话回访评价人，了解具体诉求并致歉。"})
                    self.staff("POST", "feedback",
                               f"/api/v1/rectifications/{rect_id}/close",
                               json={"outcome": "问题已整改到位，并向评价人反馈整改结果。"})
                    closed += 1
                    bar.advance(1)
            remaining = self.staff("GET", "feedback", "/api/v1/rectifications",
                                   params={"status": "open",
                                           "limit": 500})["items"]
        self.settle("整改")
        # Reviewers re-rate the fix through the new SMS link.
        links = self.poll(lambda: self.sms_links(self.known_links),
                          lambda found: len(found) > 0 or closed == 0,
                          timeout=120, interval=2, what="复评邀请短信")
        extra = self.sms_links(self.known_links)
        links = links + extra
        while len(links) < closed:
            time.sleep(1)
            more = self.sms_links(self.known_links)
            # a link reaches the phone after notify sends it: done when
            # nothing is in the broker and no invitation waits to be sent
            if not more and self.backlog() == 0 \
                    and not self.invitations_in_flight():
                break
            links += more
        in_story_order(links)
        rng = self.rng
        plan = [(link, token, rng.choices((5, 4, 3, 2), (45, 35, 15, 5))[0])
                for link, token, _ in links]
        rerated = self.rate_all(plan, "整改后复评") if plan else []
        self.seen["rectifications"] = {
            "opened": expected, "listed_open": len(opened), "closed": closed,
            "voided_by_appeal": voided,
            "rerated": len(rerated),
            "rerated_satisfied": sum(1 for r in rerated if r["rating"] >= 4),
            "rerated_bad": sum(1 for r in rerated if r["bad"]),
            "rerated_distribution": dict(Counter(r["rating"] for r in rerated)),
            "appeals": appeals}
        self.say(f"差评 {expected} 条全部开出整改单，回访销号 {closed} 件，"
                 f"复评 {len(rerated)} 条（满意 "
                 f"{self.seen['rectifications']['rerated_satisfied']}）；申诉 "
                 f"{len(appeals)} 件（成立 {sum(1 for a in appeals if a['upheld'])}）")
        self.settle("复评")

    # -- 3: the assessment -------------------------------------------------------------

    def assessment(self, year):
        period = str(YEAR)
        boards = {}
        for subject_type in ("unit", "branch", "member"):
            boards[subject_type] = self.staff(
                "GET", "assessment", f"/api/v1/rankings/{period}",
                params={"subject_type": subject_type})
            self.staff("POST", "assessment",
                       f"/api/v1/rankings/{period}/publish",
                       json={"subject_type": subject_type})
        # The ladder moves quarter by quarter (Q4 is not over yet).
        ladder_changes = []
        for quarter in ("Q1", "Q2", "Q3"):
            ladder_changes += self.staff(
                "POST", "assessment",
                f"/api/v1/ladder/{period}-{quarter}/evaluate")["changes"]
        rungs = {}
        for change in ladder_changes:
            rungs[change["branch_id"]] = change["to"]
        for branch in self.city.branches:
            rungs.setdefault(branch["id"], None)
        rates = defaultdict(lambda: Counter())
        names = {}
        monthly = []
        for month in year.months:
            board = self.staff("GET", "assessment", f"/api/v1/rates/{month}")
            month_totals = Counter()
            for row in board["entries"]:
                names[row["subject_id"]] = row["name"]
                acc = rates[row["subject_id"]]
                for key in ("response", "resolution"):
                    if row.get(f"{key}_rate") is not None:
                        acc[key] += row[f"{key}_rate"] * row["demand_count"]
                        acc[key + "_n"] += row["demand_count"]
                if row.get("satisfaction_rate") is not None:
                    acc["satisfaction"] += (row["satisfaction_rate"]
                                            * row["rating_count"])
                    acc["satisfaction_n"] += row["rating_count"]
                month_totals["demands"] += row["demand_count"]
                month_totals["ratings"] += row["rating_count"]
            monthly.append(dict(month_totals, month=month))
        three = []
        for unit_id, acc in rates.items():
            row = {"subject_id": unit_id, "name": names[unit_id]}
            for key in ("response", "resolution", "satisfaction"):
                row[f"{key}_rate"] = (round(acc[key] / acc[key + "_n"], 1)
                                      if acc[key + "_n"] else None)
            row["demand_count"] = acc["response_n"]
            three.append(row)
        three.sort(key=lambda r: -sum(r[k] or 0 for k in (
            "response_rate", "resolution_rate", "satisfaction_rate")))
        charts = {}
        response = self.http.get(
            self.urls["assessment"] + f"/api/v1/charts/rankings/{period}.png",
            params={"subject_type": "unit"}, timeout=120)
        if response.status_code == 200:
            charts["service_ranking"] = response.content
        top = boards["unit"]["entries"][0]["subject_id"] if boards[
            "unit"]["entries"] else None
        if top:
            response = self.http.get(
                self.urls["assessment"]
                + f"/api/v1/charts/trend/unit/{top}.png",
                params={"year": period}, timeout=120)
            if response.status_code == 200:
                charts["service_trend"] = response.content
        self.seen["assessment"] = {
            "period": period, "boards": boards, "ladder": dict(Counter(
                rungs.values())), "ladder_changes": len(ladder_changes),
            "rungs": rungs, "three_rates": three, "monthly": monthly,
            "charts": charts}
        grades = Counter(e["grade"] for e in boards["unit"]["entries"])
        self.say(f"综合考评：{len(boards['unit']['entries'])} 个单位、"
                 f"{len(boards['branch']['entries'])} 个支部、"
                 f"{len(boards['member']['entries'])} 名党员参评；单位等次 "
                 + "、".join(f"{k} {v}" for k, v in grades.items()))

    # -- 4: the selection campaign ---------------------------------------------------------

    def selection(self):
        boards = self.seen["assessment"]["boards"]
        units = {u["id"]: u["name"] for u in self.city.units}
        branch_entries = boards["branch"]["entries"]
        member_entries = boards["member"]["entries"]
        branch_unit = {b["id"]: b["unit_id"] for b in self.city.branches}
        member_unit = {m["id"]: m["unit_id"] for m in self.city.members}
        b_count = min(4, max(2, len(branch_entries) - 1))
        m_count = min(6, max(2, len(member_entries) - 1))
        awards = [{"award": "four_services_branch", "quota": b_count - 1,
                   "candidate_count": b_count},
                  {"award": "four_services_member", "quota": m_count - 1,
                   "candidate_count": m_count}]
        plan = {
            "title": f"{YEAR}年度“四服务”先进评选", "period": str(YEAR),
            "scope": "市直机关各党支部、全体党员",
            "criteria": "以年度综合考评积分为基础，结合评选组现场评分，差额评选。",
            "procedure": "单位推荐→资格审查（互置）→随机抽取评选组→现场评分→公示→确定名单",
            "awards": awards, "panel": {"strata": STRATA},
            "weights": {"panel": 0.6, "scorecard": 0.4}, "trim": 1,
            "publicity_days": 5, "promote_next": True}
        campaign = self.staff("POST", "assessment", "/api/v1/selections",
                              json=plan)
        cid = campaign["campaign_id"]
        candidates = []
        for award, entries, owner, ctype, count in (
                ("four_services_branch", branch_entries, branch_unit,
                 "branch", b_count),
                ("four_services_member", member_entries, member_unit,
                 "member", m_count)):
            for entry in entries[:count]:
                unit_id = owner.get(entry["subject_id"], "u000")
                body = {"candidate_id": entry["subject_id"],
                        "candidate_type": ctype, "name": entry["name"],
                        "unit_id": unit_id, "unit_name": units.get(unit_id, ""),
                        "award": award, "source": "unit",
                        "reason": f"年度综合考评第 {entry['rank']} 名",
                        "scorecard_score": max(0, min(100, entry["total"])),
                        "facts": {"party_building_met": True}}
                self.staff("POST", "assessment",
                           f"/api/v1/selections/{cid}/nominations", json=body)
                candidates.append(body)
        # The evaluator pool (评选人员名单库): deputies, experts, recipients.
        rng = random.Random(self.seed + 99)
        candidate_units = sorted({c["unit_id"] for c in candidates})
        pool = []
        for category, size in (("people_deputy", 6), ("expert", 8),
                               ("recipient", 6)):
            for i in range(size):
                unit_id = (candidate_units[i % len(candidate_units)]
                           if category == "expert" and i < 2
                           else f"ext-{category}")
                person = rng.choice(self.city.citizens)
                pool.append({
                    "evaluator_id": f"ev-{category[:3]}-{i + 1:02d}",
                    "name": person["name"][:1] + rng.choice("建国海燕志明丽华")
                    + rng.choice("伟芳军静强敏"),
                    "category": category, "unit_id": unit_id,
                    "relations": [candidates[0]["candidate_id"]]
                    if category == "recipient" and i == 0 else [],
                    "phone": person["phone"]})
        self.staff("POST", "assessment", f"/api/v1/selections/{cid}/evaluators",
                   json={"evaluators": pool})
        commitment = self.staff("POST", "assessment",
                                f"/api/v1/selections/{cid}/commitment")
        drawn = self.staff("POST", "assessment",
                           f"/api/v1/selections/{cid}/draw")
        revealed = self.staff("POST", "assessment",
                              f"/api/v1/selections/{cid}/reveal")
        export = self.call("GET", "assessment",
                           f"/api/v1/selections/{cid}/draw/export")
        export_path = Path(self.report_dir()) / "draw.json"
        export_path.parent.mkdir(parents=True, exist_ok=True)
        export_path.write_text(json.dumps(export, ensure_ascii=False,
                                          indent=1), encoding="utf-8")
        verify = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "verify_panel.py"),
             str(export_path)], capture_output=True, text=True, timeout=60)
        # Judges score on their phones (credential links).
        seated = [s for s in drawn["panel"] if s.get("judge_url")]
        judge_rng = random.Random(self.seed + 7)
        for index, seat in enumerate(seated):
            token = seat["judge_url"].rsplit("/s/", 1)[1]
            scores = [{"candidate_id": c["candidate_id"],
                       "score": round(min(100, max(60, c["scorecard_score"]
                                                   + judge_rng.uniform(-8, 10))), 1)}
                      for c in candidates]
            if index == 0:  # the phone page form
                page = self.http.get(seat["judge_url"], timeout=30)
                form = {f"score_{s['candidate_id']}": str(s["score"])
                        for s in scores}
                answer = self.http.post(seat["judge_url"], data=form,
                                        timeout=30)
                if answer.status_code != 200 or "评分已提交" not in answer.text:
                    raise StoryError(f"评委手机页面评分失败：{answer.status_code} "
                                     f"{page.status_code}")
            else:
                self.call("POST", "assessment",
                          f"/api/v1/judge/{token}/scores",
                          json={"scores": scores})
        ranking = self.staff("POST", "assessment",
                             f"/api/v1/selections/{cid}/aggregate")["ranking"]
        publicity = self.staff("POST", "assessment",
                               f"/api/v1/selections/{cid}/publicity", json={})
        if not self.await_publicity(publicity):
            raise StoryError("公示期尚未开始且无法调整时钟（栈不由演示启动）："
                             f"公示自 {publicity['starts_on']} 起，届时再演示异议与最终名单")
        # Someone objects on the public board (feedback), staff answer.
        board = self.poll(lambda: self.call("GET", "feedback",
                                            "/api/v1/publicity")["items"],
                          lambda items: any(p["campaign_id"] == cid
                                            for p in items),
                          timeout=60, what="公示栏")
        target = next(p for p in board if p["campaign_id"] == cid)[
            "candidates"][-1]
        objection = self.call("POST", "feedback", "/api/v1/objections", json={
            "campaign_id": cid, "candidate_id": target["candidate_id"],
            "reason": "听说该候选对象今年有一次走访记录补登，请核实是否属实。",
            "name": "匿名群众", "phone": "13800000000"})
        filed = self.poll(lambda: self.staff(
            "GET", "assessment", f"/api/v1/selections/{cid}/objections")[
                "objections"], lambda items: len(items) >= 1, timeout=60,
            what="异议转入评选")
        objection_id = filed[0].get("objection_id") or filed[0].get("_id") \
            or filed[0].get("id")
        answered = self.staff(
            "POST", "assessment",
            f"/api/v1/selections/{cid}/objections/{objection_id}/answer",
            json={"substantiated": False,
                  "answer": "经核实，该走访记录为当日按规定补登，内容真实，异议不成立。"})
        final, simulated = self.finalise(cid, publicity)
        public = self.call("GET", "assessment", f"/api/v1/selections/{cid}")
        audit = self.call("GET", "assessment",
                          f"/api/v1/selections/{cid}/audit/verify")
        names = {e["evaluator_id"]: e for e in pool}
        self.seen["selection"] = {
            "campaign_id": cid, "title": plan["title"], "awards": awards,
            "quota_total": sum(a["quota"] for a in awards),
            "candidates": candidates, "pool_size": len(pool),
            "commitment": _hash_of(commitment.get("commitment")
                                   or public.get("commitment")),
            "seed": public.get("seed") or revealed.get("seed"),
            "panel": [{"evaluator_id": s["evaluator_id"],
                       "name": names[s["evaluator_id"]]["name"],
                       "category": STRATUM_NAMES.get(s["category"],
                                                     s["category"])}
                      for s in seated],
            "excluded": drawn.get("excluded"),
            "verify_ok": verify.returncode == 0,
            "verify_output": (verify.stdout or verify.stderr).strip(),
            "verify_command": (f"curl -o draw.json {self.urls['assessment']}"
                               f"/api/v1/selections/{cid}/draw/export && "
                               "python3 scripts/verify_panel.py draw.json"),
            "export_path": str(export_path),
            "ranking": ranking, "publicity": publicity,
            "objection": {"id": objection.get("ref") or objection.get("id"),
                          "candidate": target["name"],
                          "answered": bool(answered)},
            "final": final, "status": public.get("status"),
            "simulated_days": simulated,
            "chain_head": (public.get("chain_head") or {}).get("hash"),
            "chain_seq": (public.get("chain_head") or {}).get("seq"),
            "audit_valid": audit.get("valid"),
            "audit_message": audit.get("message")}
        self.say(f"评选：{len(candidates)} 名候选对象（差额），评选组 "
                 f"{len(seated)} 人，复核{'通过' if verify.returncode == 0 else '未通过'}；"
                 f"最终名单 {len(final or [])} 个；审计链头 "
                 f"{(self.seen['selection']['chain_head'] or '')[:16]}…")

    def shift_clocks(self, offset, services):
        """Restart ``services`` with their clocks ``offset`` seconds ahead."""
        self.stack.extra_env["SIFUWU_CLOCK_OFFSET_SECONDS"] = str(offset)
        for service in services:
            self.stack.restart_service(service)
            self.shifted.add(service)

    def can_shift_clocks(self):
        return self.stack is not None and bool(
            getattr(self.stack, "processes", {}).get("assessment"))

    def await_publicity(self, publicity):
        """A publicity period opened on a rest day (周末或节假日) starts on the
        next working day: the board shows it and takes objections only then.
        The demo moves the feedback and assessment clocks to 09:00 that day
        (simulated time); False when it cannot (a stack it did not start)."""
        starts_on = dt.date.fromisoformat(publicity["starts_on"])
        now = dt.datetime.now(TZ)
        if starts_on <= now.date():
            return True
        target = dt.datetime.combine(starts_on, dt.time(9, 0), TZ)
        offset = int((target - now).total_seconds())
        if not self.can_shift_clocks():
            return False
        self.say(f"今天不是工作日，公示期自 {starts_on} 起：将评价与考评服务时钟"
                 f"拨快 {round(offset / 86400, 1)} 天（模拟时间，"
                 "SIFUWU_CLOCK_OFFSET_SECONDS）")
        self.settle("公示发布")
        self.shift_clocks(offset, ("feedback", "assessment"))
        return True

    def finalise(self, cid, publicity):
        """Finalising needs the publicity period over: the demo moves the
        assessment service's clock past it (simulated time)."""
        ends_on = dt.date.fromisoformat(publicity["ends_on"])
        target = dt.datetime.combine(ends_on + dt.timedelta(days=1),
                                     dt.time(9, 0), TZ)
        offset = max(0, int((target - dt.datetime.now(TZ)).total_seconds()))
        simulated = None
        if offset and self.can_shift_clocks():
            simulated = round(offset / 86400, 1)
            self.say(f"公示期至 {ends_on}：将考评服务时钟拨快 {simulated} 天"
                     "（模拟时间，SIFUWU_CLOCK_OFFSET_SECONDS）")
            self.settle("公示与异议")
            self.shift_clocks(offset, ("assessment",))
        elif offset:
            self.say("公示期未满且无法调整时钟：名单待公示期满后确定")
            return None, None
        final = self.staff("POST", "assessment",
                           f"/api/v1/selections/{cid}/finalise")["final"]
        if self.shifted and self.restore_clock:
            self.settle("评选结果")
            self.stack.extra_env.pop("SIFUWU_CLOCK_OFFSET_SECONDS", None)
            for service in sorted(self.shifted):
                self.stack.restart_service(service)
            self.shifted.clear()
        return final, simulated

    def report_dir(self):
        return getattr(self, "_report_dir", ROOT / ".sifuwu" / "report")

    # -- 6: roles ----------------------------------------------------------------------------

    def roles(self):
        """Each role signs in at the identity service (accounts made by the
        工委 account for this story) and reads the same three things: the
        activity log, the SMS log (personal data) and the account audit.
        What each sees is the policy table at work."""
        import secrets
        unit = self.city.units[0]
        branch = next(b for b in self.city.branches
                      if b["unit_id"] == unit["id"])
        specs = [("unit_staff", {"unit_id": unit["id"]}),
                 ("branch_secretary", {"unit_id": unit["id"],
                                       "branch_id": branch["id"]}),
                 ("supervisor", {}), ("operator", {}), ("auditor", {})]
        logins = [("committee", self.committee)]
        for role, scope in specs:
            name = f"demo-{role.replace('_', '-')}-{secrets.token_hex(3)}"
            password = secrets.token_urlsafe(18)
            _, totp = create_account(self.committee, self.urls["identity"],
                                     name, role, password, **scope)
            logins.append((role, Login(self.urls["identity"], name, password,
                                       totp)))

        def read(service, path, login, **params):
            response = self.http.get(self.urls[service] + path, headers=login,
                                     params=params, timeout=60)
            if response.status_code != 200:
                return {"refused": response.status_code}
            total = response.json().get("total")
            return {"visible": True} if total is None else {"total": total}

        seen = []
        for role, login in logins:
            seen.append({
                "role": role,
                "activities": read("activity", "/api/v1/activities", login,
                                   per_page=1),
                "messages": read("notify", "/api/v1/messages", login,
                                 limit=1),
                "audit": read("identity", "/api/v1/audit", login)})
        self.seen["access"] = {"unit": unit["name"], "unit_id": unit["id"],
                               "branch": branch["name"]
                               if branch.get("name") else branch["id"],
                               "roles": seen}
        self.say(f"{len(seen)} 个角色已登录，各自所见见小结“分角色访问”")

    # -- 5: notifications --------------------------------------------------------------------

    def notifications(self):
        self.settle("通知")
        stats = self.staff("GET", "notify", "/api/v1/messages/stats")
        by_channel = Counter()
        delivered = Counter()
        for row in stats["items"]:
            by_channel[row["channel"]] += row["total"]
            delivered[row["channel"]] += row["statuses"].get("delivered", 0)
        self.seen["notifications"] = {"stats": stats["items"],
                                      "by_channel": dict(by_channel),
                                      "delivered": dict(delivered)}
        self.say("通知：" + "、".join(f"{k} {delivered[k]}/{v}"
                                    for k, v in sorted(by_channel.items())))


def in_story_order(links):
    """Sort (link, token, message) in an order the seeded story fixes (the
    activity or demand each invitation is about), not the order the SMS
    arrived in: the same seed then rates the same subjects alike."""
    links.sort(key=lambda item: (item[2].get("correlation_id") or "",
                                 item[2].get("channel") or "",
                                 item[2].get("to") or ""))


def _hash_of(commitment):
    return commitment.get("hash") if isinstance(commitment, dict) \
        else commitment


class _SourceAddress(requests.adapters.HTTPAdapter):
    def __init__(self, address):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        return super().init_poolmanager(*args, **kwargs)


def phone_session(token):
    """A recipient's phone: its own loopback address (127.x.y.z), so the
    feedback service's per-address rate limit sees many callers, as it
    would in production. Only for local (127.*) service URLs."""
    digest = hashlib.sha1(token.encode()).digest()
    address = f"127.{digest[0] % 250 + 1}.{digest[1]}.{digest[2] % 250 + 2}"
    session = requests.Session()
    session.mount("http://127.", _SourceAddress(address))
    return session


class _Phase:
    def __init__(self, story, name):
        self.story, self.name = story, name

    def __enter__(self):
        self.started = time.monotonic()
        if self.story.console is not None:
            self.story.console.rule(f"[bold red]{self.name}")
        return self

    def __exit__(self, *exc):
        seconds = round(time.monotonic() - self.started, 1)
        self.story.seen["timings"][self.name] = seconds
        if exc[0] is None:
            self.story.say(f"[green]✓[/green] {self.name}（{seconds} 秒）")
        return False


class _Bar:
    """A rich progress bar when there is a console, else nothing."""

    def __init__(self, story, description, total):
        self.story, self.description, self.total = story, description, total
        self.progress = None

    def __enter__(self):
        console = self.story.console
        if console is not None:
            from rich.progress import (BarColumn, MofNCompleteColumn,
                                       Progress, SpinnerColumn, TextColumn,
                                       TimeElapsedColumn)
            columns = [SpinnerColumn(), TextColumn("{task.description}")]
            if self.total:
                columns += [BarColumn(), MofNCompleteColumn()]
            columns.append(TimeElapsedColumn())
            self.progress = Progress(*columns, console=console,
                                     transient=True)
            self.progress.start()
            self.task = self.progress.add_task(self.description,
                                               total=self.total)
        return self

    def advance(self, n):
        if self.progress:
            self.progress.advance(self.task, n)

    def set(self, n):
        if self.progress:
            self.progress.update(self.task, completed=n)

    def update(self, description):
        if self.progress:
            self.progress.update(self.task, description=description)

    def __exit__(self, *exc):
        if self.progress:
            self.progress.stop()
        return False
