"""Who may write what through the ingest contract: a record belongs to the
source system that created it (no other source may change it), a table of
which source may send which event types, and how far into the future an
``occurred_at`` may lie. Rules as plain functions, steps against the
in-memory unit of work, and the entrypoint's loading with worker_factory."""

import datetime as dt
from types import SimpleNamespace

import pytest
from marshmallow import ValidationError
from nameko.testing.services import worker_factory

from sifuwu import events as ev
from sifuwu.errors import Forbidden
from services.activity import ownership
from services.activity.demands import domain as demand_domain
from services.activity.demands import steps as demand_steps
from services.activity.directory import steps as directory_steps
from services.activity.examples import example_envelope
from services.activity.indicators import steps as indicator_steps
from services.activity.ingest import domain
from services.activity.ingest.consumer import IngestConsumer
from services.activity.service import ActivityService
from services.activity.settings import ActivitySettings
from tests.fakes.activity import FakeIngestRepository
from tests.fakes.uow import InMemoryUnitOfWork

RULES = ActivitySettings.load({"SIFUWU_SECRET": "s"}, {}).rules()
NOW = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.timezone.utc)
FUTURE = dt.datetime(2099, 1, 1, tzinfo=dt.timezone.utc)
OWNER = "partymembers"
HOTLINE = "hotline12345"
ATTACKER = "demo"


def envelope(event_type, data, source, event_id, occurred_at=NOW):
    return {"event_id": event_id, "type": event_type, "source": source,
            "occurred_at": occurred_at, "data": data}


def uow_with():
    return InMemoryUnitOfWork(repo=FakeIngestRepository(),
                              service_name="activity")


# -- the rules ------------------------------------------------------------------


def test_a_record_belongs_to_the_source_that_created_it():
    ownership.check_owner(None, ATTACKER, "党员")             # new: anyone
    ownership.check_owner({"source": OWNER}, OWNER, "党员")   # its owner
    ownership.check_owner({"_id": "m1"}, ATTACKER, "党员")    # no owner yet
    with pytest.raises(Forbidden) as err:
        ownership.check_owner({"_id": "m1", "source": OWNER}, ATTACKER,
                              "党员 m1")
    assert err.value.code == "not_owner"
    assert err.value.status == 403
    assert OWNER in err.value.message and ATTACKER in err.value.message
    assert "党员 m1" in err.value.message


def test_without_a_table_every_source_may_send_every_type():
    assert domain.parse_source_types("") is None
    for event_type in ev.INGEST_TYPES:
        domain.check_may_send(ATTACKER, event_type, None)


def test_the_table_names_the_types_each_source_may_send():
    table = domain.parse_source_types(
        " hotline12345=demand.raised|demand.updated|kpi.business ,"
        "partymembers=directory.member|directory.unit, demo=* ")
    assert table == {
        HOTLINE: frozenset({"demand.raised", "demand.updated",
                            "kpi.business"}),
        OWNER: frozenset({"directory.member", "directory.unit"}),
        ATTACKER: frozenset(ev.INGEST_TYPES)}
    domain.check_may_send(HOTLINE, "demand.updated", table)
    domain.check_may_send(ATTACKER, "directory.member", table)
    with pytest.raises(Forbidden) as err:
        domain.check_may_send(OWNER, "kpi.business", table)
    assert err.value.code == "type_not_allowed"
    assert "kpi.business" in err.value.message and OWNER in err.value.message
    # a source the table does not name may send nothing
    with pytest.raises(Forbidden):
        domain.check_may_send("stranger", "kpi.business", table)


@pytest.mark.parametrize("spec", ["hotline12345=kpi.nonsense",
                                  "hotline12345", "=kpi.business"])
def test_a_table_naming_no_known_type_is_refused(spec):
    with pytest.raises(ValueError) as err:
        domain.parse_source_types(spec)
    assert "SIFUWU_INGEST_SOURCE_TYPES" in str(err.value)


def test_occurred_at_may_lie_a_little_in_the_future_not_more():
    skew = 600
    domain.check_not_future(NOW - dt.timedelta(days=400), NOW, skew)
    domain.check_not_future(NOW + dt.timedelta(seconds=600), NOW, skew)
    with pytest.raises(ValidationError) as err:
        domain.check_not_future(NOW + dt.timedelta(seconds=601), NOW, skew)
    [message] = err.value.messages["occurred_at"]
    assert "600" in message
    with pytest.raises(ValidationError):
        domain.check_not_future(FUTURE, NOW, skew)


# -- the steps ------------------------------------------------------------------


def member_event(source, event_id, phone, occurred_at=NOW):
    return envelope("directory.member", {
        "member_id": "m1", "name": "李明", "unit_id": "u1",
        "phone": phone, "roles": ["member"]}, source, event_id, occurred_at)


def test_another_source_cannot_rewrite_a_member():
    uow = uow_with()
    uow.run(directory_steps.apply_member,
            member_event(OWNER, "e1", "13800000001"), now=NOW, rules=RULES)
    before = uow.repo.get_record("member", "m1")
    assert before["source"] == OWNER
    uow.emitted.clear()
    with pytest.raises(Forbidden) as err:
        uow.run(directory_steps.apply_member,
                member_event(ATTACKER, "e2", "13666666666",
                             occurred_at=FUTURE),
                now=NOW, rules=RULES)
    assert err.value.code == "not_owner"
    assert uow.repo.get_record("member", "m1") == before
    assert uow.emitted == []
    # the owner's correction is applied
    result = uow.run(directory_steps.apply_member,
                     member_event(OWNER, "e3", "13800000009",
                                  occurred_at=NOW + dt.timedelta(hours=1)),
                     now=NOW, rules=RULES)
    assert result["applied"] is True
    assert uow.repo.get_record("member", "m1")["phone_masked"] \
        == "138****0009"
    assert uow.types() == [ev.DIRECTORY_CHANGED]


@pytest.mark.parametrize("apply,event_type,data", [
    (directory_steps.apply_unit, "directory.unit",
     {"unit_id": "u1", "name": "市发改委"}),
    (directory_steps.apply_division, "directory.division",
     {"division_id": "d1", "unit_id": "u1", "name": "投资处"}),
    (directory_steps.apply_branch, "directory.branch",
     {"branch_id": "b1", "unit_id": "u1", "name": "第一党支部"}),
    (directory_steps.apply_recipient, "directory.recipient",
     {"recipient_id": "r1", "type": "enterprise", "name": "滨江智造"}),
])
def test_every_directory_kind_keeps_its_owner(apply, event_type, data):
    uow = uow_with()
    uow.run(apply, envelope(event_type, dict(data), OWNER, "e1"), now=NOW,
            rules=RULES)
    with pytest.raises(Forbidden) as err:
        uow.run(apply, envelope(event_type, dict(data, name="改名"), ATTACKER,
                                "e2"), now=NOW, rules=RULES)
    assert err.value.code == "not_owner"
    [stored] = uow.repo.records.values()
    assert stored["name"] == data["name"] and stored["source"] == OWNER


def kpi_event(source, event_id, value, occurred_at=NOW):
    return envelope("kpi.business", {
        "subject_type": "unit", "subject_id": "u1", "period": "2026-11",
        "indicator": "projects_approved", "value": value,
        "unit_of_measure": "个"}, source, event_id, occurred_at)


def test_another_source_cannot_overwrite_a_kpi():
    uow = uow_with()
    uow.run(indicator_steps.apply_kpi, kpi_event(HOTLINE, "k1", 12))
    uow.emitted.clear()
    with pytest.raises(Forbidden) as err:
        uow.run(indicator_steps.apply_kpi,
                kpi_event(ATTACKER, "k2", 0, occurred_at=FUTURE))
    assert err.value.code == "not_owner"
    [kpi] = uow.repo.kpis.values()
    assert kpi["value"] == 12 and kpi["source"] == HOTLINE
    assert uow.emitted == []
    result = uow.run(indicator_steps.apply_kpi, kpi_event(
        HOTLINE, "k3", 13, occurred_at=NOW + dt.timedelta(hours=1)))
    assert result["applied"] is True
    assert uow.repo.kpis[result["kpi_id"]]["value"] == 13


def raise_demand(uow):
    return uow.run(demand_steps.apply_demand_raised, envelope(
        "demand.raised", {
            "demand_id": "d1", "category": "masses", "title": "路灯损坏",
            "owner_unit_id": "u1",
            "raiser": {"name": "王芳", "phone": "13700000003"},
            "raised_at": NOW, "channel": "12345"}, HOTLINE, "r1"),
        now=NOW, rules=RULES)


def update(source, event_id, action, occurred_at=NOW):
    return envelope("demand.updated", {"demand_id": "d1", "action": action},
                    source, event_id, occurred_at)


def test_only_the_demands_source_may_move_it():
    uow = uow_with()
    raise_demand(uow)
    uow.emitted.clear()
    for action in ("respond", "resolve"):
        with pytest.raises(Forbidden) as err:
            uow.run(demand_steps.apply_demand_updated,
                    update(ATTACKER, f"x-{action}", action,
                           occurred_at=FUTURE), now=NOW, rules=RULES)
        assert err.value.code == "not_owner"
    assert uow.repo.demands["d1"]["status"] == demand_domain.RECEIVED
    assert uow.emitted == []
    answer = uow.run(demand_steps.apply_demand_updated,
                     update(HOTLINE, "u1", "respond"), now=NOW, rules=RULES)
    assert answer["status"] == demand_domain.RESPONDED


def test_an_early_update_from_another_source_is_refused_on_arrival():
    uow = uow_with()
    answer = uow.run(demand_steps.apply_demand_updated,
                     update(ATTACKER, "x1", "respond"), now=NOW, rules=RULES)
    assert answer["status"] == "pending"
    result = raise_demand(uow)
    assert result["status"] == demand_domain.RECEIVED
    kept = uow.repo.pending[f"{ATTACKER}:x1"]
    assert kept["demand_id"] == "refused:d1"
    assert kept["refused"].startswith("not_owner: ")
    assert uow.types() == [ev.DEMAND_RAISED]


def test_staff_still_act_on_any_demand():
    uow = uow_with()
    raise_demand(uow)
    demand = uow.run(demand_steps.act_on_demand, "d1", "respond",
                     by="staff", at=NOW, rules=RULES)
    assert demand["status"] == demand_domain.RESPONDED


# -- the entrypoint: loading an envelope ----------------------------------------


def worker(**settings):
    config = {"SIFUWU_SECRET": "s", "SIFUWU_INGEST_TOKENS": "demo=d"}
    config.update(settings)
    return worker_factory(ActivityService, clock=lambda: NOW, config=config)


def future_envelope(seconds):
    envelope = example_envelope("kpi.business", source=ATTACKER)
    envelope["occurred_at"] = (NOW + dt.timedelta(seconds=seconds)) \
        .isoformat()
    return envelope


def test_an_envelope_from_2099_is_a_field_error_before_the_store():
    w = worker()
    with pytest.raises(ValidationError) as err:
        w._ingest(future_envelope(86400 * 365 * 70), ATTACKER, "http")
    assert list(err.value.messages) == ["occurred_at"]
    [refused] = w.ingest_messages([(future_envelope(601), ATTACKER)])
    assert isinstance(refused, ValidationError)
    w.store.transaction.assert_not_called()
    w.store.transaction_batch.assert_not_called()


def test_the_skew_is_a_setting():
    w = worker(SIFUWU_INGEST_MAX_FUTURE_SECONDS=3600)
    assert ActivitySettings.load({}, {}).ingest_max_future_seconds == 600
    envelope = w._load(future_envelope(3000), ATTACKER, NOW)
    assert envelope["source"] == ATTACKER
    with pytest.raises(ValidationError):
        w._load(future_envelope(3601), ATTACKER, NOW)


def test_a_type_the_table_does_not_allow_is_refused_before_the_store():
    w = worker(SIFUWU_INGEST_SOURCE_TYPES="demo=directory.member")
    [refused] = w.ingest_messages([(future_envelope(0), ATTACKER)])
    assert isinstance(refused, Forbidden)
    assert refused.code == "type_not_allowed"
    with pytest.raises(Forbidden):
        w._ingest(future_envelope(0), ATTACKER, "http")
    w.store.transaction.assert_not_called()


def test_a_bad_table_stops_the_service_from_starting():
    consumer = IngestConsumer()
    consumer.container = SimpleNamespace(config={
        "SIFUWU_INGEST_SOURCE_TYPES": "demo=kpi.nonsense"})
    with pytest.raises(ValueError) as err:
        consumer.setup()
    assert "kpi.nonsense" in str(err.value)
