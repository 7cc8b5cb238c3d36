"""Settings of the assessment service (考评服务).

Besides the base settings (the timezone of periods, the staff tokens, the
body limit, the secret and the calendar of open selection) it reads the
public address of the judges' pages; a field it needs goes here,
``setting("SIFUWU_ASSESSMENT_…", default, "zh-CN doc")``.
"""

import dataclasses

from sifuwu.settings import Settings, setting


@dataclasses.dataclass(frozen=True)
class AssessmentSettings(Settings):
    """The assessment service's settings."""

    base_url: str = setting(
        "SIFUWU_ASSESSMENT_BASE_URL", "http://localhost:8002",
        "考评服务对外地址（评委评分链接 /s/<凭证> 的前缀；不取请求的 Host 头）")

    @property
    def judge_base_url(self):
        """``base_url`` without a trailing slash."""
        return self.base_url.rstrip("/")
