"""Rules of the ingest contract, no nameko, no I/O: the receipt that makes a
delivery count once, who sent an AMQP message and whether it is JSON, and the
answer to one item of a batch, which source may send which types, and how
far into the future an event may be dated."""

import datetime as dt
import functools

from marshmallow import ValidationError

from sifuwu import events as ev
from sifuwu.auth import parse_tokens
from sifuwu.consumer import describe
from sifuwu.errors import Forbidden
from sifuwu.web import parse_json

# Envelopes per HTTP batch request.
BATCH_LIMIT = 1000
# Domain errors that mean "try again", not "this message is wrong".
RETRYABLE = ("concurrent_update",)


@functools.lru_cache(maxsize=8)
def parse_source_types(spec):
    """{source: frozenset of the types it may send} from
    ``SIFUWU_INGEST_SOURCE_TYPES`` (``source=type1|type2,...``; ``*`` is
    every type), or None when empty: every source may send every type.
    ``ValueError`` on an entry that names no known type."""
    if not (spec or "").strip():
        return None
    table = {}
    for item in spec.split(","):
        if not item.strip():
            continue
        source, sep, types = item.strip().partition("=")
        names = {name.strip() for name in types.split("|") if name.strip()}
        unknown = names - set(ev.INGEST_TYPES) - {"*"}
        if not sep or not source.strip() or not names or unknown:
            raise ValueError(
                f"SIFUWU_INGEST_SOURCE_TYPES: 无法识别的条目 {item.strip()!r}"
                "（格式：来源系统=类型1|类型2,...；类型须为已定义的事件类型或 *）")
        table[source.strip()] = frozenset(ev.INGEST_TYPES) if "*" in names \
            else frozenset(names)
    return table


def check_may_send(source, event_type, table):
    """Refuse (``Forbidden``, ``type_not_allowed``) a type the table does
    not give ``source``; no table (None): every type is allowed."""
    if table is not None and event_type not in table.get(source, ()):
        raise Forbidden(f"来源系统 {source} 无权报送 {event_type} 类事件",
                        code="type_not_allowed")


def check_not_future(occurred_at, now, max_future_seconds):
    """Refuse (a field error on ``occurred_at``) an event dated more than
    ``max_future_seconds`` after ``now`` (the allowed clock skew): a date in
    the future would make the record "newest" and every later correction
    "stale"."""
    if occurred_at - now > dt.timedelta(seconds=max_future_seconds):
        raise ValidationError({"occurred_at": [
            f"发生时间不能晚于服务器当前时间 {max_future_seconds} 秒以上"
            "（允许的时钟偏差）"]})


def receipt_id(envelope):
    return f"{envelope['source']}:{envelope['event_id']}"


def receipt(envelope, via, now, client_id=None):
    """The dedupe record of one ingested (source, event_id), naming the API
    client that sent it (``bootstrap:<system>`` for a development token or
    an AMQP broker user)."""
    return {"_id": receipt_id(envelope), "source": envelope["source"],
            "event_id": envelope["event_id"], "type": envelope["type"],
            "via": via, "received_at": now,
            "occurred_at": envelope["occurred_at"],
            "client_id": client_id or f"bootstrap:{envelope['source']}"}


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


def broker_users(ingest_tokens, amqp_users):
    """{broker user: source system}: every system with an ingest token maps
    to itself, ``amqp_users`` (``user=system,...``) adds the others."""
    users = {system: system
             for system in parse_tokens(ingest_tokens).values()}
    for item in (amqp_users or "").split(","):
        user, sep, system = item.strip().partition("=")
        if sep and user.strip() and system.strip():
            users[user.strip()] = system.strip()
    return users


class Rejected(Exception):
    """A message that must go to ``sifuwu.ingest.rejected``."""

    def __init__(self, reason):
        self.reason = reason
        super().__init__(reason)


def decode(message, users):
    """(payload dict, source system) of a message, or ``Rejected``."""
    user = message.properties.get("user_id")
    if not user:
        raise Rejected("unauthorized: 消息缺少 user_id 属性，无法识别来源系统")
    system = users.get(user)
    if system is None:
        raise Rejected(f"unauthorized: 未登记的接入用户 {user}")
    body = message.body
    if not isinstance(body, (bytes, str)):
        raise Rejected("invalid: 消息体不是有效的 UTF-8 JSON")
    try:
        payload = parse_json(body)
    except ValidationError as exc:
        reason = "; ".join(str(m) for m in exc.messages.get("body", ())) \
            if isinstance(exc.messages, dict) else ""
        if reason in ("请求体须为 UTF-8 编码的 JSON", "请求体不是有效的 JSON"):
            raise Rejected("invalid: 消息体不是有效的 UTF-8 JSON")
        raise Rejected(describe(exc))
    except Exception as exc:  # noqa: BLE001 - the message's fault, not ours
        raise Rejected(f"invalid: 消息体无法解析（{type(exc).__name__}）")
    if not isinstance(payload, dict):
        raise Rejected("invalid: 消息体须为 JSON 对象")
    return payload, system
