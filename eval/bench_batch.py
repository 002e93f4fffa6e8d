"""`grader batch` throughput and memory, offline and against the scripted judge server.

    python eval/bench_batch.py                  # rounds of 6,000 rows; 10,000 and 100,000 rows for memory;
                                                # 2,000 rows llm at L = 50 ms, C = 16
    python eval/bench_batch.py --n 20000 --small 5000 --llm-n 0

Every figure is a ratio to a baseline measured in the same run, on the same machine:

- offline: `run_batch` with `--workers` processes against the same code in one process
  (`--workers 0`) on the same `--rows` rows, one after the other in each round, with a control in
  the same round: pure-Python CPU spinners, as many as the workers, against one. CPU-bound work
  cannot scale past what the control shows; a control below the worker count means the machine is
  busy with something else. The CPU time of all processes (parent and workers) is compared too:
  what workers cost beyond the grading itself. Min and median over the rounds are printed. Rows are unique
  answers (an answer of the dev set or a reference, cut at a row-dependent offset, plus the row
  number), so no cache or repetition helps. Each run is a fresh process; it reports its own peak
  RSS (ru_maxrss) and the largest worker's.
- memory: the same run over `--small` rows and over N rows. A flat profile has the same peak RSS.
- llm: `run_batch --mode llm` against tests/fake_llm_server.py in its own process, answering after
  L seconds; throughput is calls/s over the ideal C / L.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

RUNNER = r"""
import json, resource, sys, time
from pathlib import Path
from grader.runs.batch import run_batch
from grader.pipeline import Grader
from grader.settings import Settings
inp, out, mode, workers, conc, url = sys.argv[1:7]
kw = dict(model="bench", base_url=url, api_key="bench", use_cache=False, timeout=30) if url != "-" else {}
g = Grader(Settings(mode=mode, **kw))
for qid in g.bank().questions:  # compile every rubric first (~0.15 s each): start-up is not throughput
    g.grade(qid, "warm up", mode="fuzzy" if mode not in ("keyword", "fuzzy") else mode)
def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime
t0, c0, k0 = time.perf_counter(), time.process_time(), children_cpu()
s = run_batch(Path(inp), Path(out), g, mode,
              workers=None if workers == "auto" else int(workers), concurrency=int(conc), progress=False)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
print(json.dumps({"wall": wall, "cpu": cpu, "cpu_all": cpu + children_cpu() - k0, "graded": s.graded, "errors": s.errors, "executor": s.executor,
                  "rss_main_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rss_worker_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def make_input(path: Path, n: int, chars: int = 400) -> None:
    from bench_grade import answers

    pool = answers(2000, chars)
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            qid, text = pool[i % len(pool)]
            cut = (i // len(pool)) * 7 % max(1, len(text) // 3)
            f.write(json.dumps({"id": f"b{i}", "question_id": qid, "answer": f"{text[cut:]} (#{i})"}, ensure_ascii=False) + "\n")


def head(src: Path, dst: Path, n: int) -> None:
    with open(src, encoding="utf-8") as f, open(dst, "w", encoding="utf-8") as g:
        for i, line in enumerate(f):
            if i >= n:
                break
            g.write(line)


def run(inp: Path, out: Path, mode: str = "fuzzy", workers: str = "auto", conc: int = 8, url: str = "-") -> dict:
    return run_script(RUNNER, inp, out, mode, workers, conc, url)


def run_script(runner: str, inp: Path, out: Path, *args) -> dict:
    """`runner` in a fresh process over INPUT into a new OUT; its last line of JSON, with `rate`."""
    out.unlink(missing_ok=True)
    r = subprocess.run([sys.executable, "-c", runner, str(inp), str(out), *map(str, args)],
                       capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        raise SystemExit(r.stderr[-3000:])
    d = json.loads(r.stdout.strip().splitlines()[-1])
    d["rate"] = d["graded"] / d["wall"]
    return d


SPIN = r"""
import sys, time
t = time.perf_counter(); x = 0
for i in range(int(sys.argv[1])):
    x += i * i
print(time.perf_counter() - t)
"""


def spin(procs: int, loops: int = 3_000_000) -> float:
    """Pure-Python work done by `procs` processes at once, per second, over one process's rate.
    On 2 idle cores, spin(2)/spin(1) is near 2; other work on the machine shows as less."""
    ps = [subprocess.Popen([sys.executable, "-c", SPIN, str(loops)], stdout=subprocess.PIPE, text=True) for _ in range(procs)]
    took = max(float(p.communicate()[0]) for p in ps)
    return procs * loops / took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--small", type=int, default=10_000, help="rows of the memory comparison run")
    ap.add_argument("--rows", type=int, default=6_000, help="rows of each interleaved scaling round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", default="2")
    ap.add_argument("--mode", default="fuzzy", choices=["keyword", "fuzzy"])
    ap.add_argument("--llm-n", type=int, default=2000)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{cpus} usable cores, load average {os.getloadavg()[0]:.2f} at start")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        big, small, part = tmp / "big.jsonl", tmp / "small.jsonl", tmp / "part.jsonl"
        make_input(big, args.n)
        head(big, small, args.small)
        head(big, part, args.rows)
        print(f"input: {args.n:,} rows, {big.stat().st_size / 1e6:.0f} MB, mode {args.mode}")

        # scaling: one process, N workers and the CPU-spin control, interleaved in each round
        one, many, ctl, cpu_ratio = [], [], [], []
        for _ in range(args.rounds):
            a = run(part, tmp / "o1.jsonl", args.mode, workers="0")
            b = run(part, tmp / "o2.jsonl", args.mode, workers=args.workers)
            one.append(a["rate"])
            many.append(b["rate"])
            cpu_ratio.append(b["cpu_all"] / a["cpu_all"])  # CPU of every process per row, N workers / one
            ctl.append(spin(int(args.workers)) / spin(1))
        ratios = [m / o for m, o in zip(many, one)]
        med = statistics.median
        print(f"one process ({args.rows:,} rows): min {min(one):,.0f}  median {med(one):,.0f} answers/s")
        print(f"{args.workers} workers ({args.rows:,} rows): min {min(many):,.0f}  median {med(many):,.0f} answers/s")
        print(f"ratio {args.workers} workers / one process: min {min(ratios):.2f}  median {med(ratios):.2f} (target >= 1.8)")
        print(f"control, {args.workers} CPU spinners / one: min {min(ctl):.2f}  median {med(ctl):.2f} "
              f"(what this machine allows now: below {args.workers} means other load)")
        print(f"CPU of all processes, {args.workers} workers / one process: min {min(cpu_ratio):.2f}  median {med(cpu_ratio):.2f} "
              f"(what running in workers costs: the parent's reading and writing, pickling, start-up)")

        # memory: the same run over few and many rows; flat means the same peak RSS
        s = run(small, tmp / "o3.jsonl", args.mode, workers=args.workers)
        g = run(big, tmp / "o4.jsonl", args.mode, workers=args.workers)
        print(f"{g['executor']} {args.small:,} rows: peak RSS main {s['rss_main_mb']:.0f} MB, largest worker {s['rss_worker_mb']:.0f} MB")
        print(f"{g['executor']} {args.n:,} rows: peak RSS main {g['rss_main_mb']:.0f} MB, largest worker {g['rss_worker_mb']:.0f} MB, "
              f"{g['rate']:,.0f} answers/s, errors {g['errors']}")
        print(f"peak RSS {args.n:,} rows / {args.small:,} rows: main {g['rss_main_mb'] / s['rss_main_mb']:.2f}, "
              f"worker {g['rss_worker_mb'] / max(s['rss_worker_mb'], 1):.2f} (target: worker <= 100 MB, flat)")

        if args.llm_n:
            from bench_llm import start_server

            proc, url = start_server(args.latency)
            try:
                head(big, tmp / "llm.jsonl", args.llm_n)
                d = run(tmp / "llm.jsonl", tmp / "o4.jsonl", "llm", conc=args.concurrency, url=url)
            finally:
                proc.terminate()
                proc.wait(timeout=5)
            ideal = args.concurrency / args.latency
            print(f"llm ({args.llm_n:,} rows, L = {args.latency * 1000:.0f} ms, C = {args.concurrency}): "
                  f"{d['rate']:,.0f} answers/s = {d['rate'] / ideal:.2f} x ideal C/L = {ideal:.0f}/s, errors {d['errors']}; "
                  f"client CPU {d['cpu'] / d['graded'] * 1000:.1f} ms/answer, so one process tops out near "
                  f"{d['graded'] / d['cpu']:,.0f}/s: {d['rate'] / (d['graded'] / d['cpu']):.2f} x that ceiling")


if __name__ == "__main__":
    main()
