"""Example data of every ingest type, in the context the suite serves.

One source for the examples in ``docs/openapi.json``, ``docs/asyncapi.yaml``
and ``docs/ingest/README.md``, and for the tests, so the documented examples
are known to pass validation."""

import datetime as dt

from sifuwu import events as ev

EXAMPLE_TIME = dt.datetime(2026, 11, 20, 9, 30,
                           tzinfo=dt.timezone(dt.timedelta(hours=8)))


def example_data(tag=""):
    """{ingest type: data}; ``tag`` makes every id unique (tests)."""
    t = f"-{tag}" if tag else ""
    return {
        "directory.unit": {
            "unit_id": f"u-fgw{t}", "name": "市发展和改革委员会",
            "short_name": "市发改委", "leader_member_id": f"m-lead{t}"},
        "directory.division": {
            "division_id": f"d-fgw-tz{t}", "unit_id": f"u-fgw{t}",
            "name": "投资处"},
        "directory.branch": {
            "branch_id": f"b-fgw-1{t}", "unit_id": f"u-fgw{t}",
            "name": "市发改委机关第一党支部",
            "secretary_member_id": f"m-0001{t}"},
        "directory.member": {
            "member_id": f"m-0001{t}", "name": "李明", "unit_id": f"u-fgw{t}",
            "branch_id": f"b-fgw-1{t}", "division_id": f"d-fgw-tz{t}",
            "roles": ["branch_secretary"], "phone": "13800000001"},
        "directory.recipient": {
            "recipient_id": f"e-0001{t}", "type": "enterprise",
            "name": "滨江智造科技有限公司", "phone": "13900000002",
            "credit_code": "91330100MA2XXXXX0X",
            "address": "滨江区智造大道 88 号"},
        "activity.service": {
            "activity_id": f"act-20261120-0001{t}", "category": "enterprise",
            "kind": "visit", "roles": ["informer", "coordinator"],
            "member_id": f"m-0001{t}", "campaign_id": f"c-wanren-wanqi{t}",
            "recipient": {"id": f"e-0001{t}", "type": "enterprise",
                          "name": "滨江智造科技有限公司",
                          "phone": "13900000002"},
            "occurred_at": "2026-11-20T10:00:00+08:00",
            "place": "滨江智造科技有限公司会议室",
            "summary": "“万人进万企”走访，了解企业用地和用工诉求。",
            "demands": [{"demand_id": f"dm-act-0001{t}",
                         "category": "enterprise",
                         "title": "扩产用地指标咨询",
                         "description": "企业计划扩建二期厂房，需了解用地指标。"}]},
        "activity.party": {
            "activity_id": f"pa-20261118-0001{t}",
            "kind": "three_meetings_one_lesson", "session": "party_lesson",
            "title": "书记讲党课：以“四服务”践行初心使命",
            "branch_id": f"b-fgw-1{t}",
            "occurred_at": "2026-11-18T15:00:00+08:00",
            "attendees": [f"m-0001{t}", f"m-0002{t}"],
            "expected": [f"m-0001{t}", f"m-0002{t}", f"m-0003{t}"],
            "place": "机关三楼党员活动室"},
        "demand.raised": {
            "demand_id": f"12345-20261120-0042{t}", "category": "masses",
            "title": "小区门口路灯损坏",
            "description": "市民反映某小区门口路灯已损坏一周，夜间出行不便。",
            "owner_unit_id": f"u-fgw{t}",
            "raiser": {"name": "王芳", "phone": "13700000003"},
            "raised_at": "2026-11-20T09:15:00+08:00", "channel": "12345"},
        "demand.updated": {
            "demand_id": f"12345-20261120-0042{t}", "action": "respond",
            "note": "已联系市民，安排现场查看。",
            "at": "2026-11-20T16:00:00+08:00"},
        "kpi.business": {
            "subject_type": "unit", "subject_id": f"u-fgw{t}",
            "period": "2026-11", "indicator": "projects_approved",
            "value": 12, "unit_of_measure": "个"},
    }


EXAMPLE_SOURCE = "hotline12345"


def example_envelope(event_type, tag="", source=EXAMPLE_SOURCE, data=None,
                     event_id=None):
    data = example_data(tag)[event_type] if data is None else data
    return ev.make_event(
        event_type, data, source=source,
        event_id=event_id or f"{source}-{event_type}-{tag or '0001'}",
        occurred_at=EXAMPLE_TIME)
