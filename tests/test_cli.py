"""The CLI end to end: in process (typer's CliRunner) and as the installed console script."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grader.cli import app

runner = CliRunner()
ANSWER = "RoPE 通过旋转矩阵把位置信息编码进 Query 和 Key，点积只依赖相对位置 m-n，不引入额外参数。"


def run(*args, input=None):
    return runner.invoke(app, list(args), input=input)


def test_questions_lists_ids_and_texts():
    r = run("questions", "--json")
    assert r.exit_code == 0
    qs = json.loads(r.stdout)
    assert [q["id"] for q in qs] == [str(i) for i in range(1, 17)]
    assert "ROPE" in qs[2]["question"]
    assert "自注意力" in run("questions").stdout


def test_grade_json_has_the_contract_fields():
    r = run("grade", "3", ANSWER, "--json")
    assert r.exit_code == 0, r.stdout
    d = json.loads(r.stdout)
    for key in ("question_id", "bank", "mode", "score", "max_score", "normalized", "points", "missing_points", "flags", "feedback", "usage"):
        assert key in d
    assert d["question_id"] == "3" and d["bank"] == "llm-interview" and d["mode"] == "fuzzy"
    assert 0 < d["score"] <= 10 and d["normalized"] == pytest.approx(d["score"] / d["max_score"], abs=1e-4)
    assert set(d["usage"]) >= {"llm_calls", "prompt_tokens", "completion_tokens", "cache_hits"}
    covered = [p for p in d["points"] if p["verdict"] == "covered"]
    assert covered and all(p["evidence"] for p in covered)
    for p in d["points"]:
        assert set(p) >= {"id", "text", "weight", "verdict", "credit", "evidence", "method"}


def test_grade_readable_output():
    r = run("grade", "3", ANSWER)
    assert r.exit_code == 0
    assert "Score" in r.stdout and "Missing" in r.stdout


def test_grade_reads_a_file_and_stdin(tmp_path):
    f = tmp_path / "a.txt"
    f.write_text(ANSWER, encoding="utf-8")
    by_arg = json.loads(run("grade", "3", ANSWER, "--json").stdout)["score"]
    assert json.loads(run("grade", "3", "--file", str(f), "--json").stdout)["score"] == by_arg
    assert json.loads(run("grade", "3", "-", "--json", input=ANSWER).stdout)["score"] == by_arg


@pytest.mark.parametrize(
    "args, needle",
    [
        pytest.param(["grade", "99", "x"], "valid ids: 1, 2", id="unknown_question"),
        pytest.param(["grade", "3", "x", "--bank", "nope"], "unknown bank", id="unknown_bank"),
        pytest.param(["grade", "3", "x", "--mode", "magic"], "unknown mode", id="bad_mode"),
        pytest.param(["grade", "3", "--file", "/no/such/file"], "cannot read answer file", id="unreadable_file"),
        pytest.param(["rubric", "show", "42"], "valid ids", id="rubric_unknown_question"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args, needle):
    r = run(*args)
    assert r.exit_code == 2
    assert needle in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_rubric_show():
    r = run("rubric", "show", "4", "--json")
    d = json.loads(r.stdout)
    assert d["question_id"] == "4" and d["points"] and all("keywords" in p for p in d["points"])
    assert "kv" in run("rubric", "show", "4").stdout.lower()


def test_grade_against_an_adhoc_reference():
    r = run("grade", "--reference", "链表插入删除只需修改指针，不需要移动元素。", "--question", "为什么用链表？",
            "链表插入删除时修改指针即可，不用移动元素", "--json")
    assert r.exit_code == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["question_id"] is None or d["question_id"] == "adhoc"
    assert d["score"] >= 7


def test_offline_default_never_imports_openai():
    code = "import sys; from grader.cli import app; from typer.testing import CliRunner; " \
           "r = CliRunner().invoke(app, ['grade', '3', 'RoPE 旋转 Query 和 Key']); " \
           "assert r.exit_code == 0, r.output; assert 'openai' not in sys.modules, 'openai imported'; " \
           "assert 'fastapi' not in sys.modules and 'langchain_text_splitters' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def _script() -> str:
    exe = Path(sys.executable).parent / "grader"
    return str(exe) if exe.exists() else shutil.which("grader")


def test_installed_console_script_from_another_directory(tmp_path):
    script = _script()
    assert script, "the grader console script is not installed"
    env = {**os.environ, "OPENAI_API_KEY": ""}
    p = subprocess.run([script, "grade", "4", "MQA 所有头共享一组 KV，KV cache 变小", "--json"],
                       cwd=tmp_path, capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["question_id"] == "4"
    bad = subprocess.run([script, "grade", "77", "x"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "valid ids" in bad.stderr
    piped = subprocess.run([script, "grade", "4", "--json"], input="MQA 共享 KV", cwd=tmp_path,
                           capture_output=True, text=True, timeout=60)
    assert piped.returncode == 0 and json.loads(piped.stdout)["score"] >= 0
