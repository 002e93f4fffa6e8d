"""Faults: the installed `grader` console script, killed (SIGKILL) or interrupted (SIGINT) mid-run,
then resumed: every input id ends up in OUT exactly once, every line whole."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

N = 2500
ANSWERS = [
    ("4", "MQA 所有头共享一组 KV，GQA 分组共享。"),
    ("3", "RoPE rotates query and key vectors so attention depends on relative position."),
    ("7", "beam search keeps several candidates"),
]


def grader_exe() -> str:
    exe = Path(sys.executable).parent / "grader"
    return str(exe) if exe.exists() else (shutil.which("grader") or pytest.skip("the grader console script is not installed"))


@pytest.fixture
def rows(tmp_path) -> Path:
    inp = tmp_path / "in.jsonl"
    with open(inp, "w", encoding="utf-8") as f:
        for i in range(N):
            qid, ans = ANSWERS[i % len(ANSWERS)]
            f.write(json.dumps({"id": f"k{i}", "question_id": qid, "answer": f"{ans} #{i}"}, ensure_ascii=False) + "\n")
        f.write("{broken\n")
    return inp


def start(inp: Path, out: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([grader_exe(), "batch", str(inp), "--out", str(out), "--mode", "keyword", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def wait_for_lines(out: Path, n: int, proc: subprocess.Popen, limit: float = 30.0) -> None:
    t_end = time.monotonic() + limit
    while time.monotonic() < t_end:
        if out.exists() and out.read_bytes().count(b"\n") >= n:
            return
        if proc.poll() is not None:
            pytest.fail(f"the batch ended before it could be interrupted: {proc.stderr.read()}")
        time.sleep(0.02)
    pytest.fail("the batch wrote too little")


def check_complete(out: Path) -> None:
    lines = out.read_bytes().split(b"\n")
    assert lines[-1] == b""  # ends with a whole line
    ids = [json.loads(line)["id"] for line in lines[:-1]]
    assert len(ids) == len(set(ids)), "an id was written twice"
    assert set(ids) == {f"k{i}" for i in range(N)} | {f"line-{N + 1}"}


def test_sigkill_mid_run_then_resume(rows, tmp_path):
    out = tmp_path / "out.jsonl"
    proc = start(rows, out)
    wait_for_lines(out, 200, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    before = out.read_bytes().count(b"\n")
    assert 200 <= before < N
    resumed = start(rows, out, "--summary-json")
    stdout, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, stderr
    d = json.loads(stdout)
    assert d["skipped"] >= before and d["graded"] + d["errors"] + d["skipped"] == N + 1
    check_complete(out)
    assert d["out"]["lines"] == N + 1


def test_sigint_stops_cleanly_with_130_and_resumes(rows, tmp_path):
    out = tmp_path / "out.jsonl"
    proc = start(rows, out)
    wait_for_lines(out, 200, proc)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 130, stderr
    assert time.monotonic() - t0 < 5
    assert "interrupted" in stderr and "run the same command again" in stderr and "score: mean" in stderr
    assert out.read_bytes().endswith(b"\n")
    written = out.read_bytes().count(b"\n")
    resumed = start(rows, out, "--summary-json")
    stdout, stderr = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, stderr
    assert json.loads(stdout)["skipped"] == written
    check_complete(out)
