"""Entrypoints of scoring (计分), as a mixin of the assessment service.

Consumers keep contributions and monthly scorecards current from the other
services' events; staff endpoints show scorecards and manage schemes.
Thin: load with a schema, run one step in a unit of work, dump.
"""

from sifuwu import events as ev
from sifuwu.batch import batch_consumes
from sifuwu.consumer import consumes
from marshmallow import fields

from sifuwu.contract import shape
from sifuwu.web import http, json_response, load_body
from services.assessment import schemas
from services.assessment.domain import months_of
from services.assessment.entrypoints import AssessmentEntrypoints
from services.assessment.scoring import queries, steps
from services.assessment.scoring.repository import ScoringRepository


class ScoringEntrypoints(AssessmentEntrypoints):
    """综合考评 scoring: the consumers, scorecards and schemes."""

    # -- helpers -------------------------------------------------------------

    def _apply(self, envelope, step, *args):
        """One transaction: the contribution change, its change added to
        the cards it touches, the consumed event id, the scorecard.updated
        events."""
        now = self.clock()
        self.store.transaction(
            lambda uow: step(uow, *args, now),
            consumed=envelope,
            correlation_id=envelope.get("correlation_id"),
            repository=ScoringRepository)

    def _batch(self, envelopes, load, step, record=True):
        """Apply a batch in one transaction (``transaction_batch``: the
        consumed ids dedupe it, or with ``record=False`` the effects keyed
        by event id do): ``load(envelope)`` validates each event first (an
        invalid one fails the batch, which is then replayed one event at a
        time and only that event dead-lettered); ``step(uow, loaded, now)``
        gets the fresh ones, loaded, in order, and writes their change to
        the cards at once."""
        loaded = {e["event_id"]: load(e) for e in envelopes}
        now = self.clock()

        def run(uow, fresh):
            step(uow, [loaded[e["event_id"]] for e in fresh], now)

        self.store.transaction_batch(run, envelopes, record=record,
                                     repository=ScoringRepository)

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
                    steps.add_activities, record=False)

    def _load_activity(self, envelope):
        data = schemas.ActivityLoggedSchema().load(envelope["data"])
        return envelope, self._month(data["occurred_at"])

    @batch_consumes("activity", ev.PARTY_ACTIVITY_LOGGED, max_batch=100,
                    max_wait=0.05)
    def on_party_activity_logged(self, envelopes):
        """Batched like activities: one 三会一课 touches every attendee's
        card, the branch's and the unit's; each is written once a batch."""
        self._batch(envelopes, self._load_party_activity,
                    steps.add_party_activities, record=False)

    def _load_party_activity(self, envelope):
        data = schemas.PartyActivityLoggedSchema().load(envelope["data"])
        return dict(envelope, data=data), self._month(data["occurred_at"])

    def _load_demand(self, envelope):
        data = schemas.DemandSchema().load(envelope["data"])
        return dict(envelope, data=data), self._month(data["raised_at"])

    @batch_consumes("activity", ev.DEMAND_RAISED, max_batch=200,
                    max_wait=0.05)
    def on_demand_raised(self, envelopes):
        """Batched: the newest state of each demand (across the batch and
        the store) is written once."""
        self._batch(envelopes, self._load_demand, steps.apply_demands)

    @batch_consumes("activity", ev.DEMAND_STATUS_CHANGED, max_batch=200,
                    max_wait=0.05)
    def on_demand_status_changed(self, envelopes):
        self._batch(envelopes, self._load_demand, steps.apply_demands)

    @batch_consumes("activity", ev.KPI_RECORDED, max_batch=200,
                    max_wait=0.05)
    def on_kpi_recorded(self, envelopes):
        """Batched: the newest value per subject, period and indicator."""
        self._batch(envelopes, lambda e: dict(
            e, data=schemas.KpiRecordedSchema().load(e["data"])),
            steps.apply_kpis)

    @batch_consumes("activity", ev.DIRECTORY_CHANGED, max_batch=200,
                    max_wait=0.05)
    def on_directory_changed(self, envelopes):
        """Batched: the newest record per entry is written once; members'
        contributions that came first are attributed in the same
        transaction."""
        self._batch(envelopes, lambda e: dict(
            e, data=schemas.DirectoryChangedSchema().load(e["data"])),
            steps.apply_directory_changes)

    def _load_rating(self, envelope):
        data = schemas.FeedbackSubmittedSchema().load(envelope["data"])
        return dict(envelope, data=data), self._month(data["submitted_at"])

    @batch_consumes("feedback", ev.FEEDBACK_SUBMITTED, max_batch=200,
                    max_wait=0.05)
    def on_feedback_submitted(self, envelopes):
        """Batched: ratings arrive by the thousand after a campaign. The
        rating's contribution (``rating:<rating id>``, inserted only if
        absent; one event per rating) is the record: no consumed ids."""
        self._batch(envelopes, self._load_rating, steps.add_ratings,
                    record=False)

    @consumes("feedback", ev.APPEAL_DECIDED)
    def on_appeal_decided(self, envelope):
        data = schemas.AppealDecidedSchema().load(envelope["data"])
        month = self._month(envelope["occurred_at"])
        envelope = dict(envelope, data=data)
        self._apply(envelope, steps.add_rating_mark, envelope, "appeal",
                    month)

    @consumes("feedback", ev.RECTIFICATION_CLOSED)
    def on_rectification_closed(self, envelope):
        data = schemas.RectificationClosedSchema().load(envelope["data"])
        month = self._month(data.get("closed_at") or envelope["occurred_at"])
        envelope = dict(envelope, data=data)
        self._apply(envelope, steps.add_rating_mark, envelope,
                    "rectification", month)

    # -- scorecards ----------------------------------------------------------

    @http("GET", "/api/v1/scorecards/members/<member_id>",
          response=schemas.MemberScorecardSchema, summary="一名党员的月度积分卡")
    def member_scorecard(self, request, member_id):
        self._check_subject(request, "member", member_id)
        card = queries.member_scorecard(self._reads(ScoringRepository),
                                        member_id)
        return json_response(schemas.MemberScorecardSchema().dump(card))

    @http("GET", "/api/v1/scorecards/<subject_type>/<subject_id>/<period>",
          response=schemas.ScorecardSchema, summary="单位、支部或党员在一个期间的积分卡",
          errors={400: "期间或对象类型有误"})
    def subject_scorecard(self, request, subject_type, subject_id, period):
        schemas.subject_type_arg(subject_type)
        schemas.period_arg(period)
        self._check_subject(request, subject_type, subject_id)
        card = queries.subject_card(self._reads(ScoringRepository),
                                    subject_type, subject_id, period)
        return json_response(schemas.ScorecardSchema().dump(card))

    # -- schemes -------------------------------------------------------------

    @http("GET", "/api/v1/schemes",
          response=shape("SchemeList", schemes=[schemas.SchemeSchema]),
          summary="考评方案的各版本")
    def list_schemes(self, request):
        self._staff(request)
        scores = self._reads(ScoringRepository)
        steps.ensure_default_scheme(scores, self.clock())
        return json_response({"schemes": schemas.SchemeSchema(
            many=True).dump(scores.all_schemes())})

    @http("GET", "/api/v1/schemes/<int:version>", response=schemas.SchemeSchema,
          summary="一版考评方案")
    def get_scheme(self, request, version):
        self._staff(request)
        scheme = self._reads(ScoringRepository).get_scheme(version)
        return json_response(schemas.SchemeSchema().dump(scheme))

    @http("POST", "/api/v1/schemes", request=schemas.SchemeCreateSchema,
          response={201: schemas.SchemeSchema}, summary="新增一版考评方案")
    def create_scheme(self, request):
        who = self._staff(request)
        body = load_body(request, schemas.SchemeCreateSchema(),
                         self.settings.max_body_bytes)
        now = self.clock()
        scheme = self.store.transaction(
            lambda uow: steps.create_scheme(
                uow, body, now=now, created_by=who,
                default_from=self._month(now)),
            repository=ScoringRepository)
        return json_response(schemas.SchemeSchema().dump(scheme), status=201)

    @http("POST", "/api/v1/periods/<period>/rescore",
          request=schemas.RescoreSchema,
          response=shape("RescoreAnswer", period=fields.String(),
                         version=fields.Integer(), cards=fields.Integer()),
          summary="按某版方案重算一个期间的积分卡")
    def rescore(self, request, period):
        self._staff(request)
        schemas.period_arg(period)
        body = load_body(request, schemas.RescoreSchema(),
                         self.settings.max_body_bytes)
        self._reads(ScoringRepository).get_scheme(body["version"])
        now = self.clock()
        cards = 0
        for month in months_of(period):
            cards += self.store.transaction(
                lambda uow, month=month: steps.rescore_month(
                    uow, month, body["version"], now),
                repository=ScoringRepository)
        return json_response({"period": period, "version": body["version"],
                              "cards": cards})
