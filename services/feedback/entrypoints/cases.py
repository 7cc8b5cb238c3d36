"""Staff entrypoints of bad reviews: rectifications (整改: list, detail with
the reviewer's contact, callback, close), appeals (申诉: file, list, decide)
and the overdue sweeper."""

import functools
import logging

from nameko.timer import timer

from sifuwu.access import CITY
from sifuwu.contract import listing
from sifuwu.web import http, json_response, load_body
from services.feedback import domain, schemas
from services.feedback.entrypoints.web import (
    FeedbackWeb, require_json, scoped_filters,
)
from services.feedback.steps import appeals, rectifications

log = logging.getLogger(__name__)

SWEEP_SECONDS = 60


class CaseEntrypoints(FeedbackWeb):

    def _rect_out(self, rect, reveal=False):
        return schemas.RectificationSchema().dump(
            {**rect, "reviewer": domain.reviewer_contact(
                rect, self.settings.secret, reveal, self.contact_keys)})

    # -- rectifications -----------------------------------------------------

    def _in_scope(self, request, record, what):
        """404 for a record of another unit (a unit's staff see their own)."""
        request.grant.check((record or {}).get("unit_id"),
                            (record or {}).get("branch_id"), what=what)

    def _check_rectification(self, request, rect_id):
        if request.grant.scope != CITY:
            self._in_scope(request, self._read(
                rectifications.show_rectification, rect_id), "整改单")

    @http("GET", "/api/v1/rectifications", query=schemas.ListQuerySchema,
          response=listing(schemas.RectificationSchema), summary="整改事项")
    def list_rectifications(self, request):
        filters = scoped_filters(request, schemas.ListQuerySchema().load(
            request.args.to_dict()))
        items = [] if filters is None else \
            self._read(rectifications.list_rectifications, filters)
        return json_response({"items": [self._rect_out(r) for r in items],
                              "count": len(items)})

    @http("GET", "/api/v1/rectifications/<rect_id>",
          response=schemas.RectificationSchema,
          summary="一项整改（含评价人联系方式，以便回访）")
    def get_rectification(self, request, rect_id):
        """Staff see the reviewer's contact here, to call back (回访)."""
        who = self._staff(request)
        rect = self._read(rectifications.show_rectification, rect_id)
        self._in_scope(request, rect, "整改单")
        log.info("staff %s opened rectification %s (reviewer contact shown)",
                 who, rect_id)
        return json_response(self._rect_out(rect, reveal=True))

    @http("POST", "/api/v1/rectifications/<rect_id>/callback",
          request=schemas.CallbackSchema, response=schemas.RectificationSchema,
          summary="记录回访", errors={409: "整改当前状态不允许该操作"})
    def record_callback(self, request, rect_id):
        who = self._staff(request)
        self._check_rectification(request, rect_id)
        require_json(request)
        data = load_body(request, schemas.CallbackSchema())
        rect = self._run(functools.partial(
            rectifications.record_callback, rect_id=rect_id,
            note=data["note"], now=self.clock(), by=who))
        return json_response(self._rect_out(rect))

    @http("POST", "/api/v1/rectifications/<rect_id>/close",
          request=schemas.CloseSchema, response=schemas.RectificationSchema,
          summary="整改完成（邀请再次评价）",
          errors={409: "整改当前状态不允许该操作"})
    def close_rectification(self, request, rect_id):
        who = self._staff(request)
        self._check_rectification(request, rect_id)
        require_json(request)
        data = load_body(request, schemas.CloseSchema())
        rect = self._run(functools.partial(
            rectifications.close_rectification, rect_id=rect_id,
            outcome=data["outcome"], now=self.clock(), by=who,
            **self._links()))
        return json_response(self._rect_out(rect))

    @timer(interval=SWEEP_SECONDS, eager=True)
    def sweep_overdue(self):
        """Announce passed callback/fix deadlines (rectification.overdue)."""
        now = self.clock()
        announced = 0
        for rect_id in self._read(rectifications.overdue_candidates, now):
            kinds = self._run(functools.partial(
                rectifications.flag_overdue, rect_id=rect_id, now=now))
            announced += len(kinds)
        if announced:
            log.info("rectification sweep: %d overdue deadline(s) announced",
                     announced)
        return announced

    # -- appeals ------------------------------------------------------------

    @http("POST", "/api/v1/ratings/<rating_id>/appeals",
          request=schemas.AppealSchema, response={201: schemas.AppealOutSchema},
          summary="对一条评价提出申诉", errors={409: "该评价已有申诉"})
    def file_appeal(self, request, rating_id):
        """申诉 by the unit's staff account."""
        who = self._staff(request)
        if request.grant.scope != CITY:
            self._in_scope(request, self._read(appeals.rating_of, rating_id),
                           "评价")
        require_json(request)
        data = load_body(request, schemas.AppealSchema())
        appeal = self._run(functools.partial(
            appeals.file_appeal, rating_id=rating_id, reason=data["reason"],
            now=self.clock(), by=who))
        return json_response(schemas.AppealOutSchema().dump(appeal),
                             status=201)

    @http("GET", "/api/v1/appeals", query=schemas.ListQuerySchema,
          response=listing(schemas.AppealOutSchema), summary="申诉列表")
    def list_appeals(self, request):
        filters = scoped_filters(request, schemas.ListQuerySchema().load(
            request.args.to_dict()))
        items = [] if filters is None else \
            self._read(appeals.list_appeals, filters)
        return json_response({
            "items": schemas.AppealOutSchema(many=True).dump(items),
            "count": len(items)})

    @http("POST", "/api/v1/appeals/<appeal_id>/decision",
          request=schemas.AppealDecisionSchema, response=schemas.AppealOutSchema,
          summary="裁定申诉（成立则该评价不计分）", errors={409: "该申诉已裁定"})
    def decide_appeal(self, request, appeal_id):
        who = self._staff(request)
        require_json(request)
        data = load_body(request, schemas.AppealDecisionSchema())
        appeal = self._run(functools.partial(
            appeals.decide_appeal, appeal_id=appeal_id,
            upheld=data["upheld"], reason=data["reason"], now=self.clock(),
            by=who))
        return json_response(schemas.AppealOutSchema().dump(appeal))
