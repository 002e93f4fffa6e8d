"""A scripted OpenAI-compatible server for tests and benchmarks: POST /v1/chat/completions on 127.0.0.1.

Each test pushes the replies it wants, in order (`FakeLLM.push`); a reply is a `Step` (status,
headers such as Retry-After, a delay or a hang, message content, finish_reason, a raw body) or a
function of the request returning one. When the script is empty, `default` answers (None: a 500
saying so, so an unscripted call fails loudly). Every request is recorded (`requests`: JSON body,
headers with lower-case names, arrival time) so tests can assert on what the client sent.

Token counts in `usage` are an approximation (one per CJK character, word or punctuation mark),
the same for every request, so they compare runs, not providers.

Run standalone (for eval/bench_llm.py): python tests/fake_llm_server.py --latency 0.05
prints `PORT <n>` and serves until killed, answering every request with `plausible_reply`.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Union

_TOKEN = re.compile(r"[\u3400-\u9fff]|\w+|[^\w\s]")
_IDS = re.compile(r"^- \[([^\]\n]+)\]", re.MULTILINE)
_ANSWER = re.compile(r"<answer>\n(.*)\n</answer>", re.DOTALL)


@lru_cache(maxsize=256)  # the system prompt is the same in every request
def approx_tokens(text: str) -> int:
    return len(_TOKEN.findall(text or ""))


@dataclass
class Step:
    status: int = 200
    content: str | None = None  # the assistant message
    finish_reason: str = "stop"
    headers: dict = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering; a long delay is a hang (cut short when the server stops)
    body: Union[dict, str, None] = None  # raw response body, instead of a completion


Responder = Callable[[dict], Step]


# ---------------------------------------------------------------- reading a request


def user_text(req: dict) -> str:
    return next((m["content"] for m in req["messages"] if m["role"] == "user"), "")


def request_ids(req: dict) -> list[str]:
    """Key point ids listed in the first user message."""
    return _IDS.findall(user_text(req))


def request_answer(req: dict) -> str:
    m = _ANSWER.search(user_text(req))
    return m.group(1) if m else ""


def format_type(req: dict) -> str | None:
    rf = req.get("response_format")
    return rf.get("type") if isinstance(rf, dict) else None


# ---------------------------------------------------------------- writing a reply


def reply_json(points: list[dict], feedback: str = "ok") -> str:
    return json.dumps({"points": points, "feedback": feedback}, ensure_ascii=False)


def verdicts(req: dict, default: str = "missing", evidence: str = "", **by_id: tuple[str, str]) -> str:
    """A reply for every id of the request: `default` (with `evidence`), or by_id[id] = (verdict, evidence)."""
    pts = []
    for pid in request_ids(req):
        v, ev = by_id.get(pid.replace("-", "_"), by_id.get(pid, (default, evidence)))
        pts.append({"id": pid, "reason": "scripted", "evidence": ev, "verdict": v})
    return reply_json(pts)


def ok(content: str, **kw) -> Step:
    return Step(content=content, **kw)


def plausible_reply(req: dict) -> Step:
    """A stand-in judge: a point is covered when its first word of 2+ letters is in the answer,
    with the answer's first sentence as evidence, else missing."""
    answer = request_answer(req)
    first = re.split(r"[。.!?！？\n]", answer.strip(), maxsplit=1)[0].strip() or answer[:20]
    text = user_text(req)
    pts = []
    for pid in request_ids(req):
        line = re.search(rf"^- \[{re.escape(pid)}\] (.*)$", text, re.MULTILINE)
        words = re.findall(r"[A-Za-z]{2,}|[\u4e00-\u9fff]{2}", line.group(1) if line else "")
        hit = bool(words) and words[0].lower() in answer.lower()
        pts.append({"id": pid, "reason": "stand-in", "evidence": first if hit else "",
                    "verdict": "covered" if hit else "missing"})
    return Step(content=reply_json(pts, "stand-in feedback"))


# ---------------------------------------------------------------- the server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 drops a burst of concurrent connects


class FakeLLM:
    def __init__(self, default: Responder | None = None, latency: float = 0.0, port: int = 0):
        self.default = default
        self.latency = latency
        self.script: deque[Union[Step, Responder]] = deque()
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", port), self._handler())
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def push(self, *steps: Union[Step, Responder]) -> FakeLLM:
        with self._lock:
            self.script.extend(steps)
        return self

    def start(self) -> FakeLLM:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def bodies(self) -> list[dict]:
        return [r["json"] for r in self.requests]

    def _next(self, req: dict) -> Step:
        with self._lock:
            item = self.script.popleft() if self.script else None
        if item is None:
            if self.default is None:
                return Step(status=500, body={"error": {"message": "fake server: no scripted reply left"}})
            item = self.default
        return item(req) if callable(item) else item

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms stall

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                try:
                    req = json.loads(raw)
                except ValueError:
                    return self._send(400, {"error": {"message": "invalid JSON"}})
                with fake._lock:
                    fake.requests.append({"json": req, "headers": {k.lower(): v for k, v in self.headers.items()}, "time": time.monotonic()})
                step = fake._next(req)
                wait = fake.latency + step.delay
                if wait and fake._stopping.wait(wait):
                    return
                if step.body is not None or step.status != 200:
                    body = step.body if step.body is not None else {"error": {"message": f"scripted {step.status}"}}
                    return self._send(step.status, body, step.headers)
                prompt = sum(approx_tokens(m.get("content") or "") for m in req.get("messages", []))
                completion = {
                    "id": f"chatcmpl-fake{len(fake.requests)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": req.get("model", "fake"),
                    "choices": [{
                        "index": 0,
                        "message": {"role": "assistant", "content": step.content},
                        "finish_reason": step.finish_reason,
                    }],
                    "usage": {
                        "prompt_tokens": prompt,
                        "completion_tokens": approx_tokens(step.content or ""),
                        "total_tokens": prompt + approx_tokens(step.content or ""),
                    },
                }
                self._send(200, completion, step.headers)

            def _send(self, status: int, body, headers: dict | None = None):
                data = body.encode() if isinstance(body, str) else json.dumps(body, ensure_ascii=False).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, str(v))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency", type=float, default=0.05, help="seconds added to every reply")
    args = ap.parse_args()
    server = FakeLLM(default=plausible_reply, latency=args.latency, port=args.port)
    print(f"PORT {server.port}", flush=True)
    try:
        server._server.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
