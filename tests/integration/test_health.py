"""/health names the failing part: checked against the real broker and
store, and against ports where nothing listens."""

from pymongo import MongoClient

from sifuwu.service import health_report
from tooling.stack import free_port


class MongoPing:
    def __init__(self, uri):
        self.uri = uri

    def ping(self):
        with MongoClient(self.uri, serverSelectionTimeoutMS=500) as client:
            client.admin.command("ping")


def test_all_ok(infra):
    status, body = health_report("activity", MongoPing(infra.mongo_uri),
                                 infra.amqp_uri)
    assert status == 200
    assert body["status"] == "ok" and body["service"] == "activity"


def test_store_down_is_503_naming_the_store(infra):
    dead = f"mongodb://127.0.0.1:{free_port()}/"
    status, body = health_report("feedback", MongoPing(dead), infra.amqp_uri)
    assert status == 503
    assert body["failing"] == ["store"]
    assert body["broker"] == "ok" and body["store"].startswith("unreachable")


def test_broker_down_is_503_naming_the_broker(infra):
    dead = f"pyamqp://guest:guest@127.0.0.1:{free_port()}//"
    status, body = health_report("notify", MongoPing(infra.mongo_uri), dead)
    assert status == 503
    assert body["failing"] == ["broker"]
    assert body["store"] == "ok"
