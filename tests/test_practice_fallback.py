"""The fallback file of the practice history: attempts written while the database is busy are never
lost, whatever runs at the same time; damaged lines are set aside, never deleted unread."""

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from grader.practice import fallback
from grader.practice.history import Attempt, AttemptPoint, History, fallback_path, save_fallback


def attempt(answer: str) -> Attempt:
    return Attempt(
        created_at=datetime(2025, 3, 1, 9, 30, tzinfo=timezone.utc), bank="llm-interview", question_id="4",
        mode="fuzzy", answer=answer, score=5.0,
        points=[AttemptPoint(id="p1", text="one", weight=1.0, verdict="covered", credit=1.0, evidence=answer[:3])],
    )


def answers(path) -> list[str]:
    with History(path) as h:
        return sorted(a.answer for a in h.all())


def test_an_attempt_written_during_an_import_is_kept(tmp_path, monkeypatch):
    """Issue 19 #1: the importer read the file, a session appended to it, the importer deleted it."""
    db = tmp_path / "h.db"
    for i in range(50):
        save_fallback(db, attempt(f"old {i}"))
    written = threading.Event()

    def slow_store(store):
        def wrapped(a):
            if a.answer == "old 0":  # mid-import: another session saves an attempt
                t = threading.Thread(target=lambda: (save_fallback(db, attempt("ZZTOP")), written.set()))
                t.start()
                t.join(5)
            return store(a)
        return wrapped

    real = fallback.import_fallback
    monkeypatch.setattr("grader.practice.history.import_fallback", lambda p, parse, store: real(p, parse, slow_store(store)))
    with History(db) as h:
        assert h.imported == 50
    assert written.is_set()
    monkeypatch.setattr("grader.practice.history.import_fallback", real)
    got = answers(db)
    assert "ZZTOP" in got and len(got) == 51


def test_concurrent_writers_and_importers_lose_and_double_nothing(tmp_path):
    db = tmp_path / "h.db"
    code = (
        "import sys; from datetime import datetime, timezone\n"
        "from grader.practice.history import Attempt, History, save_fallback\n"
        "from pathlib import Path\n"
        "db = Path(sys.argv[1]); me = sys.argv[2]\n"
        "for i in range(40):\n"
        "    save_fallback(db, Attempt(created_at=datetime.now(timezone.utc), bank='b', question_id='1',"
        " mode='fuzzy', answer=f'{me}-{i}', score=1.0))\n"
        "    if i % 10 == 0:\n"
        "        History(db, timeout=30).close()\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(db), f"w{k}"], stderr=subprocess.PIPE, text=True)
             for k in range(4)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        assert "Traceback" not in err
    got = answers(db)
    assert got == sorted(f"w{k}-{i}" for k in range(4) for i in range(40))
    assert not fallback_path(db).exists() and not list(tmp_path.glob("*.importing-*"))


def test_a_torn_line_and_bad_bytes_are_set_aside_and_the_rest_imported(tmp_path, capsys):
    """Issue 19 #2: a torn last line glued the next attempt to it and nothing was imported again;
    a byte that is not UTF-8 was a traceback on every run."""
    db = tmp_path / "h.db"
    fb = fallback_path(db)
    good = attempt("line one").model_dump_json().encode()
    fb.write_bytes(good + b"\n" + good[:40])  # killed in the middle of the append
    save_fallback(db, attempt("after the tear"))
    with open(fb, "ab") as f:
        f.write(b'{"answer": "caf\xe9"}\n')
    with History(db) as h:
        assert h.imported == 2
    assert answers(db) == ["after the tear", "line one"]
    assert not fb.exists()
    rejected = fallback.rejected_path(db).read_bytes()
    assert rejected == good[:40] + b"\n" + b'{"answer": "caf\xe9"}\n'  # byte for byte
    err = capsys.readouterr().err
    assert "2 line(s)" in err and str(fallback.rejected_path(db)) in err


def test_an_interrupted_import_is_finished_by_the_next_run(tmp_path):
    db = tmp_path / "h.db"
    for i in range(3):
        save_fallback(db, attempt(f"a{i}"))

    def fail_after_one(a, n=[0]):
        n[0] += 1
        if n[0] == 2:
            raise OSError("database went away")
        with History(db) as h:
            h.add(a)

    with pytest.raises(OSError):
        fallback.import_fallback(db, Attempt.model_validate_json, fail_after_one)
    assert not fallback_path(db).exists() and len(list(tmp_path.glob("*.importing-*"))) == 1
    save_fallback(db, attempt("new"))
    assert answers(db) == ["a0", "a1", "a2", "new"]
    assert not list(tmp_path.glob("*.importing-*")) and not fallback_path(db).exists()


def test_an_answer_with_bytes_that_are_not_utf8_is_stored(tmp_path):
    """Issue 19 #3: 'caf\\xe9' read from stdin (surrogateescape) was a UnicodeEncodeError in add()
    and the attempt was in neither the database nor the fallback file."""
    db = tmp_path / "h.db"
    text = b"caf\xe9".decode("utf-8", "surrogateescape")
    with History(db) as h:
        h.add(attempt(text))
    assert answers(db) == ["caf\ufffd"]
    save_fallback(db, attempt(text + "!"))
    assert json.loads(fallback_path(db).read_text(encoding="utf-8"))["answer"] == "caf\ufffd!"


def test_practice_with_a_latin1_byte_on_stdin_keeps_the_attempt(tmp_path):
    env = {**os.environ, "GRADER_HISTORY": str(tmp_path / "h.db"), "GRADER_DATA_DIR": str(tmp_path),
           "PYTHONIOENCODING": "utf-8:surrogateescape"}
    exe = Path(sys.executable).parent / "grader"
    p = subprocess.run([str(exe) if exe.exists() else shutil.which("grader"), "practice", "-q", "4"], input=b"caf\xe9\n.\n\n/quit\n",
                       capture_output=True, env=env, cwd=tmp_path, timeout=120)
    assert b"Traceback" not in p.stderr, p.stderr.decode(errors="replace")
    assert answers(tmp_path / "h.db") == ["caf\ufffd"]


def test_a_writer_waits_for_another_writer_not_for_ever(tmp_path, monkeypatch):
    if fallback.fcntl is None:
        pytest.skip("no advisory locks here")
    monkeypatch.setattr(fallback, "LOCK_WAIT", 0.3)
    fb = tmp_path / "f.jsonl"
    fd = os.open(fb, os.O_WRONLY | os.O_CREAT)
    fallback.fcntl.flock(fd, fallback.fcntl.LOCK_EX)
    t0 = time.monotonic()
    try:
        fallback.append_line(fb, b"x\n")
    finally:
        os.close(fd)
    assert 0.25 < time.monotonic() - t0 < 5 and fb.read_bytes() == b"x\n"
