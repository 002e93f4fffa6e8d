"""Graded examples for the judge: few-shot grading from answers a person already scored.

Given a labelled JSONL file (the rows `grader eval` reads: id, question_id or reference_answer,
answer, score[, max_score]), the judge's prompt for an answer carries the k graded answers to the
same question that are most like it (rapidfuzz token_set_ratio on normalised text), with their
scores on 0-10 (prompts/judge_examples.md, placed before the question). An example whose answer is
the answer being graded is never shown: with the grader's own labelled set as examples, every
answer is graded leave-one-out.

Reading the examples is the ASAG literature's largest single gain for LLM graders; what it is worth
here is measured on the Mohler sample (`python eval/judge_agreement.py --examples ...`, README).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import UsageError
from ..text import normalize


@dataclass(frozen=True, slots=True)
class Example:
    answer: str
    norm: str
    score: float  # 0-10


class ExampleBank:
    """Graded answers grouped by question id and by reference answer."""

    def __init__(self, examples: dict[str, list[Example]]):
        self.by_key = examples

    def nearest(self, keys: list[str], answer: str, k: int) -> list[Example]:
        from rapidfuzz import fuzz

        pool = next((self.by_key[key] for key in keys if key in self.by_key), [])
        norm = normalize(answer)
        candidates = [e for e in pool if e.norm != norm]
        candidates.sort(key=lambda e: -fuzz.token_set_ratio(norm, e.norm))
        return candidates[:k]


@lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int) -> ExampleBank:
    by_key: dict[str, list[Example]] = {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the examples file {path}: {exc}; pass a UTF-8 JSONL file of scored answers") from None
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            answer, score = str(row["answer"]), float(row["score"]) * 10.0 / float(row.get("max_score") or 10.0)
        except (ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"{path}:{n}: not a scored answer ({exc}); each line needs answer and score "
                             "(and question_id or reference_answer)") from None
        ex = Example(answer, normalize(answer), round(score, 2))
        for key in {str(row.get("question_id") or ""), str(row.get("reference_answer") or "")} - {""}:
            by_key.setdefault(key, []).append(ex)
    return ExampleBank(by_key)


def load_examples(path: Path) -> ExampleBank:
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        raise UsageError(f"the examples file {path} does not exist: pass a JSONL file of scored answers") from None
    return _load(str(path), mtime)


_EXAMPLE_TAG = re.compile(r"<\s*(/?)\s*(example)\b([^<>]{0,200})>", re.IGNORECASE)


def render_examples(examples: list[Example]) -> str:
    """The examples block; an example's own text cannot open or close an example (nor, as every
    rendered value, the examples block or any other)."""
    from .prompts import load_template

    def one(e: Example) -> str:
        text = _EXAMPLE_TAG.sub(lambda m: f"‹{m.group(1)}{m.group(2)}{m.group(3)}›", e.answer.strip())
        return f'<example score="{e.score:g}/10">\n{text}\n</example>'

    body = "\n".join(one(e) for e in examples)
    return load_template("judge_examples").render(examples=body)
