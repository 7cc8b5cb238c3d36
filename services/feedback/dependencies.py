"""The rate-limit counters as a nameko dependency: a ``StoreRateCounter`` on
the feedback database's ``rate_limits`` collection, one per service
container (process) and shared by its workers. Every replica counts in the
same documents, so all of them together spend one budget per client."""

from nameko.extensions import DependencyProvider
from pymongo import MongoClient

from sifuwu.store import database_name
from services.feedback.rates import StoreRateCounter
from services.feedback.repository import RATE_LIMITS
from services.feedback.settings import FeedbackSettings


class RateLimits(DependencyProvider):
    """Its own pymongo client (``MONGO_URI``, ``SIFUWU_DB_PREFIX``) with the
    store's timeouts (``SIFUWU_STORE_TIMEOUT_MS``): an unreachable store
    fails a check after that long (the counter then lets the request
    through). No socket timeout: on a busy store it would close and reopen
    connections, adding load where there is already too much."""

    def setup(self):
        settings = FeedbackSettings.from_config(self.container.config)
        timeout = settings.store_timeout_ms
        self.client = MongoClient(
            settings.mongo_uri, tz_aware=True,
            serverSelectionTimeoutMS=timeout, connectTimeoutMS=timeout)
        db = self.client[database_name(settings, self.container.service_name)]
        self.counter = StoreRateCounter(db[RATE_LIMITS])

    def stop(self):
        self.client.close()

    def kill(self):
        self.client.close()

    def get_dependency(self, worker_ctx):
        return self.counter
