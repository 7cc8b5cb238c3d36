"""An in-memory unit of work (cosmicpython's fakes): a step and its rules are
tested without the store. It stands in for ``sifuwu.store.UnitOfWork`` only in
unit tests; integration and end-to-end tests use the real broker and store.

A step talks to ``uow.repo`` (the service's repository interface, here a fake
built by the test) and ``uow.emit``; ``InMemoryUnitOfWork.run(step)`` runs it
as a transaction would: the events emitted are kept only if it returns, and
``committed`` says whether it did.
"""

from sifuwu import events as ev


class InMemoryUnitOfWork:
    def __init__(self, repo=None, service_name="test", correlation_id=None):
        self.repo = repo
        self.service_name = service_name
        self.correlation_id = correlation_id
        self.session = None
        self.emitted = []
        self.committed = False

    def emit(self, event_type, data, *, correlation_id=None, event_id=None):
        envelope = ev.make_event(
            event_type, data, source=self.service_name,
            correlation_id=correlation_id or self.correlation_id,
            event_id=event_id)
        self.emitted.append(envelope)
        return envelope

    def run(self, step, *args, **kwargs):
        """``step(self, ...)`` as one transaction: all or nothing."""
        emitted = list(self.emitted)
        try:
            result = step(self, *args, **kwargs)
        except Exception:
            self.emitted = emitted
            raise
        self.committed = True
        return result

    def types(self):
        """The types of the events emitted, in order."""
        return [envelope["type"] for envelope in self.emitted]
