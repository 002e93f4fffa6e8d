"""In-process grading throughput on one core, as a ratio to a minimal fuzzy grader.

    python eval/bench_grade.py [--n 2000] [--chars 500] [--rounds 5] [--matcher]

Answers of about 500 characters are cut from the dev set's answers and the bank's reference
answers (mixed Chinese and English, cycled over the 16 questions). Baseline, measured in the same
run on the same answers: normalise the answer and take rapidfuzz's token_set_ratio against the
reference, the cheapest grader that still reads the text. Baseline, keyword and fuzzy grading run
one after the other in each round; every ratio is a round's grader against the same round's
baseline, and min and median over the rounds are printed. Target: fuzzy >= 1.2x the baseline.

`--matcher` times the lexical matcher and its guards alone (`matchers.guards.lexical` on answers
prepared beforehand: no sentence splitting, no result model) against the same baseline.
"""

from __future__ import annotations

import argparse
import json
import statistics
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


def _rate(fn, data) -> float:
    t = time.process_time()
    for qid, a in data:
        fn(qid, a)
    return len(data) / (time.process_time() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--chars", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds: baseline, keyword, fuzzy in each")
    ap.add_argument("--matcher", action="store_true", help="time the lexical matcher alone on prepared answers")
    args = ap.parse_args()
    data = answers(args.n, args.chars)
    bank = load_bank()
    refs = {q.id: normalize(q.reference_answer or q.question) for q in bank.questions.values()}
    graders = {m: Grader(Settings(mode=m)) for m in ("keyword", "fuzzy")}
    for g in graders.values():  # warm-up: each rubric compiled, each alias pattern built once; not measured
        for qid, a in data[:300]:
            g.grade(qid, a)
    runs = {
        "baseline": lambda qid, a: fuzz.token_set_ratio(normalize(a), refs[qid]),
        "keyword": graders["keyword"].grade,
        "fuzzy": graders["fuzzy"].grade,
    }
    if args.matcher:
        from grader.answer import prepare
        from grader.matchers.guards import lexical
        from grader.pipeline import compiled_rubric

        compiled = {q.id: compiled_rubric(q) for q in bank.questions.values()}
        prepared = {a: prepare(a) for _, a in data}
        runs["keyword"] = lambda qid, a: lexical(compiled[qid], prepared[a], fuzzy=False)
        runs["fuzzy"] = lambda qid, a: lexical(compiled[qid], prepared[a], fuzzy=True)
    rates: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(args.rounds):  # interleaved: a slower machine lowers baseline and grader alike
        for name, fn in runs.items():
            rates[name].append(_rate(fn, data))
    mean_len = sum(len(a) for _, a in data) / len(data)
    what = "the lexical matcher alone (answers prepared beforehand)" if args.matcher else "whole grades"
    print(f"{len(data)} answers, mean {mean_len:.0f} characters, one core (CPU time), {args.rounds} interleaved rounds: {what}")
    for name, r in rates.items():
        print(f"{name:9s} answers/s: min {min(r):,.0f}  median {statistics.median(r):,.0f}")
    for mode in ("keyword", "fuzzy"):
        ratios = [g / b for g, b in zip(rates[mode], rates["baseline"])]  # each round against its own baseline
        print(f"ratio {mode}/baseline (normalise + token_set_ratio): min {min(ratios):.3f}  median {statistics.median(ratios):.3f}"
              f"  (target >= 1.2)")


if __name__ == "__main__":
    main()
