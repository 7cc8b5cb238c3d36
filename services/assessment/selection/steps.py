"""The steps of a campaign (评选流程), each run inside one unit of work.

Each function takes the unit of work first and ``now`` (and any randomness)
as arguments; it checks the rules (``domain``, ``draw``), writes the state
change, appends the audit entry and emits the events, all in the same
transaction.
"""

from sifuwu import events as ev
from sifuwu.errors import Conflict, DomainError, NotFound
from services.assessment.selection import audit, domain, draw
from services.assessment.selection import repository as repo

ROUND = 1


def _campaign(uow, campaign_id):
    return repo.get_campaign(uow.db, campaign_id, session=uow.session)


def _award_titles(plan):
    return [{"award": a["award"], "title": domain.AWARDS[a["award"]]["title"],
             "quota": a["quota"]} for a in plan["awards"]]


def _public_row(row):
    return {"candidate_id": row["candidate_id"], "name": row.get("name"),
            "unit_name": row.get("unit_name"), "award": row["award"],
            "award_title": domain.AWARDS[row["award"]]["title"],
            "rank": row.get("final_rank", row.get("rank")),
            "score": row.get("score")}


# -- plan and nominations ------------------------------------------------------

def publish_plan(uow, campaign_id, plan, actor, now):
    domain.check_plan(plan)
    campaign = repo.insert_campaign(uow, {
        "_id": campaign_id, "plan": plan, "status": domain.PUBLISHED,
        "round": ROUND, "published_at": now, "published_by": actor,
        "removed": [], "ranking": None, "publicity": None, "final": None,
        "commitment": None, "seed": None}, now)
    repo.record(uow, campaign, audit.PLAN_PUBLISHED,
                {"plan": plan, "by": actor}, now)
    uow.emit(ev.SELECTION_PUBLISHED, {
        "campaign_id": campaign_id, "title": plan["title"],
        "period": plan["period"], "scope": plan["scope"],
        "criteria": plan["criteria"], "procedure": plan["procedure"],
        "awards": _award_titles(plan),
        "publicity_days": plan["publicity_days"]},
        correlation_id=campaign_id)
    return campaign


def nominate(uow, campaign_id, nomination, actor, now):
    campaign = _campaign(uow, campaign_id)
    domain.require_status(campaign, domain.PUBLISHED, action="提名候选对象")
    plan = campaign["plan"]
    award = domain.plan_award(plan, nomination["award"])
    domain.check_eligibility(nomination, nomination["award"], plan["rules"])
    col = uow.col(repo.NOMINATIONS)
    if col.find_one({"campaign_id": campaign_id,
                     "candidate_id": nomination["candidate_id"]},
                    session=uow.session):
        raise Conflict("该候选对象已被提名", code="already_nominated")
    count = col.count_documents({"campaign_id": campaign_id,
                                 "award": nomination["award"]},
                                session=uow.session)
    if count >= award["candidate_count"]:
        raise Conflict(f"该奖项候选名额（{award['candidate_count']}）已满",
                       code="candidates_full")
    doc = dict(nomination, campaign_id=campaign_id, nominated_by=actor,
               nominated_at=now.isoformat())
    col.insert_one(dict(doc), session=uow.session)
    repo.record(uow, campaign, audit.NOMINATION_ADDED, doc, now)
    return doc


def receive_recommendation(uow, data, now):
    """推荐典型 from a service recipient (via the feedback portal)."""
    doc = dict(data, received_at=now.isoformat())
    uow.col(repo.RECOMMENDATIONS).insert_one(
        dict(doc, _id=data["recommendation_id"]), session=uow.session)
    campaign_id = data.get("campaign_id")
    if campaign_id:
        campaign = uow.col(repo.CAMPAIGNS).find_one({"_id": campaign_id},
                                                    session=uow.session)
        if campaign is not None:
            repo.record(uow, campaign, audit.RECOMMENDATION_RECEIVED, doc,
                        now)
    return doc


# -- the pool, the commitment, the draw ---------------------------------------

def _invalidate(uow, campaign, reason, now):
    uow.col(repo.PANELS).delete_many(
        {"campaign_id": campaign["_id"], "round": campaign["round"]},
        session=uow.session)
    repo.record(uow, campaign, audit.COMMITMENT_INVALIDATED,
                {"commitment": campaign["commitment"]["hash"],
                 "reason": reason}, now,
                changes={"status": domain.transition(campaign,
                                                     domain.PUBLISHED),
                         "commitment": None})


def set_pool(uow, campaign_id, evaluators, actor, now, seal):
    """Add or replace evaluators in the campaign's pool (评选人员名单库).

    A change after the commitment invalidates it: the draw must be
    committed again."""
    campaign = _campaign(uow, campaign_id)
    domain.require_status(campaign, domain.PUBLISHED, domain.COMMITTED,
                          action="修改评选人员名单库")
    col = uow.col(repo.EVALUATORS)
    for evaluator in evaluators:
        doc = dict(evaluator, campaign_id=campaign_id,
                   phone=seal(evaluator["phone"]) if evaluator.get("phone")
                   else None)
        col.replace_one({"campaign_id": campaign_id,
                         "evaluator_id": evaluator["evaluator_id"]}, doc,
                        upsert=True, session=uow.session)
    if campaign["status"] == domain.COMMITTED:
        _invalidate(uow, campaign, "pool_changed", now)
    repo.record(uow, campaign, audit.POOL_CHANGED,
                {"by": actor, "evaluators": draw.pool_snapshot(evaluators)},
                now)
    return repo.evaluators(uow.db, campaign_id, session=uow.session)


def commit(uow, campaign_id, seed, now):
    """Publish the commitment to the draw (抽取承诺)."""
    campaign = _campaign(uow, campaign_id)
    domain.require_status(campaign, domain.PUBLISHED, action="公布抽取承诺")
    plan = campaign["plan"]
    nominated = repo.nominations(uow.db, campaign_id, session=uow.session)
    for item in plan["awards"]:
        count = sum(1 for n in nominated if n["award"] == item["award"])
        domain.check_differential(item["quota"], count, item["award"])
    pool = draw.pool_snapshot(
        repo.evaluators(uow.db, campaign_id, session=uow.session))
    draw_in = draw.draw_input(campaign_id, campaign["round"], pool,
                              plan["panel"]["strata"],
                              draw.candidates_snapshot(nominated), seed)
    draw.draw_panel(draw_in)  # refuse now if the pool is too small
    digest = draw.commitment(draw_in)
    uow.col(repo.PANELS).insert_one({
        "campaign_id": campaign_id, "round": campaign["round"],
        "draw_input": draw_in, "commitment": digest, "seated": [],
        "reserves": {}, "excluded": {}, "revealed": False,
        "replacements": []}, session=uow.session)
    public = {key: value for key, value in draw_in.items() if key != "seed"}
    repo.record(uow, campaign, audit.POOL_SNAPSHOT, public, now)
    commitment = {"hash": digest, "algorithm": draw.ALGORITHM,
                  "round": campaign["round"], "at": now.isoformat()}
    repo.record(uow, campaign, audit.COMMITMENT_PUBLISHED, commitment, now,
                changes={"status": domain.transition(campaign,
                                                     domain.COMMITTED),
                         "commitment": commitment})
    return dict(commitment, **public)


def draw_panel(uow, campaign_id, now):
    """Draw the panel; returns (panel doc, invalidated)."""
    campaign = _campaign(uow, campaign_id)
    domain.require_status(campaign, domain.COMMITTED, action="抽取评选组")
    panel = repo.panel(uow.db, campaign_id, campaign["round"],
                       session=uow.session)
    current = draw.pool_snapshot(
        repo.evaluators(uow.db, campaign_id, session=uow.session))
    try:
        draw.check_pool_unchanged(panel["draw_input"]["pool"], current)
        if draw.commitment(panel["draw_input"]) != panel["commitment"]:
            raise Conflict("抽取输入与已公布的承诺不符", code="commitment_broken")
    except Conflict as exc:
        _invalidate(uow, campaign, exc.code, now)
        return None, exc
    result = draw.draw_panel(panel["draw_input"])
    seated = [dict(p, status="seated") for p in result["panel"]]
    uow.col(repo.PANELS).update_one(
        {"_id": panel["_id"]},
        {"$set": {"seated": seated, "original": result["panel"],
                  "reserves": result["reserves"],
                  "excluded": result["excluded"],
                  "drawn_at": now.isoformat()}}, session=uow.session)
    repo.record(uow, campaign, audit.PANEL_DRAWN,
                {"round": campaign["round"], "panel": result["panel"],
                 "excluded": result["excluded"]}, now,
                changes={"status": domain.transition(campaign,
                                                     domain.DRAWN)})
    panel.update(seated=seated, original=result["panel"],
                 reserves=result["reserves"], excluded=result["excluded"])
    return panel, None


def reveal(uow, campaign_id, now):
    """Reveal the seed (公布随机种子) once the panel is drawn."""
    campaign = _campaign(uow, campaign_id)
    domain.require_status(campaign, domain.DRAWN, domain.AGGREGATED,
                          domain.PUBLICITY, domain.FINALISED,
                          action="公布随机种子")
    if campaign.get("seed"):
        raise Conflict("随机种子已公布", code="already_revealed")
    panel = repo.panel(uow.db, campaign_id, campaign["round"],
                       session=uow.session)
    seed = panel["draw_input"]["seed"]
    uow.col(repo.PANELS).update_one({"_id": panel["_id"]},
                                    {"$set": {"revealed": True}},
                                    session=uow.session)
    repo.record(uow, campaign, audit.SEED_REVEALED,
                {"round": campaign["round"], "seed": seed,
                 "commitment": panel["commitment"]}, now,
                changes={"seed": seed})
    return {"seed": seed, "commitment": panel["commitment"]}


def replace_judge(uow, campaign_id, evaluator_id, now):
    """An absent judge is replaced by the next reserve in seeded order."""
    campaign = _campaign(uow, campaign_id)
    domain.require_status(campaign, domain.DRAWN, action="递补评委")
    panel = repo.panel(uow.db, campaign_id, campaign["round"],
                       session=uow.session)
    seat = next((s for s in panel["seated"]
                 if s["evaluator_id"] == evaluator_id
                 and s["status"] == "seated"), None)
    if seat is None:
        raise NotFound("该人员不在本轮评选组中", code="not_on_panel")
    if uow.col(repo.SCORES).find_one(
            {"campaign_id": campaign_id, "round": campaign["round"],
             "evaluator_id": evaluator_id}, session=uow.session):
        raise Conflict("该评委已评分，不能按缺席递补", code="already_scoring")
    everyone = [s["evaluator_id"] for s in panel["seated"]]
    new_id = draw.replacement(panel, everyone, evaluator_id,
                              seat["category"])
    seated = [dict(s, status="absent") if s is seat else s
              for s in panel["seated"]]
    seated.append({"evaluator_id": new_id, "category": seat["category"],
                   "status": "seated", "replaces": evaluator_id})
    replacement = {"absent": evaluator_id, "replacement": new_id,
                   "category": seat["category"]}
    uow.col(repo.PANELS).update_one(
        {"_id": panel["_id"]},
        {"$set": {"seated": seated},
         "$push": {"replacements": replacement}}, session=uow.session)
    repo.record(uow, campaign, audit.JUDGE_REPLACED,
                dict(replacement, round=campaign["round"]), now)
    return seated[-1]


# -- scoring and aggregation ---------------------------------------------------

def judge_view(db, campaign_id, round_no, evaluator_id):
    """What a judge sees: the campaign, the candidates, their own scores."""
    campaign = repo.get_campaign(db, campaign_id)
    if campaign["round"] != round_no:
        raise DomainError("评分凭证已过期（轮次不符）", code="credential_expired",
                          status=410)
    panel = repo.panel(db, campaign_id, round_no)
    if not any(s["evaluator_id"] == evaluator_id and s["status"] == "seated"
               for s in panel["seated"]):
        raise DomainError("您不在本轮评选组中，或已由他人递补",
                          code="not_on_panel", status=403)
    scored = {s["candidate_id"]: s["score"]
              for s in repo.scores(db, campaign_id, round_no)
              if s["evaluator_id"] == evaluator_id}
    return campaign, repo.nominations(db, campaign_id), scored


def record_scores(uow, campaign_id, round_no, evaluator_id, scores, now):
    """Each judge scores each candidate once."""
    campaign = _campaign(uow, campaign_id)
    domain.require_status(campaign, domain.DRAWN, action="评分")
    if campaign["round"] != round_no:
        raise DomainError("评分凭证已过期（轮次不符）", code="credential_expired",
                          status=410)
    panel = repo.panel(uow.db, campaign_id, round_no, session=uow.session)
    if not any(s["evaluator_id"] == evaluator_id and s["status"] == "seated"
               for s in panel["seated"]):
        raise DomainError("您不在本轮评选组中，或已由他人递补",
                          code="not_on_panel", status=403)
    candidates = {n["candidate_id"] for n in repo.nominations(
        uow.db, campaign_id, session=uow.session)}
    col = uow.col(repo.SCORES)
    recorded = []
    for item in scores:
        if item["candidate_id"] not in candidates:
            raise NotFound("候选对象不在本次评选中", code="unknown_candidate",
                           fields={"candidate_id": item["candidate_id"]})
        key = {"campaign_id": campaign_id, "round": round_no,
               "evaluator_id": evaluator_id,
               "candidate_id": item["candidate_id"]}
        if col.find_one(key, session=uow.session):
            raise Conflict("您已为该候选对象评分，每位评委对每名候选对象只能评分一次",
                           code="already_scored",
                           fields={"candidate_id": item["candidate_id"]})
        doc = dict(key, score=item["score"], at=now.isoformat())
        col.insert_one(dict(doc), session=uow.session)
        repo.record(uow, campaign, audit.SCORE_RECORDED, doc, now)
        recorded.append(doc)
    return recorded


def aggregate(uow, campaign_id, now):
    """汇总: trimmed means, combined with scorecards, ranked per award."""
    campaign = _campaign(uow, campaign_id)
    domain.require_status(campaign, domain.DRAWN, action="汇总评分")
    if not campaign.get("seed"):
        raise Conflict("须先公布随机种子，公众可复核评选组后再汇总",
                       code="seed_not_revealed")
    round_no = campaign["round"]
    panel = repo.panel(uow.db, campaign_id, round_no, session=uow.session)
    judges = [s["evaluator_id"] for s in panel["seated"]
              if s["status"] == "seated"]
    candidates = repo.nominations(uow.db, campaign_id, session=uow.session)
    scores = repo.scores(uow.db, campaign_id, round_no, session=uow.session)
    missing = domain.missing_scores(
        judges, [c["candidate_id"] for c in candidates], scores)
    if missing:
        raise Conflict(f"尚有 {len(missing)} 项评分未完成，不能汇总",
                       code="scores_missing",
                       fields={"missing": [list(m) for m in missing[:50]]})
    ranking = domain.aggregate(candidates, [s for s in scores
                                            if s["evaluator_id"] in judges],
                               campaign["plan"])
    repo.record(uow, campaign, audit.SCORES_AGGREGATED,
                {"round": round_no, "trim": campaign["plan"]["trim"],
                 "weights": campaign["plan"]["weights"],
                 "ranking": ranking}, now,
                changes={"status": domain.transition(campaign,
                                                     domain.AGGREGATED),
                         "ranking": ranking})
    return ranking


# -- publicity, objections, the final list ------------------------------------

def open_publicity(uow, campaign_id, starts_on, ends_on, now):
    campaign = _campaign(uow, campaign_id)
    domain.require_status(campaign, domain.AGGREGATED, action="发布公示")
    proposed = [_public_row(r)
                for r in domain.proposed_list(campaign["ranking"])]
    publicity = {"starts_on": starts_on.isoformat(),
                 "ends_on": ends_on.isoformat(),
                 "working_days": campaign["plan"]["publicity_days"],
                 "opened_at": now.isoformat(), "candidates": proposed}
    repo.record(uow, campaign, audit.PUBLICITY_OPENED, publicity, now,
                changes={"status": domain.transition(campaign,
                                                     domain.PUBLICITY),
                         "publicity": publicity})
    uow.emit(ev.PUBLICITY_OPENED, {
        "campaign_id": campaign_id, "title": campaign["plan"]["title"],
        "starts_on": publicity["starts_on"], "ends_on": publicity["ends_on"],
        "candidates": [{"candidate_id": r["candidate_id"], "name": r["name"],
                        "unit_name": r["unit_name"],
                        "award": r["award_title"]} for r in proposed],
        "chain_head": campaign["audit_head"]["hash"]},
        correlation_id=campaign_id)
    return publicity


def file_objection(uow, data, now):
    """异议 from the feedback portal (never the objector's identity)."""
    campaign = _campaign(uow, data["campaign_id"])
    if campaign["status"] not in (domain.PUBLICITY, domain.FINALISED):
        raise Conflict("该评选活动不在公示期，不受理异议", code="not_in_publicity")
    col = uow.col(repo.OBJECTIONS)
    if col.find_one({"_id": data["objection_id"]}, session=uow.session):
        return None
    doc = dict(data, status="open", filed_at=now.isoformat(),
               substantiated=None, answer=None)
    col.insert_one(dict(doc, _id=data["objection_id"]), session=uow.session)
    repo.record(uow, campaign, audit.OBJECTION_FILED,
                {k: data[k] for k in ("objection_id", "candidate_id",
                                      "reason")}, now)
    return doc


def answer_objection(uow, campaign_id, objection_id, substantiated, answer,
                     actor, now, from_board=False, candidate_id=None):
    """异议答复; a substantiated objection removes the candidate. The ruling is
    announced as ``objection.decided`` (feedback shows it on the board and
    announces the answer). ``from_board``: the answer given on feedback's
    board (``objection.answered``), which may be this ruling coming back."""
    campaign = _campaign(uow, campaign_id)
    domain.require_status(campaign, domain.PUBLICITY, action="答复异议")
    col = uow.col(repo.OBJECTIONS)
    objection = col.find_one({"_id": objection_id,
                              "campaign_id": campaign_id},
                             session=uow.session)
    if objection is None:
        if candidate_id is None:
            raise NotFound("未找到该异议", code="objection_not_found")
        # The answer from the feedback portal arrived before the objection
        # itself (two queues): record the objection from the answer.
        objection = {"objection_id": objection_id, "campaign_id": campaign_id,
                     "candidate_id": candidate_id, "reason": None,
                     "status": "open", "filed_at": now.isoformat()}
        col.insert_one(dict(objection, _id=objection_id), session=uow.session)
        repo.record(uow, campaign, audit.OBJECTION_FILED,
                    {"objection_id": objection_id,
                     "candidate_id": candidate_id, "reason": None}, now)
    if objection["status"] == "answered":
        if from_board and objection["substantiated"] == substantiated:
            return None  # the same answer again: nothing to do
        raise Conflict("该异议已答复", code="already_answered")
    col.update_one({"_id": objection_id}, {"$set": {
        "status": "answered", "substantiated": substantiated,
        "answer": answer, "answered_at": now.isoformat()}},
        session=uow.session)
    removed = list(campaign.get("removed") or [])
    if substantiated and objection["candidate_id"] not in removed:
        removed.append(objection["candidate_id"])
    data = {"objection_id": objection_id, "campaign_id": campaign_id,
            "candidate_id": objection["candidate_id"],
            "substantiated": substantiated, "answer": answer}
    repo.record(uow, campaign, audit.OBJECTION_ANSWERED,
                dict(data, by=actor), now, changes={"removed": removed})
    uow.emit(ev.OBJECTION_DECIDED, data, correlation_id=campaign_id)
    return data


def finalise(uow, campaign_id, today, now):
    """确定最终名单 and announce it (报刊网微)."""
    campaign = _campaign(uow, campaign_id)
    domain.require_status(campaign, domain.PUBLICITY, action="确定最终名单")
    domain.check_publicity_over(campaign, today)
    domain.check_objections_answered(
        repo.objections(uow.db, campaign_id, session=uow.session))
    plan = campaign["plan"]
    final = [_public_row(r) for r in domain.final_list(
        campaign["ranking"], set(campaign.get("removed") or []), plan)]
    repo.record(uow, campaign, audit.LIST_FINALISED,
                {"final": final, "removed": campaign.get("removed") or []},
                now, changes={"status": domain.transition(
                    campaign, domain.FINALISED), "final": final,
                    "finalised_at": now})
    uow.emit(ev.SELECTION_FINALISED, {
        "campaign_id": campaign_id, "title": plan["title"],
        "awards": _award_titles(plan), "final": final,
        "channels": ["newspaper", "magazine", "web", "wechat"],
        "chain_head": campaign["audit_head"]["hash"]},
        correlation_id=campaign_id)
    return final


def local_today(now, timezone):
    from zoneinfo import ZoneInfo
    return now.astimezone(ZoneInfo(timezone)).date()

