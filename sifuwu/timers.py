"""Timers whose interval is a setting (定时任务).

nameko's ``@timer(interval=...)`` takes its interval when the module is
imported; ``@setting_timer("sweep_interval")`` reads it from the service's
settings class when the container sets up, so configuration is never read at
import time.
"""

from nameko.timer import Timer


class SettingTimer(Timer):
    """nameko's timer with its interval read from a setting at setup."""

    def __init__(self, interval_setting, eager=False, **kwargs):
        self.interval_setting = interval_setting
        super().__init__(interval=None, eager=eager, **kwargs)

    def setup(self):
        settings = self.container.service_cls.settings_class.from_config(
            self.container.config)
        self.interval = getattr(settings, self.interval_setting)


setting_timer = SettingTimer.decorator
