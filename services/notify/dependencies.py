"""The channel adapters as a nameko dependency: built once per container
from config (environment as fallback), shared by every worker so each SMS
provider's circuit breaker sees all traffic."""

import os

from nameko.extensions import DependencyProvider

from services.notify.channels import NotifyConfig
from services.notify.delivery import Dispatcher


def notify_config(config):
    return NotifyConfig.from_lookup(
        lambda key, default: config.get(key, os.environ.get(key, default)))


class Channels(DependencyProvider):
    def setup(self):
        self.dispatcher = Dispatcher(notify_config(self.container.config))

    def get_dependency(self, worker_ctx):
        return self.dispatcher
