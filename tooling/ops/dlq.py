"""Dead letters (死信): list, replay and purge what services rejected.

Reading never consumes: messages are fetched with ``basic_get`` without an
ack and handed back (``basic_nack(requeue=True)``) when the channel is done,
so a listing leaves the queue as it was. The dead-letter queues carry no
TTL and no length limit: nothing expires silently.
"""

import dataclasses
import hashlib
import json
import time

from kombu import Connection, Exchange, Producer, Queue

from sifuwu import wiring

QUEUES = (wiring.DEAD_LETTER_QUEUE, wiring.INGEST_REJECTED_QUEUE)
PREVIEW_CHARS = 160
# Headers that describe the rejection, not the message: dropped on replay.
REJECTION_HEADERS = (wiring.REJECTION_HEADER, "x-service", "x-entrypoint",
                     wiring.ORIGINAL_EXCHANGE_HEADER,
                     wiring.ORIGINAL_ROUTING_KEY_HEADER, "x-original-queue",
                     "x-death", "x-first-death-exchange",
                     "x-first-death-queue", "x-first-death-reason",
                     "x-last-death-exchange", "x-last-death-queue",
                     "x-last-death-reason")


class DeadLetterError(RuntimeError):
    """A dead-letter operation cannot run; the message says why."""


@dataclasses.dataclass
class DeadLetter:
    queue: str
    key: str                 # the event_id, or a digest of the body
    reason: str
    service: str
    exchange: str | None     # where it was first sent
    routing_key: str | None
    headers: dict
    body: bytes
    content_type: str | None
    content_encoding: str | None
    delivery_tag: int = 0

    @property
    def preview(self):
        text = self.body.decode("utf-8", errors="replace")
        text = " ".join(text.split())
        return text if len(text) <= PREVIEW_CHARS else (
            text[:PREVIEW_CHARS] + "…")

    def summary(self):
        """A JSON-friendly view (what ``dlq list --json`` prints)."""
        return {"queue": self.queue, "key": self.key, "reason": self.reason,
                "service": self.service, "exchange": self.exchange,
                "routing_key": self.routing_key, "preview": self.preview}


def message_key(body):
    """The envelope's event_id when the body is one, else a digest."""
    try:
        payload = json.loads(body)
        if isinstance(payload, dict) and payload.get("event_id"):
            return str(payload["event_id"])
    except (ValueError, UnicodeDecodeError):
        pass
    return "sha1:" + hashlib.sha1(body).hexdigest()[:12]


def _as_bytes(body):
    if isinstance(body, bytes):
        return body
    if isinstance(body, memoryview):
        return body.tobytes()
    return str(body).encode("utf-8")


def _to_dead_letter(queue, message):
    props = message.properties or {}
    headers = dict(props.get("application_headers") or {})
    body = _as_bytes(message.body)
    reason = headers.get(wiring.REJECTION_HEADER)
    exchange = headers.get(wiring.ORIGINAL_EXCHANGE_HEADER)
    routing_key = headers.get(wiring.ORIGINAL_ROUTING_KEY_HEADER)
    deaths = headers.get("x-death") or []
    if deaths and not reason:
        # dead-lettered by the broker (e.g. the cluster's delivery limit)
        death = deaths[0]
        reason = f"broker: {death.get('reason')} in {death.get('queue')}"
        exchange = exchange or death.get("exchange")
        routing_key = routing_key or (death.get("routing-keys") or [""])[0]
    return DeadLetter(
        queue=queue, key=message_key(body),
        reason=str(reason or "（无原因）"),
        service=str(headers.get("x-service", "")),
        exchange=exchange, routing_key=routing_key,
        headers=headers, body=body,
        content_type=props.get("content_type"),
        content_encoding=props.get("content_encoding"),
        delivery_tag=message.delivery_tag)


def declare(connection):
    """Declare both dead-letter queues as the services do: durable, no
    TTL, no length limit (the ingest one bound by activity when it runs)."""
    channel = connection.default_channel
    wiring.dead_letter_queue()(channel).declare()
    Queue(wiring.INGEST_REJECTED_QUEUE, durable=True,
          auto_delete=False)(channel).declare()


# how long ``list`` waits for the broker to requeue what it handed back
SETTLE_TIMEOUT = 10.0


class DeadLetterQueues:
    """Operations on the dead-letter queues of one broker/vhost."""

    def __init__(self, amqp_uri, limit=1000):
        self.amqp_uri = amqp_uri
        self.limit = limit

    def _connect(self):
        conn = Connection(self.amqp_uri, connect_timeout=5,
                          transport_options={"confirm_publish": True})
        try:
            conn.ensure_connection(max_retries=1)
        except Exception as exc:  # noqa: BLE001 - reported to the operator
            conn.release()
            raise DeadLetterError(
                f"无法连接 RabbitMQ（{self.amqp_uri.split('@')[-1]}）: "
                f"{type(exc).__name__}。检查 AMQP_URI 或 --amqp-uri。") from None
        return conn

    def counts(self):
        """{queue: ready messages, or None when the queue does not exist}"""
        result = {}
        with self._connect() as conn:
            for queue in QUEUES:
                channel = conn.channel()
                try:
                    _, count, _ = channel.queue_declare(queue=queue,
                                                        passive=True)
                    result[queue] = count
                except Exception:  # noqa: BLE001 - a 404 closes the channel
                    result[queue] = None
                finally:
                    _close(channel)
        return result

    def _open(self, conn, queue):
        """A channel on ``queue`` and its ready messages, or (None, 0)."""
        channel = conn.channel()
        try:
            _, count, _ = channel.queue_declare(queue=queue, passive=True)
        except Exception:  # noqa: BLE001 - a 404 closes the channel
            _close(channel)
            return None, 0
        return channel, count

    def _each(self, channel, queue, count):
        """The ``count`` messages that were in the queue when it was opened,
        fetched unacknowledged one by one (what a replay sends back and the
        service dead-letters again comes after them and is not seen twice)."""
        for _ in range(count):
            message = channel.basic_get(queue=queue, no_ack=False)
            if message is None:
                return
            yield _to_dead_letter(queue, message)

    def list(self, queue):
        """The first ``limit`` messages in ``queue``, left in place: back in
        the queue when this returns (so a count or a replay right after sees
        them all)."""
        with self._connect() as conn:
            channel, count = self._open(conn, queue)
            if channel is None:
                return []
            held = list(self._each(channel, queue, min(count, self.limit)))
            _release(channel, held)
            self._settle(conn, queue, count)
        return held

    def _settle(self, conn, queue, count, timeout=SETTLE_TIMEOUT):
        """Wait (at most ``timeout`` seconds) until the broker has put the
        handed-back messages in the queue again: it requeues them after the
        channel closes, not before."""
        deadline = time.monotonic() + timeout
        while True:
            channel, ready = self._open(conn, queue)
            if channel is None:
                return
            _close(channel)
            if ready >= count or time.monotonic() >= deadline:
                return
            time.sleep(0.05)

    def replay(self, queue, keys=None, progress=None):
        """Re-publish the chosen messages (all when ``keys`` is None, however
        many) to their original exchange and routing key, each with a
        broker confirm, then remove it from the dead-letter queue.
        ``progress(done, total)`` is called as messages are looked at.
        Returns (replayed [DeadLetter], skipped [(DeadLetter, why)]); the
        replayed ones without their bodies."""
        wanted = None if keys is None else set(keys)
        replayed, skipped, kept = [], [], []
        with self._connect() as conn:
            channel, count = self._open(conn, queue)
            if channel is None:
                return replayed, skipped
            producer = Producer(conn.channel())
            if progress:
                progress(0, count)
            try:
                for seen, letter in enumerate(
                        self._each(channel, queue, count), start=1):
                    if wanted is not None and letter.key not in wanted:
                        kept.append(letter)
                    elif not letter.exchange:
                        skipped.append((letter, "消息未记录原交换机"
                                        "（x-original-exchange），无法重放"))
                        kept.append(letter)
                    else:
                        producer.publish(
                            letter.body, exchange=Exchange(letter.exchange),
                            routing_key=letter.routing_key or "",
                            headers=replay_headers(letter, queue),
                            content_type=letter.content_type,
                            content_encoding=letter.content_encoding,
                            delivery_mode=2, retry=True, declare=[])
                        channel.basic_ack(letter.delivery_tag)
                        letter.body, letter.headers = b"", {}
                        replayed.append(letter)
                    if progress:
                        progress(seen, count)
            finally:
                _release(channel, kept)
                _close(producer.channel)
        return replayed, skipped

    def purge(self, queue, keys=None):
        """Drop the chosen messages (all when ``keys`` is None); returns
        how many were dropped."""
        with self._connect() as conn:
            if keys is None:
                channel = conn.channel()
                try:
                    return channel.queue_purge(queue=queue) or 0
                finally:
                    _close(channel)
            wanted = set(keys)
            channel, count = self._open(conn, queue)
            if channel is None:
                return 0
            dropped, kept = 0, []
            try:
                for letter in self._each(channel, queue, count):
                    if letter.key in wanted:
                        channel.basic_ack(letter.delivery_tag)
                        dropped += 1
                    else:
                        kept.append(letter)
            finally:
                _release(channel, kept)
            return dropped


def replay_headers(letter, queue):
    headers = {k: v for k, v in letter.headers.items()
               if k not in REJECTION_HEADERS}
    headers["x-replayed-from"] = queue
    headers["x-replay-count"] = int(letter.headers.get("x-replay-count",
                                                        0)) + 1
    return headers


def _release(channel, held):
    """Hand unacknowledged messages back to the queue, then close."""
    try:
        for letter in sorted(held, key=lambda h: h.delivery_tag,
                             reverse=True):
            channel.basic_reject(letter.delivery_tag, requeue=True)
    finally:
        _close(channel)


def _close(channel):
    try:
        channel.close()
    except Exception:  # noqa: BLE001 - closing is best effort
        pass
