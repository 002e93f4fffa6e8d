"""`grader practice`, `review`, `history` and `stats` end to end: the session driven through stdin,
as the installed console script (a real subprocess, no TTY) and in process (CliRunner)."""

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grader.cli import app
from grader.practice.history import History, fallback_path

ANSWER_4 = "MQA 所有头共享一组 KV，KV cache 变小。\nGQA 把 query 头分组, 组内共享 k/v."


def _grade_4():
    """What the grader gives ANSWER_4 today (these tests check practice, not the matcher)."""
    from grader.pipeline import Grader
    from grader.settings import Settings

    return Grader(Settings(mode="fuzzy")).grade("4", ANSWER_4)


def _score_4() -> float:
    return _grade_4().score



@pytest.fixture
def hist(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "data" / "history.sqlite3"
    monkeypatch.setenv("GRADER_HISTORY", str(path))
    monkeypatch.setenv("GRADER_DATA_DIR", str(tmp_path / "data"))
    return path


def run(*args, input=None):
    return CliRunner().invoke(app, list(args), input=input)


def _script() -> str:
    exe = Path(sys.executable).parent / "grader"
    return str(exe) if exe.exists() else shutil.which("grader")


def script_run(args, stdin, hist: Path, cwd: Path):
    env = {**os.environ, "GRADER_HISTORY": str(hist), "GRADER_DATA_DIR": str(hist.parent), "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([_script(), *args], input=stdin, cwd=cwd, capture_output=True, text=True,
                          encoding="utf-8", env=env, timeout=60)


# ------------------------------------------------------------------ the console script, through a pipe


def test_session_through_stdin_of_the_installed_script(hist, tmp_path):
    stdin = ANSWER_4 + "\n.\nc 2\nm 5\ns 6\nq\n"
    p = script_run(["practice", "--question", "4"], stdin, hist, tmp_path)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert 'line holding only "."' in out and "Ctrl-D" in out  # says how to end an answer
    for part in (f"Score {_score_4():g} / 10", "Covered", "Missed", "reference answer", "Marked point 2 as covered",
                 "Your score: 6 / 10", "Saved as attempt #1", "Next review of question 4"):
        assert part in out, part
    assert re.search(r"\[\d+(,\d+)*\]", out)  # evidence marked inside the answer with the point numbers
    # the reference first, then the points and the score: what stays above the prompt is what was missed
    assert out.index("reference answer") < out.index("Covered") < out.index("Missed") < out.index(f"Score {_score_4():g} / 10")

    listed = json.loads(script_run(["history", "--json"], "", hist, tmp_path).stdout)
    assert len(listed) == 1
    a = listed[0]
    assert (a["question_id"], a["bank"], a["mode"], a["score"], a["learner_score"]) == ("4", "llm-interview", "fuzzy", _score_4(), 6.0)
    assert a["answer"] == ANSWER_4 and a["rubric_version"]
    by_id = {pt["id"]: pt for pt in a["points"]}
    graded = _grade_4().points  # points are numbered in rubric order: "c 2" and "m 5" name these
    assert by_id[graded[1].id]["verdict"] == graded[1].verdict and by_id[graded[1].id]["learner_verdict"] == "covered"
    assert by_id[graded[4].id]["verdict"] == graded[4].verdict and by_id[graded[4].id]["learner_verdict"] == "missing"


def test_corrupt_history_keeps_the_answer_and_names_the_fix(hist, tmp_path):
    hist.parent.mkdir(parents=True)
    hist.write_bytes(b"\x00garbage, not sqlite\n" * 100)
    p = script_run(["practice", "--question", "4"], ANSWER_4 + "\n.\ns 5\nq\n", hist, tmp_path)
    assert p.returncode == 2
    assert str(hist) in p.stderr and "mv " in p.stderr and "kept in" in p.stderr
    assert "History unavailable" in p.stdout and "Score" in p.stdout  # the session still grades
    kept = [json.loads(x) for x in fallback_path(hist).read_text(encoding="utf-8").splitlines()]
    assert len(kept) == 1 and kept[0]["answer"] == ANSWER_4 and kept[0]["learner_score"] == 5.0
    # moved aside as the message says: the next run imports the kept attempt
    hist.rename(hist.with_suffix(".broken"))
    r = run("history", "--json")
    assert r.exit_code == 0 and "imported 1 attempts" in r.stderr
    assert json.loads(r.stdout)[0]["answer"] == ANSWER_4
    assert not fallback_path(hist).exists()


# ------------------------------------------------------------------ in process


def test_new_questions_in_bank_order_skip_and_two_empty_lines(hist):
    r = run("practice", input="/skip\nMHA 的 KV Cache 大\n\n\nq\n")
    assert r.exit_code == 0, r.output
    assert "Question 1 · new" in r.stdout and "Skipped." in r.stdout
    assert "Question 2 · new" in r.stdout and "Score" in r.stdout
    assert "Session over: 1 answer graded." in r.stdout
    (a,) = json.loads(run("history", "--json").stdout)
    assert a["question_id"] == "2" and a["answer"] == "MHA 的 KV Cache 大"


def test_ctrl_d_ends_an_answer_and_the_session(hist):
    r = run("practice", "-q", "3", input="RoPE 通过旋转矩阵编码位置，点积只依赖相对位置")
    assert r.exit_code == 0, r.output
    assert "Score" in r.stdout and "Session over: 1 answer graded." in r.stdout
    r = run("practice", input="")  # Ctrl-D at once: nothing graded, nothing stored
    assert r.exit_code == 0 and "Session over: 0 answers graded." in r.stdout
    r = run("practice", input="/quit\n")
    assert r.exit_code == 0 and "Session over: 0 answers graded." in r.stdout
    assert len(json.loads(run("history", "--json").stdout)) == 1


def test_empty_answer_is_recorded_as_not_known_and_continue_picks_the_next(hist):
    r = run("practice", "-q", "5", input=".\ny\n\nq\n")  # confirmed: stray Enters are no attempt
    assert r.exit_code == 0, r.output
    assert "Recorded as not known" in r.stdout and "Score 0 / 10" in r.stdout
    assert "Question 1 · new" in r.stdout  # Enter went on to the next question
    assert json.loads(run("history", "--json").stdout)[0]["score"] == 0


def test_bad_corrections_are_explained_and_the_session_goes_on(hist):
    r = run("practice", "-q", "4", input=ANSWER_4 + "\n.\nc 99\ns lots\nfrobnicate\ns 11\nc 1, 3\nq\n")
    assert r.exit_code == 0, r.output
    assert "'99' is not a point number: use 1-11" in r.stdout
    assert "'lots' is not a score" in r.stdout and "unknown command" in r.stdout and "outside 0-10" in r.stdout
    assert "Marked point 1, point 3 as covered." in r.stdout


def test_unknown_question_or_bank_is_a_usage_error(hist):
    r = run("practice", "--question", "77", input="")
    assert r.exit_code == 2 and "valid ids" in r.stderr
    r = run("practice", "--bank", "nope", input="")
    assert r.exit_code == 2 and "unknown bank" in r.stderr


def _old_attempt(hist: Path, qid: str, days_ago: int, score: float) -> None:
    from grader.practice.history import Attempt, AttemptPoint

    with History(hist) as h:
        h.add(Attempt(created_at=datetime.now(timezone.utc) - timedelta(days=days_ago), bank="llm-interview",
                      question_id=qid, mode="fuzzy", answer="old", score=score,
                      points=[AttemptPoint(id="p", text="a point", weight=1, verdict="missing", credit=0)]))


def test_review_says_when_nothing_is_due_and_practises_what_is(hist):
    r = run("review", input="")
    assert r.exit_code == 0 and "Nothing is due for review" in r.stdout and "no question practised yet" in r.stdout
    _old_attempt(hist, "3", days_ago=0, score=2.0)
    r = run("review", input="")
    assert r.exit_code == 0 and "Next: question 3 on" in r.stdout
    _old_attempt(hist, "6", days_ago=10, score=2.0)
    r = run("review", input="Softmax 前除以 根号 dk，防止点积过大导致梯度消失\n.\n\n")
    assert r.exit_code == 0, r.output
    assert "Question 6 · due" in r.stdout and "Nothing more is due for review." in r.stdout
    assert "Question 3" not in r.stdout  # practised today: not due yet


def test_history_list_show_and_filters(hist):
    for qid in ("4", "3", "4"):
        assert run("practice", "-q", qid, input="MQA 共享 KV\n.\nq\n").exit_code == 0
    r = run("history")
    assert r.exit_code == 0 and "history show ID" in r.stdout
    listed = json.loads(run("history", "--json").stdout)
    assert [a["id"] for a in listed] == [3, 2, 1]
    assert [a["id"] for a in json.loads(run("history", "--question", "4", "--limit", "1", "--json").stdout)] == [3]
    shown = run("history", "show", "2")
    assert shown.exit_code == 0 and "Attempt #2" in shown.stdout and "ROPE" in shown.stdout.upper()
    assert json.loads(run("history", "show", "2", "--json").stdout)["question_id"] == "3"
    missing = run("history", "show", "42")
    assert missing.exit_code == 2 and "no attempt #42" in missing.stderr


def test_stats_weakest_points_and_progress(hist):
    run("practice", "-q", "4", input=ANSWER_4 + "\n.\nq\n")
    run("practice", "-q", "4", input="MQA 共享 KV\n.\nm 5\nq\n")
    d = json.loads(run("stats", "--limit", "50", "--json").stdout)
    assert d["attempts"] == 2
    weak = d["weak_points"]
    assert [w["miss_rate"] for w in weak] == sorted((w["miss_rate"] for w in weak), reverse=True)
    fifth = _grade_4().points[4]  # "m 5" names the fifth point in rubric order
    shared = next(w for w in weak if w["point_id"] == fifth.id)
    first_missed = fifth.verdict in ("missing", "contradicted")
    assert shared["attempts"] == 2 and shared["missed"] == 1 + first_missed  # the learner's "m 5" counts
    assert len(json.loads(run("stats", "--json").stdout)["weak_points"]) == 10  # --limit default
    (q,) = d["questions"]
    assert (q["question_id"], q["attempts"], q["best"]) == ("4", 2, _score_4()) and q["next_due"]
    r = run("stats")
    assert r.exit_code == 0 and "Weakest key points" in r.stdout and "Progress per question" in r.stdout


def test_export_labels_is_what_eval_reads(hist, tmp_path):
    run("practice", "-q", "4", input=ANSWER_4 + "\n.\ns 6\nq\n")
    run("practice", "-q", "3", input="RoPE 旋转\n.\nq\n")  # no own score: not a label
    out = tmp_path / "labels.jsonl"
    r = run("history", "--export-labels", str(out))
    assert r.exit_code == 0 and "wrote 1 labelled answers" in r.stderr
    (row,) = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert (row["question_id"], row["score"], row["kind"], row["answer"]) == ("4", 6.0, "practice", ANSWER_4)
    e = run("eval", str(out), "--json")
    assert e.exit_code == 0, e.output
    res = json.loads(e.stdout)
    assert res["n"] == 1 and "practice" in res["by_kind"]


def test_history_commands_on_a_corrupt_file_exit_2(hist):
    hist.parent.mkdir(parents=True)
    hist.write_text("nonsense" * 100)
    for args in (["history"], ["stats"], ["review"], ["history", "show", "1"]):
        r = run(*args, input="")
        assert r.exit_code == 2, args
        assert str(hist) in r.stderr and "move it aside" in r.stderr


def test_grade_start_up_does_not_load_the_history():
    code = ("import sys; from grader.cli import app; from typer.testing import CliRunner; "
            "r = CliRunner().invoke(app, ['grade', '3', 'RoPE 旋转 Query 和 Key']); assert r.exit_code == 0; "
            "assert 'sqlite3' not in sys.modules and 'grader.practice.history' not in sys.modules and 'grader.practice.session' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_judge_grades_when_configured(hist, tmp_path, monkeypatch):
    sys.path.insert(0, str(Path(__file__).parent))
    from fake_llm_server import FakeLLM, plausible_reply

    from grader.llm import client as judge_client

    server = FakeLLM(default=plausible_reply).start()
    try:
        monkeypatch.setenv("GRADER_MODE", "llm")
        monkeypatch.setenv("GRADER_MODEL", "judge-m")
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        monkeypatch.setenv("GRADER_CACHE", str(tmp_path / "cache.sqlite3"))
        r = run("practice", "-q", "4", input=ANSWER_4 + "\n.\nq\n")
        assert r.exit_code == 0, r.output
        assert "mode llm" in r.stdout and "judge judge-m" in r.stdout and "Score" in r.stdout
        assert server.requests, "the judge was not called"
        (a,) = json.loads(run("history", "--json").stdout)
        assert a["mode"] == "llm" and {p["verdict"] for p in a["points"]} <= {"covered", "partial", "missing", "contradicted", "unscored"}
    finally:
        server.stop()
        for client in judge_client._clients.values():
            client.close()
        judge_client._clients.clear()


def test_a_grading_failure_gives_the_answer_back(hist, monkeypatch):
    from grader.errors import JudgeError
    from grader.pipeline import Grader

    def boom(self, *a, **k):
        raise JudgeError("the judge is down; try --mode fuzzy")

    monkeypatch.setattr(Grader, "grade", boom)
    r = run("practice", "-q", "4", input="我的答案不会丢\n.\n/quit\n")
    assert r.exit_code == 0
    assert "Could not grade this answer" in r.stdout and "我的答案不会丢" in r.stdout


def test_a_locked_history_waits_then_keeps_the_attempt(hist, monkeypatch):
    import sqlite3

    History(hist).close()
    monkeypatch.setenv("GRADER_HISTORY_TIMEOUT", "0.2")
    other = sqlite3.connect(hist, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        r = run("practice", "-q", "4", input="MQA 共享 KV\n.\nq\n")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert r.exit_code == 1
    assert "locked by another program" in r.stderr and "kept in" in r.stderr and "Score" in r.stdout
    assert json.loads(fallback_path(hist).read_text(encoding="utf-8"))["answer"] == "MQA 共享 KV"
    listed = run("history", "--json")  # the lock is gone: the kept attempt is imported
    assert [a["answer"] for a in json.loads(listed.stdout)] == ["MQA 共享 KV"]
