"""Group commit (组提交): the concurrent writes of one process, one transaction.

On SecantusDB a statement costs nearly as much for ten documents as for
one (the wire, the server's lock, index bookkeeping per statement), and a
transaction adds its commit: ten requests written one by one cost about
four times what they cost written together. ``GroupCommit`` is a nameko
dependency shared by the workers of one container. Each worker hands its
item to ``submit``; one worker at a time leads: it takes the items waiting
at that moment (its own first), writes them with ``write_batch`` and hands
every caller its own outcome, then passes the lead to the next waiting
worker. There is no window and no timer: alone, a request is written at
once; under load, items pile up while a batch is being written, so the
batches grow by themselves exactly when that pays.

``write_batch(items)`` returns one outcome per item, in order: a result,
or an exception instance, which is raised to that item's caller only. If
``write_batch`` itself raises, every caller of that batch gets the error.
"""

import collections

from eventlet.event import Event
from nameko.extensions import DependencyProvider


class _Slot:
    __slots__ = ("item", "event", "outcome")

    def __init__(self, item):
        self.item = item
        self.event = Event()  # sent once: the outcome is in, or lead now
        self.outcome = None


class Combiner:
    """The waiting items of one process and who leads (see module doc)."""

    def __init__(self, max_batch=25):
        self.max_batch = max_batch
        self._waiting = collections.deque()
        self._leader = None

    def submit(self, item, write_batch):
        slot = _Slot(item)
        self._waiting.append(slot)
        if self._leader is None:
            self._leader = slot
        else:
            try:
                slot.event.wait()
            except BaseException:  # killed while waiting: leave the queue
                self._abandon(slot)
                raise
        if self._leader is slot:
            self._write(slot, write_batch)
        if isinstance(slot.outcome, BaseException):
            raise slot.outcome
        return slot.outcome

    def _write(self, slot, write_batch):
        batch = []
        while self._waiting and len(batch) < self.max_batch:
            batch.append(self._waiting.popleft())
        try:
            outcomes = write_batch([each.item for each in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError(f"write_batch gave {len(outcomes)} "
                                   f"outcomes for {len(batch)} items")
        except BaseException as exc:  # noqa: BLE001 - every caller gets it
            # (even the leader being killed: the others must not hang)
            outcomes = [exc] * len(batch)
        for each, outcome in zip(batch, outcomes):
            each.outcome = outcome
            if each is not slot:
                each.event.send()
        self._pass_lead()

    def _pass_lead(self):
        """To the first caller still waiting, woken to write its batch."""
        self._leader = self._waiting[0] if self._waiting else None
        if self._leader is not None:
            self._leader.event.send()

    def _abandon(self, slot):
        if slot in self._waiting:
            self._waiting.remove(slot)
        if self._leader is slot:
            self._pass_lead()


class GroupCommit(DependencyProvider):
    """A ``Combiner`` per service container, shared by its workers."""

    def __init__(self, max_batch=25, **kwargs):
        self.max_batch = max_batch
        super().__init__(**kwargs)

    def setup(self):
        self.combiner = Combiner(self.max_batch)

    def get_dependency(self, worker_ctx):
        return self.combiner
