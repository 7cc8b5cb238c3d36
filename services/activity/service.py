"""Activity service (活动服务): entrypoints only.

Ways in: staff HTTP, the ingest contract over HTTP (``/api/v1/events``) and
over AMQP (exchange ``sifuwu.ingest``), and the overdue sweeper (timer)."""

import functools
import json
import logging
import os

from marshmallow import ValidationError
from nameko.timer import timer

from sifuwu.auth import bearer_identity
from sifuwu.errors import DomainError, Forbidden, NotFound, PayloadTooLarge
from sifuwu.service import ServiceBase
from sifuwu.store import Duplicate, is_transient
from sifuwu.web import http, json_response, load_body, read_json
from services.activity import domain, repository, schemas
from services.activity.ingest import ingest_consumer
from sifuwu.workdays import CALENDAR

log = logging.getLogger(__name__)

BATCH_LIMIT = 1000
# Envelopes of an HTTP batch applied per transaction.
TRANSACTION_SIZE = 500
# Caller mistakes: answered, logged as warnings, not as errors.
EXPECTED = (ValidationError, DomainError)
# The sweeper's period in seconds (each run is one indexed query).
SWEEP_INTERVAL = float(os.environ.get("SIFUWU_SWEEP_INTERVAL", "30"))


def query_args(request):
    """Query-string arguments, refusing repeated keys."""
    args = {}
    for key, values in request.args.lists():
        if len(values) > 1:
            raise ValidationError({key: ["参数不能重复"]})
        args[key] = values[0]
    return schemas.QuerySchema().load(args)


def page_body(page, schema):
    return dict(page, items=schema.dump(page["items"], many=True))


def batch_answer(status, value):
    """The answer to one item of a batch, from its outcome."""
    if status in ("accepted", "duplicate"):
        return {"status": status, "result": value}
    if isinstance(value, ValidationError):
        return {"status": "rejected", "error": "validation_failed",
                "message": "请求数据校验未通过", "fields": value.messages}
    answer = {"status": "rejected", "error": value.code,
              "message": value.message}
    if value.fields:
        answer["fields"] = value.fields
    return answer


def apply_one(store, envelope, *, via, now, rules):
    """Apply one envelope in its own transaction: ("accepted", result),
    ("duplicate", the earlier result), ("rejected", DomainError) or
    ("failed", any other non-transient error). Transient errors raise."""
    try:
        result = store.transaction(
            functools.partial(repository.ingest, envelope=envelope, via=via,
                              now=now, rules=rules),
            correlation_id=envelope.get("correlation_id"))
    except Duplicate:
        receipt = repository.get_receipt(store.db, envelope["source"],
                                         envelope["event_id"]) or {}
        return "duplicate", receipt.get("result")
    except DomainError as exc:
        return "rejected", exc
    except Exception as exc:  # noqa: BLE001 - classified here
        if is_transient(exc):
            raise
        return "failed", exc
    return "accepted", result


def apply_batch(store, envelopes, *, via, now, rules):
    """Apply validated envelopes with the outcomes ``apply_one`` would give
    them one after the other, in as few transactions as possible.

    The batch is one transaction (``repository.ingest_many``). An envelope
    refused after it wrote aborts it: that envelope gets its refusal and
    the envelopes before and after it are applied again without it. Any
    other non-transient failure (e.g. a racing duplicate) replays that part
    one envelope at a time."""
    outcomes = [None] * len(envelopes)
    parts = [list(range(len(envelopes)))]
    while parts:
        part = parts.pop(0)
        try:
            applied = store.transaction(functools.partial(
                repository.ingest_many,
                envelopes=[envelopes[i] for i in part], via=via, now=now,
                rules=rules))
        except repository.ItemFailed as failed:
            outcomes[part[failed.position]] = ("rejected", failed.error)
            parts[:0] = [p for p in (part[:failed.position],
                                     part[failed.position + 1:]) if p]
            continue
        except Exception as exc:  # noqa: BLE001 - classified here
            if is_transient(exc):
                raise
            log.warning("ingest batch of %d failed (%s); applying it one by "
                        "one", len(part), type(exc).__name__)
            applied = [apply_one(store, envelopes[i], via=via, now=now,
                                 rules=rules) for i in part]
        for index, outcome in zip(part, applied):
            outcomes[index] = outcome
    return outcomes


class ActivityService(ServiceBase):
    name = "activity"
    indexes = repository.INDEXES

    @property
    def rules(self):
        config = self.config
        overrides = config.get("SIFUWU_DEMAND_DEADLINES",
                               os.environ.get("SIFUWU_DEMAND_DEADLINES"))
        settings = self.settings
        return repository.Rules(
            secret=settings.secret, calendar=CALENDAR,
            timezone=settings.timezone,
            deadline_overrides=(json.loads(overrides)
                                if isinstance(overrides, str) and overrides
                                else overrides or {}))

    def staff(self, request):
        return bearer_identity(request, self.settings.staff_tokens)

    # -- staff: activities ----------------------------------------------------

    @http("POST", "/api/v1/activities")
    def log_activity(self, request):
        data = load_body(request, schemas.ActivityCreateSchema(),
                         self.settings.max_body_bytes)
        activity = self.store.transaction(
            lambda uow: repository.log_activity(uow, data,
                                                self.settings.secret))
        return json_response(schemas.ActivitySchema().dump(activity),
                             status=201)

    @http("GET", "/api/v1/activities/<activity_id>",
          expected_exceptions=EXPECTED)
    def get_activity(self, request, activity_id):
        self.staff(request)
        activity = repository.get_activity(self.store.db, activity_id)
        if activity is None:
            raise NotFound("未找到该服务活动")
        return json_response(schemas.ActivitySchema().dump(activity))

    @http("GET", "/api/v1/activities")
    def list_activities(self, request):
        self.staff(request)
        page = repository.list_activities(self.store.db, query_args(request))
        return json_response(page_body(page, schemas.ActivitySchema()))

    # -- the ingest contract (HTTP) ----------------------------------------------

    def _load(self, payload, system):
        """The validated envelope of ``payload`` from ``system``."""
        if isinstance(payload, dict) and isinstance(payload.get("source"),
                                                    str) \
                and payload["source"] != system:
            raise Forbidden(f"source 须为本系统（{system}），不能代其他系统报送",
                            code="source_mismatch")
        envelope = schemas.load_ingest(payload)
        if envelope["source"] != system:  # defensive; checked above
            raise Forbidden(code="source_mismatch")
        return envelope

    def _ingest(self, payload, system, via):
        """Validate and apply one envelope from ``system``; returns the
        answer (status "accepted" or "duplicate")."""
        envelope = self._load(payload, system)
        status, value = apply_one(self.store, envelope, via=via,
                                  now=self.clock(), rules=self.rules)
        if status in ("rejected", "failed"):
            raise value
        return {"event_id": envelope["event_id"], "status": status,
                "result": value}

    def _ingest_many(self, items, via):
        """Validate and apply many envelopes [(payload, system)], with the
        outcomes of applying them one by one, in few transactions: one
        (event_id or None, status, result or error) per item."""
        outcomes = [None] * len(items)
        valid = []
        for index, (payload, system) in enumerate(items):
            try:
                valid.append((index, self._load(payload, system)))
            except EXPECTED as exc:
                outcomes[index] = (None, "rejected", exc)
        if valid:
            rules = self.rules
            for start in range(0, len(valid), TRANSACTION_SIZE):
                chunk = valid[start:start + TRANSACTION_SIZE]
                applied = apply_batch(
                    self.store, [envelope for _, envelope in chunk],
                    via=via, now=self.clock(), rules=rules)
                for (index, envelope), (status, value) in zip(chunk,
                                                              applied):
                    outcomes[index] = (envelope["event_id"], status, value)
        return outcomes

    @http("POST", "/api/v1/events", expected_exceptions=EXPECTED)
    def ingest_event(self, request):
        system = bearer_identity(request, self.settings.ingest_tokens)
        payload = read_json(request, self.settings.max_body_bytes)
        answer = self._ingest(payload, system, "http")
        return json_response(answer, status=202 if answer["status"] ==
                             "accepted" else 200)

    @http("POST", "/api/v1/events:batch", expected_exceptions=EXPECTED)
    def ingest_batch(self, request):
        system = bearer_identity(request, self.settings.ingest_tokens)
        payload = read_json(request, self.settings.max_body_bytes * 8)
        if isinstance(payload, dict) and isinstance(payload.get("events"),
                                                    list) \
                and len(payload["events"]) > BATCH_LIMIT:
            raise PayloadTooLarge(f"每批最多 {BATCH_LIMIT} 条事件",
                                  code="batch_too_large")
        if not isinstance(payload, dict):
            raise ValidationError({"body": ["请求体须为 JSON 对象"]})
        batch = schemas.BatchSchema().load(payload)
        outcomes = self._ingest_many([(item, system)
                                      for item in batch["events"]], "http")
        results = []
        for index, (item, (event_id, status, value)) in enumerate(
                zip(batch["events"], outcomes)):
            if status == "failed":
                raise value
            answer = batch_answer(status, value)
            answer["event_id"] = event_id if event_id is not None else (
                item.get("event_id") if isinstance(item, dict) else None)
            results.append(dict(answer, index=index))
        counts = {status: sum(r["status"] == status for r in results)
                  for status in ("accepted", "duplicate", "rejected")}
        return json_response(dict(counts, results=results), status=200)

    # -- the ingest contract (AMQP) ------------------------------------------------

    @ingest_consumer(expected_exceptions=EXPECTED)
    def ingest_messages(self, messages):
        """A batch of messages [(payload, system)] from ``sifuwu.ingest``:
        one outcome per message, None once stored (or a duplicate), else
        the error that refuses it. A transient failure raises."""
        return [value if status in ("rejected", "failed") else None
                for _, status, value in self._ingest_many(messages, "amqp")]

    # -- demands (诉求) --------------------------------------------------------------

    @http("GET", "/api/v1/demands")
    def list_demands(self, request):
        self.staff(request)
        page = repository.list_demands(self.store.db, query_args(request))
        return json_response(page_body(page, schemas.DemandSchema()))

    @http("GET", "/api/v1/demands/<demand_id>", expected_exceptions=EXPECTED)
    def get_demand(self, request, demand_id):
        self.staff(request)
        return json_response(schemas.DemandSchema().dump(
            repository.get_demand(self.store.db, demand_id)))

    @http("POST", "/api/v1/demands/<demand_id>/<action>",
          expected_exceptions=EXPECTED)
    def act_on_demand(self, request, demand_id, action):
        staff = self.staff(request)
        if action not in domain.ACTIONS:
            raise DomainError(f"未知操作: {action}", code="unknown_action",
                              status=404)
        body = load_body(request, schemas.DemandActionSchema(),
                         self.settings.max_body_bytes) \
            if request.get_data() else schemas.DemandActionSchema().load({})
        demand = self.store.transaction(
            lambda uow: repository.act_on_demand(
                uow, demand_id, action, by=f"staff:{staff}", at=self.clock(),
                rules=self.rules, **body))
        return json_response(schemas.DemandSchema().dump(demand))

    @timer(interval=SWEEP_INTERVAL)
    def sweep_overdue(self):
        """督办: escalate demands past their deadlines, level by level."""
        now = self.clock()
        rules = self.rules
        raised = 0
        for demand_id in repository.demands_due(self.store.db, now):
            try:
                raised += len(self.store.transaction(
                    lambda uow, demand_id=demand_id: repository.escalate(
                        uow, demand_id, now=now, rules=rules)))
            except DomainError:
                continue  # changed meanwhile; the next sweep sees it
        return raised

    # -- campaigns (主题活动) -----------------------------------------------------------

    @http("POST", "/api/v1/campaigns")
    def create_campaign(self, request):
        self.staff(request)
        data = load_body(request, schemas.CampaignCreateSchema(),
                         self.settings.max_body_bytes)
        now = self.clock()
        campaign = self.store.transaction(
            lambda uow: repository.create_campaign(uow, data, now))
        return json_response(schemas.CampaignSchema().dump(campaign),
                             status=201)

    @http("GET", "/api/v1/campaigns")
    def list_campaigns(self, request):
        self.staff(request)
        return json_response({"items": schemas.CampaignSchema().dump(
            repository.list_campaigns(self.store.db), many=True)})

    @http("GET", "/api/v1/campaigns/<campaign_id>",
          expected_exceptions=EXPECTED)
    def campaign_progress(self, request, campaign_id):
        self.staff(request)
        campaign = repository.get_campaign(self.store.db, campaign_id)
        body = schemas.CampaignSchema().dump(campaign)
        body["progress"] = repository.campaign_progress(self.store.db,
                                                        campaign)
        return json_response(body)
