"""pytest's collection of the whole suite, as a ratio to importing pytest alone.

    python eval/bench_collect.py [--runs 7]

Baseline, measured in the same run: `python -c "import pytest"`. Both are whole processes, timed
alternately; CPU time of the child (steadier than wall time on a busy machine) and wall time,
min and median. Collection imports every test module: what a module imports at its top is paid
by every run of any test, so heavy libraries belong in the tests and fixtures that use them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "eval"))

from bench_startup import timed  # noqa: E402 - (wall, CPU) of one whole process


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    os.chdir(ROOT)
    collect = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
    base = [sys.executable, "-c", "import pytest"]
    timed(collect), timed(base)  # warm the file cache and the bytecode
    c, b = [], []
    for _ in range(args.runs):
        b.append(timed(base))
        c.append(timed(collect))
    for i, label in ((0, "wall"), (1, "cpu")):
        ratios = [y[i] / x[i] for x, y in zip(b, c)]
        print(f"{label}: 'import pytest' median {statistics.median(x[i] for x in b):.2f} s, 'pytest --collect-only' "
              f"min {min(x[i] for x in c):.2f} median {statistics.median(x[i] for x in c):.2f} s, "
              f"ratio min {min(ratios):.1f} median {statistics.median(ratios):.1f}")
    print(f"({args.runs} alternating runs; load average {os.getloadavg()[0]:.1f} at the end)")


if __name__ == "__main__":
    main()
