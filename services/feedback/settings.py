"""Settings of the feedback service (评价服务), read once per worker from
nameko's config, then the environment, then the defaults below."""

import dataclasses

from sifuwu.settings import Settings, setting
from services.feedback import domain


@dataclasses.dataclass(frozen=True)
class FeedbackSettings(Settings):
    rate_address: str = setting(
        "SIFUWU_FEEDBACK_RATE_ADDRESS", domain.rate_spec(domain.RATE_PER_ADDRESS),
        "公开提交的限流：每个客户端地址在窗口内的次数（次数/秒，如 60/60）；"
        "计数保存在数据库中，所有实例共用一个额度")
    rate_token: str = setting(
        "SIFUWU_FEEDBACK_RATE_TOKEN", domain.rate_spec(domain.RATE_PER_TOKEN),
        "每个评价链接在窗口内的提交次数（次数/秒，如 20/3600）")
    trust_forwarded: bool = setting(
        "SIFUWU_FEEDBACK_TRUST_FORWARDED", False,
        "位于一层可信反向代理之后时设为 true：按 X-Forwarded-For 最后一跳计数限流")
    default_after_working_days: int = setting(
        "SIFUWU_FEEDBACK_DEFAULT_AFTER_WORKING_DAYS", 0,
        "默认好评：邀请发出后这么多个工作日未评价即记为“满意”（0 = 关闭）")

    @property
    def address_rate(self):
        """(requests, window seconds) per client address; a malformed value
        falls back to the default."""
        return domain.parse_rate(self.rate_address, domain.RATE_PER_ADDRESS)

    @property
    def token_rate(self):
        """(requests, window seconds) per invitation token."""
        return domain.parse_rate(self.rate_token, domain.RATE_PER_TOKEN)
