"""Messages and their delivery states (消息与投递状态), in one place.

Transitions are guarded: send only from ``created``; a result is accepted
only from ``sending``."""

CREATED = "created"
SENDING = "sending"
DELIVERED = "delivered"
TEMPORARY_FAILURE = "temporary-failure"
PERMANENT_FAILURE = "permanent-failure"
TECHNICAL_FAILURE = "technical-failure"

STATUSES = (CREATED, SENDING, DELIVERED, TEMPORARY_FAILURE,
            PERMANENT_FAILURE, TECHNICAL_FAILURE)
FAILED = (TEMPORARY_FAILURE, PERMANENT_FAILURE, TECHNICAL_FAILURE)

ALLOWED = {
    CREATED: (SENDING, TECHNICAL_FAILURE),
    SENDING: (DELIVERED, TEMPORARY_FAILURE, PERMANENT_FAILURE,
              TECHNICAL_FAILURE),
    TEMPORARY_FAILURE: (SENDING,),
    DELIVERED: (),
    PERMANENT_FAILURE: (),
    TECHNICAL_FAILURE: (),
}

CHANNELS = ("sms", "email", "wechat", "web", "press")


def can_move(current, new):
    return new in ALLOWED.get(current, ())


def message_key(event_id, channel, recipient_hash):
    """The idempotency key: one message per event × recipient × channel."""
    return f"{event_id}:{channel}:{recipient_hash[:24]}"


def invitation_sms(data):
    name = (data.get("recipient") or {}).get("name") or "您"
    member = data.get("member_name") or "机关党员干部"
    expires = (data.get("expires_at") or "")[:10]
    return (f"【四服务】{name}您好，{member}近日为您提供了服务，"
            f"请点击 {data['link']} 评价，{expires}前有效。")
