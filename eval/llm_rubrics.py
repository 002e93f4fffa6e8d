"""`grader rubric build --llm` measured: rubrics proposed by a model against the curated ones.

    python eval/llm_rubrics.py

Builds the seed bank (eval/data/seed_bank.md) twice into a temporary folder: offline, and with
`--llm` against eval/replay.py's server (the model's proposed key points are recorded replies,
eval/data/judge/rubric-build-llm.jsonl); then grades the dev sets against the curated bank and both
built banks in fuzzy and llm modes (llm replies recorded as the MANIFEST says; a combination
without recorded replies is reported with its misses, i.e. as not measured). Question 16 has no
reference answer, so built banks have no rubric for it: its rows are left out everywhere (n 120, 150).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from judge_agreement import grader_bin, load_set, measure  # noqa: E402
from replay import ReplayServer  # noqa: E402

COMBOS = [("dev", "fuzzy"), ("dev", "llm"), ("dev2", "fuzzy")]


def build(out: Path, url: str | None) -> None:
    cmd = [grader_bin(), "rubric", "build", str(HERE / "data" / "seed_bank.md"), "--out", str(out)]
    if url:
        cmd += ["--llm", "--model", "recorded", "--base-url", url]
    env = {**os.environ, "OPENAI_API_KEY": "replay"}
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    print("| rubrics | set | mode | n | Pearson | Spearman | QWK | MAE | misses |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    with ReplayServer() as server, tempfile.TemporaryDirectory() as tmp:
        banks = {"curated": None, "built offline": Path(tmp) / "offline", "built --llm": Path(tmp) / "llm"}
        build(banks["built offline"], None)
        build(banks["built --llm"], server.url)
        for label, bank in banks.items():
            for name, mode in COMBOS:
                rows = [r for r in load_set(name) if r["question_id"] != "16"]
                if bank is not None:
                    rows = [{**r, "bank": str(bank)} for r in rows]
                r = measure(name, rows, mode, server, Path(tmp))
                if r["misses"]:
                    print(f"| {label} | {name} | {mode} | {r['n']} | not measured: {r['misses']} requests not recorded | | | | |")
                    continue
                print(f"| {label} | {name} | {mode} | {r['n']} | {r['pearson']:.3f} | {r['spearman']:.3f} | "
                      f"{r['qwk']:.3f} | {r['mae']:.3f} | {r['misses']} |")


if __name__ == "__main__":
    main()
