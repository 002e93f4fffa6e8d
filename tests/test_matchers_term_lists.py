"""A list of terms is recognised by its shape, whatever separates the terms; the honest answer and a
real bullet list keep their scores."""

from __future__ import annotations

import pytest

from grader.matchers.guards import is_term_list
from grader.pipeline import Grader
from grader.settings import Settings

TERMS_Q4 = ["共享", "权衡", "mha", "拼接", "独立", "子空间", "效果最好", "kv cache", "显存", "mqa", "同一个key", "减小",
            "效果下降", "gqa", "g组", "g=n", "折中", "接近mha", "llama"]
HONEST_Q4 = ("MHA 每个头都有自己的 K 和 V；MQA 让所有 query 头共享同一组 K/V，KV cache 缩小到原来的 1/N，"
             "推理更快但效果可能下降；GQA 把头分成 G 组，组内共享 K/V，是两者的折中。")
BULLETS_Q4 = ("- MHA：每个 Query 头都有自己独立的 K、V 投影，效果最好，但 KV Cache 与头数成正比，显存占用大。\n"
              "- MQA：所有 Query 头共享同一组 K 和 V，KV Cache 缩小为原来的 1/N，推理快，但效果可能下降。\n"
              "- GQA：把 Query 头分成 G 组，组内共享一组 K/V，G=N 时就是 MHA，G=1 时就是 MQA，是两者的折中，Llama 2 70B 用了它。")


@pytest.mark.parametrize("sep", [
    pytest.param(" ", id="spaces"),
    pytest.param("，", id="commas"),
    pytest.param("、", id="dun_commas"),
    pytest.param("\n", id="newlines"),
    pytest.param("\n- ", id="bullets"),
    pytest.param("\u200b", id="zero_width_spaces"),
    pytest.param(" / ", id="slashes"),
])
@pytest.mark.parametrize("mode", ["keyword", "fuzzy"])
def test_a_list_of_terms_scores_low_whatever_separates_them(sep, mode):
    grader = Grader(Settings(mode=mode))
    listed = grader.grade("4", sep.join(TERMS_Q4))
    honest = grader.grade("4", HONEST_Q4)
    assert "keyword_stuffing" in listed.flags and listed.score <= 2.5
    assert honest.score > listed.score + 2 and "keyword_stuffing" not in honest.flags


def test_filler_words_between_terms_do_not_make_sentences():
    padded = " ".join(f"{t} {'的是和'[i % 3]}" for i, t in enumerate(TERMS_Q4))
    r = Grader(Settings(mode="fuzzy")).grade("4", padded)
    assert "keyword_stuffing" in r.flags and r.score <= 2.5


def test_a_space_separated_list_on_question_5():
    answer = "双向注意力 因果注意力 交叉注意力 BERT GPT T5 BART Llama NLU NLG Seq2Seq MLM 自回归 情感分析 NER 机器翻译 文本摘要 代码生成 ICL"
    r = Grader(Settings(mode="fuzzy")).grade("5", answer)
    assert "keyword_stuffing" in r.flags and r.score <= 2.5  # 9.55 before, no flag


def test_a_real_bullet_list_keeps_its_score():
    r = Grader(Settings(mode="fuzzy")).grade("4", BULLETS_Q4)
    assert "keyword_stuffing" not in r.flags and r.score >= 6


@pytest.mark.parametrize("text, listed", [
    pytest.param("Query Key Value 点积 缩放 softmax 注意力权重 多头 长程依赖 RNN LSTM", True, id="zh_en_terms"),
    pytest.param("PyTorch, DeepSpeed, Megatron-LM, vLLM, FlashAttention, LoRA, QLoRA", True, id="en_names"),
    pytest.param("Tokenization 就是把 raw text 切成 token，再映射成 token id，模型只认 id。现在 LLM 基本都用 subword。", False,
                 id="mixed_prose"),
    pytest.param("The KV cache stores the keys and values of earlier tokens, so each step only computes the new one.", False,
                 id="english_prose"),
    pytest.param("MQA，GQA", False, id="too_few_items"),
])
def test_the_shape(text, listed):
    assert is_term_list(text) is listed
