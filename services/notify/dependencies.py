"""The channel adapters as a nameko dependency: built once per container
from the service's settings, shared by every worker so each SMS provider's
circuit breaker sees all traffic."""

from nameko.extensions import DependencyProvider

from services.notify.delivery import Dispatcher
from services.notify.settings import NotifySettings


class Channels(DependencyProvider):
    def setup(self):
        self.dispatcher = Dispatcher(
            NotifySettings.from_config(self.container.config))

    def get_dependency(self, worker_ctx):
        return self.dispatcher
