"""Configuration from the environment (配置).

Services get their settings through nameko's config (``config.yaml``, which
reads the same environment variables); the launcher and the CLI read the
environment directly. Both end in one ``Settings``.
"""

import dataclasses
import os

DEFAULT_PORTS = {"activity": 8001, "assessment": 8002, "feedback": 8003,
                 "notify": 8004}

# Worker pool (nameko ``max_workers``: HTTP requests and event handlers
# share it) where the config's 10 is too few: feedback answers recipients'
# phones, and its group commit (``sifuwu.group``) writes together the
# ratings of the requests in flight, so more of them in flight is what lets
# it keep up (issue 10: 10 → ~125 POST/s here, 100 → ~200/s).
# SIFUWU_MAX_WORKERS overrides it.
DEFAULT_MAX_WORKERS = {"feedback": 100}


def _env(name, default):
    return os.environ.get(name, default)


@dataclasses.dataclass(frozen=True)
class Settings:
    amqp_uri: str = "pyamqp://guest:guest@localhost:5672//"
    mongo_uri: str = "mongodb://localhost:27017/"
    db_prefix: str = "sifuwu_"
    secret: str = "sifuwu-dev-secret-change-me"
    feedback_base_url: str = "http://localhost:8003"
    store_timeout_ms: int = 3000
    relay_interval: float = 1.0
    ingest_tokens: str = "demo=demo-token"
    staff_tokens: str = "staff=staff-token"
    timezone: str = "Asia/Shanghai"
    max_body_bytes: int = 1_048_576

    @classmethod
    def from_env(cls, env=None):
        env = os.environ if env is None else env
        return cls._from(lambda key, default: env.get(key, default))

    @classmethod
    def from_config(cls, config):
        return cls._from(lambda key, default: config.get(
            key, os.environ.get(key, default)))

    @classmethod
    def _from(cls, get):
        base = cls()
        return cls(
            amqp_uri=get("AMQP_URI", base.amqp_uri),
            mongo_uri=get("MONGO_URI", base.mongo_uri),
            db_prefix=get("SIFUWU_DB_PREFIX", base.db_prefix),
            secret=get("SIFUWU_SECRET", base.secret),
            feedback_base_url=get("SIFUWU_FEEDBACK_BASE_URL",
                                  base.feedback_base_url).rstrip("/"),
            store_timeout_ms=int(get("SIFUWU_STORE_TIMEOUT_MS",
                                     base.store_timeout_ms)),
            relay_interval=float(get("SIFUWU_RELAY_INTERVAL",
                                     base.relay_interval)),
            ingest_tokens=get("SIFUWU_INGEST_TOKENS", base.ingest_tokens),
            staff_tokens=get("SIFUWU_STAFF_TOKENS", base.staff_tokens),
            timezone=get("SIFUWU_TIMEZONE", base.timezone),
            max_body_bytes=int(get("SIFUWU_MAX_BODY_BYTES",
                                   base.max_body_bytes)),
        )
