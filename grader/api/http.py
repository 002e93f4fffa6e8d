"""The HTTP edge: one error body shape, the translation of every error (`install_error_handlers`),
and `GuardMiddleware` (body size limit; an unexpected error becomes a bare 500, never a traceback)."""

import logging
import re
from typing import Any, Optional

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import GraderError

log = logging.getLogger("grader.api")


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


def install_error_handlers(app: FastAPI) -> None:
    """Every error the app answers with, translated here: `{"error": {"type", "message"}}`."""
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
            msg = "the body is not JSON that can be read: UTF-8, and nested at most a few hundred levels deep"
            return _error_response(422, "validation_error", f"body: {msg}", fields=[{"field": "body", "message": msg}])
        kind = {404: "not_found_error", 405: "method_not_allowed_error"}.get(exc.status_code, "http_error")
        message = "no such route; see /docs" if exc.status_code == 404 else str(exc.detail)
        return _error_response(exc.status_code, kind, message, headers=getattr(exc, "headers", None))


def replaying(body: bytes, receive):
    """A `receive` that gives the body already read, then whatever the connection says next."""
    replayed = False

    async def replay():
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class FastRoute:
    """Pure ASGI: `handler(scope, body)` answers one route's common case without FastAPI's routing,
    dependencies and validation machinery (a third of what serving a short grade cost on top of
    the grade); it returns the response's JSON bytes, or None to pass the request on, unchanged,
    to the app, which then answers it (every error, every uncommon case) as it always has. Added
    innermost, so the middlewares outside it (size limit, CORS) apply to both."""

    def __init__(self, app, method: str, path: str, handler):
        self.app, self.method, self.path, self.handler = app, method, path, handler

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != self.path or scope.get("method") != self.method:
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        answer = self.handler(scope, body)
        if answer is None:
            await self.app(scope, replaying(body, receive), send)
            return
        headers = [(b"content-length", str(len(answer)).encode("latin-1")), (b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})


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
            app_receive = replaying(b"".join(chunks), receive)
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
