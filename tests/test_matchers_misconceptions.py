"""Known wrong claims (`misconceptions` of a key point): found in the answer, they contradict the point."""

import json

import pytest
from conftest import one_question_bank
from typer.testing import CliRunner

from grader.cli import app
from grader.matchers import misconceptions
from grader.pipeline import Grader
from grader.settings import Settings

QUESTION = """\
id: '1'
question: 自注意力机制是怎么计算的？
reference_answer: 每个词元的嵌入向量分别乘以三个可学习的权重矩阵，得到 Q、K、V。Q 与 K 做点积后除以根号 dk。
rubric:
  points:
    - id: qkv-projection
      text: 每个词元的嵌入向量分别乘以三个可学习的权重矩阵，得到 Q、K、V
      weight: 2
      keywords:
        - [q、k、v, qkv, query]
        - [权重矩阵, 投影矩阵, 投影, projection]
      source: 每个词元的嵌入向量分别乘以三个可学习的权重矩阵
      misconceptions:
        - text: Q、K、V 由同一个共享的投影矩阵得到
          keywords:
            - [同一个, 共享, same, shared]
            - [投影矩阵, 权重矩阵, projection, weight matrix]
    - id: scale
      text: 点积除以根号 dk
      keywords:
        - [点积, dot product]
        - [sqrt(dk), 根号dk]
      source: Q 与 K 做点积后除以根号 dk
"""


@pytest.fixture
def bank(tmp_path):
    return one_question_bank(tmp_path, "misc", QUESTION)


def point(bank, answer, mode="fuzzy", pid="qkv-projection"):
    r = Grader(Settings(mode=mode), bank=str(bank)).grade("1", answer)
    return r, {p.id: p for p in r.points}[pid]


@pytest.mark.parametrize("mode", ["keyword", "fuzzy"])
def test_a_stated_wrong_claim_contradicts_the_point_it_seems_to_make(bank, mode):
    answer = "Q、K、V 来自同一个共享的投影矩阵。Q 与 K 做点积，再除以根号dk。"
    r, p = point(bank, answer, mode)
    assert p.verdict == "contradicted" and p.credit == 0.0
    assert p.reason == "the answer claims: Q、K、V 由同一个共享的投影矩阵得到"
    assert p.evidence == "Q、K、V 来自同一个共享的投影矩阵。"
    assert "错误的说法：Q、K、V 由同一个共享的投影矩阵得到。" in r.feedback


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param("Q、K、V 不是共享的投影矩阵，而是三个独立的矩阵。", id="negated"),
        pytest.param("Q、K、V 由三个投影矩阵得到。多个头之间共享的是输入。", id="groups_in_other_sentences"),
        pytest.param("Q、K、V 由三个投影矩阵得到。常有人以为它们共享同一个投影矩阵。", id="covered_apart"),
    ],
)
def test_the_wrong_claim_is_not_found_where_it_is_not_stated(bank, answer):
    _, p = point(bank, answer)
    assert not (p.reason or "").startswith("the answer claims")


def test_a_covered_point_stated_wrongly_in_the_same_sentence_is_contradicted(bank):
    # the same sentence makes the point's words and the wrong claim: "apart" contradicts it,
    # "always" would keep the cover
    answer = "Q、K、V 由同一个共享的投影矩阵得到。"
    assert point(bank, answer)[1].verdict == "contradicted"
    answer = "Q、K、V 由三个投影矩阵得到。有人以为它们共享同一个投影矩阵。"
    assert point(bank, answer)[1].verdict == "covered"


def test_a_heading_and_the_sentence_under_it_state_a_wrong_claim(bank):
    assert point(bank, "**投影矩阵**：\nQ、K、V 共享同一个。")[1].verdict == "contradicted"


def test_covered_policy_always_keeps_a_covered_point(bank, monkeypatch):
    monkeypatch.setattr(misconceptions, "COVERED", "always")
    assert point(bank, "Q、K、V 由同一个共享的投影矩阵得到。")[1].verdict == "covered"


def test_english_wrong_claim(bank):
    _, p = point(bank, "Query, key and value come from the same shared projection matrix.")
    assert p.verdict == "contradicted" and p.reason.startswith("the answer claims")


def test_a_rubric_without_misconceptions_keeps_its_version(bank, tmp_path):
    from grader.banks import load_bank

    no_misc = QUESTION.split("      misconceptions:")[0] + QUESTION.split("weight matrix]\n")[1]
    plain = one_question_bank(tmp_path, "plain", no_misc)
    rubric = load_bank(plain).questions["1"].rubric
    assert not rubric.points[0].misconceptions
    blob = json.dumps(rubric.model_dump(mode="json", exclude={"points": {0: {"misconceptions"}, 1: {"misconceptions"}}}),
                      ensure_ascii=False, sort_keys=True)
    import hashlib

    assert rubric.version == hashlib.sha256(blob.encode()).hexdigest()[:12]
    assert load_bank(bank).questions["1"].rubric.version != rubric.version


runner = CliRunner()


@pytest.mark.parametrize(
    "misc, message",
    [
        pytest.param("        - text: 错的\n          keywords: [[同一个], []]\n", "keyword group 1 is empty", id="empty_group"),
        pytest.param("        - text: 错的\n          keywords: []\n", "at least 1", id="no_group"),
        pytest.param(
            "        - text: 错的\n          keywords: [[投影, 权重矩阵, projection, 投影矩阵], [query, QKV, Q、K、V]]\n",
            "misconception 0 is the point itself", id="the_points_own_keywords",
        ),
    ],
)
def test_rubric_check_rejects_bad_misconceptions(bank, misc, message):
    text = QUESTION.split("      misconceptions:\n")[0] + "      misconceptions:\n" + misc + QUESTION.split("weight matrix]\n")[1]
    (bank / "q1.yaml").write_text(text, encoding="utf-8")
    r = runner.invoke(app, ["rubric", "check", str(bank)])
    assert r.exit_code == 1 and message in r.output, r.output


def test_rubric_check_accepts_the_test_bank(bank):
    r = runner.invoke(app, ["rubric", "check", str(bank)])
    assert r.exit_code == 0, r.output


def test_the_judge_is_not_told_the_misconceptions(bank):
    from grader.answer import prepare
    from grader.llm.prompts import build_messages
    from grader.banks import load_bank

    q = load_bank(bank).questions["1"]
    bare = q.model_copy(update={"rubric": q.rubric.model_copy(
        update={"points": [p.model_copy(update={"misconceptions": []}) for p in q.rubric.points]})})
    answer = prepare("Q、K、V 来自同一个共享的投影矩阵。")
    assert build_messages(q, q.rubric.points, answer, "zh") == build_messages(bare, bare.rubric.points, answer, "zh")
    assert q.rubric.points[0].misconceptions[0].text not in json.dumps(
        build_messages(q, q.rubric.points, answer, "zh"), ensure_ascii=False)


def test_rubric_show_lists_the_wrong_claims(bank):
    r = runner.invoke(app, ["rubric", "show", "1", "--bank", str(bank)], env={"COLUMNS": "250"})
    assert r.exit_code == 0 and "✗ Q、K、V 由同一个共享的投影矩阵得到" in r.output, r.output


def test_rubric_check_warns_of_a_wrong_claim_the_reference_states(bank):
    text = QUESTION.replace("reference_answer: 每个词元", "reference_answer: Q、K、V 共享同一个投影矩阵。每个词元")
    (bank / "q1.yaml").write_text(text, encoding="utf-8")
    r = runner.invoke(app, ["rubric", "check", str(bank)])
    assert r.exit_code == 0 and "q1.yaml:13: warning" in r.output and "the reference answer states the wrong claim" in r.output, r.output


def test_a_built_rubric_writes_misconceptions_only_when_it_has_some(bank):
    from grader.authoring.bank_build import question_yaml
    from grader.banks import load_bank

    q = load_bank(bank).questions["1"]
    text = question_yaml(q)
    assert text.count("misconceptions:") == 1 and "Q、K、V 由同一个共享的投影矩阵得到" in text


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param("常见误解是 Q、K、V 共享同一个投影矩阵，其实是三个独立的矩阵。", id="zh_common_misconception"),
        pytest.param("有人误以为 Q、K、V 来自同一个共享的投影矩阵。", id="zh_wrongly_think"),
        pytest.param("Q、K、V 来自同一个共享的投影矩阵，这种说法是错误的。", id="zh_said_wrong_after"),
        pytest.param("**常见误区**：\nQ、K、V 共享同一个投影矩阵。", id="zh_under_a_heading"),
        pytest.param("A common mistake is to think that Q, K and V share the same projection matrix.", id="en_mistake"),
        pytest.param("Each of Q, K and V has its own matrix rather than one shared projection matrix.", id="en_rather_than"),
    ],
)
def test_a_wrong_claim_named_to_refute_it_is_not_stated(bank, answer):
    _, p = point(bank, answer)
    assert not (p.reason or "").startswith("the answer claims"), (p.verdict, p.reason)


@pytest.mark.parametrize("answer", ["Q、K、V 共享同一个投影矩阵。", "Q, K and V share the same projection matrix."])
def test_the_same_claims_stated_plainly_are_found(bank, answer):
    _, p = point(bank, answer)
    assert (p.reason or "").startswith("the answer claims"), (p.verdict, p.reason)


@pytest.mark.parametrize(
    "span, found",
    [("window", True), ("clause", False), ("near", False)],
)
def test_how_close_a_claims_groups_must_be(bank, monkeypatch, span, found):
    # the claim's two groups in one sentence, in different clauses, far apart
    monkeypatch.setattr(misconceptions, "SPAN", span)
    answer = "大家都说多个头之间共享同一个输入序列和位置编码，在每一层计算完注意力以后做残差连接和层归一化，最后再经过一个线性的投影矩阵输出结果。"
    _, p = point(bank, answer)
    assert (p.reason or "").startswith("the answer claims") == found, (p.verdict, p.reason)
    assert point(bank, "Q、K、V 共享同一个投影矩阵。")[1].verdict == "contradicted"


ARCH = """\
id: '1'
question: Encoder-Only 和 Decoder-Only 有什么区别？
reference_answer: Encoder-Only 使用双向注意力，擅长理解。Decoder-Only 使用因果注意力，擅长生成。
rubric:
  points:
    - id: encoder-bidirectional
      text: Encoder-Only 使用双向注意力
      keywords:
        - [encoder-only, bert]
        - [双向, bidirectional]
      misconceptions:
        - text: Encoder-Only 使用单向注意力
          keywords:
            - [encoder-only使用单向, bert使用单向, encoder-only uses unidirectional]
    - id: decoder-causal
      text: Decoder-Only 使用因果注意力
      keywords:
        - [decoder-only, gpt]
        - [因果, causal]
"""


@pytest.mark.parametrize(
    "answer",
    [
        "Encoder-Only（BERT、RoBERTa）：使用单向的因果注意力，只能看左边。",
        "BERT：使用单向注意力。",
        "Encoder-only (BERT, RoBERTa) uses unidirectional attention.",
    ],
)
def test_a_claim_is_found_across_the_aside_between_its_subject_and_what_it_says(tmp_path, answer):
    bank = one_question_bank(tmp_path, "arch", ARCH)
    r = Grader(Settings(mode="fuzzy"), bank=str(bank)).grade("1", answer)
    p = {p.id: p for p in r.points}["encoder-bidirectional"]
    assert p.verdict == "contradicted" and p.reason == "the answer claims: Encoder-Only 使用单向注意力", (p.verdict, p.reason)
    assert p.evidence and p.evidence in answer


def test_a_wrong_claim_beside_the_right_statement_contradicts_the_point(bank):
    # the point made in one sentence, its known wrong claim stated plainly in the next (COVERED "never")
    answer = "Q、K、V 由三个投影矩阵得到。这三个其实共享同一个投影矩阵。"
    assert point(bank, answer)[1].verdict == "contradicted"


def test_covered_policy_apart_keeps_a_point_covered_in_another_sentence(bank, monkeypatch):
    monkeypatch.setattr(misconceptions, "COVERED", "apart")
    answer = "Q、K、V 由三个投影矩阵得到。这三个其实共享同一个投影矩阵。"
    assert point(bank, answer)[1].verdict == "covered"


def test_a_lines_label_names_the_subject_of_the_sentences_after_it(tmp_path):
    bank = one_question_bank(tmp_path, "arch", ARCH.replace(
        "            - [encoder-only使用单向, bert使用单向, encoder-only uses unidirectional]",
        "            - [encoder-only, bert]\n            - [单向, unidirectional]"))
    grader = Grader(Settings(mode="fuzzy"), bank=str(bank))
    said = grader.grade("1", "Encoder-Only：由多层 Encoder 组成。它的注意力是单向的，只看左边。")
    assert {p.id: p for p in said.points}["encoder-bidirectional"].verdict == "contradicted"
    # on another line the label no longer applies
    other = grader.grade("1", "Encoder-Only：由多层 Encoder 组成。\nDecoder-Only 的注意力是单向的。")
    assert {p.id: p for p in other.points}["encoder-bidirectional"].verdict != "contradicted"
