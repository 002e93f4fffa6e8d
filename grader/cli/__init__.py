"""The `grader` command: a thin shell over the pipeline.

Parse, call the pipeline (or batch / eval), render. Errors are translated in one place
(`_run`): a GraderError the user can fix exits 2 with a one-line message, anything else exits 1.
"""

from __future__ import annotations

import sys
import types

__all__ = ["app", "main"]


def main() -> None:  # console script entry point
    """`grader grade QID ANSWER` through the fast path when it can (grader.cli.fast), else typer."""
    from .fast import run

    status = run(sys.argv[1:])
    if status is not None:
        sys.exit(status)
    from . import grading, practice  # noqa: F401 - registers the commands
    from .app import main as typer_main

    typer_main()


class _Package(types.ModuleType):
    """`grader.cli.app` is the Typer app, imported (with typer and every command) on first use;
    importing the submodule of that name does not replace it, as with the import this had before."""

    @property
    def app(self):
        from . import grading, practice  # noqa: F401 - registers the commands
        from .app import app

        return app

    @app.setter
    def app(self, module) -> None:  # the import system setting the submodule: `app` stays the Typer app
        pass


sys.modules[__name__].__class__ = _Package
