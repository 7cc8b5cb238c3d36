"""Structured logs: config.yaml selects the JSON formatter; one JSON object
per line with the event and correlation ids, phone numbers masked."""

import logging
import logging.config
from pathlib import Path

import yaml
from nameko.cli.main import setup_yaml_parser

from sifuwu.jsonlog import JsonFormatter, log_context

CONFIG = Path(__file__).resolve().parents[2] / "sifuwu" / "config.yaml"


def load_config():
    setup_yaml_parser()  # what `nameko run` does: ${VAR:default}
    return yaml.safe_load(CONFIG.read_text(encoding="utf-8"))


def record(message, *args, exc_info=None):
    return logging.LogRecord("sifuwu.test", logging.WARNING, __file__, 1,
                             message, args, exc_info)


def test_config_uses_the_json_formatter(monkeypatch):
    monkeypatch.delenv("SIFUWU_LOG_FORMAT", raising=False)
    logging_config = load_config()["LOGGING"]
    name = logging_config["handlers"]["console"]["formatter"]
    assert name == "json"
    formatter = logging.config.DictConfigurator(
        logging_config).configure_formatter(logging_config["formatters"][name])
    assert isinstance(formatter, JsonFormatter)


def test_plain_text_on_request(monkeypatch):
    monkeypatch.setenv("SIFUWU_LOG_FORMAT", "plain")
    assert load_config()["LOGGING"]["handlers"]["console"][
        "formatter"] == "plain"


def test_one_json_object_per_line_with_ids_and_masking():
    import json
    formatter = JsonFormatter()
    envelope = {"event_id": "e-1", "correlation_id": "act-9",
                "type": "activity.logged"}
    with log_context(envelope):
        line = formatter.format(record("短信发往 %s 失败", "13912345678"))
    outside = json.loads(formatter.format(record("idle")))
    doc = json.loads(line)
    assert "\n" not in line
    assert doc["message"] == "短信发往 139****5678 失败"
    assert (doc["event_id"], doc["correlation_id"], doc["event_type"]) == (
        "e-1", "act-9", "activity.logged")
    assert doc["level"] == "WARNING" and doc["logger"] == "sifuwu.test"
    assert doc["ts"].endswith("+00:00")
    assert "event_id" not in outside


def test_exceptions_are_masked_and_kept_on_one_line():
    import json
    import sys
    try:
        raise ValueError("bad phone 13800001111")
    except ValueError:
        line = JsonFormatter().format(record("failed", exc_info=sys.exc_info()))
    doc = json.loads(line)
    assert "\n" not in line
    assert "138****1111" in doc["exception"]
    assert "13800001111" not in line
