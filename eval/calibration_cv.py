"""A user's own scale (`grader calibrate`) measured on people who grade on their own scales.

    python eval/calibration_cv.py

Runs `grader calibrate LABELED --dry-run --json --folds 2` (the scale fitted on half the questions,
reported on the other half, and the other way round) on Mohler and ADS: fuzzy on every row, and
llm and fuzzy on the 200-row samples whose judge replies are recorded (eval/replay.py serves them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from judge_agreement import DATA, MODEL, SETS, grader_bin, load_set  # noqa: E402
from replay import ReplayServer  # noqa: E402


def calibrate(path: Path, mode: str, url: str) -> dict:
    cmd = [grader_bin(), "calibrate", str(path), "--dry-run", "--json", "--folds", "2", "--mode", mode, "--no-cache"]
    if mode in ("llm", "hybrid"):
        cmd += ["--model", MODEL, "--base-url", url]
    env = {**os.environ, "OPENAI_API_KEY": "replay"}
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main() -> None:
    print("| set | rows | mode | before: Pearson / Spearman / QWK / MAE | after (2-fold over questions) |")
    print("| --- | ---: | --- | --- | --- |")
    fmt = lambda m: f"{m['pearson']:.3f} / {m['spearman']:.3f} / {m['qwk']:.3f} / {m['mae']:.3f}"  # noqa: E731
    with ReplayServer() as server, tempfile.TemporaryDirectory() as tmp:
        for name in ("mohler", "ads"):
            runs = [("all", DATA / SETS[name], "fuzzy")]
            sample = Path(tmp) / f"{name}-sample.jsonl"
            sample.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in load_set(name)), encoding="utf-8")
            runs += [("sample 200", sample, "fuzzy"), ("sample 200", sample, "llm")]
            for label, path, mode in runs:
                before = len(server.misses)
                r = calibrate(path, mode, server.url)
                note = f" ({len(server.misses) - before} not recorded)" if len(server.misses) > before else ""
                print(f"| {name} {label} | {r['n']} | {mode}{note} | {fmt(r['before'])} | {fmt(r['after'])} |")


if __name__ == "__main__":
    main()
