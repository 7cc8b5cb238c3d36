"""The hash-chained audit trail detects altered, removed and reordered
entries."""

import datetime as dt

from services.assessment.selection import audit

T0 = dt.datetime(2026, 9, 1, 9, 0, tzinfo=dt.timezone.utc)


def chain(n=5):
    entries, head = [], None
    for i in range(n):
        entry = audit.make_entry("c1", head, "score.recorded",
                                 {"score": 80 + i, "candidate_id": f"x{i}"},
                                 T0 + dt.timedelta(minutes=i))
        entries.append(entry)
        head = {"seq": entry["seq"], "hash": entry["hash"]}
    return entries, head


def problems(entries, head):
    return {(p["seq"], p["problem"])
            for p in audit.verify_chain(entries, head)}


def test_intact_chain_verifies():
    entries, head = chain()
    assert entries[0]["prev_hash"] == audit.GENESIS
    assert entries[1]["prev_hash"] == entries[0]["hash"]
    assert audit.verify_chain(entries, head) == []


def test_altered_entry_is_detected():
    entries, head = chain()
    entries[2]["data"]["score"] = 100
    assert problems(entries, head) == {(3, "altered")}


def test_altered_and_rehashed_entry_breaks_the_next_link():
    entries, head = chain()
    entries[2]["data"]["score"] = 100
    entries[2]["hash"] = audit.entry_hash(entries[2])
    assert problems(entries, head) == {(4, "broken_link")}


def test_removed_entry_is_detected():
    entries, head = chain()
    del entries[1]
    assert problems(entries, head) == {(3, "gap"), (3, "broken_link")}


def test_removed_last_entry_is_detected_by_the_head():
    entries, head = chain()
    entries.pop()
    assert problems(entries, head) == {(5, "head_mismatch")}


def test_reordered_entries_are_detected():
    entries, head = chain()
    entries[1], entries[2] = entries[2], entries[1]
    found = problems(entries, head)
    assert (3, "gap") in found and (3, "broken_link") in found
    # Swapping sequence numbers too breaks the hashes.
    entries, head = chain()
    entries[1]["seq"], entries[2]["seq"] = 3, 2
    entries[1], entries[2] = entries[2], entries[1]
    assert {p for _, p in problems(entries, head)} >= {"altered"}


def test_describe_is_zh_cn():
    entries, head = chain()
    entries[0]["kind"] = "x"
    text = audit.describe(audit.verify_chain(entries, head))
    assert "第 1 条" in text and "内容被修改" in text
