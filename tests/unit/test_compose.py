"""docker-compose.yml validates against the Compose Specification and runs
the same services, settings and health checks as the embedded stack."""

import importlib
import re

import pytest

from tooling import composefile as compose
from sifuwu.settings import DEFAULT_PORTS, Settings
from sifuwu.wiring import SERVICES

COMPOSE = compose.ROOT / "docker-compose.yml"
CONFIG = compose.ROOT / "sifuwu" / "config.yaml"


@pytest.fixture(scope="module")
def document():
    return compose.validate(COMPOSE)


def test_compose_file_validates(document):
    assert {"rabbitmq", "mongo", "mongo-init", *SERVICES} <= set(
        document["services"])


def test_a_broken_compose_file_is_refused(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text("services:\n  a:\n    image: x\n    restart: sometimes\n"
                      "    healthcheck: {interval: soon}\n")
    with pytest.raises(ValueError):
        compose.validate(broken)


def test_services_scale_independently(document):
    for name in SERVICES:
        service = document["services"][name]
        assert "container_name" not in service
        assert "ports" not in service, "a fixed host port prevents --scale"
        assert service["command"] == ["sifuwu", "serve", name]


def settings_read_by(name):
    """Every variable service ``name`` reads: nameko's config and its settings."""
    module = importlib.import_module(f"services.{name}.service")
    service = next(cls for cls in vars(module).values()
                   if getattr(cls, "name", None) == name
                   and hasattr(cls, "settings_class"))
    config_keys = set(re.findall(r"^(\w+):", CONFIG.read_text(), re.M))
    return config_keys | {env for env, _, _ in service.settings_class.documented()}


def test_service_environment_matches_embedded_settings(document):
    for name in SERVICES:
        config_keys = settings_read_by(name)
        env = document["services"][name]["environment"]
        assert {"AMQP_URI", "MONGO_URI", "SIFUWU_SECRET",
                "SIFUWU_INGEST_TOKENS", "SIFUWU_STAFF_TOKENS"} <= set(env)
        # every variable compose sets is one the services read
        assert set(env) <= config_keys | {"SIFUWU_LOG_LEVEL"}


def test_health_checks_use_each_services_port(document):
    for name in SERVICES:
        service = document["services"][name]
        test = " ".join(service["healthcheck"]["test"])
        assert f"127.0.0.1:{DEFAULT_PORTS[name]}/health" in test
        assert service["expose"] == [str(DEFAULT_PORTS[name])]


def test_store_is_a_replica_set(document):
    assert "--replSet" in document["services"]["mongo"]["command"]
    env = document["services"]["activity"]["environment"]
    assert "replicaSet=rs0" in env["MONGO_URI"]
    # the embedded store turns retryable writes off; production keeps them
    assert "retryWrites=false" not in env["MONGO_URI"]


def test_settings_read_the_same_names():
    settings = Settings.from_env({"AMQP_URI": "a", "MONGO_URI": "m",
                                  "SIFUWU_STAFF_TOKENS": "x=y"})
    assert (settings.amqp_uri, settings.mongo_uri,
            settings.staff_tokens) == ("a", "m", "x=y")
