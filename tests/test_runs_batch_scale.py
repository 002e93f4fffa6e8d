"""Batch at scale: executors, summary of the whole OUT, the HTML report, the judge through asyncio
and through the OpenAI Batch API (local fake servers only)."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fake_batch_server import FakeBatchAPI
from fake_llm_server import FakeLLM, ok, plausible_reply, request_ids
from grader.runs.batch import IdSet, done_ids, run_batch
from grader.cli import app
from grader.pipeline import Grader
from grader.settings import Settings

runner = CliRunner()

ANSWERS = [
    ("4", "MQA 让所有 Query 头共享同一组 K 和 V，KV cache 缩小；GQA 分组共享。"),
    ("3", "RoPE 用旋转矩阵编码位置，内积只依赖相对位置。"),
    ("1", "Self-attention lets every token attend to every other token; the cost is quadratic."),
    ("4", ""),
    ("7", "Greedy decoding picks the most likely token; beam search keeps several candidates; top-p samples."),
]
HOSTILE = '<script>alert("x")</script> & <img src=http://evil.example/x.png> MQA 共享 KV'


def write_rows(path: Path, n: int, extra: list[dict] = ()) -> list[str]:
    ids = []
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            qid, ans = ANSWERS[i % len(ANSWERS)]
            f.write(json.dumps({"id": f"r{i}", "question_id": qid, "answer": ans + (f" ({i})" if ans else "")}, ensure_ascii=False) + "\n")
            ids.append(f"r{i}")
        for row in extra:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            ids.append(row["id"])
    return ids


def out_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# ---------------------------------------------------------------- ids and lines


def test_idset_grows_and_answers_membership():
    s = IdSet()
    assert s.add("a") and not s.add("a")
    for i in range(5000):
        assert s.add(f"id-{i}")
    assert len(s) == 5001 and "id-4999" in s and "id-5000" not in s and "a" in s


def test_done_ids_streams_and_cuts_a_torn_tail(tmp_path):
    out = tmp_path / "o.jsonl"
    out.write_bytes(b'{"id": "a", "result": {}}\n{"id": 7, "error": {}}\nforeign but whole\n{"id": "b", "res')
    assert done_ids(out) == {"a", "7"}
    assert out.read_bytes().endswith(b"foreign but whole\n")
    s = done_ids(out, IdSet())
    assert "a" in s and "7" in s and len(s) == 2


# ---------------------------------------------------------------- offline executors


def test_worker_processes_write_what_one_process_writes(tmp_path):
    inp = tmp_path / "in.jsonl"
    ids = write_rows(inp, 300, extra=[{"id": "bad", "question_id": "99", "answer": "x"}])
    with open(inp, "a", encoding="utf-8") as f:
        f.write("not json\n" + json.dumps({"id": "r0", "question_id": "4", "answer": "repeat"}) + "\n")
    g = Grader(Settings())
    one, many = tmp_path / "one.jsonl", tmp_path / "many.jsonl"
    s1 = run_batch(inp, one, g, "fuzzy", workers=0, progress=False)
    s2 = run_batch(inp, many, g, "fuzzy", workers=2, progress=False)
    assert s1.executor == "in process" and s2.executor == "2 worker processes"
    assert (s1.graded, s1.errors, s1.skipped) == (s2.graded, s2.errors, s2.skipped) == (300, 2, 1)
    a, b = out_lines(one), out_lines(many)
    assert [x["id"] for x in a] == [x["id"] for x in b]  # submission order kept
    assert a == b
    assert {x["id"] for x in a} == set(ids) | {"line-302"}


def test_summary_covers_the_whole_out_across_runs(tmp_path):
    inp = tmp_path / "in.jsonl"
    write_rows(inp, 20)
    part = tmp_path / "part.jsonl"
    part.write_text("".join(line + "\n" for line in inp.read_text(encoding="utf-8").splitlines()[:8]), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    r1 = runner.invoke(app, ["batch", str(part), "--out", str(out), "--summary-json"])
    assert json.loads(r1.stdout)["graded"] == 8
    r2 = runner.invoke(app, ["batch", str(inp), "--out", str(out), "--summary-json", "--price-in", "0.15", "--price-out", "0.6"])
    assert r2.exit_code == 0, r2.stderr
    d = json.loads(r2.stdout)
    assert (d["rows"], d["graded"], d["skipped"]) == (20, 12, 8)  # this run
    assert d["out"]["results"] == 20 and d["scores"]["n"] == 20  # the whole OUT
    assert sum(b["count"] for b in d["scores"]["histogram"]) == 20 and len(d["scores"]["histogram"]) == 10
    scores = sorted(x["result"]["score"] for x in out_lines(out))
    assert d["scores"]["mean"] == pytest.approx(sum(scores) / 20, abs=1e-3)
    assert d["scores"]["median"] == pytest.approx((scores[9] + scores[10]) / 2, abs=0.01)
    q4 = d["questions"]["llm-interview:4"]
    assert q4["n"] == 8 and 0 < len(q4["most_missed"]) <= 3
    assert all(0 < m["miss_rate"] <= 1 for m in q4["most_missed"])
    assert d["flags"].get("empty") == 4
    assert d["cost"]["estimated"] == 0.0 and d["usage"]["llm_calls"] == 0
    human = runner.invoke(app, ["batch", str(inp), "--out", str(out)])
    assert "20 graded" in human.stderr and "median" in human.stderr and "estimated cost" not in human.stderr


# ---------------------------------------------------------------- the report


class _Doc(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: dict[str, int] = {}
        self.urls: list[str] = []
        self.rows = 0
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        for k, v in attrs:
            if k in ("src", "href", "xlink:href") or (v and ("http:" in v or "https:" in v or "url(" in v)):
                self.urls.append(f"{k}={v}")
        if tag == "tr" and ("class", "answer-row") in attrs:
            self.rows += 1

    def handle_data(self, data):
        self.text.append(data)


def test_report_is_self_contained_and_escapes_answers(tmp_path):
    inp = tmp_path / "in.jsonl"
    write_rows(inp, 30, extra=[{"id": "evil", "question_id": "4", "answer": HOSTILE}])
    out, rep = tmp_path / "out.jsonl", tmp_path / "report.html"
    r = runner.invoke(app, ["batch", str(inp), "--out", str(out), "--report", str(rep)])
    assert r.exit_code == 0, r.stderr
    page = rep.read_text(encoding="utf-8")
    doc = _Doc()
    doc.feed(page)
    # inline scripts only (sorting and filtering; the key points' texts as JSON), no image, nothing from elsewhere
    assert doc.tags.get("script", 0) == 2 and doc.tags.get("img", 0) == 0 and doc.tags.get("link", 0) == 0
    local = [u for u in doc.urls if not u.startswith(("href=#", "href=report.csv"))]
    assert local == [] and "http" not in page.replace("http://evil.example", "")
    assert doc.rows >= 10
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert HOSTILE in "".join(doc.text)  # shown as text, verbatim


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="chromium is not installed")
def test_report_renders_in_headless_chromium(tmp_path):
    inp = tmp_path / "in.jsonl"
    write_rows(inp, 30, extra=[{"id": "evil", "question_id": "4", "answer": HOSTILE}])
    out, rep, png = tmp_path / "out.jsonl", tmp_path / "report.html", tmp_path / "shot.png"
    assert runner.invoke(app, ["batch", str(inp), "--out", str(out), "--report", str(rep)]).exit_code == 0
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(["/usr/bin/chromium", *flags, "--dump-dom", rep.as_uri()], capture_output=True, text=True, timeout=60)
    assert dom.stdout.count('class="answer-row"') >= 10 and "<script>alert" not in dom.stdout
    subprocess.run(["/usr/bin/chromium", *flags, "--window-size=1200,1600", f"--screenshot={png}", rep.as_uri()],
                   capture_output=True, timeout=60)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a blank page is a few KB


# ---------------------------------------------------------------- the judge, concurrently


@pytest.fixture
def fast_retries(monkeypatch):
    from grader.llm import client as judge_client  # openai: imported by the tests that use it

    monkeypatch.setattr(judge_client, "DEFAULT_POLICY", judge_client.RetryPolicy(0.01, 0.05, 5.0))


def test_llm_mode_is_concurrent_and_bounded(tmp_path, fast_retries):
    active, peak, lock = [0], [0], threading.Lock()

    def slow(req):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return plausible_reply(req)

    inp = tmp_path / "in.jsonl"
    write_rows(inp, 24, extra=[{"id": "nope", "question_id": "99", "answer": "x"}])
    out = tmp_path / "out.jsonl"
    with FakeLLM(default=slow) as llm:
        settings = Settings(mode="llm", model="m", base_url=llm.url, api_key="k", use_cache=False, timeout=5)
        s = run_batch(inp, out, Grader(settings), "llm", concurrency=4, progress=False)
    assert (s.graded, s.errors) == (24, 1) and s.executor.startswith("asyncio")
    assert 2 <= peak[0] <= 4  # concurrent, and never more than asked (wall time is not asserted: shared CPU)
    res = {x["id"]: x for x in out_lines(out)}
    assert res["r0"]["result"]["usage"]["llm_calls"] == 1 and res["nope"]["error"]["type"] == "NotFoundError"
    assert res["r3"]["result"]["flags"] == ["empty"]  # no call for an empty answer


def test_llm_mode_without_a_model_stops_before_any_row(tmp_path):
    inp = tmp_path / "in.jsonl"
    write_rows(inp, 3)
    r = runner.invoke(app, ["batch", str(inp), "--out", str(tmp_path / "o.jsonl"), "--mode", "llm"])
    assert r.exit_code != 0 and "GRADER_MODEL" in r.stderr
    assert not (tmp_path / "o.jsonl").exists() or (tmp_path / "o.jsonl").read_text() == ""


# ---------------------------------------------------------------- the OpenAI Batch API


def test_openai_batch_sends_the_judges_own_requests(tmp_path, fast_retries):
    inp = tmp_path / "in.jsonl"
    write_rows(inp, 10)
    direct = tmp_path / "direct.jsonl"
    with FakeLLM(default=plausible_reply) as llm:
        settings = Settings(mode="llm", model="m", base_url=llm.url, api_key="k", use_cache=False, timeout=5)
        run_batch(inp, direct, Grader(settings), "llm", concurrency=1, progress=False)
        direct_bodies = {tuple(request_ids(b)) + (b["messages"][1]["content"],): b for b in llm.bodies}

    def responder(body):
        if "quadratic. (2)" in body["messages"][1]["content"] and len(body["messages"]) == 2:
            return ok("I cannot answer in JSON, sorry.")  # row r2: unusable, re-asked in a second round
        return plausible_reply(body)

    out = tmp_path / "via.jsonl"
    with FakeBatchAPI(responder=responder, polls=2, fail={"r6": "the model is overloaded"}) as api:
        r = runner.invoke(app, ["batch", str(inp), "--out", str(out), "--mode", "llm", "--model", "m", "--base-url", api.url,
                                "--no-cache", "--via", "openai-batch", "--poll-interval", "0", "--summary-json"])
        assert r.exit_code == 0, r.stderr
        first = api.batches["batch-1"]
        assert first["completion_window"] == "24h" and first["endpoint"] == "/v1/chat/completions"
        sent = api.file_lines(first["input_file_id"])
        assert api.files[first["input_file_id"]]["obj"]["purpose"] == "batch"
    # one line per answer that needs the judge (r3 and r8 are empty: no call), custom_id = row id
    assert [x["custom_id"] for x in sent] == [f"r{i}" for i in range(10) if i not in (3, 8)]
    assert all(x["method"] == "POST" and x["url"] == "/v1/chat/completions" for x in sent)
    for x in sent:  # byte for byte the body the judge sends to a server
        b = x["body"]
        assert b == direct_bodies[tuple(request_ids(b)) + (b["messages"][1]["content"],)]
    got = {x["id"]: x for x in out_lines(out)}
    assert set(got) == {f"r{i}" for i in range(10)}
    assert got["r6"]["error"]["type"] == "BatchItemError" and "overloaded" in got["r6"]["error"]["message"]
    assert got["r2"]["result"]["usage"]["llm_calls"] == 2 and len(api.batches) == 2  # the re-ask went in round 2
    assert all(p["method"] == "llm" for p in got["r0"]["result"]["points"])
    direct_res = {x["id"]: x["result"] for x in out_lines(direct)}
    for rid in ("r0", "r1", "r4"):
        assert got[rid]["result"]["score"] == direct_res[rid]["score"]
    d = json.loads(r.stdout)
    assert d["graded"] == 9 and d["errors"] == 1 and d["usage"]["prompt_tokens"] > 0
    assert not (tmp_path / "via.jsonl.openai-batch.json").exists()


def test_openai_batch_refuses_a_row_with_several_references(tmp_path, fast_retries):
    inp = tmp_path / "in.jsonl"
    rows = [
        {"id": "one", "reference_answer": "Pointers link the nodes.", "answer": "Each node points to the next."},
        {"id": "two", "reference_answers": ["Pointers link the nodes.", "Nodes are linked."], "answer": "Each node points to the next."},
    ]
    inp.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    out = tmp_path / "via.jsonl"
    with FakeBatchAPI(responder=plausible_reply, polls=1) as api:
        r = runner.invoke(app, ["batch", str(inp), "--out", str(out), "--mode", "llm", "--model", "m", "--base-url", api.url,
                                "--no-cache", "--via", "openai-batch", "--poll-interval", "0"])
        assert r.exit_code == 0, r.stderr
    got = {x["id"]: x for x in out_lines(out)}
    assert "result" in got["one"]
    assert "--via openai-batch" in got["two"]["error"]["message"] and "reference_answer" in got["two"]["error"]["message"]
