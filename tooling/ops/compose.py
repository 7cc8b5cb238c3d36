"""The compose stack (生产部署) through python-on-whales.

Every call goes through ``python_on_whales.DockerClient`` with the
project's compose files, so the command lines are exactly what an operator
would type (``docker compose --file docker-compose.yml up --detach ...``).
Before doing anything it checks the three things that go wrong on a fresh
machine: no docker CLI, no compose plugin, engine not running; each error
says what to do.
"""

import json
import os
import shutil
from pathlib import Path

from python_on_whales import DockerClient
from python_on_whales.client_config import ClientNotFoundError
from python_on_whales.exceptions import DockerException
from python_on_whales.utils import run

from tooling.composefile import ROOT
from sifuwu.settings import DEFAULT_PORTS

COMPOSE_FILE = ROOT / "docker-compose.yml"
CLUSTER_FILE = ROOT / "docker-compose.cluster.yml"


class ComposeError(RuntimeError):
    """The compose stack cannot be driven; the message says what to do."""


NO_DOCKER = (
    "找不到 docker 命令（docker CLI 未安装或不在 PATH 中）。"
    "请安装 Docker Engine: https://docs.docker.com/engine/install/ "
    "（Debian/Ubuntu: sudo apt-get install -y docker-ce docker-ce-cli "
    "docker-compose-plugin），或用 SIFUWU_DOCKER 指定 docker 可执行文件的路径。")
NO_COMPOSE = (
    "docker compose 插件未安装（`docker compose version` 失败）。"
    "请安装: sudo apt-get install -y docker-compose-plugin "
    "（见 https://docs.docker.com/compose/install/linux/），然后重试。")
NO_ENGINE = (
    "Docker 引擎未运行或无法连接（`docker info` 失败）。"
    "请启动它: sudo systemctl start docker；若已在运行，检查 DOCKER_HOST "
    "和当前用户是否在 docker 组中（sudo usermod -aG docker $USER 后重新登录）。")


def _detail(exc):
    text = (getattr(exc, "stderr", None) or getattr(exc, "stdout", None)
            or "").strip()
    return f"\n  docker 输出: {text.splitlines()[0]}" if text else ""


class ComposeStack:
    """The production stack: ``docker compose`` with the project's files."""

    def __init__(self, files=None, project_name=None, docker=None):
        self.files = [Path(f) for f in (files or [COMPOSE_FILE])]
        for path in self.files:
            if not path.exists():
                raise ComposeError(f"找不到 compose 文件: {path}")
        self.project_name = project_name
        self.docker_binary = docker or os.environ.get("SIFUWU_DOCKER",
                                                      "docker")
        self.client = DockerClient(
            client_call=[self.docker_binary],
            compose_files=[str(p) for p in self.files],
            compose_project_name=project_name)

    # -- preflight ---------------------------------------------------------

    def check(self, engine=True):
        """Raise ComposeError unless docker, compose (and the engine) work.
        Returns the compose version string."""
        if shutil.which(self.docker_binary) is None:
            raise ComposeError(NO_DOCKER)
        try:
            version = run(self.client.docker_cmd + ["compose", "version"],
                          capture_stdout=True, capture_stderr=True)
        except ClientNotFoundError:
            raise ComposeError(NO_DOCKER) from None
        except DockerException as exc:
            raise ComposeError(NO_COMPOSE + _detail(exc)) from None
        if engine:
            try:
                run(self.client.docker_cmd
                    + ["info", "--format", "{{json .ServerVersion}}"],
                    capture_stdout=True, capture_stderr=True)
            except DockerException as exc:
                raise ComposeError(NO_ENGINE + _detail(exc)) from None
        return version.strip()

    # -- commands ----------------------------------------------------------

    def up(self, scales=None, services=None, build=False):
        """``docker compose up --detach --wait [--scale s=n ...]``; yields
        compose's progress lines as they come."""
        self.check()
        stream = self.client.compose.up(
            services=services or None, build=build, detach=True, wait=True,
            scales=dict(scales or {}), stream_logs=True)
        yield from _lines(stream)

    def down(self, volumes=False):
        """``docker compose down [--volumes]``; yields progress lines."""
        self.check()
        yield from _lines(self.client.compose.down(volumes=volumes,
                                                   stream_logs=True))

    def ps(self):
        """Every container of the project as dicts (``ps --format json``;
        compose prints a JSON array or one object per line by version)."""
        self.check()
        output = run(self.client.compose.docker_compose_cmd
                     + ["ps", "--all", "--format", "json"],
                     capture_stdout=True, capture_stderr=True)
        return parse_json_lines(output)

    def logs(self, services=(), follow=False, tail=None):
        """Yield log lines (str) of the given services."""
        self.check()
        for _source, chunk in self.client.compose.logs(
                services=list(services), follow=follow, tail=tail,
                stream=True):
            yield chunk.decode("utf-8", errors="replace")

    def config(self):
        """The resolved compose file (``config --format json``), as a dict.
        Needs the compose plugin but not a running engine."""
        self.check(engine=False)
        return self.client.compose.config(return_json=True)

    def port(self, service, private_port, index=1):
        """The published (host, port) of a service's container, or None."""
        try:
            host, port = self.client.compose.port(service, private_port,
                                                  index=index)
        except (DockerException, ValueError):
            return None
        if not port:
            return None
        if host in ("0.0.0.0", "::", "", None):
            host = "127.0.0.1"
        return host, port

    def health_targets(self, services):
        """[(service, container name, url or None, container health)]:
        a URL where the service's port is published on the host, and the
        container's own health-check state from ``ps`` either way."""
        containers = self.ps()
        targets = []
        for service in services:
            mine = [c for c in containers if c.get("Service") == service]
            if not mine:
                targets.append((service, "-", None, "未运行"))
                continue
            for position, container in enumerate(mine, start=1):
                index = container_index(container.get("Name", ""), position)
                published = self.port(service, DEFAULT_PORTS[service], index)
                url = (f"http://{published[0]}:{published[1]}"
                       if published else None)
                state = container.get("Health") or container.get("State", "")
                targets.append((service, container.get("Name", "?"), url,
                                state))
        return targets


def parse_json_lines(output):
    output = (output or "").strip()
    if not output:
        return []
    if output.startswith("["):
        return json.loads(output)
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def container_index(name, default):
    """The replica number compose puts at the end of a container's name
    (``sifuwu-notify-2`` -> 2)."""
    tail = name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else default


def _lines(stream):
    for _source, chunk in stream:
        yield chunk.decode("utf-8", errors="replace")
