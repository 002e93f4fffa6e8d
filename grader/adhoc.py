"""Rubrics built on the fly from a reference answer (`grade --reference`, batch and eval rows
that carry `reference_answer`).

reference --langchain-text-splitters--> claims (sentences, then clauses, Chinese and English
separators) --> per claim: keyword groups (technical terms, English words, Chinese content words
from jieba, ranked by IDF) --> KeyPoint(weight = 1) --> Rubric.

Built rubrics are cached by (reference, question). jieba and langchain are imported only here,
so the bank path never pays for them.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

from .models import KeyPoint, Question, Rubric
from .text import CJK_RE, EN_STOP, normalize

CLAIM_CHARS = 100  # target size of a claim (claim_length: a Chinese character counts 3)
MAX_GROUPS = 8  # keyword groups per claim
PARTIAL_FROM = 0.2  # share of a claim's keywords that earns partial credit
FULL_MARKS_AT = 0.6  # share of the reference's claims that earns full marks
HMM = False  # jieba's guesses at words missing from its dictionary are mostly noise here
MIN_KEYWORDS = 1  # a claim with fewer content words is not a key point
MIN_CLAIM_CONTENT = 2

_SEPARATORS = ["\n\n", "\n", "。", "！", "？", "；", ". ", "! ", "? ", "; ", "，", "、", ", ", "：", ": ", " ", ""]
_EN_TERM = re.compile(r"[a-z][a-z0-9+#.'-]*[a-z0-9+#]|[a-z]|\b[a-z]?\d+[a-z0-9()^*/.]*")
_ZH_STOPWORDS = frozenset(
    """的 了 是 在 和 与 及 或 等 这 那 其 之 为 将 把 被 对 从 到 也 都 而 就 个 中 有 所以 可以 因为 如果 需要 进行
    一个 一种 这个 那个 这样 通过 使用 以及 并且 或者 还是 但是 然而 因此 由于 对于 关于 其中 什么 如何 怎么 为什么
    就是 只是 还有 可能 能够 已经 非常 比较 更加 一些 一般 时候 时 后 前 上 下 内 外 不 没有 会 能 要 让 使 得 着 过
    它 它们 我们 他们 你 我 他 她 该 此 每 各 某 本 即 则 若 但 且 并 又 再 已 很 最 更 较 所 以 于 之后 之前 方面""".split()
)


def _splitter():
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(
        separators=_SEPARATORS,
        chunk_size=CLAIM_CHARS,
        chunk_overlap=0,
        keep_separator="end",
        strip_whitespace=True,
        length_function=claim_length,
    )


def claim_length(text: str) -> int:
    """Length in English-equivalent characters: a Chinese character says about as much as three."""
    return len(text) + 2 * len(CJK_RE.findall(text))


@lru_cache(maxsize=1)
def _jieba():
    import jieba
    import jieba.analyse

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    tfidf = jieba.analyse.default_tfidf
    return jieba, tfidf.idf_freq, tfidf.median_idf


def split_claims(reference: str) -> list[str]:
    """The reference as a list of claim-sized pieces of its own text."""
    text = re.sub(r"</?[a-zA-Z][^<>]{0,200}>", " ", reference)
    pieces = [p.strip(" \t,，、;；:：") for p in _splitter().split_text(text)]
    return [p for p in pieces if len(normalize(p)) >= 2]


def claim_keywords(claim: str) -> list[str]:
    """Content words of a claim, most specific first (English terms, Chinese words by IDF)."""
    norm = normalize(claim)
    scored: dict[str, float] = {}
    for w in _EN_TERM.findall(norm):
        w = w.strip(".'-")
        if not w or w in EN_STOP or (len(w) < 2 and not w.isdigit()):
            continue
        scored[w] = max(scored.get(w, 0.0), 8.0 + min(len(w), 10) / 10)
    if CJK_RE.search(norm):
        jieba, idf, median = _jieba()
        for w in jieba.lcut(norm, HMM=HMM):
            w = w.strip()
            if len(w) < 2 or not CJK_RE.search(w) or w in _ZH_STOPWORDS:
                continue
            scored[w] = max(scored.get(w, 0.0), idf.get(w, median))
    return sorted(scored, key=lambda k: -scored[k])


def build_rubric(reference: str, question: str | None = None) -> Rubric:
    points: list[KeyPoint] = []
    for i, claim in enumerate(split_claims(reference)):
        words = claim_keywords(claim)[:MAX_GROUPS]
        if len(words) < MIN_KEYWORDS:
            continue  # "and so forth.", "如下：": nothing to check
        points.append(
            KeyPoint(
                id=f"c{i + 1}",
                text=claim,
                weight=1.0,
                keywords=[[w] for w in words],
                source=claim,
            )
        )
    if not points:
        # A reference of one or two words ("O(n)") is its own single key point.
        text = reference.strip()
        points.append(KeyPoint(id="c1", text=text, keywords=[[normalize(text)]], source=text))
    return Rubric(
        points=points,
        partial_from=PARTIAL_FROM,
        full_marks_at=FULL_MARKS_AT,
        notes="built on the fly from the reference answer",
    )


@lru_cache(maxsize=4096)
def question_from_reference(reference: str, question: str | None = None, question_id: str | None = None) -> Question:
    return Question(
        id=question_id or "adhoc",
        question=question or "(ad-hoc reference)",
        reference_answer=reference,
        rubric=build_rubric(reference, question),
    )
