"""Known wrong claims (a key point's `misconceptions`) on the dev sets: where they are found, and
what they cost right answers.

    python eval/misconceptions.py               # the dev sets (dev, dev2, dev3): counts per kind
    python eval/misconceptions.py --show        # and, on the tuning sets only, each claim found in each answer

Every answer is graded in fuzzy mode twice: with the bundled rubrics as they are, and with their
misconceptions removed. Per kind: the answers in which a wrong claim was found (a point contradicted
with "the answer claims: ..."), the mean human score, the mean score with and without the
misconceptions. Right answers (RIGHT_KINDS) that lost points to a wrong claim are counted apart:
each is a misconception that fires on a correct answer. `--show` lists the claims found on the
tuning sets (dev, dev3) only: dev2's answers are never read to edit a rubric.

    python eval/misconceptions.py --cost [--rounds 7]

What looking for the wrong claims costs: the answers of the dev sets graded (fuzzy, in process) with
and without the misconceptions, each answer both ways one after the other (the order alternating),
CPU time of this process; the ratio with / without of each round, min and median over the rounds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from agreement import SETS, human_scale, load  # noqa: E402

from grader.models import CLAIMS, Question  # noqa: E402
from grader.pipeline import Grader, grade_question  # noqa: E402
from grader.settings import Settings  # noqa: E402

DEV_SETS = [s for s in SETS if s.startswith("dev")]
TUNING = ("dev", "dev3")  # settings and rubric edits are chosen on these; dev2 is held out
RIGHT_KINDS = ("excellent", "excellent_paraphrase", "reference_copy", "bullet_list", "english", "mixed", "long")


def without_misconceptions(q: Question) -> Question:
    points = [p.model_copy(update={"misconceptions": []}) for p in q.rubric.points]
    return q.model_copy(update={"rubric": q.rubric.model_copy(update={"points": points})})


def measure(name: str, show: bool) -> None:
    rows = load(name)
    human = human_scale(rows)
    settings = Settings(mode="fuzzy")
    grader = Grader(settings)
    questions: dict[str, tuple[Question, Question]] = {}
    by_kind: dict[str, list] = defaultdict(list)  # kind -> (human, with, without, claims found)
    right_lost = []
    for row, h in zip(rows, human):
        qid = row["question_id"]
        if qid not in questions:
            q, _ = grader.question(qid)
            questions[qid] = (q, without_misconceptions(q))
        q, bare = questions[qid]
        with_ = grade_question(q, row["answer"], "fuzzy", settings)
        without = grade_question(bare, row["answer"], "fuzzy", settings)
        found = [p for p in with_.points if (p.reason or "").startswith(CLAIMS)]
        kind = row.get("kind") or "-"
        by_kind[kind].append((h, with_.score, without.score, len(found)))
        if kind in RIGHT_KINDS and with_.score < without.score:
            right_lost.append((row["id"], without.score, with_.score))
        if show and found:
            print(f"  {row['id']} ({kind}, people {h:.1f}): {without.score:.2f} -> {with_.score:.2f}")
            for p in found:
                print(f"    [{p.id}] {p.reason[len(CLAIMS):]}  <<{p.evidence}>>")
    print(f"\n{name}: kind n answers_with_a_claim human with without")
    for kind in sorted(by_kind):
        v = by_kind[kind]
        mean = lambda i: sum(x[i] for x in v) / len(v)  # noqa: E731
        fired = sum(1 for x in v if x[3])
        print(f"  {kind:22s} {len(v):3d} {fired:3d} {mean(0):5.2f} {mean(1):5.2f} {mean(2):5.2f}")
    n_right = sum(len(by_kind[k]) for k in RIGHT_KINDS if k in by_kind)
    print(f"  right answers ({', '.join(k for k in RIGHT_KINDS if k in by_kind)}): {len(right_lost)} of {n_right} "
          "lost points to a wrong claim" + "".join(f"\n    {i}: {a:.2f} -> {b:.2f}" for i, a, b in right_lost if name in TUNING))


def cost(rounds: int) -> None:
    settings = Settings(mode="fuzzy")
    grader = Grader(settings)
    rows = [row for name in DEV_SETS for row in load(name)]
    pairs = {}
    for row in rows:
        if row["question_id"] not in pairs:
            q, _ = grader.question(row["question_id"])
            pairs[row["question_id"]] = (q, without_misconceptions(q))
    for which in (0, 1):  # warm both: compiled rubrics, automata
        for row in rows:
            grade_question(pairs[row["question_id"]][which], row["answer"], "fuzzy", settings)
    ratios = []
    for r in range(rounds):
        took = {0: 0.0, 1: 0.0}
        for k, row in enumerate(rows):  # answer by answer, so that a burst of load falls on both
            for which in ((0, 1) if (r + k) % 2 else (1, 0)):
                t = time.process_time()
                grade_question(pairs[row["question_id"]][which], row["answer"], "fuzzy", settings)
                took[which] += time.process_time() - t
        ratios.append(took[0] / took[1])
        print(f"  round {r + 1}: with {took[0] * 1000 / len(rows):.2f} ms, without {took[1] * 1000 / len(rows):.2f} ms per answer")
    print(f"with / without misconceptions, {len(rows)} answers, {rounds} rounds: min {min(ratios):.3f}x, "
          f"median {statistics.median(ratios):.3f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", default=DEV_SETS, choices=DEV_SETS)
    ap.add_argument("--show", action="store_true", help="list each claim found (tuning sets only)")
    ap.add_argument("--cost", action="store_true", help="time grading with and without the misconceptions")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    if args.cost:
        cost(args.rounds)
        return
    for name in args.sets:
        measure(name, args.show and name in TUNING)


if __name__ == "__main__":
    main()
