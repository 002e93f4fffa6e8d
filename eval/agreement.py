"""Agreement with human graders for every offline mode, beside three baselines, on the same rows.

    python eval/agreement.py                 # dev, dev3, dev2 (held out), ADS (zh), Mohler (en): the README table
    python eval/agreement.py --sets dev      # one set
    python eval/agreement.py --json

Data (copied into eval/data/, sources and licences in eval/data/README.md):
- dev.jsonl: 128 answers to the bundled bank's 16 questions, scored by one person; the second,
  independent scorer's scores are in dev_second_scorer.jsonl (the human ceiling row). Every
  offline setting was chosen on this set.
- dev2.jsonl: 160 more answers to the same questions, written and scored blind by others, held out:
  no setting is chosen on it; it says what the dev figures are worth.
- dev3.jsonl: 160 more answers, written and scored blind as dev2 was, weighted towards the kinds the
  grader found hard (wrong claims, negated references, injections): a second set to choose on.
- ads_train.jsonl: ADS short answers (Chinese), graded against each row's reference answer.
- mohler.jsonl: Mohler et al. 2011 (English), graded against each row's reference answer.
All scores are put on 0-10 before comparing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from baselines import BASELINES, to_scale  # noqa: E402

from grader.banks import load_bank  # noqa: E402
from grader.runs.evaluate import LabeledRow, evaluate  # noqa: E402
from grader.runs.metrics import agreement  # noqa: E402
from grader.pipeline import Grader  # noqa: E402
from grader.settings import Settings  # noqa: E402

SETS = {"dev": "dev.jsonl", "dev3": "dev3.jsonl", "dev2": "dev2.jsonl", "ads": "ads_train.jsonl", "mohler": "mohler.jsonl"}
MODES = ("keyword", "fuzzy")


def load(name: str) -> list[dict]:
    with open(HERE / "data" / SETS[name], encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def human_scale(rows: list[dict]) -> list[float]:
    return [r["score"] * 10.0 / r.get("max_score", 10.0) for r in rows]


def measure(name: str) -> list[dict]:
    rows = load(name)
    human = human_scale(rows)
    bank_refs = {q.id: q.reference_answer or "" for q in load_bank().questions.values()}
    out = []
    grader = Grader(Settings(mode="fuzzy"))
    labeled = [LabeledRow.model_validate(r) for r in rows]
    for mode in MODES:
        t = time.perf_counter()
        res = evaluate(labeled, grader, mode)
        out.append({"set": name, "grader": f"grader --mode {mode}", **{k: res[k] for k in ("n", "pearson", "spearman", "qwk", "mae")},
                    "seconds": round(time.perf_counter() - t, 2), "by_kind": res.get("by_kind")})
    for bname, fn in BASELINES.items():
        raw = fn(rows, bank_refs)
        a = agreement(human, to_scale(raw))
        out.append({"set": name, "grader": f"baseline: {bname}", **a})
    if name == "dev":
        second = {}
        with open(HERE / "data" / "dev_second_scorer.jsonl", encoding="utf-8") as f:
            for line in f:
                o = json.loads(line)
                second[o["id"]] = o["score"]
        a = agreement(human, [second[r["id"]] for r in rows])
        out.append({"set": name, "grader": "second human scorer", **a})
    if name in ("dev2", "dev3"):  # two blind scorers; the label is their mean
        a = agreement([r["score_a"] for r in rows], [r["score_b"] for r in rows])
        out.append({"set": name, "grader": "scorer A against scorer B", **a})
    return out


def fmt(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    results = [r for s in args.sets for r in measure(s)]
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
        return
    print("| set | grader | n | Pearson | Spearman | QWK | MAE |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(f"| {r['set']} | {r['grader']} | {r['n']} | {fmt(r['pearson'])} | {fmt(r['spearman'])} | {fmt(r['qwk'])} | {fmt(r['mae'])} |")
    for r in results:
        if r.get("by_kind") and r["grader"].endswith("fuzzy"):
            print(f"\n{r['set']} by kind ({r['grader']}): kind n human grader")
            for k, v in r["by_kind"].items():
                print(f"  {k:22s} {v['n']:3d} {v['mean_human']:5.2f} {v['mean_grader']:5.2f}")


if __name__ == "__main__":
    main()
