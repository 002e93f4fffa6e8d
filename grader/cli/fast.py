"""`grader grade QID ANSWER` without typer: the common offline call, parsed here.

Typer builds a pydantic adapter per parameter and imports click and rich: most of the start-up
of a one-answer grade. `run(argv)` handles only the plain form (`grade QID ANSWER` with `--mode
keyword|fuzzy`, `--bank B`, `--json`, in any order) and returns None for anything else (help,
--version, other options, stdin, a value that looks like an option) or when grading raises: the
caller then runs typer, which gives the usual messages and exit statuses.

A bank question's compiled rubric is kept on disk (`compiled-rubrics/` in the user cache
directory), keyed by the bank's files (names, sizes, modification times) and by the grader's
matching code: a cold start loads one pickle instead of YAML, validation and compiling. A stale
or unreadable entry is a miss. The entry holds the question as grading reads it
(`plain.QuestionView`), and the grade is a plain `Grade` (`pipeline.grade_plain`) read from the
environment without a Settings (`environ.OfflineSettings`): a grade printed as lines imports no
pydantic at all, nor does `--json` for a grade json writes as pydantic would (`Grade.to_json`).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
from pathlib import Path

OFFLINE = ("keyword", "fuzzy")
_VALUED = {"--mode": "mode", "-m": "mode", "--bank": "bank", "-b": "bank"}
# the code a compiled rubric depends on: a change to any of these invalidates every entry
_SOURCES = ("text.py", "models.py", "plain.py", "banks.py", "__init__.py")  # and every module of matchers/ (what is pickled)


def parse(argv: list[str]) -> dict | None:
    """{"qid", "answer", "mode", "bank", "json"} for the plain form of `grade`, else None."""
    if len(argv) < 3 or argv[0] != "grade":
        return None
    out: dict = {"mode": None, "bank": None, "json": False}
    positional: list[str] = []
    i = 1
    while i < len(argv):
        tok = argv[i]
        if tok == "--json" and not out["json"]:
            out["json"] = True
        elif tok in _VALUED and out[_VALUED[tok]] is None and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
            out[_VALUED[tok]] = argv[i + 1]
            i += 1
        elif tok.startswith("-"):
            return None  # "-" (stdin), "--", --help, --version, any other option: typer's
        else:
            positional.append(tok)
        i += 1
    if len(positional) != 2:
        return None
    out["qid"], out["answer"] = positional
    return out


def _code_key() -> str:
    pkg = Path(__file__).resolve().parent.parent
    h = hashlib.sha256(f"{sys.version_info[:2]}|{pickle.HIGHEST_PROTOCOL}".encode())
    for path in [pkg / name for name in _SOURCES] + sorted((pkg / "matchers").glob("*.py")):
        h.update(path.read_bytes())
    return h.hexdigest()[:20]


def cache_dir() -> Path:
    from ..environ import _user_dir

    return _user_dir("cache") / "compiled-rubrics"


def load_compiled(bank: str | None, qid: str):
    """(question, bank name) of a bank question, its compiled rubric registered for grading:
    from the disk cache when its entry is current, else loaded, compiled and stored. The question
    is a `plain.QuestionView` (what grading reads of it)."""
    from ..banks import _signature, load_question, resolve_bank_path
    from ..matchers import compiled as comp
    from ..plain import QuestionView

    path = resolve_bank_path(bank)
    key = hashlib.sha256(repr((str(path), str(qid).strip(), _signature(path), _code_key())).encode()).hexdigest()
    entry = cache_dir() / f"{key[:32]}.pickle"
    try:
        with open(entry, "rb") as f:
            question, bank_name, context, compiled = pickle.load(f)
    except Exception:  # absent, stale format or corrupt: a miss
        full, info = load_question(path, qid)
        bank_name = info.name
        context = full.question + "\n" + (full.reference_answer or "")
        compiled = comp.compile_rubric(full.rubric, context)
        question = QuestionView.of(full, compiled)
        comp.remember(question.rubric, context, compiled)
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            tmp = entry.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(pickle.dumps((question, bank_name, context, compiled), protocol=pickle.HIGHEST_PROTOCOL))
            os.replace(tmp, entry)
        except OSError:
            pass  # a read-only cache directory costs speed only
        return question, bank_name
    comp.remember(question.rubric, context, compiled)
    return question, bank_name


def run(argv: list[str]) -> int | None:
    """Grade and print, returning the exit status; None: not handled here, nothing printed."""
    args = parse(argv)
    if args is None:
        return None
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    try:
        from ..environ import OfflineSettings
        from ..pipeline import grade_plain

        settings = OfflineSettings(mode=args["mode"])
        if settings.mode not in OFFLINE:
            return None
        question, bank_name = load_compiled(args["bank"] or settings.bank, args["qid"])
        result = grade_plain(question, args["answer"], settings.mode, settings, bank_name)  # type: ignore[arg-type]
    except KeyboardInterrupt:
        sys.stderr.write("grader: error: interrupted\n")
        return 130
    except Exception:
        return None  # typer runs it again and reports the error as it always does
    if args["json"]:
        text = result.to_json()
        if text is None:
            from ..models import GradeResult

            text = GradeResult.of(result).model_dump_json(indent=2)
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    else:
        from ..render import console, print_result, wants_colour

        print_result(console() if wants_colour() else None, result)
    return 0
