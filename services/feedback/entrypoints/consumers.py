"""Events from other services: activities and resolved demands invite their
recipients to rate (邀请评价); publicity lists and answers given in
assessment feed the board."""

import functools

from sifuwu import events as ev
from sifuwu.batch import batch_consumes
from sifuwu.consumer import consumes
from services.feedback import domain, repository, schemas
from services.feedback.entrypoints.web import FeedbackWeb
from services.feedback.steps import board, invitations


class ConsumerEntrypoints(FeedbackWeb):

    @batch_consumes("activity", ev.ACTIVITY_LOGGED, max_batch=200,
                    max_wait=0.05)
    def on_activity_logged(self, envelopes):
        """A service activity with a recipient phone gets an invitation.

        Batched: activities arrive by the thousand. A batch is one
        transaction of a constant number of statements (the dedupe read,
        the consumed ids, one read of the subjects already invited, one
        insert of the invitations, the outbox, the commit); a batch without
        phones costs none. An invalid event fails the batch, which is then
        replayed one event at a time so only that one is dead-lettered."""
        schema = schemas.ActivityLoggedSchema()
        wanted = {}
        for envelope in envelopes:
            activity = schema.load(envelope["data"])
            if activity["recipient"].get("phone"):
                wanted[envelope["event_id"]] = activity
        if not wanted:
            return
        now, links = self.clock(), self._links()

        def apply(uow, fresh):
            invitations.invite_many(uow, [{
                "subject_type": domain.SUBJECT_ACTIVITY,
                "subject_id": wanted[env["event_id"]]["activity_id"],
                "contact": wanted[env["event_id"]]["recipient"],
                "subject": wanted[env["event_id"]],
                "correlation_id": env.get("correlation_id")}
                for env in fresh], now=now, **links)

        self.store.transaction_batch(
            apply, [env for env in envelopes if env["event_id"] in wanted],
            repository=repository.FeedbackRepository)

    @consumes("activity", ev.DEMAND_STATUS_CHANGED)
    def on_demand_status_changed(self, envelope):
        """A resolved demand: invite its raiser to rate the handling."""
        demand = schemas.DemandStatusChangedSchema().load(envelope["data"])
        raiser = demand.get("raiser") or {}
        if demand["status"] != "resolved" or not raiser.get("phone"):
            return
        self._run(functools.partial(
            invitations.invite, subject_type=domain.SUBJECT_DEMAND,
            subject_id=demand["demand_id"], contact=raiser, subject={
                "member_id": demand.get("member_id"),
                "member_name": demand.get("member_name"),
                "unit_id": demand.get("owner_unit_id"),
                "branch_id": demand.get("branch_id"),
                "category": demand.get("category")},
            now=self.clock(), correlation_id=envelope.get("correlation_id"),
            **self._links()),
            consumed=envelope, correlation_id=envelope.get("correlation_id"))

    @consumes("assessment", ev.PUBLICITY_OPENED)
    def on_publicity_opened(self, envelope):
        """Keep the board's copy of a publicity list (公示)."""
        data = schemas.PublicityOpenedSchema().load(envelope["data"])
        self._run(functools.partial(board.save_publicity, data=data,
                                    now=self.clock()),
                  consumed=envelope)

    @consumes("assessment", ev.OBJECTION_DECIDED)
    def on_objection_decided(self, envelope):
        """A ruling given in assessment: the board shows it and announces the
        answer (``objection.answered``) like one given here."""
        data = schemas.ObjectionAnsweredSchema().load(envelope["data"])
        self._run(functools.partial(board.record_decision, data=data,
                                    now=self.clock(),
                                    secret=self.settings.secret,
                                    sealer=self.contact_keys),
                  consumed=envelope)
