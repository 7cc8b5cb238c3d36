"""The assessment consumers with nameko's worker_factory: idempotent
transactions keyed on the event id, invalid data dead-lettered."""

import datetime as dt
from unittest import mock

from nameko.testing.services import worker_factory

from services.assessment.service import AssessmentService
from sifuwu import events as ev

NOW = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.timezone.utc)


def service():
    return worker_factory(AssessmentService, config={},
                          clock=lambda: NOW)


def test_each_consumer_runs_one_transaction_keyed_on_the_event_id():
    worker = service()
    envelope = ev.make_event(ev.APPEAL_DECIDED, {
        "rating_id": "r1", "upheld": True}, source="feedback",
        correlation_id="k1")
    worker.on_appeal_decided(envelope)
    (fn,), kwargs = worker.store.transaction.call_args
    assert kwargs["consumed"]["event_id"] == envelope["event_id"]
    assert kwargs["correlation_id"] == "k1"
    assert callable(fn)
    worker.dead_letters.assert_not_called()


def test_high_volume_consumers_apply_batches_keyed_on_event_ids():
    worker = service()
    kpis = [ev.make_event(ev.KPI_RECORDED, {
        "subject_type": "unit", "subject_id": "u1", "period": "2026-11",
        "indicator": "investment_signed", "value": 3.5 + i},
        source="activity") for i in range(3)]
    uow = mock.Mock()
    with mock.patch("services.assessment.scoring.steps.apply_kpis",
                    return_value=None) as apply, \
            mock.patch("services.assessment.scoring.steps.apply_changes"):
        worker.on_kpi_recorded(kpis)
        (fn, batch), _ = worker.store.transaction_batch.call_args
        assert [e["event_id"] for e in batch] == [
            e["event_id"] for e in kpis]
        fn(uow, kpis[1:])
    loaded = apply.call_args.args[1]
    assert [e["data"]["value"] for e in loaded] == [4.5, 5.5]
    for name, event_type, data in [
            ("on_demand_raised", ev.DEMAND_RAISED, {
                "demand_id": "d1", "status": "raised",
                "raised_at": "2026-10-31T17:30:00+00:00"}),
            ("on_demand_status_changed", ev.DEMAND_STATUS_CHANGED, {
                "demand_id": "d1", "status": "resolved",
                "raised_at": "2026-10-31T17:30:00+00:00"}),
            ("on_directory_changed", ev.DIRECTORY_CHANGED, {
                "kind": "member", "id": "m1", "record": {"unit_id": "u1"}}),
            ("on_feedback_submitted", ev.FEEDBACK_SUBMITTED, {
                "rating_id": "r1", "rating": 5,
                "submitted_at": "2026-10-31T17:30:00+00:00"})]:
        envelope = ev.make_event(event_type, data, source="activity")
        getattr(worker, name)([envelope])
        (_, batch), _ = worker.store.transaction_batch.call_args
        assert [e["event_id"] for e in batch] == [envelope["event_id"]]
    worker.dead_letters.assert_not_called()


def test_activities_are_applied_in_batches_keyed_on_event_ids():
    worker = service()
    envelopes = [ev.make_event(ev.ACTIVITY_LOGGED, {
        "activity_id": f"a{i}", "member_id": "m1", "unit_id": "u1",
        "branch_id": "b1", "occurred_at": "2026-11-20T10:00:00+08:00"},
        source="activity") for i in range(3)]
    worker.on_activity_logged(envelopes)
    (fn, batch), _ = worker.store.transaction_batch.call_args
    assert [e["event_id"] for e in batch] == [e["event_id"] for e in envelopes]
    assert callable(fn)
    worker.dead_letters.assert_not_called()


def test_invalid_event_data_is_dead_lettered_not_applied():
    worker = service()
    envelope = ev.make_event(ev.FEEDBACK_SUBMITTED, {
        "rating_id": "r1", "rating": 9,
        "submitted_at": "2026-11-20T10:00:00+08:00"}, source="feedback")
    valid = ev.make_event(ev.FEEDBACK_SUBMITTED, {
        "rating_id": "r2", "rating": 4,
        "submitted_at": "2026-11-20T10:00:00+08:00"}, source="feedback")
    worker.on_feedback_submitted([valid, envelope])
    # the batch fails, is replayed one event at a time: only the invalid
    # event is dead-lettered, the valid one applied alone
    [(_, batch)] = [c.args for c in
                       worker.store.transaction_batch.call_args_list]
    assert [e["event_id"] for e in batch] == [valid["event_id"]]
    worker.dead_letters.assert_called_once()
    payload, reason = worker.dead_letters.call_args[0]
    assert payload["event_id"] == envelope["event_id"]
    assert "rating" in reason and "less than or equal to 5" in reason


def test_party_activity_month_is_local_time():
    worker = service()
    envelope = ev.make_event(ev.PARTY_ACTIVITY_LOGGED, {
        "activity_id": "p1", "kind": "theme_day", "branch_id": "b1",
        "unit_id": "u1", "occurred_at": "2026-10-31T17:30:00+00:00",
        "attendees": ["m1"], "expected": ["m1", "m2"]}, source="activity")
    uow = mock.Mock()
    with mock.patch("services.assessment.scoring.steps.add_party_activities",
                    return_value=None) as add, \
            mock.patch("services.assessment.scoring.steps.apply_changes"):
        worker.on_party_activity_logged([envelope])
        (apply, _), _ = worker.store.transaction_batch.call_args
        apply(uow, [envelope])
    [(_, month)] = add.call_args.args[1]
    assert month == "2026-11"  # 01:30 on 1 Nov, Beijing
