"""`grader practice` in a real terminal (a pty of 120x40, driven by pexpect), as a learner meets it."""

import json
import os
import re
import subprocess

import pytest

from apiutil import grader_command

pexpect = pytest.importorskip("pexpect", reason="pexpect is not installed (pip install -e '.[dev]')")
pytestmark = pytest.mark.slow

PARTIAL_4 = "MQA 所有头共享一组 KV，KV cache 变小。"


@pytest.fixture
def env(tmp_path):
    e = {k: v for k, v in os.environ.items() if not k.startswith(("GRADER_", "OPENAI_"))}
    e.update(GRADER_HISTORY=str(tmp_path / "history.sqlite3"), GRADER_DATA_DIR=str(tmp_path), TERM="xterm", COLUMNS="120", LINES="40")
    return e


def spawn(env, *args):
    cmd = grader_command() + list(args)
    child = pexpect.spawn(cmd[0], cmd[1:], env=env, dimensions=(40, 120), encoding="utf-8", timeout=30)
    return child


def history(env) -> list[dict]:
    out = subprocess.run(grader_command() + ["history", "--json"], env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def answer(child, text):
    for line in text.splitlines():
        child.sendline(line)
    child.sendline(".")


def test_stray_enters_record_nothing(env):
    child = spawn(env, "practice", "-q", "5")
    child.expect("End your answer")
    child.sendline("")
    child.sendline("")  # two stray Enters: an empty answer
    child.expect("Nothing written")
    child.sendline("")  # no: write an answer after all
    child.expect("End your answer")
    answer(child, "Scaling laws: loss falls as a power law of parameters, data and compute.")
    child.expect("Score ")
    child.expect("> ")
    child.sendline("q")
    child.expect(pexpect.EOF)
    (a,) = history(env)
    assert a["answer"].startswith("Scaling laws")


def test_not_known_when_confirmed(env):
    child = spawn(env, "practice", "-q", "5")
    child.expect("End your answer")
    child.sendline(".")
    child.expect("Nothing written")
    child.sendline("y")
    child.expect("Recorded as not known")
    child.expect("> ")
    child.sendline("q")
    child.expect(pexpect.EOF)
    assert [a["score"] for a in history(env)] == [0]


def test_score_and_missed_points_stay_on_a_40_row_screen_and_corrections_show_the_score(env):
    child = spawn(env, "practice", "-q", "4")
    child.expect("End your answer")
    answer(child, PARTIAL_4)
    child.expect("Disagree")
    printed = child.before
    child.expect("> ")
    printed = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", printed + "Disagree" + child.before).replace("\r", "")
    screen = "\n".join(printed.splitlines()[-39:])  # what a 40-row terminal shows above the prompt
    assert "Score " in screen and "Missed" in screen, screen
    assert "r shows all" in printed  # the long reference is clipped
    child.sendline("c 2")
    child.expect("Marked point 2 as covered.")
    child.expect(r"Score with your corrections: ([\d.]+) / 10\S* \(the grader gave ([\d.]+)")
    new, old = float(child.match.group(1)), float(child.match.group(2))
    assert new > old
    child.sendline("r")
    child.expect("reference answer")
    child.expect("> ")
    shown = child.before
    assert "$N$" not in shown and "<strong>" not in shown and "\\text{" not in shown  # rendered, not raw
    child.sendline("q")
    child.expect(pexpect.EOF)


def test_undo_takes_back_the_attempt(env):
    child = spawn(env, "practice", "-q", "4")
    child.expect("End your answer")
    answer(child, PARTIAL_4)
    child.expect("> ")
    child.sendline("u")
    child.expect("Attempt taken back")
    child.expect("End your answer")  # the next question
    child.sendline("/quit")
    child.expect("0 answers graded")
    child.expect(pexpect.EOF)
    assert history(env) == []


def test_review_reminds_what_was_missed_last_time(env):
    child = spawn(env, "practice", "-q", "4")
    child.expect("End your answer")
    answer(child, PARTIAL_4)
    child.expect("> ")
    child.sendline("q")
    child.expect(pexpect.EOF)
    child = spawn(env, "practice", "-q", "4")
    child.expect(r"Last time \(\d{4}-\d\d-\d\d, score [\d.]+\) you missed:")
    child.expect("End your answer")
    reminder = child.before
    assert "GQA" in reminder  # a point the partial answer did not make
    child.sendline("/quit")
    child.expect(pexpect.EOF)


def test_reference_markup_reads_as_text():
    from grader.practice.views import reference_text

    out = reference_text("让 <strong>所有</strong> 头共享 $N$ 组，$$\\text{KV} = 2 \\times L$$。\n| 方法 | 头数 |\n| --- | --- |\n| MHA | $N$ |")
    assert out.splitlines() == ["让 [bold]所有[/bold] 头共享 N 组，KV = 2 × L。", "方法 │ 头数", "MHA │ N"]
