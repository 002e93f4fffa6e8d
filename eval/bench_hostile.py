"""Hostile input, measured: the worst grading time against a normal answer, and the server's memory
over many hostile batch requests (issue 19's targets).

    python eval/bench_hostile.py                  # both parts
    python eval/bench_hostile.py --part grade --repeats 5
    python eval/bench_hostile.py --part server --requests 1000

1. grade: in process, fuzzy, the bundled bank. Each round grades the normal ~500-character answer
   (tests/hostile.py NORMAL, question 4) and then every named hostile shape and the slowest of 150
   seeded random shapes, interleaved; repeated --repeats rounds. Prints, per shape, the min and
   median of the grading thread's CPU time and of wall time, and the ratio to the normal answer's
   (min over min, median over median). Target: worst ratio <= 20. Also an ad-hoc reference of
   3,000 and of 20,000 random CJK characters against a realistic 500-character reference (build
   and grade, caches cleared each time).
2. server: `grader serve` on 127.0.0.1; --requests POST /v1/grade/batch of 8 hostile items each
   (distinct random answers of 2,000-20,000 characters, random shapes, a fresh seed per request);
   the server's RSS (from /proc) after the first 10 % of the requests and at the end. Target: the
   end within 20 % of the first reading.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from hostile import NAMED, NORMAL, random_answers  # noqa: E402


def _timed(fn) -> tuple[float, float]:
    c0, w0 = time.thread_time(), time.perf_counter()
    fn()
    return time.thread_time() - c0, time.perf_counter() - w0


def part_grade(repeats: int) -> dict:
    from grader.pipeline import Grader
    from grader.settings import Settings

    g = Grader(Settings(mode="fuzzy"))
    for qid in map(str, range(1, 17)):
        g.grade(qid, "warm up")
    rnd_shapes = random_answers(19, 150)
    slowest = max(rnd_shapes, key=lambda s: _timed(lambda: g.grade(*s))[0])
    shapes = {"normal": ("4", NORMAL), **NAMED, "random_slowest": slowest}
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in shapes}
    for _ in range(repeats):
        for name, (qid, answer) in shapes.items():  # interleaved: normal, then each shape, every round
            times[name].append(_timed(lambda: g.grade(qid, answer)))
    base = times["normal"]
    bmin_c, bmed_c = min(c for c, _ in base), statistics.median(c for c, _ in base)
    bmin_w, bmed_w = min(w for _, w in base), statistics.median(w for _, w in base)
    rows = {}
    for name, ts in times.items():
        cs, ws = [c for c, _ in ts], [w for _, w in ts]
        rows[name] = {
            "chars": len(shapes[name][1]),
            "cpu_ms_min": round(min(cs) * 1000, 1), "cpu_ms_median": round(statistics.median(cs) * 1000, 1),
            "wall_ms_min": round(min(ws) * 1000, 1), "wall_ms_median": round(statistics.median(ws) * 1000, 1),
            "cpu_ratio_min": round(min(cs) / bmin_c, 1), "cpu_ratio_median": round(statistics.median(cs) / bmed_c, 1),
            "wall_ratio_min": round(min(ws) / bmin_w, 1), "wall_ratio_median": round(statistics.median(ws) / bmed_w, 1),
        }
    worst = max((r for k, r in rows.items() if k != "normal"), key=lambda r: r["cpu_ratio_median"])
    return {"shapes": rows, "worst_cpu_ratio_median": worst["cpu_ratio_median"],
            "worst_wall_ratio_median": max(r["wall_ratio_median"] for k, r in rows.items() if k != "normal"),
            "adhoc": part_adhoc(repeats)}


def part_adhoc(repeats: int) -> dict:
    from grader.authoring import adhoc
    from grader.pipeline import Grader
    from grader.settings import Settings

    g = Grader(Settings(mode="fuzzy"))
    rnd = random.Random(7)
    realistic = NORMAL
    g.grade_reference("注意力机制。", "热身")
    out: dict[str, list[float]] = {"realistic_500": [], "random_cjk_3000": [], "random_cjk_20000": []}
    for _ in range(repeats):
        for name in out:
            if name == "realistic_500":
                ref = realistic + f" {rnd.random()}"  # a new reference: nothing cached
            else:
                n = int(name.rsplit("_", 1)[1])
                ref = "".join(chr(rnd.randint(0x4E00, 0x9FA5)) for _ in range(n))
            adhoc._question.cache_clear()
            out[name].append(_timed(lambda: g.grade_reference(ref, NORMAL))[1])
    base = statistics.median(out["realistic_500"])
    return {k: {"wall_s_min": round(min(v), 3), "wall_s_median": round(statistics.median(v), 3),
                "ratio_median": round(statistics.median(v) / base, 1)} for k, v in out.items()}


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def part_server(requests: int) -> dict:
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).parent / "grader"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRADER_", "OPENAI_"))}
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([str(exe), "serve", "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        statuses: dict[int, int] = {}
        first = None
        t0 = time.perf_counter()
        with httpx.Client(timeout=120) as c:
            for i in range(requests):
                rnd = random.Random(1000 + i)
                items = []
                for k in range(8):
                    qid = str(rnd.randint(1, 16))
                    n = rnd.randint(2000, 20000)
                    answer = "".join(chr(rnd.randint(0x4E00, 0x9FA5)) if rnd.random() < 0.7 else rnd.choice("ab;。 \n")
                                     for _ in range(n))
                    items.append({"id": k, "question_id": qid, "answer": answer})
                r = c.post(f"{base}/v1/grade/batch", content=json.dumps({"items": items}), headers={"content-type": "application/json"})
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                if i + 1 == max(1, requests // 10):
                    first = _rss_mb(proc.pid)
        end = _rss_mb(proc.pid)
        return {"requests": requests, "statuses": statuses, "rss_mb_after_10pct": round(first, 1), "rss_mb_end": round(end, 1),
                "rss_ratio": round(end / first, 3), "seconds": round(time.perf_counter() - t0, 1)}
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=["grade", "server", "all"], default="all")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out = {}
    if args.part in ("grade", "all"):
        out["grade"] = part_grade(args.repeats)
    if args.part in ("server", "all"):
        out["server"] = part_server(args.requests)
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=1))
        return
    if "grade" in out:
        g = out["grade"]
        print("grading, fuzzy, in process; ratio = shape / normal 500-character answer (same run, interleaved)")
        print(f"{'shape':<22}{'chars':>7}{'cpu ms min/med':>18}{'ratio':>12}{'wall ms min/med':>19}{'ratio':>12}")
        for name, r in g["shapes"].items():
            print(f"{name:<22}{r['chars']:>7}{r['cpu_ms_min']:>9}/{r['cpu_ms_median']:<8}{r['cpu_ratio_min']:>6}/{r['cpu_ratio_median']:<5}"
                  f"{r['wall_ms_min']:>10}/{r['wall_ms_median']:<8}{r['wall_ratio_min']:>6}/{r['wall_ratio_median']:<5}")
        print(f"worst ratio (median): CPU {g['worst_cpu_ratio_median']}x, wall {g['worst_wall_ratio_median']}x (target <= 20x)")
        print("ad-hoc references (build + grade, wall s min/median, ratio to a realistic 500-character reference):")
        for name, r in g["adhoc"].items():
            print(f"  {name:<18} {r['wall_s_min']}/{r['wall_s_median']}  ratio {r['ratio_median']}x")
    if "server" in out:
        s = out["server"]
        print(f"server: {s['requests']} hostile batch requests (8 items each) in {s['seconds']} s, statuses {s['statuses']}")
        print(f"RSS {s['rss_mb_after_10pct']} MB after 10 % -> {s['rss_mb_end']} MB at the end: ratio {s['rss_ratio']} (target <= 1.20)")


if __name__ == "__main__":
    main()
