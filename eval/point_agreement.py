"""Point-level agreement between the lexical matcher and the judge: the development signal for the
offline rules, and the evidence for hybrid's settlement rules.

    python eval/point_agreement.py --sets dev              # choose rules here...
    python eval/point_agreement.py --sets dev2 ads mohler  # ...and check them here

Prints Cohen's kappa and the confusion table of the fuzzy matcher's verdicts against the judge's
(recorded replies, llm mode), then the agreement of each lexical class (below).

For every key point of every answer, the fuzzy matcher's finding is put in one class (its verdict,
whether by an exact alias or by typo/paraphrase, whether any alias group occurs at all, and whether
the answer is a bare list of terms); the judge's verdict on the same point comes from the recorded
replies (llm mode, replayed by eval/replay.py). A class agrees when the credit it would give equals
the judge's credit (covered 1, partial 0.5, missing and contradicted 0). Hybrid settles a point
lexically only in classes that agree with the judge at least 97% of the time on the dev set
(`grader.matchers.judge.SETTLED_RULES`).; every other point goes to the judge.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from judge_agreement import load_set, run_batch  # noqa: E402
from replay import ReplayServer  # noqa: E402

from grader.answer import prepare  # noqa: E402
from grader.matchers.judge import CREDIT, SETTLED_RULES, lexical_classes  # noqa: E402
from grader.pipeline import Grader, compiled_rubric  # noqa: E402
from grader.settings import Settings  # noqa: E402

THRESHOLD = 0.97


def prepared_target(grader: Grader, row: dict, mode: str):
    """(compiled rubric, prepared answer) for the row's main reference, as the grader builds them."""
    refs = row.get("reference_answers") or []
    ref = row.get("reference_answer") or (refs[0] if refs else None)
    q, _ = grader.target(row.get("question_id"), row.get("bank"), ref, row.get("question"), (), mode)
    q = q.with_alternatives(())
    return [(compiled_rubric(q), prepare(row["answer"]))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", nargs="+", default=["dev"])
    args = ap.parse_args()
    grader = Grader(Settings(mode="hybrid"))
    table: dict[str, Counter] = defaultdict(Counter)
    confusion: Counter = Counter()
    with ReplayServer() as server, tempfile.TemporaryDirectory() as tmp:
        for name in args.sets:
            rows = load_set(name)
            judged = {ln["id"]: ln["result"] for ln in run_batch(rows, "llm", server.url, Path(tmp)) if "result" in ln}
            for r in rows:
                res = judged.get(str(r["id"]))
                if res is None or "llm_fallback" in res["flags"] or not res["usage"]["llm_calls"] and not res["usage"]["cache_hits"]:
                    continue
                judge = {p["id"]: p for p in res["points"]}
                targets = prepared_target(grader, r, "hybrid")
                for compiled, prepared in targets[:1]:  # the main reference, as the llm grade's first call
                    for pid, (cls, lex) in lexical_classes(compiled, prepared)[0].items():
                        j = judge.get(pid)
                        if j is None or j["verdict"] == "unscored":
                            continue
                        agree = CREDIT[lex.verdict] == CREDIT[j["verdict"]]
                        confusion[(lex.verdict, j["verdict"])] += 1
                        table[cls]["n"] += 1
                        table[cls]["agree"] += agree
                        table[cls][f"judge:{j['verdict']}"] += 1
    print(f"sets: {', '.join(args.sets)}")
    verdicts = ("covered", "partial", "missing", "contradicted")
    n = sum(confusion.values())
    observed = sum(confusion[(v, v)] for v in verdicts) / n
    expected = sum(sum(confusion[(v, w)] for w in verdicts) * sum(confusion[(w, v)] for w in verdicts)
                   for v in verdicts) / n / n
    kappa = (observed - expected) / (1 - expected) if expected < 1 else 1.0
    print(f"{n} points; verdicts equal {observed:.1%}; Cohen's kappa {kappa:.3f}\n")
    print("| lexical \\ judge | " + " | ".join(verdicts) + " |")
    print("| --- |" + " ---: |" * len(verdicts))
    for v in verdicts:
        print(f"| {v} | " + " | ".join(str(confusion[(v, w)]) for w in verdicts) + " |")
    print()
    print("| lexical class | points | agrees with the judge | judge's verdicts | settled by hybrid |")
    print("| --- | ---: | ---: | --- | --- |")
    for cls, c in sorted(table.items(), key=lambda kv: -kv[1]["n"]):
        verdicts = ", ".join(f"{k[6:]} {v}" for k, v in sorted(c.items()) if k.startswith("judge:"))
        share = c["agree"] / c["n"]
        print(f"| {cls} | {c['n']} | {share:.1%} | {verdicts} | {'yes' if cls in SETTLED_RULES else 'no'} |")


if __name__ == "__main__":
    main()
