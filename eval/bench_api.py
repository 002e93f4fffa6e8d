"""Loopback load test of the HTTP API: fuzzy grading at 32 connections, in rounds interleaved with
its baselines.

    python eval/bench_api.py --rate 0                 # 3 rounds: in-process, wrk on grader serve, wrk on a bare app
    python eval/bench_api.py --rate 0 --workers 2     # grader serve --workers 2
    python eval/bench_api.py --rate 0 --against main   # and main's code, interleaved: ratios to it
    python eval/bench_api.py --clients 8 --rate 300 --bank llm-interview --json

Starts `grader serve` (with --workers N) and a bare uvicorn app on 127.0.0.1, then runs --rounds
rounds, each of them, one after the other:
1. in-process grading of the same answers (no HTTP): grades/s and CPU ms per grade (the baseline);
2. closed loop on POST /v1/grade (mode fuzzy, answers cut to --chars characters, 500): every
   connection sends again as soon as it has its answer, driven by wrk (Debian's package; --driver
   httpx for the Python client, which spends 2-3 ms of CPU per request on the same two cores);
   requests/s, latency percentiles, the server's CPU per request (all its processes) and the load
   generator's own;
3. the same load with empty answers (the pipeline's shortest path: what serving a grade costs
   without matching), then on a bare uvicorn app with the server's protocol and event loop,
   answering every POST with a grade's JSON (~4 KB) and doing nothing else: the HTTP stack's floor;
4. a CPU-spin control: as many pure-Python spinners as server processes against one (below the
   process count means other work on the machine).
Then prints min and median over the rounds of: requests/s and its ratio to in-process grades/s
(times the server processes), p99, server CPU per request, the HTTP overhead per request (server
CPU per request less the in-process CPU of a grade: what serving adds, independent of the matcher)
and the bare app's CPU per request. Optionally (--rate R > 0) an open loop at R requests/s after the
rounds (latency from each request's scheduled time, httpx client). The target is judged on the
closed loop's median round: >= 600 requests/s with p99 <= 50 ms. With 32 closed-loop clients,
Little's law makes the mean latency 32 / throughput: p99 <= 50 ms needs well over 640 requests/s.

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

TARGET_RPS, TARGET_P99_MS = 600.0, 50.0

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


class InProcess:
    """Grading the same answers in this process, no HTTP: the baseline of each round."""

    def __init__(self, bank_ref: str, pairs: list[tuple[str, str]]):
        from grader.pipeline import Grader
        from grader.settings import Settings

        self.grader = Grader(Settings(), bank=bank_ref)
        self.pairs = pairs
        for qid, a in pairs:  # warm caches (bank, compiled rubrics, jieba)
            self.grader.grade(qid, a, mode="fuzzy")

    def measure(self, seconds: float = 3.0) -> tuple[float, float]:
        """(grades/s, CPU ms per grade)."""
        n, t0, c0 = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - t0 < seconds:
            qid, a = self.pairs[n % len(self.pairs)]
            self.grader.grade(qid, a, mode="fuzzy")
            n += 1
        return n / (time.perf_counter() - t0), (time.process_time() - c0) * 1000 / n


BARE_APP = r"""
import sys, uvicorn
from grader.api.limits import server_limits
body = open(sys.argv[2], "rb").read()
headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False,
            server_header=False, **server_limits())
"""


def start_server(bank_ref: str, port: int, extra_env: dict[str, str], log: Path, workers: int = 1,
                 cmd: list[str] | None = None, tree: Path | None = None) -> subprocess.Popen:
    """`grader serve` (or `cmd`) on `port`; with `tree`, the code of that checkout (PYTHONPATH)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRADER_", "OPENAI_"))}
    env.update(extra_env)
    if tree is not None:
        env["PYTHONPATH"] = str(tree)
    cmd = cmd or [sys.executable, "-m", "grader.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
                  "--bank", bank_ref, "--workers", str(workers)]
    # The log goes to a file: a pipe nobody reads would fill up and stall the server.
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, cwd=tree)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"bench: the server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("bench: the server did not answer /healthz within 60 s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


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


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _proc_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) so far of a process and its children (`--workers` processes),
    from /proc; 0.0 where unreadable."""
    if pid is None:
        return 0.0
    total = 0.0
    try:
        pids = [pid] + [int(p) for p in os.listdir("/proc") if p.isdigit() and _ppid(int(p)) == pid]
        for p in pids:
            fields = _stat(p)
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError, TypeError):
        pass
    return total


def _ppid(pid: int) -> int | None:
    try:
        return int(_stat(pid)[1])
    except (OSError, IndexError, ValueError):
        return None


def wrk_load(base: str, pairs: list[tuple[str, str]], clients: int, duration: float, tmp: Path, server_pid: int | None = None) -> dict:
    """Closed loop driven by wrk (C, epoll): `clients` connections on 2 threads. Its own CPU time
    is read from the child's rusage, so what the load generator took from the server shows."""
    tmp = tmp / str(hash(tuple(pairs)) & 0xFFFFFFFF)  # a file of bodies per set of answers
    tmp.mkdir(exist_ok=True)
    bodies = tmp / "bodies.jsonl"
    if not bodies.exists():
        bodies.write_text("".join(json.dumps({"question_id": q, "answer": a, "mode": "fuzzy"}, ensure_ascii=False) + "\n"
                                  for q, a in pairs), encoding="utf-8")
    script = tmp / "grade.lua"
    script.write_text(_WRK_LUA % bodies, encoding="utf-8")
    r0, s0 = resource.getrusage(resource.RUSAGE_CHILDREN), _proc_cpu(server_pid)
    out = subprocess.run(["wrk", "-t", "2", "-c", str(clients), "-d", f"{duration:g}s", "--latency", "-s", str(script), base],
                         capture_output=True, text=True, check=True).stdout
    r1, s1 = resource.getrusage(resource.RUSAGE_CHILDREN), _proc_cpu(server_pid)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    pct = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", out, re.M))
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
    ap.add_argument("--clients", type=int, default=32, help="concurrent connections (default 32)")
    ap.add_argument("--workers", type=int, default=1, help="grader serve --workers N (default 1)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument("--against", metavar="REV", help="also serve REV's code (a temporary git worktree), interleaved in each "
                    "round: its figures and the ratios of this checkout's to them")
    ap.add_argument("--rate", type=float, default=0.0, help="open-loop rate after the rounds, requests/s (default 0: none)")
    ap.add_argument("--requests", type=int, default=3000, help="the httpx phases stop after this many requests (default 3000)")
    ap.add_argument("--duration", type=float, default=8.0, help="seconds of each closed-loop phase (default 8)")
    ap.add_argument("--bank", default=None, help="bundled bank name or bank path (default: llm-interview if usable, else built-in)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--driver", choices=("wrk", "httpx"), default="wrk" if shutil.which("wrk") else "httpx",
                    help="closed-loop load generator: wrk (default when installed: far less client CPU) or httpx")
    ap.add_argument("--chars", type=int, default=500,
                    help="answers cut to this many characters from the dev set (as eval/bench_grade.py; 0: the bank's "
                         "reference answers, full and halved)")
    args = ap.parse_args(argv)
    from bench_batch import spin

    with tempfile.TemporaryDirectory(prefix="grader-bench-") as tmp:
        tmp = Path(tmp)
        bank_ref, bank_desc, pairs = pick_bank(args.bank, tmp)
        if args.chars and args.bank is None and bank_ref == "llm-interview":
            from bench_grade import answers

            pairs = answers(200, args.chars)
            bank_desc += f", dev-set answers cut to {args.chars} characters"
        inproc = InProcess(bank_ref, pairs)
        canned = tmp / "canned.json"  # what the bare app answers: a real response of /v1/grade
        port, bare_port, ref_port = free_port(), free_port(), free_port()
        proc = start_server(bank_ref, port, {}, tmp / "serve.log", workers=args.workers)
        bare = ref = ref_tree = None
        root = Path(__file__).resolve().parent.parent
        try:
            if args.against:
                ref_tree = tmp / "against"
                subprocess.run(["git", "worktree", "add", "--detach", "-q", str(ref_tree), args.against], cwd=root, check=True)
                ref = start_server(bank_ref, ref_port, {}, tmp / "ref.log", workers=args.workers, tree=ref_tree)
            qid, answer = pairs[0]
            canned.write_bytes(httpx.post(f"http://127.0.0.1:{port}/v1/grade", json={"question_id": qid, "answer": answer}).content)
            bare = start_server(bank_ref, bare_port, {}, tmp / "bare.log",
                                cmd=[sys.executable, "-c", BARE_APP, str(bare_port), str(canned)])
            base, bare_base = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{bare_port}"

            # the fixed cost of serving a grade: empty answers (the pipeline's shortest path)
            empty = [(q, "") for q, _ in pairs[:20]]

            def closed_loop(url: str, pid: int, seconds: float, bodies: list = pairs) -> dict:
                if args.driver == "wrk":
                    return wrk_load(url, bodies, args.clients, seconds, tmp, pid)
                c0 = _proc_cpu(pid)
                r = _run_loop(load(url, bodies, args.clients, args.requests, seconds))
                r["server_cpu_ms_per_request"] = round((_proc_cpu(pid) - c0) * 1000 / max(r["requests"], 1), 3)
                return r

            ref_base = f"http://127.0.0.1:{ref_port}"
            closed_loop(base, proc.pid, 2)  # warm-up: every worker process compiles its rubrics
            closed_loop(bare_base, bare.pid, 1)
            if ref is not None:
                closed_loop(ref_base, ref.pid, 2)
            rounds = []
            for _ in range(args.rounds):
                rate, grade_ms = inproc.measure()
                served = closed_loop(base, proc.pid, args.duration)
                theirs = closed_loop(ref_base, ref.pid, args.duration) if ref is not None else None
                fixed = closed_loop(base, proc.pid, max(2.0, args.duration / 2), empty)
                floor = closed_loop(bare_base, bare.pid, max(2.0, args.duration / 2))
                control = spin(args.workers) / spin(1) if args.workers > 1 else 1.0
                rounds.append({
                    "inprocess_grades_per_s": round(rate, 1), "grade_cpu_ms": round(grade_ms, 3), **served,
                    "ratio": round(served["rps"] / (rate * args.workers), 3),
                    "http_overhead_ms": round(served["server_cpu_ms_per_request"] - grade_ms, 3),
                    "empty_cpu_ms_per_request": fixed["server_cpu_ms_per_request"],
                    "bare_cpu_ms_per_request": floor["server_cpu_ms_per_request"], "bare_rps": floor["rps"],
                    "control": round(control, 2),
                })
                if theirs is not None:
                    rounds[-1].update({
                        "against_rps": theirs["rps"], "against_p99_ms": theirs["p99_ms"],
                        "against_server_cpu_ms_per_request": theirs["server_cpu_ms_per_request"],
                        "rps_vs_against": round(served["rps"] / theirs["rps"], 3),
                        "cpu_vs_against": round(served["server_cpu_ms_per_request"] / theirs["server_cpu_ms_per_request"], 3),
                    })
            open_loop = None
            if args.rate > 0:
                open_loop = _run_loop(load(base, pairs, args.clients, args.requests, args.duration, rate=args.rate))
        finally:
            stop(proc)
            for other in (bare, ref):
                if other is not None:
                    stop(other)
            if ref_tree is not None:
                subprocess.run(["git", "worktree", "remove", "--force", str(ref_tree)], cwd=root, check=False)

    def mm(key: str) -> dict:
        values = [r[key] for r in rounds]
        return {"min": min(values), "median": round(statistics.median(values), 3)}

    keys = ("rps", "p50_ms", "p99_ms", "ratio", "server_cpu_ms_per_request", "grade_cpu_ms", "http_overhead_ms",
            "empty_cpu_ms_per_request", "bare_cpu_ms_per_request", "client_cpu_ms_per_request", "inprocess_grades_per_s", "control")
    if args.against:
        keys += ("against_rps", "against_p99_ms", "against_server_cpu_ms_per_request", "rps_vs_against", "cpu_vs_against")
    summary = {k: mm(k) for k in keys}
    errors = sum(r["errors"] for r in rounds) + (open_loop["errors"] if open_loop else 0)
    ok = errors == 0 and summary["rps"]["median"] >= TARGET_RPS and summary["p99_ms"]["median"] <= TARGET_P99_MS
    out = {
        "bank": bank_desc,
        "answers": len(pairs),
        "avg_answer_chars": round(statistics.fmean(len(a) for _, a in pairs)),
        "clients": args.clients,
        "workers": args.workers,
        "driver": args.driver,
        "cpus": os.cpu_count(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "rounds": rounds,
        "summary": summary,
        "open_loop": open_loop,
        "target": f">= {TARGET_RPS:g} req/s, p99 <= {TARGET_P99_MS:g} ms at {args.clients} connections (median round), no errors",
        "target_met": ok,
    }
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(f"bank: {bank_desc}; {len(pairs)} answers, {out['avg_answer_chars']} characters on average")
        print(f"{os.cpu_count()} CPUs, 1-minute load average {out['loadavg_1m']}; {args.clients} connections ({args.driver}), "
              f"grader serve --workers {args.workers}; {args.rounds} rounds of {args.duration:g} s")

        def line(label: str, key: str, unit: str = "", fmt: str = "{:,.3g}") -> None:
            v = summary[key]
            print(f"  {label}: min {fmt.format(v['min'])}{unit}, median {fmt.format(v['median'])}{unit}")

        line("in-process grading, grades/s", "inprocess_grades_per_s", fmt="{:,.0f}")
        line("in-process CPU per grade", "grade_cpu_ms", " ms", "{:.3f}")
        line("POST /v1/grade requests/s", "rps", fmt="{:,.0f}")
        line(f"ratio requests/s / ({args.workers} x in-process grades/s)", "ratio", fmt="{:.2f}")
        line("latency p50", "p50_ms", " ms", "{:.1f}")
        line("latency p99", "p99_ms", " ms", "{:.1f}")
        line("server CPU per request", "server_cpu_ms_per_request", " ms", "{:.3f}")
        line("HTTP overhead per request (server CPU less a grade's)", "http_overhead_ms", " ms", "{:.3f}")
        line("POST /v1/grade of an empty answer (serving a grade, no matching), CPU per request",
             "empty_cpu_ms_per_request", " ms", "{:.3f}")
        line("bare uvicorn app, same protocol and loop, CPU per request", "bare_cpu_ms_per_request", " ms", "{:.3f}")
        line("load generator CPU per request", "client_cpu_ms_per_request", " ms", "{:.3f}")
        if args.against:
            print(f"  {args.against}, served interleaved in each round:")
            line("  POST /v1/grade requests/s", "against_rps", fmt="{:,.0f}")
            line("  latency p99", "against_p99_ms", " ms", "{:.1f}")
            line("  server CPU per request", "against_server_cpu_ms_per_request", " ms", "{:.3f}")
            line(f"  ratio of requests/s, this checkout / {args.against}", "rps_vs_against", fmt="{:.2f}")
            line(f"  ratio of server CPU per request, this checkout / {args.against}", "cpu_vs_against", fmt="{:.2f}")
        if args.workers > 1:
            line(f"control: {args.workers} CPU spinners / one", "control", fmt="{:.2f}")
        print(f"  errors: {errors}")
        if open_loop:
            print(f"open loop at {args.rate:g} req/s: {open_loop['rps']} requests/s, p50 {open_loop['p50_ms']} ms, "
                  f"p99 {open_loop['p99_ms']} ms, max {open_loop['max_ms']} ms, {open_loop['errors']} errors")
        print(f"target ({out['target']}): {'met' if ok else 'NOT met'}")
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
