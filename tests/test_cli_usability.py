"""What a new user meets at the command line: help, version, mistakes, and a judge that was not used."""

import os
import socket
import subprocess
import sys

from typer.testing import CliRunner

from grader import __version__
from grader.cli import app

from apiutil import free_port, grader_command

runner = CliRunner()


def run(*args, input=None, env=None):
    return runner.invoke(app, list(args), input=input, env=env)


def test_version():
    r = run("--version")
    assert r.exit_code == 0
    assert r.stdout.strip() == f"grader {__version__}"


def test_help_names_values_not_python_types():
    for cmd in (["grade"], ["batch"], ["serve"], ["practice"], ["rubric", "build"]):
        out = run(*cmd, "--help", env={"COLUMNS": "120"}).stdout
        assert "<" not in out.replace("<=", "") and "list[" not in out and "bool" not in out and "RANGE" not in out, (cmd, out)
    grade = run("grade", "--help", env={"COLUMNS": "120"}).stdout
    assert "[OPTIONS] [QID] [ANSWER]" in grade
    assert "[[QID]" not in grade and "]..." not in grade
    assert "--bank" in grade and "BANK" in grade


def test_help_documents_the_exit_status_of_a_fallback():
    out = " ".join(run("--help", env={"COLUMNS": "200"}).stdout.split())
    assert "Exit status" in out and "llm_fallback" in out and "--no-fallback" in out


def test_unknown_option_suggests_only_a_close_one():
    r = run("grade", "3", "--bogus", "x")
    assert r.exit_code == 2
    assert "--bogus" in r.output and "--verbose" not in r.output
    r = run("grade", "3", "--verbos", "x")
    assert "--verbose" in r.output


def test_forgotten_question_id_is_named():
    r = run("grade", "MQA 共享 KV", input="")
    assert r.exit_code == 2
    assert "not a question id" in r.stderr and "grader grade 4" in r.stderr
    assert "no answer" not in r.stderr
    # a plain unknown id keeps its own message
    r = run("grade", "99", "some answer")
    assert r.exit_code == 2 and "unknown question '99'" in r.stderr


def test_busy_port_is_said_before_any_banner():
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        p = subprocess.run(grader_command() + ["serve", "--port", str(port)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert "serving on" not in p.stderr
    assert f"127.0.0.1:{port}" in p.stderr and "--port" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_judge_not_used_warns_and_says_so_in_the_header(tmp_path):
    """An unreachable judge: fuzzy grades, exit 0 (documented), a warning on stderr and a header that says it."""
    port = free_port()  # nothing listens there
    env = {**os.environ, "GRADER_MODEL": "m", "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1", "OPENAI_API_KEY": "x",
           "GRADER_CACHE": str(tmp_path / "cache.db"), "GRADER_MAX_RETRIES": "0", "GRADER_TIMEOUT": "2"}
    p = subprocess.run(grader_command() + ["grade", "4", "MQA 让所有头共享一组 K/V", "--mode", "llm"],
                       capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 0
    assert "warning" in p.stderr and "llm -> fuzzy fallback" in p.stderr and "--no-fallback" in p.stderr
    assert "llm -> fuzzy fallback" in " ".join(p.stdout.split()[:20])
    q = subprocess.run(grader_command() + ["grade", "4", "MQA 让所有头共享一组 K/V", "--mode", "llm", "--json"],
                       capture_output=True, text=True, timeout=60, env=env)
    assert q.returncode == 0 and '"details": null' in q.stdout and "fallback" in q.stderr
    r = subprocess.run(grader_command() + ["grade", "4", "x y", "--mode", "llm", "--no-fallback"],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 1


def test_feedback_is_in_the_language_of_the_key_points():
    r = run("grade", "4", "MHA gives every head its own K and V; MQA shares one K/V head across all query heads.", "--json")
    import json

    feedback = json.loads(r.stdout)["feedback"]
    assert feedback.startswith("覆盖") and "Covers" not in feedback


def test_a_partly_made_reference_reads_as_made_with_the_full_marks_rule_said():
    r = run("grade", "--reference", "链表插入删除只需修改指针。", "修改指针即可，不用移动元素", env={"COLUMNS": "200"})
    assert r.exit_code == 0
    out = " ".join(r.stdout.split())
    assert "partial" in out and "覆盖 1/1 个要点" in out and "覆盖 0/1" not in out
    assert "40% of the key points' weight; full marks before all of it" in out
