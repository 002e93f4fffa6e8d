"""The whole grading flow, short enough to read at once:

    answer --prepare--> sentences (text addressed to the grader set aside)
           --matchers--> one PointResult per key point (keyword / fuzzy / llm judge)
           --guards--> keyword stuffing and off-topic answers lose the credit terms alone earned
           --aggregate--> score, coverage, missing points
           --> GradeResult

The CLI, batch and the API are thin shells over `Grader`.
"""

from __future__ import annotations

from .aggregate import DEFAULT_CALIBRATION, aggregate
from .banks import load_bank, load_question
from .errors import UsageError
from .guards import PreparedAnswer, grammar_share, is_empty, is_term_list, language_of, prepare, topic_overlap
from .matchers.compiled import CompiledRubric, compile_rubric
from .matchers.lexical import bare_points, match_points
from .models import GradeResult, PointResult, Question, Usage
from .settings import Settings
from .text import content_length

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


def _missing(points: list[PointResult], reason: str | None = None, method: str = "keyword") -> list[PointResult]:
    return [p.model_copy(update={"verdict": "missing", "credit": 0.0, "evidence": None, "reason": reason}) for p in points]


def _blank_points(question: Question, method: str) -> list[PointResult]:
    return [
        PointResult(id=p.id, text=p.text, weight=p.weight, verdict="missing", credit=0.0, evidence=None, method=method)
        for p in question.rubric.points
    ]


def lexical_points(
    compiled: CompiledRubric, prepared: PreparedAnswer, fuzzy: bool, flags: list[str]
) -> list[PointResult]:
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
        flags.append("off_topic")
        return _missing(points, reason="the answer is about something else")

    credited, bare = bare_points(compiled, prepared, matches)
    # a list by its shape: every credit rests on a bare term. Judged against a rich topic only, as
    # off_topic is: to a one-sentence reference ("What are a stack's operations?") a list of names
    # can be the answer (Mohler Pearson 0.543 -> 0.532 when applied there too)
    listed = len(compiled.vocabulary) >= OFF_TOPIC_MIN_VOCABULARY and is_term_list(prepared.original)
    if listed:
        bare = {p.id for p in points if p.credit > 0}
    if (listed and bare) or (
        len(bare) >= STUFFING_MIN_POINTS
        and len(bare) >= STUFFING_SHARE * credited
        and grammar_share(prepared) < STUFFING_GRAMMAR_MAX
    ):
        flags.append("keyword_stuffing")
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
    return points


_FEEDBACK = {
    "zh": {
        "empty": "没有可评分的内容：请写出你的回答。",
        "off_topic": "回答与题目无关：请针对题目作答。",
        "covers": "覆盖 {n}/{total} 个要点",
        "partly": "，部分覆盖 {n} 个",
        "wrong": "与要点相反的说法：",
        "add": "可以补充：",
        "sep": "；",
        "end": "。",
        "keyword_stuffing": "只列出术语而没有解释，不能得高分。",
        "prompt_injection": "写给评分者的指令已被忽略。",
    },
    "en": {
        "empty": "Nothing to grade: write your answer.",
        "off_topic": "The answer does not address the question.",
        "covers": "Covers {n}/{total} key points",
        "partly": ", {n} partly",
        "wrong": " States the opposite of: ",
        "add": " Consider adding: ",
        "sep": "; ",
        "end": ".",
        "keyword_stuffing": " Listing terms without explaining them earns little.",
        "prompt_injection": " Instructions addressed to the grader were ignored.",
    },
}


def feedback_for(points: list[PointResult], flags: list[str], lang: str) -> str:
    """A short summary in the answer's language: what is covered, reversed, and worth adding."""
    t = _FEEDBACK["zh" if lang == "zh" else "en"]
    for flag in ("empty", "off_topic"):
        if flag in flags:
            return t[flag]
    covered = sum(1 for p in points if p.verdict == "covered")
    partial = sum(1 for p in points if p.verdict == "partial")
    wrong = [p.text for p in points if p.verdict == "contradicted"]
    missing = [p.text for p in points if p.verdict == "missing"]
    claims = lambda texts: t["sep"].join(x.rstrip("。.；;，, ") for x in texts[:3]) + t["end"]  # noqa: E731
    parts = [t["covers"].format(n=covered, total=len(points)) + (t["partly"].format(n=partial) if partial else "") + t["end"]]
    if wrong:
        parts.append(t["wrong"] + claims(wrong))
    if missing:
        parts.append(t["add"] + claims(missing))
    parts.extend(t[flag] for flag in ("keyword_stuffing", "prompt_injection") if flag in flags)
    return "".join(parts)


def _begin(question: Question, answer: str, mode: str, settings: Settings):
    """Checks and preparation shared by the sync and async paths."""
    Settings.check_mode(mode)
    if not isinstance(answer, str):
        raise UsageError("the answer must be text")
    if len(answer) > settings.max_answer_chars:
        raise UsageError(
            f"the answer has {len(answer)} characters, over the limit of {settings.max_answer_chars}; "
            "shorten it or raise max_answer_chars"
        )
    prepared = prepare(answer)
    flags: list[str] = ["prompt_injection"] if prepared.injected else []
    context = question.question + "\n" + (question.reference_answer or "")
    compiled = compile_rubric(question.rubric, context)
    return prepared, flags, compiled


def _offline_points(question, prepared, compiled, mode, flags) -> list[PointResult] | None:
    """Points when no model is needed (empty answer, offline modes); None when the judge must run."""
    if is_empty(prepared):
        flags.insert(0, "empty")
        return _blank_points(question, "keyword" if mode == "keyword" else "fuzzy")
    if mode in ("keyword", "fuzzy"):
        return lexical_points(compiled, prepared, fuzzy=(mode == "fuzzy"), flags=flags)
    return None


def _result(question, prepared, compiled, mode, bank_name, verbose, points, flags, usage, feedback, details) -> GradeResult:
    rubric = question.rubric
    knots = tuple(rubric.calibration) if rubric.calibration else DEFAULT_CALIBRATION
    agg = aggregate(points, full_marks_at=rubric.full_marks_at, knots=knots)
    if agg.unscored_points and "unscored" not in flags:
        flags.append("unscored")
    if feedback is None:
        lang = language_of(prepared.norm, normalized=True) if prepared.segments else language_of(question.question)
        feedback = feedback_for(points, flags, lang)
    return GradeResult(
        question_id=question.id,
        bank=bank_name,
        mode=mode,  # type: ignore[arg-type]
        score=agg.score,
        max_score=10.0,
        points=points,
        missing_points=agg.missing_points,
        flags=flags,
        feedback=feedback,
        usage=usage,
        rubric_version=compiled.version,
        coverage=agg.coverage,
        details=details if verbose else None,
    )


def _each(question: Question) -> list[Question]:
    """The question against its main reference, then against each alternative reference."""
    return [question.with_alternatives(()), *question.alternatives]


def _best(results: list[GradeResult]) -> GradeResult:
    """The best grade (the first of equals), its usage the sum of all: each grade was paid for."""
    best = max(results, key=lambda r: r.score)  # max keeps the first of equal scores
    fields = ("llm_calls", "prompt_tokens", "completion_tokens", "cache_hits")
    total = Usage(**{k: sum(getattr(r.usage, k) for r in results) for k in fields})
    return best.model_copy(update={"usage": total}) if total != best.usage else best


def grade_question(
    question: Question,
    answer: str,
    mode: str,
    settings: Settings,
    bank_name: str | None = None,
    verbose: bool = False,
) -> GradeResult:
    """Grade one answer against one question's rubric: the whole flow. A question with
    alternative references is graded against each; the best grade is kept."""
    if question.alternatives:
        return _best([grade_question(q, answer, mode, settings, bank_name, verbose) for q in _each(question)])
    prepared, flags, compiled = _begin(question, answer, mode, settings)
    usage, feedback, details = Usage(), None, None
    points = _offline_points(question, prepared, compiled, mode, flags)
    if points is None:
        from .matchers.judge import judge_points  # imported only when a model is used

        outcome = judge_points(question, compiled, prepared, mode, settings, flags)
        points, usage, feedback, details = outcome.points, outcome.usage, outcome.feedback, outcome.details
    return _result(question, prepared, compiled, mode, bank_name, verbose, points, flags, usage, feedback, details)


async def agrade_question(
    question: Question,
    answer: str,
    mode: str,
    settings: Settings,
    bank_name: str | None = None,
    verbose: bool = False,
    client=None,
) -> GradeResult:
    """`grade_question` for an event loop: the judge call is awaited (AsyncOpenAI). Pass one
    `grader.judge_client.JudgeClient` to grade many answers concurrently over shared connections."""
    if question.alternatives:
        return _best([await agrade_question(q, answer, mode, settings, bank_name, verbose, client) for q in _each(question)])
    prepared, flags, compiled = _begin(question, answer, mode, settings)
    usage, feedback, details = Usage(), None, None
    points = _offline_points(question, prepared, compiled, mode, flags)
    if points is None:
        from .matchers.judge import ajudge_points

        outcome = await ajudge_points(question, compiled, prepared, mode, settings, flags, client=client)
        points, usage, feedback, details = outcome.points, outcome.usage, outcome.feedback, outcome.details
    return _result(question, prepared, compiled, mode, bank_name, verbose, points, flags, usage, feedback, details)


class Grader:
    """The Python API: `Grader().grade("3", answer)` returns a GradeResult."""

    def __init__(self, settings: Settings | None = None, bank: str | None = None):
        self.settings = settings or Settings.from_env()
        self.bank_ref = bank or self.settings.bank

    def bank(self, bank: str | None = None):
        return load_bank(bank or self.bank_ref)

    def question(self, question_id: str, bank: str | None = None) -> tuple[Question, str]:
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
            from .adhoc import question_from_reference

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
