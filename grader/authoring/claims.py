"""Claims: a reference split into verbatim, clause-sized spans, and the keywords of a claim (the
ad-hoc profile's material: see `build._build_adhoc`).

Part of the rubric builder (`grader.authoring.build`).
"""

from __future__ import annotations

import re
from functools import lru_cache

from ..text import CJK_RE, EN_STOP, normalize
from . import sentences
from .markup import ZH_STOPWORDS, _EN_TERM, _SEPARATORS, _TAG, _splitter, claim_length, formulas
from .segmenter import _jieba, _words_kept_whole
from .terms import RANKING_TERMS, term_table


# The ad-hoc profile (a reference given with an answer, no structure to lean on). Chosen on the
# ADS and Mohler sets as global settings, see README "Agreement with human graders".
CLAIM_CHARS = 100  # target size of a claim, in claim_length units (a Chinese character counts 3)


MAX_GROUPS = 8  # keyword groups per claim


ADHOC_PARTIAL_FROM = 0.2  # share of a claim's keywords that earns (that share of) credit


ADHOC_FULL_MARKS_AT = 0.6  # share of the reference's claims that earns full marks, at most...
# ...and fewer for a long reference: full marks at ADHOC_NEEDED_SCALE * n ** ADHOC_NEEDED_POWER of
# its n claims (3 claims: 1.7, 5: 2.5, 10: 4.0), as a long reference says more than an answer needs
# (ADS Pearson 0.578 -> 0.602 when chosen; per half of the questions: python eval/adhoc_curves.py)
ADHOC_NEEDED_SCALE, ADHOC_NEEDED_POWER = 0.8, 0.7


# Coverage -> score for ad-hoc rubrics: score = coverage ** 0.6 (people give generous partial credit
# for part of a reference's claims): ADS Pearson 0.625 -> 0.667, Mohler 0.524 -> 0.540, on every
# half of the questions too (python eval/adhoc_curves.py); Spearman unchanged.
ADHOC_SCORE_POWER = 0.6


ADHOC_CALIBRATION = [(x / 10, round((x / 10) ** ADHOC_SCORE_POWER, 4)) for x in range(11)]


def adhoc_full_marks_at(n_claims: int) -> float:
    """Share of an ad-hoc rubric's claims that earns full marks."""
    needed = ADHOC_NEEDED_SCALE * max(1, n_claims) ** ADHOC_NEEDED_POWER
    return round(min(ADHOC_FULL_MARKS_AT, needed / max(1, n_claims)), 4)


@lru_cache(maxsize=256)
def split_claims(reference: str) -> tuple[str, ...]:
    """The reference as claims a judge can judge (`grader.authoring.sentences`): whole sentences of
    its own text (tags removed), never cut inside brackets, quotes or an inline list. Cached:
    choosing how a reference is built (`is_structured`) and building it claim by claim both need them."""
    return tuple(sentences.split_claims(_TAG.sub(" ", reference)))


@lru_cache(maxsize=256)
def clause_claims(reference: str) -> tuple[str, ...]:
    """The reference as clause-sized pieces (about CLAIM_CHARS each, cut at commas too): the claims
    the keyword matcher grades best by, and the reference's size for `is_structured`."""
    text = _TAG.sub(" ", reference)
    pieces = [p.strip(" \t,，、;；:：") for p in _splitter(_SEPARATORS, CLAIM_CHARS, claim_length).split_text(text)]
    return tuple(p for p in pieces if len(normalize(p)) >= 2)


def scored_keywords(claim: str) -> dict[str, float]:
    """Content words of a claim with a specificity score (formulas first, English terms high,
    Chinese by IDF)."""
    norm = normalize(claim)
    scored: dict[str, float] = {}
    found = formulas(norm)
    for f in found:
        scored[f] = 12.0 + min(len(f), 10) / 10
    for w in _EN_TERM.findall(norm):
        w = w.strip(".'-")
        if not w or w in EN_STOP or (len(w) < 2 and not w.isdigit()):
            continue
        if any(w in f for f in found) and not re.search(r"[a-z]{3}", w):
            continue  # a piece of a formula ("2", "n-1" in "2^(n-1)")
        scored[w] = max(scored.get(w, 0.0), 8.0 + min(len(w), 10) / 10)
    if CJK_RE.search(norm):
        jieba, idf, median = _jieba()
        # the table's terms are kept whole ("梯度消失", not "梯度" + "消失"); jieba's guesses at unknown
        # words are mostly noise here (HMM off)
        with _words_kept_whole(term_table(RANKING_TERMS).found_in(norm)):
            toks = jieba.lcut(norm, HMM=False)
        for w in toks:
            w = w.strip()
            if len(w) < 2 or not CJK_RE.search(w) or w in ZH_STOPWORDS:
                continue
            scored[w] = max(scored.get(w, 0.0), idf.get(w, median))
    return scored


def claim_keywords(claim: str) -> list[str]:
    """Content words of a claim, most specific first."""
    scored = scored_keywords(claim)
    return sorted(scored, key=lambda k: -scored[k])
