"""The public board (公示栏) with the objection form, the objection and
recommendation APIs, and staff's objection list and answers."""

import functools
import logging

from marshmallow import ValidationError, fields

from sifuwu.errors import DomainError
from sifuwu.contract import listing, shape
from sifuwu.web import http, json_response, load_body
from services.feedback import domain, schemas
from services.feedback.entrypoints.web import (
    FeedbackWeb, first_messages, message_page, read_form, render,
    require_json,
)
from services.feedback.steps import board, recommendations

log = logging.getLogger(__name__)

HOTLINE = "如有疑问，请拨打 12345 政务服务便民热线。"


class BoardEntrypoints(FeedbackWeb):

    def _board_page(self, request, status=200, error=None, form=None):
        csrf, nonce = self._csrf_field(request, "publicity")
        lists = self._read(board.board, self._today())
        response = render("publicity.html", status=status, lists=lists,
                          csrf=csrf, error=error, form=form or {},
                          reason_max=domain.REASON_MAX)
        return self._with_cookie(response, nonce)

    @http("GET", "/publicity", response="text/html",
          summary="公示栏页面（公开；可提出异议）")
    def publicity_page(self, request):
        return self._board_page(request)

    @http("GET", "/api/v1/publicity",
          response=shape("PublicityBoard", items=[shape(
              "PublicityItem", campaign_id=fields.String(),
              title=fields.String(), starts_on=fields.Date(),
              ends_on=fields.Date(), open=fields.Boolean(),
              candidates=fields.List(fields.Dict()),
              answers=fields.List(fields.Dict()))]),
          summary="公示栏（JSON，公开）")
    def publicity_json(self, request):
        lists = self._read(board.board, self._today())
        return json_response({"items": [{
            "campaign_id": p["_id"], "title": p["title"],
            "starts_on": p["starts_on"], "ends_on": p["ends_on"],
            "open": p["open"], "candidates": p["candidates"],
            "answers": p["answers"]} for p in lists]})

    def _file_objection(self, data):
        return self._run(functools.partial(
            board.file_objection, data=data, now=self.clock(),
            secret=self.settings.secret, today=self._today(),
            sealer=self.contact_keys))

    @http("POST", "/publicity/objections", body="form",
          request=shape("ObjectionForm", campaign_id=fields.String(),
                        candidate_id=fields.String(), reason=fields.String(),
                        name=fields.String(), phone=fields.String(),
                        csrf=fields.String()),
          response="text/html", summary="对公示对象提出异议（表单，答复为页面）",
          errors={403: "表单已过期（CSRF 校验未通过）", 429: "提交过于频繁"})
    def objection_form(self, request):
        try:
            posted = read_form(request)
        except DomainError as exc:
            return message_page(exc.status, exc.message, "", "warn",
                                back="/publicity", board=True)
        form = {key: posted.get(key, "") for key in (
            "campaign_id", "candidate_id", "reason", "name", "phone")}
        try:
            self._limit(request)
            self._check_csrf(request, "publicity")
            data = schemas.ObjectionSchema().load(
                {k: v for k, v in form.items() if v != ""})
            objection = self._file_objection(data)
        except ValidationError as exc:
            return self._board_page(
                request, status=400,
                error="；".join(first_messages(exc.messages)), form=form)
        except DomainError as exc:
            return message_page(
                exc.status, exc.message, HOTLINE,
                "ok" if exc.code == "already_objected" else "warn",
                back="/publicity", board=True)
        return message_page(
            200, "异议已受理",
            f"受理编号 {objection['ref']}。我们将依规核实，答复将在公示栏公布；"
            "您的姓名和联系方式严格保密。", "ok", back="/publicity",
            board=True)

    @http("POST", "/api/v1/objections", request=schemas.ObjectionSchema,
          response={201: schemas.ObjectionOutSchema},
          summary="对公示对象提出异议（公开；联系方式加密保存）",
          errors={409: "该评选不在公示期", 429: "提交过于频繁"})
    def submit_objection(self, request):
        require_json(request)
        self._limit(request)
        data = load_body(request, schemas.ObjectionSchema(),
                         self.settings.max_body_bytes)
        objection = self._file_objection(data)
        out = schemas.ObjectionOutSchema(
            only=("id", "ref", "campaign_id", "candidate_id", "status",
                  "filed_at")).dump(objection)
        return json_response(out, status=201)

    @http("GET", "/api/v1/objections", query=schemas.ListQuerySchema,
          response=listing(schemas.ObjectionOutSchema),
          summary="异议列表（含异议人联系方式，以便核实答复）")
    def list_objections(self, request):
        """Staff only: the objector's contact, to verify and reply."""
        who = self._staff(request)
        filters = schemas.ListQuerySchema().load(request.args.to_dict())
        items = self._read(board.list_objections, filters)
        secret, sealer = self.settings.secret, self.contact_keys
        log.info("staff %s listed %d objection(s) (contacts shown)", who,
                 len(items))
        return json_response({"items": [
            schemas.ObjectionOutSchema().dump(
                {**o, "objector": domain.objector_contact(o, secret, sealer)})
            for o in items], "count": len(items)})

    @http("POST", "/api/v1/objections/<objection_id>/answer",
          request=schemas.AnswerSchema, response=schemas.ObjectionOutSchema,
          summary="答复异议", errors={409: "该异议已答复"})
    def answer_objection(self, request, objection_id):
        who = self._staff(request)
        require_json(request)
        data = load_body(request, schemas.AnswerSchema())
        objection = self._run(functools.partial(
            board.answer_objection, objection_id=objection_id,
            substantiated=data["substantiated"], answer=data["answer"],
            now=self.clock(), by=who, secret=self.settings.secret,
            sealer=self.contact_keys))
        return json_response(schemas.ObjectionOutSchema(
            exclude=("objector",)).dump(objection))

    # -- recommendations (推荐典型) ------------------------------------------

    @http("POST", "/api/v1/recommendations",
          request=schemas.RecommendationSchema,
          response={201: schemas.RecommendationOutSchema},
          summary="推荐典型（公开；推荐人联系方式加密保存）",
          errors={429: "提交过于频繁"})
    def submit_recommendation(self, request):
        """推荐典型 by anyone; the recommender's contact is sealed."""
        require_json(request)
        self._limit(request)
        data = load_body(request, schemas.RecommendationSchema(),
                         self.settings.max_body_bytes)
        rec = self._run(functools.partial(
            recommendations.recommend, data=data, now=self.clock(),
            source="public", secret=self.settings.secret,
            sealer=self.contact_keys))
        return json_response(schemas.RecommendationOutSchema().dump(rec),
                             status=201)

    @http("GET", "/api/v1/recommendations", query=schemas.ListQuerySchema,
          response=listing(schemas.RecommendationOutSchema),
          summary="公众推荐的典型")
    def list_recommendations(self, request):
        self._staff(request)
        filters = schemas.ListQuerySchema().load(request.args.to_dict())
        items = self._read(recommendations.list_recommendations, filters)
        return json_response({
            "items": schemas.RecommendationOutSchema(many=True).dump(items),
            "count": len(items)})
