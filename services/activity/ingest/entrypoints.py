"""Entrypoints of the ingest contract, as a mixin of the activity service:
HTTP (``/api/v1/events``, ``/api/v1/events:batch``) and AMQP (exchange
``sifuwu.ingest``). Thin: load with the contract's schemas, run the ingest
step in as few transactions as the outcomes allow, answer."""

import functools
import hmac
import logging

from marshmallow import ValidationError

from sifuwu.access import bearer_token
from sifuwu.auth import parse_tokens
from sifuwu.errors import DomainError, PayloadTooLarge, Unauthorized
from sifuwu.store import Duplicate, is_transient
from sifuwu.web import http, json_response, read_json
from services.activity.clients import domain as client_domain
from services.activity.clients import steps as client_steps
from services.activity.clients.repository import ClientRepository
from services.activity.ingest import domain, schemas, steps
from services.activity.ingest.consumer import ingest_consumer
from services.activity.repository import ActivityRepository
from services.activity.web import EXPECTED

log = logging.getLogger(__name__)

# Envelopes of an HTTP batch applied per transaction.
TRANSACTION_SIZE = 500


def apply_one(store, envelope, *, via, now, rules, client_id=None):
    """Apply one envelope in its own transaction: ("accepted", result),
    ("duplicate", the earlier result), ("rejected", DomainError) or
    ("failed", any other non-transient error). Transient errors raise."""
    try:
        result = store.transaction(
            functools.partial(steps.ingest, envelope=envelope, via=via,
                              now=now, rules=rules, client_id=client_id),
            correlation_id=envelope.get("correlation_id"),
            repository=ActivityRepository)
    except Duplicate:
        receipt = steps.get_receipt(
            ActivityRepository.reading(store.db), envelope["source"],
            envelope["event_id"]) or {}
        return "duplicate", receipt.get("result")
    except DomainError as exc:
        return "rejected", exc
    except Exception as exc:  # noqa: BLE001 - classified here
        if is_transient(exc):
            raise
        return "failed", exc
    return "accepted", result


def apply_batch(store, envelopes, *, via, now, rules, client_ids=None):
    """Apply validated envelopes with the outcomes ``apply_one`` would give
    them one after the other, in as few transactions as possible.

    The batch is one transaction (``steps.ingest_many``). An envelope
    refused after it wrote aborts it: that envelope gets its refusal and
    the envelopes before and after it are applied again without it. Any
    other non-transient failure (e.g. a racing duplicate) replays that part
    one envelope at a time."""
    outcomes = [None] * len(envelopes)
    clients = client_ids or [None] * len(envelopes)
    parts = [list(range(len(envelopes)))]
    while parts:
        part = parts.pop(0)
        try:
            applied = store.transaction(functools.partial(
                steps.ingest_many,
                envelopes=[envelopes[i] for i in part], via=via, now=now,
                rules=rules, client_ids=[clients[i] for i in part]),
                repository=ActivityRepository)
        except steps.ItemFailed as failed:
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
                                 rules=rules, client_id=clients[i])
                       for i in part]
        for index, outcome in zip(part, applied):
            outcomes[index] = outcome
    return outcomes


def client_of(sender):
    """The id of the API client ``sender`` is (a system's name: its
    bootstrap token)."""
    if isinstance(sender, str):
        return client_domain.bootstrap_sender(sender).client_id
    return sender.client_id


class IngestEntrypoints:
    """数据接入 entrypoints; needs ``store``, ``clock``, ``settings`` and
    ``rules`` as ``ActivityService`` provides them."""

    def _sender(self, request):
        """The API client behind the request's bearer key (``Sender``), or
        401: a bootstrap token of ``SIFUWU_INGEST_TOKENS`` (development)
        or a client key, looked up by its key id."""
        token = bearer_token(request.headers.get("Authorization"))
        if token is None:
            raise Unauthorized("缺少 Authorization: Bearer 令牌")
        for known, system in parse_tokens(
                self.settings.ingest_tokens).items():
            if hmac.compare_digest(known.encode(), token.encode()):
                return client_domain.bootstrap_sender(system)
        if not client_domain.looks_like_key(token):
            raise Unauthorized("访问令牌无效")
        return client_steps.authenticate(
            ClientRepository.reading(self.store.db), token, self.clock())

    def _load(self, payload, sender, now):
        """The validated envelope of ``payload`` from ``sender`` (a
        ``Sender``, or a system's name for its bootstrap token): its source
        is one the sender may send as, the sender may send its type, and it
        is dated no later than ``now`` plus the allowed clock skew."""
        if isinstance(sender, str):
            sender = client_domain.bootstrap_sender(sender)
        if isinstance(payload, dict) and isinstance(payload.get("source"),
                                                    str):
            client_domain.check_source(sender, payload["source"])
        envelope = schemas.load_ingest(payload)
        client_domain.check_source(sender, envelope["source"])
        client_domain.check_type(sender, envelope["source"], envelope["type"],
                                 domain.parse_source_types(
                                     self.settings.ingest_source_types))
        domain.check_not_future(envelope["occurred_at"], now,
                                self.settings.ingest_max_future_seconds)
        return envelope

    def _ingest(self, payload, sender, via):
        """Validate and apply one envelope from ``sender``; returns the
        answer (status "accepted" or "duplicate")."""
        now = self.clock()
        envelope = self._load(payload, sender, now)
        status, value = apply_one(self.store, envelope, via=via,
                                  now=now, rules=self.rules,
                                  client_id=client_of(sender))
        if status in ("rejected", "failed"):
            raise value
        return {"event_id": envelope["event_id"], "status": status,
                "result": value}

    def _ingest_many(self, items, via):
        """Validate and apply many envelopes [(payload, sender)], with the
        outcomes of applying them one by one, in few transactions: one
        (event_id or None, status, result or error) per item."""
        outcomes = [None] * len(items)
        valid = []
        now = self.clock()
        for index, (payload, sender) in enumerate(items):
            try:
                valid.append((index, self._load(payload, sender, now),
                              client_of(sender)))
            except EXPECTED as exc:
                outcomes[index] = (None, "rejected", exc)
        if valid:
            rules = self.rules
            for start in range(0, len(valid), TRANSACTION_SIZE):
                chunk = valid[start:start + TRANSACTION_SIZE]
                applied = apply_batch(
                    self.store, [envelope for _, envelope, _ in chunk],
                    via=via, now=self.clock(), rules=rules,
                    client_ids=[client for _, _, client in chunk])
                for (index, envelope, _), (status, value) in zip(chunk,
                                                                 applied):
                    outcomes[index] = (envelope["event_id"], status, value)
        return outcomes

    @http("POST", "/api/v1/events", expected_exceptions=EXPECTED,
          request=schemas.IngestEnvelopeSchema,
          response={202: schemas.IngestAnswerSchema,
                    200: schemas.IngestAnswerSchema},
          summary="报送一条事件（202 已受理；200 为重复报送，不重复生效；"
                  "各类型的 data 见 docs/openapi.json）",
          errors={403: "source 或事件类型不是该客户端可报送的（source_not_allowed、"
                       "type_not_allowed），或记录由其他来源系统维护（not_owner）",
                  404: "引用的对象不存在",
                  409: "状态冲突：编号已登记，或诉求状态不允许该操作"})
    def ingest_event(self, request):
        sender = self._sender(request)
        payload = read_json(request, self.settings.max_body_bytes)
        answer = self._ingest(payload, sender, "http")
        return json_response(answer, status=202 if answer["status"] ==
                             "accepted" else 200)

    @http("POST", "/api/v1/events:batch", expected_exceptions=EXPECTED,
          request=schemas.BatchSchema, response=schemas.BatchAnswerSchema,
          summary="批量报送（每批最多 1000 条，逐条答复）",
          errors={413: "超过 1000 条（batch_too_large）或请求体过大"})
    def ingest_batch(self, request):
        sender = self._sender(request)
        payload = read_json(request, self.settings.max_body_bytes * 8)
        limit = domain.BATCH_LIMIT
        if isinstance(payload, dict) and isinstance(payload.get("events"),
                                                    list) \
                and len(payload["events"]) > limit:
            raise PayloadTooLarge(f"每批最多 {limit} 条事件",
                                  code="batch_too_large")
        if not isinstance(payload, dict):
            raise ValidationError({"body": ["请求体须为 JSON 对象"]})
        batch = schemas.BatchSchema().load(payload)
        outcomes = self._ingest_many([(item, sender)
                                      for item in batch["events"]], "http")
        results = []
        for index, (item, (event_id, status, value)) in enumerate(
                zip(batch["events"], outcomes)):
            if status == "failed":
                raise value
            answer = domain.batch_answer(status, value)
            answer["event_id"] = event_id if event_id is not None else (
                item.get("event_id") if isinstance(item, dict) else None)
            results.append(dict(answer, index=index))
        counts = {status: sum(r["status"] == status for r in results)
                  for status in ("accepted", "duplicate", "rejected")}
        return json_response(dict(counts, results=results), status=200)

    @ingest_consumer(expected_exceptions=EXPECTED)
    def ingest_messages(self, messages):
        """A batch of messages [(payload, system)] from ``sifuwu.ingest``:
        one outcome per message, None once stored (or a duplicate), else
        the error that refuses it. A transient failure raises."""
        return [value if status in ("rejected", "failed") else None
                for _, status, value in self._ingest_many(messages, "amqp")]

    @http("GET", "/api/v1/events/<source>/<event_id>",
          expected_exceptions=EXPECTED, response=schemas.ReceiptSchema,
          summary="一条已接收事件的回执（何时、经何渠道、由哪个接入客户端报送）")
    def get_receipt(self, request, source, event_id):
        """The receipt of one ingested event: when and how it came, and
        the API client that sent it."""
        receipt = steps.find_receipt(ActivityRepository.reading(self.store.db),
                                     source, event_id)
        return json_response(schemas.ReceiptSchema().dump(receipt))
