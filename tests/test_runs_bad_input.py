"""Batch input a careless or hostile user gives: every bad row is an error line naming its line
and the batch goes on; OUT is never written twice at once; every mistake is one line naming the
fix (issue 19 #4-7, #13)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grader.cli import app
from grader.errors import UsageError
from grader.pipeline import Grader
from grader.runs.batch import run_batch
from grader.runs.outfile import Out
from grader.settings import Settings

from test_runs_batch_faults import grader_exe


def out_lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def batch(inp: Path, out: Path, **kw):
    return run_batch(inp, out, Grader(Settings(mode="keyword")), "keyword", workers=0, progress=False, **kw)


def row(i, answer="MQA 所有头共享一组 KV", **extra) -> str:
    return json.dumps({"id": f"r{i}", "question_id": "4", "answer": answer, **extra}, ensure_ascii=False)


def test_a_byte_that_is_not_utf8_is_an_error_line_with_its_line_number_and_the_batch_goes_on(tmp_path):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    lines = [row(i).encode() for i in range(5)]
    lines[2] = row(2, "caf").encode().replace(b"caf", b"caf\xe9")
    inp.write_bytes(b"\n".join(lines) + b"\n")
    s = batch(inp, out)
    assert (s.graded, s.errors) == (4, 1)
    bad = [r for r in out_lines(out) if "error" in r]
    assert bad == [{"id": "line-3", "error": {"type": "invalid_row", "message": "line 3 is not UTF-8 text; save the file as UTF-8"}}]


def test_a_lone_surrogate_id_and_answer_are_graded_not_a_traceback(tmp_path):
    """Issue 19 #5: "\\ud800" in an id stopped the batch at that row, on every re-run."""
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text('{"id": "\\ud800", "question_id": "4", "answer": "MQA \\ud800 共享 KV"}\n' + row(1) + "\n")
    s = batch(inp, out)
    assert (s.graded, s.errors) == (2, 0)
    assert [r["id"] for r in out_lines(out)] == ["\ufffd", "r1"]
    assert batch(inp, out).skipped == 2  # a re-run resumes


def test_csv_long_field_line_numbers_and_a_missing_answer_column(tmp_path):
    """Issue 19 #6 (a field over 131,072 characters was a _csv.Error traceback) and #13 (record
    numbers given as line numbers; a row without its answer column graded 0)."""
    inp, out = tmp_path / "in.csv", tmp_path / "out.jsonl"
    long = "MQA 共享 KV " * 20000
    inp.write_bytes(
        b"id,question_id,answer\n"
        b'a,4,"two\nlines"\n'  # lines 2-3
        b"b,4\n"  # line 4: no answer column
        b'c,4,"MQA, ok"\n'  # line 5
        + f'd,4,"{long}"\n'.encode()  # line 6
        + b"e,4,caf\xe9\n"  # line 7: Latin-1
    )
    s = batch(inp, out)
    got = {r["id"]: r for r in out_lines(out)}
    assert "result" in got["a"] and "result" in got["c"]
    assert "over the limit of 20000" in got["d"]["error"]["message"]  # an error line, not a traceback
    assert got["b"]["error"]["message"] == "line 4: the row has no answer column (fewer fields than the header)"
    assert got["line-7"]["error"]["message"] == "line 7 is not UTF-8 text; save the file as UTF-8"
    assert (s.graded, s.errors) == (2, 3)


def test_deeply_nested_json_is_an_error_line(tmp_path):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text("[" * 100000 + "\n" + row(1) + "\n")
    s = batch(inp, out)
    assert (s.graded, s.errors) == (1, 1)
    assert "nested too deeply" in out_lines(out)[0]["error"]["message"]


def test_a_second_batch_on_the_same_out_stops_instead_of_doubling_every_row(tmp_path):
    """Issue 19 #4: two runs at once wrote every row twice."""
    out = tmp_path / "out.jsonl"
    holder = Out(out)
    try:
        inp = tmp_path / "in.jsonl"
        inp.write_text(row(1) + "\n")
        with pytest.raises(UsageError, match="being written by another grader batch"):
            batch(inp, out)
    finally:
        holder.close()
    assert batch(inp, out).graded == 1


def test_two_batch_processes_on_one_out_write_each_row_once(tmp_path):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text("".join(row(i) + "\n" for i in range(3000)), encoding="utf-8")
    cmd = [grader_exe(), "batch", str(inp), "--out", str(out), "--mode", "keyword", "--workers", "0"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    assert sorted(rc for _, _, rc in results) in ([0, 0], [0, 2])  # the second waited for nothing: it stopped
    for _, err, rc in results:
        assert "Traceback" not in err
        if rc == 2:
            assert err.count("\n") == 1 and "being written by another grader batch" in err
    ids = [r["id"] for r in out_lines(out)]
    assert sorted(ids) == sorted(f"r{i}" for i in range(3000))


def test_input_given_as_out_is_refused(tmp_path):
    inp = tmp_path / "in.jsonl"
    inp.write_text(row(1) + "\n")
    with pytest.raises(UsageError, match="is the input file itself"):
        batch(inp, inp)


def one_line_error(result, code=2) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
    err = result.stderr.strip()
    assert err.count("\n") == 0 and err.startswith("grader: error: "), err
    return err


@pytest.fixture
def rows_file(tmp_path) -> Path:
    inp = tmp_path / "in.jsonl"
    inp.write_text(row(1) + "\n")
    return inp


def test_out_a_directory_or_unwritable_is_one_line(tmp_path, rows_file):
    r = CliRunner().invoke(app, ["batch", str(rows_file), "--out", str(tmp_path), "--mode", "keyword"])
    assert "is a directory: pass a file path" in one_line_error(r)
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        r = CliRunner().invoke(app, ["batch", str(rows_file), "--out", str(ro / "o.jsonl"), "--mode", "keyword"])
        assert "pass a writable file path" in one_line_error(r)


def test_report_a_directory_is_refused_before_grading(tmp_path, rows_file):
    out = tmp_path / "out.jsonl"
    r = CliRunner().invoke(app, ["batch", str(rows_file), "--out", str(out), "--report", str(tmp_path), "--mode", "keyword"])
    assert "--report" in one_line_error(r) and not out.exists()


def test_a_full_disk_is_one_line_and_the_run_resumes(tmp_path):
    """`ulimit -f`: writes beyond the limit fail with EFBIG (Python ignores SIGXFSZ)."""
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    inp.write_text("".join(row(i) + "\n" for i in range(60)), encoding="utf-8")
    limit = "import resource; resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))"
    code = f"{limit}; import sys; sys.argv = ['grader', 'batch', {str(inp)!r}, '--out', {str(out)!r}, '--mode', 'keyword', '--workers', '0']; from grader.cli import main; main()"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr
    assert "free some space" in p.stderr and p.stderr.strip().count("\n") == 0
    p = subprocess.run([grader_exe(), "batch", str(inp), "--out", str(out), "--mode", "keyword"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert sorted(r["id"] for r in out_lines(out)) == sorted(f"r{i}" for i in range(60))


@pytest.mark.parametrize("name", ["GRADER_TIMEOUT", "GRADER_HISTORY_TIMEOUT"])
def test_a_bad_number_in_the_environment_is_one_line(monkeypatch, name, tmp_path):
    monkeypatch.setenv(name, "abc")
    monkeypatch.setenv("GRADER_HISTORY", str(tmp_path / "h.db"))
    r = CliRunner().invoke(app, ["history"])
    assert name in one_line_error(r)


def test_history_show_a_huge_id_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("GRADER_HISTORY", str(tmp_path / "h.db"))
    r = CliRunner().invoke(app, ["history", "show", "99999999999999999999"])
    assert "no attempt #99999999999999999999" in one_line_error(r)


def test_a_judge_cache_value_that_is_not_an_object_is_a_miss_with_a_warning(tmp_path, capsys):
    from grader.llm.cache import JudgeCache

    c = JudgeCache(tmp_path / "c.sqlite3")
    c.put("k", {"points": []})
    c._conn().execute("UPDATE judge_cache SET value = '[1, 2]'")
    assert c.get("k") is None
    c.get("k")
    err = capsys.readouterr().err
    assert err.count("grader: warning:") == 1 and "not a judge reply" in err


def test_two_history_imports_at_once_are_not_a_traceback(tmp_path):
    """Issue 19 #7: FileNotFoundError one time in three."""
    from datetime import datetime, timezone

    from grader.practice.history import Attempt, History, save_fallback

    db = tmp_path / "h.db"
    for i in range(300):
        save_fallback(db, Attempt(created_at=datetime.now(timezone.utc), bank="b", question_id="1", mode="fuzzy", answer=f"a{i}", score=1))
    errors = []

    def open_one():
        try:
            History(db, timeout=30).close()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with History(db) as h:
        assert len(h.all()) == 300
