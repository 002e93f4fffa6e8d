"""Loopback load test of the HTTP API: fuzzy grading with N concurrent clients.

    python eval/bench_api.py                      # 32 connections: saturation (wrk), then 300 req/s
    python eval/bench_api.py --clients 8 --rate 0 --bank llm-interview --json

Starts `grader serve` on 127.0.0.1 and a free port, then runs two bounded loads of
POST /v1/grade (mode fuzzy) on answers cut to --chars characters (500) from the dev set, each
phase stopping after --requests requests or --duration seconds:
1. closed loop: every client sends again as soon as it has its answer (the server's capacity),
   driven by wrk (Debian's package; --driver httpx for the Python client, which spends 2-3 ms of
   CPU per request on the same two cores); the load generator's own CPU per request is printed;
2. open loop at --rate requests/s shared by the N clients (latency at that load, measured from
   each request's scheduled time). The target is judged on this phase: with 32 closed-loop
   clients, Little's law makes the mean latency 32 / throughput, so "p99 <= 50 ms at 32 clients"
   can only mean latency at a given rate unless the server does > 640 requests/s.
Prints requests/s, p50/p90/p99/max latency, errors, and the in-process rate of grading the same
answers (no HTTP) as the baseline: `ratio` is HTTP requests/s over in-process grades/s.

The bank: --bank (a bundled name or a path). By default the bundled `llm-interview` bank when it
loads, else a small built-in bank of three Chinese questions written to a temporary directory
(the answers are about 300-500 characters, like real interview answers); the output says which.
The client shares the machine with the server, so the figures are a floor for the server alone.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

TARGET_RPS, TARGET_P99_MS = 300.0, 50.0

BANK = {
    "bank.yaml": "name: bench\ntitle: Bench bank\nlanguage: zh\n",
    "q1.yaml": """\
id: "1"
question: 请详细解释一下 Transformer 模型中的自注意力机制是如何工作的？它为什么比 RNN 更适合处理长序列？
rubric:
  points:
    - id: qkv
      text: 每个 token 的嵌入乘以三个可学习的权重矩阵，得到查询 Q、键 K、值 V。
      keywords: [["Q", "查询", "query"], ["K", "键", "key"], ["V", "值", "value"], ["权重矩阵", "线性变换", "projection", "投影"]]
    - id: scores
      text: 注意力分数由 Q 与 K 的点积得到，并除以 sqrt(d_k) 缩放。
      keywords: [["点积", "内积", "dot product"], ["缩放", "sqrt", "根号", "scale"]]
    - id: softmax
      text: 分数经 softmax 归一化为注意力权重。
      keywords: [["softmax"], ["权重", "概率", "归一化"]]
    - id: weighted_sum
      text: 输出是各 V 按注意力权重的加权和。
      weight: 1.5
      keywords: [["加权和", "加权求和", "weighted sum", "加权平均"], ["V", "值", "value"]]
    - id: parallel
      text: 自注意力可以并行计算，而 RNN 必须按时间步串行。
      keywords: [["并行", "parallel"], ["RNN", "循环神经网络", "串行", "顺序"]]
    - id: long_range
      text: 任意两个位置直接相连，路径长度为 O(1)，缓解长距离依赖的梯度消失。
      keywords: [["长距离", "长程", "long-range", "远距离"], ["依赖", "梯度消失", "直接"]]
""",
    "q2.yaml": """\
id: "2"
question: 你知道MHA，MQA，GQA的区别吗？详细解释一下。
rubric:
  points:
    - id: mha
      text: MHA 中每个头都有自己的 Q、K、V 投影。
      keywords: [["MHA", "多头注意力", "multi-head"], ["每个头", "各头", "独立"]]
    - id: mqa
      text: MQA 中所有头共享同一组 K 和 V，只有 Q 分头。
      keywords: [["MQA", "multi-query"], ["共享", "share", "同一组"]]
    - id: gqa
      text: GQA 把查询头分组，每组共享一组 K 和 V，介于 MHA 和 MQA 之间。
      keywords: [["GQA", "grouped-query", "分组查询"], ["分组", "组", "group"]]
    - id: kv_cache
      text: 减少 K/V 头数可以减小推理时的 KV cache，降低显存和带宽。
      weight: 1.5
      keywords: [["KV cache", "KV 缓存", "kv-cache"], ["显存", "内存", "带宽", "memory"]]
    - id: quality
      text: MQA 可能损失模型质量，GQA 在质量和速度之间折中。
      keywords: [["质量", "效果", "性能", "quality"], ["折中", "平衡", "trade-off", "权衡"]]
""",
    "q3.yaml": """\
id: "3"
question: 在LLM的推理阶段，有哪些常见的解码策略？请解释 Greedy Search, Beam Search, Top-K Sampling 和 Nucleus Sampling (Top-P) 的原理和优缺点。
rubric:
  points:
    - id: greedy
      text: 贪心搜索每步选概率最高的词，简单但容易重复、缺乏多样性。
      keywords: [["贪心", "greedy"], ["概率最高", "最大概率", "argmax"]]
    - id: beam
      text: 束搜索每步保留概率最高的 k 个候选序列，质量更好但计算更多。
      keywords: [["束搜索", "beam search", "beam"], ["候选", "k 个", "beam size", "束宽"]]
    - id: topk
      text: Top-K 采样只在概率最高的 K 个词中按概率采样。
      keywords: [["top-k", "topk", "top k"], ["采样", "sampling", "随机"]]
    - id: topp
      text: Top-P 采样在累积概率达到 p 的最小词集合中采样，候选集大小随分布变化。
      weight: 1.5
      keywords: [["top-p", "nucleus", "核采样", "topp"], ["累积概率", "累计概率", "cumulative"]]
    - id: temperature
      text: 温度调节分布的平滑程度，温度越高越随机。
      keywords: [["温度", "temperature"], ["随机", "平滑", "多样"]]
""",
}

ANSWERS = {
    "1": [
        "自注意力机制先把每个 token 的嵌入向量乘以三个可学习的权重矩阵，得到查询 Q、键 K 和值 V。"
        "然后用 Q 和所有 K 做点积得到注意力分数，再除以根号 d_k 进行缩放，防止数值过大导致梯度过小。"
        "接着对分数做 softmax 归一化，得到注意力权重。最后对所有 V 按这些权重做加权求和，得到每个位置的输出。"
        "相比 RNN，自注意力可以并行计算所有位置，而 RNN 必须按时间步串行处理；另外任意两个位置之间直接相连，"
        "路径长度是 O(1)，所以能更好地捕捉长距离依赖，缓解梯度消失。",
        "Self-attention projects each token into a query, a key and a value. The dot product of queries and keys, "
        "scaled by sqrt(d), goes through softmax, and the output is a weighted sum of the values. Unlike an RNN it "
        "runs in parallel over the sequence.",
        "注意力就是让模型关注重要的词。Transformer 比 RNN 好，因为它更大更新。",
    ],
    "2": [
        "MHA 是标准的多头注意力，每个头都有独立的 Q、K、V 投影。MQA 让所有头共享同一组 K 和 V，只有 Q 分头，"
        "这样推理时 KV cache 小很多，显存和带宽压力都下降，但可能损失一些模型质量。GQA 是折中方案："
        "把查询头分成若干组，每组共享一组 K 和 V，在质量和速度之间取得平衡，LLaMA 2 70B 就用了 GQA。",
        "MQA 共享 K 和 V。GQA 是分组的。MHA 是多头。KV cache 显存。",
    ],
    "3": [
        "贪心搜索每一步都选择概率最高的词，实现简单、速度快，但容易陷入重复，缺乏多样性。"
        "束搜索每步保留概率最高的 k 个候选序列，最后选整体概率最高的，质量通常更好但计算量更大，也可能输出平淡。"
        "Top-K 采样只在概率最高的 K 个词中按概率随机采样，增加多样性。"
        "Top-P（nucleus）采样则在累积概率达到 p 的最小词集合中采样，候选集大小随分布自适应变化。"
        "此外温度 temperature 可以调节分布的平滑程度，温度越高输出越随机。",
        "Greedy picks the argmax token each step; beam search keeps the top k candidates; top-k sampling samples "
        "among the k most likely tokens; nucleus sampling samples from the smallest set whose cumulative "
        "probability exceeds p.",
    ],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pick_bank(arg: str | None, tmp: Path) -> tuple[str, str, list[tuple[str, str]]]:
    """(bank ref for the server, description, [(question_id, answer)])."""
    from grader.banks import load_bank
    from grader.errors import GraderError

    if arg is None:
        try:
            bank = load_bank("llm-interview")
            return "llm-interview", "bundled llm-interview", _answers_from(bank)
        except GraderError as exc:
            print(f"bench: bundled bank not usable ({exc}); using the built-in bench bank", file=sys.stderr)
    else:
        bank = load_bank(arg)
        return arg, f"{bank.name} ({arg})", _answers_from(bank)
    for name, text in BANK.items():
        (tmp / name).write_text(text, encoding="utf-8")
    pairs = [(qid, a) for qid, answers in ANSWERS.items() for a in answers]
    return str(tmp), "built-in bench bank (3 zh questions, 5-6 points each)", pairs


def _answers_from(bank) -> list[tuple[str, str]]:
    """A full and a half answer per question: its reference answer, else its key points."""
    pairs = []
    for q in bank.questions.values():
        full = q.reference_answer or "。".join(p.text for p in q.rubric.points)
        full = full[:3000]
        pairs += [(q.id, full), (q.id, full[: max(1, len(full) // 2)])]
    return pairs


def inprocess_rate(bank_ref: str, pairs: list[tuple[str, str]], seconds: float = 3.0) -> float:
    from grader.pipeline import Grader
    from grader.settings import Settings

    grader = Grader(Settings(), bank=bank_ref)
    for qid, a in pairs:  # warm caches (bank, compiled rubrics, jieba)
        grader.grade(qid, a, mode="fuzzy")
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        qid, a = pairs[n % len(pairs)]
        grader.grade(qid, a, mode="fuzzy")
        n += 1
    return n / (time.perf_counter() - t0)


def start_server(bank_ref: str, port: int, extra_env: dict[str, str], log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRADER_", "OPENAI_"))}
    env.update(extra_env)
    cmd = [sys.executable, "-m", "grader.cli", "serve", "--host", "127.0.0.1", "--port", str(port), "--bank", bank_ref]
    # The access log goes to a file: a pipe nobody reads would fill up and stall the server.
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"bench: grader serve exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("bench: grader serve did not answer /healthz within 30 s")


async def load(
    base: str, pairs: list[tuple[str, str]], clients: int, total: int, duration: float, rate: float = 0.0
) -> dict:
    """`clients` workers, each with its own keep-alive connection.

    rate == 0: closed loop, every worker sends its next request as soon as the last one returns
    (saturation: latency is then mostly queueing, about clients / throughput by Little's law).
    rate > 0: open loop, the workers together send `rate` requests/s on a fixed schedule, and
    latency counts from the scheduled time, so a stalled server is not hidden by clients that
    wait for it (no coordinated omission).
    """
    bodies = [json.dumps({"question_id": q, "answer": a, "mode": "fuzzy"}, ensure_ascii=False).encode() for q, a in pairs]
    latencies: list[float] = []
    errors: dict[str, int] = {}
    issued = 0
    # One client (one keep-alive connection) per worker: a single AsyncClient shared by 32 workers
    # spends most of its time in its connection pool (measured: 3.5 ms of client CPU per request
    # against 1.7 ms), and the client shares the two cores with the server.
    conns = [httpx.AsyncClient(base_url=base, timeout=10.0, limits=httpx.Limits(max_connections=1)) for _ in range(clients)]
    headers = {"content-type": "application/json"}
    try:
        # warm-up: every connection once, not timed
        await asyncio.gather(*(c.post("/v1/grade", content=bodies[i % len(bodies)], headers=headers) for i, c in enumerate(conns)))
        t0 = time.perf_counter()
        deadline = t0 + duration

        async def worker(client: httpx.AsyncClient):
            nonlocal issued
            while issued < total and time.perf_counter() < deadline:
                k = issued
                issued += 1
                start = time.perf_counter()
                if rate > 0:
                    start = t0 + k / rate  # the schedule, not the moment this worker got free
                    delay = start - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                try:
                    r = await client.post("/v1/grade", content=bodies[k % len(bodies)], headers=headers)
                    if r.status_code != 200:
                        errors[str(r.status_code)] = errors.get(str(r.status_code), 0) + 1
                except httpx.HTTPError as exc:
                    errors[exc.__class__.__name__] = errors.get(exc.__class__.__name__, 0) + 1
                latencies.append(time.perf_counter() - start)

        cpu0 = time.process_time()
        await asyncio.gather(*(worker(c) for c in conns))
        elapsed = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
    finally:
        await asyncio.gather(*(c.aclose() for c in conns))
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {
        "load": f"open loop at {rate:g} req/s" if rate > 0 else "closed loop (saturation)",
        "requests": len(latencies),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "seconds": round(elapsed, 3),
        "rps": round(len(latencies) / elapsed, 1),
        "p50_ms": round(pct(0.50), 2),
        "p90_ms": round(pct(0.90), 2),
        "p99_ms": round(pct(0.99), 2),
        "max_ms": round(latencies[-1] * 1000, 2),
        "client_cpu_ms_per_request": round(cpu * 1000 / max(len(latencies), 1), 3),  # this Python client's own
    }


_WRK_LUA = """
local bodies, i = {}, 0
for line in io.lines("%s") do bodies[#bodies + 1] = line end
request = function()
  i = i %% #bodies + 1
  return wrk.format("POST", "/v1/grade", {["Content-Type"] = "application/json"}, bodies[i])
end
"""
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else float("nan")


def _proc_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) of a process so far, from /proc; 0.0 where unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError, TypeError):
        return 0.0


def wrk_load(base: str, pairs: list[tuple[str, str]], clients: int, duration: float, tmp: Path, server_pid: int | None = None) -> dict:
    """Closed loop driven by wrk (C, epoll): `clients` connections on 2 threads. Its own CPU time
    is read from the child's rusage, so what the load generator took from the server shows."""
    bodies = tmp / "bodies.jsonl"
    bodies.write_text("".join(json.dumps({"question_id": q, "answer": a, "mode": "fuzzy"}, ensure_ascii=False) + "\n"
                              for q, a in pairs), encoding="utf-8")
    script = tmp / "grade.lua"
    script.write_text(_WRK_LUA % bodies, encoding="utf-8")
    r0, s0 = resource.getrusage(resource.RUSAGE_CHILDREN), _proc_cpu(server_pid)
    out = subprocess.run(["wrk", "-t", "2", "-c", str(clients), "-d", f"{duration:g}s", "--latency", "-s", str(script), base],
                         capture_output=True, text=True, check=True).stdout
    r1, s1 = resource.getrusage(resource.RUSAGE_CHILDREN), _proc_cpu(server_pid)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    pct = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)$", out, re.M))
    total = int(re.search(r"^\s*(\d+) requests in ([\d.]+)(\w+)", out, re.M).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = {"non-2xx": int(non2xx.group(1))} if non2xx else {}
    if sock and any(int(x) for x in sock.groups()):
        errors["socket"] = sum(int(x) for x in sock.groups())
    return {
        "load": "closed loop (saturation), wrk",
        "requests": total,
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "seconds": duration,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": round(_ms(pct.get("50", "")), 2),
        "p90_ms": round(_ms(pct.get("90", "")), 2),
        "p99_ms": round(_ms(pct.get("99", "")), 2),
        "max_ms": round(_ms(re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", out).group(1)), 2),
        "client_cpu_ms_per_request": round(cpu * 1000 / max(total, 1), 3),
        "server_cpu_ms_per_request": round((s1 - s0) * 1000 / max(total, 1), 3) if server_pid else None,
    }


def _run_loop(coro):
    try:
        import uvloop  # the client's own overhead matters: it shares the machine with the server
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    ap.add_argument("--rate", type=float, default=TARGET_RPS, help=f"open-loop rate, requests/s (default {TARGET_RPS:g}; 0: skip)")
    ap.add_argument("--requests", type=int, default=3000, help="each phase stops after this many requests (default 3000)")
    ap.add_argument("--duration", type=float, default=15.0, help="or after this many seconds (default 15)")
    ap.add_argument("--bank", default=None, help="bundled bank name or bank path (default: llm-interview if usable, else built-in)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--driver", choices=("wrk", "httpx"), default="wrk" if shutil.which("wrk") else "httpx",
                    help="closed-loop load generator: wrk (default when installed: far less client CPU) or httpx")
    ap.add_argument("--chars", type=int, default=500,
                    help="answers cut to this many characters from the dev set (as eval/bench_grade.py; 0: the bank's "
                         "reference answers, full and halved)")
    args = ap.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="grader-bench-") as tmp:
        bank_ref, bank_desc, pairs = pick_bank(args.bank, Path(tmp))
        if args.chars and args.bank is None and bank_ref == "llm-interview":
            from bench_grade import answers

            pairs = answers(200, args.chars)
            bank_desc += f", dev-set answers cut to {args.chars} characters"
        baseline = inprocess_rate(bank_ref, pairs)
        port = free_port()
        proc = start_server(bank_ref, port, {}, Path(tmp) / "serve.log")
        base = f"http://127.0.0.1:{port}"
        try:
            if args.driver == "wrk":
                phases = [wrk_load(base, pairs, args.clients, args.duration, Path(tmp))]
            else:
                phases = [_run_loop(load(base, pairs, args.clients, args.requests, args.duration))]
            if args.rate > 0:
                phases.append(_run_loop(load(base, pairs, args.clients, args.requests, args.duration, rate=args.rate)))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    avg_chars = round(statistics.fmean(len(a) for _, a in pairs))
    judged = phases[-1]
    ok = judged["errors"] == 0 and judged["rps"] >= TARGET_RPS * 0.98 and judged["p99_ms"] <= TARGET_P99_MS
    out = {
        "bank": bank_desc,
        "answers": len(pairs),
        "avg_answer_chars": avg_chars,
        "clients": args.clients,
        "cpus": os.cpu_count(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "inprocess_grades_per_s": round(baseline, 1),
        "phases": [{**p, "ratio": round(p["rps"] / baseline, 3)} for p in phases],
        "target": f">= {TARGET_RPS:g} req/s, p99 <= {TARGET_P99_MS:g} ms, no errors (judged on the last phase)",
        "target_met": ok,
    }
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(f"bank: {bank_desc}; {len(pairs)} answers, {avg_chars} characters on average")
        print(f"{os.cpu_count()} CPUs, 1-minute load average {out['loadavg_1m']}; {args.clients} clients")
        print(f"in-process grading (no HTTP): {out['inprocess_grades_per_s']} grades/s")
        for p in out["phases"]:
            print(f"{p['load']}: {p['requests']} requests in {p['seconds']} s, {p['errors']} errors {p['error_kinds'] or ''}")
            print(f"  {p['rps']} requests/s (HTTP/in-process ratio {p['ratio']}); latency p50 {p['p50_ms']} ms, "
                  f"p90 {p['p90_ms']} ms, p99 {p['p99_ms']} ms, max {p['max_ms']} ms; "
                  f"load generator CPU {p['client_cpu_ms_per_request']} ms per request")
        print(f"target ({out['target']}): {'met' if ok else 'NOT met'}")
    return 0 if all(p["errors"] == 0 for p in phases) else 1


if __name__ == "__main__":
    sys.exit(main())
