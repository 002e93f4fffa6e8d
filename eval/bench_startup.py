"""Start-up of `grader grade` in an offline mode, as a ratio to importing its three base libraries.

    python eval/bench_startup.py [--runs 15] [--json] [--against REV]

`--json` times `grade ... --json` instead of the lines printed to a pipe. `--against REV` also
times the same command with the grader as it was at REV (checked out with `git archive`, imported
through PYTHONPATH by the same console script), interleaved with the other two: before and after
in one run, each against the baseline run just before it.

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
import tempfile
import time
from pathlib import Path

ANSWER = "RoPE 通过旋转矩阵把位置信息编码进 Query 和 Key，点积只依赖相对位置，不引入额外参数。"


# Bytecode caching as in an installed package (pip compiles on install): a PYTHONDONTWRITEBYTECODE
# set in this environment would otherwise make the grader recompile its modules at every start.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child): CPU time is steadier on a busy machine."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env or ENV)
    wall = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--json", action="store_true", help="time 'grade ... --json'")
    ap.add_argument("--against", metavar="REV", help="also time the grader as it was at REV, interleaved")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        other = None
        if args.against:
            root = Path(__file__).resolve().parent.parent
            archive = subprocess.run(["git", "archive", args.against], cwd=root, capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
            other = {**ENV, "PYTHONPATH": tmp}
        measure(args, other)


def measure(args, other: dict | None) -> None:
    script = Path(sys.executable).parent / "grader"
    grader_cmd = [str(script) if script.exists() else shutil.which("grader"), "grade", "3", ANSWER, "--mode", "fuzzy",
                  *(["--json"] if args.json else [])]
    base_cmd = [sys.executable, "-c", "import pydantic, rapidfuzz, typer"]
    timed(grader_cmd), timed(base_cmd)  # warm the file cache (and the compiled-rubric cache)
    if other:
        timed(grader_cmd, other)
    g, b, o, bo = [], [], [], []
    for _ in range(args.runs):
        b.append(timed(base_cmd))
        g.append(timed(grader_cmd))
        if other:
            bo.append(timed(base_cmd))
            o.append(timed(grader_cmd, other))
    for i, label in ((0, "wall"), (1, "cpu")):
        mg, mb = statistics.median(x[i] for x in g), statistics.median(x[i] for x in b)
        ratios = [y[i] / x[i] for x, y in zip(b, g)]  # each run against the baseline run just before it
        print(f"{label}: baseline 'import pydantic, rapidfuzz, typer' {mb * 1000:.0f} ms, "
              f"'grader grade 3 <answer> --mode fuzzy{' --json' if args.json else ''}' {mg * 1000:.0f} ms, ratio min {min(ratios):.2f} "
              f"median {statistics.median(ratios):.2f} (target <= 1.5)")
        if other:
            ratios_o = [y[i] / x[i] for x, y in zip(bo, o)]
            print(f"{label}: at {args.against}: {statistics.median(x[i] for x in o) * 1000:.0f} ms, ratio min "
                  f"{min(ratios_o):.2f} median {statistics.median(ratios_o):.2f}")
    print(f"(medians over {args.runs} alternating runs; load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
