"""Assessment service (考评服务): entrypoints only.

Consumers keep contributions and monthly scorecards current from the other
services' events; staff endpoints manage schemes, rankings, the branch
ladder, exports and charts."""

from marshmallow import ValidationError
from werkzeug.wrappers import Response

from sifuwu import events as ev
from sifuwu.auth import bearer_identity
from sifuwu.batch import batch_consumes
from sifuwu.consumer import consumes
from sifuwu.service import ServiceBase
from sifuwu.web import http, json_response, load_body
from services.assessment import domain, reports, repository, schemas
from services.assessment.dependencies import DefaultScheme
from services.assessment.selection.entrypoints import SelectionEntrypoints
from services.assessment.selection.repository import SELECTION_INDEXES

CHART_TYPES = {"png": "image/png", "svg": "image/svg+xml"}
XLSX_TYPE = ("application/vnd.openxmlformats-officedocument."
             "spreadsheetml.sheet")
# Rankings of units and branches are public (the board); members' are not.
PUBLIC_CHART_SUBJECTS = ("unit", "branch", "three_rates")


class AssessmentService(SelectionEntrypoints, ServiceBase):
    """Combined assessment (综合考评) and open selection (开门评选, the
    ``SelectionEntrypoints`` mixin in services/assessment/selection/)."""

    name = "assessment"
    indexes = {**repository.INDEXES, **SELECTION_INDEXES}
    retired_indexes = repository.RETIRED_INDEXES

    default_scheme = DefaultScheme()

    # -- helpers -------------------------------------------------------------

    def _month(self, moment):
        return domain.month_of(moment, self.settings.timezone)

    def _apply(self, envelope, change):
        """One transaction: the contribution change, its change added to
        the cards it touches, the consumed event id, the scorecard.updated
        events."""
        now = self.clock()
        self.store.transaction(
            lambda uow: repository.apply_changes(uow, change(uow), now),
            consumed=envelope,
            correlation_id=envelope.get("correlation_id"))

    def _staff(self, request):
        return bearer_identity(request, self.settings.staff_tokens)

    # -- consumers -----------------------------------------------------------

    @batch_consumes("activity", ev.ACTIVITY_LOGGED, max_batch=200,
                    max_wait=0.05)
    def on_activity_logged(self, envelopes):
        """Batched: activities arrive by the thousand (a year from another
        system). A batch costs a constant number of statements: its
        contributions are inserted at once and the change of sums of every
        card it touches (member, branch, unit) is written at once. A
        redelivered event finds its contribution stored and changes
        nothing."""
        # A contribution is keyed by its event id and inserted only if
        # absent: it is the consumed record (none written besides).
        self._batch(envelopes, self._load_activity,
                    repository.add_activities, record=False)

    def _load_activity(self, envelope):
        data = schemas.ActivityLoggedSchema().load(envelope["data"])
        return envelope, self._month(data["occurred_at"])

    @batch_consumes("activity", ev.PARTY_ACTIVITY_LOGGED, max_batch=100,
                    max_wait=0.05)
    def on_party_activity_logged(self, envelopes):
        """Batched like activities: one 三会一课 touches every attendee's
        card, the branch's and the unit's; each is written once a batch."""
        self._batch(envelopes,
                    self._load_party_activity,
                    repository.add_party_activities, record=False)

    def _load_party_activity(self, envelope):
        data = schemas.PartyActivityLoggedSchema().load(envelope["data"])
        return dict(envelope, data=data), self._month(data["occurred_at"])

    def _batch(self, envelopes, load, apply, record=True):
        """Apply a batch in one transaction (``transaction_batch``: the
        consumed ids dedupe it, or with ``record=False`` the effects keyed
        by event id do): ``load(envelope)`` validates each event first (an
        invalid one fails the batch, which is then replayed one event at a
        time and only that event dead-lettered); ``apply(uow, loaded)`` gets
        the fresh ones, loaded, in order, and returns the change to the
        cards, written at once."""
        loaded = {e["event_id"]: load(e) for e in envelopes}
        now = self.clock()

        def run(uow, fresh):
            changes = apply(uow, [loaded[e["event_id"]] for e in fresh])
            repository.apply_changes(uow, changes, now)

        self.store.transaction_batch(run, envelopes, record=record)

    def _load_demand(self, envelope):
        data = schemas.DemandSchema().load(envelope["data"])
        return dict(envelope, data=data), self._month(data["raised_at"])

    @batch_consumes("activity", ev.DEMAND_RAISED, max_batch=200,
                    max_wait=0.05)
    def on_demand_raised(self, envelopes):
        """Batched: the newest state of each demand (across the batch and
        the store) is written once."""
        self._batch(envelopes, self._load_demand,
                    repository.apply_demands)

    @batch_consumes("activity", ev.DEMAND_STATUS_CHANGED, max_batch=200,
                    max_wait=0.05)
    def on_demand_status_changed(self, envelopes):
        self._batch(envelopes, self._load_demand,
                    repository.apply_demands)

    @batch_consumes("activity", ev.KPI_RECORDED, max_batch=200,
                    max_wait=0.05)
    def on_kpi_recorded(self, envelopes):
        """Batched: the newest value per subject, period and indicator."""
        self._batch(envelopes, lambda e: dict(
            e, data=schemas.KpiRecordedSchema().load(e["data"])),
            repository.apply_kpis)

    @batch_consumes("activity", ev.DIRECTORY_CHANGED, max_batch=200,
                    max_wait=0.05)
    def on_directory_changed(self, envelopes):
        """Batched: the newest record per entry is written once; members'
        contributions that came first are attributed in the same
        transaction."""
        self._batch(envelopes, lambda e: dict(
            e, data=schemas.DirectoryChangedSchema().load(e["data"])),
            repository.apply_directory_changes)

    def _load_rating(self, envelope):
        data = schemas.FeedbackSubmittedSchema().load(envelope["data"])
        return dict(envelope, data=data), self._month(data["submitted_at"])

    @batch_consumes("feedback", ev.FEEDBACK_SUBMITTED, max_batch=200,
                    max_wait=0.05)
    def on_feedback_submitted(self, envelopes):
        """Batched: ratings arrive by the thousand after a campaign. The
        rating's contribution (``rating:<rating id>``, inserted only if
        absent; one event per rating) is the record: no consumed ids."""
        self._batch(envelopes, self._load_rating,
                    repository.add_ratings, record=False)

    @consumes("feedback", ev.APPEAL_DECIDED)
    def on_appeal_decided(self, envelope):
        data = schemas.AppealDecidedSchema().load(envelope["data"])
        month = self._month(envelope["occurred_at"])
        envelope = dict(envelope, data=data)
        self._apply(envelope,
                    lambda uow: repository.add_rating_mark(
                        uow, envelope, "appeal", month))

    @consumes("feedback", ev.RECTIFICATION_CLOSED)
    def on_rectification_closed(self, envelope):
        data = schemas.RectificationClosedSchema().load(envelope["data"])
        month = self._month(data.get("closed_at") or envelope["occurred_at"])
        envelope = dict(envelope, data=data)
        self._apply(envelope,
                    lambda uow: repository.add_rating_mark(
                        uow, envelope, "rectification", month))

    # -- scorecards ----------------------------------------------------------

    @http("GET", "/api/v1/scorecards/members/<member_id>")
    def member_scorecard(self, request, member_id):
        card = repository.member_scorecard(self.store.db, member_id)
        return json_response(schemas.MemberScorecardSchema().dump(card))

    @http("GET", "/api/v1/scorecards/<subject_type>/<subject_id>/<period>")
    def subject_scorecard(self, request, subject_type, subject_id, period):
        self._staff(request)
        schemas.subject_type_arg(subject_type)
        schemas.period_arg(period)
        card = repository.subject_card(self.store.db, subject_type,
                                       subject_id, period)
        return json_response(schemas.ScorecardSchema().dump(card))

    # -- schemes -------------------------------------------------------------

    @http("GET", "/api/v1/schemes")
    def list_schemes(self, request):
        self._staff(request)
        repository.ensure_default_scheme(self.store.db, self.clock())
        found = repository.all_schemes(self.store.db)
        return json_response({"schemes": schemas.SchemeSchema(
            many=True).dump(found)})

    @http("GET", "/api/v1/schemes/<int:version>")
    def get_scheme(self, request, version):
        self._staff(request)
        scheme = repository.get_scheme(self.store.db, version)
        return json_response(schemas.SchemeSchema().dump(scheme))

    @http("POST", "/api/v1/schemes")
    def create_scheme(self, request):
        who = self._staff(request)
        body = load_body(request, schemas.SchemeCreateSchema(),
                         self.settings.max_body_bytes)
        now = self.clock()
        scheme = self.store.transaction(
            lambda uow: repository.create_scheme(
                uow, body, now=now, created_by=who,
                default_from=self._month(now)))
        return json_response(schemas.SchemeSchema().dump(scheme), status=201)

    @http("POST", "/api/v1/periods/<period>/rescore")
    def rescore(self, request, period):
        self._staff(request)
        schemas.period_arg(period)
        body = load_body(request, schemas.RescoreSchema(),
                         self.settings.max_body_bytes)
        repository.get_scheme(self.store.db, body["version"])
        now = self.clock()
        cards = 0
        for month in domain.months_of(period):
            cards += self.store.transaction(
                lambda uow, month=month: repository.rescore_month(
                    uow, month, body["version"], now))
        return json_response({"period": period, "version": body["version"],
                              "cards": cards})

    # -- rankings and three rates --------------------------------------------

    def _board(self, period, subject_type):
        if subject_type == "three_rates":
            return repository.three_rates(self.store.db,
                                          schemas.month_arg(period))
        schemas.subject_type_arg(subject_type)
        return repository.ranking(self.store.db, subject_type, period)

    @http("GET", "/api/v1/rankings/<period>")
    def get_ranking(self, request, period):
        self._staff(request)
        schemas.period_arg(period)
        subject_type = request.args.get("subject_type", "unit")
        return json_response(self._board(period, subject_type))

    @http("GET", "/api/v1/rates/<period>")
    def get_rates(self, request, period):
        self._staff(request)
        return json_response(self._board(period, "three_rates"))

    @http("POST", "/api/v1/rankings/<period>/publish")
    def publish_ranking(self, request, period):
        who = self._staff(request)
        schemas.period_arg(period)
        body = load_body(request, schemas.PublishSchema(),
                         self.settings.max_body_bytes)
        board = self._board(period, body["subject_type"])
        now = self.clock()
        doc = self.store.transaction(
            lambda uow: repository.publish_ranking(uow, board, now, who))
        return json_response(dict(board, ranking_id=doc["_id"],
                                  published_at=now), status=201)

    # -- the branch ladder ---------------------------------------------------

    @http("POST", "/api/v1/ladder/<period>/evaluate")
    def evaluate_ladder(self, request, period):
        self._staff(request)
        schemas.period_arg(period)
        now = self.clock()
        changes = self.store.transaction(
            lambda uow: repository.evaluate_ladder(uow, period, now))
        return json_response({"period": period, "changes": changes})

    @http("GET", "/api/v1/branches/<branch_id>")
    def get_branch(self, request, branch_id):
        self._staff(request)
        branch = repository.get_branch(self.store.db, branch_id)
        entry = repository.directory_entry(self.store.db, "branch",
                                           branch_id) or {}
        branch = dict(branch, name=entry.get("name"),
                      rung_label=domain.rung_label(branch.get("rung")))
        return json_response(schemas.BranchSchema().dump(branch))

    # -- results that are used -----------------------------------------------

    def _boards(self, period, subject_type=None):
        types = [schemas.subject_type_arg(subject_type)] if subject_type \
            else list(domain.SUBJECT_TYPES)
        return [repository.ranking(self.store.db, t, period) for t in types]

    @http("GET", "/api/v1/exports/<period>.csv")
    def export_csv(self, request, period):
        self._staff(request)
        schemas.period_arg(period)
        boards = self._boards(period, request.args.get("subject_type"))
        return Response(reports.export_csv(boards),
                        mimetype="text/csv", headers={
                            "Content-Disposition":
                                f'attachment; filename="assessment-{period}.csv"'})

    @http("GET", "/api/v1/exports/<period>.xlsx")
    def export_xlsx(self, request, period):
        self._staff(request)
        schemas.period_arg(period)
        boards = self._boards(period)
        rates = (repository.three_rates(self.store.db, period)
                 if domain.period_kind(period) == "month" else None)
        reviews = repository.secretary_reviews(self.store.db, period, boards)
        return Response(reports.export_xlsx(boards, rates, reviews),
                        mimetype=XLSX_TYPE, headers={
                            "Content-Disposition":
                                f'attachment; filename="assessment-{period}.xlsx"'})

    @http("GET", "/api/v1/charts/rankings/<period>.<any(png, svg):fmt>")
    def ranking_chart(self, request, period, fmt):
        schemas.period_arg(period)
        subject_type = request.args.get("subject_type", "unit")
        if subject_type not in PUBLIC_CHART_SUBJECTS:
            self._staff(request)
        board = self._board(period, subject_type)
        return Response(reports.ranking_chart(board, fmt),
                        mimetype=CHART_TYPES[fmt])

    @http("GET", "/api/v1/charts/trend/<subject_type>/<subject_id>.<any(png, svg):fmt>")
    def trend_chart(self, request, subject_type, subject_id, fmt):
        schemas.subject_type_arg(subject_type)
        if subject_type not in PUBLIC_CHART_SUBJECTS:
            self._staff(request)
        year = request.args.get("year") or self._month(self.clock())[:4]
        if domain.period_kind(year) != "year":
            raise ValidationError({"year": ["年份格式应为 YYYY"]})
        name, series = repository.trend(self.store.db, subject_type,
                                        subject_id, year)
        return Response(reports.trend_chart(name, series, fmt),
                        mimetype=CHART_TYPES[fmt])
