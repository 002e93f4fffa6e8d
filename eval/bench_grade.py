"""In-process grading throughput on one core, as a ratio to a minimal fuzzy grader.

    python eval/bench_grade.py [--n 2000] [--chars 500] [--mode fuzzy]

Answers of about 500 characters are cut from the dev set's answers and the bank's reference
answers (mixed Chinese and English, cycled over the 16 questions). Baseline, measured in the same
run on the same answers: normalise the answer and take rapidfuzz's token_set_ratio against the
reference, the cheapest grader that still reads the text. Target: >= 1,000 answers/s.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from rapidfuzz import fuzz  # noqa: E402

from grader.banks import load_bank  # noqa: E402
from grader.pipeline import Grader  # noqa: E402
from grader.settings import Settings  # noqa: E402
from grader.text import normalize  # noqa: E402


def answers(n: int, chars: int) -> list[tuple[str, str]]:
    bank = load_bank()
    pool: list[tuple[str, str]] = []
    with open(HERE / "data" / "dev.jsonl", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if len(r["answer"]) >= 100:
                pool.append((r["question_id"], r["answer"]))
    for q in bank.questions.values():
        if q.reference_answer:
            pool.append((q.id, q.reference_answer))
    by_q: dict[str, list[str]] = {}
    for qid, text in pool:
        by_q.setdefault(qid, []).append(text)
    out = []
    i = 0
    while len(out) < n:
        qid, text = pool[i % len(pool)]
        others = by_q[qid]
        k = i
        while len(text) < chars:  # join answers to the same question until long enough
            k += 1
            text = text + "\n" + others[k % len(others)]
        start = (i * 37) % (len(text) - chars + 1)
        out.append((qid, text[start : start + chars]))
        i += 1
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--chars", type=int, default=500)
    ap.add_argument("--mode", default="fuzzy", choices=["keyword", "fuzzy"])
    args = ap.parse_args()
    data = answers(args.n, args.chars)
    grader = Grader(Settings(mode=args.mode))
    bank = load_bank()
    refs = {q.id: normalize(q.reference_answer or q.question) for q in bank.questions.values()}
    for qid in {qid for qid, _ in data}:  # warm-up: each rubric compiled once, not measured
        grader.grade(qid, "warm-up")

    t = time.process_time()
    for qid, a in data:
        fuzz.token_set_ratio(normalize(a), refs[qid])
    base = time.process_time() - t

    t = time.process_time()
    for qid, a in data:
        grader.grade(qid, a)
    took = time.process_time() - t

    mean_len = sum(len(a) for _, a in data) / len(data)
    print(f"{len(data)} answers, mean {mean_len:.0f} characters, mode {args.mode}, one core (CPU time)")
    print(f"baseline normalise + token_set_ratio: {len(data) / base:,.0f} answers/s")
    print(f"grader: {len(data) / took:,.0f} answers/s (target >= 1,000), {took / len(data) * 1000:.2f} ms/answer")
    print(f"ratio grader/baseline throughput: {base / took:.3f}")


if __name__ == "__main__":
    main()
