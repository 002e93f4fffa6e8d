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

def _plain_help() -> None:
    """Help that names values as a user writes them (FILE, TEXT, N), not as Python types
    (`<list[str]>`, `<bool>`), and a variadic argument with a metavar shown as that metavar
    (`QID [ANSWER]`, not `[[QID] [ANSWER]]...`). Recent typer releases label every parameter with
    its annotation; older ones have none of these hooks, and are left as they are."""
    try:
        from typer.core import TyperArgument, TyperOption
    except ImportError:  # pragma: no cover - an older typer
        return
    words = {"str": "TEXT", "int": "N", "float": "X", "path": "PATH", "Path": "PATH", "int range": "N", "float range": "X"}

    def option_type(self, ctx):
        if self.metavar is not None:
            return self.metavar
        if getattr(self, "is_bool_flag", False) or getattr(self, "is_flag", False):
            return None
        label = TyperOption.display_type(self, ctx).strip("<>")
        label = label.removeprefix("list[").removesuffix("]")
        return words.get(label, label.upper())

    if hasattr(TyperOption, "display_type_rich"):
        TyperOption.display_type_rich = option_type
    if hasattr(TyperArgument, "display_type_rich"):
        TyperArgument.display_type_rich = lambda self, ctx: None
    if hasattr(TyperArgument, "get_usage_pieces"):
        original = TyperArgument.get_usage_pieces
        TyperArgument.get_usage_pieces = lambda self, ctx: [self.metavar] if self.metavar else original(self, ctx)
    # "--bogus" is no misspelling of "--verbose": suggest only options that are close
    for name in ("typer._click.exceptions", "click.exceptions"):
        cls = getattr(sys.modules.get(name), "NoSuchOption", None)
        if cls is not None and not getattr(cls, "_grader_close", False):
            cls.__init__ = _close_only(cls.__init__)
            cls._grader_close = True


def _close_only(init):
    def __init__(self, option_name, message=None, possibilities=None, ctx=None):
        from difflib import SequenceMatcher  # only when an option is unknown

        close = [p for p in possibilities or () if SequenceMatcher(None, option_name, p).ratio() >= 0.8]
        init(self, option_name, message, close or None, ctx)

    return __init__


_plain_help()

app = typer.Typer(
    help="Grade written answers against key-point rubrics (keyword, fuzzy, or an LLM judge).\n\n"
    "Exit status: 0 graded (also when the judge failed and fuzzy graded instead: a warning on stderr and "
    "the flag llm_fallback say so; --no-fallback makes that exit 1); 2 usage error, with a one-line "
    "message naming the fix; 1 other failures; 130 interrupted.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
rubric_app = typer.Typer(help="Show, build and check rubrics.", no_args_is_help=True)
app.add_typer(rubric_app, name="rubric")

T = TypeVar("T")

BankOpt = typer.Option(None, "--bank", "-b", metavar="BANK", help="Bundled bank name or path to a bank directory (default llm-interview).")
ModeOpt = typer.Option(None, "--mode", "-m", metavar="MODE", help="keyword | fuzzy | llm | hybrid (default: $GRADER_MODE or fuzzy, offline).")
JsonOpt = typer.Option(False, "--json", help="Print JSON.")
# the judge's options, the same wherever a command can call it
ModelOpt = typer.Option(None, "--model", help="Judge model (llm, hybrid; rubric build --llm); default $GRADER_MODEL.")
BaseUrlOpt = typer.Option(None, "--base-url", help="OpenAI-compatible server URL; default $OPENAI_BASE_URL.")
NoCacheOpt = typer.Option(False, "--no-cache", help="Do not read or write the judge cache.")
ExamplesOpt = typer.Option(
    None, "--examples", help="JSONL of answers you scored (as for eval): the judge sees the most similar ones "
    "to the same question with their scores (llm/hybrid); default $GRADER_EXAMPLES.")
NExamplesOpt = typer.Option(None, "--n-examples", min=1, max=20, help="Graded examples per answer (default 3).")


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"grader {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """The options of `grader` itself (the help text is the Typer's)."""


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
    from ..render import console

    return console()


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

