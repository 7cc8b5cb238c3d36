"""Rules of open model selection (开门评选), as plain functions.

No nameko, no store: time, seeds and facts come in as arguments, so every
rule here is unit-tested on its own.

Vocabulary: a ``campaign`` (评选活动) follows a published ``plan`` (评选方案)
with ``awards`` (奖项) and quotas (名额); ``nominations`` (推荐/提名) make
``candidates`` (候选对象); an evaluator ``pool`` (评选人员名单库) gives a
``panel`` (评选组) drawn per ``round`` (轮次); ``scores`` (评分) aggregate to
a ``ranking``; the proposed list goes to ``publicity`` (公示) where
``objections`` (异议) are answered; then the list is ``final`` (确定).
"""

import dataclasses
import hashlib
import json
import statistics

from sifuwu.errors import Conflict, DomainError

# -- awards (奖项) ----------------------------------------------------------

FOUR_SERVICES_BRANCH = "four_services_branch"
FOUR_SERVICES_MEMBER = "four_services_member"
DEMONSTRATION_BRANCH = "demonstration_branch"
MODEL_BRANCH = "model_branch"
EXCELLENT_MEMBER = "excellent_member"

AWARDS = {
    FOUR_SERVICES_BRANCH: {"title": "“四服务”先进党支部", "subject": "branch",
                           "kind": "four_services"},
    FOUR_SERVICES_MEMBER: {"title": "“四服务”先进党员", "subject": "member",
                           "kind": "four_services"},
    DEMONSTRATION_BRANCH: {"title": "示范党支部", "subject": "branch",
                           "kind": "party_building"},
    MODEL_BRANCH: {"title": "模范党支部", "subject": "branch",
                   "kind": "party_building"},
    EXCELLENT_MEMBER: {"title": "优秀党员", "subject": "member",
                       "kind": "party_building"},
}

# -- campaign statuses and their guarded transitions ------------------------

PUBLISHED = "published"        # plan published, nominations open
COMMITTED = "committed"        # draw commitment published
DRAWN = "drawn"                # panel drawn, judges scoring
AGGREGATED = "aggregated"      # scores aggregated, ranking proposed
PUBLICITY = "publicity"        # proposed list in 公示
FINALISED = "finalised"        # list final and announced

STATUS_TITLES = {PUBLISHED: "方案已发布", COMMITTED: "抽取承诺已公布",
                 DRAWN: "评选组已抽取", AGGREGATED: "评分已汇总",
                 PUBLICITY: "公示中", FINALISED: "结果已确定"}

TRANSITIONS = {
    PUBLISHED: {COMMITTED},
    COMMITTED: {DRAWN, PUBLISHED},   # back to published when invalidated
    DRAWN: {AGGREGATED},
    AGGREGATED: {PUBLICITY},
    PUBLICITY: {FINALISED},
    FINALISED: set(),
}


def require_status(campaign, *allowed, action):
    """Refuse ``action`` unless the campaign is in one of ``allowed``."""
    if campaign["status"] not in allowed:
        wanted = "、".join(STATUS_TITLES[s] for s in allowed)
        raise Conflict(
            f"当前状态为“{STATUS_TITLES[campaign['status']]}”，不能{action}"
            f"（须处于：{wanted}）", code="wrong_status")


def transition(campaign, target):
    if target not in TRANSITIONS[campaign["status"]]:
        raise Conflict(
            f"不能从“{STATUS_TITLES[campaign['status']]}”转为"
            f"“{STATUS_TITLES[target]}”", code="wrong_status")
    return target


# -- canonical JSON and hashes ---------------------------------------------

def canonical_json(value):
    """The one byte string hashed everywhere: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8")


def sha256_hex(value):
    return hashlib.sha256(canonical_json(value)).hexdigest()


# -- the plan (评选方案) and 差额 -------------------------------------------

def check_differential(quota, candidates, award):
    """差额评选: fewer awards than candidates, or the plan is refused."""
    if quota >= candidates:
        raise DomainError(
            f"差额评选要求候选人数多于名额：奖项“{AWARDS[award]['title']}”"
            f"名额 {quota}，候选 {candidates}", code="not_differential",
            status=422, fields={"award": award, "quota": quota,
                                "candidates": candidates})


def check_plan(plan):
    """Refuse a plan that breaks 差额 or misses the panel or weights."""
    for item in plan["awards"]:
        check_differential(item["quota"], item["candidate_count"],
                           item["award"])
    codes = [item["award"] for item in plan["awards"]]
    if len(set(codes)) != len(codes):
        raise DomainError("同一奖项在方案中出现多次", code="duplicate_award",
                          status=422)
    weights = plan["weights"]
    if abs(weights["panel"] + weights["scorecard"] - 1) > 1e-9:
        raise DomainError("评委评分与考评结果的权重之和须为 1",
                          code="bad_weights", status=422)
    if plan.get("publicity_days", 5) < 5:
        raise DomainError("公示期不得少于 5 个工作日", code="publicity_too_short",
                          status=422)
    if not plan["panel"]["strata"]:
        raise DomainError("评选组须至少包含一个类别", code="no_strata",
                          status=422)
    return plan


def plan_award(plan, award):
    for item in plan["awards"]:
        if item["award"] == award:
            return item
    raise DomainError(f"本次评选方案不含奖项“{award}”", code="award_not_in_plan",
                      status=422, fields={"award": award})


# -- eligibility: the 互置 rule set ----------------------------------------

@dataclasses.dataclass(frozen=True)
class Rule:
    """One eligibility rule: ``check(candidate, award)`` is True when met."""
    code: str
    title: str
    applies_to: tuple
    check: object


def _subject_matches(candidate, award):
    return candidate["candidate_type"] == AWARDS[award]["subject"]


def _meets_party_building(candidate, award):
    return bool(candidate.get("facts", {}).get("party_building_met"))


def _holds_four_services(candidate, award):
    return bool(candidate.get("facts", {}).get("four_services_award"))


def _standardised(candidate, award):
    return bool(candidate.get("facts", {}).get("standardised_branch"))


RULES = {
    rule.code: rule for rule in (
        Rule("subject_type", "候选对象类型须与奖项相符（党支部或党员）",
             tuple(AWARDS), _subject_matches),
        Rule("four_services_requires_party_building",
             "互置：“四服务”先进须先达到党建先进标准",
             (FOUR_SERVICES_BRANCH, FOUR_SERVICES_MEMBER),
             _meets_party_building),
        Rule("party_building_requires_four_services",
             "互置：示范/模范党支部、优秀党员须为本期“四服务”先进",
             (DEMONSTRATION_BRANCH, MODEL_BRANCH, EXCELLENT_MEMBER),
             _holds_four_services),
        Rule("ladder_requires_standardised",
             "阶梯：示范/模范党支部须先为标准化党支部",
             (DEMONSTRATION_BRANCH, MODEL_BRANCH), _standardised),
    )
}

DEFAULT_RULES = tuple(RULES)


def eligibility_failures(candidate, award, rule_codes=DEFAULT_RULES):
    """The rules ``candidate`` fails for ``award`` (empty when eligible)."""
    unknown = [code for code in rule_codes if code not in RULES]
    if unknown:
        raise DomainError(f"未知的资格规则：{'、'.join(unknown)}",
                          code="unknown_rule", status=422)
    return [RULES[code] for code in rule_codes
            if award in RULES[code].applies_to
            and not RULES[code].check(candidate, award)]


def check_eligibility(candidate, award, rule_codes=DEFAULT_RULES):
    """Raise ``ineligible`` naming every failed rule."""
    failures = eligibility_failures(candidate, award, rule_codes)
    if failures:
        raise DomainError(
            "不符合评选资格：" + "；".join(f"{r.title}（{r.code}）"
                                     for r in failures),
            code="ineligible", status=422,
            fields={"rules": [r.code for r in failures]})


# -- scores, aggregation, ranking ------------------------------------------

def trimmed_mean(values, trim=1):
    """Mean after dropping the ``trim`` highest and ``trim`` lowest."""
    values = sorted(values)
    if trim < 0:
        raise ValueError("trim must be >= 0")
    if len(values) <= 2 * trim:
        raise DomainError(
            f"有效评分 {len(values)} 个，不足以去掉最高分和最低分各 {trim} 个",
            code="too_few_scores", status=422)
    kept = values[trim:len(values) - trim] if trim else values
    return round(statistics.fmean(kept), 2)


def combined_score(panel_score, scorecard_score, weights):
    return round(weights["panel"] * panel_score
                 + weights["scorecard"] * (scorecard_score or 0), 2)


def missing_scores(judges, candidate_ids, scores):
    """(judge, candidate) pairs still unscored."""
    have = {(s["evaluator_id"], s["candidate_id"]) for s in scores}
    return [(j, c) for j in judges for c in candidate_ids
            if (j, c) not in have]


def aggregate(candidates, scores, plan):
    """Per-award ranking by the combined score.

    ``candidates``: [{candidate_id, award, scorecard_score, facts, ...}];
    ``scores``: [{evaluator_id, candidate_id, score}].
    Ties: higher panel score, then (if the plan prefers them for
    Party-building awards) four-services award holders, then candidate id.
    """
    trim = plan.get("trim", 1)
    weights = plan["weights"]
    by_candidate = {}
    for s in scores:
        by_candidate.setdefault(s["candidate_id"], []).append(s["score"])
    rows = []
    for c in candidates:
        panel_score = trimmed_mean(by_candidate.get(c["candidate_id"], []),
                                   trim)
        rows.append(dict(
            candidate_id=c["candidate_id"], award=c["award"],
            name=c.get("name"), unit_name=c.get("unit_name"),
            unit_id=c.get("unit_id"),
            panel_score=panel_score,
            scorecard_score=c.get("scorecard_score"),
            score=combined_score(panel_score, c.get("scorecard_score"),
                                 weights),
            four_services_award=bool(c.get("facts", {}).get(
                "four_services_award"))))
    return rank(rows, plan)


def rank(rows, plan):
    prefer = plan.get("prefer_four_services_holders", True)
    quotas = {a["award"]: a["quota"] for a in plan["awards"]}
    ranking = []
    for award in [a["award"] for a in plan["awards"]]:
        group = [r for r in rows if r["award"] == award]
        party = AWARDS[award]["kind"] == "party_building" and prefer

        def key(r, party=party):
            holder = 0 if (party and r["four_services_award"]) else 1
            return (holder, -r["score"], -r["panel_score"],
                    r["candidate_id"])
        for position, row in enumerate(sorted(group, key=key), start=1):
            ranking.append(dict(row, rank=position,
                                proposed=position <= quotas[award]))
    return ranking


# -- publicity and objections ------------------------------------------------

def proposed_list(ranking):
    return [r for r in ranking if r["proposed"]]


def final_list(ranking, removed, plan):
    """The final list after substantiated objections (异议属实).

    A removed candidate loses its place; when the plan says
    ``promote_next`` the next in rank of the same award moves up.
    """
    quotas = {a["award"]: a["quota"] for a in plan["awards"]}
    final = []
    for award in [a["award"] for a in plan["awards"]]:
        group = sorted((r for r in ranking if r["award"] == award),
                       key=lambda r: r["rank"])
        if plan.get("promote_next", True):
            kept = [r for r in group if r["candidate_id"] not in removed]
            chosen = kept[:quotas[award]]
        else:
            chosen = [r for r in group if r["proposed"]
                      and r["candidate_id"] not in removed]
        final.extend(dict(r, final_rank=i) for i, r in
                     enumerate(chosen, start=1))
    return final


MIN_PUBLICITY_WORKDAYS = 5


def publicity_window(opened_on, days, calendar):
    """公示期: ``days`` (>= 5) working days, day 1 the first working day on or
    after ``opened_on`` (``sifuwu.workdays``). Returns (starts_on, ends_on)."""
    if days < MIN_PUBLICITY_WORKDAYS:
        raise DomainError("公示期不得少于 5 个工作日", code="publicity_too_short",
                          status=422)
    return calendar.publicity_window(opened_on, days)


def check_objections_answered(objections):
    open_ones = [o["objection_id"] for o in objections
                 if o.get("status") != "answered"]
    if open_ones:
        raise Conflict(f"尚有 {len(open_ones)} 件异议未答复，不能确定最终名单",
                       code="objections_open",
                       fields={"objections": open_ones})


def check_publicity_over(campaign, today):
    ends_on = campaign["publicity"]["ends_on"]
    if today.isoformat() <= ends_on:
        raise Conflict(f"公示期至 {ends_on} 结束，届满后方可确定最终名单",
                       code="publicity_running")
