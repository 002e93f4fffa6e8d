import pytest

from grader.text import normalize, sentences, tokens


@pytest.mark.parametrize(
    "raw, expected",
    [
        pytest.param("ＫＶ　Ｃａｃｈｅ", "kv cache", id="full_width_to_half_width"),
        pytest.param("Self-Attention", "self-attention", id="case_folding"),
        pytest.param("键 值 缓 存", "键值缓存", id="spaces_between_chinese_removed"),
        pytest.param("除以 √d_k", "除以 sqrt(dk)", id="sqrt_symbol"),
        pytest.param("sqrt(d_k)", "sqrt(dk)", id="sqrt_call"),
        pytest.param("根号dk", "sqrt(dk)", id="sqrt_chinese"),
        pytest.param("根号下 d_k", "sqrt(dk)", id="sqrt_chinese_under"),
        pytest.param(r"$\sqrt{d_{k}}$", "sqrt(dk)", id="sqrt_latex_nested"),
        pytest.param(r"$\frac{QK^T}{\sqrt{d_k}}$", "qk^t/sqrt(dk)", id="latex_fraction"),
        pytest.param(r"\text{softmax}", "softmax", id="latex_text"),
        pytest.param("<strong>Query (Q):</strong> 查询", "query (q): 查询", id="html_tags"),
        pytest.param("d_{model}", "dmodel", id="subscript"),
        pytest.param("", "", id="empty"),
    ],
)
def test_normalize(raw, expected):
    assert normalize(raw) == expected


def test_normalize_is_idempotent():
    s = "MQA 所有头共享一组 K/V，√d_k 缩放，<b>RoPE</b>"
    assert normalize(normalize(s)) == normalize(s)


def test_sentences_keep_spans_of_the_original():
    text = "RoPE 不能外推。MQA does not reduce the KV cache. Fig 1.5 is fine\n- 并行计算；长程依赖"
    segs = sentences(text)
    assert [s.text for s in segs] == ["RoPE 不能外推。", "MQA does not reduce the KV cache.", "Fig 1.5 is fine", "- 并行计算；", "长程依赖"]
    for s in segs:
        assert text[s.start : s.end] == s.text
        assert s.norm in normalize(text)


def test_tokens_mix_english_words_and_chinese_bigrams():
    toks = tokens(normalize("自注意力可以并行 the weights are computed"))
    assert "并行" in toks and "注意" in toks
    assert "weight" in toks and "comput" in toks
    assert "the" not in toks


@pytest.mark.parametrize(
    "written, canonical",
    [
        ("(2*n+1)/3", "(2n+1)/3"),
        ("（2n+1）/3", "(2n+1)/3"),
        ("n / 2", "n/2"),
        ("( n - i ) / ( n * ( n + 1 ) / 2 )", "(n-i)/(n(n+1)/2)"),
        ("2的n-1次方", "2^(n-1)"),
        ("2的 n − 1 次方", "2^(n-1)"),
        ("2的n次方", "2^n"),
    ],
)
def test_formulas_written_loosely_meet(written, canonical):
    assert normalize(written) == canonical


@pytest.mark.parametrize("text", ["Problem - solution", "3 layers of attention", "model (the big one)"])
def test_prose_keeps_its_spaces(text):
    assert normalize(text) == text.lower()
