"""The demand steps (诉求) against an in-memory unit of work and a
dict-backed repository: raising a demand with deadlines over the 2026
National Day week, the moves the status table allows and refuses, transfer,
escalation level by level, and updates that arrive before their demand."""

import datetime as dt
import itertools
import json

import pytest

from sifuwu import events as ev
from sifuwu.errors import Conflict, DomainError
from sifuwu.privacy import contact_hash
from services.activity.demands import domain, steps
from services.activity.settings import ActivitySettings
from tests.fakes.activity import FakeDemandRepository
from tests.fakes.uow import InMemoryUnitOfWork

RULES = ActivitySettings.load({"SIFUWU_SECRET": "s"}, {}).rules()
RAISED_AT = "2026-09-30T10:00:00+08:00"


def at(text):
    return dt.datetime.fromisoformat(text)


def uow_with(repo=None):
    return InMemoryUnitOfWork(
        repo=repo or FakeDemandRepository(
            members={"m1": {"_id": "m1", "branch_id": "b1"}},
            units={"u1": {"_id": "u1", "leader_member_id": "m-lead"}}),
        service_name="activity")


def demand_data(demand_id="d1", raised_at=RAISED_AT, category="masses"):
    return {"demand_id": demand_id, "category": category,
            "title": "小区门口路灯损坏", "owner_unit_id": "u1",
            "member_id": "m1", "raiser": {"name": "王芳",
                                          "phone": "13700000003"},
            "raised_at": at(raised_at), "channel": "12345"}


def raised(uow, **kwargs):
    return uow.run(steps.raise_demand, demand_data(**kwargs),
                   source="hotline12345", now=at("2026-09-30T10:05:00+08:00"),
                   rules=RULES)


# -- raising -------------------------------------------------------------------


def test_a_demand_raised_before_national_day_is_due_after_it():
    uow = uow_with()
    demand = raised(uow)
    # 1 working day to respond: 1-7 October is the holiday, so 8 October
    assert demand["deadlines"]["respond_by"] == at("2026-10-08T23:59:59+08:00")
    # 7 days to resolve end on 7 October, a holiday: moved to 8 October
    assert demand["deadlines"]["resolve_by"] == at("2026-10-08T23:59:59+08:00")
    assert demand["calendar_note"] is None
    stored = uow.repo.demands["d1"]
    assert stored["status"] == domain.RECEIVED
    assert stored["branch_id"] == "b1"          # from the member
    assert stored["next_escalation_at"] == at("2026-10-08T23:59:59+08:00")
    assert stored["raiser_masked"]["phone"] != "13700000003"
    assert "13700000003" not in json.dumps(stored, default=str)
    assert uow.repo.arrivals == {"demand:d1": 1}
    assert uow.types() == [ev.DEMAND_RAISED]
    data = uow.emitted[0]["data"]
    assert data["deadlines"]["respond_by"] == "2026-10-08T23:59:59+08:00"
    assert "raiser" not in data


def test_project_demands_take_longer_to_resolve():
    demand = raised(uow_with(), category="project")
    assert demand["deadlines"]["resolve_by"] == at("2026-10-15T23:59:59+08:00")


def test_a_demand_id_is_received_once():
    uow = uow_with()
    raised(uow)
    with pytest.raises(Conflict) as err:
        raised(uow)
    assert err.value.code == "demand_exists"
    assert uow.types() == [ev.DEMAND_RAISED]    # the refusal emitted nothing


def test_the_calendar_file_applies_to_demands(tmp_path):
    path = tmp_path / "calendar.json"
    path.write_text(json.dumps({"holidays": ["2026-10-08"]}))
    rules = ActivitySettings.load({"SIFUWU_CALENDAR_FILE": str(path)},
                                  {}).rules()
    uow = uow_with()
    demand = uow.run(steps.raise_demand, demand_data(), source="s",
                     now=at(RAISED_AT), rules=rules)
    assert demand["deadlines"]["respond_by"] == at("2026-10-09T23:59:59+08:00")


# -- the status table -------------------------------------------------------------


def stored_in(status, repo=None):
    uow = uow_with(repo)
    raised(uow, raised_at="2026-11-20T09:00:00+08:00")
    uow.repo.demands["d1"]["status"] = status
    uow.emitted.clear()
    return uow


def act(uow, action, **kwargs):
    return uow.run(steps.act_on_demand, "d1", action, by="staff:s",
                   at=at("2026-11-20T10:00:00+08:00"), rules=RULES, **kwargs)


ARGS = {"transfer": {"to_unit_id": "u2", "reason": "属住建局职责"}}


@pytest.mark.parametrize("status,action", list(itertools.product(
    domain.STATUSES, domain.ACTIONS)))
def test_every_move_is_allowed_or_refused_as_the_table_says(status, action):
    uow = stored_in(status)
    before = dict(uow.repo.demands["d1"])
    if domain.allowed(status, action):
        changed = act(uow, action, **ARGS.get(action, {}))
        stored = uow.repo.demands["d1"]
        assert stored["version"] == before["version"] + 1
        target = status if action == "transfer" else \
            domain.TRANSITIONS[action][1]
        assert changed["status"] == stored["status"] == target
        assert uow.types() == [ev.DEMAND_STATUS_CHANGED]
        assert uow.emitted[0]["data"]["action"] == action
    else:
        with pytest.raises(domain.IllegalTransition) as err:
            act(uow, action, **ARGS.get(action, {}))
        assert err.value.status == 409
        assert uow.repo.demands["d1"] == before
        assert uow.emitted == []


def test_the_table_of_allowed_moves():
    assert domain.ALLOWED_FROM == {
        "respond": (domain.RECEIVED,),
        "progress": (domain.RESPONDED, domain.REOPENED),
        "resolve": (domain.RESPONDED, domain.IN_PROGRESS, domain.REOPENED),
        "confirm": (domain.RESOLVED,),
        "reopen": (domain.RESOLVED,),
        "transfer": domain.OPEN_STATUSES}


def test_respond_then_resolve_on_time_hands_the_raiser_to_feedback():
    uow = stored_in(domain.RECEIVED)
    responded = act(uow, "respond")
    assert responded["on_time_response"] is True
    assert responded["next_escalation_at"] == at("2026-11-27T23:59:59+08:00")
    assert "raiser" not in uow.emitted[-1]["data"]
    resolved = act(uow, "resolve", note="已修复")
    assert resolved["on_time_resolution"] is True
    assert resolved["next_escalation_at"] is None
    raiser = uow.emitted[-1]["data"]["raiser"]
    assert raiser["name"] == "王芳"
    # the phone travels sealed: its reference, its masked form, and a token
    # only the contact key opens
    assert "13700000003" not in json.dumps(raiser, ensure_ascii=False)
    assert raiser["phone"]["masked"] == "137****0003"
    assert raiser["phone"]["ref"] == contact_hash("s", "13700000003")
    assert RULES.sealer.open(raiser["phone"]["sealed"]) == "13700000003"


def test_a_transfer_changes_the_owner_and_needs_a_reason():
    uow = stored_in(domain.RESPONDED)
    with pytest.raises(DomainError) as err:
        act(uow, "transfer", to_unit_id="u2", reason=" ")
    assert err.value.code == "reason_required"
    with pytest.raises(domain.IllegalTransition):
        act(uow, "transfer", to_unit_id="u1", reason="本单位")
    moved = act(uow, "transfer", to_unit_id="u2", reason="属住建局职责")
    assert moved["owner_unit_id"] == "u2"
    assert moved["status"] == domain.RESPONDED
    data = uow.emitted[-1]["data"]
    assert data["transfer"] == {"from_unit_id": "u1", "to_unit_id": "u2",
                                "reason": "属住建局职责"}
    assert "raiser" not in data


def test_a_demand_changed_meanwhile_is_refused():
    class Racing(FakeDemandRepository):
        def replace_demand(self, demand, version):
            return False

    uow = stored_in(domain.RECEIVED, Racing())
    with pytest.raises(Conflict) as err:
        act(uow, "respond")
    assert err.value.code == "concurrent_update"
    assert uow.emitted == []


# -- escalation ------------------------------------------------------------------------


def escalate(uow, now):
    return uow.run(steps.escalate, "d1", now=at(now), rules=RULES)


def test_escalation_goes_level_by_level_after_the_holiday():
    uow = uow_with()
    raised(uow)
    uow.emitted.clear()
    assert steps.demands_due(uow.repo, at("2026-10-08T12:00:00+08:00")) == []
    assert escalate(uow, "2026-10-08T12:00:00+08:00") == []
    assert steps.demands_due(uow.repo, at("2026-10-09T09:00:00+08:00")) == [
        "d1"]
    first = escalate(uow, "2026-10-09T09:00:00+08:00")
    assert [(s["deadline_kind"], s["level"]) for s in first] == [
        ("respond", 1)]
    stored = uow.repo.demands["d1"]
    assert stored["overdue"] is True and stored["escalation_level"] == 1
    # level 2 one working day after 8 Oct (9 Oct), level 3 two (10 Oct, a
    # make-up working Saturday)
    assert stored["next_escalation_at"] == at("2026-10-09T23:59:59+08:00")
    assert escalate(uow, "2026-10-09T20:00:00+08:00") == []
    later = escalate(uow, "2026-10-12T09:00:00+08:00")
    assert [s["level"] for s in later] == [2, 3]
    stored = uow.repo.demands["d1"]
    assert stored["escalation_level"] == 3
    assert stored["next_escalation_at"] is None
    assert uow.types() == [ev.DEMAND_OVERDUE] * 3
    levels = [e["data"] for e in uow.emitted]
    assert "unit_leader_member_id" not in levels[0]
    assert levels[1]["unit_leader_member_id"] == "m-lead"
    assert levels[2]["level_label"] == "市直机关工委督查室"
    assert levels[2]["deadline"] == "2026-10-08T23:59:59+08:00"
    assert steps.demands_due(uow.repo, at("2026-10-20T09:00:00+08:00")) == []


def test_responding_late_moves_escalation_to_the_resolve_deadline():
    uow = uow_with()
    raised(uow)
    escalate(uow, "2026-10-09T09:00:00+08:00")
    responded = uow.run(steps.act_on_demand, "d1", "respond", by="s",
                        at=at("2026-10-09T10:00:00+08:00"), rules=RULES)
    assert responded["on_time_response"] is False
    # the resolve deadline (8 Oct) has passed too: level 1 of it is due now
    assert responded["overdue"] is False
    assert [s["deadline_kind"] for s in escalate(
        uow, "2026-10-09T11:00:00+08:00")] == ["resolve"]


# -- updates before their demand ---------------------------------------------------------


def test_an_update_before_its_demand_waits_and_is_applied_on_arrival():
    uow = uow_with()
    envelope = {"source": "hotline12345", "event_id": "e-upd",
                "occurred_at": at("2026-09-30T11:00:00+08:00"),
                "data": {"demand_id": "d1", "action": "respond",
                         "note": "已联系"}}
    answer = uow.run(steps.apply_demand_updated, envelope,
                     now=at("2026-09-30T11:00:00+08:00"), rules=RULES)
    assert answer == {"demand_id": "d1", "status": "pending",
                      "waiting_for": "demand.raised"}
    assert list(uow.repo.pending) == ["hotline12345:e-upd"]
    demand = raised(uow)
    assert demand["status"] == domain.RESPONDED
    assert uow.repo.pending == {}
    assert uow.types() == [ev.DEMAND_RAISED, ev.DEMAND_STATUS_CHANGED]


def test_a_refused_early_update_is_kept_with_its_reason():
    uow = uow_with()
    envelope = {"source": "hotline12345", "event_id": "e-upd",
                "occurred_at": at("2026-09-30T11:00:00+08:00"),
                "data": {"demand_id": "d1", "action": "confirm"}}
    uow.run(steps.apply_demand_updated, envelope,
            now=at("2026-09-30T11:00:00+08:00"), rules=RULES)
    demand = raised(uow)
    assert demand["status"] == domain.RECEIVED
    kept = uow.repo.pending["hotline12345:e-upd"]
    assert kept["demand_id"] == "refused:d1"
    assert kept["refused"].startswith("illegal_transition: ")
