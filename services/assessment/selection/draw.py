"""The verifiable random panel draw (随机组成评选组).

Before the draw the campaign publishes a commitment: SHA-256 over the
canonical JSON of the draw input (algorithm, campaign, round, pool snapshot,
strata, candidates and a secret seed). After the draw it reveals the seed;
anyone can recompute the panel with ``scripts/verify_panel.py`` (standard
library only), which re-implements ``draw_panel`` below. Keep them in step:
a change of algorithm needs a new ``ALGORITHM`` name.
"""

import hashlib

from sifuwu.errors import Conflict, DomainError
from services.assessment.selection.domain import sha256_hex

ALGORITHM = "sifuwu-panel-v1"


# -- the evaluator pool, the commitment and the draw -----------------------

def pool_snapshot(evaluators):
    """The public, canonical pool: what the draw depends on, no names."""
    return sorted(
        ({"evaluator_id": e["evaluator_id"], "category": e["category"],
          "unit_id": e["unit_id"],
          "relations": sorted(set(e.get("relations") or []))}
         for e in evaluators),
        key=lambda e: e["evaluator_id"])


def candidates_snapshot(candidates):
    return sorted(({"candidate_id": c["candidate_id"],
                    "unit_id": c["unit_id"]} for c in candidates),
                  key=lambda c: c["candidate_id"])


def draw_input(campaign_id, round_no, pool, strata, candidates, seed):
    """Everything the commitment binds and the draw depends on."""
    return {"algorithm": ALGORITHM, "campaign_id": campaign_id,
            "round": round_no, "pool": pool,
            "strata": {k: int(v) for k, v in strata.items()},
            "candidates": candidates, "seed": seed}


def commitment(draw_in):
    """SHA-256 over the canonical JSON of the draw input (seed included)."""
    return sha256_hex(draw_in)


def order_key(seed, round_no, category, evaluator_id):
    """The seeded ordering: SHA-256 of ``seed|round|category|evaluator``."""
    text = f"{seed}|{round_no}|{category}|{evaluator_id}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def excluded(evaluator, candidates):
    """Why ``evaluator`` may not judge these candidates, or None."""
    units = {c["unit_id"] for c in candidates}
    ids = {c["candidate_id"] for c in candidates}
    if evaluator["unit_id"] in units:
        return "same_unit"
    if set(evaluator.get("relations") or []) & ids:
        return "declared_relation"
    return None


def draw_panel(draw_in):
    """Stratified seeded draw.

    For each category (sorted), the eligible evaluators (not from any
    candidate's unit, no declared relation to any candidate) are ordered by
    ``order_key``; the first ``n`` sit, the rest are replacements in that
    order. Returns {"panel": [...], "reserves": {category: [...]},
    "excluded": {evaluator_id: reason}}.
    """
    seed, round_no = draw_in["seed"], draw_in["round"]
    candidates = draw_in["candidates"]
    panel, reserves, excluded_ids = [], {}, {}
    for category in sorted(draw_in["strata"]):
        need = draw_in["strata"][category]
        eligible = []
        for evaluator in draw_in["pool"]:
            if evaluator["category"] != category:
                continue
            reason = excluded(evaluator, candidates)
            if reason:
                excluded_ids[evaluator["evaluator_id"]] = reason
            else:
                eligible.append(evaluator["evaluator_id"])
        if len(eligible) < need:
            raise DomainError(
                f"类别“{category}”可抽取人数 {len(eligible)} 少于所需 {need}"
                "（已排除候选对象所在单位及声明关联人员）",
                code="pool_too_small", status=422,
                fields={"category": category, "eligible": len(eligible),
                        "needed": need})
        ordered = sorted(eligible, key=lambda eid: (
            order_key(seed, round_no, category, eid), eid))
        panel.extend({"evaluator_id": eid, "category": category}
                     for eid in ordered[:need])
        reserves[category] = ordered[need:]
    return {"panel": panel, "reserves": reserves, "excluded": excluded_ids}


def check_pool_unchanged(committed_pool, current_pool):
    """Changing the pool after the commitment invalidates the draw."""
    if sha256_hex(committed_pool) != sha256_hex(current_pool):
        raise Conflict("承诺公布后评选人员名单库已变更，本次抽取无效，须重新公布承诺",
                       code="pool_changed")


def verify_draw(draw_in, published_commitment, published_panel):
    """Recompute from the published pool, strata and revealed seed.

    Returns a list of problems (empty when the draw checks out).
    """
    problems = []
    if commitment(draw_in) != published_commitment:
        problems.append("commitment_mismatch")
    recomputed = [p["evaluator_id"] for p in draw_panel(draw_in)["panel"]]
    if recomputed != [p["evaluator_id"] for p in published_panel]:
        problems.append("panel_mismatch")
    return problems


def replacement(draw_result, seated, absent_id, category):
    """The next reserve of ``category`` in seeded order not yet used."""
    used = set(seated) | {absent_id}
    for eid in draw_result["reserves"].get(category, []):
        if eid not in used:
            return eid
    raise DomainError(f"类别“{category}”已无可递补的评选人员",
                      code="no_replacement", status=422)
