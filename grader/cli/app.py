"""The `grader` command: a thin shell over the pipeline.

Parse, call the pipeline (or batch / eval), render. Errors are translated in one place
(`_run`): a GraderError the user can fix exits 2 with a one-line message, anything else exits 1.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Callable, Optional, TypeVar

import typer

from ..errors import GraderError, UsageError

app = typer.Typer(
    help="Grade written answers against key-point rubrics (keyword, fuzzy, or an LLM judge).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
rubric_app = typer.Typer(help="Show, build and check rubrics.", no_args_is_help=True)
app.add_typer(rubric_app, name="rubric")

T = TypeVar("T")

BankOpt = typer.Option(None, "--bank", "-b", help="Bundled bank name or path to a bank directory (default llm-interview).")
ModeOpt = typer.Option(None, "--mode", "-m", help="keyword | fuzzy | llm | hybrid (default: $GRADER_MODE or fuzzy, offline).")
JsonOpt = typer.Option(False, "--json", help="Print JSON.")


def _err(msg: str) -> None:
    typer.echo(f"grader: error: {msg}", err=True)


def _run(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except GraderError as exc:
        _err(str(exc))
        raise typer.Exit(2 if exc.usage else 1) from None
    except KeyboardInterrupt:
        _err("interrupted")
        raise typer.Exit(130) from None
    except OSError as exc:  # a file the grader had to read or write (full disk, a directory, no permission)
        where = f"{exc.filename}: " if exc.filename else ""
        _err(f"{where}{exc.strerror or exc}; check the path, its permissions and the free space, then run again")
        raise typer.Exit(1) from None


def _settings(**overrides):
    from ..settings import Settings

    return _run(lambda: Settings.from_env(**overrides))


def _console():
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def _read_text_arg(value: Optional[str], file: Optional[Path], what: str) -> str:
    if file is not None:
        try:
            return file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read {what} file {file}: {exc.__class__.__name__}: {exc}; pass a readable UTF-8 file") from None
    if value == "-" or (value is None and not sys.stdin.isatty()):
        data = sys.stdin.read()
        return data
    if value is None:
        raise UsageError(f"no {what} given: pass it as an argument, with --file F, or pipe it on stdin")
    return value


def main() -> None:  # console script entry point
    # pydantic looks up plugins through package metadata on first use (~50 ms of start-up);
    # the CLI uses none. A user who wants them sets PYDANTIC_DISABLE_PLUGINS themselves.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    app()

