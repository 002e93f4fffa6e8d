"""`grader rubric build` and `grader rubric check`: parsing banks, grounded key points, the
built bank grading, file:line errors, and --llm against the scripted local server."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from fake_llm_server import FakeLLM, ok
from grader.authoring.bank_build import build_bank
from grader.authoring.bankmd import parse_bank
from grader.banks import load_bank
from grader.cli import app
from grader.errors import UsageError
from grader.pipeline import Grader
from grader.authoring.build import build_rubric
from grader.authoring.terms import glossary
from grader.authoring.check import check_bank
from grader.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "eval" / "data" / "seed_bank.md"
runner = CliRunner()

PLAIN_MD = """# Networking basics

## 1. What does TCP guarantee?

TCP delivers a reliable, ordered byte stream. Lost segments are retransmitted after a timeout,
and sequence numbers let the receiver reorder segments.

- **Flow control**: the receiver advertises a window so the sender does not overwhelm it.
- **Congestion control**: slow start and congestion avoidance adapt the sending rate.

## 2. What is DNS?

DNS maps host names to IP addresses through a hierarchy of name servers.
"""

QA_MD = """Q: 什么是过拟合？
A: 过拟合是模型在训练集上表现很好、在测试集上表现差的现象。
常见的缓解方法有正则化、早停和数据增强。

Q3: What is gradient clipping?
A: Gradient clipping rescales gradients whose norm exceeds a threshold, which prevents exploding gradients.

Q: 这道题没有答案？
"""


@pytest.fixture(scope="module")
def seed_bank(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("built") / "seed"
    build_bank(SEED, out, name="seed")
    return out


# ---------------------------------------------------------------- parsing


def test_seed_format_keeps_ids_and_references_verbatim():
    bank = parse_bank(SEED.read_text(encoding="utf-8"))
    assert bank.layout == "numbered"
    assert [q.id for q in bank.questions] == [str(i) for i in range(1, 17)]
    assert sum(q.reference is not None for q in bank.questions) == 15
    assert bank.questions[15].id == "16" and bank.questions[15].reference is None
    assert "hello-agents" in (bank.source or "")
    curated = load_bank("llm-interview")
    for q in bank.questions:
        assert q.question == curated.questions[q.id].question
        assert q.reference == curated.questions[q.id].reference_answer  # the curated bank keeps them verbatim too


def test_plain_markdown_headings():
    bank = parse_bank(PLAIN_MD)
    assert bank.layout == "headings" and bank.title == "Networking basics"
    assert [(q.id, q.question) for q in bank.questions] == [("1", "What does TCP guarantee?"), ("2", "What is DNS?")]
    assert bank.questions[0].reference.startswith("TCP delivers")
    assert "Congestion control" in bank.questions[0].reference and "DNS" not in bank.questions[0].reference


def test_qa_pairs():
    bank = parse_bank(QA_MD)
    assert bank.layout == "qa"
    assert [q.id for q in bank.questions] == ["1", "3", "4"]
    assert bank.questions[2].reference is None
    assert bank.questions[0].reference.startswith("过拟合是") and "早停" in bank.questions[0].reference
    assert bank.questions[1].reference.startswith("Gradient clipping")


def test_duplicate_or_missing_questions_are_usage_errors():
    with pytest.raises(UsageError, match="no questions found"):
        parse_bank("just some prose\nwithout questions")
    with pytest.raises(UsageError, match="also used on line"):
        parse_bank("Q1: a?\nA: b\nQ1: c?\nA: d\n")


def test_a_reference_with_no_text_is_skipped_with_a_warning(tmp_path):
    # "$$" or a bare "## " is markup only: nothing to build key points from (it used to crash the build)
    src = tmp_path / "bank.md"
    src.write_text("Q: 为什么？\nA: $$\n\nQ: 什么是栈？\nA: 栈是后进先出的线性表。\n", encoding="utf-8")
    report = build_bank(src, tmp_path / "out", name="t")
    assert report.written == ["2"] and report.skipped == ["1"]
    assert any("no text" in w and "line 1" in w for w in report.warnings), report.warnings
    src.write_text("Q: 为什么？\nA: $$\n", encoding="utf-8")
    with pytest.raises(UsageError, match="no question has a reference answer"):
        build_bank(src, tmp_path / "out2", name="t")


# ---------------------------------------------------------------- key points


def test_sources_are_verbatim_and_points_bounded(seed_bank):
    built = load_bank(seed_bank)
    assert sorted(built.questions, key=int) == [str(i) for i in range(1, 16)]  # 16 has no reference: skipped
    for q in built.questions.values():
        pts = q.rubric.points
        assert 5 <= len(pts) <= 12, (q.id, len(pts))
        for p in pts:
            assert p.source and p.source in q.reference_answer, (q.id, p.id)
            assert p.keywords and p.weight > 0
            assert "思考方式" not in p.text


def test_points_of_a_sub_question_share_its_weight(seed_bank):
    q7 = load_bank(seed_bank).questions["7"]
    by_section: dict[str, set[float]] = {}
    for p in q7.rubric.points:
        by_section.setdefault(re.sub(r"-\d+$", "", p.id), set()).add(p.weight)
    assert all(len(ws) == 1 for ws in by_section.values()), by_section


def test_bilingual_terms_are_one_group():
    ref = "推理时使用键值缓存（KV Cache）。Greedy Search (贪心搜索) 每步选概率最高的词元。"
    gl = [[a.lower() for a in g] for g in glossary(ref)]
    assert ["键值缓存", "kv cache"] in gl and ["贪心搜索", "greedy search"] in gl
    rubric = build_rubric(ref, structured=True)
    groups = [g for p in rubric.points for g in p.keywords]
    assert any("kv cache" in g and "键值缓存" in g for g in groups), groups



def test_a_compound_with_a_generic_head_takes_the_bare_term():
    # "注意力机制" is made by an answer that writes "注意力" or "attention"
    groups = [g for p in build_rubric("自注意力之所以有效，靠的是注意力机制。", structured=True).points for g in p.keywords]
    g = next(g for g in groups if "注意力机制" in g)
    assert "注意力" in g and "attention" in g and "attention mechanism" in g


def test_a_gloss_starts_where_the_tables_spelling_does():
    gl = [[a.lower() for a in g] for g in glossary("梯度爆炸会导致损失（Loss）变成 NaN；当一个词元（token）进入 MoE 层时先经过路由器。")]
    assert ["损失", "loss"] in gl and ["词元", "token"] in gl, gl


def test_a_spelling_belongs_to_one_group_of_a_point():
    ref = "数据不足的模型（over-trained）不如数据充分的模型（under-trained）。"
    for p in build_rubric(ref, structured=True).points:
        spellings = [a for g in p.keywords for a in g]
        assert len(spellings) == len(set(spellings)), p.keywords


def test_a_segmenter_guess_ranks_below_dictionary_words():
    from grader.authoring.keywords import _content_words

    scored = _content_words("在推理效率上远超，同时在性能上优于。它提供了一个灵活的旋钮。", [])
    assert scored["上远"] < scored["旋钮"] and scored["上远"] < scored["效率"], scored


def test_formula_symbols_are_not_keywords_but_its_words_are():
    for ref in ("旋转：对位置 $m$ 乘以 $R_m$。", "这个过程等价于把二维向量看作一个复数，然后乘以复数 $e^{im\\theta}$"):
        words = {a for p in build_rubric(ref, structured=True).points for g in p.keywords for a in g}
        assert not words & {"rm", "reward model", "imtheta", "theta"}, words
    words = {a for p in build_rubric("门控输出为 $Swish(A) \\otimes B$。", structured=True).points for g in p.keywords for a in g}
    assert "swish" in words and "otimes" not in words, words


TERMS_MD = """# 深度学习基础

## 1. 为什么深层网络难训练？

深层网络反向传播时容易出现梯度消失，浅层参数几乎得不到更新。

## 2. Transformer 的子层之间是怎么连接的？

残差连接把输入直接加到子层输出上，让梯度可以绕过子层传回去。
"""


def test_term_table_puts_the_english_forms_in_the_group(tmp_path):
    from grader.authoring.terms import TERMS_FILES, term_table

    assert all(f.is_file() and f.parent.name == "authoring" for f in TERMS_FILES)  # ships inside the package
    assert "vanishing gradient" in term_table().forms("梯度消失")
    src = tmp_path / "bank.md"
    src.write_text(TERMS_MD, encoding="utf-8")
    build_bank(src, tmp_path / "out", name="terms")
    built = load_bank(tmp_path / "out")
    groups = {q: [g for p in built.questions[q].rubric.points for g in p.keywords] for q in ("1", "2")}
    assert any("梯度消失" in g and "vanishing gradient" in g for g in groups["1"]), groups["1"]
    assert any("残差连接" in g and "residual connection" in g for g in groups["2"]), groups["2"]
    report = check_bank(tmp_path / "out")
    assert report.errors == [] and report.warnings == [], report.findings


def test_words_the_whole_bank_uses_rank_below_a_points_own():
    from grader.authoring.build import Corpus, build_points

    ref = "Transformer 用残差连接稳定训练。"
    others = ["Transformer 的参数很多。", "Transformer 可以并行。", "Transformer 需要大量数据。"]
    alone = build_points(ref, max_groups=1)
    assert alone[0].keywords[0][0] == "transformer", alone
    in_bank = build_points(ref, max_groups=1, corpus=Corpus([ref, *others]))
    assert in_bank[0].keywords[0][0] == "残差连接", in_bank  # every reference of the bank says "Transformer"
    assert Corpus([ref, *others]).share(["transformer"]) == 1.0
    assert Corpus([ref, others[0]]).share(["transformer"]) == 0.0  # too few references to tell


def test_built_bank_grades(seed_bank):
    g = Grader(Settings(mode="fuzzy"), bank=str(seed_bank))
    good = g.grade("3", "RoPE 把 Query 和 Key 向量按位置旋转，旋转后的点积只依赖相对位置 (m-n)，而且不引入额外可训练参数，外推能力较好。")
    bad = g.grade("3", "不知道")
    assert good.score > bad.score and good.bank == "seed"


def test_cli_build_then_grade(tmp_path):
    out = tmp_path / "net"
    md = tmp_path / "net.md"
    md.write_text(PLAIN_MD, encoding="utf-8")
    r = runner.invoke(app, ["rubric", "build", str(md), "--out", str(out), "--name", "net"])
    assert r.exit_code == 0, r.output
    assert (out / "bank.yaml").is_file() and (out / "q01.yaml").is_file()
    r = runner.invoke(app, ["grade", "1", "TCP retransmits lost segments and uses sequence numbers to keep order.", "--bank", str(out), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["bank"] == "net"
    qa = tmp_path / "qa.md"
    qa.write_text(QA_MD, encoding="utf-8")
    r = runner.invoke(app, ["rubric", "build", str(qa), "--out", str(tmp_path / "qa")])
    assert r.exit_code == 0 and "no reference answer" in r.output


# ---------------------------------------------------------------- rubric check


def test_check_passes_on_the_curated_and_the_built_bank(seed_bank):
    for d in (ROOT / "rubrics" / "llm-interview", seed_bank):
        r = runner.invoke(app, ["rubric", "check", str(d)])
        assert r.exit_code == 0, r.output


def test_check_errors_name_file_and_line(seed_bank, tmp_path):
    d = tmp_path / "broken"
    shutil.copytree(seed_bank, d)
    text = (d / "q03.yaml").read_text(encoding="utf-8")
    first_source = re.search(r"^    source: (?![|>]).*$", text, re.M)  # a one-line source
    text = text[: first_source.start()] + "    source: 这句话参考答案里没有出现过" + text[first_source.end() :]
    (d / "q03.yaml").write_text(text, encoding="utf-8")
    line = text[: text.index("这句话参考答案里没有出现过")].count("\n") + 1
    (d / "q04.yaml").write_text((d / "q04.yaml").read_text(encoding="utf-8").replace("weight:", "weight: -1 #", 1), encoding="utf-8")
    r = runner.invoke(app, ["rubric", "check", str(d)])
    assert r.exit_code == 1
    assert f"q03.yaml:{line}: error: point" in r.output and "source not found" in r.output
    assert re.search(r"q04\.yaml:\d+: error: .*weight", r.output)
    report = check_bank(d)
    assert {f.path.name for f in report.errors} == {"q03.yaml", "q04.yaml"}


def test_check_warns_on_ungrounded_keywords(seed_bank, tmp_path):
    d = tmp_path / "warn"
    shutil.copytree(seed_bank, d)
    data = yaml.safe_load((d / "q01.yaml").read_text(encoding="utf-8"))
    text = (d / "q01.yaml").read_text(encoding="utf-8")
    first = data["rubric"]["points"][0]["keywords"][0]
    text = text.replace(f"- [{', '.join(first)}]", "- [完全无关的词]", 1)
    (d / "q01.yaml").write_text(text, encoding="utf-8")
    r = runner.invoke(app, ["rubric", "check", str(d)])
    assert r.exit_code == 0 and "warning" in r.output and "完全无关的词" in r.output
    assert runner.invoke(app, ["rubric", "check", str(d), "--strict"]).exit_code == 1
    assert runner.invoke(app, ["rubric", "check", str(tmp_path / "nope")]).exit_code == 2


# ---------------------------------------------------------------- --llm


@pytest.fixture
def offline(fast_judge):
    """The judge with fast retries (the network guard is conftest's)."""


def test_llm_points_kept_only_when_grounded(offline, tmp_path):
    md = tmp_path / "one.md"
    md.write_text(PLAIN_MD, encoding="utf-8")
    reply = {"points": [
        {"id": "reliable", "text": "TCP delivers a reliable ordered byte stream", "weight": 3,
         "source": "TCP delivers a reliable, ordered byte stream.", "keywords": [["reliable", "可靠"], ["ordered", "有序"]]},
        {"id": "flow-control", "text": "The receiver window provides flow control", "weight": 2,
         "source": "the receiver advertises a window so the sender does not overwhelm it", "keywords": [["flow control"], ["window"]]},
        {"id": "invented", "text": "TCP uses a three-way handshake", "weight": 2,
         "source": "TCP opens connections with a three-way handshake.", "keywords": [["handshake"]]},
    ]}
    dns = {"points": [{"id": "dns", "text": "DNS maps names to addresses", "source": "DNS maps host names to IP addresses",
                       "keywords": [["dns"], ["ip address", "ip addresses"]], "weight": 2}]}
    with FakeLLM() as server:
        server.push(ok(json.dumps(reply)), ok(json.dumps(dns)))
        settings = Settings(model="m", base_url=server.url, api_key="sk-test", use_cache=True,
                            cache_path=tmp_path / "cache.sqlite3", timeout=5.0)
        report = build_bank(md, tmp_path / "out", llm_settings=settings)
        assert len(server.requests) == 2
        body = server.bodies[0]
        assert body["response_format"]["type"] == "json_schema"
        assert "TCP delivers" in body["messages"][1]["content"]
        # a second build is served from the cache: no call
        report2 = build_bank(md, tmp_path / "out2", llm_settings=settings)
        assert len(server.requests) == 2 and report2.llm_calls == 0
    assert report.llm_dropped == 1 and any("invented" in w for w in report.warnings)
    q1 = load_bank(tmp_path / "out").questions["1"]
    assert [p.id for p in q1.rubric.points] == ["reliable", "flow-control"]
    assert all(p.source in q1.reference_answer for p in q1.rubric.points)
    assert check_bank(tmp_path / "out").errors == []


def test_llm_failure_falls_back_to_the_offline_builder(offline, tmp_path):
    md = tmp_path / "one.md"
    md.write_text(PLAIN_MD, encoding="utf-8")
    with FakeLLM() as server:
        server.push(ok("no json here"), ok(json.dumps({"points": [{"text": "x", "source": "not in it", "keywords": [["x"]]}]})))
        settings = Settings(model="m", base_url=server.url, api_key="sk-test", use_cache=False, timeout=5.0, max_retries=0)
        report = build_bank(md, tmp_path / "out", llm_settings=settings)
    assert any("built offline" in w for w in report.warnings)
    assert len(load_bank(tmp_path / "out").questions) == 2


def test_check_rejects_a_word_that_is_both_keyword_and_opposite(tmp_path):
    d = tmp_path / "opp"
    d.mkdir()
    (d / "bank.yaml").write_text("name: opp\ntitle: t\n", encoding="utf-8")
    (d / "q1.yaml").write_text(
        "id: '1'\nquestion: 栈底元素不能删除，对吗？\nreference_answer: 错误。\nrubric:\n  points:\n"
        "    - id: verdict\n      text: 错误\n      keywords: [[错误, 不正确]]\n      opposites: [正确, 错误]\n      source: 错误\n",
        encoding="utf-8",
    )
    r = runner.invoke(app, ["rubric", "check", str(d)])
    assert r.exit_code == 1 and "q1.yaml:9: error" in r.output and "both a keyword and an opposite" in r.output


ANTONYMS_MD = """# 推理优化

## 1. MQA 对 KV cache 有什么影响？

**显存**

MQA 让所有注意力头共用一组键值缓存，显存占用减少。

**代价**

各头的键和值相同，表达能力弱于 MHA。
"""


def test_a_built_point_takes_the_antonyms_of_what_its_source_states(tmp_path):
    from grader.authoring.terms import ANTONYMS_FILE, antonym_table

    assert ANTONYMS_FILE.is_file() and ANTONYMS_FILE.parent.name == "authoring"  # ships inside the package
    assert "增加" in antonym_table().opposite["减少"]
    # not when the span states both sides, and not a word inside one the span states
    assert antonym_table().opposites_in("参数增加，显存减少") == []
    assert "线性" not in antonym_table().opposites_in("非线性激活函数")
    # a quality noun's opposite stated by its adjective ("随机的" for 随机性) is stated too
    assert antonym_table().opposites_in("对输入随机地归零，但这个过程是确定性的") == []
    assert "随机性" in antonym_table().opposites_in("这个过程是确定性的")
    src = tmp_path / "bank.md"
    src.write_text(ANTONYMS_MD, encoding="utf-8")
    build_bank(src, tmp_path / "out", name="antonyms")
    point = load_bank(tmp_path / "out").questions["1"].rubric.points[0]
    assert "增加" in point.opposites and "减少" not in point.opposites, point
    assert not {a for g in point.keywords for a in g} & set(point.opposites)
    report = check_bank(tmp_path / "out")
    assert report.errors == [], report.findings
    g = Grader(Settings(mode="fuzzy"), bank=str(tmp_path / "out"))
    # the answer reverses the point with the antonym, next to the point's keywords: contradicted
    reversed_ = g.grade("1", "MQA 的显存占用增加了。")
    assert reversed_.points[0].verdict == "contradicted", reversed_.points
    # the antonym in a sentence about something else contradicts nothing
    other = g.grade("1", "MQA 很好。训练数据增加了。")
    assert other.points[0].verdict != "contradicted", other.points


MIXED_DIRECTIONS_MD = """# 推理优化

## 1. MQA 有什么好处？

**优点**

MQA 让所有注意力头共用一组键值缓存，显著降低了显存占用，并加快了推理速度。

**代价**

各头的键和值相同，表达能力弱于 MHA。
"""


def test_a_source_that_moves_quantities_both_ways_gets_no_magnitude_opposites(tmp_path):
    """"降低显存占用，并加快推理速度": an answer's "提高吞吐" agrees with it; the magnitude lines give
    no opposites to such a span (other lines still do)."""
    from grader.authoring.terms import antonym_table

    table = antonym_table()
    assert "减少" in table.down and "加快" in table.up
    assert table.opposites_in("显著降低了显存占用，并加快了推理速度") == []
    assert "提高" in table.opposites_in("显著降低了显存占用")
    assert "动态" in table.opposites_in("降低了显存占用，并加快了推理速度，长度固定")
    src = tmp_path / "bank.md"
    src.write_text(MIXED_DIRECTIONS_MD, encoding="utf-8")
    build_bank(src, tmp_path / "out", name="mixed")
    point = load_bank(tmp_path / "out").questions["1"].rubric.points[0]
    assert not point.opposites, point
    g = Grader(Settings(mode="fuzzy"), bank=str(tmp_path / "out"))
    agrees = g.grade("1", "MQA 的所有头共用一组键值缓存，省显存，提高了吞吐。")
    assert agrees.points[0].verdict != "contradicted", agrees.points


def test_a_reference_contradicts_none_of_the_points_built_from_it():
    """"单向" near "自注意力机制" is the Decoder section's own claim: the Encoder point's opposite
    words, written by the reference itself, would contradict the reference graded against it."""
    from grader.authoring.build import build_rubric
    from grader.models import Question

    ref = ("**Encoder**\n\n核心机制是双向自注意力机制，任何位置都同时关注左右两边。每个词元因此能得到整个上下文的表示。\n\n"
           "**Decoder**\n\n核心机制是单向自注意力机制，只能看到之前的词元，自回归地生成文本。")
    rubric = build_rubric(ref, "Encoder 和 Decoder 有何不同？", structured=True)
    encoder, decoder = rubric.points
    assert "单向" not in encoder.opposites, encoder
    assert "双向" in decoder.opposites, decoder  # not contradicted by the reference: kept
    from grader.pipeline import grade_question

    q = Question(id="1", question="Encoder 和 Decoder 有何不同？", reference_answer=ref, rubric=rubric)
    result = grade_question(q, ref, "fuzzy", Settings(mode="fuzzy"))
    assert all(pt.verdict != "contradicted" for pt in result.points), result.points


SHORT_MD = """# Short answers

## 1. What is the role of a prototype program in problem solving?

To simulate the behaviour of portions of the desired software product.

## 2. 若频繁地对一个线性表进行插入和删除操作，该线性表宜采用何种存储结构？

建议采用链式存储结构。顺序表插入删除需要移动大量元素，而链表只需修改指针。
"""


def test_a_short_reference_is_built_claim_by_claim_a_structured_one_by_structure(tmp_path, seed_bank):
    from grader.authoring.build import LONG_REFERENCE_CLAIMS, build_rubric, is_structured

    assert not is_structured("To simulate the behaviour of portions of the desired software product.")
    assert is_structured("**原理**\n\nMQA 共用一组 K/V。\n\n**代价**\n\n效果略差。")  # sub-headings

    def steps(n):
        return "。".join(f"第{i}步把上一步的计算结果写回第{i}号寄存器并更新标志位" for i in range(1, n + 1)) + "。"

    assert is_structured(steps(LONG_REFERENCE_CLAIMS + 1)) and not is_structured(steps(LONG_REFERENCE_CLAIMS))
    # claim by claim, a bank's rubric still holds at most --max-points: neighbouring claims merged,
    # each still a verbatim span of the reference; on the fly, one point a claim
    ref = steps(20)
    merged = build_rubric(ref, max_points=12)
    assert "claim by claim" in merged.notes and len(merged.points) == 12
    assert all(p.source in ref for p in merged.points) and "第20步" in merged.points[-1].source
    assert len(build_rubric(ref, max_points=None).points) == 20
    src = tmp_path / "short.md"
    src.write_text(SHORT_MD, encoding="utf-8")
    build_bank(src, tmp_path / "out", name="short")
    bank = load_bank(tmp_path / "out")
    for q in bank.questions.values():
        r = q.rubric
        assert "claim by claim" in r.notes and [p.id for p in r.points][0] == "c1", r
        assert all(p.source and p.source in q.reference_answer for p in r.points)
    assert check_bank(tmp_path / "out").errors == []
    # the same rubric as grading against the reference on the fly
    from grader.authoring.adhoc import build_rubric as adhoc_rubric

    q2 = bank.questions["2"]
    assert [p.keywords for p in q2.rubric.points] == [p.keywords for p in adhoc_rubric(q2.reference_answer, q2.question).points]
    # on the fly, a long reference is built by its structure too
    assert "by its structure" in adhoc_rubric(steps(LONG_REFERENCE_CLAIMS + 1)).notes
    assert "claim by claim" in adhoc_rubric(q2.reference_answer, q2.question).notes
    # the seed bank's references are long and sectioned: built by structure
    assert all("by its structure" in q.rubric.notes for q in load_bank(seed_bank).questions.values())


# Pieces of the markdown teachers' banks are made of, glued at random: a build either writes a bank
# that checks clean and grades, or stops with a UsageError naming the fix; never a traceback.
_PIECES = [
    "# 标题\n", "## 1. 什么是 KV cache？\n", "1. 什么是注意力？\n", "## 参考回答\n", "Q: what is a stack?\n",
    "A: because.\n", "问：为什么？\n", "答：因为。\n", "<strong>优点：</strong> 快。\n", "* 项目\n", "  - 子项\n",
    "| a | b |\n|---|---|\n| 1 | 2 |\n", "$$x^2$$\n", "$R_m$ 与 $\\theta$\n", '<div align="center">\n', "</div>\n",
    "\n", "---\n", "**粗体**\n", "KV Cache（键值缓存）减少重复计算。\n", "The model uses (attention) heads.\n",
    "\u200b", "```\ncode\n```\n", "> quote\n", "3. \n", "## \n", "<strong></strong>\n", "（）()\n", "$$\n",
    "[link](http://x)\n",
]


def test_random_banks_build_or_fail_with_a_usage_error(tmp_path):
    import random

    rng = random.Random(20261129)
    for i in range(120):
        src = tmp_path / f"b{i}.md"
        src.write_text("".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 25))), encoding="utf-8")
        out = tmp_path / f"o{i}"
        try:
            report = build_bank(src, out, name="fuzz")
        except UsageError:
            continue
        assert check_bank(out).errors == [], (src.read_text(encoding="utf-8"), check_bank(out).findings)
        g = Grader(Settings(mode="fuzzy"), bank=str(out))
        for qid in report.written:
            assert 0 <= g.grade(qid, "KV cache 减少重复计算，因为 attention 需要位置信息。").score <= 10
