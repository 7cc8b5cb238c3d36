"""Use cases of the ingest contract, each inside one unit of work whose
``uow.repo`` combines every sub-domain's repository
(``services.activity.repository.ActivityRepository``): record the receipt,
then apply the envelope with its sub-domain's step (``APPLY``)."""

from sifuwu.errors import DomainError, NotFound
from services.activity.activities import steps as activities
from services.activity.demands import steps as demands
from services.activity.directory import steps as directory
from services.activity.indicators import steps as indicators
from services.activity.ingest import domain

# ingest type -> the step that applies it: fn(uow, envelope, *, now, rules)
APPLY = {
    "directory.unit": directory.apply_unit,
    "directory.division": directory.apply_division,
    "directory.branch": directory.apply_branch,
    "directory.member": directory.apply_member,
    "directory.recipient": directory.apply_recipient,
    "activity.service": activities.apply_service_activity,
    "activity.party": activities.apply_party_activity,
    "demand.raised": demands.apply_demand_raised,
    "demand.updated": demands.apply_demand_updated,
    "kpi.business": indicators.apply_kpi,
}


def ingest(uow, envelope, *, via, now, rules, client_id=None):
    """Apply one validated ingest envelope, recording its receipt (with the
    API client that sent it) first.

    The receipt's unique key (source, event_id) makes a second delivery a
    ``Duplicate`` with no second effect, also when two deliveries race: the
    losing transaction aborts on the key and nothing it did is kept."""
    uow.repo.insert_receipt(domain.receipt(envelope, via, now, client_id))
    result = APPLY[envelope["type"]](uow, envelope, now=now, rules=rules)
    uow.repo.set_receipt_result(domain.receipt_id(envelope), result)
    return result


def get_receipt(repo, source, event_id):
    return repo.get_receipt(source, event_id)


def find_receipt(repo, source, event_id):
    """The receipt of (source, event_id), or 404."""
    found = repo.get_receipt(source, event_id)
    if found is None:
        raise NotFound(f"未找到来源系统 {source} 的事件 {event_id}",
                       code="receipt_not_found")
    return found


class ItemFailed(Exception):
    """Envelope ``position`` of a batch was refused (``error``) after it had
    written: the transaction must be aborted. What came before it and what
    comes after it are applied again without it, which is what applying
    them one by one would have done."""

    def __init__(self, position, error):
        self.position = position
        self.error = error
        super().__init__(f"item {position}: {error}")


def ingest_many(uow, envelopes, *, via, now, rules, client_ids=None):
    """Apply validated envelopes, in order, in one transaction, with the
    results, answers, documents and events of applying them one by one with
    ``ingest``, in a number of statements that hardly grows with the batch.

    Receipts are read with one ``$in`` and written, with their results, in
    one insert_many at the end; a repeat of an envelope (stored earlier or
    earlier in the batch) is a duplicate with the earlier result. Runs of
    consecutive bulk envelopes (``activities.in_bulk``) are prefetched and
    inserted together (``activities.apply_bulk``); the other kinds are
    applied one at a time between runs, so each envelope sees what those
    before it wrote.

    ``client_ids`` (one per envelope, or None) name the API clients that
    sent them, on their receipts.

    Returns one outcome per envelope: ("accepted", result), ("duplicate",
    earlier result) or ("rejected", DomainError) for a bulk envelope refused
    before anything of it was written. A refusal after writing raises
    ``ItemFailed``."""
    ids = [domain.receipt_id(envelope) for envelope in envelopes]
    senders = client_ids or [None] * len(envelopes)
    done = uow.repo.receipt_results(ids)
    outcomes = [None] * len(envelopes)
    receipts = []
    run, run_ids = [], set()

    def accept(position, result):
        done[ids[position]] = result
        receipts.append(dict(domain.receipt(envelopes[position], via, now,
                                            senders[position]),
                             result=result))
        outcomes[position] = ("accepted", result)

    def apply_run():
        if not run:
            return
        applied = activities.apply_bulk(uow, [envelopes[p] for p in run],
                                        now=now, rules=rules)
        for position, (status, value) in zip(run, applied):
            if status == "accepted":
                accept(position, value)
            else:
                outcomes[position] = (status, value)
        run.clear()
        run_ids.clear()

    for position, envelope in enumerate(envelopes):
        if ids[position] in run_ids:
            apply_run()  # a repeat: whether it is a duplicate depends on that
        if ids[position] in done:
            outcomes[position] = ("duplicate", done[ids[position]])
        elif activities.in_bulk(envelope):
            run.append(position)
            run_ids.add(ids[position])
        else:
            apply_run()
            uow.correlation_id = envelope.get("correlation_id")
            try:
                result = APPLY[envelope["type"]](uow, envelope, now=now,
                                                 rules=rules)
            except DomainError as exc:
                raise ItemFailed(position, exc) from exc
            accept(position, result)
    apply_run()
    if receipts:
        uow.repo.insert_receipts(receipts)
    return outcomes
