"""Every error class of the grader. Each message names the fix; the CLI and the API translate them in one place."""

from __future__ import annotations


class GraderError(Exception):
    """Base class. `usage` errors are the caller's to fix (CLI exit 2, HTTP 4xx)."""

    usage: bool = False
    status_code: int = 500


class UsageError(GraderError):
    """Bad input from the caller: a flag, a file, an answer."""

    usage = True
    status_code = 422


class NotFoundError(UsageError):
    """Unknown bank or question."""

    status_code = 404


class RubricError(GraderError):
    """A bank or rubric file is invalid: the message names the file, the line and what is wrong."""

    usage = True
    status_code = 500


class PromptError(GraderError):
    """A prompt file is missing or does not match the variables the code renders it with."""


class JudgeError(GraderError):
    """The LLM judge could not produce a usable grade (network, server or model misbehaviour)."""

    status_code = 502


class HistoryError(GraderError):
    """The practice history database cannot be used (corrupt, newer schema, unwritable).

    The message names the file and the fix; the attempt being made is never lost (see history.py).
    """

    usage = True
    status_code = 500


class HistoryLockedError(HistoryError):
    """Another program holds the history database locked for longer than we wait."""

    usage = False


class JudgeConfigError(JudgeError):
    """No model, or no key for OpenAI's API: never falls back, the user must fix the setup
    (CLI: exit 2 like any usage error; HTTP: 503, the server is not set up for this mode)."""

    usage = True
    status_code = 503


class JudgeUnavailable(JudgeError):
    """The server could not be reached or kept failing after the retries."""


class BatchItemError(GraderError):
    """One request of an OpenAI Batch API job failed (`grader batch --via openai-batch`)."""


class UnauthorizedError(GraderError):
    """The API's bearer token is missing or wrong."""

    usage = True
    status_code = 401


class TooLargeError(GraderError):
    """A body or an answer over the API's limits."""

    usage = True
    status_code = 413


# Signals inside the judge's conversation, never shown to a user as such.


class FormatRejected(Exception):
    """The server answered 400 to a request carrying `response_format`: step down a format."""


class ReplyError(ValueError):
    """The judge's reply cannot be used; the message is sent back to the model in a re-ask."""
