"""Operators' commands against the running embedded stack: `sifuwu stack
health` finds it through stack.json, every service serves /metrics, and
`sifuwu backup` picks the stack's store and prefix by itself."""

import json
import tarfile

import requests
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from tooling.cli import main
from sifuwu.wiring import SERVICES


def record_state(stack, home):
    """What `./run up` writes: the stack's processes and addresses."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "stack.json").write_text(json.dumps({
        "pids": {name: proc.pid for name, proc in stack.processes.items()},
        "amqp_uri": stack.amqp_uri, "mongo_uri": stack.mongo_uri,
        "db_prefix": stack.db_prefix,
        "urls": {s: stack.url(s) for s in SERVICES}}))


def test_health_table_of_the_embedded_stack(stack, tmp_path, monkeypatch):
    monkeypatch.setenv("SIFUWU_HOME", str(tmp_path / "home"))
    record_state(stack, tmp_path / "home")
    result = CliRunner().invoke(main, ["stack", "health", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["service"] for r in rows] == list(SERVICES)
    for row in rows:
        assert row["url"] == stack.url(row["service"])
        assert (row["status"], row["broker"], row["store"]) == (
            "ok", "ok", "ok")
    table = CliRunner().invoke(main, ["stack", "health"])
    assert table.exit_code == 0 and "嵌入式栈 健康检查" in table.output


def test_health_fails_when_the_embedded_stack_is_not_running(
        tmp_path, monkeypatch):
    monkeypatch.setenv("SIFUWU_HOME", str(tmp_path / "nothing"))
    result = CliRunner().invoke(main, ["stack", "health", "--embedded"])
    assert result.exit_code == 1
    assert "嵌入式栈未运行" in result.output


def test_every_service_serves_prometheus_metrics(stack, urls):
    scraper = {"Authorization":
               f"Bearer {stack.extra_env['SIFUWU_METRICS_TOKEN']}"}
    for service in SERVICES:
        requests.get(urls[service] + "/health", timeout=5)
        # the scrape token is needed (the test stack sets one)
        assert requests.get(urls[service] + "/metrics",
                            timeout=5).status_code == 401
        assert requests.get(urls[service] + "/metrics", timeout=5, headers={
            "Authorization": "Bearer wrong"}).status_code == 401
        response = requests.get(urls[service] + "/metrics", headers=scraper,
                                timeout=5)
        assert response.status_code == 200
        names = {f.name for f in text_string_to_metric_families(
            response.text)}
        assert {"sifuwu_http_requests", "sifuwu_events_consumed",
                "sifuwu_queue_messages"} <= names
        assert (f'route="/health",service="{service}",status="200"'
                in response.text)


def test_backup_finds_the_running_stack(stack, urls, tmp_path, monkeypatch):
    monkeypatch.setenv("SIFUWU_HOME", str(tmp_path / "home"))
    for name in ("MONGO_URI", "SIFUWU_DB_PREFIX"):
        monkeypatch.delenv(name, raising=False)
    record_state(stack, tmp_path / "home")
    result = CliRunner().invoke(main, ["backup", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    archive = result.output.strip().splitlines()[-1]
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
    assert manifest["prefix"] == stack.db_prefix
    assert set(manifest["services"]) == set(SERVICES)
    assert manifest["services"]["activity"]["database"] == (
        f"{stack.db_prefix}activity")
