"""One registry of exchanges, queues and subscriptions (消息拓扑).

Internal events travel on nameko's per-service topic exchanges
(``<service>.events``). Every service declares *all* subscription queues listed
here when it starts, so an event published before its consumer first started is
queued, not dropped. A test checks that the services' handlers are exactly the
subscriptions listed here.
"""

from kombu import Exchange, Queue

from sifuwu import events as ev

SERVICES = ("activity", "assessment", "feedback", "notify", "identity",
            "console")

# Where rejected or failed messages go, with the reason in a header.
DEAD_LETTER_EXCHANGE = "sifuwu.dead"
DEAD_LETTER_QUEUE = "sifuwu.dead-letters"
REJECTION_HEADER = "x-rejection-reason"
# Where a dead-lettered message was first sent (for `sifuwu dlq replay`).
ORIGINAL_EXCHANGE_HEADER = "x-original-exchange"
ORIGINAL_ROUTING_KEY_HEADER = "x-original-routing-key"

# The public ingest exchange for other government systems (see docs/ingest).
INGEST_EXCHANGE = "sifuwu.ingest"
INGEST_QUEUE = "sifuwu.ingest.activity"
INGEST_REJECTED_QUEUE = "sifuwu.ingest.rejected"

# (publisher service, event type, consumer service, handler method)
SUBSCRIPTIONS = (
    ("activity", ev.ACTIVITY_LOGGED, "feedback", "on_activity_logged"),
    ("activity", ev.DEMAND_STATUS_CHANGED, "feedback",
     "on_demand_status_changed"),
    ("assessment", ev.PUBLICITY_OPENED, "feedback", "on_publicity_opened"),
    ("assessment", ev.OBJECTION_DECIDED, "feedback", "on_objection_decided"),
    ("activity", ev.ACTIVITY_LOGGED, "assessment", "on_activity_logged"),
    ("feedback", ev.INVITATION_ISSUED, "notify", "on_invitation_issued"),
    ("activity", ev.DEMAND_RAISED, "notify", "on_demand_raised"),
    ("activity", ev.DEMAND_OVERDUE, "notify", "on_demand_overdue"),
    ("activity", ev.DIRECTORY_CHANGED, "notify", "on_directory_changed"),
    ("feedback", ev.RECTIFICATION_OPENED, "notify", "on_rectification_opened"),
    ("feedback", ev.RECTIFICATION_OVERDUE, "notify",
     "on_rectification_overdue"),
    ("assessment", ev.SELECTION_PUBLISHED, "notify", "on_selection_published"),
    ("assessment", ev.PUBLICITY_OPENED, "notify", "on_publicity_opened"),
    ("assessment", ev.SELECTION_FINALISED, "notify", "on_selection_finalised"),
    ("feedback", ev.OBJECTION_ANSWERED, "notify",
     "on_objection_answered_by_feedback"),
    ("feedback", ev.FEEDBACK_SUBMITTED, "assessment", "on_feedback_submitted"),
    ("feedback", ev.RECOMMENDATION_SUBMITTED, "assessment",
     "on_recommendation_submitted"),
    ("feedback", ev.OBJECTION_FILED, "assessment", "on_objection_filed"),
    ("feedback", ev.OBJECTION_ANSWERED, "assessment", "on_objection_answered"),
    ("activity", ev.PARTY_ACTIVITY_LOGGED, "assessment",
     "on_party_activity_logged"),
    ("activity", ev.DEMAND_RAISED, "assessment", "on_demand_raised"),
    ("activity", ev.DEMAND_STATUS_CHANGED, "assessment",
     "on_demand_status_changed"),
    ("activity", ev.KPI_RECORDED, "assessment", "on_kpi_recorded"),
    ("activity", ev.DIRECTORY_CHANGED, "assessment", "on_directory_changed"),
    ("feedback", ev.APPEAL_DECIDED, "assessment", "on_appeal_decided"),
    ("feedback", ev.RECTIFICATION_CLOSED, "assessment",
     "on_rectification_closed"),
)


def event_exchange(service):
    """The topic exchange nameko uses for ``service``'s events."""
    return Exchange(f"{service}.events", type="topic", durable=True,
                    delivery_mode=2)


def subscription_queue_name(publisher, event_type, consumer, method):
    """The queue name nameko's SERVICE_POOL event handler declares."""
    return f"evt-{publisher}-{event_type}--{consumer}.{method}"


def subscription_queues():
    """kombu Queues for every registered subscription, as nameko declares
    them (durable, not auto-deleted)."""
    return [
        Queue(subscription_queue_name(pub, etype, con, meth),
              exchange=event_exchange(pub), routing_key=etype,
              durable=True, auto_delete=False, exclusive=False)
        for pub, etype, con, meth in SUBSCRIPTIONS
    ]


def dead_letter_exchange():
    return Exchange(DEAD_LETTER_EXCHANGE, type="fanout", durable=True)


def dead_letter_queue():
    return Queue(DEAD_LETTER_QUEUE, exchange=dead_letter_exchange(),
                 durable=True, auto_delete=False)


def declare_topology(connection):
    """Declare the dead-letter queue and every subscription queue."""
    channel = connection.default_channel
    for queue in [dead_letter_queue(), *subscription_queues()]:
        queue(channel).declare()
