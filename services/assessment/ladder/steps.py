"""The steps of the branch ladder (支部阶梯): evaluating a period (in a
unit of work whose ``uow.repo`` is a ``LadderRepository``) and showing a
branch."""

from sifuwu import events as ev
from sifuwu.errors import NotFound
from services.assessment.domain import months_of
from services.assessment.ladder import domain
from services.assessment.ranking.steps import ranking
from services.assessment.scoring.queries import period_cards
from services.assessment.scoring.steps import scheme_for_month


def evaluate_ladder(uow, period, now):
    """Place every branch assessed in the period on the ladder; record and
    announce each change with its reason."""
    scores = uow.repo.scoring
    scheme = scheme_for_month(scores, months_of(period)[0])
    listed = period_cards(scores, "branch", period, scheme=scheme)
    cards = {c["subject_id"]: c for c in listed}
    board = ranking(scores, "branch", period, cards=listed, scheme=scheme)
    rungs = uow.repo.rungs(cards)
    moves = domain.rung_moves(board["entries"], cards, rungs, scheme, period,
                              now)
    for branch_id, change in moves:
        uow.emit(ev.BRANCH_RUNG_CHANGED,
                 domain.rung_changed_event(branch_id, change))
    if moves:
        uow.repo.move([(branch_id, domain.branch_fields(change, now), change)
                       for branch_id, change in moves])
    return [dict(change, branch_id=branch_id) for branch_id, change in moves]


def get_branch(ladder, branch_id):
    """A branch's rung and history (``ladder``: a ``LadderRepository``),
    named from the directory; one known only to the directory has none."""
    branch = ladder.branch(branch_id)
    if branch is None:
        entry = ladder.directory.entry("branch", branch_id)
        if entry is None:
            raise NotFound("未找到该党支部")
        branch = {"_id": branch_id, "rung": None, "history": []}
    entry = ladder.directory.entry("branch", branch_id) or {}
    return dict(branch, name=entry.get("name"),
                rung_label=domain.rung_label(branch.get("rung")))
