"""Production mode (``SIFUWU_MODE=production``, set by both compose files and
the Kubernetes base) refuses development defaults and missing keys, naming
each; development mode (the embedded stack) starts with them."""

import pytest
from nameko.containers import ServiceContainer

from services.identity.settings import IdentitySettings
from sifuwu.service import ModeGuard, ProductionRefused
from sifuwu.settings import Settings
from tooling import composefile
from tooling.stack import ROOT

GOOD = {"SIFUWU_MODE": "production", "SIFUWU_SECRET": "s" * 64,
        "SIFUWU_INGEST_TOKENS": "hotline12345=" + "k" * 40,
        "SIFUWU_FEEDBACK_BASE_URL": "https://pingjia.example.gov.cn",
        "SIFUWU_IDENTITY_KEY_SECRETS": "x" * 44,
        "SIFUWU_METRICS_TOKEN": "m" * 32,
        "SIFUWU_CONTACT_KEYS": "Qm9JbxVmSVf5m0o6dM2hp8yfa3MdpUO8hQ1cA8mbi0s="}


def problems(cls=Settings, **changes):
    return cls.load({**GOOD, **changes}, env={}).production_problems()


def test_good_production_settings_pass():
    assert problems() == []
    assert problems(IdentitySettings) == []


@pytest.mark.parametrize("changes, named", [
    ({"SIFUWU_SECRET": ""}, "SIFUWU_SECRET"),
    ({"SIFUWU_SECRET": "sifuwu-dev-secret-change-me"}, "SIFUWU_SECRET"),
    ({"SIFUWU_SECRET": "short"}, "SIFUWU_SECRET"),
    ({"SIFUWU_INGEST_TOKENS": "demo=demo-token"}, "SIFUWU_INGEST_TOKENS"),
    ({"SIFUWU_INGEST_TOKENS": "a=" + "k" * 40 + ",b=short"},
     "SIFUWU_INGEST_TOKENS"),
    ({"SIFUWU_FEEDBACK_BASE_URL": "http://localhost:8003"},
     "SIFUWU_FEEDBACK_BASE_URL"),
    ({"SIFUWU_MODE": "prod"}, "SIFUWU_MODE"),
    ({"SIFUWU_METRICS_TOKEN": ""}, "SIFUWU_METRICS_TOKEN"),
    ({"SIFUWU_CONTACT_KEYS": ""}, "SIFUWU_CONTACT_KEYS"),
    ({"SIFUWU_CONTACT_KEYS": "not-a-fernet-key"}, "SIFUWU_CONTACT_KEYS"),
])
def test_each_development_default_is_named(changes, named):
    found = problems(**changes)
    assert len(found) == 1 and named in found[0], found


def test_identity_needs_its_own_key_secrets():
    found = problems(IdentitySettings, SIFUWU_IDENTITY_KEY_SECRETS="")
    assert len(found) == 1 and "SIFUWU_IDENTITY_KEY_SECRETS" in found[0]


class Probe:
    name = "probe"
    settings_class = Settings
    mode_guard = ModeGuard()


def test_a_production_service_with_the_defaults_does_not_start():
    container = ServiceContainer(Probe, {"SIFUWU_MODE": "production"})
    with pytest.raises(ProductionRefused) as refused:
        container.start()
    message = str(refused.value)
    assert message.startswith("probe 拒绝以生产模式启动")
    assert "SIFUWU_SECRET" in message and "SIFUWU_INGEST_TOKENS" in message
    assert "SIFUWU_CONTACT_KEYS" in message
    container.kill()


def test_development_mode_starts_with_the_defaults():
    container = ServiceContainer(Probe, {})
    container.start()
    container.stop()


def test_both_compose_files_and_kubernetes_run_in_production_mode():
    for name in ("docker-compose.yml", "docker-compose.cluster.yml"):
        document = composefile.load(ROOT / name)
        for service in ("activity", "assessment", "feedback", "notify",
                        "identity"):
            env = document["services"][service]["environment"]
            assert env["SIFUWU_MODE"] == "production", (name, service)
    assert "SIFUWU_MODE: production" in (
        ROOT / "deploy/k8s/base/config.yaml").read_text()
