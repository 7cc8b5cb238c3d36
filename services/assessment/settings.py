"""Settings of the assessment service (考评服务).

It reads nothing beyond the base settings today (the timezone of periods,
the staff tokens, the body limit, the secret and the calendar of open
selection); a field it needs goes here, ``setting("SIFUWU_ASSESSMENT_…",
default, "zh-CN doc")``.
"""

import dataclasses

from sifuwu.settings import Settings


@dataclasses.dataclass(frozen=True)
class AssessmentSettings(Settings):
    """The assessment service's settings."""
