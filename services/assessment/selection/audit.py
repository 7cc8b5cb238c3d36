"""The campaign audit trail (评选全过程留痕): an append-only, hash-chained log.

Each entry is ``{campaign_id, seq, kind, at, data, prev_hash, hash}`` with
``hash = SHA-256(canonical JSON of every other field)`` and ``prev_hash`` the
hash of the entry before it (``GENESIS`` for the first). The campaign
document keeps the chain head (last ``seq`` and ``hash``), so a removed last
entry is detected too. ``verify_chain`` finds altered, removed and reordered
entries; ``repository.verify_stored`` checks a stored campaign, and so does
the command line ``python -m tooling.verify_audit verify --campaign ID``.
"""

from services.assessment.selection.domain import sha256_hex

GENESIS = "0" * 64

# Entry kinds: one per campaign step.
PLAN_PUBLISHED = "plan.published"
NOMINATION_ADDED = "nomination.added"
RECOMMENDATION_RECEIVED = "recommendation.received"
POOL_CHANGED = "pool.changed"
POOL_SNAPSHOT = "pool.snapshot"
COMMITMENT_PUBLISHED = "commitment.published"
COMMITMENT_INVALIDATED = "commitment.invalidated"
PANEL_DRAWN = "panel.drawn"
SEED_REVEALED = "seed.revealed"
JUDGE_REPLACED = "judge.replaced"
SCORE_RECORDED = "score.recorded"
SCORES_AGGREGATED = "scores.aggregated"
PUBLICITY_OPENED = "publicity.opened"
OBJECTION_FILED = "objection.filed"
OBJECTION_ANSWERED = "objection.answered"
LIST_FINALISED = "list.finalised"


def entry_hash(entry):
    """The hash of an entry: every field except ``hash`` and ``_id``."""
    return sha256_hex({key: entry[key] for key in
                       ("campaign_id", "seq", "kind", "at", "data",
                        "prev_hash")})


def make_entry(campaign_id, head, kind, data, at):
    """The next entry after ``head`` ({seq, hash} or None)."""
    seq = head["seq"] + 1 if head else 1
    entry = {"campaign_id": campaign_id, "seq": seq, "kind": kind,
             "at": at.isoformat(), "data": data,
             "prev_hash": head["hash"] if head else GENESIS}
    entry["hash"] = entry_hash(entry)
    return entry


def verify_chain(entries, head=None):
    """Problems found in ``entries`` (in stored order by ``seq``).

    Each problem is {seq, problem} with problem one of ``altered`` (the
    entry's hash does not match its content), ``broken_link`` (its
    ``prev_hash`` is not the previous entry's hash: an entry was removed,
    inserted or reordered), ``gap`` (a sequence number is missing),
    ``head_mismatch`` (the log does not end at the recorded head).
    """
    problems = []
    prev_hash, expected_seq = GENESIS, 1
    for entry in entries:
        if entry.get("seq") != expected_seq:
            problems.append({"seq": entry.get("seq"), "problem": "gap",
                             "expected": expected_seq})
        if entry_hash(entry) != entry.get("hash"):
            problems.append({"seq": entry.get("seq"), "problem": "altered"})
        if entry.get("prev_hash") != prev_hash:
            problems.append({"seq": entry.get("seq"),
                             "problem": "broken_link"})
        prev_hash = entry.get("hash")
        expected_seq = (entry.get("seq") or expected_seq) + 1
    if head is not None:
        last = entries[-1] if entries else None
        if (not last or last.get("seq") != head["seq"]
                or last.get("hash") != head["hash"]):
            problems.append({"seq": head["seq"], "problem": "head_mismatch"})
    return problems


PROBLEM_TEXT = {"altered": "内容被修改", "broken_link": "链接断裂（条目被删除、插入或调换顺序）",
                "gap": "序号缺失", "head_mismatch": "与记录的链头不一致（末尾条目被删除或替换）"}


def describe(problems):
    return "；".join(f"第 {p['seq']} 条：{PROBLEM_TEXT[p['problem']]}"
                    for p in problems)
