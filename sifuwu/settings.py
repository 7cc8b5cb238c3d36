"""Typed settings (配置): one reader, defaults written once.

Every setting is a field with the environment variable that sets it, its default
and a line of documentation. ``Settings.load(config, env)`` reads each field
from nameko's config (``sifuwu/config.yaml`` and whatever a test passes),
then the environment, then the default; an empty value counts as unset for
anything but text. A service that needs more declares a subclass
(``ActivitySettings(Settings)``) and names it ``settings_class``; the launcher
and the CLI call ``Settings.from_env()``. Nothing reads the environment at
import time. ``docs/configuration.md`` lists every name (``documented()``).
"""

import dataclasses
import os
from zoneinfo import ZoneInfo

from sifuwu.auth import parse_tokens
from sifuwu.privacy import parse_contact_keys

DEFAULT_PORTS = {"activity": 8001, "assessment": 8002, "feedback": 8003,
                 "notify": 8004, "identity": 8005, "console": 8006}

# nameko ``max_workers`` (HTTP requests and event handlers share the pool) where
# the config's 10 is too few; SIFUWU_MAX_WORKERS overrides it. Why feedback
# needs 100: docs/performance.md.
DEFAULT_MAX_WORKERS = {"feedback": 100}

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}


def setting(env, default, doc):
    """A settings field read from ``env`` (the variable's name)."""
    return dataclasses.field(default=default,
                             metadata={"env": env, "doc": doc})


def _convert(value, default, name):
    if isinstance(default, bool):
        text = str(value).strip().lower()
        if text in TRUE:
            return True
        if text in FALSE:
            return False
        raise ValueError(f"{name}: 应为 true/false，收到 {value!r}")
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    return str(value)


DEV_SECRET = "sifuwu-dev-secret-change-me"
DEV_TOKENS = {"demo-token", "staff-token", "supervisor-token"}
MIN_SECRET_LENGTH = 32
MIN_TOKEN_LENGTH = 24
DEVELOPMENT, PRODUCTION = "development", "production"
MODES = (DEVELOPMENT, PRODUCTION)


@dataclasses.dataclass(frozen=True)
class Settings:
    """What every service and the tooling read."""

    amqp_uri: str = setting(
        "AMQP_URI", "pyamqp://guest:guest@localhost:5672//",
        "RabbitMQ 地址（nameko 也读同名配置）")
    mongo_uri: str = setting(
        "MONGO_URI", "mongodb://localhost:27017/", "MongoDB 地址")
    db_prefix: str = setting(
        "SIFUWU_DB_PREFIX", "sifuwu_", "数据库名前缀（每个服务一个库）")
    secret: str = setting(
        "SIFUWU_SECRET", DEV_SECRET,
        "签名与加密密钥（评价链接、个人信息加密）；生产必须设置")
    feedback_base_url: str = setting(
        "SIFUWU_FEEDBACK_BASE_URL", "http://localhost:8003",
        "评价页面对外地址（短信里的链接）")
    store_timeout_ms: int = setting(
        "SIFUWU_STORE_TIMEOUT_MS", 3000, "连接数据库的超时（毫秒）")
    relay_interval: float = setting(
        "SIFUWU_RELAY_INTERVAL", 1.0, "发件箱转发的轮询间隔（秒）")
    ingest_tokens: str = setting(
        "SIFUWU_INGEST_TOKENS", "demo=demo-token",
        "外部系统报送令牌（system=token,...）")
    timezone: str = setting(
        "SIFUWU_TIMEZONE", "Asia/Shanghai", "业务时区（期间、截止时间、静默时段）")
    max_body_bytes: int = setting(
        "SIFUWU_MAX_BODY_BYTES", 1_048_576, "HTTP 请求体上限（字节）")
    clock_offset_seconds: float = setting(
        "SIFUWU_CLOCK_OFFSET_SECONDS", 0.0,
        "时钟偏移（秒；端到端测试用来越过截止时间）")
    calendar_file: str = setting(
        "SIFUWU_CALENDAR_FILE", "",
        "节假日与调休数据文件（JSON，补充 chinese-calendar 未收录的年份）")
    contact_keys: str = setting(
        "SIFUWU_CONTACT_KEYS", "",
        "联系方式（手机号、邮箱）加密密钥：逗号分隔的 Fernet 密钥，最新的在前；"
        "轮换时把新密钥加在最前，旧密钥留在后面直到重新加密完成"
        "（python -m sifuwu.reseal reseal）；留空则由 SIFUWU_SECRET 派生（仅限开发）；生产必须设置")
    mode: str = setting(
        "SIFUWU_MODE", "development",
        "运行模式：development（开发、演示、测试）或 production（生产：任何开发默认值"
        "或缺失的密钥都会使服务拒绝启动）")
    metrics_token: str = setting(
        "SIFUWU_METRICS_TOKEN", "",
        "Prometheus 抓取 /metrics 的 Bearer 令牌（运维、工委账户的访问令牌也可）；"
        "为空时仅在开发模式下对所有人开放")
    # checking staff tokens (sifuwu.access)
    identity_url: str = setting(
        "SIFUWU_IDENTITY_URL", "http://localhost:8005",
        "身份服务地址（各服务从其 /.well-known/jwks.json 取公钥）")
    jwks_max_age: float = setting(
        "SIFUWU_JWKS_MAX_AGE", 300.0, "公钥集缓存多久后重新获取（秒）")
    jwks_min_refresh: float = setting(
        "SIFUWU_JWKS_MIN_REFRESH", 10.0,
        "遇到未知密钥编号时两次重新获取公钥集的最短间隔（秒）")
    token_issuer: str = setting(
        "SIFUWU_TOKEN_ISSUER", "sifuwu-identity", "访问令牌签发方（iss）")
    token_audience: str = setting(
        "SIFUWU_TOKEN_AUDIENCE", "sifuwu", "访问令牌受众（aud）")
    token_leeway: float = setting(
        "SIFUWU_TOKEN_LEEWAY", 30.0, "校验令牌有效期时容许的时钟误差（秒）")
    jwks: str = setting(
        "SIFUWU_JWKS", "",
        "固定的公钥集（JWKS 的 JSON 文本）；设置后不再从身份服务获取"
        "（测试与无法访问身份服务的隔离部署用）")

    def production_problems(self):
        """What a production deployment must not run with (zh-CN, one line
        each): development defaults and missing keys. Empty when fine."""
        problems = []
        if self.mode not in MODES:
            problems.append(f"SIFUWU_MODE 须为 {' 或 '.join(MODES)}（现为 {self.mode!r}）")
        if self.secret == DEV_SECRET or len(self.secret) < MIN_SECRET_LENGTH:
            problems.append("SIFUWU_SECRET 是开发默认值或过短：请设置至少 "
                            f"{MIN_SECRET_LENGTH} 个字符的随机值（如 openssl rand -hex 32）")
        tokens = parse_tokens(self.ingest_tokens)
        if any(token in DEV_TOKENS or len(token) < MIN_TOKEN_LENGTH
               for token in tokens):
            problems.append("SIFUWU_INGEST_TOKENS 含开发默认令牌或过短的令牌（每个至少 "
                            f"{MIN_TOKEN_LENGTH} 个字符）")
        if len(self.metrics_token) < MIN_TOKEN_LENGTH:
            problems.append("SIFUWU_METRICS_TOKEN 未设置或过短：Prometheus 抓取 /metrics "
                            f"须用至少 {MIN_TOKEN_LENGTH} 个字符的令牌")
        try:
            contact_keys = parse_contact_keys(self.contact_keys)
        except ValueError as exc:
            problems.append(str(exc))
        else:
            if not contact_keys:
                problems.append("SIFUWU_CONTACT_KEYS 未设置：请设置联系方式加密密钥（Fernet 密钥，"
                                "如 python -c 'from cryptography.fernet import Fernet; "
                                "print(Fernet.generate_key().decode())'）")
        if not self.feedback_base_url.startswith("https://"):
            problems.append("SIFUWU_FEEDBACK_BASE_URL 须为评价页面对外的 https 地址"
                            f"（现为 {self.feedback_base_url}）")
        return problems

    @classmethod
    def load(cls, config=None, env=None):
        """Each field from ``config``, else ``env``, else its default."""
        config = {} if config is None else config
        env = os.environ if env is None else env
        values = {}
        for field in dataclasses.fields(cls):
            name = field.metadata["env"]
            value = config.get(name)
            if value is None or (value == "" and not isinstance(field.default, str)):
                value = env.get(name)
            if value is None or (value == "" and not isinstance(field.default, str)):
                continue
            values[field.name] = _convert(value, field.default, name)
        if "feedback_base_url" in values:
            values["feedback_base_url"] = values["feedback_base_url"].rstrip("/")
        return cls(**values)

    @classmethod
    def from_env(cls, env=None):
        """The settings of a process that has no nameko config (tooling)."""
        return cls.load({}, os.environ if env is None else env)

    @classmethod
    def from_config(cls, config):
        """A service's settings: nameko's config, then the environment."""
        return cls.load(config, os.environ)

    @property
    def tz(self):
        """The business timezone as a ``ZoneInfo``."""
        return ZoneInfo(self.timezone)

    @classmethod
    def documented(cls):
        """[(variable, default, doc)] for every field, in declaration order."""
        return [(f.metadata["env"], f.default, f.metadata["doc"])
                for f in dataclasses.fields(cls)]
