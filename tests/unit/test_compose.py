"""docker-compose.yml validates against the Compose Specification and runs
the same services, settings and health checks as the embedded stack."""

import re

import pytest

from tooling import composefile as compose
from tooling import configdoc
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
    config_keys = set(re.findall(r"^(\w+):", CONFIG.read_text(), re.M))
    settings_class = configdoc.service_settings()[name]
    return config_keys | {env for env, _, _ in settings_class.documented()}


def test_service_environment_matches_embedded_settings(document):
    for name in SERVICES:
        config_keys = settings_read_by(name)
        env = document["services"][name]["environment"]
        assert {"AMQP_URI", "MONGO_URI", "SIFUWU_SECRET", "SIFUWU_CONTACT_KEYS",
                "SIFUWU_INGEST_TOKENS", "SIFUWU_IDENTITY_URL"} <= set(env)
        # staff sign in at the identity service: no flat staff tokens
        assert "SIFUWU_STAFF_TOKENS" not in env
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
                                  "SIFUWU_INGEST_TOKENS": "x=y"})
    assert (settings.amqp_uri, settings.mongo_uri,
            settings.ingest_tokens) == ("a", "m", "x=y")


# -- production settings (issue 19) ------------------------------------------

import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402

CLUSTER = compose.ROOT / "docker-compose.cluster.yml"
ENV_EXAMPLE = compose.ROOT / ".env.example"
REQUIRED = {"SIFUWU_SECRET", "SIFUWU_CONTACT_KEYS", "SIFUWU_FEEDBACK_BASE_URL",
            "SIFUWU_INGEST_TOKENS", "SIFUWU_METRICS_TOKEN",
            "RABBITMQ_PASSWORD", "MONGO_ROOT_PASSWORD",
            "MONGO_APP_PASSWORD"}
INIT_JOBS = {"mongo-init", "mongo-keyfile", "rabbitmq-init"}


@pytest.fixture(scope="module", params=[COMPOSE, CLUSTER],
                ids=["single", "cluster"])
def each_file(request):
    return request.param, request.param.read_text(), compose.validate(
        request.param)


def test_required_settings_fail_fast_and_have_no_default(each_file):
    _, text, _ = each_file
    for name in REQUIRED:
        assert re.search(r"\$\{" + name + r":\?[^}]+\}", text), name
        assert not re.search(r"\$\{" + name + r":-", text), name
    # no password written into any URI, none defaulted
    assert not re.search(r"pyamqp://\w+:\w+@", text)
    assert not re.search(r"mongodb://\w+:\w+@", text)
    assert "localhost" not in text


def test_mongodb_runs_with_authentication(each_file):
    _, _, document = each_file
    services = document["services"]
    mongos = [name for name in services
              if name.startswith("mongo") and name not in INIT_JOBS]
    assert mongos
    for name in mongos:
        command = services[name]["command"]
        assert "--auth" in command and "--keyFile" in command
        assert services[name]["environment"]["MONGO_INITDB_ROOT_PASSWORD"] \
            .startswith("${MONGO_ROOT_PASSWORD:?")
    init = services["mongo-init"]["command"][-1]
    assert "createUser" in init and "readWrite" in init
    for service in SERVICES:
        uri = services[service]["environment"]["MONGO_URI"]
        assert uri.startswith("mongodb://sifuwu:${MONGO_APP_PASSWORD:?")
        assert "authSource=admin" in uri and "w=majority" in uri


def test_notify_gets_its_channel_settings(each_file):
    from services.notify.settings import NotifySettings
    from sifuwu.settings import Settings
    base = {env for env, _, _ in Settings.documented()}
    NOTIFY_CHANNELS = {env for env, _, _ in NotifySettings.documented()} - base
    _, _, document = each_file
    env = document["services"]["notify"]["environment"]
    assert NOTIFY_CHANNELS and NOTIFY_CHANNELS <= set(env)
    # passed through from .env / the shell, never set to a value here
    assert all(env[name] is None for name in NOTIFY_CHANNELS)


def test_one_rabbitmq_version_in_both_files():
    images = set()
    for path in (COMPOSE, CLUSTER):
        for service in compose.load(path)["services"].values():
            if service.get("image", "").startswith("rabbitmq:"):
                images.add(service["image"])
    assert images == {"rabbitmq:4.1-management"}


def test_logs_rotate_restart_policies_and_limits(each_file):
    _, _, document = each_file
    for name, service in document["services"].items():
        logging = service["logging"]
        assert logging["driver"] == "json-file", name
        assert logging["options"]["max-size"] and logging["options"][
            "max-file"], name
        if name in INIT_JOBS:
            assert service["restart"] == "no", name
            continue
        assert service["restart"] == "unless-stopped", name
        limits = service["deploy"]["resources"]["limits"]
        assert limits["memory"] and limits["cpus"], name


def test_the_cluster_file_says_which_compose_it_needs():
    text = CLUSTER.read_text()
    assert "content:" in text
    assert "Compose 2.23 or newer" in text


def test_env_example_documents_every_variable():
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE.read_text(),
                                re.M))
    for path in (COMPOSE, CLUSTER):
        text = "\n".join(line for line in path.read_text().splitlines()
                         if not line.lstrip().startswith("#"))
        used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", text))
        used |= {name for name, value in compose.load(path)["services"][
            "notify"]["environment"].items() if value is None}
        assert used <= documented, used - documented
    # a template only: every secret is empty there
    for line in ENV_EXAMPLE.read_text().splitlines():
        name, _, value = line.partition("=")
        if name in REQUIRED | {"RABBITMQ_COOKIE"}:
            assert value == "", line


def test_docker_ignores_secrets_and_local_state():
    ignore = (compose.ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignore, "everything is ignored but what the image needs"
    assert "**/.env" in ignore
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    dockerfile = (compose.ROOT / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (?!--)(\S+)", dockerfile, re.M):
        assert source.rstrip("/") in allowed | {"pyproject.toml", "README.md"}, source


def test_dockerfile_is_multi_stage_non_root_with_a_healthcheck():
    text = (compose.ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM \S+ AS (\w+)", text, re.M)
    assert stages == ["builder", "runtime"]
    runtime = text.split("AS runtime", 1)[1]
    assert "--no-index" in runtime and "requirements/runtime.lock" in runtime
    assert re.search(r"^USER 10001", runtime, re.M)
    assert re.search(r"^HEALTHCHECK .*\n?.*tooling\.ops\.healthcheck", runtime,
                     re.M)
    assert "fonts-wqy-microhei" in runtime
    for label in ("version", "source", "revision"):
        assert f"org.opencontainers.image.{label}=" in runtime
    assert "pip install" not in text.split("AS runtime", 1)[0].split(
        "pip wheel", 1)[0]


def test_the_healthcheck_finds_the_service_port():
    from tooling.ops.healthcheck import service_port
    assert service_port({"WEB_SERVER_ADDRESS": "0.0.0.0:9003"}) == 9003
    assert service_port({}, [b"/usr/local/bin/python", b"/usr/local/bin/sifuwu",
                             b"serve", b"notify", b""]) == DEFAULT_PORTS["notify"]
    assert service_port({}, []) == DEFAULT_PORTS["activity"]


def _compose_v2():
    docker = shutil.which("docker")
    if not docker:
        return None
    done = subprocess.run([docker, "compose", "version"], capture_output=True,
                          text=True)
    return docker if done.returncode == 0 else None


@pytest.mark.skipif(_compose_v2() is None, reason="docker compose v2 is not "
                    "installed here (only `docker compose config` is needed, "
                    "no engine)")
def test_docker_compose_config_accepts_both_files(tmp_path):
    env = tmp_path / ".env"
    env.write_text("\n".join(f"{name}=x{n}" for n, name in enumerate(
        sorted(REQUIRED | {"RABBITMQ_COOKIE"}))) + "\n")
    for path in (COMPOSE, CLUSTER):
        done = subprocess.run(
            [_compose_v2(), "compose", "--env-file", str(env), "-f", str(path),
             "config", "--format", "json"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert set(SERVICES) <= set(json.loads(done.stdout)["services"])
    # and without the secrets it refuses, naming one
    done = subprocess.run([_compose_v2(), "compose", "--env-file", "/dev/null",
                           "-f", str(COMPOSE), "config"], capture_output=True,
                          text=True)
    assert done.returncode != 0 and "set " in done.stderr
