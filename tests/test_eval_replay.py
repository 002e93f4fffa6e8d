"""The record-and-replay harness (eval/replay.py) keeps working: recorded replies of the judge are
served to the real grader over HTTP, and a request with no recorded reply is recorded, not guessed.

If a test here fails after a prompt change, the recorded replies no longer match what the grader
sends: re-record them (eval/data/judge/MANIFEST.md says how), which is the cost of a prompt change.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "eval"))

from replay import ReplayServer, load_recorded, request_key  # noqa: E402

from grader.pipeline import Grader  # noqa: E402
from grader.settings import Settings  # noqa: E402

DEV = ROOT / "eval" / "data" / "dev.jsonl"
SUBSET = ["dev-q1-02", "dev-q4-04", "dev-q6-05", "dev-q10-04", "dev-q13-06"]


@pytest.fixture(autouse=True)
def _judge(fast_judge):
    yield


def settings(server: ReplayServer, tmp_path: Path) -> Settings:
    return Settings(model="recorded", base_url=server.url, api_key="replay", timeout=5.0, max_retries=0,
                    use_cache=False, cache_path=tmp_path / "cache.sqlite3")


def dev_rows(ids: list[str]) -> list[dict]:
    rows = {r["id"]: r for r in map(json.loads, DEV.read_text(encoding="utf-8").splitlines())}
    return [rows[i] for i in ids]


def test_recorded_replies_are_served_to_the_grader(tmp_path):
    server = ReplayServer(pending=tmp_path / "pending").start()
    try:
        grader = Grader(settings(server, tmp_path))
        for row in dev_rows(SUBSET):
            r = grader.grade(row["question_id"], row["answer"], mode="llm")
            assert "llm_fallback" not in r.flags, (row["id"], r.flags)
            assert r.usage.llm_calls == 1 and all(p.method == "llm" for p in r.points)
        assert server.hits == len(SUBSET) and not server.misses
    finally:
        server.stop()


def test_a_request_without_a_reply_is_recorded_and_flagged(tmp_path):
    server = ReplayServer(replies={}, pending=tmp_path / "pending").start()
    try:
        r = Grader(settings(server, tmp_path)).grade("4", "MQA 让所有 query 头共享一组 K/V。", mode="llm")
    finally:
        server.stop()
    assert "llm_fallback" in r.flags and r.usage.llm_calls == 0
    (pending,) = (tmp_path / "pending").glob("*.json")
    record = json.loads(pending.read_text(encoding="utf-8"))
    assert record["key"] == pending.stem == request_key(record["messages"])
    assert "MQA 让所有 query 头共享一组 K/V。" in record["messages"][-1]["content"]


def test_recorded_files_are_well_formed():
    replies = load_recorded()
    assert len(replies) >= 500
    for text in replies.values():
        assert isinstance(json.loads(text)["points"], list)
