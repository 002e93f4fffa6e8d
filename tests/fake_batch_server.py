"""A local stand-in for OpenAI's Files and Batches endpoints, on 127.0.0.1.

    POST /v1/files                   multipart (purpose, file) -> a file object
    POST /v1/batches                 {input_file_id, endpoint, completion_window} -> a batch, "validating"
    GET  /v1/batches/{id}            the batch; it completes after `polls` retrievals: every request line
                                     is answered by `responder(body)` (a fake_llm_server.Step), ids in
                                     `fail` go to the error file instead
    GET  /v1/files/{id}/content      the file's bytes

Every uploaded file and created batch is kept (`files`, `batches`) so tests can read what was sent.
"""

from __future__ import annotations

import json
import threading
import time
from email.parser import BytesParser
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fake_llm_server import Step, approx_tokens, plausible_reply


class FakeBatchAPI:
    def __init__(self, responder=plausible_reply, polls: int = 2, fail: dict | None = None):
        self.responder = responder
        self.polls = polls
        self.fail = dict(fail or {})  # custom_id -> error message
        self.files: dict[str, dict] = {}
        self.batches: dict[str, dict] = {}
        self.retrievals = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FakeBatchAPI:
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def file_lines(self, file_id: str) -> list[dict]:
        return [json.loads(line) for line in self.files[file_id]["data"].splitlines() if line.strip()]

    # ------------------------------------------------------------ state

    def _new_file(self, data: bytes, purpose: str, filename: str) -> dict:
        fid = f"file-{len(self.files) + 1}"
        obj = {"id": fid, "object": "file", "bytes": len(data), "created_at": int(time.time()),
               "filename": filename, "purpose": purpose, "status": "processed"}
        self.files[fid] = {"obj": obj, "data": data}
        return obj

    def _complete(self, b: dict) -> None:
        out, err = [], []
        for n, req in enumerate(self.file_lines(b["input_file_id"])):
            cid = req["custom_id"]
            if cid in self.fail:
                err.append({"id": f"req-{n}", "custom_id": cid, "response": None,
                            "error": {"code": "server_error", "message": self.fail[cid]}})
                continue
            step: Step = self.responder(req["body"])
            prompt = sum(approx_tokens(m.get("content") or "") for m in req["body"].get("messages", []))
            if step.status != 200:
                err.append({"id": f"req-{n}", "custom_id": cid, "error": None, "response": {
                    "status_code": step.status, "body": step.body or {"error": {"message": f"scripted {step.status}"}}}})
                continue
            body = {"id": f"chatcmpl-{n}", "object": "chat.completion", "created": int(time.time()),
                    "model": req["body"].get("model"),
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": step.content},
                                 "finish_reason": step.finish_reason}],
                    "usage": {"prompt_tokens": prompt, "completion_tokens": approx_tokens(step.content or ""),
                              "total_tokens": prompt + approx_tokens(step.content or "")}}
            out.append({"id": f"req-{n}", "custom_id": cid, "response": {"status_code": 200, "request_id": f"r{n}", "body": body},
                        "error": None})
        enc = lambda rows: "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()  # noqa: E731
        b["output_file_id"] = self._new_file(enc(out), "batch_output", "output.jsonl")["id"] if out else None
        b["error_file_id"] = self._new_file(enc(err), "batch_output", "errors.jsonl")["id"] if err else None
        b["status"] = "completed"
        b["completed_at"] = int(time.time())
        b["request_counts"] = {"total": len(out) + len(err), "completed": len(out), "failed": len(err)}

    # ------------------------------------------------------------ HTTP

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_POST(self):
                raw = self._body()
                path = self.path.rstrip("/")
                with fake._lock:
                    if path.endswith("/files"):
                        msg = BytesParser(policy=default_policy).parsebytes(
                            b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + raw)
                        fields = {p.get_param("name", header="content-disposition"): p for p in msg.iter_parts()}
                        f = fields["file"]
                        obj = fake._new_file(f.get_payload(decode=True), fields["purpose"].get_content().strip(),
                                             f.get_filename() or "upload.jsonl")
                        return self._send(200, obj)
                    if path.endswith("/batches"):
                        req = json.loads(raw)
                        if req.get("input_file_id") not in fake.files:
                            return self._send(404, {"error": {"message": "no such file"}})
                        bid = f"batch-{len(fake.batches) + 1}"
                        b = {"id": bid, "object": "batch", "endpoint": req["endpoint"], "input_file_id": req["input_file_id"],
                             "completion_window": req["completion_window"], "status": "validating",
                             "created_at": int(time.time()), "metadata": req.get("metadata"), "_polls": 0,
                             "request_counts": {"total": 0, "completed": 0, "failed": 0}}
                        fake.batches[bid] = b
                        return self._send(200, b)
                return self._send(404, {"error": {"message": f"no route POST {self.path}"}})

            def do_GET(self):
                parts = self.path.strip("/").split("/")
                with fake._lock:
                    if len(parts) == 3 and parts[1] == "batches" and parts[2] in fake.batches:
                        b = fake.batches[parts[2]]
                        fake.retrievals += 1
                        b["_polls"] += 1
                        if b["status"] != "completed":
                            if b["_polls"] >= fake.polls:
                                fake._complete(b)
                            else:
                                b["status"] = "in_progress"
                        return self._send(200, b)
                    if len(parts) == 4 and parts[1] == "files" and parts[3] == "content" and parts[2] in fake.files:
                        return self._send(200, fake.files[parts[2]]["data"], "application/jsonl")
                return self._send(404, {"error": {"message": f"no route GET {self.path}"}})

            def _send(self, status, body, ctype="application/json"):
                data = body if isinstance(body, bytes) else json.dumps(
                    {k: v for k, v in body.items() if not k.startswith("_")}, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
