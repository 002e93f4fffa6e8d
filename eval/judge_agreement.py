"""The LLM judge measured against people, with recorded replies of a real model.

    python eval/judge_agreement.py                    # every set, modes fuzzy, llm, hybrid
    python eval/judge_agreement.py --sets dev --modes llm
    python eval/judge_agreement.py --json

Each set is graded by `grader batch --mode M` (the product's own command, concurrency 8, no cache)
against `eval/replay.py`'s server, which answers each request from eval/data/judge/*.jsonl (how
those replies were produced: eval/data/judge/MANIFEST.md). A request with no recorded reply is
written to eval/out/pending/ and counted as a miss (that row falls back to fuzzy): a figure is only
reported when `misses` is 0. To record what is missing: `python eval/replay.py export DIR`, have the
model write each reply, then `python eval/replay.py import DIR --set NAME`.

Sets (all scores on 0-10):
- dev: eval/data/dev.jsonl, the 128 answers the offline settings were chosen on;
- dev2: eval/data/dev2.jsonl, the second dev set (held out from every offline setting);
- ads: 200 rows of eval/data/ads_train.jsonl (seeded sample, SAMPLE_SEED), ad-hoc rubrics;
- mohler: 200 rows of eval/data/mohler.jsonl (seeded sample), ad-hoc rubrics.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from replay import ReplayServer  # noqa: E402

from grader.runs.metrics import agreement  # noqa: E402

DATA = HERE / "data"
SAMPLE_SEED = 14
SAMPLE_SIZE = 200
SETS = {"dev": "dev.jsonl", "dev2": "dev2.jsonl", "ads": "ads_train.jsonl", "mohler": "mohler.jsonl"}
MODES = ("fuzzy", "llm", "hybrid")
MODEL = "recorded"


def load_set(name: str) -> list[dict]:
    path = DATA / SETS[name]
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    if name in ("ads", "mohler"):
        rows = random.Random(SAMPLE_SEED).sample(rows, SAMPLE_SIZE)
    return rows


def grader_bin() -> str:
    exe = Path(sys.executable).with_name("grader")
    return str(exe) if exe.exists() else "grader"


def run_batch(rows: list[dict], mode: str, base_url: str, workdir: Path, examples: Path | None = None) -> list[dict]:
    inp, out = workdir / f"in-{mode}.jsonl", workdir / f"out-{mode}.jsonl"
    with open(inp, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    out.unlink(missing_ok=True)
    env = {**os.environ, "OPENAI_API_KEY": "replay", "GRADER_CACHE": str(workdir / "cache.sqlite3")}
    cmd = [grader_bin(), "batch", str(inp), "--out", str(out), "--mode", mode, "--concurrency", "8", "--no-cache"]
    if mode in ("llm", "hybrid"):
        cmd += ["--model", MODEL, "--base-url", base_url]
        if examples is not None:
            cmd += ["--examples", str(examples)]
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with open(out, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def measure(name: str, rows: list[dict], mode: str, server: ReplayServer, workdir: Path,
            examples: Path | None = None) -> dict:
    misses_before = len(server.misses)
    lines = {ln["id"]: ln for ln in run_batch(rows, mode, server.url, workdir, examples)}
    human, graded, usage = [], [], defaultdict(int)
    by_kind: dict[str, list[tuple[float, float]]] = defaultdict(list)
    fallbacks = errors = 0
    for r in rows:
        ln = lines.get(str(r["id"]))
        if ln is None or "result" not in ln:
            errors += 1
            continue
        res = ln["result"]
        h = r["score"] * 10.0 / r.get("max_score", 10.0)
        g = res["normalized"] * 10.0
        human.append(h)
        graded.append(g)
        fallbacks += "llm_fallback" in res["flags"]
        for k, v in res["usage"].items():
            usage[k] += v
        if r.get("kind"):
            by_kind[r["kind"]].append((h, g))
    out = {"set": name, "mode": mode, **agreement(human, graded), "errors": errors, "fallbacks": fallbacks,
           "misses": len(server.misses) - misses_before, **usage}
    out["by_kind"] = {k: {"n": len(v), "human": round(sum(h for h, _ in v) / len(v), 2),
                          "grader": round(sum(g for _, g in v) / len(v), 2)} for k, v in sorted(by_kind.items())}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--kinds", action="store_true", help="print mean scores by kind")
    ap.add_argument("--bank", help="grade the bank sets (dev, dev2) against this bank directory instead")
    ap.add_argument("--examples", type=Path, help="graded examples for the judge (grader --examples): with the "
                    "set's own file (e.g. eval/data/mohler.jsonl) every answer is graded leave-one-out")
    args = ap.parse_args()
    results = []
    with ReplayServer() as server, tempfile.TemporaryDirectory() as tmp:
        for name in args.sets:
            rows = load_set(name)
            if args.bank and name in ("dev", "dev2"):
                rows = [{**r, "bank": args.bank} for r in rows]
            if not rows:
                print(f"{name}: {DATA / SETS[name]} not found; skipped", file=sys.stderr)
                continue
            for mode in args.modes:
                results.append(measure(name, rows, mode, server, Path(tmp), args.examples))
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=1))
        return
    print("| set | mode | n | Pearson | Spearman | QWK | MAE | calls | prompt tokens | misses |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        print(f"| {r['set']} | {r['mode']} | {r['n']} | {r['pearson']:.3f} | {r['spearman']:.3f} | {r['qwk']:.3f} | "
              f"{r['mae']:.3f} | {r.get('llm_calls', 0)} | {r.get('prompt_tokens', 0)} | {r['misses']} |")
    if args.kinds:
        for r in results:
            if r["by_kind"]:
                print(f"\n{r['set']} {r['mode']}: " + ", ".join(f"{k} {v['human']:.1f}/{v['grader']:.1f}" for k, v in r["by_kind"].items()))
    missing = sum(r["misses"] for r in results)
    if missing:
        print(f"\n{missing} request(s) have no recorded reply (rows graded by the fallback): "
              "see eval/out/pending/ and `python eval/replay.py export`", file=sys.stderr)


if __name__ == "__main__":
    main()
