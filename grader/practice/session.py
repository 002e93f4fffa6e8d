"""`grader practice` and `grader review`: an interactive session that reads plain lines.

The session never puts the terminal in raw mode: it reads lines from stdin, so a person types at
it and a script (or a test) drives it through a pipe the same way.

    pick a question (schedule.pick_next: due reviews, then new ones, then the weakest)
    -> show it, read a multi-line answer (a line ".", two empty lines, or Ctrl-D ends it)
    -> grade it (the pipeline: offline fuzzy, or the judge when configured)
    -> store the attempt at once (history.History; the fallback file when the database fails)
    -> show the score, the answer with the evidence marked, covered and missed points, the reference
    -> read corrections ("c 3", "m 2", "s 6") until Enter (next question) or "q" (quit)

An empty answer is recorded as "did not know" (score 0) once the learner confirms it (stray Enters
are not an attempt): for spaced repetition that is the most useful attempt of all. `u` takes back
the attempt just graded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import TextIO

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel

from ..banks import load_bank
from ..errors import GraderError, HistoryError
from .history import Attempt, AttemptPoint, History, save_fallback
from ..pipeline import Grader
from .schedule import Pick, Progress, PointStat, due_questions, pick_next, review_of, reviews
from ..settings import Settings
from .views import marked_answer, print_points, reference_text, score_line

END_HELP = 'End your answer with a line holding only "." (or two empty lines, or Ctrl-D).'
SKIP_HELP = "Type /skip to skip this question, /quit to stop."
AGREE_HELP = (
    "Disagree? [bold]c N[/] point N was covered · [bold]m N[/] point N was missed · "
    "[bold]s X[/] your own score (0-10) · [bold]u[/] undo this attempt · [bold]r[/] reference answer\n"
    "[bold]Enter[/] next question · [bold]q[/] quit"
)
REFERENCE_LINES = 12  # shown after a grade; the rest on `r`, so the score stays on a 40-row screen


class Lines:
    """Plain lines from a stream; None at end of input (Ctrl-D, or the end of a pipe)."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def read(self) -> str | None:
        line = self.stream.readline()
        return None if line == "" else line.rstrip("\r\n")


def read_answer(lines: Lines) -> tuple[str, str]:
    """("answer", text) | ("skip", "") | ("quit", "") | ("eof", "") when input ends before any text."""
    buf: list[str] = []
    blanks = 0
    while True:
        line = lines.read()
        if line is None:
            text = "\n".join(buf).strip()
            return ("answer", text) if text else ("eof", "")
        cmd = line.strip()
        if not any(b.strip() for b in buf) and cmd in ("/skip", "/quit"):
            return cmd[1:], ""
        if cmd == ".":
            break
        if cmd == "":
            blanks += 1
            if blanks >= 2:
                break
        else:
            blanks = 0
        buf.append(line)
    return "answer", "\n".join(buf).strip()


# ------------------------------------------------------------------ the session


@dataclass
class Session:
    settings: Settings
    con: Console
    lines: Lines
    bank_ref: str | None = None
    mode: str | None = None
    due_only: bool = False
    today: date = field(default_factory=date.today)
    history: History | None = None
    history_error: HistoryError | None = None
    attempts: list[Attempt] = field(default_factory=list)
    graded: int = 0
    unsaved: list[str] = field(default_factory=list)  # where attempts went when the database failed

    def __post_init__(self) -> None:
        self.grader = Grader(self.settings, bank=self.bank_ref)
        self.bank = load_bank(self.bank_ref or self.settings.bank)
        self.mode = self.mode or self.settings.mode
        self.db_path = self.settings.resolved_history_path()

    # -------------------------------------------------------------- history

    def open_history(self) -> None:
        """Open the database; when it cannot be used, warn and keep going (attempts go to the fallback file)."""
        try:
            self.history = History(self.db_path, timeout=self.settings.history_timeout)
        except HistoryError as exc:
            self.history_error = exc
            self.con.print(f"[bold red]History unavailable:[/] {escape(str(exc))}")
            self.con.print(f"[red]Your answers will be kept in {escape(str(self.db_path))}.unsaved.jsonl instead.[/]")
            return
        if self.history.imported:
            self.con.print(f"[dim]Imported {self.history.imported} attempts saved while the history was unavailable.[/]")
        self.attempts = self.history.all(bank=self.bank.name)

    def close(self) -> None:
        if self.history is not None:
            self.history.close()

    def _db_failed(self, exc: HistoryError) -> None:
        self.history_error = exc
        self.con.print(f"[bold red]Could not save to the history:[/] {escape(str(exc))}")
        if self.history is not None:
            self.history.close()
            self.history = None

    def store_new(self, attempt: Attempt) -> bool:
        """Store an attempt right after grading; False when it must go to the fallback file."""
        if self.history is None:
            return False
        try:
            self.history.add(attempt)
            return True
        except HistoryError as exc:
            self._db_failed(exc)
            return False

    def store_final(self, attempt: Attempt, stored: bool) -> None:
        """After the corrections: update the stored attempt, or keep it in the fallback file."""
        if stored and self.history is not None:
            if not attempt.corrected:
                return
            try:
                self.history.save_corrections(attempt)
                return
            except HistoryError as exc:
                self._db_failed(exc)
        where = save_fallback(self.db_path, attempt)
        self.unsaved.append(where)
        self.con.print(f"[yellow]Attempt kept in {escape(where)}; it is imported into the history once the database works.[/]")

    # -------------------------------------------------------------- one question

    def header(self) -> None:
        judge = f", judge {self.settings.model}" if self.mode in ("llm", "hybrid") and self.settings.model else ""
        offline = " (offline)" if self.mode in ("keyword", "fuzzy") else ""
        kind = "Review" if self.due_only else "Practice"
        self.con.print(
            f"[bold]{kind}[/] · {escape(self.bank.info.title)} ({self.bank.name}, {len(self.bank.questions)} questions)"
            f" · mode {self.mode}{offline}{escape(judge)}"
        )
        if self.history is not None:
            self.con.print(f"[dim]History: {escape(str(self.db_path))}[/]")

    def ask(self, pick: Pick) -> str:
        """Practise one question. Returns "next", "skip" or "quit"."""
        q = self.bank.questions[pick.question_id]
        why = {"due": pick.detail, "weakest": f"weakest ({pick.detail})", "chosen": "your choice"}.get(pick.reason, pick.reason)
        self.con.rule(f"Question {q.id} · {why}", align="left")
        self.con.print(f"[bold]{escape(q.question)}[/]")
        self.remind(q.id)
        self.con.print(f"[dim]{END_HELP} {SKIP_HELP}[/]")
        self.con.file.flush()
        kind, text = self.read()
        if kind != "answer":
            return kind
        try:
            result = self.grader.grade(q.id, text, mode=self.mode)
        except GraderError as exc:  # e.g. the judge failed with no fallback: give the answer back
            self.con.print(f"[bold red]Could not grade this answer:[/] {escape(str(exc))}")
            self.con.print("[dim]Your answer, to copy:[/]")
            self.con.print(text, markup=False, highlight=False)
            return "skip"
        attempt = Attempt.from_result(result, text, datetime.now(timezone.utc))
        stored = self.store_new(attempt)
        self.graded += 1
        action = "quit"
        try:
            self.show(attempt, q, result.feedback)
            action = self.disagree(attempt, q)
        finally:  # an interrupted correction still keeps the attempt
            if action != "undone":
                self.store_final(attempt, stored)
                self.attempts.append(attempt)
        if action == "undone":
            return "next"
        r = review_of([a for a in self.attempts if a.question_id == q.id])
        if r.due is not None:
            days = (r.due - self.today).days
            when = "today" if days <= 0 else "tomorrow" if days == 1 else f"in {days} days"
            saved = f"Saved as attempt #{attempt.id}. " if stored and attempt.id else ""
            self.con.print(f"[dim]{saved}Next review of question {q.id}: {r.due.isoformat()} ({when}).[/]")
        return action

    def read(self) -> tuple[str, str]:
        """("answer", text) | ("skip", "") | ("quit", ""). Nothing written asks first: `y` records the
        question as not known (an empty answer, score 0); Enter goes back to writing."""
        while True:
            kind, text = read_answer(self.lines)
            if kind in ("quit", "eof"):
                return "quit", ""
            if kind == "skip":
                self.con.print("[dim]Skipped.[/]")
                return "skip", ""
            if text:
                return "answer", text
            self.con.print("Nothing written. Record this question as not known (score 0)? [bold]y[/] yes · "
                           "[bold]Enter[/] write an answer after all · [bold]/skip[/] · [bold]/quit[/]")
            self.con.print("> ", end="")
            self.con.file.flush()
            line = self.lines.read()
            reply = "/quit" if line is None else line.strip()  # end of input: the session ends
            if reply.lower() in ("y", "yes"):
                self.con.print("[dim]Recorded as not known.[/]")
                return "answer", ""
            if reply in ("/quit", "/skip"):
                if reply == "/skip":
                    self.con.print("[dim]Skipped.[/]")
                return reply[1:], ""
            self.con.print(f"[dim]{END_HELP}[/]")

    def remind(self, qid: str) -> None:
        """What the last attempt at this question missed: what to make this time."""
        before = [a for a in self.attempts if a.question_id == qid and a.bank == self.bank.name]
        if not before:
            return
        last = before[-1]
        missed = [p.text for p in last.points if p.effective_verdict in ("missing", "contradicted")]
        when = last.created_at.astimezone().strftime("%Y-%m-%d")
        if not missed:
            self.con.print(f"[dim]Last time ({when}, score {last.final_score:g}) you made every key point.[/]")
            return
        self.con.print(f"[yellow]Last time ({when}, score {last.final_score:g}) you missed:[/]")
        for text in missed[:6]:
            self.con.print(f"  [yellow]-[/] {escape(text)}")
        if len(missed) > 6:
            self.con.print(f"  [dim]… and {len(missed) - 6} more[/]")

    def show(self, a: Attempt, q, feedback: str) -> None:
        """The answer with its evidence, the points, a clipped reference, and the score last: what
        stays on screen above the prompt is the score and what was missed."""
        self.con.print(Panel(marked_answer(a.answer, a.points), title="your answer (evidence marked [N])", title_align="left"))
        if q.reference_answer:
            self.show_reference(q, REFERENCE_LINES)
        else:
            self.con.print("[dim]This question has no reference answer: the key points below are what it asks for.[/]")
        print_points(self.con, a.points)
        if feedback:
            self.con.print(f"[bold]Feedback:[/] {escape(feedback)}")
        self.con.print(score_line(a))

    def show_reference(self, q, limit: int | None = None) -> None:
        lines = reference_text(q.reference_answer).splitlines()
        more = len(lines) - limit if limit is not None and len(lines) > limit else 0
        body = "\n".join(lines[:limit] if more else lines)
        title = f"reference answer (first {limit} lines; [bold]r[/] shows all {len(lines)})" if more else "reference answer"
        self.con.print(Panel(body, title=title, title_align="left"))

    def disagree(self, a: Attempt, q=None) -> str:
        self.con.print(AGREE_HELP)
        while True:
            self.con.print("> ", end="")
            self.con.file.flush()
            line = self.lines.read()
            if line is None:
                self.con.print()
                return "quit"
            cmd = line.strip()
            if cmd.lower() in ("", "n", "next"):
                return "next"
            if cmd.lower() in ("q", "quit", "/quit", "exit"):
                return "quit"
            if cmd.lower() in ("u", "undo"):
                if self.undo(a):
                    return "undone"
                continue
            if cmd.lower() in ("r", "ref", "reference") and q is not None and q.reference_answer:
                self.show_reference(q)
                continue
            try:
                self.con.print(apply_command(a, cmd))
                if q is not None and a.learner_score is None and any(p.learner_verdict for p in a.points):
                    self.con.print(f"[bold]Score with your corrections: {corrected_score(a, q):g} / {a.max_score:g}[/]"
                                   f" (the grader gave {a.score:g}; [bold]s X[/] records your own score)")
            except (ValueError, HistoryError) as exc:
                self.con.print(f"[red]{escape(str(exc))}[/]")

    def undo(self, a: Attempt) -> bool:
        """Take back the attempt just graded: out of the history and the schedule."""
        if self.history is not None and a.id is not None:
            try:
                self.history.delete(a.id)
            except HistoryError as exc:
                self.con.print(f"[red]Could not undo: {escape(str(exc))}[/]")
                return False
        self.graded -= 1
        self.con.print(f"[yellow]Attempt taken back: question {a.question_id} is not recorded and not scheduled.[/]")
        return True

    def due_now(self) -> list:
        return due_questions(self.attempts, self.today, self.bank.name)

    def nothing_due_message(self) -> str:
        upcoming = sorted((r.due, k[1]) for k, r in reviews(self.attempts).items() if r.due is not None)
        if not upcoming:
            return f"Nothing is due for review in {self.bank.name}: no question practised yet. Start with: grader practice"
        d, qid = upcoming[0]
        return f"Nothing is due for review in {self.bank.name}. Next: question {qid} on {d.isoformat()}."

    # -------------------------------------------------------------- the loop

    def run(self, first: str | None = None) -> int:
        """Run until the learner quits or nothing is left; returns the number of graded answers."""
        self.header()
        done: set[str] = set()
        number = 0
        while True:
            if first is not None:
                pick, first = Pick(first, "chosen", ""), None
            else:
                pick = pick_next(self.bank.name, list(self.bank.questions), self.attempts, self.today, done, self.due_only)
            if pick is None:
                if self.due_only:
                    self.con.print("[green]Nothing more is due for review.[/]" if number else "Nothing is due for review.")
                else:
                    self.con.print("[green]You have practised every question of the bank in this session.[/]")
                break
            number += 1
            action = self.ask(pick)
            done.add(pick.question_id)
            if action == "quit":
                break
        self.con.print(f"[bold]Session over:[/] {self.graded} answer{'s' if self.graded != 1 else ''} graded.")
        return self.graded


_CMD = re.compile(r"^(c|covered|m|missed|missing|s|score)\s*[:=]?\s*(.+)$", re.IGNORECASE)


def apply_command(a: Attempt, cmd: str) -> str:
    """Apply one correction typed by the learner; returns the confirmation to print."""
    m = _CMD.match(cmd)
    if not m:
        raise ValueError(f"unknown command {cmd!r}: use c N, m N, s X, Enter or q")
    verb, arg = m.group(1).lower()[0], m.group(2).strip()
    if verb == "s":
        try:
            score = float(arg.replace(",", "."))
        except ValueError:
            raise ValueError(f"{arg!r} is not a score: type e.g. s 6.5") from None
        a.correct(score=score)
        return f"Your score: {score:g} / {a.max_score:g} (the grader gave {a.score:g})."
    verdict = "covered" if verb == "c" else "missing"
    numbers = []
    for tok in re.split(r"[\s,]+", arg):
        if not tok.isdigit() or not 1 <= int(tok) <= len(a.points):
            raise ValueError(f"{tok!r} is not a point number: use 1-{len(a.points)}")
        numbers.append(int(tok))
    a.correct({a.points[n - 1].id: verdict for n in numbers})  # type: ignore[misc]
    label = "covered" if verdict == "covered" else "missed"
    return "Marked " + ", ".join(f"point {n}" for n in numbers) + f" as {label}."


def corrected_score(a: Attempt, q) -> float:
    """The score the attempt earns with the learner's point corrections, by the rubric's own rule."""
    from ..aggregate import DEFAULT_CALIBRATION, aggregate
    from ..models import PointResult

    points = []
    for p in a.points:
        verdict = p.effective_verdict
        credit = 1.0 if verdict == "covered" and p.learner_verdict else 0.0 if p.learner_verdict else p.credit
        points.append(PointResult(id=p.id, text=p.text, weight=p.weight, verdict=verdict, credit=credit, method="keyword"))
    knots = tuple(q.rubric.calibration) if q.rubric.calibration else DEFAULT_CALIBRATION
    return aggregate(points, max_score=a.max_score, knots=knots, full_marks_at=q.rubric.full_marks_at).score
