"""Entrypoints of the results that are used (考核结果运用): exports and
charts, as a mixin of the assessment service."""

from marshmallow import ValidationError
from werkzeug.wrappers import Response

from sifuwu.access import BRANCH_SECRETARY, UNIT_STAFF, require_role
from sifuwu.policy import OVERSIGHT
from sifuwu.web import http
from services.assessment import schemas
from services.assessment.domain import SUBJECT_TYPES, period_kind
from services.assessment.entrypoints import AssessmentEntrypoints
from services.assessment.ranking.entrypoints import board_of
from services.assessment.ranking.steps import three_rates
from services.assessment.reports import domain, steps
from services.assessment.reports.repository import ReportsRepository

CHART_TYPES = {"png": "image/png", "svg": "image/svg+xml"}
XLSX_TYPE = ("application/vnd.openxmlformats-officedocument."
             "spreadsheetml.sheet")
# Rankings of units and branches are public (the board); members' are not.
PUBLIC_CHART_SUBJECTS = ("unit", "branch", "three_rates")


class ReportEntrypoints(AssessmentEntrypoints):
    """CSV and XLSX exports, ranking and trend charts."""

    @http("GET", "/api/v1/exports/<period>.csv", response="text/csv",
          summary="导出排名（CSV；?subject_type= 只导出一类）",
          errors={400: "期间或对象类型有误"})
    def export_csv(self, request, period):
        self._staff(request)
        schemas.period_arg(period)
        subject_type = request.args.get("subject_type")
        types = [schemas.subject_type_arg(subject_type)] if subject_type \
            else list(SUBJECT_TYPES)
        boards = steps.boards(self._reads(ReportsRepository), period, types)
        return Response(domain.export_csv(boards),
                        mimetype="text/csv", headers={
                            "Content-Disposition":
                                f'attachment; filename="assessment-{period}.csv"'})

    @http("GET", "/api/v1/exports/<period>.xlsx", response=XLSX_TYPE,
          summary="导出述职考评表（XLSX：排名、三率、评价）",
          errors={400: "期间格式有误"})
    def export_xlsx(self, request, period):
        self._staff(request)
        schemas.period_arg(period)
        reports = self._reads(ReportsRepository)
        boards = steps.boards(reports, period)
        rates = (three_rates(reports.scoring, period)
                 if period_kind(period) == "month" else None)
        reviews = steps.secretary_reviews(reports, period, boards)
        return Response(domain.export_xlsx(boards, rates, reviews),
                        mimetype=XLSX_TYPE, headers={
                            "Content-Disposition":
                                f'attachment; filename="assessment-{period}.xlsx"'})

    @http("GET", "/api/v1/charts/rankings/<period>.<any(png, svg):fmt>",
          response=("image/png", "image/svg+xml"),
          summary="排名图（PNG 或 SVG）；单位、支部与三率公开，党员的须督查类角色",
          errors={400: "期间或对象类型有误",
                  401: "党员排名图须登录", 403: "党员排名图须工委、督查或审计"})
    def ranking_chart(self, request, period, fmt):
        schemas.period_arg(period)
        subject_type = request.args.get("subject_type", "unit")
        if subject_type not in PUBLIC_CHART_SUBJECTS:
            require_role(request, *OVERSIGHT)
        board = board_of(self._reads(ReportsRepository).scoring, period,
                         subject_type)
        return Response(domain.ranking_chart(board, fmt),
                        mimetype=CHART_TYPES[fmt])

    @http("GET", "/api/v1/charts/trend/<subject_type>/<subject_id>.<any(png, svg):fmt>",
          response=("image/png", "image/svg+xml"),
          summary="得分趋势图（PNG 或 SVG）；党员的须督查类角色",
          errors={400: "对象类型有误",
                  401: "党员趋势图须登录", 403: "党员趋势图须工委、督查或审计"})
    def trend_chart(self, request, subject_type, subject_id, fmt):
        schemas.subject_type_arg(subject_type)
        if subject_type not in PUBLIC_CHART_SUBJECTS:
            require_role(request, *OVERSIGHT, UNIT_STAFF, BRANCH_SECRETARY)
            self._check_subject(request, subject_type, subject_id)
        year = request.args.get("year") or self._month(self.clock())[:4]
        if period_kind(year) != "year":
            raise ValidationError({"year": ["年份格式应为 YYYY"]})
        name, series = steps.trend(self._reads(ReportsRepository),
                                   subject_type, subject_id, year)
        return Response(domain.trend_chart(name, series, fmt),
                        mimetype=CHART_TYPES[fmt])
