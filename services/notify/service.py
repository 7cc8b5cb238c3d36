"""Notify service (通知服务): entrypoints only.

Every routed event goes through ``_notify``: plan the messages (routing
table, contact book, preferences, templates), store them with the consumed
event id in one transaction (the messages are the outbox of deliveries), then
send the ones due now. The sweeper sends the rest.

``invitation.issued`` comes by the thousand (one per service activity with a
phone), so it is consumed in batches (``_notify_batch``): one transaction per
batch with a constant number of statements (dedupe, preferences of every
recipient at once, existing messages at once, one insert), then the due
messages are sent in chunks (see ``delivery``): each SMS is still its own
request to the gateway, under the message id as its reference.
"""

import logging

from itsdangerous import BadSignature, URLSafeSerializer
from nameko.timer import timer

from sifuwu import events as ev
from sifuwu.auth import bearer_identity
from sifuwu.batch import batch_consumes
from sifuwu.consumer import consumes
from sifuwu.errors import Forbidden, NotFound
from sifuwu.privacy import contact_hash
from sifuwu.service import ServiceBase
from sifuwu.web import http, json_response, load_body
from services.notify import planning, repository, schemas
from services.notify.delivery import first_due
from services.notify.dependencies import Channels

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 10  # seconds
OPTOUT_SALT = "sifuwu-notify-optout"


class NotifyService(ServiceBase):
    name = "notify"
    indexes = repository.INDEXES

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

    @consumes("assessment", ev.OBJECTION_ANSWERED)
    def on_objection_answered(self, envelope):
        self._notify(envelope)

    @consumes("feedback", ev.OBJECTION_ANSWERED)
    def on_objection_answered_by_feedback(self, envelope):
        self._notify(envelope)

    def _notify(self, envelope):
        secret = self.settings.secret
        now = self.clock()
        dispatcher = self.channels
        db = self.store.db

        def write(uow):
            result = planning.plan(
                envelope,
                resolve=lambda ref: repository.resolve(
                    db, ref, secret=secret, session=uow.session),
                preference=lambda who: repository.get_preference(
                    db, who, session=uow.session),
                secret=secret, now=now, available=dispatcher.available,
                tz=self.settings.timezone, quiet=dispatcher.quiet_hours)
            return repository.insert_planned(uow, result.messages,
                                             result.skips)

        created = self.store.transaction(
            write, consumed=envelope)
        try:
            dispatcher.send_due(db, first_due(created, now), now,
                                secret=secret)
        except Exception as exc:  # noqa: BLE001 - stored; the sweeper sends
            log.warning("first send of event %s failed (%s: %s); the "
                        "sweeper will retry", envelope["event_id"],
                        type(exc).__name__, exc)

    def _notify_batch(self, envelopes):
        """``_notify`` for a batch of events, in one transaction; a failing
        event fails the batch, which is then replayed one event at a time
        (``batch_consumes``), so only that event is dead-lettered."""
        secret = self.settings.secret
        now = self.clock()
        dispatcher = self.channels
        db = self.store.db
        available, quiet = dispatcher.available, dispatcher.quiet_hours
        timezone = self.settings.timezone
        created = []

        def write(uow, fresh):
            book = {}

            def resolve(ref):  # each reference read once a batch
                if ref not in book:
                    book[ref] = repository.resolve(
                        db, ref, secret=secret, session=uow.session)
                return book[ref]

            keys = set()
            for envelope in fresh:
                keys |= planning.recipient_keys(envelope, resolve=resolve,
                                                secret=secret)
            preferences = repository.get_preferences(db, keys,
                                                     session=uow.session)
            messages, skips = [], []
            for envelope in fresh:
                result = planning.plan(
                    envelope, resolve=resolve, preference=preferences.get,
                    secret=secret, now=now, available=available,
                    tz=timezone, quiet=quiet)
                messages += result.messages
                skips += result.skips
            created[:] = repository.insert_planned(uow, messages, skips)

        self.store.transaction_batch(write, envelopes)
        try:
            dispatcher.send_due(db, first_due(created, now), now,
                                secret=secret)
        except Exception as exc:  # noqa: BLE001 - stored; the sweeper sends
            log.warning("first send of %d message(s) failed (%s: %s); the "
                        "sweeper will retry", len(created),
                        type(exc).__name__, exc)

    # -- the contact book ------------------------------------------------------

    @consumes("activity", ev.DIRECTORY_CHANGED)
    def on_directory_changed(self, envelope):
        change = schemas.DirectoryChangedSchema().load(envelope["data"])
        secret = self.settings.secret
        now = self.clock()
        self.store.transaction(
            lambda uow: repository.upsert_contact(
                uow, change["kind"], change["id"], change["record"],
                secret=secret, now=now, as_of=envelope["occurred_at"]),
            consumed=envelope)

    @http("PUT", "/api/v1/contacts/<kind>/<ref_id>")
    def put_contact(self, request, kind, ref_id):
        """Staff add addresses the directory does not carry."""
        bearer_identity(request, self.settings.staff_tokens)
        if kind not in ("member", "unit", "recipient", "branch", "division"):
            raise NotFound("未知的联系人类型")
        record = load_body(request, schemas.ContactSchema(),
                           self.settings.max_body_bytes)
        secret = self.settings.secret
        now = self.clock()
        saved = self.store.transaction(
            lambda uow: repository.upsert_contact(
                uow, kind, ref_id, record, secret=secret, now=now))
        return json_response(schemas.ContactOutSchema().dump(saved))

    @http("GET", "/api/v1/contacts/<kind>/<ref_id>")
    def get_contact(self, request, kind, ref_id):
        bearer_identity(request, self.settings.staff_tokens)
        saved = self.store.db[repository.CONTACTS].find_one(
            {"_id": f"{kind}:{ref_id}"})
        if saved is None:
            raise NotFound("通讯录中没有该联系人")
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

    @http("GET", "/api/v1/messages")
    def list_messages(self, request):
        bearer_identity(request, self.settings.staff_tokens)
        filters = schemas.MessageQuerySchema().load(request.args.to_dict())
        messages = repository.query(self.store.db, filters,
                                    self.settings.secret)
        return json_response({
            "items": schemas.MessageSchema(many=True).dump(messages),
            "count": len(messages)})

    @http("GET", "/api/v1/messages/stats")
    def message_stats(self, request):
        bearer_identity(request, self.settings.staff_tokens)
        period = schemas.StatsQuerySchema().load(request.args.to_dict())
        return json_response({
            "items": repository.stats(self.store.db, period["since"],
                                      period["until"]),
            "adapters": self.channels.describe()})

    @http("GET", "/api/v1/messages/skipped")
    def skipped(self, request):
        bearer_identity(request, self.settings.staff_tokens)
        event_id = request.args.get("event_id")
        skips = repository.skips_for(self.store.db, event_id)
        return json_response({
            "items": schemas.SkipSchema(many=True).dump(skips),
            "count": len(skips)})

    @http("GET", "/api/v1/messages/<message_id>")
    def get_message(self, request, message_id):
        bearer_identity(request, self.settings.staff_tokens)
        message = repository.get(self.store.db, message_id)
        return json_response(schemas.MessageSchema().dump(message))

    @http("POST", "/api/v1/messages/<message_id>/resend")
    def resend_message(self, request, message_id):
        who = bearer_identity(request, self.settings.staff_tokens)
        now = self.clock()
        db = self.store.db
        message = repository.resend(db, message_id, now, who)
        sent = self.channels.send(db, message["_id"], now,
                                  secret=self.settings.secret)
        return json_response(schemas.MessageSchema().dump(sent or message),
                             status=201)

    # -- preferences (staff, or the recipient through an opt-out link) ----------

    @http("PUT", "/api/v1/preferences")
    def set_preference(self, request):
        bearer_identity(request, self.settings.staff_tokens)
        wishes = load_body(request, schemas.PreferenceSchema(),
                           self.settings.max_body_bytes)
        recipient = self._recipient_key(wishes)
        saved = repository.set_preference(self.store.db, recipient, wishes,
                                          self.clock())
        body = schemas.PreferenceOutSchema().dump(saved)
        body["optout_token"] = self._optout_signer().dumps(recipient)
        return json_response(body)

    @http("GET", "/api/v1/preferences/<recipient>")
    def get_preference(self, request, recipient):
        bearer_identity(request, self.settings.staff_tokens)
        saved = repository.get_preference(self.store.db, recipient) or {
            "_id": recipient, "channels": None,
            "opt_out_non_essential": False}
        return json_response(schemas.PreferenceOutSchema().dump(saved))

    @http("POST", "/api/v1/optout/<token>")
    def opt_out(self, request, token):
        """The recipient's own opt-out of non-essential messages (退订)."""
        try:
            recipient = self._optout_signer().loads(token)
        except BadSignature:
            raise Forbidden("退订链接无效")
        repository.set_preference(self.store.db, recipient,
                                  {"opt_out_non_essential": True},
                                  self.clock())
        return json_response({"recipient": recipient,
                              "opt_out_non_essential": True,
                              "message": "已退订非必要通知"})

    def _recipient_key(self, wishes):
        if wishes.get("phone"):
            return "contact:" + contact_hash(self.settings.secret,
                                             wishes["phone"])[:32]
        return wishes["recipient"]

    def _optout_signer(self):
        return URLSafeSerializer(self.settings.secret, salt=OPTOUT_SALT)

    # -- the public board feed (网) ----------------------------------------------

    @http("GET", "/api/v1/board-items")
    def board(self, request):
        items = repository.board_items(self.store.db)
        return json_response({
            "items": schemas.BoardItemSchema(many=True).dump(items),
            "count": len(items)})
