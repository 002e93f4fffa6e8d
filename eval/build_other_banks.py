"""`grader rubric build` on banks unlike the seed: the short references of ADS (Chinese, algorithms and
data structures) and Mohler (English, CS), written as a markdown bank of `## question` headings.

    python eval/build_other_banks.py            # both sets
    python eval/build_other_banks.py --set mohler

For each set: its questions and reference answers become a markdown bank (one `## N. question`
heading, then the reference), `grader.bank_build.build_bank` builds it offline, and every answer of
the set is graded (fuzzy mode) against the built bank. The same rows graded against their reference
on the fly (the ad-hoc rubric `grader eval` uses for rows carrying a `reference_answer`) are the
baseline measured in the same run. A row with a second reference (ADS) is graded against the first
only, on both sides, so the two differ by the rubric alone.

Figures: Pearson, Spearman, QWK, MAE on the 0-10 scale (eval/data/README.md names the sources).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from grader.authoring.bank_build import build_bank  # noqa: E402
from grader.runs.evaluate import LabeledRow, evaluate  # noqa: E402
from grader.pipeline import Grader  # noqa: E402
from grader.settings import Settings  # noqa: E402

SETS = {"ads": "ads_train.jsonl", "mohler": "mohler.jsonl"}


def load(name: str) -> list[dict]:
    rows = []
    for line in (HERE / "data" / SETS[name]).read_text(encoding="utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            r.pop("reference_answers", None)  # the first reference only, on both sides
            rows.append(r)
    return rows


def bank_markdown(rows: list[dict], title: str) -> tuple[str, dict[str, str]]:
    """A `## N. question` bank of the set's questions; set question id -> bank id."""
    seen: dict[str, str] = {}
    parts = [f"# {title}", ""]
    for r in rows:
        if r["question_id"] in seen:
            continue
        n = str(len(seen) + 1)
        seen[r["question_id"]] = n
        question = " ".join(r["question"].split())
        parts += [f"## {n}. {question}", "", r["reference_answer"].strip(), ""]
    return "\n".join(parts), seen


def measure(name: str) -> dict:
    rows = load(name)
    md, ids = bank_markdown(rows, f"{name} questions")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / f"{name}.md"
        src.write_text(md, encoding="utf-8")
        out = Path(tmp) / name
        build_bank(src, out, name=f"{name}-built")
        built_rows = [
            LabeledRow.model_validate({k: v for k, v in {**r, "question_id": ids[r["question_id"]]}.items()
                                       if k not in ("reference_answer", "question")})
            for r in rows
        ]
        built = evaluate(built_rows, Grader(Settings(mode="fuzzy"), bank=str(out)), "fuzzy")
    adhoc_rows = [LabeledRow.model_validate(r) for r in rows]
    adhoc = evaluate(adhoc_rows, Grader(Settings(mode="fuzzy")), "fuzzy")
    keys = ("pearson", "spearman", "qwk", "mae")
    return {
        "rows": len(rows),
        "questions": len(ids),
        "built": {k: built[k] for k in keys},
        "adhoc": {k: adhoc[k] for k in keys},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", choices=sorted(SETS), action="append", help="default: all")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    res = {name: measure(name) for name in (args.set or sorted(SETS))}
    if args.json:
        print(json.dumps(res, indent=2))
        return
    print("| set | rows | rubric | Pearson | Spearman | QWK | MAE |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: |")
    for name, r in res.items():
        for side, label in (("built", "`rubric build` bank"), ("adhoc", "ad-hoc from the reference (baseline)")):
            m = r[side]
            print(f"| {name} | {r['rows']} | {label} | {m['pearson']:.3f} | {m['spearman']:.3f} | {m['qwk']:.3f} | {m['mae']:.3f} |")


if __name__ == "__main__":
    main()
