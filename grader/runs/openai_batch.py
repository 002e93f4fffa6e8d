"""`grader batch --via openai-batch`: the judge's requests through the OpenAI Batch API.

The judge is not re-implemented here. Each row is the ordinary grading flow (`rows.row_flow` ->
`pipeline.grade_flow` -> `matchers.judge.judge`: plan, cache, prompt, conversation, parser,
evidence check, aggregation), a generator that yields the judge's requests; this module drives
those flows a round at a time: every request a row is waiting on goes into one batch, and each
reply is sent back into its row's flow. So every line of the Batch input file is exactly the
request the judge would send (`JudgeClient.request_body`), and every reply is read by the judge's
own parser and checks.

One round per batch:

    rows (<= --batch-size) --run until each is done or waiting--> requests.jsonl
      (custom_id = row id, POST /v1/chat/completions, body) --files.create(purpose="batch")-->
      batches.create(completion_window="24h") --poll every --poll-interval s--> output file
      --each reply resolves its row's pending call--> the judge goes on: a usable reply finishes
      the row; an unusable one is re-asked (the re-ask is the next round's request, at most
      settings.reasks times); a 400 on response_format steps the format down, as with a server.

A row whose item failed in the batch (an error-file entry, a non-200 status, absent from the
output, the batch failed or expired) becomes an error line. Rows the judge needs no call for
(hybrid points settled lexically, empty answers, cache hits) are written before the upload.

Resume: while a batch runs, `OUT.openai-batch.json` holds its id and a hash of the request file.
Interrupted (Ctrl-C, kill) and run again, the same rows produce the same file, so the running
batch is polled again instead of being paid for twice.

Memory is bounded by --batch-size (the API takes at most 50,000 requests per batch).
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path

from .batch import ProgressBar, Summary, _Stop, count_lines, emitter, input_items
from .outfile import IdSet, Out, check_paths, done_ids, error_line, exc_line, result_line
from .rows import Item, row_flow
from ..errors import BatchItemError, FormatRejected, GraderError, UsageError
from ..pipeline import Grader

TERMINAL = ("completed", "failed", "expired", "cancelled")


def _status(batch) -> str:
    rc = getattr(batch, "request_counts", None)
    counts = f" {rc.completed}/{rc.total} done, {rc.failed} failed" if rc is not None else ""
    return f"openai batch {batch.id}: {batch.status}{counts}"


def run_openai_batch(
    input_path: Path, out_path: Path, grader: Grader, mode: str | None = None,
    poll_interval: float = 30.0, batch_size: int = 50000, progress: bool | None = None,
) -> Summary:
    mode = mode or grader.settings.mode
    if mode not in ("llm", "hybrid"):
        raise UsageError(f"--via openai-batch needs --mode llm or hybrid (got {mode}); offline modes make no requests")
    if str(input_path) != "-" and not Path(input_path).is_file():
        raise UsageError(f"cannot read input {input_path}: no such file; pass a JSONL or CSV file")
    from ..llm.client import JudgeClient

    real = JudgeClient(grader.settings)  # JudgeConfigError (no model, no key) before anything is read
    check_paths(input_path, out_path)
    out = Out(out_path)  # locked before the ids already there are read
    seen = done_ids(out_path, IdSet())
    summary = Summary(executor=f"openai batch API, up to {batch_size} requests per batch")
    bar = ProgressBar(progress, lambda: count_lines(input_path), len(seen))
    state_path = out_path.with_name(out_path.name + ".openai-batch.json")

    emit = emitter(out, summary, bar)

    def items(stop: _Stop):
        for it in input_items(input_path, seen, summary, stop):
            if isinstance(it, bytes):
                emit(it, True)  # an unusable row: its error line goes out at once
                continue
            yield it

    try:
        with _Stop() as stop:
            chunk: list[Item] = []
            for it in items(stop):
                chunk.append(it)
                if len(chunk) >= batch_size:
                    _run_chunk(chunk, emit, grader, mode, real, poll_interval, state_path, stop)
                    chunk = []
                if stop.flag:
                    break
            if chunk and not stop.flag:
                _run_chunk(chunk, emit, grader, mode, real, poll_interval, state_path, stop)
            summary.interrupted = stop.flag
    finally:
        bar.close()
        out.close()
        real.close()
    return summary


def _run_chunk(chunk: list[Item], emit, grader: Grader, mode: str, real, poll_interval: float,
               state_path: Path, stop: _Stop) -> None:
    """Drive the rows' flows: each runs until it is finished or waiting for a reply; the requests
    waited on go out as one batch; the replies go back into their flows; again until none waits."""
    endpoint = lambda: real  # noqa: E731 - the server's model, base URL and response format
    waiting: dict[str, tuple] = {}  # row id -> (its flow, the request it waits on)
    metas = {it.id: it.meta for it in chunk}  # the rows' other columns, kept in OUT

    def advance(rid: str, flow, step, value) -> None:
        try:
            waiting[rid] = (flow, step(value))
        except StopIteration as done:
            emit(result_line(rid, done.value, metas.get(rid)), False)
        except Exception as exc:  # noqa: BLE001 - one row's fault is one error line
            emit(exc_line(rid, exc, metas.get(rid)), True)

    for it in chunk:
        try:
            if it.alternatives:
                raise UsageError(
                    "reference_answers with more than one reference is not supported with --via openai-batch "
                    "(one request per row): keep one reference_answer, or grade these rows without --via"
                )
            flow = row_flow(grader, it, mode, endpoint)
        except Exception as exc:  # noqa: BLE001
            emit(exc_line(it.id, exc, it.meta), True)
            continue
        advance(it.id, flow, flow.send, None)

    round_no = 0
    try:
        while waiting and not stop.flag:
            round_no += 1
            requests = {rid: real.request_body(req) for rid, (_, req) in waiting.items()}
            replies = _submit_and_wait(requests, real, poll_interval, state_path, stop, round_no)
            if replies is None:  # interrupted while waiting: the batch goes on server-side; resume polls it
                break
            answered, waiting = waiting, {}
            go_on = []
            for rid, (flow, _) in answered.items():
                got, body = replies.get(rid), requests[rid]
                if isinstance(got, dict):
                    go_on.append((rid, flow, real.reply_from_body(got)))
                elif isinstance(got, tuple) and got[0] == 400 and body.get("response_format") is not None:
                    go_on.append((rid, flow, FormatRejected(f"HTTP 400 for response_format in the batch: {got[1]}")))
                else:
                    why = got[1] if isinstance(got, tuple) else "no result for this request in the batch output"
                    flow.close()
                    emit(error_line(rid, "BatchItemError", why), True)
            for rid, flow, value in go_on:  # failed items first, then the rows that go on, as they finish
                advance(rid, flow, flow.send, value)
    finally:
        for flow, _ in waiting.values():
            flow.close()


def _submit_and_wait(requests: dict, real, poll_interval: float, state_path: Path, stop: _Stop, round_no: int):
    """Upload the requests ({custom_id: body}) as one batch, wait for it, return {custom_id: completion body | (status, message)};
    None when stopped (the state file stays, so the next run polls the same batch)."""
    api = real.api()
    with tempfile.TemporaryDirectory(prefix="grader-batch-") as tmp:
        req_file = Path(tmp) / "requests.jsonl"
        digest = hashlib.sha256()
        with open(req_file, "wb") as f:
            for rid, body in requests.items():
                line = (json.dumps({"custom_id": rid, "method": "POST", "url": "/v1/chat/completions", "body": body},
                                   ensure_ascii=False) + "\n").encode("utf-8")
                digest.update(line)
                f.write(line)
        key = digest.hexdigest()
        batch = None
        try:
            state = json.loads(state_path.read_text(encoding="utf-8")) if state_path.exists() else None
        except ValueError:
            state = None
        try:
            if state and state.get("requests_sha256") == key:
                batch = api.batches.retrieve(state["batch_id"])
                _say(f"resuming {_status(batch)}")
            if batch is None or batch.status in ("failed", "cancelled", "expired"):
                with open(req_file, "rb") as f:
                    uploaded = api.files.create(file=("requests.jsonl", f), purpose="batch")
                batch = api.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions",
                                           completion_window="24h",
                                           metadata={"tool": "grader", "round": str(round_no)})
                state_path.write_text(json.dumps({"batch_id": batch.id, "input_file_id": uploaded.id,
                                                  "requests_sha256": key, "requests": len(requests)}), encoding="utf-8")
                _say(f"{_status(batch)} ({len(requests)} requests)")
            last = batch.status
            while batch.status not in TERMINAL:
                t_end = time.monotonic() + poll_interval
                while time.monotonic() < t_end:
                    if stop.flag:
                        _say(f"stopped waiting; batch {batch.id} goes on: run the same command again to collect it")
                        return None
                    time.sleep(min(0.2, max(0.0, t_end - time.monotonic())))
                batch = api.batches.retrieve(batch.id)
                if batch.status != last:
                    _say(_status(batch))
                    last = batch.status
            replies: dict = {}
            for file_id in (batch.output_file_id, batch.error_file_id):
                if file_id:
                    _read_results(api, file_id, Path(tmp) / f"{file_id}.jsonl", replies)
        except GraderError:
            raise
        except Exception as exc:  # noqa: BLE001 - the openai client's errors, named
            raise BatchItemError(f"the Batch API call failed: {type(exc).__name__}: {exc}") from None
        if batch.status != "completed":
            errs = getattr(getattr(batch, "errors", None), "data", None) or []
            why = "; ".join(f"{e.code}: {e.message}" for e in errs if e is not None) or f"the batch ended {batch.status}"
            for rid in requests:
                replies.setdefault(rid, (0, f"batch {batch.id} {batch.status}: {why}"))
        state_path.unlink(missing_ok=True)
        return replies


def _read_results(api, file_id: str, dest: Path, replies: dict) -> None:
    """Stream a result file to disk, then read it line by line into `replies`."""
    with api.files.with_streaming_response.content(file_id) as resp, open(dest, "wb") as f:
        for block in resp.iter_bytes():
            f.write(block)
    with open(dest, "rb") as f:
        for raw in f:
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except ValueError:
                continue
            rid = obj.get("custom_id")
            if rid is None:
                continue
            response = obj.get("response") or {}
            error = obj.get("error")
            status = response.get("status_code")
            if status == 200 and not error and isinstance(response.get("body"), dict):
                replies[rid] = response["body"]
                continue
            body = response.get("body") if isinstance(response.get("body"), dict) else {}
            msg = (error or {}).get("message") if isinstance(error, dict) else None
            msg = msg or ((body.get("error") or {}).get("message") if isinstance(body.get("error"), dict) else None)
            code = (error or {}).get("code") if isinstance(error, dict) else None
            replies[rid] = (status or 0, f"batch item failed (HTTP {status or '-'}{', ' + code if code else ''}): {msg or 'no message'}")


def _say(msg: str) -> None:
    print(f"grader: {msg}", file=sys.stderr, flush=True)
