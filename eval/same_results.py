"""Every row of the labelled sets graded offline, printed as JSON lines: to prove a change to the
matcher changes no result.

    python eval/same_results.py > now.jsonl                # this checkout
    python eval/same_results.py --against main             # this checkout and REV, compared

`--against REV` checks REV out into a temporary git worktree, runs this same script there (the
reference implementation, as it was at REV), and compares the two outputs row by row: the whole
GradeResult of every row of dev, dev2, ads_train and mohler in keyword and fuzzy mode (scores,
verdicts, credits, evidence quotes, flags, feedback). It prints "identical on N rows" or the first
differences, and exits 1 when any row differs. Every evidence quote is also checked to be an exact
span of its answer.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SETS = ("dev.jsonl", "dev2.jsonl", "ads_train.jsonl", "mohler.jsonl")
MODES = ("keyword", "fuzzy")


def dump(out) -> int:
    sys.path.insert(0, str(Path.cwd()))
    from grader.pipeline import Grader
    from grader.runs.evaluate import LabeledRow
    from grader.runs.rows import grade_row
    from grader.settings import Settings

    grader = Grader(Settings(mode="fuzzy"))
    bad = 0
    for name in SETS:
        with open(HERE / "data" / name, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
        for mode in MODES:
            for i, raw in enumerate(rows):
                row = LabeledRow.model_validate(raw)
                r = grade_row(grader, row, mode).model_dump(mode="json")
                for p in r["points"]:
                    if p["evidence"] is not None and p["evidence"] not in raw["answer"]:
                        bad += 1
                        print(f"{name}:{i} {mode} {p['id']}: evidence not a span of the answer", file=sys.stderr)
                out.write(json.dumps({"set": name, "row": i, "mode": mode, "result": r}, ensure_ascii=False) + "\n")
    return bad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", metavar="REV", help="compare with this git revision's grader")
    args = ap.parse_args()
    if not args.against:
        sys.exit(1 if dump(sys.stdout) else 0)
    root = Path(subprocess.check_output(["git", "rev-parse", "--show-toplevel"], cwd=HERE, text=True).strip())
    with tempfile.TemporaryDirectory() as tmp:
        ref_tree = Path(tmp) / "ref"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(ref_tree), args.against], cwd=root, check=True)
        try:
            env = {**os.environ, "PYTHONPATH": str(ref_tree)}
            cmd = [sys.executable, str(Path(__file__).resolve())]
            ref = subprocess.run([sys.executable, "-c", _RUN_IN, str(ref_tree)], env=env, capture_output=True, text=True, check=True).stdout
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(ref_tree)], cwd=root, check=True)
        now = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if now.returncode:
        print(now.stderr, file=sys.stderr)
    a, b = ref.splitlines(), now.stdout.splitlines()
    diffs = [(x, y) for x, y in zip(a, b) if x != y]
    if len(a) != len(b) or diffs:
        print(f"DIFFERENT: {len(diffs)} of {len(a)} rows differ ({len(b)} rows now)")
        for x, y in diffs[:5]:
            print("  was:", x[:600], "\n  now:", y[:600])
        sys.exit(1)
    print(f"identical on {len(a)} rows ({len(a) // len(MODES)} answers x {len(MODES)} modes: {', '.join(SETS)})")
    sys.exit(now.returncode)


# Run the dump with the reference tree first on sys.path, from inside it (its data files are the same).
_RUN_IN = f"""
import os, sys, runpy
os.chdir(sys.argv[1]); sys.argv = [{str(Path(__file__).resolve())!r}]
sys.path.insert(0, os.getcwd())
runpy.run_path(sys.argv[0], run_name="__main__")
"""

if __name__ == "__main__":
    main()
