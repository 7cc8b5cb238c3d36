"""Local peers for the channels (本地对端): small servers that stand in for the
SMS gateways, the WeChat API, the board and the SMTP server, record what they
receive and can be told to fail. Tests and the embedded stack run them as
processes (outside any eventlet-patched interpreter):

    python -m tooling.peers http --port 9101
    python -m tooling.peers smtp --port 9125 --control-port 9126

Control API (JSON, on the HTTP port or the SMTP peer's control port):
``GET /_peer/received`` what arrived (each item has ``seq``, 1, 2, …);
``GET /_peer/received?since=N&contains=TEXT&limit=M`` one page of it:
``{"items": [...], "next": K}``, the items after ``seq`` N whose request
(an SMS's ``to``, ``content``, ``reference``; a mail's body) holds TEXT, at
most M; pass ``next`` as ``since`` for the rest (a recipient's inbox read
as it fills, without listing thousands again); ``POST /_peer/mode`` e.g.
``{"fail": 3, "status": 503}`` (the next 3 requests fail; -1 = until reset),
``{"fail": 1, "body": {"errcode": 43004}}`` (a 200 with that body),
SMTP: ``{"fail": 2, "code": 451}`` or ``{"refuse": ["x@y"]}``;
``POST /_peer/reset``.
"""

import argparse
import json
import urllib.parse
import subprocess
import sys
import threading
import time
import uuid
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests


class Recorder:
    """What a peer received and how it should answer next."""

    def __init__(self):
        self.lock = threading.Lock()
        self.received = []
        self.texts = []   # what ``contains`` searches, one per item
        self.mode = {}

    def take_failure(self):
        """The failure to answer with now, or None."""
        with self.lock:
            fail = self.mode.get("fail", 0)
            if not fail:
                return None
            if fail > 0:
                self.mode["fail"] = fail - 1
            return dict(self.mode)

    def record(self, item):
        text = json.dumps(item.get("json", item.get("body")),
                          ensure_ascii=False)
        with self.lock:
            item["seq"] = len(self.received) + 1
            self.received.append(item)
            self.texts.append(text)

    def page(self, since=0, contains=None, limit=1000):
        """Items after ``seq`` ``since`` holding ``contains``, at most
        ``limit``; ``next`` is the ``seq`` to continue after."""
        with self.lock:
            items, position = [], max(since, 0)
            while position < len(self.received) and len(items) < limit:
                if not contains or contains in self.texts[position]:
                    items.append(self.received[position])
                position += 1
            return {"items": items, "next": position}

    def reset(self):
        with self.lock:
            self.mode = {}
            self.received = []
            self.texts = []


class PeerServer(ThreadingHTTPServer):
    """A threading HTTP server with a listen backlog fit for a gateway:
    socketserver's default of 5 makes the kernel drop connection attempts
    beyond that, which a sender sees as one-second stalls."""

    request_queue_size = 128


def control_handler(recorder, on_request=None):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def _reply(self, status, body):
            raw = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _body(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                return json.loads(raw.decode() or "null")
            except ValueError:
                return raw.decode(errors="replace")

        def do_GET(self):
            path, _, query = self.path.partition("?")
            if path == "/_peer/received" and query:
                args = dict(urllib.parse.parse_qsl(query))
                try:
                    page = recorder.page(int(args.get("since") or 0),
                                         args.get("contains"),
                                         int(args.get("limit") or 1000))
                except ValueError:
                    return self._reply(400, {"error": "bad_query"})
                return self._reply(200, page)
            if path == "/_peer/received":
                with recorder.lock:
                    return self._reply(200, list(recorder.received))
            if self.path == "/_peer/health":
                return self._reply(200, {"status": "ok"})
            return self._reply(404, {"error": "not_found"})

        def do_POST(self):
            body = self._body()
            if self.path == "/_peer/mode":
                with recorder.lock:
                    recorder.mode = dict(body or {})
                return self._reply(200, recorder.mode)
            if self.path == "/_peer/reset":
                recorder.reset()
                return self._reply(200, {"reset": True})
            if on_request is None:
                return self._reply(404, {"error": "not_found"})
            status, answer = on_request(self.path, body,
                                        dict(self.headers.items()))
            return self._reply(status, answer)

    return Handler


def run_http(port):
    """A gateway peer: every POST is recorded and answered 200
    ``{"id", "errcode": 0, "msgid"}`` unless told to fail."""
    recorder = Recorder()

    def on_request(path, body, headers):
        failure = recorder.take_failure()
        ident = uuid.uuid4().hex
        recorder.record({"path": path, "json": body, "at": time.time(),
                         "authorization": headers.get("Authorization"),
                         "failed": failure is not None, "id": ident})
        if failure is not None:
            return (int(failure.get("status", 503)),
                    failure.get("body", {"error": "peer told to fail"}))
        return 200, {"id": ident, "errcode": 0, "errmsg": "ok",
                     "msgid": ident}

    server = PeerServer(("127.0.0.1", port),
                        control_handler(recorder, on_request))
    server.serve_forever()


def run_smtp(port, control_port):
    """An SMTP peer (aiosmtpd) with an HTTP control port."""
    from aiosmtpd.controller import Controller

    recorder = Recorder()

    class Handler:
        async def handle_RCPT(self, server, session, envelope, address,
                              rcpt_options):
            if address in recorder.mode.get("refuse", ()):
                return "550 5.1.1 mailbox unavailable"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            failure = recorder.take_failure()
            if failure is not None:
                code = int(failure.get("code", 451))
                return f"{code} peer told to fail"
            mail = message_from_bytes(envelope.content, policy=policy.default)
            body = mail.get_body(preferencelist=("plain",))
            recorder.record({
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "subject": str(mail["Subject"]),
                "message_id": str(mail["X-Sifuwu-Message"]),
                "body": body.get_content() if body else "",
                "at": time.time()})
            return "250 Message accepted for delivery"

    # The machine may be busy: give the server time to come up.
    controller = Controller(Handler(), hostname="127.0.0.1", port=port,
                            ready_timeout=30)
    controller.start()
    server = PeerServer(("127.0.0.1", control_port),
                        control_handler(recorder))
    try:
        server.serve_forever()
    finally:
        controller.stop()


# -- for tests and the embedded stack: peers as processes --------------------

def free_port():
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Peer:
    """A peer process; ``control`` is its control URL."""

    def __init__(self, kind, log=None, attempts=3):
        self.kind = kind
        for attempt in range(attempts):
            try:
                return self._start(log)
            except RuntimeError:
                self.stop()
                if attempt == attempts - 1:
                    raise

    def _start(self, log):
        kind = self.kind
        self.port = free_port()
        self.control_port = free_port() if kind == "smtp" else self.port
        args = [sys.executable, "-m", "tooling.peers", kind,
                "--port", str(self.port)]
        if kind == "smtp":
            args += ["--control-port", str(self.control_port)]
        if log is None:
            import tempfile
            log = tempfile.TemporaryFile()
        self.log = log
        self.process = subprocess.Popen(
            args, stdout=log, stderr=log, start_new_session=True)
        self.control = f"http://127.0.0.1:{self.control_port}"
        self.url = f"http://127.0.0.1:{self.port}"
        self._wait()

    def _wait(self, timeout=40):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"{self.kind} peer exited: "
                                   f"{self.log.read()[-2000:]!r}")
            try:
                if requests.get(self.control + "/_peer/health",
                                timeout=0.5).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.kind} peer did not start")

    def received(self):
        return requests.get(self.control + "/_peer/received",
                            timeout=5).json()

    def page(self, since=0, contains=None, limit=1000):
        """One page of what arrived (see the module's control API)."""
        params = {"since": since, "limit": limit}
        if contains:
            params["contains"] = contains
        return requests.get(self.control + "/_peer/received", params=params,
                            timeout=30).json()

    def set_mode(self, **mode):
        requests.post(self.control + "/_peer/mode", json=mode,
                      timeout=5).raise_for_status()

    def reset(self):
        requests.post(self.control + "/_peer/reset",
                      timeout=5).raise_for_status()

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()


class Inbox:
    """What the SMS stand-ins handed to recipients' phones, read as it
    fills: each call to ``new`` returns only what arrived since the last
    (failed requests left out: no phone got them). ``controls`` are the
    stand-ins' control URLs."""

    def __init__(self, controls, limit=1000):
        self.controls = list(controls)
        self.cursors = {control: 0 for control in self.controls}
        self.limit = limit

    def skip(self):
        """Start after what the stand-ins hold now (an earlier run's SMS):
        a page that matches nothing moves the cursor to the end."""
        for control in self.controls:
            page = requests.get(control + "/_peer/received", params={
                "since": self.cursors[control], "limit": 1,
                "contains": uuid.uuid4().hex}, timeout=30).json()
            self.cursors[control] = page["next"]

    def new(self, contains=None):
        found = []
        for control in self.controls:
            while True:
                params = {"since": self.cursors[control],
                          "limit": self.limit}
                if contains:
                    params["contains"] = contains
                page = requests.get(control + "/_peer/received",
                                    params=params, timeout=30).json()
                self.cursors[control] = page["next"]
                found.extend(item for item in page["items"]
                             if not item.get("failed"))
                if len(page["items"]) < self.limit:
                    break
        return found


def sms_controls(peers):
    """The control URLs of the SMS stand-ins among ``peers`` (name → Peer
    or control URL)."""
    return [getattr(peer, "control", peer)
            for name, peer in sorted(peers.items())
            if name.startswith("sms-")]


def start_embedded_peers(press_dir):
    """Every peer the embedded stack needs, and the environment that points
    notify at them: two SMS providers, WeChat, the SMTP server, the press
    folder. Returns (peers, env)."""
    peers = {"sms-a": Peer("http"), "sms-b": Peer("http"),
             "wechat": Peer("http"), "smtp": Peer("smtp")}
    env = {
        "SIFUWU_SMS_PROVIDERS": f"alpha={peers['sms-a'].url}/sms,"
                                f"beta={peers['sms-b'].url}/sms",
        "SIFUWU_WECHAT_URL": f"{peers['wechat'].url}/cgi-bin/message/"
                             "template/send",
        "SIFUWU_SMTP_HOST": "127.0.0.1",
        "SIFUWU_SMTP_PORT": str(peers["smtp"].port),
        "SIFUWU_PRESS_DIR": str(press_dir),
    }
    return peers, env


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("http", "smtp"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--control-port", type=int)
    args = parser.parse_args(argv)
    if args.kind == "http":
        run_http(args.port)
    else:
        run_smtp(args.port, args.control_port or args.port + 1)


if __name__ == "__main__":
    main()
