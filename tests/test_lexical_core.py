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
