"""The history database: schema created and migrated on first run; corrupt and locked files give
clear errors, and an attempt the database cannot take is kept beside it, never lost."""

import json
import sqlite3
import time
from datetime import datetime, timezone

import pytest

from grader.errors import HistoryError, HistoryLockedError
from grader.practice.history import MIGRATIONS, SCHEMA_VERSION, Attempt, AttemptPoint, History, fallback_path, save_fallback
from grader.practice.views import label_row


def make_attempt(qid="4", score=5.0, answer="MQA 共享一组 KV") -> Attempt:
    return Attempt(
        created_at=datetime(2025, 3, 1, 9, 30, tzinfo=timezone.utc), bank="llm-interview", question_id=qid,
        mode="fuzzy", answer=answer, score=score, rubric_version="abc123", flags=["x"],
        points=[
            AttemptPoint(id="p1", text="one", weight=2.0, verdict="covered", credit=1.0, evidence="MQA 共享一组 KV"),
            AttemptPoint(id="p2", text="two", weight=1.0, verdict="missing", credit=0.0),
        ],
    )


def tables(path):
    with sqlite3.connect(path) as db:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_created_on_first_run_with_a_schema_version(tmp_path):
    path = tmp_path / "sub" / "h.sqlite3"
    with History(path) as h:
        assert h.version() == SCHEMA_VERSION
    assert {"schema_version", "attempts", "attempt_points"} <= tables(path)
    with History(path) as h:  # opening again changes nothing
        assert h.version() == SCHEMA_VERSION and h.recent() == []


def test_attempts_round_trip_with_corrections_beside_the_verdict(tmp_path):
    with History(tmp_path / "h.sqlite3") as h:
        first = h.add(make_attempt(score=4.0))
        second = h.add(make_attempt(qid="5", score=7.0))
        assert h.recent(limit=1)[0].id == second  # newest first
        assert [a.id for a in h.recent(question_id="4")] == [first]
        got = h.get(first)
        assert got.answer == "MQA 共享一组 KV" and got.rubric_version == "abc123" and got.flags == ["x"]
        assert [(p.id, p.verdict, p.credit, p.evidence) for p in got.points] == [
            ("p1", "covered", 1.0, "MQA 共享一组 KV"), ("p2", "missing", 0.0, None)]
        assert got.created_at == datetime(2025, 3, 1, 9, 30, tzinfo=timezone.utc)
        h.correct(first, {"p2": "covered"}, score=6.0)
        got = h.get(first)
        assert got.points[1].verdict == "missing" and got.points[1].learner_verdict == "covered"
        assert (got.score, got.learner_score, got.final_score) == (4.0, 6.0, 6.0)
        with pytest.raises(HistoryError, match="no key point 'nope'"):
            h.correct(first, {"nope": "covered"})
        with pytest.raises(HistoryError, match="outside 0-10"):
            h.correct(first, score=11)
        with pytest.raises(HistoryError, match="no attempt #99"):
            h.get(99)


def test_a_v1_database_is_migrated_and_keeps_its_attempts(tmp_path):
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    db.execute("INSERT INTO schema_version VALUES (1)")
    for statement in MIGRATIONS[0]:
        db.execute(statement)
    db.execute("INSERT INTO attempts (created_at, bank, question_id, mode, answer, score, max_score, rubric_version)"
               " VALUES ('2025-01-02T03:04:05+00:00', 'llm-interview', '3', 'fuzzy', 'RoPE 旋转', 3.5, 10, 'v1')")
    db.execute("INSERT INTO attempt_points VALUES (1, 0, 'rot', 'rotation', 1.0, 'covered', 1.0, 'RoPE 旋转')")
    db.commit()
    db.close()
    with History(path) as h:
        assert h.version() == SCHEMA_VERSION == 2
        old = h.get(1)
        assert (old.question_id, old.score, old.learner_score, old.points[0].evidence) == ("3", 3.5, None, "RoPE 旋转")
        h.correct(1, {"rot": "missing"}, score=2.0)  # the v2 columns work on the old row
        assert h.get(1).points[0].learner_verdict == "missing"
        h.add(make_attempt())
        assert len(h.all()) == 2


def test_a_newer_schema_is_refused_with_the_fix(tmp_path):
    path = tmp_path / "new.sqlite3"
    History(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(HistoryError, match="newer than this grader.*upgrade"):
        History(path)


def test_another_sqlite_file_is_not_taken_over(tmp_path):
    path = tmp_path / "other.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE notes (x)")
    with pytest.raises(HistoryError, match="not a grader history"):
        History(path)
    assert tables(path) == {"notes"}


def test_a_corrupt_file_names_the_file_and_the_fix_and_the_attempt_is_kept(tmp_path):
    path = tmp_path / "h.sqlite3"
    path.write_bytes(b"this is not a database, it is a shopping list\n" * 40)
    with pytest.raises(HistoryError) as info:
        History(path)
    msg = str(info.value)
    assert str(path) in msg and "mv " in msg and "a new one is created" in msg
    assert info.value.usage  # exit 2: the user fixes a file

    # the attempt being made goes beside the database ...
    a = make_attempt(answer="我的回答，不能丢")
    a.correct({"p2": "covered"}, score=8.0)
    where = save_fallback(path, a)
    assert where == str(fallback_path(path))
    saved = json.loads(fallback_path(path).read_text(encoding="utf-8"))
    assert saved["answer"] == "我的回答，不能丢" and saved["learner_score"] == 8.0
    save_fallback(path, a)  # kept twice (e.g. two failed saves of the same attempt)

    # ... and is imported, once, when the database works again
    path.rename(tmp_path / "h.sqlite3.broken")
    with History(path) as h:
        assert h.imported == 2
        got = h.all()
        assert len(got) == 1 and got[0].answer == "我的回答，不能丢" and got[0].learner_score == 8.0
        assert got[0].points[1].learner_verdict == "covered"
    assert not fallback_path(path).exists()


def test_a_locked_database_waits_briefly_then_says_so(tmp_path):
    path = tmp_path / "h.sqlite3"
    h = History(path, timeout=0.3)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        t0 = time.monotonic()
        with pytest.raises(HistoryLockedError) as info:
            h.add(make_attempt())
        waited = time.monotonic() - t0
        assert 0.25 <= waited < 5
        assert "locked" in str(info.value) and str(path) in str(info.value) and "GRADER_HISTORY_TIMEOUT" in str(info.value)
        assert not info.value.usage  # exit 1: try again
        with pytest.raises(HistoryLockedError):
            History(path, timeout=0.1)  # opening waits on the lock too
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert h.add(make_attempt()) == 1  # the lock is gone: it works again
    h.close()


def test_unwritable_location_names_the_setting(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(HistoryError, match="GRADER_HISTORY"):
        History(blocker / "h.sqlite3")


def test_label_rows_are_what_eval_reads(tmp_path):
    from grader.runs.evaluate import read_labeled

    a = make_attempt()
    a.id = 7
    a.correct({"p2": "covered"}, score=6.5)
    f = tmp_path / "labels.jsonl"
    f.write_text(json.dumps(label_row(a), ensure_ascii=False) + "\n", encoding="utf-8")
    (row,) = read_labeled(f)
    assert (row.question_id, row.score, row.max_score, row.kind, row.bank) == ("4", 6.5, 10.0, "practice", "llm-interview")
    assert row.answer == a.answer
