"""The lexical matchers through the pipeline on a tiny bank, and their pure helpers."""

import pytest
from conftest import one_question_bank

from grader.matchers.compiled import alias_regex
from grader.matchers.polarity import clause_negated, negated_before
from grader.pipeline import Grader
from grader.settings import Settings
from grader.text import normalize


@pytest.fixture
def grader(tiny_bank):
    return Grader(Settings(mode="fuzzy"), bank=str(tiny_bank))


def verdicts(result):
    return {p.id: p.verdict for p in result.points}


@pytest.mark.parametrize("mode", ["keyword", "fuzzy"])
def test_covered_points_quote_the_answer(grader, mode):
    answer = "MQA 里所有 query 头共享同一组 K 和 V，所以 KV cache 减小了很多。GQA 则是分组共享。RoPE 不需要额外参数。"
    r = grader.grade("1", answer, mode=mode)
    assert verdicts(r) == {"mqa-share": "covered", "mqa-kv": "covered", "gqa-groups": "covered", "rope-no-params": "covered"}
    assert r.score == 10.0 and r.normalized == 1.0
    for p in r.points:
        assert p.evidence and p.evidence in answer
        assert normalize(p.evidence) in normalize(answer)
        assert p.method in ("keyword", "fuzzy")
    assert r.missing_points == []


def test_partial_credit_when_half_a_point_is_made(grader):
    r = grader.grade("1", "MQA 是一种注意力变体，推理时更快。", mode="keyword")
    p = {p.id: p for p in r.points}["mqa-share"]
    assert p.verdict == "partial" and p.credit == 0.5


@pytest.mark.parametrize(
    "answer, point",
    [
        pytest.param("MQA does not reduce the KV cache.", "mqa-kv", id="english_not_before_term"),
        pytest.param("MQA 并没有减少 KV cache。", "mqa-kv", id="chinese_cue_before_term"),
        pytest.param("RoPE 会引入额外参数。", "rope-no-params", id="negative_claim_stated_positively"),
    ],
)
def test_reversed_claim_is_contradicted_not_covered(grader, answer, point):
    r = grader.grade("1", answer, mode="keyword")
    p = {p.id: p for p in r.points}[point]
    assert p.verdict == "contradicted" and p.credit == 0.0
    assert p.text in r.missing_points


def test_first_term_written_only_negated_contradicts_without_the_other_group(grader):
    # "减少" (the point's first group) is negated and "KV cache" is not written at all
    r = grader.grade("1", "MQA 并不能减少显存占用。", mode="keyword")
    assert verdicts(r)["mqa-kv"] == "contradicted"
    # written plainly elsewhere in the answer, the negated mention compares: no contradiction
    r = grader.grade("1", "MHA 不能减少显存占用。MQA 能减少。", mode="keyword")
    assert verdicts(r)["mqa-kv"] != "contradicted"


def test_comparison_is_not_a_contradiction(grader):
    # the answer negates "共享" for MHA and affirms it for MQA
    r = grader.grade("1", "MHA 的头之间不共享 K/V。MQA 所有头共享一组 K/V。", mode="keyword")
    assert verdicts(r)["mqa-share"] == "covered"


def test_fuzzy_catches_a_misspelled_alias(grader):
    answer = "Multi-qurey attention: all heads share one K/V."
    assert verdicts(grader.grade("1", answer, mode="keyword"))["mqa-share"] == "partial"
    assert verdicts(grader.grade("1", answer, mode="fuzzy"))["mqa-share"] == "covered"


def test_fuzzy_does_not_confuse_encoder_and_decoder():
    assert not __import__("re").search(alias_regex("encoder"), "decoder")


def test_english_alias_inflections_and_boundaries():
    rx = __import__("re").compile(alias_regex(normalize("reduce")))
    assert rx.search("reducing the kv cache") and rx.search("it reduced") and rx.search("reduces")
    assert not rx.search("irreducible")
    kv = __import__("re").compile(alias_regex(normalize("kv cache")))
    assert kv.search("kv-cache") and kv.search("kvcache") and kv.search("kv cache")


@pytest.mark.parametrize(
    "text, term, negated",
    [
        ("rope 不能外推", "外推", True),
        ("rope 外推能力很好", "外推", False),
        ("mqa 不仅减少了显存", "减少", False),
        ("rope 不引入额外参数", "额外参数", True),
        ("it does not reduce memory", "reduce", True),
    ],
)
def test_negation_cue_before_term(text, term, negated):
    assert negated_before(text, text.rfind(term)) is negated


def test_clause_negation_reaches_a_verb_after_the_term():
    s = "llama 2 没有采用 gqa"
    i = s.find("llama")
    assert clause_negated(s, i, i + 5)
    s2 = "显存不够, 需要并行"
    assert not clause_negated(s2, 0, 2)  # a shortage is not a reversal


SUBJECTS_BANK = """\
id: "1"
question: MHA 和 MQA 的区别？
reference_answer: MHA 每个头有独立的 K/V，KV cache 大。MQA 所有头共享一组 K/V，KV cache 小。
rubric:
  points:
    - id: mha-own-kv
      text: MHA 每个头有独立的 K/V
      keywords: [[mha, 多头注意力], [独立, 各自]]
      source: MHA 每个头有独立的 K/V
    - id: mha-big-cache
      text: MHA 的 KV cache 大
      keywords: [[mha, multi-head], [kv cache, kv缓存], [大, 占用多]]
      source: KV cache 大
    - id: mqa-shared
      text: MQA 所有头共享一组 K/V
      keywords: [[mqa, multi-query], [共享, 一组]]
      source: MQA 所有头共享一组 K/V
    - id: mqa-small-cache
      text: MQA 的 KV cache 小
      keywords: [[mqa, 多查询], [kv cache, kv缓存], [小, 减少]]
      source: KV cache 小
"""


@pytest.fixture
def subjects_grader(tmp_path):
    bank = one_question_bank(tmp_path, "subjects", SUBJECTS_BANK)
    return Grader(Settings(mode="keyword"), bank=str(bank))


def test_a_claim_about_one_subject_is_not_made_by_a_sentence_about_another(subjects_grader):
    g = subjects_grader
    swapped_result = g.grade("1", "MQA：每个头有独立的 K/V，KV cache 大。MHA：所有头共享一组 K/V。")
    assert "keyword_stuffing" not in swapped_result.flags  # written sentences, not a list of terms
    swapped = {p.id: p for p in swapped_result.points}
    # at most the subject's name and the shared terms are found: the claims themselves are not credited
    for pid in ("mha-own-kv", "mqa-shared", "mha-big-cache"):
        assert swapped[pid].verdict != "covered" and swapped[pid].credit <= 0.5, swapped[pid]
    assert swapped["mqa-small-cache"].verdict != "covered" and swapped["mqa-small-cache"].credit <= 0.67  # no "小"
    right = {p.id: p for p in g.grade("1", "MHA：每个头有独立的 K/V，KV cache 大。MQA：所有头共享一组 K/V。").points}
    assert right["mha-own-kv"].verdict == "covered" and right["mqa-shared"].verdict == "covered"
    # under a heading that names the subject, the sentence below is about it
    headed = {p.id: p for p in g.grade("1", "**MHA**\n每个头有独立的 K/V。\n**MQA**\n所有头共享一组 K/V。").points}
    assert headed["mha-own-kv"].verdict == "covered" and headed["mqa-shared"].verdict == "covered"


def test_a_sentence_that_opens_with_a_subject_is_about_that_subject(subjects_grader):
    g = subjects_grader
    # the MQA line compares with MHA; it says nothing of MHA's own K/V
    r = {p.id: p for p in g.grade("1", "- MQA：所有头共享一组 K/V，不像 MHA 那样每个头独立，KV cache 小。").points}
    assert r["mqa-shared"].verdict == "covered" and r["mqa-small-cache"].verdict == "covered"
    assert r["mha-own-kv"].credit <= 0.5, r["mha-own-kv"]
    # a sentence naming both, with no label, speaks of both
    both = {p.id: p for p in g.grade("1", "MHA 每个头独立，MQA 所有头共享一组 K/V。").points}
    assert both["mha-own-kv"].verdict == "covered" and both["mqa-shared"].verdict == "covered"


def test_a_negation_inside_a_condition_is_no_contradiction():
    ref = ("If no constructor is provided, the compiler provides one by default. "
           "If a constructor is defined for a class, the compiler does not create a default constructor.")
    r = Grader(Settings(mode="fuzzy")).grade_reference(
        ref, "The compiler creates a default constructor when we do not define one in our class.",
        question="When does C++ create a default constructor?")
    assert not any(p.verdict == "contradicted" for p in r.points), [(p.id, p.verdict) for p in r.points]
    assert r.score > 0


def test_a_reversed_term_in_another_sentence_does_not_contradict_the_claim():
    g = Grader(Settings(mode="keyword"))
    ref = "The name of the function and the types of the parameters."
    q = "What is a function signature?"
    apart = g.grade_reference(ref, "It includes a function name and a parameter list. It does not include the return type.", question=q)
    assert not any(p.verdict == "contradicted" for p in apart.points), [(p.id, p.verdict) for p in apart.points]
    together = g.grade_reference(ref, "It has the function name but not the types of the parameters.", question=q)
    assert any(p.verdict == "contradicted" for p in together.points), [(p.id, p.verdict) for p in together.points]


def test_chinese_quality_noun_matches_its_adjective():
    from grader.answer import prepare
    from grader.matchers.compiled import compile_rubric
    from grader.matchers.lexical import match_points
    from grader.models import KeyPoint, Rubric

    rubric = Rubric(points=[KeyPoint(id="d", text="贪心搜索是确定性的", keywords=[["确定性", "deterministic"]])])
    compiled = compile_rubric(rubric)

    def verdict(answer):
        return match_points(compiled, prepare(answer), fuzzy=False)[0].result.verdict

    assert verdict("贪心每一步选概率最大的词，输出确定。") == "covered"
    assert verdict("贪心的输出是确定性的。") == "covered"
    assert verdict("贪心的输出并不确定。") == "contradicted"
    assert verdict("贪心每一步选概率最大的词。") == "missing"
