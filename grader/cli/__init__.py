"""The `grader` command: a thin shell over the pipeline.

Parse, call the pipeline (or batch / eval), render. Errors are translated in one place
(`_run`): a GraderError the user can fix exits 2 with a one-line message, anything else exits 1.
"""

from __future__ import annotations

from . import grading, practice  # noqa: F401 - registers the commands
from .app import app, main

__all__ = ["app", "main"]
