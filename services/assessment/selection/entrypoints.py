"""Entrypoints of open selection (开门评选), as a mixin of the assessment
service: ``class AssessmentService(SelectionEntrypoints, ServiceBase)``.

Thin: load with a schema, run one step in a unit of work, dump. Staff act
with a bearer token; judges with a per-judge, per-round signed credential
(the link ``/s/<credential>`` opens a phone-friendly scoring page).
"""

import functools
import logging
import secrets
import uuid

import jinja2
from itsdangerous import BadSignature, URLSafeSerializer
from marshmallow import ValidationError, fields
from werkzeug.wrappers import Response

from sifuwu import events as ev
from sifuwu.access import actor as acting_account
from sifuwu.consumer import consumes
from sifuwu.errors import Conflict, DomainError
from sifuwu.privacy import contact_keys
from sifuwu.contract import shape
from sifuwu.web import http, json_response, load_body
from services.assessment.selection import audit, domain, draw, schemas, steps
from sifuwu.workdays import WorkCalendar
from services.assessment.selection import repository as repo
from services.assessment.settings import AssessmentSettings

log = logging.getLogger(__name__)

PREFIX = "/api/v1/selections"
RETRIES = 5

TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("services.assessment.selection",
                                "templates"),
    autoescape=True)


def render(template, status=200, **context):
    return Response(TEMPLATES.get_template(template).render(**context),
                    status=status, mimetype="text/html")


def public_campaign(campaign):
    """What anyone may see of a campaign (the public board)."""
    plan = campaign["plan"]
    status = campaign["status"]
    view = {
        "campaign_id": campaign["_id"], "title": plan["title"],
        "period": plan["period"], "status": status,
        "status_title": domain.STATUS_TITLES[status], "plan": plan,
        "commitment": campaign.get("commitment"),
        "seed": campaign.get("seed"),
        "publicity": campaign.get("publicity"),
        "final": campaign.get("final"),
        "removed": campaign.get("removed") or [],
        "chain_head": campaign.get("audit_head"),
    }
    if status in (domain.PUBLICITY, domain.FINALISED):
        view["ranking"] = campaign.get("ranking")
    return view


class SelectionEntrypoints:
    """开门评选 entrypoints; needs ``store``, ``clock``, ``settings``,
    ``config`` as ``sifuwu.service.ServiceBase`` provides them."""

    settings_class = AssessmentSettings  # the judges' links' base URL

    # -- helpers ---------------------------------------------------------------

    def _selection_staff(self, request):
        return acting_account(request)

    def _selection_run(self, fn, **kwargs):
        """One step in one transaction, retried when the chain was busy."""
        for attempt in range(RETRIES):
            try:
                return self.store.transaction(fn, **kwargs)
            except repo.ChainContention:
                if attempt == RETRIES - 1:
                    raise
                log.info("selection audit chain busy; retrying (%d)",
                         attempt + 1)

    @property
    def _selection_signer(self):
        return URLSafeSerializer(self.settings.secret, salt="selection-judge")

    def _selection_credential(self, campaign_id, round_no, evaluator_id):
        return self._selection_signer.dumps(
            {"c": campaign_id, "r": round_no, "e": evaluator_id})

    def _selection_judge(self, token):
        try:
            claim = self._selection_signer.loads(token)
            return claim["c"], int(claim["r"]), claim["e"]
        except (BadSignature, KeyError, TypeError, ValueError):
            raise DomainError("评分链接无效或已被篡改", code="invalid_credential",
                              status=404)

    def _selection_calendar(self):
        return WorkCalendar.configured(self.settings.calendar_file or None)

    def _selection_links(self, campaign_id, round_no, seated):
        """Seats with each seated judge's link, from the configured public
        address (``SIFUWU_ASSESSMENT_BASE_URL``), never the Host header."""
        base = self.settings.judge_base_url
        out = []
        for seat in seated:
            seat = dict(seat)
            if seat["status"] == "seated":
                token = self._selection_credential(campaign_id, round_no,
                                         seat["evaluator_id"])
                seat["judge_url"] = f"{base}/s/{token}"
            out.append(seat)
        return out

    # -- plan, nominations, recommendations ------------------------------------

    @http("POST", PREFIX,
          request=schemas.PlanSchema,
          response={201: shape("SelectionCampaign", campaign_id=fields.String(), title=fields.String(), period=fields.String(), status=fields.String(), status_title=fields.String(), plan=fields.Dict(), commitment=fields.String(allow_none=True), seed=fields.String(allow_none=True), publicity=fields.Dict(allow_none=True), final=fields.List(fields.Dict(), allow_none=True), removed=fields.List(fields.Dict()), chain_head=fields.String(allow_none=True), ranking=fields.List(fields.Dict()))},
          summary="发布开门评选方案")
    def selection_publish(self, request):
        actor = self._selection_staff(request)
        plan = load_body(request, schemas.PlanSchema(),
                         self.settings.max_body_bytes)
        campaign_id = uuid.uuid4().hex
        now = self.clock()
        campaign = self._selection_run(functools.partial(
            steps.publish_plan, campaign_id=campaign_id, plan=plan,
            actor=actor, now=now), correlation_id=campaign_id)
        return json_response(public_campaign(campaign), status=201)

    @http("GET", PREFIX + "/<campaign_id>",
          response=shape("SelectionCampaign", campaign_id=fields.String(), title=fields.String(), period=fields.String(), status=fields.String(), status_title=fields.String(), plan=fields.Dict(), commitment=fields.String(allow_none=True), seed=fields.String(allow_none=True), publicity=fields.Dict(allow_none=True), final=fields.List(fields.Dict(), allow_none=True), removed=fields.List(fields.Dict()), chain_head=fields.String(allow_none=True), ranking=fields.List(fields.Dict())),
          summary="一项评选活动（公开视图）")
    def selection_show(self, request, campaign_id):
        campaign = repo.get_campaign(self.store.db, campaign_id)
        return json_response(public_campaign(campaign))

    @http("POST", PREFIX + "/<campaign_id>/nominations",
          request=schemas.NominationSchema,
          response={201: shape("NominationEntry", candidate_id=fields.String(), candidate_type=fields.String(), name=fields.String(), unit_id=fields.String(), unit_name=fields.String(), award=fields.String(), source=fields.String(), reason=fields.String(), scorecard_score=fields.Float(allow_none=True))},
          summary="提名候选对象",
          errors={409: "评选活动当前状态不允许该操作（message 说明原因）"})
    def selection_nominate(self, request, campaign_id):
        actor = self._selection_staff(request)
        nomination = load_body(request, schemas.NominationSchema(),
                               self.settings.max_body_bytes)
        doc = self._selection_run(functools.partial(
            steps.nominate, campaign_id=campaign_id, nomination=nomination,
            actor=actor, now=self.clock()))
        return json_response(doc, status=201)

    @http("GET", PREFIX + "/<campaign_id>/nominations",
          response=shape("Nominations", nominations=[shape("NominationEntry", candidate_id=fields.String(), candidate_type=fields.String(), name=fields.String(), unit_id=fields.String(), unit_name=fields.String(), award=fields.String(), source=fields.String(), reason=fields.String(), scorecard_score=fields.Float(allow_none=True))]),
          summary="提名名单（含姓名与积分）")
    def selection_nominations(self, request, campaign_id):
        """Nominations with names and scores: staff only (the public sees the
        list once publicity opens, on feedback's board)."""
        self._selection_staff(request)
        repo.get_campaign(self.store.db, campaign_id)
        return json_response({"nominations": [
            {k: n.get(k) for k in ("candidate_id", "candidate_type", "name",
                                   "unit_id", "unit_name", "award", "source",
                                   "reason", "scorecard_score")}
            for n in repo.nominations(self.store.db, campaign_id)]})

    @http("GET", PREFIX + "/<campaign_id>/recommendations",
          response=shape("Recommendations", recommendations=fields.List(fields.Dict())),
          summary="公众推荐的典型")
    def selection_recommendations(self, request, campaign_id):
        self._selection_staff(request)
        return json_response({"recommendations": repo.recommendations(
            self.store.db, campaign_id)})

    @consumes("feedback", ev.RECOMMENDATION_SUBMITTED)
    def on_recommendation_submitted(self, envelope):
        data = schemas.RecommendationEventSchema().load(envelope["data"])
        self._selection_run(functools.partial(steps.receive_recommendation, data=data,
                                    now=self.clock()),
                  consumed=envelope)

    # -- pool, commitment, draw, reveal ----------------------------------------

    @http("POST", PREFIX + "/<campaign_id>/evaluators",
          request=schemas.PoolSchema,
          response=shape("EvaluatorPool", pool=fields.Dict(), size=fields.Integer()),
          summary="登记评委库",
          errors={409: "评选活动当前状态不允许该操作（message 说明原因）"})
    def selection_pool(self, request, campaign_id):
        actor = self._selection_staff(request)
        body = load_body(request, schemas.PoolSchema(),
                         self.settings.max_body_bytes)
        sealer = contact_keys(self.settings)
        pool = self._selection_run(functools.partial(
            steps.set_pool, campaign_id=campaign_id,
            evaluators=body["evaluators"], actor=actor, now=self.clock(),
            seal=sealer.seal))
        return json_response({"pool": draw.pool_snapshot(pool),
                              "size": len(pool)})

    @http("GET", PREFIX + "/<campaign_id>/evaluators",
          response=shape("Evaluators", evaluators=fields.List(fields.Dict())),
          summary="评委库")
    def selection_pool_list(self, request, campaign_id):
        self._selection_staff(request)
        pool = repo.evaluators(self.store.db, campaign_id)
        return json_response({"evaluators": [
            {k: e.get(k) for k in ("evaluator_id", "name", "category",
                                   "unit_id", "relations")}
            for e in pool]})

    @http("POST", PREFIX + "/<campaign_id>/commitment",
          request=False,
          response={201: shape("Commitment", commitment=fields.String())},
          summary="公布随机种子的承诺（哈希）",
          errors={409: "评选活动当前状态不允许该操作（message 说明原因）"})
    def selection_commit(self, request, campaign_id):
        self._selection_staff(request)
        seed = secrets.token_hex(32)
        result = self._selection_run(functools.partial(
            steps.commit, campaign_id=campaign_id, seed=seed,
            now=self.clock()))
        return json_response(result, status=201)

    @http("POST", PREFIX + "/<campaign_id>/draw",
          request=False,
          response={201: shape("Draw", round=fields.Integer(), commitment=fields.String(), panel=fields.List(fields.Dict()), excluded=fields.List(fields.Dict()))},
          summary="抽取评选组（答复含各评委的评分链接）",
          errors={409: "评选活动当前状态不允许该操作（message 说明原因）"})
    def selection_draw(self, request, campaign_id):
        self._selection_staff(request)
        panel, failure = self._selection_run(functools.partial(
            steps.draw_panel, campaign_id=campaign_id, now=self.clock()))
        if failure is not None:
            raise failure
        return json_response({
            "round": panel["round"], "commitment": panel["commitment"],
            "panel": self._selection_links(campaign_id, panel["round"],
                                           panel["seated"]),
            "excluded": panel["excluded"]}, status=201)

    @http("POST", PREFIX + "/<campaign_id>/reveal",
          request=False,
          response=shape("Reveal", seed=fields.String(), commitment=fields.String()),
          summary="公布随机种子，供公众复核抽取",
          errors={409: "评选活动当前状态不允许该操作（message 说明原因）"})
    def selection_reveal(self, request, campaign_id):
        self._selection_staff(request)
        result = self._selection_run(functools.partial(
            steps.reveal, campaign_id=campaign_id, now=self.clock()))
        return json_response(result)

    @http("GET", PREFIX + "/<campaign_id>/panel",
          response=shape("Panel", round=fields.Integer(), panel=fields.List(fields.Dict()), replacements=fields.List(fields.Dict())),
          summary="本轮评选组及递补")
    def selection_panel(self, request, campaign_id):
        self._selection_staff(request)
        campaign = repo.get_campaign(self.store.db, campaign_id)
        panel = repo.panel(self.store.db, campaign_id, campaign["round"])
        return json_response({
            "round": panel["round"],
            "panel": self._selection_links(campaign_id, panel["round"],
                                           panel["seated"]),
            "replacements": panel["replacements"]})

    @http("POST", PREFIX + "/<campaign_id>/panel/<evaluator_id>/absent",
          request=False,
          response={201: shape("Seat", evaluator_id=fields.String(), status=fields.String(), judge_url=fields.String())},
          summary="评委缺席，按序递补",
          errors={409: "评选活动当前状态不允许该操作（message 说明原因）"})
    def selection_absent(self, request, campaign_id, evaluator_id):
        self._selection_staff(request)
        seat = self._selection_run(functools.partial(
            steps.replace_judge, campaign_id=campaign_id,
            evaluator_id=evaluator_id, now=self.clock()))
        campaign = repo.get_campaign(self.store.db, campaign_id)
        return json_response(self._selection_links(
            campaign_id, campaign["round"], [seat])[0], status=201)

    @http("GET", PREFIX + "/<campaign_id>/draw/export",
          response=shape("DrawExport", commitment=fields.String(), panel=fields.List(fields.Dict()), replacements=fields.List(fields.Dict())),
          summary="已公布的抽取输入与结果（供 scripts/verify_panel.py 复核）",
          errors={409: "随机种子尚未公布（seed_not_revealed）"})
    def selection_export(self, request, campaign_id):
        """The published draw, for ``scripts/verify_panel.py``."""
        campaign = repo.get_campaign(self.store.db, campaign_id)
        panel = repo.panel(self.store.db, campaign_id, campaign["round"])
        if not panel.get("revealed"):
            raise Conflict("随机种子尚未公布，暂不能导出复核数据",
                           code="seed_not_revealed")
        return json_response({
            **panel["draw_input"], "commitment": panel["commitment"],
            "panel": panel.get("original", []),
            "replacements": panel.get("replacements", [])})

    # -- judges ----------------------------------------------------------------

    @http("GET", "/s/<token>",
          response="text/html",
          summary="评委评分页（链接即凭证）",
          errors={403: "不在本轮评选组（not_on_panel）", 404: "链接无效", 410: "链接已失效"})
    def selection_judge_page(self, request, token):
        try:
            campaign_id, round_no, evaluator_id = self._selection_judge(token)
            campaign, candidates, scored = steps.judge_view(
                self.store.db, campaign_id, round_no, evaluator_id)
        except DomainError as exc:
            return render("judge_message.html", status=exc.status,
                          heading=exc.message, text="如有疑问，请联系评选工作人员。")
        return render(
            "judge.html", title=campaign["plan"]["title"],
            action=f"/s/{token}", candidates=[
                dict(c, award_title=domain.AWARDS[c["award"]]["title"],
                     scored=scored.get(c["candidate_id"]))
                for c in candidates],
            open=campaign["status"] == domain.DRAWN)

    @http("POST", "/s/<token>",
          body="form",
          request=shape("JudgeScoresForm", **{"score_<candidate_id>": fields.String(metadata={"description": "对该候选对象的评分；每个候选对象一个字段"})}),
          response="text/html",
          summary="评委提交评分（表单，答复为页面）",
          errors={403: "不在本轮评选组", 409: "已评过分", 410: "链接已失效"})
    def selection_judge_form(self, request, token):
        try:
            campaign_id, round_no, evaluator_id = self._selection_judge(token)
            items = [{"candidate_id": key[len("score_"):], "score": value}
                     for key, value in request.form.items()
                     if key.startswith("score_") and value.strip()]
            if not items:
                raise ValidationError({"scores": ["请至少填写一项评分"]})
            body = schemas.ScoresSchema().load({"scores": items})
            recorded = self._selection_run(functools.partial(
                steps.record_scores, campaign_id=campaign_id,
                round_no=round_no, evaluator_id=evaluator_id,
                scores=body["scores"], now=self.clock()))
        except ValidationError as exc:
            return render("judge_message.html", status=400,
                          heading="提交未成功", text=_first_message(exc))
        except DomainError as exc:
            return render("judge_message.html", status=exc.status,
                          heading="提交未成功", text=exc.message)
        return render("judge_message.html", heading="评分已提交",
                      text=f"已记录 {len(recorded)} 项评分，感谢您的参与。",
                      back=f"/s/{token}")

    @http("POST", "/api/v1/judge/<token>/scores",
          request=schemas.ScoresSchema,
          response={201: shape("ScoresRecorded", recorded=fields.List(fields.Dict()))},
          summary="评委提交评分（JSON，链接令牌即凭证）",
          errors={403: "不在本轮评选组（not_on_panel）", 409: "已为该候选对象评分", 410: "链接已失效"})
    def selection_judge_scores(self, request, token):
        campaign_id, round_no, evaluator_id = self._selection_judge(token)
        body = load_body(request, schemas.ScoresSchema(),
                         self.settings.max_body_bytes)
        recorded = self._selection_run(functools.partial(
            steps.record_scores, campaign_id=campaign_id, round_no=round_no,
            evaluator_id=evaluator_id, scores=body["scores"],
            now=self.clock()))
        return json_response({"recorded": recorded}, status=201)

    # -- aggregation, publicity, objections, final list ------------------------

    @http("POST", PREFIX + "/<campaign_id>/aggregate",
          request=False,
          response=shape("Aggregate", ranking=fields.List(fields.Dict())),
          summary="汇总评分",
          errors={409: "评选活动当前状态不允许该操作（message 说明原因）"})
    def selection_aggregate(self, request, campaign_id):
        self._selection_staff(request)
        ranking = self._selection_run(functools.partial(
            steps.aggregate, campaign_id=campaign_id, now=self.clock()))
        return json_response({"ranking": ranking})

    @http("POST", PREFIX + "/<campaign_id>/publicity",
          request=schemas.PublicityOpenSchema,
          response={201: shape("Publicity")},
          summary="发布公示（工作日计，遇节假日顺延）",
          errors={409: "评选活动当前状态不允许该操作（message 说明原因）", 503: "当年节假日数据缺失，不能计算公示期"})
    def selection_publicity(self, request, campaign_id):
        self._selection_staff(request)
        body = load_body(request, schemas.PublicityOpenSchema(),
                         self.settings.max_body_bytes)
        now = self.clock()
        today = steps.local_today(now, self.settings.timezone)
        opens_on = max(body["opens_on"] or today, today)
        campaign = repo.get_campaign(self.store.db, campaign_id)
        domain.require_status(campaign, domain.AGGREGATED, action="发布公示")
        starts_on, ends_on = domain.publicity_window(
            opens_on, campaign["plan"]["publicity_days"], self._selection_calendar())
        publicity = self._selection_run(functools.partial(
            steps.open_publicity, campaign_id=campaign_id,
            starts_on=starts_on, ends_on=ends_on, now=now),
            correlation_id=campaign_id)
        return json_response(publicity, status=201)

    @consumes("feedback", ev.OBJECTION_FILED)
    def on_objection_filed(self, envelope):
        data = schemas.ObjectionFiledSchema().load(envelope["data"])
        self._selection_run(functools.partial(steps.file_objection, data=data,
                                    now=self.clock()),
                  consumed=envelope)

    @consumes("feedback", ev.OBJECTION_ANSWERED)
    def on_objection_answered(self, envelope):
        data = schemas.ObjectionAnsweredSchema().load(envelope["data"])
        self._selection_run(functools.partial(
            steps.answer_objection, campaign_id=data["campaign_id"],
            objection_id=data["objection_id"],
            substantiated=data["substantiated"], answer=data["answer"],
            actor="feedback", now=self.clock(), from_board=True,
            candidate_id=data["candidate_id"]),
            consumed=envelope)

    @http("GET", PREFIX + "/<campaign_id>/objections",
          response=shape("Objections", objections=fields.List(fields.Dict())),
          summary="公示期内的异议")
    def selection_objections(self, request, campaign_id):
        self._selection_staff(request)
        return json_response({"objections": repo.objections(
            self.store.db, campaign_id)})

    @http("POST", PREFIX + "/<campaign_id>/objections/<objection_id>/answer",
          request=schemas.AnswerSchema,
          response=shape("ObjectionAnswer"),
          summary="答复异议（属实则取消该候选对象）",
          errors={409: "该异议已答复（already_answered）"})
    def selection_answer(self, request, campaign_id, objection_id):
        actor = self._selection_staff(request)
        body = load_body(request, schemas.AnswerSchema(),
                         self.settings.max_body_bytes)
        result = self._selection_run(functools.partial(
            steps.answer_objection, campaign_id=campaign_id,
            objection_id=objection_id, substantiated=body["substantiated"],
            answer=body["answer"], actor=actor, now=self.clock()),
            correlation_id=campaign_id)
        return json_response(result)

    @http("POST", PREFIX + "/<campaign_id>/finalise",
          request=False,
          response=shape("Final", final=fields.List(fields.Dict())),
          summary="公示期满，确定结果",
          errors={409: "评选活动当前状态不允许该操作（message 说明原因）"})
    def selection_finalise(self, request, campaign_id):
        self._selection_staff(request)
        now = self.clock()
        final = self._selection_run(functools.partial(
            steps.finalise, campaign_id=campaign_id,
            today=steps.local_today(now, self.settings.timezone), now=now),
            correlation_id=campaign_id)
        return json_response({"final": final})

    # -- the audit trail -------------------------------------------------------

    @http("GET", PREFIX + "/<campaign_id>/audit/head",
          response=shape("AuditHead", campaign_id=fields.String(), chain_head=fields.String(allow_none=True)),
          summary="审计链的链头（公开，供比对）")
    def selection_audit_head(self, request, campaign_id):
        campaign = repo.get_campaign(self.store.db, campaign_id)
        return json_response({"campaign_id": campaign_id,
                              "chain_head": campaign.get("audit_head")})

    @http("GET", PREFIX + "/<campaign_id>/audit",
          response=shape("AuditTrail", chain_head=fields.String(allow_none=True), valid=fields.Boolean(), problems=fields.List(fields.Dict()), entries=fields.List(fields.Dict())),
          summary="审计链全文及校验结果")
    def selection_audit(self, request, campaign_id):
        self._selection_staff(request)
        head, problems = repo.verify_stored(self.store.db, campaign_id)
        return json_response({
            "chain_head": head, "valid": not problems,
            "problems": problems,
            "entries": repo.audit_entries(self.store.db, campaign_id)})

    @http("GET", PREFIX + "/<campaign_id>/audit/verify",
          response=shape("AuditCheck", chain_head=fields.String(allow_none=True), valid=fields.Boolean(), problems=fields.List(fields.Dict()), message=fields.String()),
          summary="校验审计链（公开）")
    def selection_audit_verify(self, request, campaign_id):
        repo.get_campaign(self.store.db, campaign_id)
        head, problems = repo.verify_stored(self.store.db, campaign_id)
        return json_response({
            "chain_head": head, "valid": not problems, "problems": problems,
            "message": ("校验通过" if not problems
                        else "校验未通过：" + audit.describe(problems))})


def _first_message(exc):
    messages = exc.messages
    while isinstance(messages, dict):
        messages = next(iter(messages.values()))
    while isinstance(messages, list) and messages and not isinstance(
            messages[0], str):
        messages = messages[0]
        while isinstance(messages, dict):
            messages = next(iter(messages.values()))
    return "；".join(messages) if isinstance(messages, list) else str(messages)
