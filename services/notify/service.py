"""Notify service (通知服务): entrypoints only.

Each entrypoint loads its input, runs one step (``steps``) and dumps the
answer. A routed event is planned into messages (routing table, contact
book, preferences, templates) and stored with the consumed event in one
transaction (the messages are the outbox of deliveries); then the ones due
now are sent (``delivery``). The sweeper sends the rest.

``invitation.issued`` comes by the thousand (one per service activity with a
phone), so it is consumed in batches: one transaction per batch with a
constant number of statements (``steps.plan_batch``), then the due messages
are sent in chunks (see ``delivery``): each SMS is still its own request to
the gateway, under the message id as its reference.
"""

import functools
import logging

from itsdangerous import BadSignature, URLSafeSerializer
from marshmallow import fields
from nameko.timer import timer

from sifuwu import events as ev
from sifuwu.access import actor
from sifuwu.batch import batch_consumes
from sifuwu.consumer import consumes
from sifuwu.errors import Forbidden
from sifuwu.privacy import contact_keys
from sifuwu.service import ServiceBase
from sifuwu.contract import listing, shape
from sifuwu.web import http, json_response, load_body
from services.notify import contacts, schemas, steps
from services.notify.delivery import first_due
from services.notify.dependencies import Channels
from services.notify.repository import INDEXES, Direct, NotifyRepository
from services.notify.settings import NotifySettings

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 10  # seconds
OPTOUT_SALT = "sifuwu-notify-optout"


class NotifyService(ServiceBase):
    name = "notify"
    indexes = INDEXES
    settings_class = NotifySettings

    channels = Channels()

    # -- routed events --------------------------------------------------------

    @batch_consumes("feedback", ev.INVITATION_ISSUED, max_batch=200,
                    max_wait=0.05)
    def on_invitation_issued(self, envelopes):
        self._notify_batch(envelopes)

    @consumes("activity", ev.DEMAND_RAISED)
    def on_demand_raised(self, envelope):
        self._notify(envelope)

    @consumes("activity", ev.DEMAND_OVERDUE)
    def on_demand_overdue(self, envelope):
        self._notify(envelope)

    @consumes("feedback", ev.RECTIFICATION_OPENED)
    def on_rectification_opened(self, envelope):
        self._notify(envelope)

    @consumes("feedback", ev.RECTIFICATION_OVERDUE)
    def on_rectification_overdue(self, envelope):
        self._notify(envelope)

    @consumes("assessment", ev.SELECTION_PUBLISHED)
    def on_selection_published(self, envelope):
        self._notify(envelope)

    @consumes("assessment", ev.PUBLICITY_OPENED)
    def on_publicity_opened(self, envelope):
        self._notify(envelope)

    @consumes("assessment", ev.SELECTION_FINALISED)
    def on_selection_finalised(self, envelope):
        self._notify(envelope)

    @consumes("feedback", ev.OBJECTION_ANSWERED)
    def on_objection_answered_by_feedback(self, envelope):
        """The answer to an objection, whichever staff gave it: feedback
        announces every answer, with the objector's contact."""
        self._notify(envelope)

    def _planning(self):
        dispatcher = self.channels
        return steps.Planning(
            secret=self.settings.secret, now=self.clock(),
            sealer=contact_keys(self.settings),
            available=frozenset(dispatcher.available),
            tz=self.settings.timezone, quiet=dispatcher.quiet_hours)

    def _notify(self, envelope):
        context = self._planning()
        created = self.store.transaction(
            functools.partial(steps.plan_event, envelope=envelope,
                              context=context),
            consumed=envelope, repository=NotifyRepository)
        self._send_first(created, context.now,
                         f"event {envelope['event_id']}")

    def _notify_batch(self, envelopes):
        """``_notify`` for a batch of events, in one transaction; a failing
        event fails the batch, which is then replayed one event at a time
        (``batch_consumes``), so only that event is dead-lettered."""
        context = self._planning()
        created = []

        def write(uow, fresh):
            created[:] = steps.plan_batch(uow, fresh, context)

        self.store.transaction_batch(write, envelopes,
                                     repository=NotifyRepository)
        self._send_first(created, context.now, f"{len(created)} message(s)")

    def _send_first(self, created, now, what):
        """Send the new messages due now; a failure here is stored on them
        and the sweeper retries."""
        try:
            self.channels.send_due(self.store.db, first_due(created, now),
                                   now, secret=self.settings.secret)
        except Exception as exc:  # noqa: BLE001 - stored; the sweeper sends
            log.warning("first send of %s failed (%s: %s); the sweeper will "
                        "retry", what, type(exc).__name__, exc)

    def _read(self):
        """The repository outside a transaction, for the reading steps."""
        return Direct(self.store.db)

    # -- the contact book ------------------------------------------------------

    @consumes("activity", ev.DIRECTORY_CHANGED)
    def on_directory_changed(self, envelope):
        change = schemas.DirectoryChangedSchema().load(envelope["data"])
        self.store.transaction(
            functools.partial(steps.record_directory_change, change=change,
                              secret=self.settings.secret, now=self.clock(),
                              sealer=contact_keys(self.settings),
                              as_of=envelope["occurred_at"]),
            consumed=envelope, repository=NotifyRepository)

    @http("PUT", "/api/v1/contacts/<kind>/<ref_id>",
          request=schemas.ContactSchema, response=schemas.ContactOutSchema,
          summary="补录联系方式（kind: member、recipient 等）")
    def put_contact(self, request, kind, ref_id):
        """Staff add addresses the directory does not carry."""
        contacts.check_kind(kind)  # an unknown path, before reading a body
        record = load_body(request, schemas.ContactSchema(),
                           self.settings.max_body_bytes)
        saved = self.store.transaction(
            functools.partial(steps.enter_contact, kind=kind, ref_id=ref_id,
                              record=record, secret=self.settings.secret,
                              now=self.clock(),
                              sealer=contact_keys(self.settings)),
            repository=NotifyRepository)
        return json_response(schemas.ContactOutSchema().dump(saved))

    @http("GET", "/api/v1/contacts/<kind>/<ref_id>",
          response=schemas.ContactOutSchema, summary="一条联系方式（已脱敏）")
    def get_contact(self, request, kind, ref_id):
        saved = steps.show_contact(self._read(), kind, ref_id)
        return json_response(schemas.ContactOutSchema().dump(saved))

    # -- the sweeper -------------------------------------------------------------

    @timer(interval=SWEEP_INTERVAL)
    def sweep(self):
        """Send what is due: held by quiet hours, retries whose backoff has
        passed, and anything stuck in created or sending."""
        sent = self.channels.sweep(self.store.db, self.clock(),
                                   secret=self.settings.secret)
        if sent:
            log.info("sweeper sent %d message(s)", len(sent))
        return len(sent)

    # -- operators -------------------------------------------------------------

    @http("GET", "/api/v1/messages", query=schemas.MessageQuerySchema,
          response=listing(schemas.MessageSchema), summary="消息记录")
    def list_messages(self, request):
        filters = schemas.MessageQuerySchema().load(request.args.to_dict())
        messages = steps.list_messages(self._read(), filters,
                                       secret=self.settings.secret)
        return json_response({
            "items": schemas.MessageSchema(many=True).dump(messages),
            "count": len(messages)})

    @http("GET", "/api/v1/messages/stats", query=schemas.StatsQuerySchema,
          response=shape("MessageStats", items=fields.List(fields.Dict()),
                         adapters=fields.Dict()),
          summary="按渠道与状态统计消息，及各渠道的适配器")
    def message_stats(self, request):
        period = schemas.StatsQuerySchema().load(request.args.to_dict())
        return json_response({
            "items": steps.message_stats(self._read(), period["since"],
                                         period["until"]),
            "adapters": self.channels.describe()})

    @http("GET", "/api/v1/messages/skipped",
          response=listing(schemas.SkipSchema),
          summary="未发送的通知及原因（?event_id= 筛选）")
    def skipped(self, request):
        skips = self._read().repo.skips_for(request.args.get("event_id"))
        return json_response({
            "items": schemas.SkipSchema(many=True).dump(skips),
            "count": len(skips)})

    @http("GET", "/api/v1/messages/<message_id>",
          response=schemas.MessageSchema, summary="一条消息及其投递历史")
    def get_message(self, request, message_id):
        message = self._read().repo.get_message(message_id)
        return json_response(schemas.MessageSchema().dump(message))

    @http("POST", "/api/v1/messages/<message_id>/resend", request=False,
          response={201: schemas.MessageSchema}, summary="重发一条消息",
          errors={409: "该消息当前状态不能重发"})
    def resend_message(self, request, message_id):
        who = actor(request)
        now = self.clock()
        message = self.store.transaction(
            functools.partial(steps.resend, message_id=message_id, now=now,
                              by=who),
            repository=NotifyRepository)
        sent = self.channels.send(self.store.db, message["_id"], now,
                                  secret=self.settings.secret)
        return json_response(schemas.MessageSchema().dump(sent or message),
                             status=201)

    # -- preferences (staff, or the recipient through an opt-out link) ----------

    @http("PUT", "/api/v1/preferences", request=schemas.PreferenceSchema,
          response=schemas.PreferenceOutSchema,
          summary="设置接收者的通知偏好（答复含退订令牌 optout_token）")
    def set_preference(self, request):
        wishes = load_body(request, schemas.PreferenceSchema(),
                           self.settings.max_body_bytes)
        recipient = steps.recipient_key(wishes, self.settings.secret)
        saved = self.store.transaction(
            functools.partial(steps.set_preference, recipient=recipient,
                              wishes=wishes, now=self.clock()),
            repository=NotifyRepository)
        body = schemas.PreferenceOutSchema().dump(saved)
        body["optout_token"] = self._optout_signer().dumps(recipient)
        return json_response(body)

    @http("GET", "/api/v1/preferences/<recipient>",
          response=schemas.PreferenceOutSchema, summary="一位接收者的通知偏好")
    def get_preference(self, request, recipient):
        saved = steps.show_preference(self._read(), recipient)
        return json_response(schemas.PreferenceOutSchema().dump(saved))

    @http("POST", "/api/v1/optout/<token>", request=False,
          response=shape("OptOut", recipient=fields.String(),
                         opt_out_non_essential=fields.Boolean(),
                         message=fields.String()),
          summary="接收者本人退订非必要通知（退订链接即凭证）",
          errors={403: "退订链接无效"})
    def opt_out(self, request, token):
        """The recipient's own opt-out of non-essential messages (退订)."""
        try:
            recipient = self._optout_signer().loads(token)
        except BadSignature:
            raise Forbidden("退订链接无效")
        self.store.transaction(
            functools.partial(steps.opt_out, recipient=recipient,
                              now=self.clock()),
            repository=NotifyRepository)
        return json_response({"recipient": recipient,
                              "opt_out_non_essential": True,
                              "message": "已退订非必要通知"})

    def _optout_signer(self):
        return URLSafeSerializer(self.settings.secret, salt=OPTOUT_SALT)

    # -- the public board feed (网) ----------------------------------------------

    @http("GET", "/api/v1/board-items",
          response=listing(schemas.BoardItemSchema), summary="公示栏条目（公开）")
    def board(self, request):
        items = self._read().repo.board_items()
        return json_response({
            "items": schemas.BoardItemSchema(many=True).dump(items),
            "count": len(items)})
