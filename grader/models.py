"""The data model: what a bank file holds and what a grade returns.

Files people write (banks, rubrics) are validated strictly (`extra="forbid"`), so a typo in a
field name is an error that names the file, not a silently ignored key. Results are pydantic
models made at the edges from the pipeline's plain results (`GradeResult.of`, see plain.py): the
same objects are returned by `Grader`, written by batch and served by the API.
"""

from __future__ import annotations

import hashlib
import json
from operator import attrgetter
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, computed_field, field_validator, model_validator

from .plain import ALL_MODES, CLAIMS, OFFLINE_MODES, USAGE_COUNTS, Flag, Grade, Method, Mode, Point, Verdict, scrub  # noqa: F401 - re-exported

# pydantic refuses a str holding a lone surrogate: scrubbed before it is validated
CleanStr = Annotated[str, BeforeValidator(lambda v: scrub(v) if isinstance(v, str) else v)]


class FileModel(BaseModel):
    """Base of the models read from files people write: unknown keys are errors."""

    # built on first use, not at import: a CLI grade that loads its rubric from the compiled cache
    # never validates one (pydantic's schema building is a large part of start-up)
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)


def _clean_groups(groups: list[list[str]]) -> list[list[str]]:
    """Alias groups with blank aliases dropped; an empty group is an error naming it."""
    cleaned = []
    for i, group in enumerate(groups):
        aliases = [a.strip() for a in group if a and a.strip()]
        if not aliases:
            raise ValueError(f"keyword group {i} is empty; remove it or add aliases")
        cleaned.append(aliases)
    return cleaned


class Misconception(FileModel):
    """A wrong claim candidates make about a key point, with the words that state it."""

    text: str = Field(min_length=1, description="The wrong claim, one sentence, in the bank's language.")
    keywords: list[list[str]] = Field(
        min_length=1,
        description=(
            "Alias groups, as a point's: the answer states the claim when every group is found, with "
            "the claim's polarity (plainly, not negated, for a plain claim), in one sentence or window."
        ),
    )

    @field_validator("keywords")
    @classmethod
    def _groups_not_empty(cls, groups: list[list[str]]) -> list[list[str]]:
        return _clean_groups(groups)


class KeyPoint(FileModel):
    """One claim a good answer makes, with the words candidates use to make it."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", description="Stable id, unique in its rubric.")
    text: str = Field(min_length=1, description="The claim, one sentence, in the bank's language.")
    weight: float = Field(default=1.0, gt=0, description="Importance relative to the other points.")
    keywords: list[list[str]] = Field(
        default_factory=list,
        description=(
            "Alias groups. Each group is one concept written the ways candidates write it "
            "(Chinese, English, abbreviations, formula spellings); the point is covered when "
            "every group is found in the answer."
        ),
    )
    opposites: list[str] = Field(
        default_factory=list,
        description=(
            "Words that state the opposite of the point (\"正确\" for a point saying a statement is wrong): "
            "written plainly in an answer that does not make the point, they make it contradicted."
        ),
    )
    misconceptions: list[Misconception] = Field(
        default_factory=list,
        description=(
            "Wrong claims candidates make about this point: stated in an answer that does not make the "
            "point, they make it contradicted, with the claim as the reason."
        ),
    )
    source: str | None = Field(
        default=None, description="Verbatim span of the reference answer that grounds this point."
    )
    reason: str | None = Field(
        default=None,
        description="Why the point is not grounded verbatim, or why it departs from the reference.",
    )

    @field_validator("opposites")
    @classmethod
    def _opposites_not_blank(cls, words: list[str]) -> list[str]:
        return [w.strip() for w in words if w and w.strip()]

    @field_validator("keywords")
    @classmethod
    def _groups_not_empty(cls, groups: list[list[str]]) -> list[list[str]]:
        return _clean_groups(groups)


class Rubric(FileModel):
    """The key points of one question."""

    open: bool = Field(
        default=False,
        description="True when the question has no single right answer (graded on what it asks).",
    )
    notes: str | None = Field(default=None, description="Notes for people editing the rubric.")
    partial_from: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Share of a point's keyword groups that earns partial credit (that share as credit).",
    )
    full_marks_at: float = Field(
        default=1.0,
        gt=0,
        le=1,
        description=(
            "Share of the total weight that earns full marks: 0.8 means an answer that makes 80% of "
            "the weighted points scores 10 (for references that say more than an answer needs)."
        ),
    )
    calibration: list[tuple[float, float]] | None = Field(
        default=None,
        description=(
            "Knots [coverage, share of the maximum score] of the monotone piecewise-linear map from "
            "coverage to score, from [0, 0] to [1, 1]; default: the grader's own, read off its dev set."
        ),
    )
    points: list[KeyPoint] = Field(min_length=1)

    @field_validator("calibration")
    @classmethod
    def _calibration_is_a_monotone_map(cls, knots: list[tuple[float, float]] | None):
        if knots is None:
            return None
        if len(knots) < 2 or tuple(knots[0]) != (0, 0) or tuple(knots[-1]) != (1, 1):
            raise ValueError("calibration must run from [0, 0] to [1, 1], e.g. [[0, 0], [0.5, 0.6], [1, 1]]")
        for (x0, y0), (x1, y1) in zip(knots, knots[1:]):
            if not (x1 > x0 and y1 >= y0 and 0 <= y1 <= 1):
                raise ValueError("calibration knots need increasing coverage and non-decreasing scores within [0, 1]")
        return knots

    @model_validator(mode="after")
    def _unique_ids(self) -> Rubric:
        seen: set[str] = set()
        for p in self.points:
            if p.id in seen:
                raise ValueError(f"duplicate key point id {p.id!r}")
            seen.add(p.id)
        return self

    @property
    def version(self) -> str:
        """Content hash: changes whenever anything that affects grading changes."""
        data = self.model_dump(mode="json")
        for p in data["points"]:  # a rubric without misconceptions keeps the version it had before them
            if not p["misconceptions"]:
                del p["misconceptions"]
        blob = json.dumps(data, ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


class Question(FileModel):
    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    reference_answer: str | None = Field(
        default=None, description="Kept verbatim from the source bank; null when it has none."
    )
    rubric: Rubric
    # Other reference answers to the same question (ad-hoc grading with several references): an
    # answer is graded against each and keeps its best grade. Not part of a bank file.
    _alternatives: tuple["Question", ...] = PrivateAttr(default=())

    @property
    def alternatives(self) -> tuple["Question", ...]:
        return self._alternatives

    def with_alternatives(self, alternatives: tuple["Question", ...]) -> "Question":
        q = self.model_copy()
        q._alternatives = alternatives
        return q

    # The bank's user scales (BankInfo.scales), set when the bank is loaded. Not part of a file.
    _scales: dict[str, list[tuple[float, float]]] = PrivateAttr(default_factory=dict)

    @property
    def scales(self) -> dict[str, list[tuple[float, float]]]:
        return self._scales

    def with_scales(self, scales: dict[str, list[tuple[float, float]]] | None) -> "Question":
        if not scales:
            return self
        q = self.model_copy()
        q._scales = dict(scales)
        return q


class BankInfo(FileModel):
    """bank.yaml: what the bank is and where it comes from."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    title: str
    language: str = "zh"
    description: str | None = None
    source: str | None = None
    licence: str | None = None
    scales: dict[Mode, list[tuple[float, float]]] | None = Field(
        default=None,
        description="The user's own score scale per mode, fitted by `grader calibrate`: knots [x, y] of a "
        "monotone map from the grader's 0-1 score to the user's, x from 0 to 1.",
    )

    @field_validator("scales")
    @classmethod
    def _scales_are_monotone_maps(cls, scales):
        for mode, knots in (scales or {}).items():
            xs, ys = [k[0] for k in knots], [k[1] for k in knots]
            ok = len(knots) >= 2 and xs[0] == 0 and xs[-1] == 1 and all(0 <= v <= 1 for v in xs + ys)
            if not ok or any(b <= a for a, b in zip(xs, xs[1:])) or any(b < a for a, b in zip(ys, ys[1:])):
                raise ValueError(f"scales.{mode} must run from x=0 to x=1 with increasing x and non-decreasing "
                                 "y within [0, 1], e.g. [[0, 0.2], [0.5, 0.6], [1, 1]]; refit it with 'grader calibrate'")
        return scales


class Bank(BaseModel):
    model_config = ConfigDict(defer_build=True)

    info: BankInfo
    questions: dict[str, Question]
    path: str | None = None

    @property
    def name(self) -> str:
        return self.info.name


class ResultModel(BaseModel):
    """Base of what a grade returns. The grader makes these from values it has computed itself
    (`made`, no validation), so their validators and serializers are built on first use only:
    a CLI grade printed as text never builds one (schema building is most of pydantic's cost)."""

    model_config = ConfigDict(defer_build=True)

    @classmethod
    def made(cls, **values):
        """An instance from values the grader computed, every field given: what `model_construct`
        does, without its per-field loop (a third of the time of validating them again)."""
        fields = cls.__pydantic_fields__
        if len(values) != len(fields):
            raise TypeError(f"{cls.__name__}.made needs every field: {sorted(set(fields) ^ set(values))}")
        out = _new(cls)
        _set(out, "__dict__", {name: values[name] for name in fields})  # in field order, as validation leaves it
        _set(out, "__pydantic_fields_set__", set(values))
        _set(out, "__pydantic_extra__", None)
        _set(out, "__pydantic_private__", None)
        return out


_new = object.__new__
_set = object.__setattr__


class PointResult(ResultModel):
    """A key point's result, as the contract writes it: made from a `plain.Point` at the edges."""

    id: str
    text: str
    weight: float
    verdict: Verdict
    credit: float = Field(ge=0.0, le=1.0)
    evidence: str | None = None
    method: Method
    reason: str | None = None


class Usage(ResultModel):
    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cache_hits: int = 0


class GradeResult(ResultModel):
    question_id: str | None
    bank: str | None
    mode: Mode
    score: float
    max_score: float = 10.0
    points: list[PointResult]
    missing_points: list[str]
    flags: list[Flag] = Field(default_factory=list)
    feedback: str = ""
    usage: Usage = Field(default_factory=Usage)
    rubric_version: str | None = None
    raw_score: float | None = Field(
        default=None, description="The score before the bank's user scale (`grader calibrate`); null when none applies."
    )
    coverage: float = Field(
        default=0.0, description="Weighted share of key points credited, before calibration."
    )
    details: dict | None = Field(default=None, description="Audit data (judge transcript) on request.")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def normalized(self) -> float:
        return round(self.score / self.max_score, 4) if self.max_score else 0.0

    @classmethod
    def of(cls, grade: Grade) -> GradeResult:
        """The contract's result of a grade the pipeline made (`plain.Grade`): nothing validated
        again. What `made` does, by the plain objects' slots (the models' fields in their order,
        tests/test_models.py): a tenth of its time, once per grade returned."""
        values = dict(zip(Grade.__slots__, _grade_values(grade)))
        values["points"] = [_from_slots(PointResult, Point.__slots__, _point_values(p)) for p in grade.points]
        values["usage"] = _from_slots(Usage, USAGE_COUNTS, _usage_values(grade.usage))
        return _from_slots(cls, Grade.__slots__, values.values())


_grade_values = attrgetter(*Grade.__slots__)
_point_values = attrgetter(*Point.__slots__)
_usage_values = attrgetter(*USAGE_COUNTS)


def _from_slots(cls, names: tuple[str, ...], values) -> ResultModel:
    out = _new(cls)
    _set(out, "__dict__", dict(zip(names, values)))
    _set(out, "__pydantic_fields_set__", set(names))
    _set(out, "__pydantic_extra__", None)
    _set(out, "__pydantic_private__", None)
    return out
