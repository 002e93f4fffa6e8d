"""Instructions per grade (valgrind's callgrind), this checkout against another revision: a
figure that other work on a shared machine does not move.

    python eval/bench_instructions.py --against REV [--n 200] [--mode fuzzy]

Each side is measured in two processes that load the bank, grade the same 100 answers of
eval/bench_grade.py to compile every rubric and warm the caches, then grade N more (0 in the first
process): the difference over N is the instructions of one grade. The time budget is off
(`grade_budget=0`): its watchdog thread runs by the wall clock, which valgrind stretches. REV is
checked out with `git archive` into a temporary directory and run with this interpreter. Slow:
valgrind runs Python ~50x slower (a few minutes per side).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE = """
import sys
sys.path.insert(0, '.'); sys.path.insert(0, 'eval')
from bench_grade import answers
from grader.pipeline import Grader
from grader.settings import Settings
n, mode = int(sys.argv[1]), sys.argv[2]
data = answers(100 + n, 500)
g = Grader(Settings(mode=mode, grade_budget=0))
for qid, a in data[:100]: g.grade(qid, a)
for qid, a in data[100:100 + n]: g.grade(qid, a)
"""


def instructions(root: Path, n: int, mode: str) -> int:
    out = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, "-c", CODE,
                          str(n), mode], cwd=root, capture_output=True, text=True, check=True)
    return int(re.search(r"Collected : (\d+)", out.stderr).group(1))


def per_grade(root: Path, n: int, mode: str) -> float:
    return (instructions(root, n, mode) - instructions(root, 0, mode)) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", required=True, metavar="REV")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--mode", default="fuzzy", choices=["keyword", "fuzzy"])
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "archive", args.against], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        before = per_grade(Path(tmp), args.n, args.mode)
    now = per_grade(ROOT, args.n, args.mode)
    print(f"{args.mode}, {args.n} answers of ~500 characters after 100 to warm up, time budget off")
    print(f"instructions per grade: {args.against} {before / 1e6:.2f} M, this checkout {now / 1e6:.2f} M, "
          f"ratio {now / before:.3f}")


if __name__ == "__main__":
    main()
