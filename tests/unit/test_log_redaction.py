"""Bearer links never reach a log line (日志脱敏): the access log's request
line keeps the route but not the rating token (/f/), the judge's credential
(/s/, /api/v1/judge/), or the opt-out token; the delivery log keeps no
citizen's name."""

import io
import json
import logging
import logging.config

from services.notify.planning import log_line
from sifuwu.privacy import redact_links
from tests.unit.test_ops_logging import load_config

TOKEN = "eyJjIjoiYzUwODllOWJjNmEzNCIsInIiOjF9.M30bmQrAS4nNSQC05-x_1"
ACCESS = ('127.0.0.1 - - [20/Nov/2026 10:00:00] "{method} {path} HTTP/1.1" '
          '200 512 0.003')


def configured_console(monkeypatch, fmt):
    """The console handler exactly as sifuwu/config.yaml builds it."""
    monkeypatch.setenv("SIFUWU_LOG_FORMAT", fmt)
    config = load_config()["LOGGING"]
    stream = io.StringIO()
    config["handlers"]["console"]["stream"] = stream
    config["root"]["level"] = "INFO"
    logging.config.dictConfig(config)
    return stream


def test_redact_links_keeps_the_route_and_drops_the_token():
    for path, kept in [(f"/f/{TOKEN}", "/f/"), (f"/s/{TOKEN}", "/s/"),
                       (f"/api/v1/judge/{TOKEN}/scores", "/api/v1/judge/"),
                       (f"/api/v1/optout/{TOKEN}", "/api/v1/optout/")]:
        text = redact_links(f"GET http://x.example{path}?a=1 done")
        assert TOKEN not in text and kept in text, text
        assert "done" in text
    assert redact_links("GET /api/v1/activities/a-1") == \
        "GET /api/v1/activities/a-1"
    assert redact_links("请点击 http://x/f/abc.def 评价") == \
        "请点击 http://x/f/*** 评价"


def test_access_log_lines_hold_no_bearer_link(monkeypatch):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        for fmt in ("json", "plain"):
            stream = configured_console(monkeypatch, fmt)
            web = logging.getLogger("nameko.web.server")
            for method, path in [("GET", f"/f/{TOKEN}"),
                                 ("POST", f"/s/{TOKEN}"),
                                 ("POST", f"/api/v1/judge/{TOKEN}/scores")]:
                web.info(ACCESS.format(method=method, path=path))
            web.info("%s", ACCESS.format(method="GET", path=f"/f/{TOKEN}"))
            text = stream.getvalue()
            assert text.count("HTTP/1.1") == 4, text
            assert TOKEN not in text and TOKEN[:12] not in text, text
            assert "/f/***" in text and "/s/***" in text
            if fmt == "json":
                for line in text.splitlines():
                    json.loads(line)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def test_the_delivery_log_line_holds_no_name_nor_link():
    message = {"channel": "sms", "_id": "msg-1", "to_masked": "139****5678",
               "status": "delivered", "template": "feedback_invitation",
               "body": f"【四服务】王小明您好，张三丰近日为您提供了服务，请点击 "
                       f"http://x/f/{TOKEN} 评价，2026-12-03前有效。"}
    line = log_line(message)
    assert "王小明" not in line and "张三丰" not in line
    assert TOKEN not in line
    assert "msg-1" in line and "139****5678" in line
    assert "feedback_invitation" in line
