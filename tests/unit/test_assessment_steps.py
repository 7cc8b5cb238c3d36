"""The assessment's steps against an in-memory unit of work and dict-backed
repositories (tests/fakes/assessment.py): the rules, the writes and the
events of each use case, without the store."""

import datetime as dt

import pytest

from services.assessment.ladder import steps as ladder_steps
from services.assessment.ranking import steps as ranking_steps
from services.assessment.scoring import cards, schemes
from services.assessment.scoring import steps as scoring_steps
from services.assessment.scoring import queries
from sifuwu import events as ev
from tests.fakes.assessment import (
    FakeDirectoryRepository, FakeLadderRepository, FakeRankingRepository,
    FakeScoringRepository,
)
from tests.fakes.uow import InMemoryUnitOfWork

NOW = dt.datetime(2026, 11, 20, 2, 0, tzinfo=dt.timezone.utc)
MONTH = "2026-11"


def scoring_repo():
    return FakeScoringRepository(FakeDirectoryRepository([
        {"kind": "member", "id": "m1", "name": "党员甲", "branch_id": "b1",
         "unit_id": "u1"},
        {"kind": "branch", "id": "b1", "name": "第一支部", "unit_id": "u1"},
        {"kind": "unit", "id": "u1", "name": "市发改委"},
        {"kind": "unit", "id": "u2", "name": "市商务局"}]))


def uow_with(repo):
    return InMemoryUnitOfWork(repo=repo, service_name="assessment")


def activity(event_id, member="m1"):
    return ev.make_event(ev.ACTIVITY_LOGGED, {
        "activity_id": event_id, "member_id": member,
        "occurred_at": NOW.isoformat()}, source="activity",
        event_id=event_id)


# -- schemes -------------------------------------------------------------------

def test_a_scheme_that_does_not_hold_is_refused_with_its_reasons():
    repo = scoring_repo()
    uow = uow_with(repo)
    body = schemes.default_scheme()
    body["groups"]["business"]["weight"] = 40
    with pytest.raises(schemes.SchemeInvalid) as refused:
        uow.run(scoring_steps.create_scheme, body, now=NOW,
                created_by="staff", default_from=MONTH)
    assert "指标组权重之和为 115，应为 100" in refused.value.fields["scheme"]
    assert not uow.committed and uow.emitted == []
    assert repo.schemes == {}


def test_a_sound_scheme_is_stored_as_the_next_version():
    repo = scoring_repo()
    uow = uow_with(repo)
    scheme = uow.run(scoring_steps.create_scheme, schemes.default_scheme(),
                     now=NOW, created_by="staff", default_from=MONTH)
    assert scheme["version"] == 2 and scheme["effective_from"] == MONTH
    assert sorted(repo.schemes) == [1, 2]
    assert repo.schemes[1]["created_by"] == "system"


# -- contributions and cards ---------------------------------------------------

def test_an_activity_feeds_the_member_branch_and_unit_cards_once():
    repo = scoring_repo()
    uow = uow_with(repo)
    batch = [(activity("e1"), MONTH)]
    uow.run(scoring_steps.add_activities, batch, NOW)
    assert sorted(repo.card_docs) == [
        "branch:b1:2026-11", "member:m1:2026-11", "unit:u1:2026-11"]
    assert uow.types() == [ev.SCORECARD_UPDATED] * 3
    assert {e["data"]["changed_by"][0] for e in uow.emitted} == {
        "activity:e1"}
    # redelivered: the contribution is stored, nothing changes
    uow.run(scoring_steps.add_activities, batch, NOW)
    assert len(uow.emitted) == 3
    assert repo.card_docs["unit:u1:2026-11"]["sums"]["activity_count"] == 1


def test_an_upheld_appeal_takes_the_rating_off_the_card():
    repo = scoring_repo()
    uow = uow_with(repo)
    rating = ev.make_event(ev.FEEDBACK_SUBMITTED, {
        "rating_id": "r1", "member_id": "m1", "rating": 1},
        source="feedback")
    uow.run(scoring_steps.add_ratings, [(rating, MONTH)], NOW)
    assert repo.card_docs["member:m1:2026-11"]["sums"]["bad_count"] == 1
    appeal = ev.make_event(ev.APPEAL_DECIDED, {
        "rating_id": "r1", "upheld": True, "appeal_id": "a1"},
        source="feedback")
    uow.run(scoring_steps.add_rating_mark, appeal, "appeal", MONTH, NOW)
    stored = repo.contribution_docs["rating:r1"]
    assert stored["excluded"] and stored["excluded_by"] == [
        appeal["event_id"]]
    assert repo.card_docs["member:m1:2026-11"]["sums"]["bad_count"] == 0
    # the rating and the appeal about it both write its lock (they conflict)
    assert repo.directory.locks["rating:r1"] == 2


def test_rescoring_a_month_gives_the_live_cards():
    repo = scoring_repo()
    uow = uow_with(repo)
    uow.run(scoring_steps.add_activities,
            [(activity(f"e{i}"), MONTH) for i in range(3)], NOW)
    live = {k: dict(v) for k, v in repo.card_docs.items()}
    count = uow.run(scoring_steps.rescore_month, MONTH, 1, NOW)
    assert count == 3 and repo.pins == {MONTH: 1}
    for key, card in repo.card_docs.items():
        assert card["sums"] == live[key]["sums"]
        assert card["total"] == live[key]["total"]


# -- rankings ------------------------------------------------------------------

def test_publishing_a_ranking_stores_it_and_emits_ranking_published():
    scores = scoring_repo()
    scoring_steps.ensure_default_scheme(scores, NOW)
    uow_with(scores).run(scoring_steps.add_activities,
                         [(activity("e1"), MONTH)], NOW)
    board = ranking_steps.ranking(scores, "unit", MONTH)
    assert [e["subject_id"] for e in board["entries"]] == ["u1"]
    assert board["entries"][0]["name"] == "市发改委"
    repo = FakeRankingRepository(scores)
    uow = uow_with(repo)
    doc = uow.run(ranking_steps.publish_ranking, board, NOW, "staff")
    assert uow.types() == [ev.RANKING_PUBLISHED]
    data = uow.emitted[0]["data"]
    assert data["ranking_id"] == doc["_id"] and data["period"] == MONTH
    assert data["entries"] == [{"rank": 1, "subject_id": "u1",
                                "name": "市发改委",
                                "total": board["entries"][0]["total"],
                                "grade": board["entries"][0]["grade"]}]
    assert repo.rankings[doc["_id"]]["published_by"] == "staff"


# -- the branch ladder ---------------------------------------------------------

STRONG = {"meeting_attended": 10, "meeting_expected": 10, "theme_days": 1,
          "study_sessions": 2, "kpi_sum": 100.0, "kpi_count": 1,
          "activity_count": 4, "demand_count": 2, "demand_resolved": 2,
          "demand_resolved_on_time": 2, "demand_responded_on_time": 2,
          "campaign_activity_count": 2, "rating_count": 2, "rating_sum": 10,
          "good_count": 2, "bad_count": 0, "rectified_count": 0}


def test_a_rung_change_is_stored_and_emits_branch_rung_changed():
    scores = scoring_repo()
    scoring_steps.ensure_default_scheme(scores, NOW)
    scheme = scores.get_scheme(1)
    scores.write_cards([cards.monthly_card(("branch", "b1", MONTH),
                                           dict(STRONG), 20, scheme)])
    repo = FakeLadderRepository(scores)
    uow = uow_with(repo)
    changes = uow.run(ladder_steps.evaluate_ladder, MONTH, NOW)
    assert uow.types() == [ev.BRANCH_RUNG_CHANGED]
    data = uow.emitted[0]["data"]
    # one branch: the 15% quota of 优秀 leaves it none, so 良好, which the
    # model rung does not accept
    assert (data["branch_id"], data["from"], data["to"]) == (
        "b1", None, "demonstration")
    assert data["to_label"] == "示范党支部" and data["from_label"] == "未定级"
    assert [c["branch_id"] for c in changes] == ["b1"]
    assert repo.branches["b1"]["rung"] == "demonstration"
    assert len(repo.branches["b1"]["history"]) == 1
    # evaluated again: no change, no event
    assert uow.run(ladder_steps.evaluate_ladder, MONTH, NOW) == []
    assert len(uow.emitted) == 1
    branch = ladder_steps.get_branch(repo, "b1")
    assert branch["name"] == "第一支部" and branch["rung_label"] == "示范党支部"


def test_a_branch_known_only_to_the_directory_has_no_rung():
    repo = FakeLadderRepository(scoring_repo())
    branch = ladder_steps.get_branch(repo, "b1")
    assert branch["rung"] is None and branch["rung_label"] == "未定级"


# -- queries -------------------------------------------------------------------

def test_a_member_scorecard_lists_the_contributions_behind_it():
    repo = scoring_repo()
    uow_with(repo).run(scoring_steps.add_activities,
                       [(activity("e1"), MONTH)], NOW)
    card = queries.member_scorecard(repo, "m1")
    assert card["activity_count"] == 1
    assert [c["event_id"] for c in card["periods"][0]["contributions"]] == [
        "e1"]
