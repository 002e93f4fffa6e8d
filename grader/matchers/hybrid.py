"""Hybrid settlement: the points the lexical matcher settles with confidence; the rest go to the judge.

Each point's lexical finding (one run of the matcher and guards, `guards.Lexical`) falls in a class
(`classify`); hybrid settles the classes of SETTLED_RULES, those that agree with the judge's credit
on at least 97% of the dev set's points (`python eval/point_agreement.py --sets dev`), and sends
the rest to the judge. Hybrid keeps the lexical flags (off_topic, keyword_stuffing) only when no
point went to the judge, and its feedback is the grader's own summary of all points.
"""

from __future__ import annotations

from ..answer import PreparedAnswer
from ..plain import CLAIMS, Point
from ..text import tokens
from .compiled import CompiledRubric
from .guards import Lexical, lexical

HYBRID_MISSING_RECALL = 0.25
# Lexical classes that agree with the judge's credit on at least 97% of the dev set's points
# (`python eval/point_agreement.py --sets dev`); hybrid settles these and sends the rest to the judge.
# Measured on the dev set's 1,268 points: off_topic 98.9% (88 points); covered/keyword 84.1%,
# missing/absent 90.7%, contradicted/keyword 76.5%, partial/keyword 25.3%: the judge reads those
# differently too often. So hybrid settles a whole answer the topic guard finds off topic, with no
# call, and sends every other answer to the judge with all its points (the same request as llm).
SETTLED_RULES = frozenset({"off_topic"})


def classify(compiled: CompiledRubric, prepared: PreparedAnswer, lex: Lexical) -> dict[str, tuple[str, Point]]:
    """Each point's lexical finding and its class: verdict/how ("keyword" exact alias, "fuzzy"
    typo or paraphrase, "misconception" a known wrong claim stated; for missing, "absent": no alias
    group anywhere and under 25% of the point's content tokens, "words": no group but some of its
    words, "groups": some groups found), prefixed with "list:" in an answer the stuffing guard found
    to be a bare list of terms, or "off_topic"."""
    answer_tokens = frozenset(t for s in prepared.segments for t in tokens(s.norm))
    prefix = "list:" if "keyword_stuffing" in lex.flags else ""
    out: dict[str, tuple[str, Point]] = {}
    for cp, res, m in zip(compiled.points, lex.points, lex.matches):
        if "off_topic" in lex.flags:
            cls = "off_topic"
        elif res.verdict == "missing":
            recall = len(cp.tokens & answer_tokens) / len(cp.tokens) if cp.tokens else 0.0
            how = "groups" if m.groups_found else ("absent" if cp.groups and recall < HYBRID_MISSING_RECALL else "words")
            cls = f"{prefix}missing/{how}"
        elif (res.reason or "").startswith(CLAIMS):  # a known wrong claim stated (matchers.misconceptions)
            cls = f"{prefix}{res.verdict}/misconception"
        else:
            cls = f"{prefix}{res.verdict}/{'keyword' if res.method == 'keyword' else 'fuzzy'}"
        out[res.id] = (cls, res)
    return out


def lexical_classes(compiled: CompiledRubric, prepared: PreparedAnswer) -> tuple[dict[str, tuple[str, Point]], list[str]]:
    """`classify` after one lexical run, and the lexical flags (eval/point_agreement.py)."""
    lex = lexical(compiled, prepared, fuzzy=True)
    return classify(compiled, prepared, lex), list(lex.flags)


def settle(compiled: CompiledRubric, prepared: PreparedAnswer, lex: Lexical) -> dict[str, Point]:
    """The points the fuzzy matcher settles with confidence (SETTLED_RULES), by id."""
    return {pid: res for pid, (cls, res) in classify(compiled, prepared, lex).items() if cls in SETTLED_RULES}
