"""Fixtures for every tier.

* ``infra``: a private RabbitMQ node and a SecantusDB server for the whole
  session (real broker, real store), on free ports under a temp folder.
* ``stack``: ``infra`` plus the four services as ``nameko run`` processes,
  for end-to-end tests through public HTTP/AMQP.
* ``service_config``: config for one in-process service container
  (nameko's ``container_factory``) on a fresh vhost and fresh databases,
  for integration tests.
"""

import eventlet

eventlet.monkey_patch()  # noqa: E402 - must precede every other import

import uuid  # noqa: E402

import pytest  # noqa: E402
from pymongo import MongoClient  # noqa: E402

from tests.helpers import TEST_JWKS, StackStaff  # noqa: E402
from tooling.stack import EmbeddedStack, Ports, free_port  # noqa: E402
from sifuwu.wiring import SERVICES  # noqa: E402


@pytest.fixture(scope="session")
def infra(tmp_path_factory):
    """Broker and store, started once for the session."""
    ports = Ports.free()
    stack = EmbeddedStack(
        tmp_path_factory.mktemp("sifuwu"), ports,
        db_prefix=f"e2e{uuid.uuid4().hex[:6]}_",
        extra_env={
            "SIFUWU_ASSESSMENT_BASE_URL":
                f"http://127.0.0.1:{ports.services['assessment']}",
            # Every test client is 127.0.0.1: the fuzz tests alone post more
            # than the public 60 a minute per address, and a fast machine
            # posts them within one window. The per-address limit itself is
            # tested on a container of its own (test_feedback_ratings.py).
            "SIFUWU_FEEDBACK_RATE_ADDRESS": "100000/60",
            # /metrics then needs it (test_ops_embedded, the policy matrix)
            "SIFUWU_METRICS_TOKEN": f"metrics-{uuid.uuid4().hex}"})
    try:
        stack.start_rabbit()
        stack.start_store()
    except BaseException:
        stack.stop()
        raise
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def stack(infra):
    """The four services running against ``infra``, with notify's local
    peers (SMS gateways, WeChat, SMTP, press folder)."""
    infra.start_peers()
    for service in SERVICES:
        infra.start_service(service)
    infra.wait_healthy()
    StackStaff.login = infra.committee_login()
    yield infra


@pytest.fixture(scope="session")
def urls(stack):
    return {service: stack.url(service) for service in SERVICES}


@pytest.fixture(scope="session")
def mongo(infra):
    client = MongoClient(infra.mongo_uri, tz_aware=True)
    yield client
    client.close()


@pytest.fixture
def vhost(infra):
    """A fresh RabbitMQ vhost, so in-process services never compete with
    the running stack's consumers."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    infra.rabbitmqctl("add_vhost", name)
    infra.rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*",
                      ".*")
    yield name
    infra.rabbitmqctl("delete_vhost", name, check=False)


@pytest.fixture
def service_config(infra, vhost):
    """nameko config for an in-process container: fresh vhost, fresh
    databases (unique prefix), free HTTP port."""
    port = free_port()
    return {
        "AMQP_URI": f"pyamqp://guest:guest@127.0.0.1:{infra.ports.amqp}/{vhost}",
        "MONGO_URI": infra.mongo_uri,
        "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
        "SIFUWU_DB_PREFIX": f"i{uuid.uuid4().hex[:8]}_",
        "SIFUWU_SECRET": "test-secret",
        "SIFUWU_RELAY_INTERVAL": 0.2,
        "SIFUWU_FEEDBACK_BASE_URL": f"http://127.0.0.1:{port}",
        "SIFUWU_ASSESSMENT_BASE_URL": f"http://127.0.0.1:{port}",
        "SIFUWU_JWKS": TEST_JWKS,  # staff tokens from tests.helpers
        "max_workers": 10,
    }


@pytest.fixture
def web_url(service_config):
    return "http://" + service_config["WEB_SERVER_ADDRESS"]
