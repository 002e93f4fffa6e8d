"""eval/rubric_quality.py's splits of the gap between built and curated rubrics: the curated bank
graded without its known wrong claims, and how often each keyword group is found by good and by
wrong answers."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "eval"))

from rubric_quality import curated_without_misconceptions, group_hits, hit_rates  # noqa: E402

from grader.banks import load_bank  # noqa: E402


def test_curated_without_misconceptions_keeps_everything_else(tmp_path):
    curated = load_bank("llm-interview")
    assert any(p.misconceptions for q in curated.questions.values() for p in q.rubric.points)
    bare = load_bank(curated_without_misconceptions(tmp_path / "bare"))
    assert set(bare.questions) == set(curated.questions)
    for qid, q in curated.questions.items():
        b = bare.questions[qid]
        assert b.reference_answer == q.reference_answer
        assert [p.misconceptions for p in b.rubric.points] == [[] for _ in q.rubric.points]
        assert [(p.id, p.weight, p.keywords, p.opposites) for p in b.rubric.points] == [
            (p.id, p.weight, p.keywords, p.opposites) for p in q.rubric.points]
        assert (b.rubric.partial_from, b.rubric.full_marks_at, b.rubric.calibration) == (
            q.rubric.partial_from, q.rubric.full_marks_at, q.rubric.calibration)


def _bank(tmp_path: Path) -> Path:
    d = tmp_path / "tiny"
    d.mkdir()
    (d / "bank.yaml").write_text("name: tiny\ntitle: tiny\nlanguage: zh\n", encoding="utf-8")
    (d / "q1.yaml").write_text(
        "id: '1'\nquestion: 什么是 MQA？\nreference_answer: 所有头共享一组 KV，显存更小。\nrubric:\n  points:\n"
        "    - id: shared\n      text: 所有头共享一组 KV，显存更小\n      keywords:\n"
        "        - [共享一组, share one]\n        - [显存, memory]\n      source: 所有头共享一组 KV，显存更小。\n",
        encoding="utf-8",
    )
    return d


def test_group_hits_counts_each_group_on_its_own(tmp_path):
    rows = [
        {"question_id": "1", "kind": "excellent", "answer": "MQA 让所有头共享一组 K 和 V。"},
        {"question_id": "1", "kind": "english", "answer": "All heads share one key and value head."},
        {"question_id": "1", "kind": "negated_reference", "answer": "每个头不共享一组 KV，显存更大。"},
        {"question_id": "1", "kind": "partial", "answer": "显存。"},  # neither good nor wrong: not counted
        {"question_id": "2", "kind": "excellent", "answer": "显存"},  # a question the bank lacks
    ]
    hits = group_hits(_bank(tmp_path), rows)
    assert hits[("1", "shared", 0)] == {"good": [2, 2], "wrong": [0, 1]}  # negated: not found with its polarity
    assert hits[("1", "shared", 1)] == {"good": [0, 2], "wrong": [1, 1]}
    assert hit_rates(hits) == {"good": 0.5, "wrong": 0.5}
