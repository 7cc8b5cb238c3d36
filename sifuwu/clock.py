"""An injectable clock: rules take ``now`` as an argument; entrypoints get it
from this dependency, which tests replace (worker_factory) or shift with
``SIFUWU_CLOCK_OFFSET_SECONDS`` (a whole running stack, e.g. to pass a
deadline in an end-to-end test)."""

import datetime as dt

from nameko.extensions import DependencyProvider

from sifuwu.events import utcnow
from sifuwu.settings import Settings


class Clock(DependencyProvider):
    def setup(self):
        offset = Settings.from_config(self.container.config).clock_offset_seconds
        self.offset = dt.timedelta(seconds=offset)

    def get_dependency(self, worker_ctx):
        return lambda: utcnow() + self.offset
