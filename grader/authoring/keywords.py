"""Keyword groups of a structured point: content words ranked by how specific they are to one
part of the reference, bold phrases and terms first; the point's text.

Part of the rubric builder (`grader.authoring.build`).
"""

from __future__ import annotations

import math
import re

from ..text import CJK_RE, EN_STOP, content_length, normalize
from .markup import ZH_STOPWORDS, _EN_TERM, _GENERIC_LABELS, _MATH, plain
from .segmenter import _jieba, _posseg, _words_kept_whole
from .terms import RANKING_TERMS, TERM_BONUS, _bold_phrases, _english_terms, _math_words, term_table
from .structure import Candidate


class _Vocabulary:
    """Specificity of words within one reference: IDF, lowered for words many units share."""

    def __init__(self, reference: str, spans: list[tuple[int, int]]):
        self.df: dict[str, int] = {}
        for a, b in spans:
            text = plain(reference[a:b])
            terms = term_table(RANKING_TERMS).found_in(normalize(text))  # counted as the points' keywords are
            for w in set(_content_words(text, terms)) | set(terms):
                self.df[w] = self.df.get(w, 0) + 1
        self.n = max(1, len(spans))

    def rank(self, words: dict[str, float]) -> list[tuple[str, float]]:
        out = []
        for w, s in words.items():
            df = self.df.get(w, 1)
            out.append((w, s * (1.0 - 0.6 * math.log(df) / math.log(self.n + 1))))
        return sorted(out, key=lambda kv: -kv[1])


_JUNK = re.compile(r"^[对从向在以被把将于由]|[是指会为着了的]$")  # segmenter fragments ("项是", "对源")


_KEEP_POS = ("n", "vn", "eng", "nz", "l", "i", "j")  # nouns, verbal nouns, English, idioms, terms


# jieba's part-of-speech HMM re-reads each run of characters its dictionary splits into single
# characters; its Viterbi costs ~10-25 ms per such character (3,000 random CJK characters: 31 s or
# more). A reference with more than this many is segmented without it (a realistic clause has a
# name or two: a few characters; the segmentation of every reference under the limit is unchanged).
HMM_MAX_UNKNOWN = 64


def _segment(norm: str) -> list:
    posseg = _posseg()
    plain = posseg.lcut(norm, HMM=False)
    unknown = run = 0
    for tok in plain:
        if len(tok.word) == 1 and CJK_RE.match(tok.word):
            run += 1
            continue
        unknown += run if run >= 2 else 0
        run = 0
    unknown += run if run >= 2 else 0
    return plain if unknown > HMM_MAX_UNKNOWN else posseg.lcut(norm)


def _content_words(text: str, phrases: list[str]) -> dict[str, float]:
    """Chinese and English content words of a span, scored by specificity; `phrases` (bold phrases,
    bilingual terms) are kept whole by the segmenter."""
    jieba, idf, median = _jieba()
    norm = normalize(text)
    scored: dict[str, float] = {}
    for w in _EN_TERM.findall(norm):
        w = w.strip(".'-")
        if w and w not in EN_STOP and (len(w) >= 2 or w.isdigit()) and not re.fullmatch(r"[a-z]\d?|\d+", w):
            scored[w] = max(scored.get(w, 0.0), 8.0 + min(len(w), 10) / 10)
    if CJK_RE.search(norm):
        kept = {normalize(p) for p in phrases}
        with _words_kept_whole(phrases):
            toks = _segment(norm)
        for tok in toks:
            w, flag = tok.word.strip(), tok.flag
            if len(w) < 2 or not CJK_RE.search(w) or w in ZH_STOPWORDS or w in _GENERIC_LABELS or _JUNK.search(w):
                continue
            base = idf.get(w, median)
            if w not in jieba.dt.FREQ and w not in kept:
                base *= 0.5  # a run the segmenter guessed, in no dictionary ("效率上远超" -> "上远")
            if not flag.startswith(_KEEP_POS):
                base *= 0.5  # verbs, adjectives, adverbs: kept only when nothing better is there
            scored[w] = max(scored.get(w, 0.0), base)
    return scored


# Generic head words of a compound term ("注意力机制", "attention mechanism", "门控机制"): an answer
# writes the term without them ("注意力", "attention"), so a group of such a compound also takes the
# spellings the term table knows for the term without its head. Seed bank built rubrics, dev fuzzy:
# Spearman 0.827 -> 0.836 (机制 alone does it on this bank), with 关系 0.836 -> 0.840 ("幂律关系":
# one group of this bank). Left out: 能力 ("推理能力" is reasoning, "推理" alone mostly inference:
# misconception 3.19 -> 3.26, Spearman 0.835), 效应 ("瓶颈效应" is not any "瓶颈": 0.832); 模型, 性,
# 过程 change nothing here.
_GENERIC_HEADS_ZH = ("机制", "方法", "算法", "技术", "架构", "函数", "策略", "关系")


_GENERIC_HEADS_EN = re.compile(
    r"(.+?)[ -](?:mechanism|method|algorithm|technique|architecture|function|strategy|relationship|relation)"
)


def _generic_head(word: str) -> str | None:
    """The term of a compound without its generic head word, or None."""
    if CJK_RE.search(word):
        for h in _GENERIC_HEADS_ZH:
            if word.endswith(h) and len(word) - len(h) >= 2:
                return word[: -len(h)]
        return None
    m = _GENERIC_HEADS_EN.fullmatch(word)
    return m.group(1) if m else None


def _groups_for(span_text: str, labels: list[str], gloss: list[list[str]], vocab: _Vocabulary, limit: int,
                question: str = "", corpus: "Corpus | None" = None) -> list[list[str]]:
    text = plain(_MATH.sub(_math_words, span_text))
    label = "；".join(labels)
    norm = normalize(text + "；" + label)
    bold = [lb for lb in labels if normalize(lb) not in _GENERIC_LABELS] + _bold_phrases(span_text)
    table = term_table()
    found = term_table(RANKING_TERMS).found_in(norm)
    # the table's terms found here are kept whole by the segmenter too ("梯度消失", not "梯度" + "消失")
    phrases = bold + [a for g in gloss for a in g] + found
    scored = _content_words(text + "；" + label, phrases)
    for phrase in bold:  # a short bold phrase is a term of its own ("局部最优", "精确的0")
        pn = normalize(phrase)
        if 2 <= content_length(pn) <= 4 and pn in norm:
            scored[pn] = max(scored.get(pn, 0.0), 12.0)
        for w in _content_words(phrase, phrases):
            if w in scored:
                scored[w] += 3.0
    for term in _english_terms(span_text):
        t = normalize(term)
        if " " in t or "-" in t:
            scored[t] = max(scored.get(t, 0.0), 10.0 + len(t.split()))
    for term in found:  # scored like an English term, then ahead of plain words
        scored[term] = max(scored.get(term, 0.0), 8.0 + min(len(term), 10) / 10) + TERM_BONUS
    if question:
        for w in scored:
            forms = table.forms(w) or (w,)
            if any(f in question for f in forms):
                scored[w] *= QUESTION_WORD_FACTOR
    if corpus is not None:
        for w in scored:
            scored[w] *= 1.0 - DOMAIN_WORD_DEMOTION * corpus.share(table.forms(w) or (w,))
    ranked = vocab.rank(scored)
    groups: list[list[str]] = []
    used: set[str] = set()
    for w, _ in ranked:
        if len(groups) >= limit:
            break
        if w in used or any(w in u or u in w for u in used):
            continue
        group = [w]
        for g in gloss:  # the two-language form of the term, when the reference gives one
            forms = [normalize(a) for a in g]
            if any(w == f or (len(w) >= 2 and w in f and f in norm) for f in forms):
                group = list(dict.fromkeys(forms))
                break
        for a in list(group):  # every spelling the term table knows for it
            forms = table.forms(a)
            if forms:
                group = list(dict.fromkeys(group + list(forms)))
        for a in list(group):  # "注意力机制" is made by "注意力": the generic head adds nothing
            head = _generic_head(a)
            forms = table.forms(head) if head else None
            if forms:
                group = list(dict.fromkeys(group + list(forms)))
        group = [a for a in group if a not in used]  # one spelling, one group ("模型" of two glosses)
        used.update(group)
        groups.append(group)
    return groups


def _point_text(reference: str, group: list[Candidate], section_title: str) -> str:
    parts = []
    for c in group[: TEXT_CLAIMS or None]:
        t = plain(reference[c.start : c.end]).rstrip("。.;；，,、:： ")
        parts.append(t)
    text = "；".join(parts)
    ctx = group[0].context
    if ctx and normalize(ctx) in _GENERIC_LABELS and normalize(ctx) not in normalize(text):
        text = f"{ctx}：{text}"
    head = re.split(r"[:：(（/]", section_title)[0].strip()
    if PREFIX and head and len(head) <= 30 and normalize(head) not in _GENERIC_LABELS:
        if normalize(head) not in normalize(text):
            text = f"{head}：{text}"
    return text


# A word the question already says ("自注意力", "RNN" in "为什么自注意力比 RNN ...") is written by every
# answer on topic, right or wrong: it scores half when keywords are chosen.
QUESTION_WORD_FACTOR = 0.5


# A word many of the bank's references use ("模型", "参数", "token" in an LLM bank) is the field's, not
# the point's: any answer on the subject writes it, right or wrong, so it makes a poor keyword group.
# Its score is lowered by DOMAIN_WORD_DEMOTION * the share of the bank's references that use it (a
# bank of CORPUS_MIN references or more; one reference alone tells nothing). Seed bank, dev fuzzy:
# Spearman 0.764 -> 0.805 (0.25: 0.779, 0.4: 0.780, 0.6: 0.786, 0.75: 0.784, 1.0: 0.795, 1.5: 0.769;
# a step that halves words used by more than 30% of references: 0.792, by more than 50%: 0.752).
DOMAIN_WORD_DEMOTION = 0.5


TEXT_CLAIMS = 0  # claims of a merged point kept in its text (0: all)


PREFIX = True
