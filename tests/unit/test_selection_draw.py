"""The verifiable stratified draw: exclusions, commitment, re-computation,
replacements, and a changed pool."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from services.assessment.selection import draw
from sifuwu.errors import Conflict, DomainError

ROOT = Path(__file__).resolve().parents[2]

SEED = "5eed" * 16


def pool():
    people = []
    for i in range(6):
        people.append({"evaluator_id": f"exp{i}", "category": "expert",
                       "unit_id": f"uni{i}", "relations": []})
    for i in range(8):
        people.append({"evaluator_id": f"rec{i}", "category": "recipient",
                       "unit_id": f"ent{i}", "relations": []})
    people.append({"evaluator_id": "dep0", "category": "people_deputy",
                   "unit_id": "npc", "relations": []})
    people.append({"evaluator_id": "dep1", "category": "people_deputy",
                   "unit_id": "u-fgw", "relations": []})
    people.append({"evaluator_id": "dep2", "category": "people_deputy",
                   "unit_id": "cppcc", "relations": ["cand-b"]})
    people.append({"evaluator_id": "dep3", "category": "people_deputy",
                   "unit_id": "npc2", "relations": []})
    return people


CANDIDATES = [{"candidate_id": "cand-a", "unit_id": "u-fgw"},
              {"candidate_id": "cand-b", "unit_id": "u-sw"}]
STRATA = {"expert": 2, "recipient": 3, "people_deputy": 2}


def draw_in(seed=SEED, people=None, strata=STRATA):
    return draw.draw_input("camp1", 1, draw.pool_snapshot(people or pool()),
                           strata, draw.candidates_snapshot(CANDIDATES),
                           seed)


def test_draw_is_stratified_and_excludes_units_and_relations():
    result = draw.draw_panel(draw_in())
    cats = [p["category"] for p in result["panel"]]
    assert sorted(cats) == sorted(["expert"] * 2 + ["recipient"] * 3
                                  + ["people_deputy"] * 2)
    ids = {p["evaluator_id"] for p in result["panel"]}
    assert "dep1" not in ids and "dep2" not in ids
    assert {"dep0", "dep3"} <= ids
    assert result["excluded"] == {"dep1": "same_unit",
                                  "dep2": "declared_relation"}
    assert result["reserves"]["people_deputy"] == []
    assert len(result["reserves"]["recipient"]) == 5


def test_same_seed_same_panel_other_seed_other_order():
    a = draw.draw_panel(draw_in())
    assert draw.draw_panel(draw_in()) == a
    orders = {tuple(draw.draw_panel(draw_in(seed=f"s{i}"))["reserves"]
                    ["recipient"]) for i in range(6)}
    assert len(orders) > 1


def test_pool_order_does_not_matter():
    shuffled = list(reversed(pool()))
    assert draw.draw_panel(draw_in(people=shuffled)) == \
        draw.draw_panel(draw_in())


def test_too_small_stratum_is_refused_naming_the_category():
    with pytest.raises(DomainError) as err:
        draw.draw_panel(draw_in(strata={"people_deputy": 3}))
    assert err.value.code == "pool_too_small"
    assert err.value.fields["category"] == "people_deputy"


def test_commitment_binds_pool_strata_candidates_and_seed():
    base = draw.commitment(draw_in())
    assert len(base) == 64
    assert draw.commitment(draw_in()) == base
    changed = pool()
    changed[0]["unit_id"] = "elsewhere"
    assert draw.commitment(draw_in(people=changed)) != base
    assert draw.commitment(draw_in(seed="other")) != base
    assert draw.commitment(draw_in(strata={"expert": 1})) != base


def test_recomputation_from_published_pool_and_seed():
    data = draw_in()
    published = draw.draw_panel(data)["panel"]
    assert draw.verify_draw(data, draw.commitment(data), published) == []
    forged = list(reversed(published))
    assert draw.verify_draw(data, draw.commitment(data), forged) == [
        "panel_mismatch"]
    assert draw.verify_draw(data, "0" * 64, published) == [
        "commitment_mismatch"]


def test_changing_the_pool_after_commitment_invalidates_the_draw():
    committed = draw_in()["pool"]
    draw.check_pool_unchanged(committed, draw.pool_snapshot(pool()))
    changed = pool() + [{"evaluator_id": "exp9", "category": "expert",
                         "unit_id": "x", "relations": []}]
    with pytest.raises(Conflict) as err:
        draw.check_pool_unchanged(committed, draw.pool_snapshot(changed))
    assert err.value.code == "pool_changed"


def test_replacements_follow_the_seeded_order():
    result = draw.draw_panel(draw_in())
    seated = [p["evaluator_id"] for p in result["panel"]]
    absent = next(p["evaluator_id"] for p in result["panel"]
                  if p["category"] == "recipient")
    first = draw.replacement(result, seated, absent, "recipient")
    assert first == result["reserves"]["recipient"][0]
    second_absent = first
    second = draw.replacement(result, seated + [first], second_absent,
                              "recipient")
    assert second == result["reserves"]["recipient"][1]
    with pytest.raises(DomainError) as err:
        draw.replacement(result, seated, "dep0", "people_deputy")
    assert err.value.code == "no_replacement"


def test_verify_script_reproduces_the_panel(tmp_path):
    """The standard-library script agrees with the service's algorithm."""
    data = draw_in()
    result = draw.draw_panel(data)
    seated = [p["evaluator_id"] for p in result["panel"]]
    absent = next(p["evaluator_id"] for p in result["panel"]
                  if p["category"] == "expert")
    export = dict(data, commitment=draw.commitment(data),
                  panel=result["panel"],
                  replacements=[{"absent": absent, "category": "expert",
                                 "replacement": draw.replacement(
                                     result, seated, absent, "expert")}])
    path = tmp_path / "draw.json"
    path.write_text(json.dumps(export, ensure_ascii=False), encoding="utf-8")
    script = str(ROOT / "scripts" / "verify_panel.py")
    ok = subprocess.run([sys.executable, "-I", script, str(path)],
                        capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "复核通过" in ok.stdout

    export["panel"][0], export["panel"][1] = (export["panel"][1],
                                              export["panel"][0])
    export["panel"][0] = dict(export["panel"][0], evaluator_id="exp5")
    path.write_text(json.dumps(export, ensure_ascii=False), encoding="utf-8")
    bad = subprocess.run([sys.executable, "-I", script, str(path)],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 1
    assert "评选组不一致" in bad.stdout
