"""Human-readable rendering of results and rubrics. Only the CLI imports this.

A grade goes to a terminal through rich (colour); to a pipe or a file as plain lines, unwrapped,
without importing rich (a third of the start-up of `grader grade` had been rich's)."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from .models import GradeResult, Question
    from .plain import Grade


def escape(text: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(text)

VERDICT_STYLE = {
    "covered": ("✔", "green"),
    "partial": ("◐", "yellow"),
    "missing": ("✘", "red"),
    "contradicted": ("⚠", "magenta"),
    "unscored": ("?", "dim"),
}


def _clip(text: str, n: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def console() -> Console:
    """The console the CLI prints to."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def wants_colour(stream=None) -> bool:
    """Does `stream` (stdout) want rich's output: a terminal, or colour forced as rich reads it?"""
    stream = stream or sys.stdout
    if os.environ.get("FORCE_COLOR") or os.environ.get("TTY_COMPATIBLE") == "1":
        return True
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def raw_share(r: GradeResult | Grade) -> str:
    """A rubric that gives full marks before every point is made (an ad-hoc reference's): the
    share of the points' weight the answer made, beside the coverage that the score reads."""
    scored = [p for p in r.points if p.verdict != "unscored"]
    total = sum(p.weight for p in scored)
    raw = sum(p.weight * p.credit for p in scored) / total if total else 0.0
    return f" ({raw:.0%} of the key points' weight; full marks before all of it)" if r.coverage > raw + 0.005 else ""


def print_result(con: Console | None, r: GradeResult | Grade) -> None:
    """Score, then each key point on its own line with its evidence under it, then what is missing.
    Plain lines rather than a table: readable in a narrow terminal and cheap to render. With no
    console (output to a pipe or a file), the same lines without colour, unwrapped."""
    if con is None:
        sys.stdout.write("\n".join(result_lines(r, styled=False)) + "\n")
        sys.stdout.flush()
    else:
        con.print("\n".join(result_lines(r, styled=True)))


def result_lines(r: GradeResult | Grade, styled: bool) -> list[str]:
    """The lines of `print_result`: rich markup when `styled`, else plain text."""
    if styled:
        esc = escape

        def st(style: str, text: str) -> str:
            return f"[{style}]{text}[/]"
    else:
        esc = str

        def st(style: str, text: str) -> str:
            return text

    where = f"question {r.question_id} ({r.bank})" if r.question_id and r.bank else "ad-hoc reference"
    color = "green" if r.normalized >= 0.7 else "yellow" if r.normalized >= 0.4 else "red"
    mode = st("bold yellow", f"{r.mode} -> fuzzy fallback") + " (the judge was not used)" if "llm_fallback" in r.flags else r.mode
    lines = [st(f"bold {color}", f"Score {r.score:g} / {r.max_score:g}")
             + f"  {where}, mode {mode}, coverage {r.coverage:.0%}{raw_share(r)}"]
    if r.flags:
        lines.append("Flags: " + ", ".join(st("bold magenta", f) for f in r.flags))
    lines.append("")
    for p in r.points:
        mark, style = VERDICT_STYLE[p.verdict]
        lines.append(st(style, f"{mark} {p.verdict:<12}") + f" {p.credit:4.2f} x {p.weight:g}  {esc(p.text)}")
        if p.evidence:
            lines.append("      " + st("dim", f"“{esc(_clip(p.evidence))}”"))
        if p.reason:
            lines.append("      " + st("dim", f"({esc(p.reason)})"))
    if r.missing_points:
        lines.append("")
        lines.append(st("bold", "Missing:"))
        lines.extend(f"  {st('red', '-')} {esc(m)}" for m in r.missing_points)
    if r.feedback:
        lines.append("")
        lines.append(f"{st('bold', 'Feedback:')} {esc(r.feedback)}")
    u = r.usage
    if u.llm_calls or u.cache_hits:
        lines.append(st("dim", f"LLM calls {u.llm_calls}, tokens {u.prompt_tokens}+{u.completion_tokens}, cache hits {u.cache_hits}"))
    return lines


def print_rubric(con: Console, q: Question, bank: str) -> None:
    con.print(f"[bold]Question {q.id}[/] ({bank}, rubric {q.rubric.version}{', open question' if q.rubric.open else ''})")
    con.print(escape(q.question))
    if q.rubric.notes:
        con.print(f"[dim]{escape(q.rubric.notes)}[/]")
    from rich.table import Table

    table = Table(show_header=True, header_style="bold")
    table.add_column("id")
    table.add_column("key point", overflow="fold", max_width=50)
    table.add_column("w", justify="right")
    table.add_column("keywords (alias groups)", overflow="fold", max_width=60)
    for p in q.rubric.points:
        kw = " + ".join("{" + " | ".join(g) + "}" for g in p.keywords)
        wrong = "".join(f"\n✗ {m.text}" for m in p.misconceptions)  # the known wrong claims under the point
        table.add_row(p.id, escape(p.text + (f"  [{p.reason}]" if p.reason else "") + wrong), f"{p.weight:g}", escape(kw))
    con.print(table)


def _f(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def print_eval(con: Console, res: dict) -> None:
    con.print(
        f"[bold]n={res['n']}[/]  mode {res['mode']}  Pearson {_f(res['pearson'])}  Spearman {_f(res['spearman'])}  "
        f"QWK {_f(res['qwk'])}  MAE {_f(res['mae'])}"
    )
    if res.get("by_kind"):
        from rich.table import Table

        t = Table(show_header=True, header_style="bold")
        for col in ("kind", "n", "human", "grader", "MAE", "Spearman"):
            t.add_column(col, justify="left" if col == "kind" else "right")
        for k, v in res["by_kind"].items():
            t.add_row(k, str(v["n"]), f"{v['mean_human']:.2f}", f"{v['mean_grader']:.2f}", _f(v["mae"]), _f(v["spearman"]))
        con.print(t)
    if res.get("worst"):
        con.print("[bold]Worst disagreements[/] (id, kind, human, grader):")
        for w in res["worst"]:
            con.print(f"  {w['id']}  {w['kind'] or ''}  {w['human']:.1f}  {w['grader']:.1f}  {' '.join(w['flags'])}")
    if res.get("errors"):
        con.print(f"[red]{len(res['errors'])} rows could not be graded[/], e.g. {escape(res['errors'][0]['error'])}")
    if res.get("unscored"):
        u = res["unscored"][0]
        con.print(f"[yellow]{len(res['unscored'])} rows unscored, left out of the figures[/] "
                  f"(e.g. {escape(u['id'])}: {escape(', '.join(u['flags']))})")
