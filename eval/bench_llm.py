"""Throughput and cost of the LLM judge against the local fake server (no model, no network).

    python eval/bench_llm.py                       # L = 50 ms, C = 16, 500 answers, llm and hybrid
    python eval/bench_llm.py --latency 0.1 --concurrency 32 -n 1000

The fake OpenAI-compatible server (tests/fake_llm_server.py) runs in its own process and answers
every request after `latency` seconds with a stand-in verdict. The answers go through the async
path (`grader.pipeline.agrade_question`, one `JudgeClient`, i.e. one AsyncOpenAI client with
pooled connections) at most C at a time. Printed per mode:

- throughput: judge calls per second over the ideal C / L (a server that answers in exactly L with
  C calls in flight); the target is >= 0.9 for llm. The client's CPU time per answer is printed
  too: 1 / (CPU per answer) is the ceiling one Python process can reach whatever C / L is, so
  with a fast fake server (small L, large C) the figure measures the client's CPU, not waiting;
- calls per answer (1.0 for llm; lower for hybrid, whose confident lexical points need no call);
- prompt and completion tokens per answer, as counted by the fake server (one per CJK character,
  word or punctuation mark: an approximation, the same for both modes).

The answers are synthetic, made from a small built-in bank: per key point, a sentence with its
keywords, a paraphrase without them, or nothing, plus filler. The hybrid savings therefore
depend on that mix; the figures compare the two modes on the same answers, nothing more.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BANK = {
    "1": {
        "question": "What is the KV cache and why does it speed up decoding?",
        "points": [
            ("kv-store", "The KV cache stores the key and value vectors of earlier tokens",
             [["kv cache", "key-value cache"], ["keys and values", "key and value"]],
             "The KV cache keeps the keys and values of every earlier token.",
             "Past attention inputs are kept around between steps."),
            ("no-recompute", "Each step computes attention only for the new token instead of recomputing the prefix",
             [["recompute", "recomputing"], ["new token", "current token"]],
             "Only the new token is processed, so we never recompute the prefix.",
             "Each step just handles the latest position and reuses the rest."),
            ("memory-cost", "The cache grows linearly with sequence length and costs GPU memory",
             [["memory"], ["sequence length", "linearly"]],
             "It costs memory that grows linearly with the sequence length.",
             "The price is a buffer that gets bigger as the text gets longer."),
        ],
    },
    "2": {
        "question": "请介绍多头注意力（MHA）与分组查询注意力（GQA）的区别。",
        "points": [
            ("mha-heads", "MHA 中每个头都有自己的 Q、K、V 投影",
             [["多头", "mha", "multi-head"], ["每个头", "each head"]],
             "MHA 是多头注意力，每个头都有独立的 Q、K、V 投影。",
             "标准做法里注意力被拆成几份，各自有一套投影矩阵。"),
            ("gqa-share", "GQA 让一组查询头共享同一组 K、V 头",
             [["gqa", "分组查询"], ["共享", "share"]],
             "GQA 把查询头分组，每组共享一套 K 和 V。",
             "后来的方法让几个查询头合用一份键值。"),
            ("gqa-cache", "GQA 减少 KV cache 显存，推理更快",
             [["kv cache", "kv缓存"], ["显存", "memory"]],
             "这样 KV cache 占用的显存变小，推理更快。",
             "好处是存下来的东西少了，生成速度上去了。"),
            ("gqa-quality", "GQA 的效果接近 MHA，优于 MQA",
             [["效果", "质量", "quality"], ["接近", "close to"]],
             "GQA 的效果接近 MHA，比 MQA 好。",
             "准确率几乎不掉。"),
        ],
    },
}
FILLER = ["This is a common interview topic.", "我在项目里用过这个。", "In practice it matters a lot.", ""]


def write_bank(root: Path) -> Path:
    import yaml

    bank = root / "bench-bank"
    bank.mkdir()
    (bank / "bank.yaml").write_text("name: bench\ntitle: Bench bank\nlanguage: zh\n", encoding="utf-8")
    for qid, q in BANK.items():
        doc = {"id": qid, "question": q["question"], "rubric": {"points": [
            {"id": pid, "text": text, "keywords": kw} for pid, text, kw, _, _ in q["points"]
        ]}}
        (bank / f"q{qid}.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return bank


def make_answers(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        qid = rng.choice(list(BANK))
        parts = []
        for _, _, _, with_keywords, paraphrase in BANK[qid]["points"]:
            parts.append(rng.choices([with_keywords, paraphrase, ""], weights=[0.5, 0.3, 0.2])[0])
        parts.append(rng.choice(FILLER))
        out.append((qid, " ".join(p for p in parts if p) or "I am not sure."))
    return out


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "fake_llm_server.py"), "--latency", str(latency)],
        stdout=subprocess.PIPE, text=True,
    )
    line = proc.stdout.readline().split()
    if len(line) != 2 or line[0] != "PORT":
        proc.kill()
        raise SystemExit("the fake server did not start")
    return proc, f"http://127.0.0.1:{line[1]}/v1"


async def run_mode(mode: str, answers, bank, settings, concurrency: int):
    from grader.llm.client import JudgeClient
    from grader.pipeline import agrade_question

    client = JudgeClient(settings)
    sem = asyncio.Semaphore(concurrency)

    async def one(qid, text):
        async with sem:
            return await agrade_question(bank.questions[qid], text, mode, settings, bank.name, client=client)

    try:
        await one(*answers[0])  # warm up: imports, first connection
        t0, c0 = time.perf_counter(), time.process_time()
        results = await asyncio.gather(*(one(q, a) for q, a in answers))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        await client.aclose()
    return results, wall, cpu


def report(mode: str, results, wall: float, cpu: float, latency: float, concurrency: int) -> None:
    n = len(results)
    calls = sum(r.usage.llm_calls for r in results)
    prompt = sum(r.usage.prompt_tokens for r in results)
    completion = sum(r.usage.completion_tokens for r in results)
    fallbacks = sum("llm_fallback" in r.flags for r in results)
    ideal = concurrency / latency
    print(
        f"{mode:6s}  wall {wall:5.2f} s  answers/s {n / wall:6.1f}  calls/s {calls / wall:6.1f}  "
        f"throughput {calls / wall / ideal:4.2f} x ideal C/L = {ideal:.0f} calls/s  "
        f"client CPU/answer {cpu / n * 1000:4.1f} ms\n"
        f"        calls/answer {calls / n:4.2f}  prompt tokens/answer {prompt / n:6.1f}  "
        f"completion tokens/answer {completion / n:5.1f}  fallbacks {fallbacks}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description="LLM judge throughput against the local fake server.")
    ap.add_argument("-n", type=int, default=500)
    ap.add_argument("--latency", type=float, default=0.05, help="seconds the fake server takes per call (L)")
    ap.add_argument("--concurrency", type=int, default=16, help="answers in flight (C)")
    ap.add_argument("--modes", default="llm,hybrid")
    args = ap.parse_args()

    sys.path.insert(0, str(ROOT))
    from grader.banks import load_bank
    from grader.settings import Settings

    proc, url = start_server(args.latency)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            bank = load_bank(write_bank(Path(tmp)))
            settings = Settings(model="bench", base_url=url, api_key="bench", use_cache=False, timeout=10, max_retries=2)
            answers = make_answers(args.n)
            print(f"L = {args.latency * 1000:.0f} ms, C = {args.concurrency}, {args.n} answers, "
                  f"{len(bank.questions)} questions, fake server pid {proc.pid}")
            for mode in args.modes.split(","):
                results, wall, cpu = asyncio.run(run_mode(mode, answers, bank, settings, args.concurrency))
                report(mode, results, wall, cpu, args.latency, args.concurrency)
    finally:
        proc.terminate()
        proc.wait(timeout=5)


if __name__ == "__main__":
    main()
