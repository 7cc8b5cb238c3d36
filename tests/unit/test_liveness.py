"""``/health/live`` answers while the process does, whatever the broker and
the store: Kubernetes restarts a hung process, not one waiting out an
outage (that is ``/health``'s 503, which takes it out of rotation)."""

import json

from nameko.testing.services import worker_factory
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from services.notify.service import NotifyService


def test_liveness_does_not_touch_the_broker_or_the_store():
    service = worker_factory(NotifyService)
    service.store.ping.side_effect = RuntimeError("store down")
    answer = service.liveness(Request(EnvironBuilder().get_environ()))
    assert answer.status_code == 200
    assert json.loads(answer.get_data()) == {"status": "alive",
                                             "service": "notify"}
    service.store.ping.assert_not_called()
