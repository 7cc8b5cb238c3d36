#!/usr/bin/env python3
"""复核评选组随机抽取 (re-compute a selection panel draw).

Anyone can run this with a plain Python 3 (standard library only, no
project code) on the draw a campaign publishes after revealing its seed::

    curl -o draw.json http://HOST:8002/api/v1/selections/<id>/draw/export
    python3 scripts/verify_panel.py draw.json
    # or directly: python3 scripts/verify_panel.py http://HOST:8002/api/v1/selections/<id>/draw/export

It checks that
1. SHA-256 over the canonical JSON of {algorithm, campaign_id, round, pool,
   strata, candidates, seed} equals the commitment published before the
   draw (so neither the pool, the strata, the candidates nor the seed were
   changed afterwards);
2. the algorithm below, run on those inputs, gives exactly the published
   panel;
3. every replacement of an absent judge is the next reserve of the same
   category in the same seeded order.

Algorithm ``sifuwu-panel-v1`` (see docs/selection.md): for each category of
the strata, in sorted order, take the pool members of that category who are
not from any candidate's unit and have no declared relation to any
candidate; sort them by SHA-256("<seed>|<round>|<category>|<evaluator_id>")
in hex (ties by id); the first N sit, the rest are reserves in that order.

Exit status: 0 when everything checks out, 1 when not, 2 on bad input.
"""

import hashlib
import json
import sys
import urllib.request

ALGORITHM = "sifuwu-panel-v1"
COMMITTED_KEYS = ("algorithm", "campaign_id", "round", "pool", "strata",
                  "candidates", "seed")


def canonical_json(value):
    return json.dumps(value, sort_keys=True, ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8")


def commitment(published):
    return hashlib.sha256(canonical_json(
        {key: published[key] for key in COMMITTED_KEYS})).hexdigest()


def order_key(seed, round_no, category, evaluator_id):
    text = f"{seed}|{round_no}|{category}|{evaluator_id}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def draw(published):
    """(panel [(evaluator_id, category)], reserves {category: [ids]})."""
    seed, round_no = published["seed"], published["round"]
    units = {c["unit_id"] for c in published["candidates"]}
    ids = {c["candidate_id"] for c in published["candidates"]}
    panel, reserves = [], {}
    for category in sorted(published["strata"]):
        need = published["strata"][category]
        eligible = [e["evaluator_id"] for e in published["pool"]
                    if e["category"] == category
                    and e["unit_id"] not in units
                    and not set(e.get("relations") or []) & ids]
        if len(eligible) < need:
            raise SystemExit(f"类别 {category} 可抽取人数不足：{len(eligible)} < {need}")
        ordered = sorted(eligible, key=lambda eid: (
            order_key(seed, round_no, category, eid), eid))
        panel.extend((eid, category) for eid in ordered[:need])
        reserves[category] = ordered[need:]
    return panel, reserves


def check(published):
    """A list of problems, empty when the published draw checks out."""
    problems = []
    if published.get("algorithm") != ALGORITHM:
        problems.append(f"算法不是 {ALGORITHM}，本脚本无法复核")
        return problems
    if not published.get("seed"):
        problems.append("随机种子尚未公布")
        return problems
    digest = commitment(published)
    if digest != published.get("commitment"):
        problems.append(f"承诺值不一致：重算 {digest}，公布 "
                        f"{published.get('commitment')}")
    panel, reserves = draw(published)
    claimed = [(p["evaluator_id"], p["category"])
               for p in published.get("panel", [])]
    if panel != claimed:
        problems.append("评选组不一致：重算为 "
                        + "、".join(eid for eid, _ in panel) + "；公布为 "
                        + "、".join(eid for eid, _ in claimed))
    used = {eid for eid, _ in panel}
    for item in published.get("replacements", []):
        used.add(item["absent"])
        expected = next((eid for eid in reserves.get(item["category"], [])
                         if eid not in used), None)
        if item["replacement"] != expected:
            problems.append(f"递补不一致：{item['absent']} 应由 {expected} "
                            f"递补，公布为 {item['replacement']}")
        used.add(item["replacement"])
    return problems


def load(source):
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=30) as response:
            return json.loads(response.read().decode("utf-8"))
    with open(source, encoding="utf-8") as handle:
        return json.load(handle)


def main(argv):
    if len(argv) != 2:
        print("用法：python3 scripts/verify_panel.py <draw.json 或导出地址>")
        return 2
    try:
        published = load(argv[1])
    except (OSError, ValueError) as exc:
        print(f"无法读取复核数据：{exc}")
        return 2
    problems = check(published)
    if problems:
        print("复核未通过：")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    panel, _ = draw(published)
    print(f"复核通过：评选活动 {published['campaign_id']} 第 "
          f"{published['round']} 轮，承诺值 {published['commitment']}")
    print("评选组：" + "、".join(f"{eid}（{cat}）" for eid, cat in panel))
    for item in published.get("replacements", []):
        print(f"递补：{item['absent']} → {item['replacement']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
