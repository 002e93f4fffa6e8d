"""Human-readable rendering of results and rubrics (rich). Only the CLI imports this."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from .models import GradeResult, Question

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
    return Console(highlight=False, soft_wrap=False)


def raw_share(r: GradeResult) -> str:
    """A rubric that gives full marks before every point is made (an ad-hoc reference's): the
    share of the points' weight the answer made, beside the coverage that the score reads."""
    scored = [p for p in r.points if p.verdict != "unscored"]
    total = sum(p.weight for p in scored)
    raw = sum(p.weight * p.credit for p in scored) / total if total else 0.0
    return f" ({raw:.0%} of the key points' weight; full marks before all of it)" if r.coverage > raw + 0.005 else ""


def print_result(con: Console, r: GradeResult) -> None:
    """Score, then each key point on its own line with its evidence under it, then what is missing.
    Plain lines rather than a table: readable in a narrow terminal and cheap to render."""
    where = f"question {r.question_id} ({r.bank})" if r.question_id and r.bank else "ad-hoc reference"
    color = "green" if r.normalized >= 0.7 else "yellow" if r.normalized >= 0.4 else "red"
    mode = f"[bold yellow]{r.mode} -> fuzzy fallback[/] (the judge was not used)" if "llm_fallback" in r.flags else r.mode
    lines = [f"[bold {color}]Score {r.score:g} / {r.max_score:g}[/]  {where}, mode {mode}, coverage {r.coverage:.0%}{raw_share(r)}"]
    if r.flags:
        lines.append("Flags: " + ", ".join(f"[bold magenta]{f}[/]" for f in r.flags))
    lines.append("")
    for p in r.points:
        mark, style = VERDICT_STYLE[p.verdict]
        lines.append(f"[{style}]{mark} {p.verdict:<12}[/] {p.credit:4.2f} x {p.weight:g}  {escape(p.text)}")
        if p.evidence:
            lines.append(f"      [dim]“{escape(_clip(p.evidence))}”[/]")
        if p.reason:
            lines.append(f"      [dim]({escape(p.reason)})[/]")
    if r.missing_points:
        lines.append("")
        lines.append("[bold]Missing:[/]")
        lines.extend(f"  [red]-[/] {escape(m)}" for m in r.missing_points)
    if r.feedback:
        lines.append("")
        lines.append(f"[bold]Feedback:[/] {escape(r.feedback)}")
    u = r.usage
    if u.llm_calls or u.cache_hits:
        lines.append(f"[dim]LLM calls {u.llm_calls}, tokens {u.prompt_tokens}+{u.completion_tokens}, cache hits {u.cache_hits}[/]")
    con.print("\n".join(lines))


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
