"""The LLM judge: (question, prepared answer) -> one Point per key point, from ONE call.

`judge` is the whole flow for one answer, written once and doing no I/O: a generator that yields
`ChatRequest`s and is sent back `ChatReply`s (a `FormatRejected` as a value; a transport failure
is thrown in as a JudgeError). `grader.llm.drive` runs it synchronously or on an event loop; the
OpenAI Batch API path (`grader.runs.openai_batch`) runs the same flow a round at a time.

1. plan: the lexical matcher runs once (`guards.lexical`); in hybrid mode the points it settles
   with confidence stand (`hybrid.settle`) and only the others go to the judge. None left: no call.
   The prompt (`grader.llm.prompts.build_messages`, rendered strictly) carries the question, every
   key point id still open, the injection detector's finding, and the answer inside `<answer>`.
2. cache: asked first (key: model, base URL, prompt version, rubric version, mode, points sent,
   answer, sampling): a hit costs no call.
3. conversation: temperature 0 and the seed, requesting a JSON schema; a server that rejects it
   (HTTP 400) is asked again with JSON mode, then with no response_format. The reply is validated
   (`grader.llm.reply`); one that does not validate, is cut off or names none of the ids gets at
   most `settings.reasks` re-asks carrying the validation error.
4. finish: each verdict is checked against the answer (`evidence.check_evidence`); points the
   reply leaves out are `unscored`; unknown ids are ignored; if an id comes twice, the last wins.
   One quote given for every point supports none (`evidence.one_quote_for_all`); in a bare list
   of terms (the stuffing guard) judged points keep STUFFED_CREDIT of their credit.
   The score is never the model's: verdicts become credits (covered 1, partial 0.5, missing and
   contradicted 0) and `grader.aggregate` does the rest.
5. or fallback: transport errors are retried in `JudgeClient`; after that, or after the re-asks,
   the answer is graded by the fuzzy matcher (the same lexical run as hybrid's) and the outcome
   says so (flag `llm_fallback`, the reason in details), or, with `settings.fallback` False, a
   JudgeError is raised. Configuration errors (no model, no key, 401, 404) are always raised.

The outcome states facts (evidence downgraded, fallback, the lexical guard's flag, the model's
feedback); the pipeline turns them into flags and feedback, in one place each.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field

from pydantic import ValidationError

from ..answer import PreparedAnswer, rubric_language
from ..errors import FormatRejected, JudgeConfigError, JudgeError, ReplyError
from ..llm.chat import ChatRequest
from ..llm.prompts import build_messages, load_template, prompt_version
from ..llm.reply import FORMATS, JudgeReply, parse_reply, response_format
from ..models import KeyPoint, Question, Usage
from ..plain import Flag, Point
from ..settings import Settings
from .compiled import CompiledRubric
from .evidence import check_evidence, one_quote_for_all
from .guards import Lexical, lexical, stuffed
from .hybrid import SETTLED_RULES, lexical_classes, settle  # noqa: F401 - eval/point_agreement.py

CREDIT = {"covered": 1.0, "partial": 0.5, "missing": 0.0, "contradicted": 0.0}


# ---------------------------------------------------------------- the conversation


@dataclass(slots=True)
class Transcript:
    model: str
    base_url: str | None
    prompt_version: str
    response_format: str = FORMATS[0]
    level: int = 0
    attempts: int = 0
    messages: list[dict] = field(default_factory=list)
    replies: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    transport: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "model": self.model, "base_url": self.base_url, "prompt_version": self.prompt_version,
            "response_format": self.response_format, "attempts": self.attempts, "messages": self.messages,
            "replies": self.replies, "errors": self.errors, "transport": self.transport,
        }


def conversation(
    messages: list[dict], ids: list[str], reasks: int, log: Transcript, usage: Usage
) -> Generator[ChatRequest, object, JudgeReply]:
    """Yields ChatRequests, receives ChatReplies (or FormatRejected), returns the validated reply.

    Steps down the response formats on FormatRejected (not counted as an attempt); re-asks at most
    `reasks` times with the error; raises JudgeError when the reply stays unusable. Counts each
    reply's tokens into `usage` and its transport notes into the transcript.
    """
    msgs = list(messages)
    reask = load_template("judge_reask")
    while True:
        log.messages = msgs
        log.response_format = FORMATS[log.level]
        reply = yield ChatRequest(msgs, response_format(log.level, ids))
        if isinstance(reply, FormatRejected):
            log.transport.append(f"{FORMATS[log.level]} rejected by the server ({reply}); stepping down")
            log.level += 1
            continue
        usage.llm_calls += 1
        usage.prompt_tokens += reply.prompt_tokens
        usage.completion_tokens += reply.completion_tokens
        log.transport.extend(reply.notes)
        log.attempts += 1
        log.replies.append({"text": reply.text, "finish_reason": reply.finish_reason})
        try:
            return parse_reply(reply.text, reply.finish_reason, ids)
        except ReplyError as err:
            log.errors.append(str(err))
            if log.attempts > reasks:
                raise JudgeError(f"the judge's reply was unusable after {log.attempts} attempt(s): {err}") from None
            msgs = msgs + [
                {"role": "assistant", "content": reply.text},
                {"role": "user", "content": reask.render(error=str(err), ids=", ".join(ids))},
            ]


# ---------------------------------------------------------------- one answer


@dataclass(slots=True)
class JudgeOutcome:
    points: list[Point]
    usage: Usage
    details: dict
    lang: str  # the language the judge was asked to write feedback in
    model_feedback: str | None = None  # llm mode: the judge's own feedback, when it gave one
    lexical_flags: list[Flag] = field(default_factory=list)  # the guards' flag, when the lexical result stands
    unsupported_evidence: bool = False  # some verdicts were downgraded by the evidence check
    fallback: bool = False  # the judge failed: the points are the fuzzy matcher's


@dataclass(slots=True)
class _Plan:
    question: Question
    compiled: CompiledRubric
    prepared: PreparedAnswer
    mode: str
    settings: Settings
    lang: str
    lex: Lexical  # the one lexical run of this answer (hybrid settlement, stuffing, fallback)
    settled: dict[str, Point]
    todo: list[KeyPoint]
    messages: list[dict]
    log: Transcript
    cache: object | None
    key: str | None
    usage: Usage = field(default_factory=Usage)

    @property
    def ids(self) -> list[str]:
        return [p.id for p in self.todo]


def _plan(question, compiled, prepared, mode, settings, model, base_url) -> _Plan:
    lang = rubric_language(question)  # feedback names key points: in their language
    # the lexical guards run in every judge mode: a bare list of terms keeps STUFFED_CREDIT of what
    # the judge grants (dev set, llm: keyword lists 3.5 against people's 1.9 without it)
    lex = lexical(compiled, prepared, fuzzy=True)
    settled = settle(compiled, prepared, lex) if mode == "hybrid" else {}
    todo = [p for p in question.rubric.points if p.id not in settled]
    examples = None
    if todo and settings.examples is not None:
        from ..llm.examples import load_examples, render_examples

        keys = [k for k in (question.id if question.id != "adhoc" else None, question.reference_answer) if k]
        shown = load_examples(settings.examples).nearest(keys, prepared.original, settings.n_examples)
        examples = render_examples(shown) if shown else None
    messages = build_messages(question, todo, prepared, lang, examples) if todo else []
    log = Transcript(model=model, base_url=base_url, prompt_version=prompt_version())
    cache = key = None
    if todo and settings.use_cache:
        from ..llm.cache import cache_key, open_cache

        cache = open_cache(settings.resolved_cache_path())
        key = cache_key(
            model=model, base_url=base_url or "", prompt_version=log.prompt_version,
            rubric_version=question.rubric.version, mode=mode, points=[p.id for p in todo],
            answer=prepared.original, temperature=0.0, seed=settings.seed, messages=messages,
        )
    return _Plan(question, compiled, prepared, mode, settings, lang, lex, settled, todo, messages, log, cache, key)


def _details(plan: _Plan, cache_state: str, **extra) -> dict:
    judge = plan.log.as_dict()
    judge.update(
        rubric_version=plan.question.rubric.version, mode=plan.mode, cache=cache_state,
        points_sent=plan.ids, settled={k: v.verdict for k, v in plan.settled.items()},
    )
    judge.update(extra)
    return {"judge": judge}


def _finish(plan: _Plan, reply: JudgeReply, cache_state: str) -> JudgeOutcome:
    open_ids = set(plan.ids)
    by_id = {p.id: p for p in reply.points if p.id in open_ids}  # unknown ids ignored, last wins
    points: list[Point] = []
    checks: dict[str, str] = {}
    for kp in plan.question.rubric.points:
        if kp.id in plan.settled:
            points.append(plan.settled[kp.id])
            continue
        pv = by_id.get(kp.id)
        if pv is None:
            points.append(Point(
                id=kp.id, text=kp.text, weight=kp.weight, verdict="unscored", credit=0.0, evidence=None,
                method="llm", reason="the judge gave no verdict for this point",
            ))
            continue
        verdict, evidence, why = check_evidence(pv.verdict, pv.evidence, plan.prepared)
        reason = pv.reason.strip() or None
        if why:
            checks[kp.id] = f"{pv.verdict} -> {verdict}: {why}"
            reason = f"{reason + ' ' if reason else ''}[{pv.verdict} -> {verdict}: {why}]"
        points.append(Point(
            id=kp.id, text=kp.text, weight=kp.weight, verdict=verdict, credit=CREDIT[verdict],  # type: ignore[arg-type]
            evidence=evidence, method="llm", reason=reason,
        ))
    points = one_quote_for_all(points, checks)
    listed: list[Flag] = []
    if "keyword_stuffing" in plan.lex.flags:
        points = [stuffed(p) if p.method == "llm" else p for p in points]
        listed = ["keyword_stuffing"]
    model_feedback = reply.feedback.strip() if plan.mode == "llm" and reply.feedback.strip() else None
    details = _details(plan, cache_state, evidence_checks=checks, model_feedback=reply.feedback)
    return JudgeOutcome(points, plan.usage, details, plan.lang, model_feedback=model_feedback, lexical_flags=listed,
                        unsupported_evidence=bool(checks))


def _no_call(plan: _Plan) -> JudgeOutcome:
    points = [plan.settled[p.id] for p in plan.question.rubric.points]
    details = _details(plan, "none", note="every point settled lexically: no call")
    return JudgeOutcome(points, plan.usage, details, plan.lang, lexical_flags=list(plan.lex.flags))


def _cached(plan: _Plan) -> JudgeOutcome | None:
    if plan.cache is None or plan.key is None:
        return None
    hit = plan.cache.get(plan.key)
    if hit is None:
        return None
    try:
        reply = JudgeReply.model_validate(hit["reply"])
    except (KeyError, ValidationError):
        return None
    plan.usage.cache_hits += 1
    plan.log.attempts = hit.get("attempts", 0)
    plan.log.messages = plan.messages
    plan.log.replies = [{"text": hit.get("raw", ""), "finish_reason": "cached"}]
    return _finish(plan, reply, "hit")


def _store(plan: _Plan, reply: JudgeReply) -> None:
    if plan.cache is not None and plan.key is not None:
        raw = plan.log.replies[-1]["text"] if plan.log.replies else ""
        plan.cache.put(plan.key, {"reply": reply.model_dump(), "raw": raw, "attempts": plan.log.attempts})


def _failed(plan: _Plan, exc: JudgeError) -> JudgeOutcome:
    plan.log.transport.extend(getattr(exc, "notes", []))
    if isinstance(exc, JudgeConfigError):
        raise exc
    if not plan.settings.fallback:
        raise JudgeError(f"{exc} (fallback to fuzzy grading is off: drop --no-fallback to allow it)") from exc
    lex = plan.lex
    details = _details(plan, "miss" if plan.cache is not None else "off")
    details["fallback_reason"] = str(exc)
    return JudgeOutcome(lex.points, plan.usage, details, plan.lang, lexical_flags=list(lex.flags), fallback=True)


def judge(
    question: Question, compiled: CompiledRubric, prepared: PreparedAnswer, mode: str,
    settings: Settings, endpoint: Callable,
) -> Generator[ChatRequest, object, JudgeOutcome]:
    """The judge for one answer: plan -> cache -> conversation -> finish, or fallback (module
    docstring). `endpoint()` gives the server's model, base_url and format_level (a JudgeClient)."""
    server = endpoint()
    plan = _plan(question, compiled, prepared, mode, settings, server.model, server.base_url)
    if not plan.todo:
        return _no_call(plan)
    hit = _cached(plan)
    if hit is not None:
        return hit
    plan.log.level = server.format_level
    try:
        reply = yield from conversation(plan.messages, plan.ids, settings.reasks, plan.log, plan.usage)
    except JudgeError as exc:
        return _failed(plan, exc)
    server.format_level = max(server.format_level, plan.log.level)  # the server's format, remembered
    _store(plan, reply)
    return _finish(plan, reply, "miss" if plan.cache is not None else "off")
