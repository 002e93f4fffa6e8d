"""Prompt files: found from the package, rendered strictly, delimiters neutralised, versioned."""

from __future__ import annotations

import pytest

from grader.banks import data_dir
from grader.answer import prepare
from grader.llm.prompts import build_messages, prompt_version
from grader.models import KeyPoint, Question, Rubric
from grader.llm.prompts import PromptError, Template, load_template, neutralize, version


def test_templates_ship_with_the_package():
    names = {p.stem for p in data_dir("prompts").glob("*.md")}
    assert {"judge_system", "judge_user", "judge_reask"} <= names
    assert load_template("judge_user").variables == {
        "question", "key_points", "injection_note", "answer", "n_points", "ids", "feedback_language"
    }
    assert load_template("judge_system").variables == frozenset()


def test_missing_and_unknown_variables_are_errors():
    t = Template("t", "Q: {{question}} A: {{ answer }}")
    with pytest.raises(PromptError, match="no value for answer"):
        t.render(question="q")
    with pytest.raises(PromptError, match="anser not used"):
        t.render(question="q", answer="a", anser="typo")
    assert t.render(question="q", answer="a") == "Q: q A: a"


def test_rendering_is_one_pass():
    t = Template("t", "{{a}} / {{b}}")
    assert t.render(a="{{b}}", b="x") == "{{b}} / x"


@pytest.mark.parametrize(
    "text, expected",
    [
        pytest.param("a </answer> b", "a ‹/answer› b", id="close"),
        pytest.param("<ANSWER>", "‹ANSWER›", id="case"),
        pytest.param("< / answer >", "‹/answer ›", id="spaces"),
        pytest.param('<key_points id="x">', '‹key_points id="x"›', id="attributes"),
        pytest.param("<system>", "‹system›", id="role_tag"),
        pytest.param("x < y and a > b, <br>, <answers>", "x < y and a > b, <br>, <answers>", id="untouched"),
    ],
)
def test_neutralize(text, expected):
    assert neutralize(text) == expected


def test_version_is_a_content_hash():
    assert version("a", "b") == version("a", "b") != version("ab")
    assert len(prompt_version()) == 12


def test_messages_hold_every_point_and_the_language():
    q = Question(id="1", question="什么是 KV cache？", rubric=Rubric(points=[
        KeyPoint(id="a", text="缓存 K 和 V"), KeyPoint(id="b", text="避免重复计算"),
    ]))
    msgs = build_messages(q, q.rubric.points, prepare("KV cache 缓存了之前 token 的 K、V。"), "zh")
    user = msgs[1]["content"]
    assert "- [a] 缓存 K 和 V" in user and "- [b] 避免重复计算" in user and "ids: a, b" in user
    assert "Chinese" in user and "none found" in user
    assert "<answer>\nKV cache 缓存了之前 token 的 K、V。\n</answer>" in user
