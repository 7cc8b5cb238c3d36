"""What the results that are used (考核结果运用) are made from: the boards
of a period, the 述职评议 entries, a subject's year. Reads only, given a
``ReportsRepository``; ``reports/domain.py`` turns them into files and
charts."""

from services.assessment.domain import SUBJECT_TYPES, months_of
from services.assessment.ladder.domain import rung_label
from services.assessment.ranking.steps import ranking
from services.assessment.scoring.cards import card_ids
from services.assessment.scoring.queries import period_cards


def boards(reports, period, subject_types=SUBJECT_TYPES):
    """The ranking board of each subject type for a period."""
    return [ranking(reports.scoring, t, period) for t in subject_types]


def secretary_reviews(reports, period, boards):
    """One 述职评议 entry per branch: the branch card, its rank and grade,
    its rung, and the secretary's own card when known."""
    scores, directory = reports.scoring, reports.directory
    by_type = {b["subject_type"]: b for b in boards}
    branch_board = by_type.get("branch") or ranking(scores, "branch", period)
    member_board = by_type.get("member") or ranking(scores, "member", period)
    members = {e["subject_id"]: e for e in member_board["entries"]}
    cards = {c["subject_id"]: c for c in period_cards(scores, "branch",
                                                      period)}
    reviews = []
    for entry in branch_board["entries"]:
        branch_id = entry["subject_id"]
        info = directory.entry("branch", branch_id) or {}
        secretary_id = info.get("secretary_id") or info.get(
            "secretary_member_id")
        secretary = directory.entry("member", secretary_id) or {}
        rung = (reports.ladder.branch(branch_id) or {}).get("rung")
        reviews.append({
            "branch_id": branch_id, "branch_name": entry["name"],
            "secretary_id": secretary_id,
            "secretary_name": secretary.get("name") or info.get(
                "secretary_name") or "未登记",
            "period": period, "card": cards[branch_id],
            "rank": entry["rank"], "grade": entry["grade"],
            "rung_label": rung_label(rung),
            "secretary_card": members.get(secretary_id)})
    return reviews


def trend(reports, subject_type, subject_id, year):
    """(name, [(month, card or None)]) of a subject over a year."""
    months = months_of(year)
    cards = {c["period"]: c for c in reports.scoring.cards(
        card_ids(subject_type, subject_id, months))}
    entry = reports.directory.entry(subject_type, subject_id) or {}
    return (entry.get("name") or subject_id,
            [(m, cards.get(m)) for m in months])
