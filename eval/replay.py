"""Record and replay a judge model's replies: a local OpenAI-compatible server keyed by messages.

The judge is measured with replies of a real model, recorded once and replayed to the grader, so a
figure can be reproduced offline and a prompt change shows exactly what must be recorded again.

    python eval/replay.py serve --port 18800          # replay eval/data/judge/*.jsonl; misses -> eval/out/pending/
    python eval/replay.py status                      # how many requests are pending
    python eval/replay.py export JOBS_DIR --per 40    # pending requests as prompt files, in job folders
    python eval/replay.py import JOBS_DIR --set NAME  # the replies written beside them -> eval/data/judge/NAME.jsonl

How a request is answered (`POST /v1/chat/completions`):
- its key is the SHA-256 of its messages (role and content of each, in order), nothing else: the
  response format, model name and sampling settings do not change what the model was shown;
- a recorded reply is returned as the assistant message, with token counts (`approx_tokens`);
- a request with no recorded reply is written to the pending folder (once per key) and answered with
  HTTP 422, which the grader does not retry: it falls back to fuzzy and flags `llm_fallback`, so a
  run with misses finishes quickly and counts them (`misses`).

Recorded replies (eval/data/judge/*.jsonl), one JSON object per line:
    {"key": "<sha256>", "reply": "<the assistant message text>", "set": "<set name>"}
How they were produced is written in eval/data/judge/MANIFEST.md.

Token counts are an approximation, the same for every request: one per CJK character, per word and
per punctuation mark (no tokenizer of the recorded model is available offline). They compare runs
(hybrid against llm), not providers.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
RECORDED = HERE / "data" / "judge"
PENDING = HERE / "out" / "pending"

_TOKEN = re.compile(r"[\u3400-\u9fff]|\w+|[^\w\s]")


def approx_tokens(text: str) -> int:
    return len(_TOKEN.findall(text or ""))


def request_key(messages: list[dict]) -> str:
    """What identifies a request: its messages, role and content, in order."""
    canon = json.dumps([[m.get("role", ""), m.get("content", "")] for m in messages], ensure_ascii=False)
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


def load_recorded(folder: Path = RECORDED) -> dict[str, str]:
    replies: dict[str, str] = {}
    for path in sorted(folder.glob("*.jsonl")):
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, start=1):
                if line.strip():
                    try:
                        row = json.loads(line)
                        replies[row["key"]] = row["reply"]
                    except (ValueError, KeyError) as exc:
                        raise SystemExit(f"{path}:{n}: not a recorded reply ({exc})") from None
    return replies


class ReplayServer:
    """Serves recorded replies on 127.0.0.1; records the requests it has no reply for."""

    def __init__(self, replies: dict[str, str] | None = None, pending: Path | None = PENDING, port: int = 0):
        self.replies = load_recorded() if replies is None else replies
        self.pending = pending
        self.hits = 0
        self.misses: set[str] = set()
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.server.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def start(self) -> "ReplayServer":
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "ReplayServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def answer(self, body: dict) -> tuple[int, dict]:
        messages = body.get("messages") or []
        key = request_key(messages)
        reply = self.replies.get(key)
        if reply is None:
            with self.lock:
                new = key not in self.misses
                self.misses.add(key)
            if new and self.pending is not None:
                self.pending.mkdir(parents=True, exist_ok=True)
                record = {"key": key, "messages": messages, "response_format": body.get("response_format")}
                (self.pending / f"{key}.json").write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")
            return 422, {"error": {"message": f"no recorded reply for request {key[:12]}", "type": "not_recorded"}}
        with self.lock:
            self.hits += 1
        prompt = sum(approx_tokens(m.get("content", "")) for m in messages)
        return 200, {
            "id": f"replay-{key[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "recorded"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": approx_tokens(reply),
                      "total_tokens": prompt + approx_tokens(reply)},
        }

    def _handler(self):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    status, out = 400, {"error": {"message": "invalid JSON body"}}
                else:
                    status, out = outer.answer(body) if self.path.endswith("/chat/completions") else (
                        404, {"error": {"message": f"no route {self.path}"}})
                data = json.dumps(out, ensure_ascii=False).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler


# ---------------------------------------------------------------- prompt files for the judge model


def render_request(record: dict) -> str:
    """A request as the model sees it: each message, then the reply format it was asked for."""
    parts = []
    for m in record["messages"]:
        parts.append(f"===== {m['role']} message =====\n{m['content']}")
    fmt = record.get("response_format")
    if fmt:
        parts.append("===== response_format (sent with the request) =====\n" + json.dumps(fmt, ensure_ascii=False, indent=1))
    return "\n\n".join(parts) + "\n"


def export(jobs: Path, per: int, pending: Path = PENDING) -> None:
    records = sorted(pending.glob("*.json"))
    done = load_recorded()
    todo = [p for p in records if p.stem not in done]
    jobs.mkdir(parents=True, exist_ok=True)
    n_jobs = 0
    for i in range(0, len(todo), per):
        folder = jobs / f"job{i // per + 1:02d}"
        folder.mkdir(exist_ok=True)
        n_jobs += 1
        for j, path in enumerate(todo[i : i + per], start=1):
            record = json.loads(path.read_text(encoding="utf-8"))
            (folder / f"r{j:03d}_{record['key'][:16]}.prompt.txt").write_text(render_request(record), encoding="utf-8")
    print(f"{len(todo)} pending requests -> {n_jobs} job folder(s) under {jobs}")


def import_replies(jobs: Path, set_name: str, pending: Path = PENDING, out: Path = RECORDED) -> None:
    """Each `<name>.prompt.txt` with a `<name>.reply.json` beside it becomes a recorded reply. The
    reply is stored as written; it is checked to be one JSON object (what the model would send)."""
    keys = {p.stem[:16]: p.stem for p in pending.glob("*.json")}
    out.mkdir(parents=True, exist_ok=True)
    have = load_recorded(out)
    added = bad = 0
    with open(out / f"{set_name}.jsonl", "a", encoding="utf-8") as f:
        for reply_path in sorted(jobs.rglob("*.reply.json")):
            short = reply_path.name.split("_", 1)[1].split(".", 1)[0]
            key = keys.get(short)
            if key is None or key in have:
                continue
            text = reply_path.read_text(encoding="utf-8").strip()
            try:
                if not isinstance(json.loads(text), dict):
                    raise ValueError("not an object")
            except ValueError as exc:
                print(f"{reply_path}: not one JSON object ({exc}); skipped", file=sys.stderr)
                bad += 1
                continue
            f.write(json.dumps({"key": key, "reply": text, "set": set_name}, ensure_ascii=False) + "\n")
            have[key] = text
            added += 1
    print(f"{added} replies added to {out / (set_name + '.jsonl')}; {bad} unusable")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--port", type=int, default=18800)
    sub.add_parser("status")
    e = sub.add_parser("export")
    e.add_argument("jobs", type=Path)
    e.add_argument("--per", type=int, default=40)
    e.add_argument("--pending", type=Path, default=PENDING, help="folder of recorded requests")
    i = sub.add_parser("import")
    i.add_argument("jobs", type=Path)
    i.add_argument("--set", required=True)
    i.add_argument("--pending", type=Path, default=PENDING, help="folder of recorded requests")
    args = ap.parse_args(argv)
    if args.cmd == "serve":
        server = ReplayServer(port=args.port).start()
        print(f"PORT {server.server.server_address[1]}  {len(server.replies)} recorded replies", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            server.stop()
    elif args.cmd == "status":
        done = load_recorded()
        pending = [p for p in PENDING.glob("*.json") if p.stem not in done]
        print(f"{len(done)} recorded replies; {len(pending)} pending requests in {PENDING}")
    elif args.cmd == "export":
        export(args.jobs, args.per, args.pending)
    else:
        import_replies(args.jobs, args.set, args.pending)


if __name__ == "__main__":
    main()
