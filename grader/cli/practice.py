"""`grader practice|review|history|stats`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from ..errors import GraderError, UsageError

from .app import BankOpt, BaseUrlOpt, JsonOpt, ModelOpt, ModeOpt, _console, _run, _settings, app


# ------------------------------------------------------------------ practice, review, history, stats
# The practice commands import sqlite3 and the history code inside their functions, so `grader grade`
# start-up does not pay for them.

history_app = typer.Typer(help="List past practice attempts, show one, export corrections as labels.")
app.add_typer(history_app, name="history")


def _practice(bank: Optional[str], question: Optional[str], mode: Optional[str], model: Optional[str],
              base_url: Optional[str], due_only: bool) -> None:
    from ..banks import get_question
    from ..practice.session import Lines, Session

    settings = _settings(mode=mode, model=model, base_url=base_url)

    def work() -> None:
        session = Session(settings, _console(), Lines(sys.stdin), bank_ref=bank, mode=settings.mode, due_only=due_only)
        if question is not None:
            get_question(session.bank, question)
        session.open_history()
        try:
            if due_only and session.history is None:
                raise session.history_error  # type: ignore[misc]
            if due_only and question is None and not session.due_now():
                session.con.print(session.nothing_due_message())
                return
            session.run(first=question)
        finally:
            session.close()
        if session.unsaved:
            err = session.history_error
            raise type(err)(  # type: ignore[misc]
                f"{len(session.unsaved)} attempt(s) kept in {session.unsaved[-1]} because the history could not "
                f"take them: {err}"
            )

    _run(work)


@app.command()
def practice(
    bank: Optional[str] = BankOpt,
    question: Optional[str] = typer.Option(None, "--question", "-q", help="Start with this question id."),
    mode: Optional[str] = ModeOpt,
    model: Optional[str] = ModelOpt,
    base_url: Optional[str] = BaseUrlOpt,
) -> None:
    """Practise interactively: answer, see what you covered and missed, correct the grader.

    Questions come due reviews first, then new ones, then your weakest. Reads plain lines from stdin
    (a line "." ends an answer), so it can be driven through a pipe. History: $GRADER_HISTORY or the
    user data directory."""
    _practice(bank, question, mode, model, base_url, due_only=False)


@app.command()
def review(
    bank: Optional[str] = BankOpt,
    mode: Optional[str] = ModeOpt,
    model: Optional[str] = ModelOpt,
    base_url: Optional[str] = BaseUrlOpt,
) -> None:
    """Practise the questions due for review (spaced repetition); says so and exits 0 when none is due."""
    _practice(bank, None, mode, model, base_url, due_only=True)


def _open_history():
    from ..practice.history import History

    settings = _settings()
    h = _run(lambda: History(settings.resolved_history_path(), timeout=settings.history_timeout))
    if h.imported:
        typer.echo(f"grader: imported {h.imported} attempts kept while the history was unavailable", err=True)
    return h


@history_app.callback(invoke_without_command=True)
def history_list(
    ctx: typer.Context,
    question: Optional[str] = typer.Option(None, "--question", "-q", help="Only this question id."),
    bank: Optional[str] = typer.Option(None, "--bank", "-b", help="Only this bank (its name)."),
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="How many attempts to list, newest first."),
    export_labels: Optional[Path] = typer.Option(
        None, "--export-labels", help="Write the attempts you scored yourself as JSONL for 'grader eval' (kind practice)."),
    as_json: bool = JsonOpt,
) -> None:
    """List practice attempts, newest first. `grader history show ID` shows one."""
    if ctx.invoked_subcommand:
        return
    h = _open_history()
    try:
        if export_labels is not None:
            _export_labels(h, export_labels, question, bank)
            return
        attempts = _run(lambda: h.recent(question_id=question, bank=bank, limit=limit))
    finally:
        h.close()
    if as_json:
        typer.echo(json.dumps([a.model_dump(mode="json") for a in attempts], ensure_ascii=False, indent=2))
        return
    from ..practice.views import print_attempts

    print_attempts(_console(), attempts, h.path)


def _export_labels(h, out: Path, question: Optional[str], bank: Optional[str]) -> None:
    from ..practice.views import label_row

    attempts = _run(lambda: h.all(bank=bank, question_id=question))
    rows = [label_row(a) for a in attempts if a.learner_score is not None]

    def write() -> None:
        try:
            with open(out, "w", encoding="utf-8") as f:
                for r in rows:
                    f.write(json.dumps(r, ensure_ascii=False) + "\n")
        except OSError as exc:
            raise UsageError(f"cannot write {out}: {exc.strerror or exc}; pass a writable path") from None

    _run(write)
    typer.echo(f"wrote {len(rows)} labelled answers to {out} (attempts with your own score; "
         f"{len(attempts) - len(rows)} without one left out); measure with: grader eval {out}", err=True)


@history_app.command("show")
def history_show(attempt_id: int = typer.Argument(..., metavar="ID"), as_json: bool = JsonOpt) -> None:
    """Show one attempt: the answer with the evidence marked, the verdicts and your corrections."""
    h = _open_history()
    try:
        a = _run(lambda: h.get(attempt_id))
    finally:
        h.close()
    if as_json:
        typer.echo(json.dumps(a.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return
    from ..practice.views import print_attempt

    question = None
    try:
        from ..banks import load_question

        question = load_question(a.bank, a.question_id)[0].question
    except GraderError:
        pass  # a bank from a directory, or a question since removed: show the attempt alone
    print_attempt(_console(), a, question)


@app.command()
def stats(
    bank: Optional[str] = typer.Option(None, "--bank", "-b", help="Only this bank (its name)."),
    limit: int = typer.Option(10, "--limit", "-n", min=1, help="How many weak key points to list."),
    as_json: bool = JsonOpt,
) -> None:
    """Your weakest key points (miss rate, attempts) and progress per question (best, last, next due)."""
    from datetime import date

    from ..practice.schedule import point_stats, progress

    h = _open_history()
    try:
        attempts = _run(lambda: h.all(bank=bank))
    finally:
        h.close()
    today = date.today()
    weak = point_stats(attempts)[:limit]
    prog = progress(attempts, today)
    if as_json:
        out = {
            "attempts": len(attempts),
            "weak_points": [
                {"bank": w.bank, "question_id": w.question_id, "point_id": w.point_id, "text": w.text,
                 "attempts": w.attempts, "covered": w.covered, "partial": w.partial, "missed": w.missed,
                 "miss_rate": round(w.miss_rate, 4)} for w in weak
            ],
            "questions": [
                {"bank": p.bank, "question_id": p.question_id, "attempts": p.attempts, "best": p.best, "last": p.last,
                 "max_score": p.max_score, "last_at": p.last_at.isoformat(), "next_due": p.next_due.isoformat(),
                 "due": p.due} for p in prog
            ],
        }
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    from ..practice.views import print_stats

    print_stats(_console(), len(attempts), weak, prog, today)
