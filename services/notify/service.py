"""Notify service (通知服务): entrypoints only."""

import logging

from sifuwu import events as ev
from sifuwu.auth import bearer_identity
from sifuwu.consumer import consumes
from sifuwu.service import ServiceBase
from sifuwu.web import http, json_response
from services.notify import domain, repository, schemas

log = logging.getLogger(__name__)


class NotifyService(ServiceBase):
    name = "notify"
    indexes = repository.INDEXES

    @consumes("feedback", ev.INVITATION_ISSUED)
    def on_invitation_issued(self, envelope):
        data = envelope["data"]
        phone = (data.get("recipient") or {}).get("phone")
        if not phone:
            return
        secret = self.settings.secret
        message = self.store.transaction(
            lambda uow: repository.create_sms(
                uow, envelope, phone, domain.invitation_sms(data),
                "feedback_invitation", secret=secret, now=self.clock()),
            consumed=("on_invitation_issued", envelope["event_id"]))
        self.deliver(message)

    def deliver(self, message):
        """Embedded SMS channel: the delivery log is the gateway."""
        db = self.store.db
        repository.move(db, message["_id"], domain.SENDING, self.clock())
        repository.move(db, message["_id"], domain.DELIVERED, self.clock(),
                        provider="delivery-log")
        log.info("sms %s delivered to %s", message["_id"],
                 message["to_masked"])

    @http("GET", "/api/v1/messages")
    def list_messages(self, request):
        bearer_identity(request, self.settings.staff_tokens)
        filters = schemas.MessageQuerySchema().load(request.args.to_dict())
        messages = repository.query(self.store.db, filters,
                                    self.settings.secret)
        return json_response({
            "items": schemas.MessageSchema(many=True).dump(messages),
            "count": len(messages)})
