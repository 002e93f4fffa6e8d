"""The grader's errors. Each message names the fix; the CLI and the API translate them in one place."""

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
