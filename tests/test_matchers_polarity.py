"""Polarity: a negation cue reverses a claim only where it negates the claim (issue 15, item 4).

Each sentence is from an answer in eval/data (dev, ADS, Mohler) that a cue rule had misread.
"""

import pytest

from grader.matchers.polarity import BEFORE, CLAUSE, PLAIN, UNREAD, polarity_matches, reading
from grader.pipeline import Grader
from grader.settings import Settings
from grader.text import normalize


def read(sentence: str, term: str) -> int:
    s, t = normalize(sentence), normalize(term)
    i = s.find(t)
    assert i >= 0, (s, t)
    return reading(s, i, i + len(t))


@pytest.fixture(scope="module")
def bundled():
    return Grader(Settings(mode="fuzzy"))


def verdict(grader, qid, answer, point):
    return {p.id: p.verdict for p in grader.grade(qid, answer, mode="fuzzy").points}[point]


@pytest.mark.parametrize(
    "sentence, term, expected",
    [
        # "没问题" is "no problem", not a negation (dev-q2-02)
        ("可学习的绝对位置编码：BERT 和 GPT-2 用的这种，它可以天然泛化到任意长度，超过 max_sequence_length 也没问题。",
         "max_sequence_length", PLAIN),
        # a condition ends at 的话: its negation stays in it (dev-q1-02)
        ("维度大时内积的方差会跟着变大，不缩放的话 softmax 会变得非常尖，几乎是 one-hot，梯度很小", "softmax", PLAIN),
        ("维度大时内积的方差会跟着变大，不缩放的话 softmax 会变得非常尖，几乎是 one-hot，梯度很小", "缩放", BEFORE),
        # a cue closed by 的 before a noun negates inside that attribute only (dev-q11-04)...
        ("就是模型变大之后突然具备了小模型没有的能力，比如推理，大概要到百亿参数以上才会出现。", "突然", PLAIN),
        # ...but a cue of absence with words before the 的 denies the noun (dev-q3-01)
        ("2. 没有额外的可训练参数", "参数", CLAUSE),
        # a cue of need negates what follows it, not the subject before it (ADS train-49)
        ("①在对单链表进行插入、删除、排序等修改操作的时候无需对第一个节点进行特殊考虑；", "操作", PLAIN),
        ("①在对单链表进行插入、删除、排序等修改操作的时候无需对第一个节点进行特殊考虑；", "第一个节点", BEFORE),
        # English "without" likewise (Mohler 2.6.2)
        ("A function prototype tells the compiler the function name, return type and the number and type of "
         "parameters without revealing the implementations contained in the function definition.", "parameters", PLAIN),
        ("A function prototype tells the compiler the function name, return type and the number and type of "
         "parameters without revealing the implementations contained in the function definition.", "implementations", BEFORE),
        # "not ... everything" denies "everything", not what follows (dev-q13-02)
        ("In practice you also need a load-balancing mechanism (e.g. an auxiliary loss) so the router doesn't send "
         "everything to a few experts", "a few experts", PLAIN),
        ("it does not reduce memory", "reduce", BEFORE),
        # a negated verb of knowing: what someone lacks, not whether the term holds (dev-q2-03, the issue's case)
        ("Transformer 需要它，是因为模型本身不知道词的先后顺序。", "顺序", UNREAD),
        ("位置编码是必需的，因为 Transformer 不知道顺序。", "顺序", UNREAD),
        # 无 alone is a cue of absence right before its noun (dev3-q3-06: "无可训练参数" agrees with
        # "不引入额外可训练参数")...
        ("RoPE无可训练参数，不受max_len表大小限制", "可训练参数", BEFORE),
        # ...but not in the words it starts that do not negate
        ("原生 RoPE 可以无限外推到任意长度", "外推", PLAIN),
        ("BERT 用无监督的 MLM 做预训练", "mlm", PLAIN),
        # ...and only the noun right after it (DeepSeek-V3's "无辅助损失的负载均衡" is load balancing)
        ("DeepSeek-V3 采用无辅助损失的负载均衡策略", "负载均衡", PLAIN),
        # a cue after the term closed by 的 before a Latin noun negates that attribute only
        # (dev3-q16-10: "attention 计算时按 block table 去不连续的 block 里取 K、V")
        ("attention计算时按block table去不连续的block里取K、V", "attention", PLAIN),
        # "只 X 不 Y": the cue after X is the contrast, not its negation (dev3-q3-07)
        ("这等价于把每对分量看成复数乘以e^{imθ}，只改变方向不改变长度。", "方向", PLAIN),
        ("RoPE 的外推能力不强", "外推", CLAUSE),
    ],
)
def test_what_a_cue_negates(sentence, term, expected):
    assert read(sentence, term) == expected


def test_an_unread_occurrence_counts_for_any_claim():
    assert all(polarity_matches(p, UNREAD) for p in ("pos", "neg", "clause", "any"))


def test_a_claim_negating_something_else_in_its_clause_still_states_the_term():
    # "通过路由偏置实现负载均衡并不依赖辅助损失": the cue negates 依赖辅助损失, the bias is stated
    assert polarity_matches("clause", PLAIN) and polarity_matches("clause", CLAUSE)
    assert not polarity_matches("clause", BEFORE)  # "不做路由偏置调整" reverses it


def test_absence_stated_with_wu_agrees_with_a_negated_point(bundled):
    # dev3-q3-06, an excellent answer: the point was contradicted when 无 was not read as a cue
    answer = "RoPE 无可训练参数，不受 max_len 表大小限制；长度外推表现相对好。"
    assert verdict(bundled, "3", answer, "rope-no-params") == "covered"


def test_the_issues_answer_is_not_marked_the_opposite(bundled):
    """Question 2's "语序决定语义…因此必须显式提供位置信息" against an answer that agrees in other words."""
    for answer in (
        "位置编码是给每个位置生成一个向量，直接加到 token embedding 上。Transformer 需要它，是因为模型本身不知道词的先后顺序。",
        "位置编码是必需的，因为 Transformer 不知道顺序，所以要把位置信息加到词嵌入上。",
    ):
        assert verdict(bundled, "2", answer, "word-order-matters") != "contradicted"


def test_a_stated_term_negated_right_before_contradicts_a_claim_that_negates_something_else(bundled):
    # dev-q15-08, a negated reference: the point "DeepSeek-V3 通过动态调整每个专家的路由偏置 bias 实现负载均衡并不依赖辅助损失"
    assert verdict(bundled, "15", "负载均衡完全依赖辅助损失，不做路由偏置调整；", "aux-loss-free") == "contradicted"
    assert verdict(bundled, "15", "DeepSeek-V3 通过动态调整路由偏置实现负载均衡，不依赖辅助损失。", "aux-loss-free") != "contradicted"
