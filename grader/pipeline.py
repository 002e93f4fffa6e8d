"""The whole grading flow, short enough to read at once:

    answer --prepare (answer.py)--> sentences (text addressed to the grader set aside)
           --matchers--> one Point per key point (plain.py):
                keyword / fuzzy: the lexical matcher, once, and the guards (matchers/guards.py)
                llm / hybrid:    the judge (matchers/judge.py; hybrid settles some points lexically)
           --aggregate--> score, coverage, missing points
           --decide_flags, feedback--> Grade (plain) --at the edge--> GradeResult (pydantic)

`grade_flow` is that flow as a generator: it yields the judge's requests, if any, and returns the
GradeResult; `grade_question` and `agrade_question` drive it (grader.llm.drive), and so does the
OpenAI Batch API path. The CLI, runs/ and the API are thin shells over these and `Grader`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING

from .aggregate import DEFAULT_CALIBRATION, Aggregate, aggregate, calibrate
from .answer import INJECTED_KEEPS, PreparedAnswer, is_empty, prepare, rubric_language
from .budget import OverBudget, time_budget
from .environ import check_mode
from .errors import UsageError
from .feedback import write_feedback
from .llm.drive import arun, run
from .matchers.compiled import compile_rubric
from .matchers.guards import lexical
from .plain import NO_USAGE, OFFLINE_MODES, USAGE_COUNTS, Flag, Grade, Point, scrub

if TYPE_CHECKING:
    from .matchers.judge import JudgeOutcome
    from .models import GradeResult, Question
    from .settings import Settings


def _blank_points(question: Question, method: str) -> list[Point]:
    return [
        Point(id=p.id, text=p.text, weight=p.weight, verdict="missing", credit=0.0, evidence=None, method=method)
        for p in question.rubric.points
    ]


def compiled_rubric(question: Question):
    """The question's rubric compiled, with the question and its reference as the topic."""
    return compile_rubric(question.rubric, question.question + "\n" + (question.reference_answer or ""))


def _begin(question: Question, answer: str, mode: str, settings: Settings):
    """Checks shared by the sync and async paths; the compiled rubric."""
    check_mode(mode)
    if not isinstance(answer, str):
        raise UsageError("the answer must be text")
    if len(answer) > settings.max_answer_chars:
        raise UsageError(
            f"the answer has {len(answer)} characters, over the limit of {settings.max_answer_chars}; "
            "shorten it or raise max_answer_chars"
        )
    return compiled_rubric(question)


FIRST_GRADE_BUDGET = 10
# compiled rubrics already graded against in this process, by id; each held here, so that its id
# cannot be reused by a new rubric (which would then miss its first grade's larger budget)
_graded: dict[int, object] = {}


def _over_budget(question: Question, compiled, mode: str, bank_name: str | None, settings: Settings) -> Grade:
    """An answer that took longer than `settings.grade_budget`: every point unscored, flagged."""
    method = "keyword" if mode == "keyword" else "fuzzy"
    points = [
        Point(id=p.id, text=p.text, weight=p.weight, verdict="unscored", credit=0.0, evidence=None, method=method,
                    reason=f"not graded: over the time budget of {settings.grade_budget:g} s per answer")
        for p in question.rubric.points
    ]
    return _result(question, prepare(""), compiled, mode, bank_name, False, points, False, ["over_time_budget"], None)


def decide_flags(
    empty: bool, prepared: PreparedAnswer, lexical_flags: list[Flag], outcome: JudgeOutcome | None, agg: Aggregate
) -> list[Flag]:
    """The flags of a grade, from what each step found, in the order of `models.Flag`."""
    flags: list[Flag] = []
    if empty:
        flags.append("empty")
    if prepared.injected:
        flags.append("prompt_injection")
    flags.extend(lexical_flags)  # off_topic or keyword_stuffing, when the lexical result stands
    if outcome is not None and outcome.unsupported_evidence:
        flags.append("unsupported_evidence")
    if outcome is not None and outcome.fallback:
        flags.append("llm_fallback")
    if agg.unscored_points:
        flags.append("unscored")
    return flags


def _result(question, prepared, compiled, mode, bank_name, verbose, points, empty, lexical_flags, outcome) -> Grade:
    rubric = question.rubric
    knots = tuple(rubric.calibration) if rubric.calibration else DEFAULT_CALIBRATION
    agg = aggregate(points, full_marks_at=rubric.full_marks_at, knots=knots)
    flags = decide_flags(empty, prepared, lexical_flags, outcome, agg)
    if outcome is not None and outcome.model_feedback is not None:
        feedback = write_feedback(points, flags, outcome.lang, outcome.model_feedback)
    else:
        feedback = write_feedback(points, flags, rubric_language(question))
    score, raw_score = agg.score, None
    scale = question.scales.get(mode)
    if scale:  # the user's own scale (`grader calibrate`), after the rubric's calibration
        score, raw_score = round(10.0 * calibrate(agg.score / 10.0, tuple(scale)), 2), agg.score
    if prepared.injected:  # an answer that addresses the grader keeps part of what the rest earns
        score = round(score * INJECTED_KEEPS, 2)
        raw_score = None if raw_score is None else round(raw_score * INJECTED_KEEPS, 2)
    return Grade(
        question_id=question.id,
        bank=bank_name,
        mode=mode,  # type: ignore[arg-type]
        score=score,
        raw_score=raw_score,
        max_score=10.0,
        points=points,
        missing_points=agg.missing_points,
        flags=flags,
        feedback=feedback,
        usage=outcome.usage if outcome is not None else NO_USAGE,
        rubric_version=compiled.version,
        coverage=agg.coverage,
        details=outcome.details if outcome is not None and verbose else None,
    )


def _each(question: Question) -> list[Question]:
    """The question against its main reference, then against each alternative reference."""
    return [question.with_alternatives(()), *question.alternatives]


def _best(results: list[Grade]) -> Grade:
    """The best grade (the first of equals), its usage the sum of all: each grade was paid for."""
    from .models import Usage

    best = max(results, key=lambda r: r.score)  # max keeps the first of equal scores
    total = {k: sum(getattr(r.usage, k) for r in results) for k in USAGE_COUNTS}
    return best.replace(usage=Usage(**total)) if any(total[k] != getattr(best.usage, k) for k in USAGE_COUNTS) else best


def grade_flow(question: Question, answer: str, mode: str, settings: Settings, bank_name: str | None = None,
               verbose: bool = False, endpoint: Callable | None = None) -> Generator[object, object, GradeResult]:
    """Grade one answer against one question's rubric: the whole flow, yielding the judge's
    requests (llm and hybrid modes). A question with alternative references is graded against
    each; the best grade is kept. `endpoint()` gives the judge's server (a JudgeClient)."""
    from .models import GradeResult

    return GradeResult.of((yield from plain_flow(question, answer, mode, settings, bank_name, verbose, endpoint)))


def plain_flow(question: Question, answer: str, mode: str, settings: Settings, bank_name: str | None = None,
               verbose: bool = False, endpoint: Callable | None = None) -> Generator[object, object, Grade]:
    """`grade_flow` with its result as a plain `Grade` (no pydantic model made): what the CLI
    prints as lines. `question` and `settings` may be the views an offline grade reads
    (`plain.QuestionView`, `environ.OfflineSettings`)."""
    answer = scrub(answer) if isinstance(answer, str) else answer  # a lone surrogate cannot be written out
    if question.alternatives:
        results = []
        for q in _each(question):
            results.append((yield from plain_flow(q, answer, mode, settings, bank_name, verbose, endpoint)))
        return _best(results)
    outcome: JudgeOutcome | None = None
    lexical_flags: list[Flag] = []
    compiled = _begin(question, answer, mode, settings)  # before the budget: only the answer's own work counts
    if mode in OFFLINE_MODES:
        # the first answer graded against a rubric in this process also pays for what is built
        # on first use (the alias automaton, imports): it gets FIRST_GRADE_BUDGET times the budget
        first = id(compiled) not in _graded
        try:
            with time_budget(settings.grade_budget * (FIRST_GRADE_BUDGET if first else 1)):
                prepared = prepare(answer)
                empty = is_empty(prepared)
                if not empty:
                    lex = lexical(compiled, prepared, fuzzy=(mode == "fuzzy"))
        except OverBudget:
            return _over_budget(question, compiled, mode, bank_name, settings)
        if first:
            if len(_graded) > 256:  # held alive: bounded (a cleared entry only gets the larger budget again)
                _graded.clear()
            _graded[id(compiled)] = compiled
    else:
        prepared = prepare(answer)
        empty = is_empty(prepared)
    if empty:
        points = _blank_points(question, "keyword" if mode == "keyword" else "fuzzy")
    elif mode in OFFLINE_MODES:
        points, lexical_flags = lex.points, lex.flags
    else:
        from .matchers.judge import judge  # the judge's schema and prompts load only when a model is used

        outcome = yield from judge(question, compiled, prepared, mode, settings, endpoint)
        points, lexical_flags = outcome.points, outcome.lexical_flags
    return _result(question, prepared, compiled, mode, bank_name, verbose, points, empty, lexical_flags, outcome)


def shared_client_of(settings: Settings) -> Callable:
    """A getter of the process's JudgeClient for `settings`: openai is imported on the first call,
    that is only when a model is used."""

    def client():
        from .llm.client import shared_client

        return shared_client(settings)

    return client


def grade_question(question: Question, answer: str, mode: str, settings: Settings, bank_name: str | None = None,
                   verbose: bool = False) -> GradeResult:
    """`grade_flow`, driven synchronously (the judge's client is shared per configuration)."""
    from .models import GradeResult

    return GradeResult.of(grade_plain(question, answer, mode, settings, bank_name, verbose))


def grade_plain(question: Question, answer: str, mode: str, settings: Settings, bank_name: str | None = None,
                verbose: bool = False) -> Grade:
    """`grade_question` with its result as a plain `Grade` (`plain_flow`)."""
    client = shared_client_of(settings)
    return run(plain_flow(question, answer, mode, settings, bank_name, verbose, client), client)


async def agrade_question(question: Question, answer: str, mode: str, settings: Settings, bank_name: str | None = None,
                          verbose: bool = False, client=None) -> GradeResult:
    """`grade_flow` driven on an event loop (AsyncOpenAI). Pass one `grader.llm.client.JudgeClient`
    to grade many answers concurrently over shared connections; without one, a client is made when
    the judge is called and closed after this answer."""
    own: list = []

    def get():
        if client is not None:
            return client
        if not own:
            from .llm.client import JudgeClient

            own.append(JudgeClient(settings))
        return own[0]

    try:
        return await arun(grade_flow(question, answer, mode, settings, bank_name, verbose, get), get)
    finally:
        if own:
            await own[0].aclose()


class Grader:
    """The Python API: `Grader().grade("3", answer)` returns a GradeResult."""

    def __init__(self, settings: Settings | None = None, bank: str | None = None):
        from .settings import Settings

        self.settings = settings or Settings.from_env()
        self.bank_ref = bank or self.settings.bank

    def bank(self, bank: str | None = None):
        from .banks import load_bank

        return load_bank(bank or self.bank_ref)

    def question(self, question_id: str, bank: str | None = None) -> tuple[Question, str]:
        from .banks import load_question

        q, info = load_question(bank or self.bank_ref, question_id)
        return q, info.name

    def grade(
        self, question_id: str, answer: str, mode: str | None = None, bank: str | None = None, verbose: bool = False
    ) -> GradeResult:
        q, bank_name = self.question(question_id, bank)
        return grade_question(q, answer, mode or self.settings.mode, self.settings, bank_name, verbose)

    def target(
        self,
        question_id: str | None = None,
        bank: str | None = None,
        reference: str | None = None,
        question: str | None = None,
        alternatives: tuple[str, ...] = (),
        mode: str | None = None,
    ) -> tuple[Question, str | None]:
        """What an answer is graded against: a bank question, or a rubric built from a reference
        (and from each alternative reference: the answer keeps its best grade)."""
        if reference:
            from .authoring.adhoc import question_from_reference

            mode = mode or self.settings.mode
            return question_from_reference(reference, question, question_id, tuple(alternatives), mode), None
        if not question_id:
            raise UsageError("the row has neither question_id nor reference_answer")
        return self.question(question_id, bank)

    def grade_reference(
        self,
        reference: str,
        answer: str,
        question: str | None = None,
        mode: str | None = None,
        question_id: str | None = None,
        verbose: bool = False,
        alternatives: tuple[str, ...] = (),
    ) -> GradeResult:
        """Grade against an ad-hoc reference answer: its rubric is built on the fly. With
        `alternatives` (other references to the same question) the best grade is kept."""
        q, _ = self.target(question_id, reference=reference, question=question, alternatives=alternatives, mode=mode)
        return grade_question(q, answer, mode or self.settings.mode, self.settings, None, verbose)
