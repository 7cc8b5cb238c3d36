"""Scorecards kept by running sums (issue 10) against the real broker and
store: a batch of activities costs the same statements whatever its size,
and live scoring of a mixed stream over several months (with duplicates,
reordering, late directory entries, appeals, rectifications, superseded
KPI values) equals re-scoring every month from its contributions."""

import datetime as dt
import random
import uuid

import pytest
import requests
from nameko.testing.services import entrypoint_hook

from services.assessment.scoring import cards
from services.assessment.service import AssessmentService
from sifuwu import events as ev
from sifuwu import store
from sifuwu import wiring
from tests import helpers
from tests.integration.test_assessment_scoring import (
    STAFF, publish_all, wait_consumed,
)

TZ = dt.timezone(dt.timedelta(hours=8))
MONTHS = ("2026-09", "2026-10", "2026-11")


# the outbox relay's statements run beside and are left out
STATEMENTS = helpers.statement_counter()


@pytest.fixture
def assessment(service_config, container_factory):
    container = container_factory(AssessmentService, service_config)
    container.start()
    yield container


@pytest.fixture
def db(mongo, service_config):
    return mongo[f"{service_config['SIFUWU_DB_PREFIX']}assessment"]


def at(month, day, hour=10):
    year, number = (int(x) for x in month.split("-"))
    return dt.datetime(year, number, day, hour, tzinfo=TZ)


def directory_event(kind, entry_id, record, when=None):
    return ev.make_event(ev.DIRECTORY_CHANGED, {
        "kind": kind, "id": entry_id, "record": record},
        source="activity", occurred_at=when or at("2026-09", 1, 8))


def activity_event(member, when, branch=None, unit=None, campaign=None):
    return ev.make_event(ev.ACTIVITY_LOGGED, {
        "activity_id": uuid.uuid4().hex, "category": "enterprise",
        "kind": "visit", "member_id": member, "branch_id": branch,
        "unit_id": unit, "campaign_id": campaign,
        "occurred_at": when.isoformat()}, source="activity",
        occurred_at=when)


def test_a_batch_of_activities_costs_a_constant_number_of_statements(
        assessment, db, monkeypatch):
    """10 or 40 activities (over three months, 30 members in 6 units): the
    same statements, none per event or per card."""
    monkeypatch.setattr(store, "IN_CHUNK", 10_000)  # one read each
    monkeypatch.setattr(store, "WRITE_CHUNK", 10_000)  # one write each
    p = uuid.uuid4().hex[:6]
    with entrypoint_hook(assessment, "on_directory_changed") as change:
        change([directory_event("member", f"{p}m{m}", {
            "name": f"党员{m}", "branch_id": f"{p}b{m % 6}",
            "unit_id": f"{p}u{m % 6}"}) for m in range(30)])
    seen, touched = {}, 0
    for size in (10, 40):
        payloads = [activity_event(f"{p}m{i % 30}",
                                   at(MONTHS[i % 3], 1 + i % 28))
                    for i in range(size)]
        with STATEMENTS.count(db.name) as statements:
            with entrypoint_hook(assessment, "on_activity_logged") as consume:
                consume(payloads)
        seen[size] = statements
        touched += len({(kind, f"{p}{kind[0]}{n}", MONTHS[i % 3])
                        for i in range(size)
                        for kind, n in (("member", i % 30),
                                        ("branch", i % 30 % 6),
                                        ("unit", i % 30 % 6))})
    assert seen[10] == seen[40] == [
        ("find", "directory"), ("find", "contributions"),
        ("insert", "contributions"), ("find", "scorecards"),
        ("find", "period_schemes"), ("find", "schemes"),
        ("update", "scorecards"), ("commitTransaction", None)]
    card = db.scorecards.find_one({"_id": f"unit:{p}u0:2026-09"})
    assert card["sums"]["activity_count"] == card["contribution_count"] == 9
    assert "contribution_ids" not in card
    # one scorecard.updated per card a batch touched
    assert len(helpers.outbox_events(db, ev.SCORECARD_UPDATED)) == touched
    # each names the contributions that changed the card
    changed_by = [ref for e in helpers.outbox_events(db, ev.SCORECARD_UPDATED)
                  if e["data"]["subject_id"] == f"{p}u0"
                  and e["data"]["period"] == "2026-09"
                  for ref in e["data"]["changed_by"]]
    assert sorted(changed_by) == sorted(c["_id"] for c in db.contributions.find(
        {"unit_id": f"{p}u0", "month": "2026-09"})) and len(changed_by) == 9


def assert_unit_activity_counts(live, activities, branches, members):
    """Every unit's monthly card counts the activities of its members that
    month (none: no card or a count of 0)."""
    for unit in sorted(set(branches.values())):
        for month in MONTHS:
            sent = sum(1 for e in activities
                       if branches[members[e["data"]["member_id"]]] == unit
                       and e["data"]["occurred_at"].startswith(month))
            card = live.get(f"unit:{unit}:{month}")
            assert (card["sums"]["activity_count"] if card else 0) == sent


def mixed_stream(p, rng):
    """Three months of two units' work, every kind of event, with what
    breaks naive counting: duplicates, reordering, directory entries that
    come late (returned apart), appeals before their rating, superseded KPI
    values (floats)."""
    units = [f"{p}u1", f"{p}u2"]
    branches = {f"{p}b1": units[0], f"{p}b2": units[0], f"{p}b3": units[1]}
    members = {f"{p}m{i}": list(branches)[i % 3] for i in range(1, 8)}
    events = []

    def add(publisher, envelope):
        events.append((publisher, envelope))
        return envelope

    for unit in units:
        add("activity", directory_event("unit", unit, {"name": unit}))
    for branch, unit in branches.items():
        add("activity", directory_event("branch", branch, {
            "name": branch, "unit_id": unit}))
    late = []
    for member, branch in members.items():
        entry = directory_event("member", member, {
            "name": member, "branch_id": branch,
            "unit_id": branches[branch]})
        if member.endswith(("m6", "m7")):
            # these arrive in the directory after all their work
            late.append(("activity", entry))
        else:
            add("activity", entry)
    activities = []
    for i in range(150):
        member = rng.choice(list(members))
        month = rng.choice(MONTHS)
        branch = members[member]
        with_ids = rng.random() < 0.5 and not member.endswith(("m6", "m7"))
        activities.append(add("activity", activity_event(
            member, at(month, rng.randrange(1, 28), rng.randrange(8, 20)),
            branch if with_ids else None,
            branches[branch] if with_ids else None,
            rng.choice([None, None, "万人进万企"]))))
    for i in range(12):
        branch = rng.choice(list(branches))
        own = [m for m, b in members.items() if b == branch]
        when = at(rng.choice(MONTHS), rng.randrange(1, 28))
        add("activity", ev.make_event(ev.PARTY_ACTIVITY_LOGGED, {
            "activity_id": uuid.uuid4().hex,
            "kind": rng.choice(["three_meetings_one_lesson", "theme_day",
                                "study"]),
            "branch_id": branch, "unit_id": branches[branch],
            "occurred_at": when.isoformat(),
            "attendees": rng.sample(own, rng.randrange(0, len(own) + 1)),
            "expected": own + [f"{p}guest"]}, source="activity",
            occurred_at=when))
    for i in range(40):
        member = rng.choice(list(members) + [None])
        month = rng.choice(MONTHS)
        rating_id = f"{p}r{i}"
        value = rng.randrange(1, 6)
        rated = at(month, rng.randrange(1, 25), 15)
        add("feedback", ev.make_event(ev.FEEDBACK_SUBMITTED, {
            "rating_id": rating_id, "member_id": member, "rating": value,
            "submitted_at": rated.isoformat()}, source="feedback",
            occurred_at=rated))
        if value <= 2 and rng.random() < 0.5:
            add("feedback", ev.make_event(ev.RECTIFICATION_CLOSED, {
                "rectification_id": uuid.uuid4().hex, "rating_id": rating_id,
                "status": "closed",
                "closed_at": (rated + dt.timedelta(days=3)).isoformat()},
                source="feedback", occurred_at=rated + dt.timedelta(days=3)))
        elif value <= 2:
            add("feedback", ev.make_event(ev.APPEAL_DECIDED, {
                "appeal_id": uuid.uuid4().hex, "rating_id": rating_id,
                "upheld": rng.random() < 0.7, "reason": "误评"},
                source="feedback", occurred_at=rated + dt.timedelta(days=2)))
    for i in range(15):
        member = rng.choice(list(members) + [None])
        unit = rng.choice(units)
        raised = at(rng.choice(MONTHS), rng.randrange(1, 20))
        for step, (status, response, resolution) in enumerate(
                [("raised", None, None), ("responded", True, None),
                 ("resolved", rng.random() < 0.7, rng.random() < 0.5),
                 ("reopened", True, None)][:rng.randrange(1, 5)]):
            add("activity", ev.make_event(
                ev.DEMAND_RAISED if step == 0 else ev.DEMAND_STATUS_CHANGED,
                {"demand_id": f"{p}d{i}", "category": "enterprise",
                 "owner_unit_id": unit, "member_id": member,
                 "status": status, "raised_at": raised.isoformat(),
                 "on_time_response": response,
                 "on_time_resolution": resolution},
                source="activity",
                occurred_at=raised + dt.timedelta(days=step)))
    values = [0.1, 0.2, 0.7, 1 / 3, 2 / 3, 92.5, 1e6 + 0.123456, 99.99]
    for subject_type, subject_id in [("member", m) for m in members] + [
            ("unit", u) for u in units]:
        for month in MONTHS:
            for indicator in ("重点任务完成率", "招商引资"):
                for version in range(rng.randrange(1, 4)):
                    add("activity", ev.make_event(ev.KPI_RECORDED, {
                        "subject_type": subject_type,
                        "subject_id": subject_id, "period": month,
                        "indicator": indicator,
                        "value": rng.choice(values)}, source="activity",
                        occurred_at=at(month, 25) + dt.timedelta(
                            hours=version)))
    duplicates = rng.sample(events, 40)
    stream = events + duplicates
    rng.shuffle(stream)
    return events, stream, late, activities, branches, members


# what a stored card holds (its metrics, indicators and items are scored
# from the sums when it is shown)
CARD_FIELDS = ("sums", "groups", "base", "total", "grade", "rank_key",
               "scheme_version", "contribution_count")


def test_live_scoring_equals_rescoring_over_months_with_duplicates(
        assessment, service_config, db, web_url):
    p = f"x{uuid.uuid4().hex[:5]}-"
    rng = random.Random(2026)
    events, stream, late, activities, branches, members = mixed_stream(
        p, rng)
    publish_all(service_config, stream)
    wait_consumed(db, events, timeout=240)
    publish_all(service_config, late + late[:1])
    wait_consumed(db, late)

    live = {c["_id"]: c for c in db.scorecards.find()}
    assert live and not any("contribution_ids" in c for c in live.values())
    # every activity counted once, in its unit and month, late directory
    # entries included
    assert_unit_activity_counts(live, activities, branches, members)
    updated = len(helpers.outbox_events(db, ev.SCORECARD_UPDATED))

    for month in MONTHS:
        response = requests.post(
            f"{web_url}/api/v1/periods/{month}/rescore", json={"version": 1},
            headers=STAFF, timeout=120)
        assert response.status_code == 200, response.text
        assert response.json()["cards"] == sum(
            1 for c in live.values() if c["period"] == month)
    replayed = {c["_id"]: c for c in db.scorecards.find()}
    assert sorted(replayed) == sorted(live)
    for card_id, card in live.items():
        for field in CARD_FIELDS:
            assert replayed[card_id][field] == card[field], (card_id, field)
    # nothing changed, so nothing was announced
    assert len(helpers.outbox_events(db, ev.SCORECARD_UPDATED)) == updated

    # traceability through the contributions query, not a list on the card
    member = sorted(members)[0]
    month = MONTHS[1]
    traced = requests.get(
        f"{web_url}/api/v1/scorecards/member/{member}/{month}",
        headers=STAFF, timeout=30).json()
    four = traced["groups"]["four_services"]["indicators"]
    sources = next(i for i in four if i["metric"] == "activities")["sources"]
    assert sorted(s["event_ids"][0] for s in sources) == sorted(
        e["event_id"] for e in activities
        if e["data"]["member_id"] == member
        and e["data"]["occurred_at"].startswith(month))
    stored = live[f"member:{member}:{month}"]
    assert traced["sums"] == stored["sums"]
    # the details shown are scored from the stored sums: the same card
    assert set(stored) == {"_id", "subject_type", "subject_id", "period",
                           "updated_at", *CARD_FIELDS}
    assert (traced["total"], traced["grade"]) == (stored["total"],
                                                 stored["grade"])
    assert {g: v["score"] for g, v in traced["groups"].items()} == {
        g: v["score"] for g, v in stored["groups"].items()}
    assert four and traced["metrics"] and "items" in traced


def test_concurrent_batches_keep_the_hot_unit_card_exact(
        assessment, service_config, db):
    """Activities and Party activities of one unit arrive on two batch
    consumers at once (and single events beside): their transactions write
    the same unit card, conflict, and re-run; nothing is lost."""
    p = f"h{uuid.uuid4().hex[:5]}-"
    unit, branch = f"{p}u", f"{p}b"
    events = [("activity", ev.make_event(ev.ACTIVITY_LOGGED, {
        "activity_id": f"a{i}", "member_id": f"{p}m{i % 40}",
        "branch_id": branch, "unit_id": unit,
        "occurred_at": at("2026-11", 1 + i % 28).isoformat()},
        source="activity")) for i in range(600)]
    events += [("activity", ev.make_event(ev.PARTY_ACTIVITY_LOGGED, {
        "activity_id": f"p{i}", "kind": "theme_day", "branch_id": branch,
        "unit_id": unit, "occurred_at": at("2026-11", 1 + i % 28).isoformat(),
        "attendees": [f"{p}m{i % 40}"], "expected": [f"{p}m{i % 40}"]},
        source="activity")) for i in range(200)]
    events += [("activity", ev.make_event(ev.KPI_RECORDED, {
        "subject_type": "unit", "subject_id": unit, "period": "2026-11",
        "indicator": f"k{i}", "value": 0.1 * i}, source="activity"))
        for i in range(30)]
    random.Random(3).shuffle(events)
    publish_all(service_config, events)
    wait_consumed(db, events, timeout=240)
    card = db.scorecards.find_one({"_id": f"unit:{unit}:2026-11"})
    assert card["sums"]["activity_count"] == 600
    assert card["sums"]["theme_days"] == 200
    assert card["sums"]["kpi_count"] == 30
    assert card["sums"]["kpi_sum"] == round(sum(
        round(0.1 * i, 6) for i in range(30)), 6)
    assert card["contribution_count"] == 830
    assert db.contributions.count_documents({"unit_id": unit}) == 830


BATCHED = ("on_activity_logged", "on_party_activity_logged",
           "on_directory_changed", "on_demand_raised",
           "on_demand_status_changed", "on_kpi_recorded",
           "on_feedback_submitted")


def feed_in_batches(assessment, stream, rng):
    """Every event of ``stream`` through its consumer's entrypoint: the
    batch consumers get runs of their events (1 to 40, duplicates and
    out-of-order updates of one demand, KPI or directory entry inside a
    batch), interleaved with the other consumers' runs."""
    handlers = {t: m for _, t, c, m in wiring.SUBSCRIPTIONS
                if c == "assessment"}
    queues = {}
    for _, envelope in stream:
        queues.setdefault(handlers[envelope["type"]], []).append(envelope)
    while queues:
        name = rng.choice(sorted(queues))
        size = rng.randrange(1, 41) if name in BATCHED else 1
        run, queues[name] = queues[name][:size], queues[name][size:]
        if not queues[name]:
            del queues[name]
        with entrypoint_hook(assessment, name) as consume:
            if name in BATCHED:
                consume(run)
            else:
                consume(run[0])


def test_live_scoring_of_batches_equals_rescoring_field_by_field(
        assessment, db, web_url):
    """The mixed stream fed to the batch consumers in batches (duplicates,
    updates of one subject out of order within and across batches): live
    scoring equals re-scoring each month, card by card, field by field."""
    p = f"y{uuid.uuid4().hex[:5]}-"
    rng = random.Random(2027)
    events, stream, late, activities, branches, members = mixed_stream(
        p, rng)
    feed_in_batches(assessment, stream, rng)
    feed_in_batches(assessment, late + late[:1], rng)
    live = {c["_id"]: c for c in db.scorecards.find(
        {"subject_id": {"$regex": f"^{p}"}})}
    assert live
    assert_unit_activity_counts(live, activities, branches, members)
    # every demand and KPI value at its newest state, with all its events
    newest = {}
    for _, envelope in events:
        data = envelope["data"]
        if envelope["type"] in (ev.DEMAND_RAISED, ev.DEMAND_STATUS_CHANGED):
            key = f"demand:{data['demand_id']}"
        elif envelope["type"] == ev.KPI_RECORDED:
            key = cards.kpi_key(data)
        else:
            continue
        newest.setdefault(key, []).append(envelope)
    for key, sent in newest.items():
        stored = db.contributions.find_one({"_id": key})
        last = max(sent, key=lambda e: e["occurred_at"])
        assert stored["event_id"] == last["event_id"], key
        assert stored["event_ids"] == sorted(e["event_id"] for e in sent)
    # the late members' work moved to their branches
    for member in (f"{p}m6", f"{p}m7"):
        assert db.contributions.count_documents(
            {"members": member, "kind": "activity", "branch_id": None}) == 0

    for month in MONTHS:
        response = requests.post(
            f"{web_url}/api/v1/periods/{month}/rescore", json={"version": 1},
            headers=STAFF, timeout=120)
        assert response.status_code == 200, response.text
    replayed = {c["_id"]: c for c in db.scorecards.find(
        {"subject_id": {"$regex": f"^{p}"}})}
    assert sorted(replayed) == sorted(live)
    for card_id, card in live.items():
        for field in CARD_FIELDS:
            assert replayed[card_id][field] == card[field], (card_id, field)


def test_batches_of_every_kind_cost_a_constant_number_of_statements(
        assessment, db, monkeypatch):
    """Directory records, demands, KPI values and ratings: a batch of 10 or
    of 40 costs the same statements, none per event or per card."""
    monkeypatch.setattr(store, "IN_CHUNK", 10_000)  # one read each
    monkeypatch.setattr(store, "WRITE_CHUNK", 10_000)  # one write each
    p = uuid.uuid4().hex[:6]

    def member(i):
        return f"{p}m{i % 30}"

    def directory(size, round_):
        return [directory_event("member", member(i), {
            "name": f"党员{i}", "branch_id": f"{p}b{i % 6}",
            "unit_id": f"{p}u{i % 6}"}, at("2026-09", 1 + round_, 8))
            for i in range(size)]

    def demands(size, round_):
        return [ev.make_event(ev.DEMAND_RAISED, {
            "demand_id": f"{p}d{round_}-{i}", "owner_unit_id": f"{p}u{i % 6}",
            "member_id": member(i), "status": "raised",
            "raised_at": at(MONTHS[i % 3], 2).isoformat()},
            source="activity", occurred_at=at(MONTHS[i % 3], 2))
            for i in range(size)]

    def kpis(size, round_):
        return [ev.make_event(ev.KPI_RECORDED, {
            "subject_type": "member", "subject_id": member(i),
            "period": MONTHS[i % 3], "indicator": f"k{round_}-{i}",
            "value": 0.5 * i}, source="activity") for i in range(size)]

    def ratings(size, round_):
        return [ev.make_event(ev.FEEDBACK_SUBMITTED, {
            "rating_id": f"{p}r{round_}-{i}", "member_id": member(i),
            "rating": 1 + i % 5,
            "submitted_at": at(MONTHS[i % 3], 3).isoformat()},
            source="feedback") for i in range(size)]

    for name, make in [("on_directory_changed", directory),
                       ("on_demand_raised", demands),
                       ("on_kpi_recorded", kpis),
                       ("on_feedback_submitted", ratings)]:
        seen = {}
        for round_, size in enumerate((1, 10, 40)):
            # the first (1 event) lets start-up (the default scheme) finish
            payloads = make(size, round_)
            with STATEMENTS.count(db.name) as statements:
                with entrypoint_hook(assessment, name) as consume:
                    consume(payloads)
            seen[size] = statements
        assert seen[10] == seen[40], name
        assert len(seen[40]) <= 12, (name, seen[40])
