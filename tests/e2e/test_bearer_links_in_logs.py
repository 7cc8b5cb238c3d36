"""On the running stack: the services' logs (access log lines included)
never hold the token of a bearer link (/f/, /s/, judge API, opt-out)."""

import time
import uuid

import requests


def test_access_logs_hold_no_bearer_token(stack, urls):
    marker = "tok" + uuid.uuid4().hex
    requests.get(f"{urls['feedback']}/f/{marker}.sig", timeout=10)
    requests.get(f"{urls['assessment']}/s/{marker}.sig", timeout=10)
    requests.post(f"{urls['assessment']}/api/v1/judge/{marker}/scores",
                  json={}, timeout=10)
    requests.post(f"{urls['notify']}/api/v1/optout/{marker}", timeout=10)
    logs = {name: stack.base / "logs" / f"{name}.log"
            for name in ("feedback", "assessment", "notify")}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = {name: path.read_text(encoding="utf-8", errors="replace")
                for name, path in logs.items()}
        if "/f/***" in text["feedback"] and "/s/***" in text["assessment"] \
                and "/api/v1/judge/***" in text["assessment"] \
                and "/api/v1/optout/***" in text["notify"]:
            break
        time.sleep(0.2)
    assert "/f/***" in text["feedback"], text["feedback"][-2000:]
    assert "/s/***" in text["assessment"]
    assert "/api/v1/judge/***" in text["assessment"]
    for name, body in text.items():
        assert marker not in body, name
