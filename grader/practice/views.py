"""What a learner sees and takes away: an attempt with its evidence marked, the list of attempts,
the statistics, and an attempt as a line of `grader eval`'s LABELED format."""

from __future__ import annotations

import re
from datetime import date

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..render import VERDICT_STYLE
from ..text import locate
from .history import Attempt, AttemptPoint
from .schedule import PointStat, Progress


# ------------------------------------------------------------------ rendering (also `history show`)


def marked_answer(answer: str, points: list[AttemptPoint]) -> Text:
    """The answer with each credited point's evidence highlighted and tagged with its number."""
    text = Text(answer)
    tags: dict[int, list[int]] = {}
    order = sorted(range(len(points)), key=lambda i: points[i].effective_verdict == "covered")  # covered wins
    for i in order:
        p = points[i]
        if not p.evidence or p.effective_verdict not in ("covered", "partial"):
            continue
        span = locate(answer, p.evidence)
        if span is None:
            continue
        text.stylize("bold green" if p.effective_verdict == "covered" else "yellow", *span)
        tags.setdefault(span[1], []).append(i + 1)
    for end in sorted(tags, reverse=True):
        label = Text("[" + ",".join(str(n) for n in sorted(tags[end])) + "]", style="dim cyan")
        text = Text.assemble(text[:end], label, text[end:])
    return text


def _clip(s: str, n: int = 140) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 1] + "…"


def print_points(con: Console, points: list[AttemptPoint]) -> None:
    """Points grouped by verdict, numbered as in the rubric (the numbers the corrections use)."""
    groups = [
        ("Covered", ("covered",)),
        ("Partly covered", ("partial",)),
        ("Missed", ("missing", "contradicted")),
        ("Not judged", ("unscored",)),
    ]
    for title, verdicts in groups:
        rows = [(i, p) for i, p in enumerate(points, start=1) if p.effective_verdict in verdicts]
        if not rows:
            continue
        con.print(f"[bold]{title}[/]")
        grid = Table.grid(padding=(0, 1))
        grid.add_column(justify="right", style="cyan", min_width=3)
        grid.add_column(width=1)
        grid.add_column(overflow="fold")
        for i, p in rows:
            mark, style = VERDICT_STYLE.get(p.effective_verdict, ("?", "dim"))
            body = escape(p.text)
            if p.learner_verdict and p.learner_verdict != p.verdict:
                body += f" [dim](you: {p.learner_verdict}; grader: {p.verdict})[/]"
            elif p.verdict == "contradicted":
                body += " [magenta](your answer says the opposite)[/]"
            if p.evidence and p.effective_verdict in ("covered", "partial"):
                body += f"\n[dim]“{escape(_clip(p.evidence, 60))}”[/]"
            grid.add_row(str(i), f"[{style}]{mark}[/]", body)
        con.print(grid)


def score_line(a: Attempt) -> str:
    n = a.normalized
    color = "green" if n >= 0.7 else "yellow" if n >= 0.4 else "red"
    own = f"  [bold]your score {a.learner_score:g}[/] (grader {a.score:g})" if a.learner_score is not None else ""
    flags = ("  flags: " + ", ".join(a.flags)) if a.flags else ""
    return f"[bold {color}]Score {a.final_score:g} / {a.max_score:g}[/]{own}  [dim]mode {a.mode}{escape(flags)}[/]"


def print_attempt(con: Console, a: Attempt, question: str | None = None) -> None:
    """One stored attempt (`grader history show`)."""
    when = a.created_at.astimezone().strftime("%Y-%m-%d %H:%M")
    con.print(f"[bold]Attempt #{a.id}[/]  {when}  question {a.question_id} ({a.bank}), rubric {a.rubric_version or '?'}")
    if question:
        con.print(escape(question))
    con.print(score_line(a))
    con.print(Panel(marked_answer(a.answer, a.points), title="answer", title_align="left", expand=True))
    print_points(con, a.points)


_SYMBOLS = {"times": "×", "cdot": "·", "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥", "approx": "≈", "ne": "≠",
            "infty": "∞", "sum": "Σ", "theta": "θ", "alpha": "α", "beta": "β", "lambda": "λ", "sigma": "σ", "mu": "μ",
            "pi": "π", "to": "→", "rightarrow": "→", "quad": " ", "qquad": "  ", "left": "", "right": "", "in": "∈"}


def math_text(tex: str) -> str:
    """LaTeX as it reads in a terminal: \\text{KV} -> KV, \\frac{a}{b} -> (a)/(b), \\times -> ×."""
    t = tex
    for _ in range(4):
        t = re.sub(r"\\(?:text|mathrm|mathbf|operatorname|textbf)\{([^{}]*)\}", r"\1", t)
        t = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"(\1)/(\2)", t)
        t = re.sub(r"\\sqrt\{([^{}]*)\}", r"√(\1)", t)
    t = re.sub(r"\\([A-Za-z]+)", lambda m: _SYMBOLS.get(m.group(1), m.group(1)), t)
    t = re.sub(r"\\[,;! ]", " ", t).replace("{", "").replace("}", "")
    return " ".join(t.split())


def reference_text(text: str) -> str:
    """The reference answer as it reads (rich markup): its layout kept, <strong> and **bold** bold,
    $math$ as text, a table's rows as cells joined by " │ ", other tags dropped."""
    lines = []
    for line in text.splitlines():
        cells = line.strip()
        if cells.startswith("|") and cells.endswith("|") and len(cells) > 1:
            if re.fullmatch(r"\|[\s:|-]+\|", cells):
                continue  # the header's rule
            line = " │ ".join(c.strip() for c in cells[1:-1].split("|"))
        lines.append(line)
    out = escape("\n".join(lines))
    out = re.sub(r"\$\$(.+?)\$\$", lambda m: math_text(m.group(1)), out, flags=re.S)
    out = re.sub(r"\$([^$\n]+)\$", lambda m: math_text(m.group(1)), out)
    out = re.sub(r"<strong>(.*?)</strong>", r"[bold]\1[/bold]", out, flags=re.S)
    out = re.sub(r"\*\*([^*\n]+)\*\*", r"[bold]\1[/bold]", out)
    out = re.sub(r"<br\s*/?>", "\n", out)
    return re.sub(r"</?[a-zA-Z][^<>]{0,200}>", "", out)


# ------------------------------------------------------------------ `grader history` and `grader stats`


def print_attempts(con: Console, attempts: list[Attempt], path) -> None:
    if not attempts:
        con.print(f"No attempts yet in {escape(str(path))}. Start with: grader practice")
        return
    banks = len({a.bank for a in attempts}) > 1
    table = Table(show_header=True, header_style="bold", expand=True)
    cols = ["id", "when", "question"] + (["bank"] if banks else []) + ["mode", "score", "missed", "answer"]
    for col in cols:
        right = col in ("id", "score", "missed")
        table.add_column(col, justify="right" if right else "left", no_wrap=True, overflow="ellipsis",
                         ratio=1 if col == "answer" else None)
    for a in attempts:
        score = f"{a.final_score:g}" + ("*" if a.learner_score is not None else "")
        row = [str(a.id), a.created_at.astimezone().strftime("%Y-%m-%d %H:%M"), a.question_id]
        row += ([a.bank] if banks else []) + [a.mode, score, str(sum(p.missed for p in a.points)), escape(_clip(a.answer, 200))]
        table.add_row(*row)
    con.print(table)
    if any(a.learner_score is not None for a in attempts):
        con.print("[dim]* your own score. grader history show ID shows one attempt.[/]")
    else:
        con.print("[dim]grader history show ID shows one attempt.[/]")


def print_stats(con: Console, n: int, weak: list[PointStat], prog: list[Progress], today: date) -> None:
    if not n:
        con.print("No attempts yet. Start with: grader practice")
        return
    con.print(f"[bold]{n} attempt{'s' if n != 1 else ''}[/] on {len(prog)} question{'s' if len(prog) != 1 else ''}")
    t = Table(title="Weakest key points", title_justify="left", show_header=True, header_style="bold")
    for col in ("question", "key point", "miss rate", "attempts", "✔", "◐", "✘"):
        t.add_column(col, justify="left" if col in ("question", "key point") else "right",
                     overflow="fold", max_width=44 if col == "key point" else None)
    for w in weak:
        t.add_row(f"{w.question_id}", escape(_clip(w.text, 80)), f"{w.miss_rate:.0%}", str(w.attempts),
                  str(w.covered), str(w.partial), str(w.missed))
    con.print(t)
    t = Table(title="Progress per question", title_justify="left", show_header=True, header_style="bold")
    for col in ("question", "attempts", "best", "last", "next review"):
        t.add_column(col, justify="left" if col in ("question", "next review") else "right")
    for p in prog:
        when = "[bold red]due now[/]" if p.due else p.next_due.isoformat()
        t.add_row(f"{p.question_id} ({p.bank})", str(p.attempts), f"{p.best:g}", f"{p.last:g}", when)
    con.print(t)
    due = sum(p.due for p in prog)
    if due:
        con.print(f"{due} question{'s are' if due > 1 else ' is'} due: grader review")


def label_row(attempt: Attempt) -> dict:
    """One line of `grader eval`'s LABELED format: the learner's own score is the human label.

    Only attempts with an own score are labels: an attempt the learner let pass is not an
    independent judgement of the answer."""
    from ..banks import bundled_banks

    row = {
        "id": f"practice-{attempt.uid[:12]}",
        "question_id": attempt.question_id,
        "answer": attempt.answer,
        "score": attempt.learner_score,
        "max_score": attempt.max_score,
        "kind": "practice",
        "grader_score": attempt.score,
        "mode": attempt.mode,
        "rubric_version": attempt.rubric_version,
        "attempt_id": attempt.id,
        "corrections": {p.id: p.learner_verdict for p in attempt.points if p.learner_verdict},
    }
    # a bundled bank is named so eval finds it; a bank from a directory is given with `eval --bank DIR`
    if attempt.bank in bundled_banks():
        row["bank"] = attempt.bank
    return row
