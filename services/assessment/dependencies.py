"""Start-up work of the assessment service."""

import logging

import eventlet
from nameko.extensions import DependencyProvider

from sifuwu import events as ev
from sifuwu.store import Store
from services.assessment.scoring.repository import ScoringRepository
from services.assessment.scoring.steps import ensure_default_scheme
from services.assessment.storage import Reader

log = logging.getLogger(__name__)


class DefaultScheme(DependencyProvider):
    """Stores the default scheme (version 1) at start-up if there is none.
    Scoring also creates it lazily, so a store that is down at start-up
    only delays this."""

    def start(self):
        self.container.spawn_managed_thread(self._ensure)

    def _ensure(self):
        store = next((d for d in self.container.dependencies
                      if isinstance(d, Store)), None)
        if store is None:
            return
        # Wait until the store has created its indexes: SecantusDB can
        # deadlock when an insert races createIndexes on a fresh database.
        store.wait_ready()
        for _ in range(30):
            try:
                if ensure_default_scheme(
                        Reader(store.db, ScoringRepository).repo,
                        ev.utcnow()):
                    log.info("default assessment scheme stored as version 1")
                return
            except Exception as exc:  # noqa: BLE001 - retried
                log.warning("default scheme not stored yet (%s)",
                            type(exc).__name__)
                eventlet.sleep(1)

    def get_dependency(self, worker_ctx):
        return None
