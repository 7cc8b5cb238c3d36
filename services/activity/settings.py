"""Settings of the activity service (活动服务), on top of everyone's, and the
rules context its steps get (``ActivitySettings.rules()``)."""

import dataclasses
import functools
import json
from typing import Any

from sifuwu.privacy import ContactKeys, contact
from sifuwu.settings import Settings, setting
from sifuwu.workdays import WorkCalendar


@dataclasses.dataclass(frozen=True)
class ActivitySettings(Settings):
    sweep_interval: float = setting(
        "SIFUWU_SWEEP_INTERVAL", 30.0,
        "诉求逾期督办扫描间隔（秒；每次一条索引查询）")
    demand_deadlines: str = setting(
        "SIFUWU_DEMAND_DEADLINES", "",
        "诉求时限覆盖（JSON，按类别：{\"masses\": {\"respond\": [1, \"workdays\"], "
        "\"resolve\": [7, \"days\"]}}）")
    ingest_amqp_users: str = setting(
        "SIFUWU_INGEST_AMQP_USERS", "",
        "AMQP 接入用户与来源系统的映射（user=system,...；有报送令牌的系统自动映射到自身）")
    ingest_source_types: str = setting(
        "SIFUWU_INGEST_SOURCE_TYPES", "",
        "各来源系统可报送的事件类型（系统=类型，多个类型以竖线分隔，多个系统以逗号分隔，"
        "* 为全部类型；设置后未列出的系统不能报送；留空则每个系统可报送全部类型；"
        "见 docs/ingest/README.md）")
    ingest_max_future_seconds: int = setting(
        "SIFUWU_INGEST_MAX_FUTURE_SECONDS", 600,
        "事件 occurred_at 允许晚于服务器当前时间的最大秒数（时钟偏差），超过即拒收")
    ingest_key_overlap_seconds: int = setting(
        "SIFUWU_INGEST_KEY_OVERLAP_SECONDS", 7 * 24 * 3600,
        "接入客户端轮换密钥后旧密钥继续有效的秒数（重叠期，默认 7 天；"
        "轮换时可指定更短的重叠期，0 为立即失效）")

    @classmethod
    def load(cls, config=None, env=None):
        # nameko's config may give the deadline overrides as a mapping
        # (YAML) rather than JSON text.
        name = "SIFUWU_DEMAND_DEADLINES"
        if config is not None and isinstance(config.get(name), dict):
            config = dict(config, **{name: json.dumps(config[name])})
        return super().load(config, env)

    @property
    def deadline_overrides(self):
        """{category: {"respond"|"resolve": (amount, unit)}} or {}."""
        return json.loads(self.demand_deadlines) if self.demand_deadlines \
            else {}

    def rules(self):
        return Rules(secret=self.secret, contact_keys=self.contact_keys,
                     calendar=calendar(self.calendar_file or None),
                     tz=self.tz, deadline_overrides=self.deadline_overrides)


@functools.lru_cache(maxsize=8)
def calendar(path):
    """The working-day calendar (the file at ``path`` if set), read once."""
    return WorkCalendar.configured(path)


@dataclasses.dataclass(frozen=True)
class Rules:
    """What the steps need besides the data: the sealing secret, the
    working-day calendar, the business time zone and deadline overrides."""

    secret: str
    calendar: Any
    tz: Any
    deadline_overrides: dict = dataclasses.field(default_factory=dict)
    contact_keys: str = ""

    @property
    def sealer(self):
        """The contact keys (``SIFUWU_CONTACT_KEYS``, else derived from the
        secret)."""
        return ContactKeys.configured(self.contact_keys, self.secret)

    def contact(self, value):
        """A phone as events carry it: sealed, with its reference and masked
        form (``sifuwu.privacy.contact``); None for none."""
        return contact(value, keys=self.sealer, secret=self.secret)
