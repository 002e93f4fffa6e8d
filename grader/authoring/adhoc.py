"""Rubrics built on the fly from a reference answer (`grade --reference`, batch and eval rows
that carry `reference_answer`).

The mechanism is `grader.authoring.build`, shared with `grader rubric build`; ad-hoc references use
its unstructured profile: reference --langchain-text-splitters--> clause-sized claims (Chinese and
English separators) --> per claim: keyword groups (English words, Chinese content words from jieba,
ranked by IDF) --> KeyPoint(weight = 1) --> Rubric.

Built rubrics are cached by (reference, question). jieba and langchain are imported only on first
use, so the bank path never pays for them.
"""

from __future__ import annotations

from functools import lru_cache

from . import build as rubric_build
from ..errors import UsageError
from ..models import Question, Rubric
from .build import claim_keywords, split_claims
from ..text import normalize

__all__ = ["build_rubric", "claim_keywords", "question_from_reference", "split_claims"]


def build_rubric(reference: str, question: str | None = None, for_judge: bool = False) -> Rubric:
    """Claim by claim, unless the reference is long or sectioned enough to be built by its structure;
    for the judge (llm, hybrid) a claim is a whole sentence, for the keyword matcher a clause."""
    unit = "sentence" if for_judge else "clause"
    return rubric_build.build_rubric(reference, question, max_points=None, claim_unit=unit)


@lru_cache(maxsize=4096)
def _question(reference: str, question: str | None, question_id: str | None, for_judge: bool = False) -> Question:
    return Question(
        id=question_id or "adhoc",
        question=question or "(ad-hoc reference)",
        reference_answer=reference,
        rubric=build_rubric(reference, question, for_judge),
    )


def question_from_reference(
    reference: str, question: str | None = None, question_id: str | None = None, alternatives: tuple[str, ...] = (),
    mode: str | None = None,
) -> Question:
    """The question graded against `reference`; with `alternatives` (other reference answers to
    the same question), an answer is graded against each and keeps its best grade. `mode` llm or
    hybrid builds the rubric for the judge (whole sentences as claims)."""
    for_judge = mode in ("llm", "hybrid")
    if not normalize(reference):
        # blank, or only control / zero-width characters ("\x1f"): nothing to build a key point from
        raise UsageError("the reference answer is empty: give the text of a reference answer")
    primary = _question(reference, question, question_id, for_judge)
    others = tuple(dict.fromkeys(a for a in alternatives if a and normalize(a) and a != reference))
    if not others:
        return primary
    return primary.with_alternatives(tuple(_question(a, question, question_id, for_judge) for a in others))
