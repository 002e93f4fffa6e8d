"""`grader batch --engine ray` on a local Ray cluster against the local engine, in the same run.

    python eval/bench_ray.py                      # 100,000 rows fuzzy, each engine twice, interleaved
    python eval/bench_ray.py --n 20000 --repeat 3

The bench starts one local cluster with as many CPUs as the machine has usable cores (its workers
at normal priority, as the local engine's), then alternates: the local engine (`run_batch`, worker
processes on every usable core) and the Ray engine (`run_ray_batch`, one actor per CPU, the driver
writing OUT), each a fresh driver process grading the same INPUT into a new OUT. Each run's wall time
covers the whole batch, pools started and rubrics compiled included (the local engine compiles
them before forking; each Ray actor compiles them itself). Rows are unique answers (as in
eval/bench_batch.py), so no cache helps.

Printed: rows/s of each run, min and median per engine, the ratio Ray / local of the medians (and
of the best runs), and Ray's cost per row, 1/rate(Ray) - 1/rate(local), in milliseconds per row of
one core, and its fixed cost: a Ray run over `--tiny` rows (start of the actors, compiling, the
dataset's planning).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

RUNNER = r"""
import json, sys, time
from pathlib import Path
from grader.pipeline import Grader
from grader.settings import Settings
inp, out, engine, address = sys.argv[1:5]
g = Grader(Settings(mode="fuzzy", use_cache=False))
t0 = time.perf_counter()
if engine == "ray":
    from grader.runs.ray_engine import run_ray_batch
    s = run_ray_batch(inp, Path(out), g, "fuzzy", address=address, progress=False)
else:
    from grader.runs.batch import run_batch
    s = run_batch(Path(inp), Path(out), g, "fuzzy", progress=False)
wall = time.perf_counter() - t0
print(json.dumps({"wall": wall, "graded": s.graded, "errors": s.errors, "executor": s.executor}))
"""


def run(inp: Path, out: Path, engine: str, address: str) -> dict:
    from bench_batch import run_script

    return run_script(RUNNER, inp, out, engine, address)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--tiny", type=int, default=256, help="rows of the run that measures Ray's fixed cost")
    args = ap.parse_args()

    import ray
    from bench_batch import head, make_input

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{cpus} usable cores, load average {os.getloadavg()[0]:.2f} at start (other work on the machine lowers every figure)")
    os.environ["RAY_worker_niceness"] = "0"
    ctx = ray.init(num_cpus=cpus, include_dashboard=False, _node_ip_address="127.0.0.1", logging_level="ERROR")
    address = ctx.address_info["gcs_address"]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            big, tiny = tmp / "big.jsonl", tmp / "tiny.jsonl"
            make_input(big, args.n)
            head(big, tiny, args.tiny)
            print(f"input: {args.n:,} rows, {big.stat().st_size / 1e6:.0f} MB, mode fuzzy; local Ray cluster of {cpus} CPUs")
            rates: dict[str, list[float]] = {"local": [], "ray": []}
            for i in range(args.repeat):
                for engine in ("local", "ray") if i % 2 == 0 else ("ray", "local"):
                    d = run(big, tmp / f"{engine}{i}.jsonl", engine, address)
                    assert d["graded"] == args.n and d["errors"] == 0, d
                    rates[engine].append(d["rate"])
                    print(f"  run {i + 1} {engine:5} ({d['executor']}): {d['rate']:,.0f} rows/s, wall {d['wall']:.1f} s", flush=True)
            same = (tmp / "local0.jsonl").read_bytes().splitlines(), (tmp / "ray0.jsonl").read_bytes().splitlines()
            t = run(tiny, tmp / "tiny-out.jsonl", "ray", address)
    finally:
        ray.shutdown()

    med = {k: statistics.median(v) for k, v in rates.items()}
    best = {k: max(v) for k, v in rates.items()}
    print(f"local engine: min {min(rates['local']):,.0f}, median {med['local']:,.0f} rows/s")
    print(f"ray engine:   min {min(rates['ray']):,.0f}, median {med['ray']:,.0f} rows/s")
    print(f"ratio ray / local: median {med['ray'] / med['local']:.2f}, best runs {best['ray'] / best['local']:.2f} (target >= 0.8)")
    per_row = (1 / med["ray"] - 1 / med["local"]) * cpus * 1000
    print(f"Ray's cost per row: {per_row:+.2f} ms of one core (the local engine: {cpus / med['local'] * 1000:.2f} ms per row per core)")
    print(f"Ray's fixed cost: {t['wall']:.1f} s for a run of {args.tiny} rows (actors started, rubrics compiled, plan)")
    print(f"OUT identical id by id: {sorted(same[0]) == sorted(same[1])}")


if __name__ == "__main__":
    main()
