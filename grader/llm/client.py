"""The one module that talks to a model server (and the only one that imports `openai`).

`JudgeClient` sends one chat completion and returns its text, finish reason and token counts. It
owns what the transport can do wrong:

- Timeouts, connection errors, 408/409/429 and 5xx are retried `settings.max_retries` times with
  jittered exponential backoff (`RetryPolicy`); a `Retry-After` (or `retry-after-ms`) header is
  honoured: the next attempt waits at least that long, and a server that asks for more than
  `RetryPolicy.max_retry_after` seconds is given up on at once rather than waited for. The openai
  client's own retries are off so that there is one retry loop, with one record of what happened.
- A 400 on a request that carries `response_format` is `FormatRejected`: the caller steps down
  from JSON schema to JSON mode to plain text (and the client remembers the level that worked).
- Anything else (401, 403, 404, a 400 without response_format) fails at once: retrying cannot help.

Every failure is a `JudgeError` whose message says what happened and what to do.

Configuration: a model is required (`GRADER_MODEL` or `--model`). An API key is required only for
OpenAI's own API (no base URL, or api.openai.com); for any other server (vLLM, Ollama, a local
llama.cpp) a missing key is replaced by a dummy, so a server without auth just works, and one that
does want a key answers 401, which is reported as "set OPENAI_API_KEY".

Sync (`complete`, openai.OpenAI) and async (`acomplete`, openai.AsyncOpenAI) share the policy and
the error handling; each client keeps its connections open between calls, so one `JudgeClient`
should serve many answers (`close` / `aclose` when done). The async client belongs to the event
loop it was first used in.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import threading
import time
from dataclasses import dataclass

import openai

from ..errors import FormatRejected, JudgeConfigError, JudgeError, JudgeUnavailable
from ..settings import Settings
from .chat import ChatReply, ChatRequest, check_config

__all__ = ["ChatReply", "ChatRequest", "FormatRejected", "JudgeClient", "JudgeConfigError", "JudgeUnavailable", "check_config", "shared_client"]

@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_delay: float = 0.5  # first backoff, doubled each retry, times a jitter in [0.5, 1)
    max_delay: float = 8.0
    max_retry_after: float = 30.0  # a longer Retry-After is not waited for


DEFAULT_POLICY = RetryPolicy()


def _retry_after(exc: Exception) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) * scale)
        except ValueError:
            pass
        if name == "retry-after":
            try:
                when = email.utils.parsedate_to_datetime(value)
                return max(0.0, when.timestamp() - time.time())
            except (TypeError, ValueError):
                pass
    return None


def _describe(exc: Exception) -> str:
    if isinstance(exc, openai.APITimeoutError):
        return "timed out"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        return f"connection error ({cause.__class__.__name__ if cause else 'no response'})"
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}"
    return f"{exc.__class__.__name__}: {exc}"


class JudgeClient:
    def __init__(self, settings: Settings, policy: RetryPolicy | None = None):
        self.model, self.base_url, self._key = check_config(settings)
        self.timeout = settings.timeout
        self.max_retries = max(0, settings.max_retries)
        self.temperature = 0.0
        self.seed = settings.seed
        self.policy = policy or DEFAULT_POLICY
        self.format_level = 0  # index into the response formats; raised when a server rejects one
        self._sync: openai.OpenAI | None = None
        self._async: openai.AsyncOpenAI | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------ clients

    def _sync_client(self) -> openai.OpenAI:
        with self._lock:
            if self._sync is None:
                self._sync = openai.OpenAI(
                    api_key=self._key, base_url=self.base_url, timeout=self.timeout, max_retries=0
                )
            return self._sync

    def _async_client(self) -> openai.AsyncOpenAI:
        if self._async is None:
            self._async = openai.AsyncOpenAI(
                api_key=self._key, base_url=self.base_url, timeout=self.timeout, max_retries=0
            )
        return self._async

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    async def aclose(self) -> None:
        if self._async is not None:
            await self._async.close()
            self._async = None
        self.close()

    # ------------------------------------------------------------ for callers that send requests elsewhere

    def request_body(self, req: ChatRequest) -> dict:
        """The JSON body `complete` would POST to /chat/completions (the OpenAI Batch API sends it as is)."""
        return self._kwargs(req)

    def reply_from_body(self, body: object) -> ChatReply:
        """A chat completion body obtained elsewhere (a Batch API output line), read as `complete` reads one."""
        return self._reply(body, [])

    def api(self) -> openai.OpenAI:
        """The configured sync openai client, for the Files and Batches endpoints."""
        return self._sync_client()

    # ------------------------------------------------------------ one completion

    def _kwargs(self, req: ChatRequest) -> dict:
        # Sent with the client's documented `post` (cast_to=object: the JSON as it came) rather than
        # `chat.completions.create`: the body is already plain JSON, and create()'s type-driven
        # transform of the nested schema plus the response models cost more CPU per call than the
        # rest of the grading (eval/bench_llm.py). Auth, timeouts and errors are the client's own.
        kw: dict = {
            "model": self.model,
            "messages": req.messages,
            "temperature": self.temperature,
            "seed": self.seed,
        }
        if req.response_format is not None:
            kw["response_format"] = req.response_format
        return kw

    def _reply(self, resp: object, notes: list[str]) -> ChatReply:
        if not isinstance(resp, dict):
            raise JudgeUnavailable(f"the judge server did not answer with a JSON object: {str(resp)[:200]}")
        choices = resp.get("choices") or [{}]
        choice = choices[0] if isinstance(choices[0], dict) else {}
        message = choice.get("message") or {}
        usage = resp.get("usage") or {}
        return ChatReply(
            text=message.get("content") or "",
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            model=resp.get("model"),
            notes=notes,
        )

    def _next_delay(self, exc: Exception, req: ChatRequest, attempt: int, notes: list[str]) -> float:
        """How long to wait before retrying `exc`; raises when it must not be retried."""
        what = _describe(exc)
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            if status == 400 and req.response_format is not None:
                raise FormatRejected(f"HTTP 400 for response_format {req.response_format.get('type')}")
            if status in (401, 403):
                raise JudgeConfigError(
                    f"the server at {self.base_url or 'api.openai.com'} refused the API key (HTTP {status}): "
                    "set OPENAI_API_KEY to a valid key"
                )
            if status == 404:
                raise JudgeConfigError(
                    f"HTTP 404 from {self.base_url or 'api.openai.com'}: check the model name ({self.model}; "
                    "--model / GRADER_MODEL) and the base URL (--base-url / OPENAI_BASE_URL, usually ending in /v1)"
                )
            if not (status in (408, 409, 429) or status >= 500):
                raise JudgeUnavailable(f"the judge request failed with HTTP {status}: {_short(exc)}")
        elif not isinstance(exc, openai.APIConnectionError):
            raise JudgeUnavailable(f"unexpected reply from the judge server: {_short(exc)}") from exc
        if attempt >= self.max_retries:
            notes.append(f"attempt {attempt + 1}: {what}; no retries left")
            raise JudgeUnavailable(
                f"the judge at {self.base_url or 'api.openai.com'} failed after {attempt + 1} attempts "
                f"(last: {what}, timeout {self.timeout:g} s)"
            )
        p = self.policy
        wait = _retry_after(exc)
        if wait is not None:
            if wait > p.max_retry_after:
                notes.append(f"attempt {attempt + 1}: {what}, Retry-After {wait:g} s")
                raise JudgeUnavailable(
                    f"the judge server asked to retry after {wait:g} s (over the {p.max_retry_after:g} s limit)"
                )
            delay = wait * random.uniform(1.0, 1.1)
        else:
            delay = min(p.max_delay, p.base_delay * 2**attempt) * random.uniform(0.5, 1.0)
        notes.append(f"attempt {attempt + 1}: {what}, retrying in {delay:.2f} s")
        return delay

    def complete(self, req: ChatRequest) -> ChatReply:
        client, tries = self._sync_client(), _Tries(self, req)
        while True:
            try:
                return tries.done(client.post("/chat/completions", cast_to=object, body=tries.body))
            except openai.OpenAIError as exc:
                time.sleep(tries.failed(exc))

    async def acomplete(self, req: ChatRequest) -> ChatReply:
        client, tries = self._async_client(), _Tries(self, req)
        while True:
            try:
                return tries.done(await client.post("/chat/completions", cast_to=object, body=tries.body))
            except openai.OpenAIError as exc:
                await asyncio.sleep(tries.failed(exc))


class _Tries:
    """The attempts at one completion, for `complete` and `acomplete` alike: the retry policy and
    the record of what happened (a JudgeError carries the notes)."""

    __slots__ = ("client", "req", "body", "attempt", "notes")

    def __init__(self, client: JudgeClient, req: ChatRequest):
        self.client, self.req, self.body = client, req, client._kwargs(req)
        self.attempt = 0
        self.notes: list[str] = []

    def done(self, resp: object) -> ChatReply:
        return self.client._reply(resp, self.notes)

    def failed(self, exc: Exception) -> float:
        """The delay before the next attempt; raises when `exc` must not (or can no longer) be retried."""
        try:
            delay = self.client._next_delay(exc, self.req, self.attempt, self.notes)
        except JudgeError as err:
            err.notes = self.notes  # type: ignore[attr-defined]
            raise
        self.attempt += 1
        return delay


def _short(exc: Exception, n: int = 200) -> str:
    text = str(exc).replace("\n", " ")
    return text if len(text) <= n else text[: n - 1] + "…"


_clients: dict[tuple, JudgeClient] = {}
_clients_lock = threading.Lock()


def shared_client(settings: Settings) -> JudgeClient:
    """One sync JudgeClient per configuration per process, so connections are reused across answers."""
    model, base_url, key = check_config(settings)
    ident = (model, base_url, key, settings.timeout, settings.max_retries, settings.seed, DEFAULT_POLICY)
    with _clients_lock:
        client = _clients.get(ident)
        if client is None:
            if len(_clients) >= 16:  # many configurations (tests): drop the oldest
                _clients.pop(next(iter(_clients))).close()
            client = _clients[ident] = JudgeClient(settings)
        return client
