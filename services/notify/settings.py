"""The notify service's settings (通知服务配置): its channels, retries and
quiet hours, read like every setting (nameko's config, then the
environment, then the default written here once). A channel left empty is
not attempted: each delivery to it is recorded as a skip."""

import dataclasses

from sifuwu.settings import Settings, setting
from services.notify import domain


@dataclasses.dataclass(frozen=True)
class NotifySettings(Settings):
    sms_providers: str = setting(
        "SIFUWU_SMS_PROVIDERS", "",
        "短信通道 name=url,name=url（按故障转移顺序）；留空：投递日志即网关（嵌入式）")
    sms_breaker_threshold: int = setting(
        "SIFUWU_SMS_BREAKER_THRESHOLD", 3, "短信通道连续失败几次后熔断")
    sms_breaker_cooldown: float = setting(
        "SIFUWU_SMS_BREAKER_COOLDOWN", 60.0, "熔断后多久试探恢复（秒）")
    smtp_host: str = setting(
        "SIFUWU_SMTP_HOST", "", "SMTP 服务器；留空：不发邮件")
    smtp_port: int = setting("SIFUWU_SMTP_PORT", 25, "SMTP 端口")
    smtp_from: str = setting(
        "SIFUWU_SMTP_FROM", "notify@sifuwu.local", "邮件发件人")
    wechat_url: str = setting(
        "SIFUWU_WECHAT_URL", "", "微信模板消息接口；留空：不发微信")
    web_board_url: str = setting(
        "SIFUWU_WEB_BOARD_URL", "",
        "公开栏目另行推送的地址（总在 GET /api/v1/board-items 提供）；可留空")
    web_board_token: str = setting(
        "SIFUWU_WEB_BOARD_TOKEN", "", "推送公开栏目时的 Bearer 令牌")
    press_dir: str = setting(
        "SIFUWU_PRESS_DIR", "", "报刊稿件（DOCX）存放目录；留空：不出稿")
    quiet_hours: str = setting(
        "SIFUWU_QUIET_HOURS", "22-8",
        "短信免打扰时段（业务时区的小时，如 22-8），off 为关闭")
    retry_base: float = setting(
        "SIFUWU_NOTIFY_RETRY_BASE", float(domain.RETRY_BASE_SECONDS),
        "首次重试的等待（秒），此后每次加倍")
    retry_cap: float = setting(
        "SIFUWU_NOTIFY_RETRY_CAP", float(domain.RETRY_CAP_SECONDS),
        "重试等待的上限（秒）")
    max_attempts: int = setting(
        "SIFUWU_NOTIFY_MAX_ATTEMPTS", domain.MAX_ATTEMPTS,
        "一条消息最多尝试几次，之后判为永久失败")
