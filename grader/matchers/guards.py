"""The guards: what the lexical matcher found, read as a whole answer.

The matcher runs once per answer (`lexical`); the guards look at its matches:
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
from ..models import Flag, PointResult
from ..text import EN_STOP, content_length, tokens
from .compiled import CompiledRubric
from .lexical import LexicalMatch, bare_points, match_points

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


def grammar_share(prepared: PreparedAnswer) -> float:
    """Share of the answer's words (Chinese characters, English words) that are grammar words.

    Written statements, terse or long, Chinese or English, keep 0.13-0.4 of them; a list of terms
    ("Q、K、V、softmax、根号dk、多头") almost none (dev set: keyword-stuffing answers 0-0.094)."""
    units = _GRAMMAR_UNIT.findall(prepared.norm)
    if not units:
        return 0.0
    return sum(1 for u in units if u in _ZH_GRAMMAR or u in EN_STOP) / len(units)


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
    points: list[PointResult]  # after the guards
    flags: list[Flag]  # the guard that fired, if any: off_topic or keyword_stuffing


def _missing(points: list[PointResult], reason: str | None = None) -> list[PointResult]:
    return [p.model_copy(update={"verdict": "missing", "credit": 0.0, "evidence": None, "reason": reason}) for p in points]


def lexical(compiled: CompiledRubric, prepared: PreparedAnswer, fuzzy: bool) -> Lexical:
    """The offline matchers plus the guards that read what they found."""
    matches = match_points(compiled, prepared, fuzzy=fuzzy)
    points = [m.result for m in matches]

    total_weight = sum(p.weight for p in points) or 1.0
    coverage = sum(p.weight * p.credit for p in points) / total_weight
    if (
        coverage < OFF_TOPIC_COVERAGE
        and content_length(prepared.norm) >= OFF_TOPIC_MIN_CONTENT
        and len(compiled.vocabulary) >= OFF_TOPIC_MIN_VOCABULARY
        and topic_overlap(prepared, compiled.vocabulary) < OFF_TOPIC_OVERLAP
    ):
        return Lexical(matches, _missing(points, reason="the answer is about something else"), ["off_topic"])

    credited, bare = bare_points(compiled, prepared, matches)
    if (
        len(bare) >= STUFFING_MIN_POINTS
        and len(bare) >= STUFFING_SHARE * credited
        and grammar_share(prepared) < STUFFING_GRAMMAR_MAX
    ):
        points = [
            p.model_copy(
                update={
                    "verdict": "partial",
                    "credit": round(p.credit * STUFFED_CREDIT, 4),
                    "reason": "term listed without explanation",
                }
            )
            if p.id in bare
            else p
            for p in points
        ]
        return Lexical(matches, points, ["keyword_stuffing"])
    return Lexical(matches, points, [])
