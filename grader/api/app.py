"""`create_app`: the banks served, auth, and the routes over `grader.runs.rows` (the one way a row is graded)."""

# No `from __future__ import annotations` in this package: FastAPI resolves the handlers' annotations.

import asyncio
import gc
import hmac
import inspect
import json
import logging
import time
from contextlib import asynccontextmanager
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from typing import Optional

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from .. import __version__
from ..authoring.adhoc import question_from_reference
from ..banks import get_question
from ..errors import GraderError, JudgeConfigError, TooLargeError, UnauthorizedError
from ..models import OFFLINE_MODES, GradeResult, Question
from ..pipeline import Grader
from ..runs.rows import agrade_row, grade_row
from ..settings import Settings
from .config import ApiConfig, _served_modes
from .docs import install_docs
from .explain import with_terms
from .http import ErrorResponse, FastRoute, GuardMiddleware, _error_type, _MAX_MESSAGE, install_error_handlers
from .registry import BankRegistry
from .schemas import (
    BankList, BatchItemResult, BatchResponse, Health, ItemError, QuestionDetail, QuestionList,
    QuestionSummary, RubricPoint, ServerInfo, _request_models,
)

log = logging.getLogger("grader.api")

OFFLINE_THREADS = 4  # offline grades running at once (the rest wait their turn)
DISCONNECT_POLL_S = 0.25


class ClientGone(Exception):
    """The client closed the connection: its work was cancelled."""


async def until_disconnected(request: Request, work):
    """Await `work`; if the client hangs up first, cancel it (grades not yet started never start)."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=DISCONNECT_POLL_S)
            if done:
                return task.result()
            if await request.is_disconnected():
                raise ClientGone()
    finally:
        if not task.done():
            task.cancel()


# /v1/grade grades bank questions with answers up to this many characters on the event loop, under
# a budget of this many CPU seconds (a 500-character answer takes 1-2 ms); see graded_inline
INLINE_MAX_CHARS = 2000
INLINE_BUDGET_S = 0.01
INLINE_PAUSE_S = 1.0  # after a grade over that budget, none on the loop for this long (a flood of hostile answers)
INLINE_TRIED = "grader.inline_tried"  # in a request's scope: the fast path could not grade it on the loop
# `grader serve` grades each served bank question once per offline mode before it takes requests,
# for at most this many questions and seconds (a large bank's others warm up on first use)
WARM_UP_QUESTIONS = 500
WARM_UP_S = 10.0


# No telemetry (answers can be personal data): FastAPI versions with native OpenTelemetry would
# otherwise trace and measure requests wherever the environment configures a provider, and look
# the providers up on every request to find out.
_NO_TELEMETRY = ({"telemetry": {"tracing": False, "metrics": False, "logs": False}}
                 if "telemetry" in inspect.signature(FastAPI.__init__).parameters else {})


def _index_html() -> str:
    return resources.files("grader").joinpath("web/index.html").read_text(encoding="utf-8")


def served_app() -> FastAPI:
    """The app `grader serve` runs (each `--workers` process builds its own): warmed up at start."""
    return create_app(warm_up=True)


def create_app(settings: Settings | None = None, config: ApiConfig | None = None, warm_up: bool = False) -> FastAPI:
    """Build the app. `settings` default to the environment (`Settings.from_env`), `config` to
    `ApiConfig.from_env`; tests pass their own. With `warm_up`, the app's start (its lifespan)
    grades every served bank question once per offline mode, then freezes the heap out of the
    garbage collector's reach: see `warm_all`."""
    settings = settings or Settings.from_env()
    config = config or ApiConfig.from_env()
    modes = _served_modes(config.modes)
    default_mode = settings.mode if settings.mode in modes else modes[0]
    registry = BankRegistry(settings, bundled=config.bundled_banks)
    page = _index_html()
    GradeRequest, BatchItem, BatchRequest = _request_models(modes, default_mode, config.max_batch_items)

    @asynccontextmanager
    async def lifespan(_app):
        if warm_up:
            warm_all()
        yield

    app = FastAPI(
        **_NO_TELEMETRY,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        title="grader",
        version=__version__,
        description="Grade written answers against key-point rubrics. Errors are `{\"error\": {\"type\", \"message\"}}`.",
    )

    install_error_handlers(app)

    @app.exception_handler(ClientGone)
    async def _client_gone(request: Request, exc: ClientGone) -> Response:
        return Response(status_code=499)  # no one reads it; nothing to log

    # -------------------------------------------------------------- auth

    bearer = HTTPBearer(auto_error=False, description="Required when the server has GRADER_API_KEY set.")
    server_key = settings.api_key_server

    async def require_key(credentials: Optional[HTTPAuthorizationCredentials] = Depends(bearer)) -> None:
        if credentials is None:
            raise UnauthorizedError("missing bearer token: send 'Authorization: Bearer <GRADER_API_KEY>'")
        if not hmac.compare_digest(credentials.credentials.encode(), server_key.encode()):
            raise UnauthorizedError("wrong bearer token: send the server's GRADER_API_KEY")

    errors = {
        401: {"model": ErrorResponse, "description": "Missing or wrong bearer token (when GRADER_API_KEY is set)."},
        404: {"model": ErrorResponse, "description": "Unknown bank or question."},
        413: {"model": ErrorResponse, "description": "Body or answer over the server's limits."},
        422: {"model": ErrorResponse, "description": "Invalid body; the message names the field."},
        500: {"model": ErrorResponse, "description": "A bank file on the server is invalid (the server log says which)."},
    }
    # The security scheme is declared only when a key is set, so the schema says what is enforced.
    if server_key is None:
        errors.pop(401)
    grade_errors = {
        **errors,
        502: {"model": ErrorResponse, "description": "The LLM judge failed (llm/hybrid modes, no fallback)."},
    }
    v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_key)] if server_key else [], responses=errors)

    # -------------------------------------------------------------- routes

    @app.get("/", include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/healthz", response_model=Health, tags=["meta"])
    async def healthz() -> dict:
        return {"status": "ok"}

    @v1.get("/info", response_model=ServerInfo, tags=["meta"])
    async def info() -> ServerInfo:
        return ServerInfo(
            version=__version__,
            modes=list(modes),
            default_mode=default_mode,
            default_bank=registry.default,
            reference_grading=True,
            max_answer_chars=settings.max_answer_chars,
            max_body_bytes=config.max_body_bytes,
            max_batch_items=config.max_batch_items,
            auth=server_key is not None,
            judge=bool(settings.model),
        )

    @v1.get("/banks", response_model=BankList, tags=["banks"])
    async def banks() -> BankList:
        return BankList(banks=await run_in_threadpool(registry.summaries))

    @v1.get("/banks/{bank}/questions", response_model=QuestionList, tags=["banks"])
    async def questions(bank: str) -> QuestionList:
        b = await run_in_threadpool(registry.load, bank)
        return QuestionList(bank=bank, questions=[QuestionSummary(id=q.id, question=q.question) for q in b.questions.values()])

    @v1.get("/banks/{bank}/questions/{qid}", response_model=QuestionDetail, tags=["banks"])
    async def question(bank: str, qid: str) -> QuestionDetail:
        b = await run_in_threadpool(registry.load, bank)
        q = get_question(b, qid)
        return QuestionDetail(
            bank=bank,
            id=q.id,
            question=q.question,
            reference_answer=q.reference_answer,
            open=q.rubric.open,
            rubric_version=q.rubric.version,
            points=[RubricPoint(id=p.id, text=p.text, weight=p.weight) for p in q.rubric.points],
        )

    def check_sizes(req: BaseModel) -> None:
        limit = settings.max_answer_chars
        texts = [("answer", req.answer), ("reference_answer", req.reference_answer)]
        texts += [(f"reference_answers[{i}]", t) for i, t in enumerate(req.reference_answers or [])]
        for name, text in texts:
            if text is not None and len(text) > limit:
                raise TooLargeError(f"{name} has {len(text)} characters, over the limit of {limit}; shorten it")
        # every reference is a rubric to build: their sum is bounded too (20 x 20,000 was 21 builds)
        refs = sum(len(t) for _, t in texts[1:] if t is not None)
        if refs > limit:
            raise TooLargeError(f"the reference answers have {refs} characters together, over the limit of {limit}; "
                                "send fewer or shorter references")

    grader = Grader(settings)

    def target(req: BaseModel, mode: str) -> tuple[Question, str | None]:
        """A request's question: a served bank's, or a rubric built from its reference (for `mode`)."""
        if req.reference_answer is not None:
            refs = tuple(req.reference_answers or ())
            return question_from_reference(req.reference_answer, req.question, None, refs, mode), None
        b = registry.load(req.bank)
        return get_question(b, req.question_id), b.name

    def grade_sync(req: BaseModel, seen: Optional[list] = None, by: Grader = grader, found=None) -> GradeResult:
        """One request -> GradeResult; raises GraderError for the caller's mistakes. `seen` gets the
        question graded against; `found` is that question when the caller has looked it up."""
        check_sizes(req)

        def resolve(r, mode):
            nonlocal found
            found = found or target(r, mode)
            if seen is not None:
                seen.append(found[0])
            return found

        return grade_row(by, req, req.mode or default_mode, resolve=resolve)

    judge_clients: list = []  # one JudgeClient for the app: connections are reused across requests

    # Offline grading is CPU under one GIL: more threads than cores only make every request (and
    # /healthz, whose event loop waits for the GIL) slower. OFFLINE_THREADS grade at once; the rest
    # queue, and a request whose client has gone is cancelled while it waits (its grade never starts).
    pool = ThreadPoolExecutor(OFFLINE_THREADS, thread_name_prefix="grader-grade")
    # A short bank grade costs less on the event loop than the hop to a pool thread and back, so
    # /v1/grade runs it there under a short budget (the budget's exception is raised in the loop's
    # thread inside the grade, as in any thread: tests/test_budget.py). A grade that needs more
    # is dropped and graded again in the pool under the server's budget: the result is the same,
    # and no grade holds the loop longer than INLINE_BUDGET_S (plus the watchdog's tick).
    # Where there is no budget (GRADER_GRADE_BUDGET=0) nothing runs on the loop.
    inline_budget = min(INLINE_BUDGET_S, settings.grade_budget)
    inline_grader = Grader(settings.model_copy(update={"grade_budget": inline_budget})) if inline_budget > 0 else None
    warm: dict[int, Question] = {}  # questions graded once in the pool (the first grade compiles the rubric)
    paused_until = [0.0]  # monotonic time before which nothing is graded on the loop

    def graded_inline(req: BaseModel, seen: list) -> Optional[GradeResult]:
        """The grade, if it could be made on the event loop within the short budget; else None."""
        if (inline_grader is None or (req.mode or default_mode) not in OFFLINE_MODES
                or req.reference_answer is not None or len(req.answer) > INLINE_MAX_CHARS
                or time.monotonic() < paused_until[0]):
            return None
        check_sizes(req)
        found = target(req, req.mode or default_mode)
        if warm.get(id(found[0])) is not found[0]:
            return None
        result = grade_sync(req, seen, inline_grader, found)
        if "over_time_budget" in result.flags:  # hostile answers hold the loop once a pause, not each time
            paused_until[0] = time.monotonic() + INLINE_PAUSE_S
            seen.clear()
            return None
        return result

    def pooled(req: BaseModel, seen: Optional[list]) -> GradeResult:
        result = grade_sync(req, seen)
        if seen:
            if len(warm) > 4096:
                warm.clear()
            warm[id(seen[0])] = seen[0]  # held: its id is not reused while it is here
        return result

    def warm_all() -> int:
        """Before the first request: grade each served bank question once per offline mode, so no
        request pays for compiling a rubric or for what is built on first use, and every short
        grade can run on the loop from the start (a cold server graded its first requests in the
        pool, queued behind compiles, and the garbage collector walked the growing heap: p99 over
        half a second in the first seconds). Then the heap built so far (banks, compiled rubrics,
        jieba's dictionary) is frozen: the collector's full passes no longer walk it. Returns the
        number of grades made."""
        deadline, made = time.monotonic() + WARM_UP_S, 0
        offline = [m for m in modes if m in OFFLINE_MODES]
        for name in registry.paths:
            try:
                bank = registry.load(name)
            except GraderError:
                continue  # said once by summaries(); requests get the error
            for question in list(bank.questions.values())[:WARM_UP_QUESTIONS]:
                answer = question.reference_answer or "\n".join(p.text for p in question.rubric.points)
                for mode in offline:
                    if time.monotonic() > deadline:
                        break
                    req = GradeRequest(bank=name, question_id=question.id, answer=answer[:INLINE_MAX_CHARS], mode=mode)
                    try:
                        pooled(req, [])
                        made += 1
                    except GraderError:
                        pass
        gc.collect()
        gc.freeze()
        log.info("warmed up: %d grades", made)
        return made

    def fast_grade(scope, body: bytes) -> Optional[bytes]:
        """POST /v1/grade's common case, answered without FastAPI's machinery (`FastRoute`): a valid
        JSON body, the right token if one is needed, a grade that can be made on the loop. Anything
        else returns None and goes through the route below, which answers it as before."""
        headers = dict(scope["headers"])
        kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if kind != b"application/json":
            return None
        if server_key is not None:
            token = headers.get(b"authorization", b"")
            if not hmac.compare_digest(token, b"Bearer " + server_key.encode()):
                return None
        try:
            req = GradeRequest.model_validate(json.loads(body))
            seen: list = []
            result = graded_inline(req, seen)
            if result is None:
                scope[INLINE_TRIED] = True  # the route goes to the pool at once (not a second grade on the loop)
                return None
            return with_terms(result, seen[0] if seen else None).encode()
        except (ValueError, ValidationError, RecursionError, GraderError):  # the route says what is wrong
            return None

    async def grade_one(req: BaseModel, seen: Optional[list] = None) -> GradeResult:
        mode = req.mode or default_mode
        if mode in OFFLINE_MODES:
            return await asyncio.get_running_loop().run_in_executor(pool, pooled, req, seen)
        check_sizes(req)
        if not settings.model:
            raise JudgeConfigError(f"this server has no judge model, so mode {mode} is not available: grade with "
                                   f"{' or '.join(m for m in modes if m in OFFLINE_MODES) or 'fuzzy'}, or ask the "
                                   "server's operator to start it with GRADER_MODEL set")
        from ..llm.client import JudgeClient

        if not judge_clients:
            judge_clients.append(JudgeClient(settings))
        question, bank_name = await run_in_threadpool(target, req, mode)
        if seen is not None:
            seen.append(question)
        return await agrade_row(grader, req, mode, judge_clients[0], resolve=lambda _req, _mode: (question, bank_name))

    @v1.post("/grade", response_model=GradeResult, responses=grade_errors, tags=["grading"])
    async def grade(req: GradeRequest, request: Request) -> Response:  # type: ignore[valid-type]
        seen: list = []
        result = (None if request.scope.get(INLINE_TRIED) else graded_inline(req, seen)) or await until_disconnected(
            request, grade_one(req, seen))
        # Serialised once by pydantic; the result was built by the pipeline as a GradeResult. Each
        # point says which of its terms the evidence holds (`terms`: why it matched).
        return Response(with_terms(result, seen[0] if seen else None), media_type="application/json")

    async def batch_item(i: int, item: BaseModel) -> BatchItemResult:
        item_id = item.id if item.id is not None else i
        try:
            return BatchItemResult(id=item_id, result=await grade_one(item))
        except GraderError as exc:
            if exc.status_code >= 500:
                log.error("batch item %s: %s: %s", i, exc.__class__.__name__, exc)
            return BatchItemResult(id=item_id, error=ItemError(type=_error_type(exc), message=str(exc)[:_MAX_MESSAGE]))
        except Exception as exc:  # noqa: BLE001 - one bad item does not sink the batch
            log.error("batch item %s: internal error: %s", i, exc.__class__.__name__)
            log.debug("traceback", exc_info=True)
            return BatchItemResult(id=item_id, error=ItemError(type="internal_error", message="internal error"))

    @v1.post("/grade/batch", response_model=BatchResponse, responses=grade_errors, tags=["grading"])
    async def grade_batch(req: BatchRequest, request: Request) -> Response:  # type: ignore[valid-type]
        # items run concurrently (bounded by the item limit): a judge call is awaited, not queued
        items = asyncio.gather(*(batch_item(i, item) for i, item in enumerate(req.items)))
        out = list(await until_disconnected(request, items))
        failed = sum(1 for r in out if r.error is not None)
        resp = BatchResponse(results=out, graded=len(out) - failed, errors=failed)
        return Response(resp.model_dump_json(), media_type="application/json")

    app.include_router(v1)
    install_docs(app)
    app.add_middleware(FastRoute, method="POST", path="/v1/grade", handler=fast_grade)  # innermost: inside CORS

    if config.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=config.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(GuardMiddleware, max_body_bytes=config.max_body_bytes)
    return app
