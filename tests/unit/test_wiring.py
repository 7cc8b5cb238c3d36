"""Every consumer is registered in sifuwu.wiring and every registered
subscription has its consumer: queues are declared before anyone publishes."""

import inspect

from nameko.events import EventHandler

from sifuwu.batch import BatchEventConsumer

from services.activity.service import ActivityService
from services.assessment.service import AssessmentService
from services.feedback.service import FeedbackService
from services.notify.service import NotifyService
from sifuwu import events as ev
from sifuwu import wiring

CONSUMERS = (EventHandler, BatchEventConsumer)
SERVICE_CLASSES = (ActivityService, AssessmentService, FeedbackService,
                   NotifyService)


def handlers():
    found = set()
    for cls in SERVICE_CLASSES:
        for name, method in inspect.getmembers(cls):
            for entrypoint in getattr(method, "nameko_entrypoints", ()):
                if isinstance(entrypoint, CONSUMERS):
                    found.add((entrypoint.source_service,
                               entrypoint.event_type, cls.name, name))
    return found


def test_registry_matches_handlers():
    assert handlers() == set(wiring.SUBSCRIPTIONS)


def test_handlers_consume_through_the_dead_lettering_wrapper():
    for cls in SERVICE_CLASSES:
        for name, method in inspect.getmembers(cls):
            if any(isinstance(e, CONSUMERS)
                   for e in getattr(method, "nameko_entrypoints", ())):
                assert hasattr(method, "consumes"), (cls.name, name)


def test_registered_types_are_known_event_names():
    known = {value for key, value in vars(ev).items()
             if key.isupper() and isinstance(value, str) and "." in value}
    for publisher, event_type, consumer, _ in wiring.SUBSCRIPTIONS:
        assert event_type in known
        assert publisher in wiring.SERVICES and consumer in wiring.SERVICES


def test_queue_names_follow_nameko():
    queue = wiring.subscription_queues()[0]
    pub, etype, con, meth = wiring.SUBSCRIPTIONS[0]
    assert queue.name == f"evt-{pub}-{etype}--{con}.{meth}"
    assert queue.durable and not queue.auto_delete


def test_every_event_type_has_one_publisher():
    """One owner per event type: a consumer never needs to tell two sources
    of the same event apart, and no answer echoes back as its own event."""
    publishers = {}
    for publisher, event_type, _, _ in wiring.SUBSCRIPTIONS:
        publishers.setdefault(event_type, set()).add(publisher)
    shared = {t: sorted(p) for t, p in publishers.items() if len(p) > 1}
    assert shared == {}
