"""``sifuwu.group.Combiner``: concurrent callers share one batch write, each
gets its own outcome, and the lead always passes on."""

import eventlet
import pytest

from sifuwu.group import Combiner


class Writes:
    """A ``write_batch`` that records its batches and takes a while, so
    that callers arriving meanwhile pile up; ``fail`` items get their own
    error, ``boom`` fails the whole batch."""

    def __init__(self, pause=0.2):
        self.pause = pause
        self.batches = []

    def __call__(self, items):
        self.batches.append(list(items))
        eventlet.sleep(self.pause)
        if "boom" in items:
            raise RuntimeError("store away")
        return [ValueError(item) if item.startswith("fail") else item.upper()
                for item in items]


def run_all(combiner, write, items, stagger=0.001):
    """Submit ``items`` from one green thread each; {item: result or
    exception}."""
    outcomes = {}

    def submit(item):
        try:
            outcomes[item] = combiner.submit(item, write)
        except Exception as exc:  # noqa: BLE001 - recorded for the test
            outcomes[item] = exc

    threads = []
    for item in items:
        threads.append(eventlet.spawn(submit, item))
        eventlet.sleep(stagger)
    for thread in threads:
        thread.wait()
    return outcomes


def test_alone_a_call_is_written_at_once():
    write = Writes(pause=0)
    assert Combiner().submit("a", write) == "A"
    assert write.batches == [["a"]]


def test_callers_arriving_during_a_write_share_the_next_batch():
    write = Writes()
    items = [f"r{i}" for i in range(12)]
    outcomes = run_all(Combiner(), write, items)
    assert outcomes == {item: item.upper() for item in items}
    assert write.batches[0] == ["r0"]
    assert len(write.batches) < len(items) / 2
    assert sorted(i for batch in write.batches for i in batch) == sorted(items)


def test_batches_are_capped():
    write = Writes()
    outcomes = run_all(Combiner(max_batch=3), write,
                       [f"r{i}" for i in range(10)])
    assert len(outcomes) == 10
    assert max(len(batch) for batch in write.batches) == 3


def test_an_item_error_reaches_its_caller_only():
    write = Writes()
    outcomes = run_all(Combiner(), write, ["a", "fail-b", "c", "d"])
    assert isinstance(outcomes["fail-b"], ValueError)
    assert [outcomes[i] for i in ("a", "c", "d")] == ["A", "C", "D"]
    assert len(write.batches) == 2


def test_a_failed_batch_fails_its_callers_and_the_next_batch_runs():
    write = Writes()
    outcomes = run_all(Combiner(), write, ["a", "boom", "c", "d"],
                       stagger=0.0)
    assert [b for b in write.batches if "boom" in b] == [["boom", "c", "d"]]
    assert outcomes["a"] == "A"
    assert all(isinstance(outcomes[i], RuntimeError)
               for i in ("boom", "c", "d"))
    # the lead was passed back: a later call is written
    assert Combiner().submit("e", write) == "E"


def test_a_wrong_number_of_outcomes_is_an_error_for_all():
    with pytest.raises(RuntimeError, match="outcomes"):
        Combiner().submit("a", lambda items: [])


def test_a_caller_killed_while_waiting_does_not_stall_the_others():
    combiner, write = Combiner(), Writes(pause=0.05)
    first = eventlet.spawn(combiner.submit, "a", write)
    eventlet.sleep(0.01)  # "a" leads and writes
    doomed = eventlet.spawn(combiner.submit, "b", write)
    later = eventlet.spawn(combiner.submit, "c", write)
    eventlet.sleep(0.01)
    doomed.kill()  # was next in line to lead
    assert first.wait() == "A"
    assert eventlet.with_timeout(2, later.wait) == "C"
    assert ["b"] not in write.batches and ["c"] in write.batches
