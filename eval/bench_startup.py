"""Start-up of `grader grade` in an offline mode, as a ratio to importing its three base libraries.

    python eval/bench_startup.py [--runs 15] [--json]

`--json` times `grade ... --json` (its result serialised by pydantic) instead of the lines printed
to a pipe.

Baseline, measured in the same run: `python -c "import pydantic, rapidfuzz, typer"`.
Target: the ratio is at most 1.5. Both are whole processes (interpreter start included), timed
alternately, and the median of each is compared.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ANSWER = "RoPE 通过旋转矩阵把位置信息编码进 Query 和 Key，点积只依赖相对位置，不引入额外参数。"


# Bytecode caching as in an installed package (pip compiles on install): a PYTHONDONTWRITEBYTECODE
# set in this environment would otherwise make the grader recompile its modules at every start.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child): CPU time is steadier on a busy machine."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    wall = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--json", action="store_true", help="time 'grade ... --json'")
    args = ap.parse_args()
    script = Path(sys.executable).parent / "grader"
    grader_cmd = [str(script) if script.exists() else shutil.which("grader"), "grade", "3", ANSWER, "--mode", "fuzzy",
                  *(["--json"] if args.json else [])]
    base_cmd = [sys.executable, "-c", "import pydantic, rapidfuzz, typer"]
    timed(grader_cmd), timed(base_cmd)  # warm the file cache
    g, b = [], []
    for _ in range(args.runs):
        b.append(timed(base_cmd))
        g.append(timed(grader_cmd))
    for i, label in ((0, "wall"), (1, "cpu")):
        mg, mb = statistics.median(x[i] for x in g), statistics.median(x[i] for x in b)
        ratios = [y[i] / x[i] for x, y in zip(b, g)]  # each run against the baseline run just before it
        print(f"{label}: baseline 'import pydantic, rapidfuzz, typer' {mb * 1000:.0f} ms, "
              f"'grader grade 3 <answer> --mode fuzzy{' --json' if args.json else ''}' {mg * 1000:.0f} ms, ratio min {min(ratios):.2f} "
              f"median {statistics.median(ratios):.2f} (target <= 1.5)")
    print(f"(medians over {args.runs} alternating runs)")


if __name__ == "__main__":
    main()
