"""Running sums (issue 10): what a contribution change does to each card it
feeds, as plain data (``cards.CardChanges``)."""

from services.assessment.scoring import domain as scoring
from services.assessment.scoring.cards import CardChanges

MONTH = "2026-11"


def activity(cid, member="m1", branch="b1", unit="u1", campaign=None):
    return {"_id": cid, "kind": "activity", "members": [member],
            "branch_id": branch, "unit_id": unit, "month": MONTH,
            "figures": scoring.activity_figures({"campaign_id": campaign})}


def test_a_new_contribution_adds_its_figures_to_every_card_it_feeds():
    changes = CardChanges()
    changes.replace(None, activity("a1"))
    changes.replace(None, activity("a2", member="m2", campaign="c"))
    assert changes.keys() == [("branch", "b1", MONTH), ("member", "m1", MONTH),
                              ("member", "m2", MONTH), ("unit", "u1", MONTH)]
    assert changes.sums[("unit", "u1", MONTH)] == {
        "activity_count": 2, "campaign_activity_count": 1}
    assert changes.counts[("unit", "u1", MONTH)] == 2
    assert changes.sums[("member", "m1", MONTH)] == {"activity_count": 1}


def test_a_changed_contribution_adds_new_minus_old_and_moves_cards():
    raised = {"_id": "demand:d1", "kind": "demand", "members": ["m1"],
              "branch_id": None, "unit_id": "u1", "month": MONTH,
              "figures": scoring.demand_figures({"status": "raised"})}
    resolved = dict(raised, members=["m2"], branch_id="b2",
                    figures=scoring.demand_figures({
                        "status": "resolved", "on_time_resolution": True}))
    changes = CardChanges().replace(raised, resolved)
    # the unit keeps the demand: only the resolution is added
    assert changes.counts[("unit", "u1", MONTH)] == 0
    assert changes.sums[("unit", "u1", MONTH)]["demand_count"] == 0
    assert changes.sums[("unit", "u1", MONTH)]["demand_resolved"] == 1
    # it moved from m1 to m2, and now feeds branch b2
    assert changes.counts[("member", "m1", MONTH)] == -1
    assert changes.sums[("member", "m1", MONTH)]["demand_count"] == -1
    assert changes.counts[("member", "m2", MONTH)] == 1
    assert changes.sums[("branch", "b2", MONTH)]["demand_resolved_on_time"] \
        == 1


def test_an_excluded_rating_takes_its_figures_away():
    rating = {"_id": "rating:r1", "kind": "rating", "members": ["m1"],
              "branch_id": "b1", "unit_id": "u1", "month": MONTH,
              "excluded": False, "figures": scoring.rating_figures(1)}
    changes = CardChanges().replace(rating, dict(rating, excluded=True))
    assert changes.sums[("member", "m1", MONTH)] == {
        "rating_count": -1, "rating_sum": -1, "good_count": 0,
        "bad_count": -1, "rectified_count": 0}
    assert changes.counts[("member", "m1", MONTH)] == 0


def test_party_activity_counts_per_member_and_per_branch():
    meeting = {"_id": "party:p1", "kind": "party_activity",
               "activity_kind": "three_meetings_one_lesson",
               "attendees": ["m1"], "expected": ["m1", "m2"],
               "members": ["m1", "m2"], "branch_id": "b1", "unit_id": "u1",
               "month": MONTH}
    changes = CardChanges().replace(None, meeting)
    assert changes.sums[("member", "m2", MONTH)] == {
        "meeting_attended": 0, "meeting_expected": 1}
    assert changes.sums[("branch", "b1", MONTH)] == {
        "meeting_attended": 1, "meeting_expected": 2}


def test_changes_add_up_to_the_final_contributions():
    changes = CardChanges()
    first = activity("a1", branch=None, unit=None)
    changes.replace(None, first)
    # the member's directory entry arrives: branch, then unit filled in
    with_branch = dict(first, branch_id="b1")
    changes.replace(first, with_branch)
    changes.replace(with_branch, dict(with_branch, unit_id="u1"))
    for key in (("member", "m1", MONTH), ("branch", "b1", MONTH),
                ("unit", "u1", MONTH)):
        assert changes.sums[key] == {"activity_count": 1}
        assert changes.counts[key] == 1
