"""The console's settings (工作台配置): where the other services' APIs are,
and how long a session lives."""

import dataclasses

from sifuwu.settings import Settings, setting


@dataclasses.dataclass(frozen=True)
class ConsoleSettings(Settings):
    activity_url: str = setting(
        "SIFUWU_CONSOLE_ACTIVITY_URL", "http://localhost:8001",
        "工作台访问活动服务接口的地址（集群内部）")
    assessment_url: str = setting(
        "SIFUWU_CONSOLE_ASSESSMENT_URL", "http://localhost:8002",
        "工作台访问考评服务接口的地址（集群内部）")
    feedback_url: str = setting(
        "SIFUWU_CONSOLE_FEEDBACK_URL", "http://localhost:8003",
        "工作台访问评价服务接口的地址（集群内部）")
    notify_url: str = setting(
        "SIFUWU_CONSOLE_NOTIFY_URL", "http://localhost:8004",
        "工作台访问通知服务接口的地址（集群内部）")
    idle_seconds: int = setting(
        "SIFUWU_CONSOLE_IDLE_SECONDS", 1800,
        "工作台无操作多久后退出登录（秒）")
    cookie_secure: bool = setting(
        "SIFUWU_CONSOLE_COOKIE_SECURE", False,
        "会话 Cookie 只经 HTTPS 发送（生产必须开启）")

    def production_problems(self):
        problems = super().production_problems()
        if not self.cookie_secure:
            problems.append("SIFUWU_CONSOLE_COOKIE_SECURE 须为 true："
                            "工作台会话 Cookie 只能经 HTTPS 发送")
        return problems

    def upstream(self):
        """{service: base URL} of the APIs the console calls."""
        return {"activity": self.activity_url.rstrip("/"),
                "assessment": self.assessment_url.rstrip("/"),
                "feedback": self.feedback_url.rstrip("/"),
                "notify": self.notify_url.rstrip("/"),
                "identity": self.identity_url.rstrip("/")}
