"""The fast forms of text rules give what the plain forms give (the plain forms are the spec)."""

from __future__ import annotations

import random
import re

from grader.matchers.guards import LIST_EN_PROSE_MAX, LIST_MIN_ITEMS, LIST_SHORT_ITEM, LIST_SHORT_SHARE, LIST_ZH_PROSE_MAX
from grader.matchers.guards import _prose_density, is_term_list, list_items
from grader.text import _MATH_SPACE, claim_length

# the rule as first written: lookbehinds first (slow: re tries them at every position)
MATH_SPACE_SPEC = re.compile(
    r"(?<=[a-z0-9)])\s(?=[+/^=)])|(?<=[+/^=(])\s(?=[a-z0-9(])|(?<=\d)\s(?=[a-z](?![a-z]))"
    r"|(?<=\b[a-z0-9])\s(?=\(|-\s?[a-z0-9(]\b)|(?<=\b[a-z0-9]-)\s(?=[a-z0-9(])|(?<=\b[a-z0-9]\s-)\s(?=[a-z0-9(]\b)"
)


def _formulas(n: int) -> list[str]:
    rnd = random.Random(16)
    alphabet = "ab1 2()+-/^=x ,\t注意"
    return [
        "".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 14))) for _ in range(n)
    ] + ["( 2 * n + 1 ) / 3", "n / 2", "2 n", "x - (y)", "a -  b", "1 - 2 - 3", "f ( x )"]


def test_math_space_opening_with_the_space_is_the_same_rule():
    for text in _formulas(30000):
        assert _MATH_SPACE.sub("", text) == MATH_SPACE_SPEC.sub("", text), text


def _term_list_spec(text: str) -> bool:
    items = list_items(text)
    if len(items) < LIST_MIN_ITEMS:
        return False
    short = sum(1 for p in items if claim_length(p) <= LIST_SHORT_ITEM)
    zd, _, ed, _ = _prose_density(text)
    return short / len(items) >= LIST_SHORT_SHARE and zd < LIST_ZH_PROSE_MAX and ed < LIST_EN_PROSE_MAX


def test_term_list_checks_prose_first_with_the_same_outcome():
    rnd = random.Random(7)
    words = ["Q", "K", "V", "softmax", "根号dk", "多头", "的", "是", "因为", "注意力", "the", "is", "of", "scaling", "\n", "、", "，", "-"]
    texts = [" ".join(rnd.choice(words) for _ in range(rnd.randint(1, 30))) for _ in range(3000)]
    texts += ["Q、K、V、softmax、根号dk、多头", "自注意力让每个词都能看到其他词，所以可以并行。"]
    assert any(is_term_list(t) for t in texts) and not all(is_term_list(t) for t in texts)
    for t in texts:
        assert is_term_list(t) == _term_list_spec(t), t


def test_negation_is_read_only_where_a_cue_may_be():
    """AnswerView skips `reading` when no cue candidate starts before NEG_REACH past the term."""
    from grader.matchers.polarity import CUE_CANDIDATE, NEG_REACH, PLAIN, reading

    rnd = random.Random(3)
    pieces = ["not ", "no", "cannot ", "fail", "lack", "without ", "不", "没有", "无法", "并非", "kv cache ", "注意力", "知道", "的",
              ", ", "but ", "因为", "x", "ab ", "会", "显存", "the ", "可以"]
    checked = 0
    for _ in range(4000):
        norm = "".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 40)))
        m = CUE_CANDIDATE.search(norm)
        first = m.start() if m else len(norm) + NEG_REACH
        for start in range(0, len(norm), 3):
            for end in (start + 1, start + 4):
                if end <= len(norm) and reading(norm, start, end) != PLAIN:
                    checked += 1
                    assert first < end + NEG_REACH, (norm, start, end)
    assert checked > 1000


def _word_texts(n: int) -> list[str]:
    rnd = random.Random(161)
    alphabet = ["cache", "cach", "ing", "ed", "s", "ations", "ion", "e", "es", " ", "-", "x", "2", "缓存", "\x00", "."]
    return ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 8))) for _ in range(n)]


def test_one_word_alias_matched_by_hand_is_its_pattern():
    """`AliasProbe` finds a one-word alias without its regex: the same spans, around every piece."""
    from grader.matchers.compiled import AliasProbe, alias_regex

    for alias in ("cache", "caching", "kv2", "softmaxs", "eses", "cached"):
        probe = AliasProbe(alias)
        assert probe.tails is not None
        rx = re.compile(alias_regex(alias))
        for text in _word_texts(4000):
            spec = {(m.start(), m.end()) for m in rx.finditer(text)}
            got = set()
            start = text.find(probe.piece)
            while start >= 0:
                got.update(probe.spans_around(text, start, start + len(probe.piece)))
                start = text.find(probe.piece, start + 1)
            assert got == spec, (alias, text)


def test_cjk_ratio_by_runs_counts_what_single_characters_count():
    from grader.text import CJK_RE, cjk_ratio

    letter = re.compile(r"[^\W\d_]")
    rnd = random.Random(162)
    for _ in range(3000):
        text = "".join(rnd.choice("ab1 注意力\uf900é_-") for _ in range(rnd.randint(0, 12)))
        letters = len(letter.findall(text))
        assert cjk_ratio(text) == (len(CJK_RE.findall(text)) / letters if letters else 0.0)


# sentence ends as first written: the lookbehind opens the second alternative
SENT_END_SPEC = re.compile(r"(?:[。！？!?；;]+|(?<=[a-zA-Z0-9)\]])\.(?=\s)|\n+)")


def test_sentence_ends_found_from_the_full_stop_are_the_same_rule():
    from grader.text import _SENT_END

    rnd = random.Random(5)
    alphabet = "ab1).]。！？!?；;\n .x注"
    texts = ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(1, 30))) for _ in range(20000)]
    texts += ["e.g. the end. Next", "v1.2 is out.\nThen", "(a). [b]. c."]
    assert any(SENT_END_SPEC.search(t) for t in texts)
    for t in texts:
        assert [m.span() for m in _SENT_END.finditer(t)] == [m.span() for m in SENT_END_SPEC.finditer(t)], t
    # the point of the fast form: no alternative opens with a lookbehind, tried at every position
    assert not any(alt.startswith("(?<=") for alt in _SENT_END.pattern.removeprefix("(?:").split("|"))


def test_punctuation_by_regex_is_the_translation_table():
    from grader.text import _PUNCT_MAP, _PUNCT_RE, _punct

    rnd = random.Random(9)
    mapped = "".join(map(chr, _PUNCT_MAP))
    alphabet = mapped + "ab 1,.注意（）"
    texts = ["".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 20))) for _ in range(20000)]
    for t in texts:
        assert _PUNCT_RE.sub(_punct, t) == t.translate(_PUNCT_MAP), t
