"""Hybrid settlement: the points the lexical matcher settles with confidence; the rest go to the judge.

A point stands on the lexical result (one run of the matcher and guards, `guards.Lexical`) when
  - it is `covered` by keyword match: every alias group found verbatim, with the claim's polarity,
    in one window of the answer (not a bare term list: the stuffing guard has made those partial);
  - it is `contradicted` by keyword match: every group found, some with the opposite polarity;
  - it is `missing` with no alias group found anywhere in the answer and under 25 % of the
    point's content tokens in the whole answer.
Everything else (partial, fuzzy-alias or paraphrase matches, missing with some groups found) goes
to the judge. Hybrid keeps the lexical flags (off_topic, keyword_stuffing) only when no point went
to the judge, and its feedback is the grader's own summary of all points (the model sees only some).
"""

from __future__ import annotations

from ..answer import PreparedAnswer
from ..models import PointResult
from ..text import tokens
from .compiled import CompiledRubric
from .guards import Lexical

HYBRID_MISSING_RECALL = 0.25


def settle(compiled: CompiledRubric, prepared: PreparedAnswer, lex: Lexical) -> dict[str, PointResult]:
    """The points the fuzzy matcher settles with confidence (module docstring), by id."""
    answer_tokens = frozenset(t for s in prepared.segments for t in tokens(s.norm))
    settled: dict[str, PointResult] = {}
    for cp, res, m in zip(compiled.points, lex.points, lex.matches):
        if res.verdict in ("covered", "contradicted") and res.method == "keyword":
            settled[res.id] = res
        elif res.verdict == "missing" and cp.groups and m.groups_found == 0:
            recall = len(cp.tokens & answer_tokens) / len(cp.tokens) if cp.tokens else 0.0
            if recall < HYBRID_MISSING_RECALL:
                settled[res.id] = res
    return settled
