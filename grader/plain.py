"""What grading needs without pydantic: the kinds of values a grade holds, `scrub`, and results as
plain slotted objects.

The matchers and the pipeline make `Point`s and a `Grade`; the contract's pydantic models
(`models.PointResult`, `models.GradeResult`) are made from them at the edges, where a result is
serialised or returned to a caller (`GradeResult.of(grade)`). A grade printed as plain lines by the CLI's
fast path never imports pydantic: its model machinery is most of the start-up of `grader grade`.
Nothing here imports pydantic; `models.py` re-exports the kinds.
"""

from __future__ import annotations

import re
from typing import Literal

Verdict = Literal["covered", "partial", "missing", "contradicted", "unscored"]
Method = Literal["keyword", "fuzzy", "llm"]
Mode = Literal["keyword", "fuzzy", "llm", "hybrid"]
# What a GradeResult can be flagged with, decided in one place (`pipeline.decide_flags`), in this order.
Flag = Literal[
    "empty",  # nothing to grade
    "prompt_injection",  # sentences addressed to the grader were set aside
    "off_topic",  # guard: the answer is about something else
    "keyword_stuffing",  # guard: terms listed without explanation
    "unsupported_evidence",  # the judge's quote did not support its verdict: downgraded
    "llm_fallback",  # the judge failed: graded by the fuzzy matcher
    "over_time_budget",  # grading took longer than its budget: every point unscored
    "unscored",  # some points have no verdict and are left out of the score
]
OFFLINE_MODES: tuple[str, ...] = ("keyword", "fuzzy")
ALL_MODES: tuple[str, ...] = ("keyword", "fuzzy", "llm", "hybrid")

# The reason of a point contradicted by a known wrong claim (`KeyPoint.misconceptions`), before the claim.
CLAIMS = "the answer claims: "

_SURROGATE = re.compile("[\ud800-\udfff]")


def scrub(text: str) -> str:
    """Text that can be written as UTF-8: a lone surrogate (JSON's "\\ud800", or a byte that was not
    UTF-8 read with surrogateescape) becomes U+FFFD. Every text that comes in goes through this."""
    return text if text.isascii() else _SURROGATE.sub("\ufffd", text)


class _Plain:
    """Equality, repr and `replace` by the slots (what `model_copy(update=...)` was to the models)."""

    __slots__ = ()

    def _values(self) -> tuple:
        return tuple(getattr(self, f) for f in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._values() == other._values()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]  # mutable, as the models are

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{f}={getattr(self, f)!r}' for f in self.__slots__)})"

    def replace(self, **changes):
        new = object.__new__(type(self))
        for f in self.__slots__:
            object.__setattr__(new, f, changes[f] if f in changes else getattr(self, f))
        return new


class Point(_Plain):
    """One key point's result: the fields of `models.PointResult`."""

    __slots__ = ("id", "text", "weight", "verdict", "credit", "evidence", "method", "reason")

    def __init__(self, *, id: str, text: str, weight: float, verdict: Verdict, credit: float, method: Method,
                 evidence: str | None = None, reason: str | None = None):
        self.id, self.text, self.weight, self.verdict, self.credit = id, text, weight, verdict, credit
        self.evidence, self.method, self.reason = evidence, method, reason


class Grade(_Plain):
    """One grade: the fields of `models.GradeResult` (`normalized` computed), its points `Point`s.
    `usage` is the judge's `models.Usage`, or `NO_USAGE` when no model was asked."""

    __slots__ = ("question_id", "bank", "mode", "score", "max_score", "points", "missing_points", "flags",
                 "feedback", "usage", "rubric_version", "raw_score", "coverage", "details")

    def __init__(self, **values):
        for f in self.__slots__:
            object.__setattr__(self, f, values[f])

    @property
    def normalized(self) -> float:
        return round(self.score / self.max_score, 4) if self.max_score else 0.0

    def to_json(self) -> str | None:
        """`GradeResult.of(self).model_dump_json(indent=2)`, byte for byte, written without
        pydantic: the CLI's `grade --json`. None where json would write a value otherwise than
        pydantic (a float json writes with an exponent: 1e-05 against 0.00001; inf, nan) or where
        the grade holds the judge's details: pydantic writes those."""
        if self.details is not None:
            return None
        data = _ordered(self, _GRADE_FLOATS)
        data["points"] = [_ordered(p, _POINT_FLOATS) for p in self.points]
        data["usage"] = {k: getattr(self.usage, k) for k in USAGE_COUNTS}
        data["normalized"] = float(self.normalized)
        floats = [data[k] for k in (*_GRADE_FLOATS, "normalized")] + [p[k] for p in data["points"] for k in _POINT_FLOATS]
        if not all(_plain_float(x) for x in floats if x is not None):
            return None
        import json

        return json.dumps(data, ensure_ascii=False, indent=2)


_GRADE_FLOATS = ("score", "max_score", "raw_score", "coverage")
_POINT_FLOATS = ("weight", "credit")
USAGE_COUNTS = ("llm_calls", "prompt_tokens", "completion_tokens", "cache_hits")  # the fields of models.Usage


def _ordered(obj: _Plain, floats: tuple[str, ...]) -> dict:
    """The slots of `obj` in order, the float fields as floats (pydantic writes 2 as 2.0 there)."""
    return {f: (float(v) if f in floats and v is not None else v) for f in obj.__slots__ for v in (getattr(obj, f),)}


def _plain_float(x: float) -> bool:
    """Does json write `x` as pydantic does? Both write the shortest repr; they differ where it has
    an exponent (1e-05 / 0.00001, 1e+16 / 1e16) and for inf and nan."""
    r = repr(x)
    return "e" not in r and "n" not in r


class Counts:
    """The usage of a grade that asked no model: every count 0 (what is read of a `models.Usage`)."""

    __slots__ = ()
    llm_calls = prompt_tokens = completion_tokens = cache_hits = 0


NO_USAGE = Counts()


class RubricView(_Plain):
    """What grading reads of a `models.Rubric` once it is compiled: its points (the compiled ones:
    id, text and weight, in the rubric's order) and how coverage becomes a score."""

    __slots__ = ("points", "calibration", "full_marks_at")

    def __init__(self, points: tuple, calibration, full_marks_at: float):
        self.points, self.calibration, self.full_marks_at = points, calibration, full_marks_at


class QuestionView(_Plain):
    """What grading reads of a bank's `models.Question`, without pydantic: the CLI's disk cache of
    compiled rubrics holds this beside the compiled rubric (`cli/fast.py`)."""

    __slots__ = ("id", "question", "reference_answer", "rubric", "scales", "alternatives")

    def __init__(self, id: str, question: str, reference_answer: str | None, rubric: RubricView,
                 scales: dict, alternatives: tuple = ()):
        self.id, self.question, self.reference_answer, self.rubric = id, question, reference_answer, rubric
        self.scales, self.alternatives = scales, alternatives

    @classmethod
    def of(cls, question, compiled) -> QuestionView:
        """The view of a bank question (no alternatives) whose rubric compiled to `compiled`."""
        rubric = question.rubric
        return cls(question.id, question.question, question.reference_answer,
                   RubricView(compiled.points, rubric.calibration, rubric.full_marks_at), dict(question.scales))
