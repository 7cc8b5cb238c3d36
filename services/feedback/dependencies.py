"""The rate-limit counters as a nameko dependency: one ``RateCounter`` per
service container (process), shared by every worker, so limiting a public
submission costs no store statement."""

from nameko.extensions import DependencyProvider

from services.feedback.domain import RateCounter


class RateLimits(DependencyProvider):
    def setup(self):
        self.counter = RateCounter()

    def get_dependency(self, worker_ctx):
        return self.counter
