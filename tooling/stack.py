"""The embedded stack (嵌入式运行环境): a private RabbitMQ node, a SecantusDB
server and the four services as processes, all under one folder.

Used by ``./run`` (demo, up, down) and by the test fixtures. It is the same
stack as ``docker-compose.yml``: same services, same environment variables,
same health checks; only the broker and the store are local processes.
"""

import dataclasses
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

import sifuwu
from sifuwu.settings import DEFAULT_MAX_WORKERS, DEFAULT_PORTS
from sifuwu.wiring import SERVICES

ROOT = Path(__file__).resolve().parent.parent
# nameko's config for every service ships with the runtime package.
CONFIG_FILE = Path(sifuwu.__file__).resolve().parent / "config.yaml"
RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")
SERVICE_CLASSES = {"activity": "ActivityService",
                   "assessment": "AssessmentService",
                   "feedback": "FeedbackService", "notify": "NotifyService",
                   "identity": "IdentityService",
                   "console": "ConsoleService"}
# Databases of one demo run (``use_fresh_demo_databases``).
DEMO_DATABASE = re.compile(r"^demo\d{14}_")
# Silence exactly eventlet's deprecation notice (it starts with a newline).
EVENTLET_NOTICE_FILTER = "ignore:\nEventlet is deprecated:Warning"


def serve_command(service):
    """`nameko run` for one service, with the project's config file."""
    nameko = Path(sys.executable).parent / "nameko"
    return [str(nameko), "run", "--config", str(CONFIG_FILE),
            f"services.{service}.service:{SERVICE_CLASSES[service]}"]


def serve_env(service, base_env):
    """The environment a service runs with: its default port unless
    WEB_SERVER_ADDRESS is given, its worker pool unless SIFUWU_MAX_WORKERS
    is, and eventlet's notice silenced."""
    env = dict(base_env)
    env.setdefault("WEB_SERVER_ADDRESS",
                   f"0.0.0.0:{DEFAULT_PORTS[service]}")
    if service in DEFAULT_MAX_WORKERS:
        env.setdefault("SIFUWU_MAX_WORKERS",
                       str(DEFAULT_MAX_WORKERS[service]))
    env["PYTHONWARNINGS"] = EVENTLET_NOTICE_FILTER
    return env


# The embedded stack's demo source system: HTTP token demo-token (settings),
# broker user demo for the AMQP way in.
INGEST_DEMO_USER = "demo"
INGEST_DEMO_PASSWORD = "demo-amqp-secret"


class StackError(RuntimeError):
    """A step of the stack cannot run; the message says what to do."""


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port, host="127.0.0.1"):
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def speaks_amqp(port, host="127.0.0.1"):
    """Something on ``port`` answers the AMQP 0-9-1 protocol header with a
    method frame (Connection.Start): a broker, e.g. the system's RabbitMQ
    that systemd starts after ``apt-get install rabbitmq-server``."""
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            sock.sendall(b"AMQP\x00\x00\x09\x01")
            return sock.recv(8)[:1] == b"\x01"
    except OSError:
        return False


def wait_until(check, timeout, what, interval=0.3):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # noqa: BLE001 - retried until deadline
            last = exc
        time.sleep(interval)
    raise StackError(f"{what} did not come up within {timeout:.0f} s"
                     + (f" ({last})" if last else ""))


@dataclasses.dataclass
class Ports:
    amqp: int = 5672
    amqp_management: int = 15672
    amqp_dist: int = 25672
    store: int = 27017
    services: dict = dataclasses.field(
        default_factory=lambda: dict(DEFAULT_PORTS))

    # the fields and their environment variables (services: SIFUWU_<NAME>_PORT)
    ENV = {"amqp": "SIFUWU_AMQP_PORT",
           "amqp_management": "SIFUWU_AMQP_MANAGEMENT_PORT",
           "amqp_dist": "SIFUWU_AMQP_DIST_PORT", "store": "SIFUWU_STORE_PORT"}

    @classmethod
    def defaulted(cls, env=None):
        """The ports the environment does not set: those may move when
        taken. Names as in ``Ports.ENV``, services as ``service:NAME``."""
        env = os.environ if env is None else env
        names = [*cls.ENV, *(f"service:{name}" for name in DEFAULT_PORTS)]
        return {name for name in names if not env.get(cls.env_name(name))}

    @classmethod
    def env_name(cls, name):
        if name.startswith("service:"):
            return f"SIFUWU_{name.split(':', 1)[1].upper()}_PORT"
        return cls.ENV[name]

    def get(self, name):
        if name.startswith("service:"):
            return self.services[name.split(":", 1)[1]]
        return getattr(self, name)

    def set(self, name, port):
        if name.startswith("service:"):
            self.services[name.split(":", 1)[1]] = port
        else:
            setattr(self, name, port)

    @classmethod
    def from_env(cls):
        env = os.environ
        base = cls()
        return cls(
            amqp=int(env.get("SIFUWU_AMQP_PORT", base.amqp)),
            amqp_management=int(env.get("SIFUWU_AMQP_MANAGEMENT_PORT",
                                        base.amqp_management)),
            amqp_dist=int(env.get("SIFUWU_AMQP_DIST_PORT", base.amqp_dist)),
            store=int(env.get("SIFUWU_STORE_PORT", base.store)),
            services={name: int(env.get(f"SIFUWU_{name.upper()}_PORT", port))
                      for name, port in DEFAULT_PORTS.items()})

    @classmethod
    def free(cls):
        return cls(amqp=free_port(), amqp_management=free_port(),
                   amqp_dist=free_port(), store=free_port(),
                   services={name: free_port() for name in SERVICES})


class EmbeddedStack:
    """Start, watch and stop the embedded stack under ``base_dir``."""

    def __init__(self, base_dir, ports=None, db_prefix="sifuwu_",
                 extra_env=None, movable=None):
        self.base = Path(base_dir).resolve()
        self.ports = ports or Ports.from_env()
        # ports that move to free ones when taken (``claim_ports``): by
        # default those the environment does not set; none when given
        self.movable = set(movable if movable is not None else (
            () if ports else Ports.defaulted()))
        self.db_prefix = db_prefix
        self.extra_env = dict(extra_env or {})
        digest = hashlib.sha1(str(self.base).encode()).hexdigest()[:8]
        self.node = f"sifuwu-{digest}@localhost"
        self.processes = {}
        self.peers = {}

    # -- addresses ---------------------------------------------------------

    @property
    def amqp_uri(self):
        return f"pyamqp://guest:guest@127.0.0.1:{self.ports.amqp}//"

    @property
    def mongo_uri(self):
        # SecantusDB keeps every retryable write and rescans them on each
        # write; production MongoDB keeps the default (retryable writes on).
        return f"mongodb://127.0.0.1:{self.ports.store}/?retryWrites=false"

    def url(self, service):
        return f"http://127.0.0.1:{self.ports.services[service]}"

    @property
    def state_file(self):
        return self.base / "stack.json"

    def service_env(self, service):
        env = dict(os.environ)
        env.update({
            "AMQP_URI": self.amqp_uri,
            "MONGO_URI": self.mongo_uri,
            "WEB_SERVER_ADDRESS": f"127.0.0.1:{self.ports.services[service]}",
            "SIFUWU_DB_PREFIX": self.db_prefix,
            "SIFUWU_FEEDBACK_BASE_URL": self.url("feedback"),
            "SIFUWU_ASSESSMENT_BASE_URL": self.url("assessment"),
            "SIFUWU_IDENTITY_URL": self.url("identity"),
        })
        if service == "console":
            env.update({f"SIFUWU_CONSOLE_{name.upper()}_URL": self.url(name)
                        for name in ("activity", "assessment", "feedback",
                                     "notify")})
        if service == "identity" and not env.get("SIFUWU_IDENTITY_BOOTSTRAP"):
            env["SIFUWU_IDENTITY_BOOTSTRAP"] = self.identity_bootstrap()
        env.update(self.extra_env)
        return serve_env(service, env)

    @property
    def bootstrap_file(self):
        return self.base / "identity-bootstrap.txt"

    def identity_bootstrap(self):
        """The first 工委 account of this stack (``name:password:TOTP
        secret``), made once with random values and kept, readable by its
        owner only, under the stack's folder: no shared default password."""
        path = self.bootstrap_file
        if not path.exists():
            import secrets

            import pyotp
            self.base.mkdir(parents=True, exist_ok=True)
            value = (f"admin:{secrets.token_urlsafe(18)}:"
                     f"{pyotp.random_base32()}")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(value + "\n")
        return path.read_text().strip()

    def committee_login(self):
        """A ``Login`` (``tooling.login``) as this stack's first 工委
        account, the one ``identity_bootstrap`` made."""
        from tooling.login import Login, parse_bootstrap
        name, password, secret = parse_bootstrap(self.identity_bootstrap())
        return Login(self.url("identity"), name, password, secret)

    def claim_ports(self, progress=print):
        """Move every movable port that something already listens on to a
        free port, and say which: on a machine with systemd, installing
        rabbitmq-server starts the system's broker on 5672 (and 25672), a
        system MongoDB takes 27017. Returns {name: (taken, chosen)}."""
        moved = {}
        for name in sorted(self.movable):
            taken = self.ports.get(name)
            if port_open(taken):
                moved[name] = (taken, free_port())
                self.ports.set(name, moved[name][1])
        if "amqp" in moved and speaks_amqp(moved["amqp"][0]):
            progress(f"端口 {moved['amqp'][0]} 上已有一个 RabbitMQ（系统的 "
                     "rabbitmq-server 服务?），不使用它；本栈的节点改用空闲端口。")
        for name, (taken, chosen) in moved.items():
            label = name.replace("service:", "服务 ")
            progress(f"端口 {taken} 已被占用，{label} 改用 {chosen}"
                     f"（要固定端口请设置 {Ports.env_name(name)}）")
        return moved

    # -- RabbitMQ ----------------------------------------------------------

    def rabbit_env(self):
        home = self.base / "rabbitmq"
        env = dict(os.environ)
        env.update({
            "HOME": str(home),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_MNESIA_BASE": str(home / "mnesia"),
            "RABBITMQ_LOG_BASE": str(home / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(home / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(home / "rabbitmq.conf"),
            "RABBITMQ_DIST_PORT": str(self.ports.amqp_dist),
            "RABBITMQ_PID_FILE": str(home / "rabbitmq.pid"),
        })
        return env

    def rabbitmqctl(self, *args, timeout=60, check=True):
        result = subprocess.run(
            [str(RABBIT_BIN / "rabbitmqctl"), "-n", self.node, *args],
            env=self.rabbit_env(), capture_output=True, text=True,
            timeout=timeout)
        if check and result.returncode != 0:
            raise StackError(f"rabbitmqctl {' '.join(args)} failed: "
                             f"{result.stderr.strip() or result.stdout.strip()}")
        return result.stdout

    def start_rabbit(self):
        if not (RABBIT_BIN / "rabbitmq-server").exists():
            raise StackError(
                "RabbitMQ is not installed. Install Debian's package: "
                "sudo apt-get update && sudo apt-get install -y rabbitmq-server "
                "(./run does this itself when run as root).")
        home = self.base / "rabbitmq"
        (home / "log").mkdir(parents=True, exist_ok=True)
        (home / "enabled_plugins").write_text("[rabbitmq_management].\n")
        (home / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.ports.amqp}\n"
            f"management.tcp.ip = 127.0.0.1\n"
            f"management.tcp.port = {self.ports.amqp_management}\n"
            "vm_memory_high_watermark.relative = 0.4\n"
            "disk_free_limit.absolute = 200MB\n")
        if port_open(self.ports.amqp):
            raise StackError(
                f"port {self.ports.amqp} is taken (another RabbitMQ?). Stop it "
                "or set SIFUWU_AMQP_PORT to a free port.")
        log = open(home / "log" / "console.log", "ab")
        self.processes["rabbitmq"] = subprocess.Popen(
            [str(RABBIT_BIN / "rabbitmq-server")], env=self.rabbit_env(),
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.rabbitmqctl("wait", str(home / "rabbitmq.pid"), "--timeout",
                         "90", timeout=120)
        wait_until(lambda: port_open(self.ports.amqp), 60, "RabbitMQ")
        self.add_ingest_user(INGEST_DEMO_USER, INGEST_DEMO_PASSWORD)

    def add_ingest_user(self, user, password):
        """A broker user for one source system: may publish to the ingest
        exchange only (RabbitMQ validates user_id against it)."""
        self.rabbitmqctl("add_user", user, password, check=False)
        self.rabbitmqctl("change_password", user, password)
        self.rabbitmqctl("set_permissions", "-p", "/", user, "^$",
                         r"^sifuwu\.ingest$", "^$")

    def ingest_amqp_uri(self, user=None, password=None):
        return (f"pyamqp://{user or INGEST_DEMO_USER}:"
                f"{password or INGEST_DEMO_PASSWORD}@127.0.0.1:"
                f"{self.ports.amqp}//")

    def stop_rabbit(self, pid=None):
        try:
            self.rabbitmqctl("shutdown", timeout=60, check=False)
        except subprocess.TimeoutExpired:
            pass
        self._terminate("rabbitmq", pid)

    # -- the store ---------------------------------------------------------

    def start_store(self):
        exe = Path(sys.executable).parent / "secantusd-py"
        if not exe.exists():
            raise StackError("SecantusDB is missing: run ./run setup "
                             "(installs the project with the 'embedded' extra).")
        if port_open(self.ports.store):
            raise StackError(f"port {self.ports.store} is taken. Stop what "
                             "listens there or set SIFUWU_STORE_PORT.")
        data = self.base / "store"
        data.mkdir(parents=True, exist_ok=True)
        (self.base / "logs").mkdir(parents=True, exist_ok=True)
        log = open(self.base / "logs" / "store.log", "ab")
        self.processes["store"] = subprocess.Popen(
            [str(exe), "--host", "127.0.0.1", "--port", str(self.ports.store),
             "--storage-path", str(data), "--log-level", "WARNING",
             # no oplog: nothing reads change streams (docs/operations.md)
             "--standalone"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(self._store_ready, 60, "SecantusDB")

    def _store_ready(self):
        from pymongo import MongoClient
        proc = self.processes.get("store")
        if proc is not None and proc.poll() is not None:
            raise StackError("SecantusDB exited; see "
                             f"{self.base / 'logs' / 'store.log'}")
        with MongoClient(self.mongo_uri, serverSelectionTimeoutMS=500) as c:
            c.admin.command("ping")
        return True

    # -- notify's peers -----------------------------------------------------

    def start_peers(self):
        """Local SMS gateways, WeChat API, SMTP server and press folder for
        notify's channels, as production has real ones."""
        from tooling.peers import start_embedded_peers

        peers, env = start_embedded_peers(self.base / "press")
        for name, peer in peers.items():
            self.processes[f"peer-{name}"] = peer.process
        self.peers = peers
        # Quiet hours would hold a demo's SMS until 08:00 Beijing time;
        # production keeps them (SIFUWU_QUIET_HOURS unset = 22-8).
        env.setdefault("SIFUWU_QUIET_HOURS",
                       os.environ.get("SIFUWU_QUIET_HOURS", "off"))
        self.extra_env.update(env)
        return peers

    # -- services ----------------------------------------------------------

    def start_service(self, service):
        (self.base / "logs").mkdir(parents=True, exist_ok=True)
        log = open(self.base / "logs" / f"{service}.log", "ab")
        self.processes[service] = subprocess.Popen(
            serve_command(service), env=self.service_env(service),
            cwd=str(ROOT), stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)

    def healthy(self, service):
        response = requests.get(self.url(service) + "/health", timeout=2)
        return response.status_code == 200

    def wait_healthy(self, services=SERVICES, timeout=90):
        for service in services:
            def check(service=service):
                proc = self.processes.get(service)
                if proc is not None and proc.poll() is not None:
                    raise StackError(
                        f"service {service} exited; see "
                        f"{self.base / 'logs' / (service + '.log')}")
                return self.healthy(service)
            wait_until(check, timeout, f"service {service}")

    def kill_service(self, service, sig=signal.SIGKILL):
        proc = self.processes[service]
        os.killpg(proc.pid, sig)
        proc.wait(timeout=30)

    # -- faults, for the reliability tests -----------------------------------

    def restart_rabbit(self):
        """Stop the broker node and start it again on the same data."""
        self.stop_rabbit()
        wait_until(lambda: not port_open(self.ports.amqp), 30,
                   "RabbitMQ shutdown")
        self.start_rabbit()

    def stop_store(self):
        self._terminate("store")

    def restart_service(self, service):
        """kill -9 a service and start it again."""
        self.kill_service(service)
        self.start_service(service)
        self.wait_healthy([service])

    # -- whole stack -------------------------------------------------------

    def start(self, progress=print):
        self.base.mkdir(parents=True, exist_ok=True)
        running = self.running_state()
        if running:
            raise StackError("the stack is already running (./run down stops "
                             "it): " + ", ".join(running["urls"].values()))
        try:
            self.claim_ports(progress)
            progress("启动 RabbitMQ …")
            self.start_rabbit()
            progress("启动 SecantusDB …")
            self.start_store()
            progress("启动短信、微信、邮件对端 …")
            self.start_peers()
            progress(f"启动 {len(SERVICES)} 个服务 …（工委初始账号 admin，"
                     f"口令与 TOTP 密钥见 {self.bootstrap_file}）")
            for service in SERVICES:
                self.start_service(service)
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        self.write_state()
        return self

    def write_state(self):
        self.state_file.write_text(json.dumps({
            "pids": {name: proc.pid for name, proc in self.processes.items()},
            "node": self.node,
            "amqp_uri": self.amqp_uri,
            "mongo_uri": self.mongo_uri,
            "db_prefix": self.db_prefix,
            "ports": dataclasses.asdict(self.ports),
            "urls": {service: self.url(service) for service in SERVICES},
            "peers": {name: peer.control for name, peer in self.peers.items()},
        }, ensure_ascii=False, indent=2))

    def sms_controls(self):
        """The control URLs of this stack's SMS stand-ins (where the
        citizens' phones get their links), started here or recorded by the
        process that started the stack; [] when none runs."""
        from tooling.peers import sms_controls

        if self.peers:
            return sms_controls(self.peers)
        state = self.running_state()
        return sms_controls((state or {}).get("peers") or {})

    def use_fresh_demo_databases(self, now=None):
        """Give the services databases of their own for one demo run
        (prefix ``demoYYYYmmddHHMMSS_``): the story generates the same
        city, ids and all, on every run, so on the databases of an earlier
        run it would meet its own data half-way. Call before ``start``;
        ``drop_earlier_demo_databases`` then removes the earlier runs'."""
        now = now or time.localtime()
        self.db_prefix = f"demo{time.strftime('%Y%m%d%H%M%S', now)}_"
        return self.db_prefix

    def drop_earlier_demo_databases(self):
        """Drop the databases of earlier demo runs (not this run's, not the
        ``sifuwu_`` ones of ``./run up``). Returns their names."""
        from pymongo import MongoClient

        with MongoClient(self.mongo_uri) as client:
            earlier = [name for name in client.list_database_names()
                       if DEMO_DATABASE.match(name)
                       and not name.startswith(self.db_prefix)]
            for name in earlier:
                client.drop_database(name)
        return earlier

    def running_state(self):
        """The recorded state if the recorded processes are alive."""
        if not self.state_file.exists():
            return None
        state = json.loads(self.state_file.read_text())
        alive = [pid for pid in state["pids"].values() if _alive(pid)]
        if not alive:
            self.state_file.unlink()
            return None
        return state

    def stop(self):
        state = None
        if self.state_file.exists():
            state = json.loads(self.state_file.read_text())
        pids = state["pids"] if state else {}
        for service in SERVICES:
            self._terminate(service, pids.get(service))
        peers = {name for name in [*self.processes, *pids]
                 if name.startswith("peer-")}
        for name in peers:
            self._terminate(name, pids.get(name))
        self._terminate("store", pids.get("store"))
        if "rabbitmq" in self.processes or "rabbitmq" in pids:
            self.stop_rabbit(pids.get("rabbitmq"))
        if self.state_file.exists():
            self.state_file.unlink()

    def _terminate(self, name, pid=None):
        proc = self.processes.pop(name, None)
        pid = proc.pid if proc is not None else pid
        if pid is None or not _alive(pid):
            return
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _alive(pid):
            if proc is not None and proc.poll() is not None:
                return
            time.sleep(0.1)
        if _alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if proc is not None:
            proc.wait(timeout=10)

    def wipe(self):
        shutil.rmtree(self.base, ignore_errors=True)


def sms_controls_for(urls, base=None):
    """The SMS stand-ins of the embedded stack (under ``SIFUWU_HOME``, or
    ``.sifuwu``) serving ``urls``; [] when that is not the stack serving
    them (e.g. the compose stack, whose SMS gateway is the delivery log)."""
    base = base or os.environ.get("SIFUWU_HOME") or ROOT / ".sifuwu"
    stack = EmbeddedStack(base)
    state = stack.running_state()
    if not state or state.get("urls", {}).get("notify") != urls.get("notify"):
        return []
    return stack.sms_controls()


def staff_login_for(urls, base=None):
    """The 工委 ``Login`` of the embedded stack (under ``SIFUWU_HOME``, or
    ``.sifuwu``) serving ``urls``; None when another stack serves them
    (compose: sign in with an account of your own)."""
    base = base or os.environ.get("SIFUWU_HOME") or ROOT / ".sifuwu"
    stack = EmbeddedStack(base)
    state = stack.running_state()
    if not state or state.get("urls", {}).get("identity") != urls.get(
            "identity") or not stack.bootstrap_file.exists():
        return None
    from tooling.login import Login, parse_bootstrap
    name, password, secret = parse_bootstrap(stack.bootstrap_file.read_text())
    return Login(urls["identity"], name, password, secret)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child counts as dead.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except OSError:
        return True
