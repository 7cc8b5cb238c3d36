"""Rules of the activity service as plain functions: the working-day
calendar, demand deadlines and escalation across the 2026 National Day
holiday, the demand status machine, campaign progress, and index coverage of
every query path."""

import datetime as dt
import itertools

import pytest

from services.activity import repository, schemas
from services.activity.activities.repository import (
    ACTIVITIES, ACTIVITY_FILTERS, activity_filter,
)
from services.activity.campaigns import domain as campaign_domain
from services.activity.demands import domain
from services.activity.demands.repository import (
    DEMAND_FILTERS, DEMANDS, PENDING_UPDATES, demand_filter,
)
from services.activity.directory.repository import MEMBERS
from sifuwu.workdays import CALENDAR
from sifuwu.workdays import WorkCalendar as WorkdayCalendar

TZ = "Asia/Shanghai"


def at(text):
    return dt.datetime.fromisoformat(text)


# -- the calendar ----------------------------------------------------------------


def test_calendar_knows_holidays_and_make_up_days():
    assert not CALENDAR.is_workday(dt.date(2026, 10, 1))     # 国庆节
    assert CALENDAR.is_workday(dt.date(2026, 10, 10))        # 调休上班 (Sat)
    assert not CALENDAR.is_workday(dt.date(2026, 10, 11))    # Sunday
    assert CALENDAR.add_workdays(dt.date(2026, 9, 30), 1) == dt.date(2026, 10, 8)
    assert CALENDAR.add_workdays(dt.date(2026, 11, 20), 1) == dt.date(2026, 11, 23)
    assert CALENDAR.next_workday_on_or_after(dt.date(2026, 10, 3)) == \
        dt.date(2026, 10, 8)
    assert CALENDAR.note(2026) is None


def test_a_year_without_data_falls_back_to_weekends_and_says_so():
    calendar = WorkdayCalendar()
    assert not calendar.covered(2031)
    assert calendar.is_workday(dt.date(2031, 10, 1))         # a Wednesday
    assert not calendar.is_workday(dt.date(2031, 10, 4))     # a Saturday
    assert calendar.add_workdays(dt.date(2031, 10, 3), 1) == dt.date(2031, 10, 6)
    assert calendar.note(2026, 2031) == "2031 年无法定节假日数据，按周一至周五为工作日计算"
    deadlines, note = domain.demand_deadlines(
        at("2031-10-03T10:00:00+08:00"), "masses", calendar, TZ)
    assert deadlines["respond_by"] == at("2031-10-06T23:59:59+08:00")
    assert "2031 年" in note


# -- deadlines ---------------------------------------------------------------------


def test_deadlines_across_the_national_day_holiday():
    deadlines, note = domain.demand_deadlines(
        at("2026-09-30T10:00:00+08:00"), "masses", CALENDAR, TZ)
    # respond within 1 working day: the holiday runs 1-7 October
    assert deadlines["respond_by"] == at("2026-10-08T23:59:59+08:00")
    # resolve within 7 days ends 7 October, a holiday: moves to 8 October
    assert deadlines["resolve_by"] == at("2026-10-08T23:59:59+08:00")
    assert note is None
    project, _ = domain.demand_deadlines(
        at("2026-09-30T10:00:00+08:00"), "project", CALENDAR, TZ)
    assert project["resolve_by"] == at("2026-10-15T23:59:59+08:00")
    # the local date counts: 23:30 UTC on 19 Nov is 20 Nov in Beijing
    late, _ = domain.demand_deadlines(
        at("2026-11-19T23:30:00+00:00"), "other", CALENDAR, TZ)
    assert late["respond_by"] == at("2026-11-23T23:59:59+08:00")


def test_deadline_table_can_be_overridden():
    overrides = {"masses": {"respond": [2, "workdays"],
                            "resolve": [3, "workdays"]}}
    deadlines, _ = domain.demand_deadlines(
        at("2026-11-20T10:00:00+08:00"), "masses", CALENDAR, TZ, overrides)
    assert deadlines == {"respond_by": at("2026-11-24T23:59:59+08:00"),
                         "resolve_by": at("2026-11-25T23:59:59+08:00")}


# -- escalation -----------------------------------------------------------------------


def demand(raised="2026-09-30T10:00:00+08:00", category="masses"):
    deadlines, _ = domain.demand_deadlines(at(raised), category, CALENDAR, TZ)
    return {"_id": "d1", "category": category, "owner_unit_id": "u1",
            "status": domain.RECEIVED, "raised_at": at(raised),
            "deadlines": deadlines, "escalations": [], "history": [],
            "transfers": []}


def test_escalation_goes_level_by_level_in_working_days():
    d = demand()
    assert domain.due_escalations(d, at("2026-10-07T12:00:00+08:00"),
                                  CALENDAR, TZ) == []
    first = domain.due_escalations(d, at("2026-10-09T09:00:00+08:00"),
                                   CALENDAR, TZ)
    assert [(s["deadline_kind"], s["level"]) for s in first] == [
        ("respond", 1)]
    d["escalations"] = first
    assert domain.due_escalations(d, at("2026-10-09T20:00:00+08:00"),
                                  CALENDAR, TZ) == []
    # level 2 one working day later (9 Oct), level 3 two (10 Oct, a
    # make-up Saturday): both due by Monday 12 October
    later = domain.due_escalations(d, at("2026-10-12T09:00:00+08:00"),
                                   CALENDAR, TZ)
    assert [s["level"] for s in later] == [2, 3]
    assert later[1]["due_at"] == at("2026-10-10T23:59:59+08:00")
    d["escalations"] += later
    assert domain.next_escalation(d, CALENDAR, TZ) is None
    event = domain.overdue_event_data(d, later[1], "m-lead", tz=TZ)
    assert event == {"demand_id": "d1", "owner_unit_id": "u1", "level": 3,
                     "level_label": "市直机关工委督查室",
                     "deadline_kind": "respond",
                     "deadline": "2026-10-08T23:59:59+08:00",
                     "unit_leader_member_id": "m-lead"}
    assert "unit_leader_member_id" not in domain.overdue_event_data(
        d, first[0], "m-lead", tz=TZ)


def test_responding_switches_to_the_resolve_deadline():
    d = domain.apply_action(demand(), "respond",
                            now=at("2026-10-10T09:00:00+08:00"), by="s")
    assert d["on_time_response"] is False
    kind, level, due = domain.next_escalation(d, CALENDAR, TZ)
    assert (kind, level) == ("resolve", 1)
    assert due == at("2026-10-08T23:59:59+08:00")
    done = domain.apply_action(d, "resolve",
                               now=at("2026-10-08T20:00:00+08:00"), by="s")
    assert domain.next_escalation(done, CALENDAR, TZ) is None


# -- the status machine ----------------------------------------------------------------


def test_every_transition_is_allowed_exactly_as_the_table_says():
    now = at("2026-11-20T10:00:00+08:00")
    for status, action in itertools.product(domain.STATUSES,
                                            domain.TRANSITIONS):
        d = dict(demand("2026-11-20T09:00:00+08:00"), status=status)
        allowed, target = domain.TRANSITIONS[action]
        if status in allowed:
            changed = domain.apply_action(d, action, now=now, by="s")
            assert changed["status"] == target
            assert changed["previous_status"] == status
            assert changed["history"][-1]["action"] == action
        else:
            with pytest.raises(domain.IllegalTransition) as err:
                domain.apply_action(d, action, now=now, by="s")
            assert err.value.status == 409
            assert domain.STATUS_LABELS[status] in err.value.message


def test_the_whole_story_of_a_demand():
    d = demand("2026-11-20T09:00:00+08:00")
    step = at("2026-11-20T10:00:00+08:00")
    for action in ("respond", "progress", "resolve", "reopen", "progress",
                   "resolve", "confirm"):
        d = domain.apply_action(d, action, now=step, by="s", calendar=CALENDAR,
                                tz=TZ)
        step += dt.timedelta(days=1)
    assert d["status"] == domain.CONFIRMED
    assert d["reopened_count"] == 1
    assert d["on_time_response"] is True and d["on_time_resolution"] is True
    # reopening gave a fresh resolve period from the reopening day
    # (reopened Monday 23 November: 7 days later is Monday 30 November)
    assert d["deadlines"]["resolve_by"] == at("2026-11-30T23:59:59+08:00")
    with pytest.raises(domain.IllegalTransition):
        domain.apply_action(d, "reopen", now=step, by="s")


def test_a_transfer_needs_a_reason_and_is_recorded():
    d = demand("2026-11-20T09:00:00+08:00")
    now = at("2026-11-20T10:00:00+08:00")
    with pytest.raises(domain.DomainError) as err:
        domain.apply_action(d, "transfer", now=now, by="s", to_unit_id="u2",
                            reason="  ")
    assert err.value.code == "reason_required"
    with pytest.raises(domain.IllegalTransition):
        domain.apply_action(d, "transfer", now=now, by="s", to_unit_id="u1",
                            reason="不属于本单位职责")
    moved = domain.apply_action(d, "transfer", now=now, by="s",
                                to_unit_id="u2", reason="属住建局职责")
    assert moved["owner_unit_id"] == "u2" and moved["status"] == "received"
    assert moved["transfers"] == [{"from_unit_id": "u1", "to_unit_id": "u2",
                                   "reason": "属住建局职责", "at": now,
                                   "by": "s"}]
    resolved = dict(d, status=domain.RESOLVED)
    with pytest.raises(domain.IllegalTransition):
        domain.apply_action(resolved, "transfer", now=now, by="s",
                            to_unit_id="u2", reason="x")


def test_resolved_event_carries_the_raiser_only_when_given():
    d = domain.apply_action(demand("2026-11-20T09:00:00+08:00"), "respond",
                            now=at("2026-11-20T10:00:00+08:00"), by="s")
    assert "raiser" not in domain.demand_event_data(d, tz=TZ)
    data = domain.demand_event_data(d, {"name": "王芳", "phone": "13700000003"},
                                   tz=TZ)
    assert data["raiser"]["name"] == "王芳"
    assert data["deadlines"]["respond_by"] == "2026-11-23T23:59:59+08:00"


# -- campaigns ----------------------------------------------------------------------------


def test_campaign_progress_counts_members_meeting_the_target():
    campaign = {"_id": "c1", "starts_on": "2026-11-01",
                "ends_on": "2026-11-30",
                "target": {"per_member": 2, "category": "enterprise"}}
    members = [{"_id": "m1", "unit_id": "u1"}, {"_id": "m2", "unit_id": "u1"},
               {"_id": "m3", "unit_id": "u2"}]
    visit = {"category": "enterprise", "kind": "visit"}
    activities = [dict(visit, member_ids=["m1"]), dict(visit, member_ids=["m1",
                  "m2"]), dict(visit, member_ids=["m2"]),
                  {"category": "masses", "kind": "visit", "member_ids": ["m3"]},
                  # 1 Dec 2026 01:00 in Beijing: after the campaign ended
                  dict(visit, member_ids=["m3"],
                       occurred_at=at("2026-11-30T17:00:00+00:00"))]
    progress = campaign_domain.campaign_progress(campaign, members, activities,
                                                TZ)
    assert progress["activities"] == 3
    assert (progress["members"], progress["members_met"]) == (3, 2)
    assert progress["rate"] == round(2 / 3, 4)
    assert progress["units"] == [
        {"unit_id": "u1", "members": 2, "members_met": 2, "activities": 4},
        {"unit_id": "u2", "members": 1, "members_met": 0, "activities": 0}]


# -- every query path has an index ----------------------------------------------------


def leading_keys(collection):
    return {next(iter(model.document["key"]))
            for model in repository.INDEXES[collection]}


def test_every_staff_filter_has_an_index():
    activity_keys = leading_keys(ACTIVITIES)
    for name in ACTIVITY_FILTERS:
        criteria = activity_filter({name: "x"})
        assert set(criteria) <= activity_keys, name
    assert "occurred_at" in activity_keys
    demand_keys = leading_keys(DEMANDS)
    for name in DEMAND_FILTERS:
        value = True if name == "overdue" else "x"
        criteria = demand_filter({name: value})
        assert set(criteria) <= demand_keys, name
    assert {"raised_at", "next_escalation_at"} <= demand_keys
    assert "demand_id" in leading_keys(PENDING_UPDATES)
    assert {"unit_id", "branch_id"} <= leading_keys(MEMBERS)
    # the query schema offers exactly these filters (plus period, paging)
    offered = set(schemas.QuerySchema().fields) - {"since", "until", "page",
                                                   "per_page"}
    assert offered == set(ACTIVITY_FILTERS) | set(DEMAND_FILTERS)
