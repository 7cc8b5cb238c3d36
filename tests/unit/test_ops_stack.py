"""`sifuwu stack` drives docker compose through python-on-whales. No engine
runs here, so the CLI runs against tests/fakes/docker, a stand-in that
records its argv and answers like docker 27 + compose v2; the tests check
the exact command lines and the three set-up errors."""

import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from tooling.cli import main
from tooling.ops.compose import CLUSTER_FILE, COMPOSE_FILE

FAKES = Path(__file__).resolve().parent.parent / "fakes"
PREFLIGHT = [["compose", "version"],
             ["info", "--format", "{{json .ServerVersion}}"]]
BASE = ["compose", "--file", str(COMPOSE_FILE)]
# compose names the project after the checkout's folder (CI clones anywhere)
PROJECT = COMPOSE_FILE.resolve().parent.name.lower()


@pytest.fixture
def fake_docker(tmp_path, monkeypatch):
    """PATH with the stand-in docker first; returns the recorded calls."""
    log = tmp_path / "docker-calls.jsonl"
    monkeypatch.setenv("PATH", f"{FAKES}{os.pathsep}"
                       f"{Path(sys.executable).parent}{os.pathsep}"
                       f"{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_DOCKER_LOG", str(log))
    monkeypatch.delenv("SIFUWU_DOCKER", raising=False)
    monkeypatch.delenv("FAKE_DOCKER_MODE", raising=False)
    # never pick up a developer's running embedded stack
    monkeypatch.setenv("SIFUWU_HOME", str(tmp_path / "home"))

    def calls():
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text().splitlines()]
    return calls


def run_cli(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_up_scales_each_service_with_exact_command_line(fake_docker):
    result = run_cli("stack", "up", "--scale", "notify=3",
                     "--scale", "feedback=2")
    assert result.exit_code == 0, result.output
    assert fake_docker() == PREFLIGHT + [
        BASE + ["up", "--detach", "--wait", "--scale", "notify=3",
                "--scale", "feedback=2"]]
    assert "notify-3  Started" in result.output
    assert "已启动（notify=3, feedback=2）" in result.output


def test_ps_lists_the_scaled_containers(fake_docker):
    run_cli("stack", "up", "--scale", "notify=2")
    result = run_cli("stack", "ps", "--json")
    assert result.exit_code == 0, result.output
    assert fake_docker()[-1] == BASE + ["ps", "--all", "--format", "json"]
    notify = [c["Name"] for c in json.loads(result.output)
              if c["Service"] == "notify"]
    assert notify == [f"{PROJECT}-notify-1", f"{PROJECT}-notify-2"]


def test_down_then_ps_is_empty(fake_docker):
    run_cli("stack", "up")
    result = run_cli("stack", "down", "--volumes")
    assert result.exit_code == 0, result.output
    assert fake_docker()[-1] == BASE + ["down", "--volumes"]
    assert f"{PROJECT}-activity-1  Removed" in result.output
    assert "没有容器" in run_cli("stack", "ps").output


def test_logs_per_service_follow(fake_docker):
    result = run_cli("stack", "logs", "notify", "--follow", "--tail", "50")
    assert result.exit_code == 0, result.output
    assert fake_docker()[-1] == BASE + ["logs", "--no-color", "--tail", "50",
                                        "--follow", "notify"]
    assert f"{PROJECT}-notify-1  | notify started" in result.output


def test_config_prints_the_resolved_file_without_an_engine(
        fake_docker, monkeypatch):
    monkeypatch.setenv("FAKE_DOCKER_MODE", "no-engine")
    result = run_cli("stack", "config")
    assert result.exit_code == 0, result.output
    assert fake_docker() == [["compose", "version"],
                             BASE + ["config", "--format", "json"]]
    config = json.loads(result.output)
    assert {"activity", "notify", "rabbitmq", "mongo"} <= set(
        config["services"])


def test_cluster_flag_uses_the_cluster_file(fake_docker):
    result = run_cli("stack", "up", "--cluster", "-p", "sifuwu")
    assert result.exit_code == 0, result.output
    assert fake_docker()[-1] == [
        "compose", "--file", str(CLUSTER_FILE), "--project-name", "sifuwu",
        "up", "--detach", "--wait"]


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        body = json.dumps({"status": "ok", "service": "activity",
                           "broker": "ok", "store": "ok",
                           "version": "9.9"}).encode()
        self.send_response(200 if self.path == "/health" else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_health_on_compose_uses_published_ports_and_container_health(
        fake_docker, monkeypatch):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("FAKE_DOCKER_PORTS", json.dumps(
            {"activity": server.server_address[1]}))
        run_cli("stack", "up")
        result = run_cli("stack", "health", "--json")
    finally:
        server.shutdown()
    assert result.exit_code == 0, result.output
    rows = {r["service"]: r for r in json.loads(result.output)}
    assert rows["activity"]["url"] == (
        f"http://127.0.0.1:{server.server_address[1]}")
    assert rows["activity"]["version"] == "9.9"
    assert rows["notify"]["status"] == "healthy"  # the container's check
    assert BASE + ["port", "--index", "1", "--protocol", "tcp", "notify",
                   "8004"] in fake_docker()


def test_health_fails_when_nothing_runs(fake_docker):
    result = run_cli("stack", "health")
    assert result.exit_code == 1
    assert "未运行" in result.output


def test_bad_scale_is_refused(fake_docker):
    result = run_cli("stack", "up", "--scale", "notify=many")
    assert result.exit_code == 2
    assert "服务=数量" in result.output
    assert fake_docker() == []


def test_no_docker_cli_says_how_to_install(fake_docker, tmp_path,
                                           monkeypatch):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    result = run_cli("stack", "ps")
    assert result.exit_code == 1
    assert "找不到 docker 命令" in result.output
    assert "docs.docker.com/engine/install" in result.output


def test_no_compose_plugin_says_how_to_install(fake_docker, monkeypatch):
    monkeypatch.setenv("FAKE_DOCKER_MODE", "no-compose")
    result = run_cli("stack", "up")
    assert result.exit_code == 1
    assert "docker compose 插件未安装" in result.output
    assert "docker-compose-plugin" in result.output
    assert fake_docker() == [["compose", "version"]]


def test_engine_not_running_says_how_to_start_it(fake_docker, monkeypatch):
    monkeypatch.setenv("FAKE_DOCKER_MODE", "no-engine")
    result = run_cli("stack", "down")
    assert result.exit_code == 1
    assert "Docker 引擎未运行" in result.output
    assert "systemctl start docker" in result.output
    assert "Cannot connect to the Docker daemon" in result.output
    assert fake_docker() == PREFLIGHT  # nothing else was attempted


def test_installed_command_runs_against_the_stand_in(fake_docker):
    """The `sifuwu` console script itself, as an operator runs it."""
    exe = Path(sys.executable).parent / "sifuwu"
    result = subprocess.run([str(exe), "stack", "up", "--scale", "activity=2"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert fake_docker()[-1] == BASE + ["up", "--detach", "--wait",
                                        "--scale", "activity=2"]


@pytest.mark.skipif(
    not shutil.which("docker") or Path(shutil.which("docker")).parent == FAKES,
    reason="no real docker CLI on this machine")
def test_real_docker_cli_without_compose_plugin(monkeypatch):
    """On these machines the real docker CLI has no compose plugin."""
    probe = subprocess.run(["docker", "compose", "version"],
                           capture_output=True, text=True)
    if probe.returncode == 0:
        pytest.skip("the compose plugin is installed here")
    monkeypatch.setenv("SIFUWU_HOME", "/nonexistent")
    result = run_cli("stack", "ps")
    assert result.exit_code == 1
    assert "docker compose 插件未安装" in result.output
