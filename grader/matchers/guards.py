"""The guards: what the lexical matcher found, read as a whole answer.

The matcher runs once per answer (`lexical`), with the known wrong claims it states
(`matchers.misconceptions`); the guards look at its matches:
- off topic: almost none of the key points, and little of the topic's vocabulary: every point
  becomes missing;
- keyword stuffing: most credited points rest on bare listed terms, in an answer almost without
  grammar words: those points keep STUFFED_CREDIT of their credit.
Hybrid settlement (`matchers.hybrid`) and the judge's fallback read the same `Lexical`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..answer import PreparedAnswer
from ..plain import CLAIMS, Flag, Point
from ..text import EN_STOP, LazyPattern, claim_length, content_length, tokens
from .compiled import CompiledRubric
from .lexical import LexicalMatch, bare_points, match_points
from .misconceptions import misconceived
from .view import AnswerView

# keyword stuffing: most credited points rest on bare listed terms
STUFFING_MIN_POINTS = 2
STUFFING_SHARE = 0.5
STUFFED_CREDIT = 0.2  # what a bare listed term keeps of its credit
STUFFING_GRAMMAR_MAX = 0.12  # ...and only in an answer almost without grammar words: a list
# off topic: almost none of the key points, and little of the topic's vocabulary
OFF_TOPIC_COVERAGE = 0.15
OFF_TOPIC_OVERLAP = 0.25
OFF_TOPIC_MIN_CONTENT = 12
# ...judged only against a topic whose vocabulary is rich enough to tell another topic from other
# words: the bundled rubrics have 370-900 tokens; a reference of a sentence or two (ADS, Mohler)
# has 5-150, and on those sets the flag fell mostly on right answers (Mohler: 239, human mean 7.3)
OFF_TOPIC_MIN_VOCABULARY = 200


# Characters and words that carry grammar: what joins terms into statements.
_ZH_GRAMMAR = frozenset("的了是在和与及或这那其之为将把被对从到也都而就个有所以可以会要让使得因需时能不没只则如若但并且即")
_GRAMMAR_UNIT = re.compile(r"[\u3400-\u9fff]|[a-z][a-z'-]*")
_GRAMMAR_WORDS = _ZH_GRAMMAR | EN_STOP


def grammar_share(prepared: PreparedAnswer) -> float:
    """Share of the answer's words (Chinese characters, English words) that are grammar words.

    Written statements, terse or long, Chinese or English, keep 0.13-0.4 of them; a list of terms
    ("Q、K、V、softmax、根号dk、多头") almost none (dev set: keyword-stuffing answers 0-0.094)."""
    units = _GRAMMAR_UNIT.findall(prepared.norm)
    if not units:
        return 0.0
    return sum(map(_GRAMMAR_WORDS.__contains__, units)) / len(units)


# A list of terms, by its shape: many short items, whatever separates them (spaces, commas, 、,
# newlines, bullets, zero-width characters, slashes, filler words such as 的/和/是), and almost no
# words that make sentences. Chosen on the dev set (7 of its 8 keyword lists, no other answer);
# on the second dev set 10 of 16 keyword lists and 1 of 144 other answers (a terse superficial one).
_PIECE_SEP = LazyPattern(
    r"[\n\u200b-\u200d\u2060\ufeff,，、;；/|。!?！？:：•·]+|(?<![A-Za-z0-9])\.(?![A-Za-z0-9])|\.\s|(?m:^\s*[-*+]\s+)"
)
_ITEM_SEP = LazyPattern(r"\s+|(?<=[\u3400-\u9fff A-Za-z0-9)）])(?:的|和|是|与|及)(?=[\u3400-\u9fff A-Za-z0-9(（])")
_FILLERS = frozenset({"的", "和", "是", "在", "与", "及", "以及", "and", "or", "the", "a", "an", "of", "is"})
_PROSE_ZH = frozenset("了在将把被对从到也都而就有所可会要让使因需时能不没只则如若但并且即这那其之为")
_PROSE_ZH_RE = re.compile("[" + "".join(sorted(_PROSE_ZH)) + "]")
_EN_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
_PROSE_EN = EN_STOP - _FILLERS  # stop words that make sentences
_CJK_CHAR = re.compile(r"[\u3400-\u9fff]")
LIST_MIN_ITEMS = 6
LIST_SHORT_ITEM = 15  # claim-length units: five Chinese characters, or fifteen letters
LIST_SHORT_SHARE = 0.85
LIST_ZH_PROSE_MAX = 0.06  # sentence words per Chinese character (prose: 0.1-0.25)
LIST_EN_PROSE_MAX = 0.1  # stop words per English word


def _prose_density(text: str) -> tuple[float, int, float, int]:
    words = [w.lower() for w in _EN_WORD.findall(text)]
    en = sum(map(_PROSE_EN.__contains__, words))
    cjk = len(_CJK_CHAR.findall(text))
    zh = len(_PROSE_ZH_RE.findall(text))
    return (zh / cjk if cjk else 0.0), zh, (en / len(words) if words else 0.0), en


def list_items(text: str) -> list[str]:
    """The answer cut into items at every separator a list uses; a piece that reads as a sentence
    stays whole."""
    out: list[str] = []
    for piece in _PIECE_SEP.split(text):
        piece = piece.strip(" -*\t")
        zd, zh, ed, en = _prose_density(piece)
        if (zh >= 2 and zd >= 0.08) or (en >= 2 and ed >= 0.2):
            out.append(piece)
            continue
        out.extend(p for p in (x.strip(" -*") for x in _ITEM_SEP.split(piece)) if p and p.lower() not in _FILLERS)
    return out


def is_term_list(text: str) -> bool:
    """Is the answer a bare list of terms (few predicates, many short noun phrases)?"""
    zd, _, ed, _ = _prose_density(text)
    if zd >= LIST_ZH_PROSE_MAX or ed >= LIST_EN_PROSE_MAX:
        return False  # prose, whatever its pieces: most answers stop here, before they are cut
    items = list_items(text)
    if len(items) < LIST_MIN_ITEMS:
        return False
    short = sum(1 for p in items if claim_length(p) <= LIST_SHORT_ITEM)
    return short / len(items) >= LIST_SHORT_SHARE


def topic_overlap(prepared: PreparedAnswer, vocabulary: frozenset[str]) -> float:
    """Share of the answer's content tokens that belong to the question's topic."""
    toks = [t for seg in prepared.segments for t in tokens(seg.norm)]
    if not toks:
        return 0.0
    return sum(1 for t in toks if t in vocabulary) / len(toks)


@dataclass(slots=True)
class Lexical:
    """One run of the lexical matcher over an answer, and what the guards made of it."""

    matches: list[LexicalMatch]  # as the matcher found them
    points: list[Point]  # after the guards
    flags: list[Flag]  # the guard that fired, if any: off_topic or keyword_stuffing


def _missing(points: list[Point], reason: str | None = None) -> list[Point]:
    return [p.replace(verdict="missing", credit=0.0, evidence=None, reason=reason) for p in points]


def lexical(compiled: CompiledRubric, prepared: PreparedAnswer, fuzzy: bool) -> Lexical:
    """The offline matchers plus the guards that read what they found."""
    view = AnswerView(prepared, compiled.reach)  # read once, by the points and by their wrong claims
    matches = misconceived(compiled, view, match_points(compiled, prepared, fuzzy=fuzzy, view=view))
    points = [m.result for m in matches]

    total_weight = sum(p.weight for p in points) or 1.0
    coverage = sum(p.weight * p.credit for p in points) / total_weight
    if (
        coverage < OFF_TOPIC_COVERAGE
        and content_length(prepared.norm) >= OFF_TOPIC_MIN_CONTENT
        and len(compiled.vocabulary) >= OFF_TOPIC_MIN_VOCABULARY
        and topic_overlap(prepared, compiled.vocabulary) < OFF_TOPIC_OVERLAP
        # a known wrong claim about a point is about the topic ("缩放的作用主要是加快计算速度")
        and not any((p.reason or "").startswith(CLAIMS) for p in points)
    ):
        return Lexical(matches, _missing(points, reason="the answer is about something else"), ["off_topic"])

    # a list by its shape: every credit rests on a bare term. Judged against a rich topic only, as
    # off_topic is: to a one-sentence reference ("What are a stack's operations?") a list of names
    # can be the answer (Mohler Pearson 0.543 -> 0.532 when applied there too)
    listed = len(compiled.vocabulary) >= OFF_TOPIC_MIN_VOCABULARY and is_term_list(prepared.original)
    if listed:
        bare = {p.id for p in points if p.credit > 0}
        stuffing = bool(bare)
    else:
        # the bare terms are read only where they can be enough (a bare point is a credited one with
        # matched sentences) in an answer almost without grammar words: the cheaper tests first
        stuffing = (
            sum(1 for m in matches if m.result.credit > 0 and m.hit_segments) >= STUFFING_MIN_POINTS
            and grammar_share(prepared) < STUFFING_GRAMMAR_MAX
        )
        if stuffing:
            credited, bare = bare_points(compiled, prepared, matches)
            stuffing = len(bare) >= STUFFING_MIN_POINTS and len(bare) >= STUFFING_SHARE * credited
    if stuffing:
        points = [
            p.replace(verdict="partial", credit=round(p.credit * STUFFED_CREDIT, 4), reason="term listed without explanation")
            if p.id in bare
            else p
            for p in points
        ]
        return Lexical(matches, points, ["keyword_stuffing"])
    return Lexical(matches, points, [])


def stuffed(p: Point) -> Point:
    """A judged point of a bare list of terms: it keeps STUFFED_CREDIT of what the judge granted."""
    if p.verdict not in ("covered", "partial"):
        return p
    return p.replace(verdict="partial", credit=round(p.credit * STUFFED_CREDIT, 4),
                     reason=f"{p.reason + ' ' if p.reason else ''}[term listed without explanation]")
