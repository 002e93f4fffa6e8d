"""`grader batch --engine ray` and `grader.ray.grade` on a local Ray cluster of 2 CPUs that this
module starts once (on 127.0.0.1) and stops at its end. The reference everywhere is the local
engine: the same INPUT must give the same OUT line for every id."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

if importlib.util.find_spec("ray") is None:  # pragma: no cover - CI installs the extra through .[dev]
    pytest.skip('ray is not installed: pip install -e ".[dev]" (or "grader[ray]") to run the Ray engine tests',
                allow_module_level=True)

from fake_llm_server import FakeLLM, plausible_reply
from grader.pipeline import Grader
from grader.runs.batch import run_batch
from grader.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DEV = [json.loads(x) for x in (ROOT / "eval" / "data" / "dev.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def cluster():
    """A local cluster (2 CPUs) shared by the module; yields its address for subprocess drivers."""
    import ray  # here, not at import: Ray's import is a second of collection

    if ray.is_initialized():
        ray.shutdown()
    os.environ.setdefault("RAY_worker_niceness", "0")  # as the local engine's workers (Ray's default: 15)
    ctx = ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", logging_level="ERROR",
                   runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
    yield ctx.address_info["gcs_address"]
    ray.shutdown()


@pytest.fixture(scope="module")
def thousand(tmp_path_factory):
    """1,000 rows and the local engine's OUT lines for them, by id (shared by the tests below)."""
    tmp = tmp_path_factory.mktemp("thousand")
    inp = write_jsonl(tmp / "in.jsonl", rows_of(1000))
    return inp, local(inp, tmp, offline())


def offline() -> Settings:
    return Settings(mode="fuzzy", use_cache=False)


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def rows_of(n: int) -> list[dict]:
    """n rows cycling through the dev set (bank questions) with a few ad-hoc references among them."""
    out = []
    for i in range(n):
        r = DEV[i % len(DEV)]
        row = {"id": f"r{i}", "question_id": r["question_id"], "answer": r["answer"], "score": r["score"]}
        if i % 50 == 7:
            row = {"id": f"r{i}", "reference_answer": DEV[(i + 1) % len(DEV)]["answer"], "answer": r["answer"]}
        out.append(row)
    return out


def lines_by_id(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    by_id = {json.loads(x)["id"]: x for x in lines}
    assert len(by_id) == len(lines), "an id written twice"
    return by_id


def local(inp: Path, tmp: Path, settings: Settings, **kw) -> dict[str, str]:
    out = tmp / "local.jsonl"
    run_batch(inp, out, Grader(settings), settings.mode, workers=0, progress=False, **kw)
    return lines_by_id(out)


def on_ray(inp, out: Path, settings: Settings, **kw):
    from grader.runs.ray_engine import run_ray_batch

    return run_ray_batch(str(inp), out, Grader(settings), settings.mode, progress=False, **kw)


def test_a_thousand_rows_give_the_local_engines_lines_id_by_id(cluster, thousand, tmp_path):
    inp, want = thousand
    s = on_ray(inp, tmp_path / "ray.jsonl", offline())
    assert (s.rows, s.graded, s.errors, s.skipped) == (1000, 1000, 0, 0)
    assert lines_by_id(tmp_path / "ray.jsonl") == want
    again = on_ray(inp, tmp_path / "ray.jsonl", offline())  # resume: everything is there already
    assert (again.graded, again.skipped) == (0, 1000)


def test_bad_rows_are_error_lines_as_in_the_local_engine(cluster, tmp_path):
    rows = [{"id": "ok", "question_id": "4", "answer": "MQA 共享一组 K/V"}, "{not json", "[1, 2]",
            {"id": "no-answer", "question_id": "4"}, {"question_id": "4", "answer": "no id"},
            {"id": "unknown-q", "question_id": "999", "answer": "x"}, {"id": "nothing", "answer": "x"},
            {"id": "ok", "question_id": "4", "answer": "a repeated id: skipped"}, {"id": 17, "question_id": "3", "answer": "RoPE"}]
    inp = write_jsonl(tmp_path / "in.jsonl", rows)
    s = on_ray(inp, tmp_path / "ray.jsonl", offline())
    ray_lines, local_lines = lines_by_id(tmp_path / "ray.jsonl"), local(inp, tmp_path, offline())
    assert ray_lines == local_lines
    assert (s.rows, s.graded, s.errors, s.skipped) == (9, 2, 6, 1)
    errors = {k: json.loads(v)["error"]["type"] for k, v in ray_lines.items() if "error" in json.loads(v)}
    assert errors == {"line-2": "invalid_json", "line-3": "invalid_row", "no-answer": "invalid_row",
                      "line-5": "invalid_row", "unknown-q": "NotFoundError", "nothing": "UsageError"}


def test_csv_and_parquet_files_in_a_directory_give_the_same_lines(cluster, tmp_path):
    import csv

    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{k: v for k, v in r.items() if k != "score"} for r in rows_of(60)]
    cols = ["id", "question_id", "answer", "reference_answer"]
    (tmp_path / "in").mkdir()
    with open(tmp_path / "in" / "a.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        w.writerows({**r, "id": "csv-" + r["id"]} for r in rows)
    pq.write_table(pa.table({c: [("pq-" if c == "id" else "") + r[c] if r.get(c) else None for r in rows] for c in cols}),
                   tmp_path / "in" / "b.parquet")
    want = local(write_jsonl(tmp_path / "in.jsonl", rows), tmp_path, offline())
    on_ray(tmp_path / "in", tmp_path / "ray.jsonl", offline())
    got = lines_by_id(tmp_path / "ray.jsonl")
    for prefix in ("csv-", "pq-"):
        mine = {k[len(prefix):]: v.replace(f'"id": "{k}"', f'"id": "{k[len(prefix):]}"', 1) for k, v in got.items() if k.startswith(prefix)}
        assert mine == want, prefix


def _actors_of_this_cluster() -> list[int]:
    """Pids of the grading actors: workers of the raylet this test process started."""
    ours = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            parent_stat = Path(f"/proc/{stat[1]}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if cmd.startswith(b"ray::MapWorker(MapBatches(GradeBatch))") and int(parent_stat[1]) == os.getpid():
            ours.add(int(pid))
    return sorted(ours)


def test_a_worker_killed_mid_run_loses_nothing(cluster, thousand, tmp_path):
    inp, want = thousand
    out = tmp_path / "ray.jsonl"
    killed: list[int] = []

    def kill_one_when_started() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            n = out.read_bytes().count(b"\n") if out.exists() else 0
            actors = _actors_of_this_cluster()
            if n >= 100 and actors:
                os.kill(actors[0], signal.SIGKILL)
                killed.append(actors[0])
            time.sleep(0.05)

    t = threading.Thread(target=kill_one_when_started)
    t.start()
    try:
        s = on_ray(inp, out, offline())
    finally:
        t.join()
    assert killed, "no grading actor was found to kill"
    assert s.rows - s.skipped == 1000 and s.errors == 0
    assert lines_by_id(out) == want


def test_a_killed_driver_resumes_exactly(cluster, thousand, tmp_path):
    inp, want = thousand
    out = tmp_path / "ray.jsonl"
    cmd = [sys.executable, "-m", "grader.cli", "batch", str(inp), "--out", str(out), "--engine", "ray",
           "--address", cluster, "--mode", "fuzzy", "--no-cache", "--summary-json"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(tmp_path / "stderr.txt", "wb"), env=env)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and p.poll() is None:
        if out.exists() and out.read_bytes().count(b"\n") >= 100:
            break
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    first = out.read_bytes().count(b"\n") if out.exists() else 0
    assert 0 < first < 1000, "the driver was not killed mid-run: " + (tmp_path / "stderr.txt").read_text()[-2000:]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=180)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["skipped"] >= first and summary["graded"] == 1000 - summary["skipped"]
    assert summary["out"]["results"] == 1000
    assert lines_by_id(out) == want


def test_llm_mode_against_the_scripted_server(cluster, tmp_path):
    rows = [{k: v for k, v in r.items() if k != "score"} for r in rows_of(40)] + [{"id": "bad", "answer": "x"}]
    inp = write_jsonl(tmp_path / "in.jsonl", rows)
    with FakeLLM(default=plausible_reply) as server:
        settings = Settings(mode="llm", model="fake", base_url=server.url, api_key="k", use_cache=False,
                            max_retries=0, timeout=10.0)
        s = on_ray(inp, tmp_path / "ray.jsonl", settings, concurrency=4)
        n_ray = len(server.requests)
        want = local(inp, tmp_path, settings, concurrency=4)
    assert (s.graded, s.errors) == (40, 1)
    got = lines_by_id(tmp_path / "ray.jsonl")
    assert got == want
    assert n_ray == sum(json.loads(v)["result"]["usage"]["llm_calls"] for v in got.values() if "result" in v)
    assert not any("llm_fallback" in json.loads(v).get("result", {}).get("flags", []) for v in got.values())


def test_the_python_entry_point_grades_a_dataset(cluster):
    import ray

    import grader.ray

    rows = [{k: v for k, v in r.items() if k not in ("score", "reference_answer")} for r in rows_of(30)
            if "question_id" in r] + [{"id": "x", "question_id": "999", "answer": "?"}]
    got = {r["id"]: r for r in grader.ray.grade(ray.data.from_items(rows), mode="keyword",
                                                settings=Settings(use_cache=False)).take_all()}
    g = Grader(Settings(use_cache=False))
    for r in rows[:-1]:
        want = g.grade(r["question_id"], r["answer"], mode="keyword")
        assert got[r["id"]]["score"] == want.score
        assert json.loads(got[r["id"]]["result"]) == json.loads(want.model_dump_json(exclude_none=True))
        assert got[r["id"]]["error"] is None
    assert got["x"]["score"] is None and json.loads(got["x"]["error"])["type"] == "NotFoundError"


def test_ray_is_imported_only_by_the_ray_engine():
    code = ("import sys; from grader.cli import app; from typer.testing import CliRunner; "
            "r = CliRunner().invoke(app, ['grade', '3', 'RoPE 旋转 Query 和 Key']); assert r.exit_code == 0, r.output; "
            "import grader, grader.runs.batch, grader.runs.rows; "
            "assert 'ray' not in sys.modules and 'pyarrow' not in sys.modules, 'ray imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_without_the_extra_the_ray_engine_is_a_usage_error_naming_it(tmp_path):
    inp = write_jsonl(tmp_path / "in.jsonl", rows_of(2))
    code = ("import sys; sys.modules['ray'] = None; from grader.cli import app; from typer.testing import CliRunner; "
            f"r = CliRunner().invoke(app, ['batch', {str(inp)!r}, '--out', {str(tmp_path / 'o.jsonl')!r}, '--engine', 'ray']); "
            "print(r.output); sys.exit(r.exit_code)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2, r.stdout + r.stderr
    assert 'pip install "grader[ray]"' in r.stdout + r.stderr
