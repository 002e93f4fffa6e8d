"""The HTTP API (`grader serve`): a thin shell over the pipeline, like the CLI.

    request --GuardMiddleware--> body size limit; unexpected errors become a bare 500
            --bearer auth--> 401 when GRADER_API_KEY is set and the token is missing or wrong
            --pydantic--> 422 naming the field
            --Grader (pipeline)--> GradeResult, the same model the CLI prints

Design notes:
- Errors are translated in one place: every GraderError (the pipeline's, and the API's own
  `UnauthorizedError`, `TooLargeError`) goes through `_grader_error`. All error bodies share
  one shape, `{"error": {"type", "message"}}`, and never carry a stack trace or the answer text
  (pydantic's echo of the invalid input is dropped; unexpected errors are logged by class name only,
  with the traceback at DEBUG level).
- Only the banks the server was configured with are served (the bundled banks, plus the bank named
  by `Settings.bank`): an HTTP client names a bank, it never passes a path to the server's disk.
- The modes a client may ask for are part of the schema: the offline modes, plus `llm`/`hybrid`
  when the judge is installed, narrowed by `GRADER_API_MODES`. A public server can so be kept
  offline (no model spend) and the OpenAPI document says what is accepted.
- No `from __future__ import annotations` here: the request models are built per app (their
  `mode` is narrowed to the served modes), and FastAPI must resolve the handlers' annotations
  to those local classes.
- Grading is synchronous in the pipeline (fuzzy ~1 ms, up to ~100 ms for a 20 000-character
  answer) and runs in the threadpool so a long answer never stalls the event loop.
"""

import hmac
import asyncio
import logging
import os
import re
import time
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal, Optional, Union

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, create_model, model_validator
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import __version__
from .banks import DEFAULT_BANK, bundled_banks, get_question, load_bank, resolve_bank_path
from .errors import GraderError, NotFoundError, UsageError
from .adhoc import question_from_reference
from .models import ALL_MODES, OFFLINE_MODES, Bank, GradeResult, Question
from .pipeline import agrade_question, grade_question
from .settings import Settings

log = logging.getLogger("grader.api")



# ------------------------------------------------------------------ configuration


@dataclass
class ApiConfig:
    """What only the server needs; read once at start like `Settings`.

    `GRADER_CORS_ORIGINS` (comma-separated; unset = no CORS headers at all),
    `GRADER_MAX_BODY_BYTES`, `GRADER_MAX_BATCH_ITEMS`, `GRADER_API_MODES` (comma-separated),
    `GRADER_SERVE_BUNDLED=0` (serve only the configured bank).
    """

    cors_origins: list[str] = field(default_factory=list)
    max_body_bytes: int = 2 * 1024 * 1024
    max_batch_items: int = 100
    modes: Optional[tuple[str, ...]] = None  # None: every mode this install can grade with
    bundled_banks: bool = True  # False: serve only the bank named by Settings.bank

    @classmethod
    def from_env(cls, env: Optional[dict[str, str]] = None) -> "ApiConfig":
        env = dict(os.environ if env is None else env)
        cfg = cls()
        if env.get("GRADER_CORS_ORIGINS"):
            cfg.cors_origins = [o.strip() for o in env["GRADER_CORS_ORIGINS"].split(",") if o.strip()]
        for var, attr in (("GRADER_MAX_BODY_BYTES", "max_body_bytes"), ("GRADER_MAX_BATCH_ITEMS", "max_batch_items")):
            if env.get(var):
                try:
                    value = int(env[var])
                except ValueError:
                    raise UsageError(f"{var}={env[var]!r} is not a whole number; set it to e.g. {getattr(cfg, attr)}") from None
                if value < 1:
                    raise UsageError(f"{var} must be at least 1")
                setattr(cfg, attr, value)
        if env.get("GRADER_SERVE_BUNDLED", "").strip().lower() in ("0", "false", "no"):
            cfg.bundled_banks = False
        if env.get("GRADER_API_MODES"):
            cfg.modes = tuple(m.strip() for m in env["GRADER_API_MODES"].split(",") if m.strip())
        return cfg


def _served_modes(requested: Optional[tuple[str, ...]]) -> tuple[str, ...]:
    if requested is None:
        return ALL_MODES
    for m in requested:
        Settings.check_mode(m)
    if not requested:
        raise UsageError("no modes to serve: GRADER_API_MODES lists none")
    return tuple(requested)


# ------------------------------------------------------------------ errors


class UnauthorizedError(GraderError):
    usage = True
    status_code = 401


class TooLargeError(GraderError):
    usage = True
    status_code = 413


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
_MAX_MESSAGE = 500


def _error_type(exc: BaseException) -> str:
    """NotFoundError -> not_found_error: stable, derived, so new GraderErrors need no table."""
    return _CAMEL.sub("_", exc.__class__.__name__).lower()


def error_body(type_: str, message: str, **extra: Any) -> dict:
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 1] + "…"
    return {"error": {"type": type_, "message": message, **extra}}


def _error_response(status: int, type_: str, message: str, headers: dict | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse(error_body(type_, message, **extra), status_code=status, headers=headers)


class ErrorInfo(BaseModel):
    type: str = Field(description="Machine-readable kind, e.g. not_found_error, validation_error.")
    message: str = Field(description="What went wrong and how to fix it; never echoes the answer.")
    fields: Optional[list[dict[str, str]]] = Field(
        default=None, description="For validation errors: each invalid field's location and problem."
    )


class ErrorResponse(BaseModel):
    error: ErrorInfo


def _loc(loc: tuple) -> str:
    return ".".join(str(p) for p in loc)


# ------------------------------------------------------------------ middleware


class GuardMiddleware:
    """Pure ASGI: reject bodies over `max_body_bytes` (413) before the app reads them, and turn
    any unexpected exception into a bare 500 without re-raising, so neither the client nor the
    server's default log ever sees a traceback (which may quote the answer)."""

    def __init__(self, app, max_body_bytes: int):
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracked(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        limit = self.max_body_bytes
        too_large = f"the request body is over the limit of {limit} bytes; send shorter answers or fewer items"
        if scope.get("method") in ("POST", "PUT", "PATCH"):
            length = dict(scope.get("headers") or []).get(b"content-length")
            if length is not None and length.isdigit() and int(length) > limit:
                await _error_response(413, "too_large_error", too_large)(scope, receive, send)
                return
            # Read the body here (counting, so a chunked upload cannot exceed the limit either)
            # and replay it to the app.
            chunks, size = [], 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    await _error_response(413, "too_large_error", too_large)(scope, receive, send)
                    return
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
            body = b"".join(chunks)
            replayed = False

            async def replay():
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            app_receive = replay
        else:
            app_receive = receive
        try:
            await self.app(scope, app_receive, send_tracked)
        except Exception as exc:  # noqa: BLE001 - the last line of defence
            log.error("internal error on %s %s: %s", scope.get("method"), scope.get("path"), exc.__class__.__name__)
            log.debug("traceback", exc_info=True)
            if not started:
                await _error_response(500, "internal_error", "internal error; the server log names its kind")(
                    scope, receive, send
                )


# ------------------------------------------------------------------ response models


class BankSummary(BaseModel):
    name: str
    title: str
    language: str
    description: Optional[str] = None
    source: Optional[str] = None
    licence: Optional[str] = None
    questions: int = Field(description="Number of questions in the bank.")
    default: bool = Field(description="True for the bank used when a request names none.")


class BankList(BaseModel):
    banks: list[BankSummary]


class QuestionSummary(BaseModel):
    id: str
    question: str


class QuestionList(BaseModel):
    bank: str
    questions: list[QuestionSummary]


class RubricPoint(BaseModel):
    id: str
    text: str
    weight: float


class QuestionDetail(BaseModel):
    bank: str
    id: str
    question: str
    reference_answer: Optional[str]
    open: bool = Field(description="True when the question has no single right answer.")
    rubric_version: str
    points: list[RubricPoint]


class ServerInfo(BaseModel):
    version: str
    modes: list[str]
    default_mode: str
    default_bank: str
    reference_grading: bool = Field(description="True when a body may carry reference_answer instead of question_id.")
    max_answer_chars: int
    max_body_bytes: int
    max_batch_items: int
    auth: bool = Field(description="True when requests to /v1 need a bearer token.")


class Health(BaseModel):
    status: Literal["ok"] = "ok"


# ------------------------------------------------------------------ request models


_NULL = {"type": "null"}
_ONE_TARGET = {
    # The validator's rule, stated in the schema so generated clients (and schemathesis) know it:
    # a bank question (question_id, optional bank) or an ad-hoc reference (reference_answer,
    # optional question); a null field counts as absent.
    "oneOf": [
        {
            "required": ["question_id"],
            "properties": {"question_id": {"type": "string"}, "reference_answer": _NULL, "question": _NULL, "reference_answers": _NULL},
        },
        {
            "required": ["reference_answer"],
            "properties": {"reference_answer": {"type": "string"}, "question_id": _NULL, "bank": _NULL},
        },
    ]
}


# A reference answer must hold some text to build key points from ("#" or "***" hold none).
_HAS_TEXT = r"[0-9A-Za-z\u00c0-\uffff]"


class _GradeFields(BaseModel):
    """The fields of a grading request; `mode` is narrowed per app to the modes it serves."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_ONE_TARGET)

    bank: Optional[str] = Field(default=None, min_length=1, max_length=200, description="Bank name; default: the server's.")
    question_id: Optional[str] = Field(default=None, min_length=1, max_length=200, description='Question id, e.g. "3".')
    reference_answer: Optional[str] = Field(
        default=None, min_length=1, pattern=_HAS_TEXT,
        description="Grade against this reference answer instead of a bank question (it needs a letter, digit or CJK character).",
    )
    question: Optional[str] = Field(default=None, description="The question text, with reference_answer.")
    reference_answers: Optional[list[str]] = Field(
        default=None, max_length=20,
        description="Other reference answers to the same question, with reference_answer: the answer keeps its best grade.",
    )
    answer: str = Field(description="The answer to grade; over the server's max_answer_chars it is refused with 413.")

    @model_validator(mode="after")
    def _one_target(self):
        if (self.question_id is None) == (self.reference_answer is None):
            raise ValueError("give either question_id (a bank question) or reference_answer (ad-hoc), not both or neither")
        if self.reference_answer is not None and self.bank is not None:
            raise ValueError("bank is only used with question_id; drop it when grading against reference_answer")
        if self.question is not None and self.reference_answer is None:
            raise ValueError("question is only used with reference_answer")
        if self.reference_answers is not None and self.reference_answer is None:
            raise ValueError("reference_answers is only used with reference_answer (the main reference)")
        return self


def _request_models(
    modes: tuple[str, ...], default_mode: str, max_items: int
) -> tuple[type[BaseModel], type[BaseModel], type[BaseModel]]:
    mode_type = Literal.__getitem__(modes)  # Literal[*modes] on Python >= 3.11
    mode_field = (
        Optional[mode_type],
        Field(default=None, description=f"Grading mode; default {default_mode!r}."),
    )
    grade = create_model("GradeRequest", __base__=_GradeFields, mode=mode_field)
    item = create_model(
        "BatchItem",
        __base__=grade,
        id=(Optional[Union[StrictStr, StrictInt]], Field(default=None, description="Echoed in the result; default: the item's index.")),
    )
    batch = create_model(
        "BatchRequest",
        __config__=ConfigDict(extra="forbid"),
        items=(list[item], Field(min_length=1, max_length=max_items, description=f"1 to {max_items} items.")),
    )
    return grade, item, batch


class BatchItemError(BaseModel):
    type: str
    message: str


class BatchItemResult(BaseModel):
    id: Union[str, int]
    result: Optional[GradeResult] = None
    error: Optional[BatchItemError] = None


class BatchResponse(BaseModel):
    results: list[BatchItemResult]
    graded: int
    errors: int


# ------------------------------------------------------------------ banks


class BankRegistry:
    """The banks this server serves, by name: bundled ones and the configured one."""

    RECHECK_S = 1.0

    def __init__(self, settings: Settings, bundled: bool = True):
        self.paths: dict[str, str] = {}
        if bundled:
            try:
                self.paths = {name: str(path) for name, path in bundled_banks().items()}
            except GraderError as exc:
                log.warning("no bundled banks: %s", exc)
        self.default = DEFAULT_BANK
        self._warned: set[str] = set()
        self._recent: dict[str, tuple[float, Bank]] = {}
        if settings.bank:
            path = resolve_bank_path(settings.bank)
            bank = load_bank(path)  # fail at start, not on the first request
            self.paths[bank.name] = str(path)
            self.default = bank.name

    def load(self, name: Optional[str]) -> Bank:
        name = name or self.default
        path = self.paths.get(name)
        if path is None:
            shown = name if len(name) <= 80 else name[:79] + "…"
            raise NotFoundError(f"unknown bank {shown!r}: this server has {', '.join(self.paths) or 'none'} (GET /v1/banks)")
        # load_bank re-reads a bank whose files changed, at the price of a directory scan and a
        # stat per file on every call; on the request path, look at most once per RECHECK_S.
        now = time.monotonic()
        hit = self._recent.get(name)
        if hit is not None and now - hit[0] < self.RECHECK_S:
            return hit[1]
        bank = load_bank(path)
        self._recent[name] = (now, bank)
        return bank

    def summaries(self) -> list[BankSummary]:
        out = []
        for name in self.paths:
            try:
                bank = self.load(name)
            except GraderError as exc:  # a broken bank is not offered; the operator sees why, once
                if name not in self._warned:
                    self._warned.add(name)
                    log.warning("bank %s is not served: %s", name, exc)
                continue
            out.append(
                BankSummary(
                    **bank.info.model_dump(include={"title", "language", "description", "source", "licence"}),
                    name=name,
                    questions=len(bank.questions),
                    default=name == self.default,
                )
            )
        return out


def _index_html() -> str:
    return resources.files("grader").joinpath("web/index.html").read_text(encoding="utf-8")


# ------------------------------------------------------------------ the app


def create_app(settings: Settings | None = None, config: ApiConfig | None = None) -> FastAPI:
    """Build the app. `settings` default to the environment (`Settings.from_env`), `config` to
    `ApiConfig.from_env`; tests pass their own."""
    settings = settings or Settings.from_env()
    config = config or ApiConfig.from_env()
    modes = _served_modes(config.modes)
    default_mode = settings.mode if settings.mode in modes else modes[0]
    registry = BankRegistry(settings, bundled=config.bundled_banks)
    page = _index_html()
    GradeRequest, BatchItem, BatchRequest = _request_models(modes, default_mode, config.max_batch_items)

    app = FastAPI(
        title="grader",
        version=__version__,
        description="Grade written answers against key-point rubrics. Errors are `{\"error\": {\"type\", \"message\"}}`.",
    )

    # -------------------------------------------------------------- error translation

    @app.exception_handler(GraderError)
    async def _grader_error(request: Request, exc: GraderError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        if exc.status_code >= 500:
            log.error("%s on %s %s: %s", exc.__class__.__name__, request.method, request.url.path, exc)
        return _error_response(exc.status_code, _error_type(exc), str(exc), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = []
        for err in exc.errors():
            loc = _loc(tuple(err.get("loc", ())))
            msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            if err.get("type") == "json_invalid":
                msg = "the body is not valid JSON"
            fields.append({"field": loc, "message": msg})  # no "input": it may be the answer
        first = fields[0] if fields else {"field": "body", "message": "invalid"}
        more = f" (and {len(fields) - 1} more)" if len(fields) > 1 else ""
        return _error_response(422, "validation_error", f"{first['field']}: {first['message']}{more}", fields=fields)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI's "error parsing the body" (e.g. not UTF-8): one 422 for bad bodies
            return _error_response(422, "validation_error", "body: the body is not valid UTF-8 JSON", fields=[
                {"field": "body", "message": "the body is not valid UTF-8 JSON"}])
        kind = {404: "not_found_error", 405: "method_not_allowed_error"}.get(exc.status_code, "http_error")
        message = "no such route; see /docs" if exc.status_code == 404 else str(exc.detail)
        return _error_response(exc.status_code, kind, message, headers=getattr(exc, "headers", None))

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

    def grade_sync(req: BaseModel) -> GradeResult:
        """One request -> GradeResult; raises GraderError for the caller's mistakes."""
        check_sizes(req)
        mode = req.mode or default_mode
        question, bank_name = target(req, mode)
        return grade_question(question, req.answer, mode, settings, bank_name)

    def target(req: BaseModel, mode: str | None = None) -> tuple[Question, str | None]:
        if req.reference_answer is not None:
            refs = tuple(req.reference_answers or ())
            return question_from_reference(req.reference_answer, req.question, None, refs, mode or default_mode), None
        b = registry.load(req.bank)
        return get_question(b, req.question_id), b.name

    judge_clients: list = []  # one JudgeClient for the app: connections are reused across requests

    async def grade_one(req: BaseModel) -> GradeResult:
        mode = req.mode or default_mode
        if mode in OFFLINE_MODES:
            # ~1-3 ms of CPU; a 20,000-character answer takes ~100 ms: keep the loop free
            return await run_in_threadpool(grade_sync, req)
        check_sizes(req)
        from .judge_client import JudgeClient

        if not judge_clients:
            judge_clients.append(JudgeClient(settings))
        question, bank_name = await run_in_threadpool(target, req)
        return await agrade_question(question, req.answer, mode, settings, bank_name, client=judge_clients[0])

    @v1.post("/grade", response_model=GradeResult, responses=grade_errors, tags=["grading"])
    async def grade(req: GradeRequest) -> Response:  # type: ignore[valid-type]
        result = await grade_one(req)
        # Serialised once by pydantic; the result was built by the pipeline as a GradeResult.
        return Response(result.model_dump_json(), media_type="application/json")

    async def batch_item(i: int, item: BaseModel) -> BatchItemResult:
        item_id = item.id if item.id is not None else i
        try:
            return BatchItemResult(id=item_id, result=await grade_one(item))
        except GraderError as exc:
            if exc.status_code >= 500:
                log.error("batch item %s: %s: %s", i, exc.__class__.__name__, exc)
            return BatchItemResult(id=item_id, error=BatchItemError(type=_error_type(exc), message=str(exc)[:_MAX_MESSAGE]))
        except Exception as exc:  # noqa: BLE001 - one bad item does not sink the batch
            log.error("batch item %s: internal error: %s", i, exc.__class__.__name__)
            log.debug("traceback", exc_info=True)
            return BatchItemResult(id=item_id, error=BatchItemError(type="internal_error", message="internal error"))

    @v1.post("/grade/batch", response_model=BatchResponse, responses=grade_errors, tags=["grading"])
    async def grade_batch(req: BatchRequest) -> Response:  # type: ignore[valid-type]
        # items run concurrently (bounded by the item limit): a judge call is awaited, not queued
        out = list(await asyncio.gather(*(batch_item(i, item) for i, item in enumerate(req.items))))
        failed = sum(1 for r in out if r.error is not None)
        resp = BatchResponse(results=out, graded=len(out) - failed, errors=failed)
        return Response(resp.model_dump_json(), media_type="application/json")

    app.include_router(v1)

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
