"""The fast forms of the lexical matcher's steps give what the plain forms give (the plain forms,
written here, are the spec)."""

from __future__ import annotations

import random

import pytest

from grader.banks import load_bank
from grader.matchers.lexical import _blank
from grader.pipeline import compiled_rubric
from grader.text import content_length


@pytest.fixture(scope="module")
def rubrics():
    bank = load_bank()
    return [compiled_rubric(q) for q in bank.questions.values()]


def _texts(n: int, seed: int) -> list[str]:
    """Fragments of the rubrics' own aliases and words between them: what an answer's clauses hold."""
    bank = load_bank()
    words = sorted({a for q in bank.questions.values() for p in q.rubric.points for g in p.keywords for a in g})
    words += [" ", "-", "的", "是", "not ", "不", "x", "2", "ing", "s"]
    rnd = random.Random(seed)
    return ["".join(rnd.choice(words) for _ in range(rnd.randint(1, 6))).lower() for _ in range(n)]


def test_blanking_spans_leaves_the_content_the_character_mask_leaves():
    rnd = random.Random(5)
    for text in _texts(3000, 5):
        spans = [(a, a + rnd.randint(0, 6)) for a in (rnd.randrange(len(text) + 1) for _ in range(rnd.randint(0, 4)))]
        keep = [True] * len(text)
        for a, b in spans:
            keep[a:b] = [False] * (b - a)
        spec = "".join(ch if k else " " for ch, k in zip(text, keep))
        assert content_length(_blank(text, spans)) == content_length(spec), (text, spans)


def test_probes_of_the_pieces_found_are_the_probes_whose_piece_occurs(rubrics):
    for compiled in rubrics:
        for text in _texts(150, 6):
            pieces = compiled.pieces_in(text)
            for pi, point in enumerate(compiled.points):
                spec = {id(pr) for g in point.groups for pr in g.probes if pr.piece in text}
                got = compiled.probes_of(pieces, pi)
                assert len(got) == len(spec) and {id(pr) for pr in got} == spec


def _windows_spec(segs):
    """`_windows` as first written (tuples built by filtering the recent headings)."""
    from grader.matchers.view import _HEADING_END, HEAD_MAX, WINDOW

    out = set()
    short = [len(s.norm) <= HEAD_MAX or content_length(s.norm) <= HEAD_MAX for s in segs]
    recent: list[int] = []
    for j in range(len(segs)):
        run = (j,)
        while True:
            out.add(run)
            if recent:
                a = tuple(h for h in recent[-1:] if h < run[0])
                if a:
                    out.add(a + run)
                b = tuple(h for h in recent if h < run[0])
                if b:
                    out.add(b + run)
            lead = run[0] - 1
            if len(run) == WINDOW or lead < 0 or not short[lead]:
                break
            run = (lead,) + run
        if short[j] and _HEADING_END.search(segs[j].text):
            recent = (recent + [j])[-2:]
    return sorted(out, key=lambda w: (w[-1], len(w)))


def test_windows_are_those_of_the_plain_rule_in_the_same_order():
    from grader.answer import prepare
    from grader.matchers.view import _windows

    rnd = random.Random(9)
    lines = ["**MQA**", "缺点：", "优点:", "L1 正则化：", "1. 多头注意力把 Q、K、V 投影到多个子空间。", "短句。", "ok.",
             "This sentence is long enough to count as a statement of its own.", "- KV cache", "GQA 分组共享 K/V，介于两者之间。"]
    for _ in range(1500):
        text = "\n".join(rnd.choice(lines) for _ in range(rnd.randint(1, 12)))
        segs = prepare(text).segments
        assert _windows(segs) == _windows_spec(segs), text


def test_bare_terms_are_read_only_in_an_answer_almost_without_grammar_words(monkeypatch):
    """`bare_points` re-scans every matched clause; prose (grammar share over the stuffing bound)
    cannot be stuffing whatever it finds, so it is not called there."""
    from grader.answer import prepare
    from grader.matchers import guards

    bank = load_bank()
    q = bank.questions["1"]
    compiled = compiled_rubric(q)
    calls = []
    real = guards.bare_points
    monkeypatch.setattr(guards, "bare_points", lambda *a: calls.append(1) or real(*a))
    prose = prepare(q.reference_answer)
    assert guards.grammar_share(prose) >= guards.STUFFING_GRAMMAR_MAX
    assert guards.lexical(compiled, prose, fuzzy=False).flags == []
    assert calls == []
    terse = prepare("softmax 根号dk")  # too few items for a list by its shape
    guards.lexical(compiled, terse, fuzzy=False)
    assert guards.grammar_share(terse) < guards.STUFFING_GRAMMAR_MAX and calls


def _mixed_texts(n: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    pieces = ["的", "是", "注意力", "Q", "K", "softmax", "The", "the", "and", "of", "is", "IS", "don't", "multi-head", " ",
              "、", "，", "\n", "。", "可以", "并且", "所以", "KV", "cache", "İ", "K", "ﬁ", "x2", "-", "'"]
    return ["".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 40))) for _ in range(n)]


def test_grammar_share_counted_is_the_share_of_listed_units():
    import re

    from grader.answer import prepare
    from grader.matchers.guards import _ZH_GRAMMAR, grammar_share
    from grader.text import EN_STOP

    unit = re.compile(r"[\u3400-\u9fff]|[a-z][a-z'-]*")
    for text in _mixed_texts(3000, 11):
        prepared = prepare(text)
        units = unit.findall(prepared.norm)
        spec = sum(1 for u in units if u in _ZH_GRAMMAR or u in EN_STOP) / len(units) if units else 0.0
        assert grammar_share(prepared) == spec, text


def test_prose_density_counted_is_the_density_of_listed_words():
    import re

    from grader.matchers.guards import _FILLERS, _prose_density
    from grader.text import EN_STOP

    for text in _mixed_texts(3000, 12):
        words = [w.lower() for w in re.findall(r"[A-Za-z][A-Za-z'-]*", text)]
        en = sum(1 for w in words if w in EN_STOP and w not in _FILLERS)
        cjk = len(re.findall(r"[\u3400-\u9fff]", text))
        zh = len(re.findall("[了在将把被对从到也都而就有所可会要让使因需时能不没只则如若但并且即这那其之为]", text))
        assert _prose_density(text) == ((zh / cjk if cjk else 0.0), zh, (en / len(words) if words else 0.0), en), text


def test_set_bits_are_read_the_same_from_small_and_large_masks():
    """`_bits` reads a mask of an answer of many sentences from its digits (one step per bit of a
    big int made a hostile answer of thousands of sentences quadratic)."""
    from grader.matchers.lexical import _bits

    rnd = random.Random(13)
    for _ in range(3000):
        mask = rnd.getrandbits(rnd.choice([0, 1, 5, 63, 64, 65, 200, 3000]))
        assert list(_bits(mask)) == [i for i in range(mask.bit_length()) if mask >> i & 1]
