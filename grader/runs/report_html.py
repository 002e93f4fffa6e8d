"""The batch report a teacher opens after grading a class: one self-contained HTML file (inline CSS,
an inline script for sorting and filtering, no URL, no network) and a CSV beside it.

    run details -> per metadata column (student, class ...) -> question x key point miss rates
    (a click shows the answers that missed the point) -> the answers table (sort, filter) -> one
    section per answer: its verdicts and its evidence highlighted -> failed rows -> changes since
    an earlier OUT (--compare)

Every piece of text that came from a row or a model is HTML-escaped; the script reads only data-*
attributes the report wrote itself.
"""

from __future__ import annotations

import csv
import html
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..text import locate

MAX_SECTIONS = 5000  # answers with their own section (the table and the CSV hold every row)
_e = lambda x: html.escape(str(x), quote=True)  # noqa: E731

FLAG_TEXT = {
    "empty": "empty answer", "off_topic": "off topic", "keyword_stuffing": "terms listed, not explained",
    "prompt_injection": "instructions to the grader ignored", "unsupported_evidence": "a quote not in the answer",
    "llm_fallback": "judge not used (fuzzy graded)", "unscored": "some points not judged",
}
MISSED = ("missing", "contradicted")


@dataclass
class Graded:
    id: str
    question: str
    score: float
    flags: list
    meta: dict
    verdicts: list  # [(point id, verdict, credit, evidence)], in rubric order
    feedback: str


@dataclass
class RunData:
    rows: list = field(default_factory=list)  # Graded
    failed: list = field(default_factory=list)  # (id, type, message)
    points: dict = field(default_factory=dict)  # question key -> {point id: (number, text, weight)}
    versions: dict = field(default_factory=dict)  # question key -> rubric version
    meta_columns: list = field(default_factory=list)
    modes: set = field(default_factory=set)


def question_key(result: dict) -> str:
    qid, bank = result.get("question_id"), result.get("bank")
    if qid is None:
        return "(ad hoc)"
    return f"{bank}:{qid}" if bank else str(qid)


def read_out(out: Path) -> RunData:
    """Every whole line of OUT, as the report needs it (the last line of an id wins)."""
    data = RunData()
    latest: dict[str, Graded] = {}
    if not out.exists():
        return data
    with open(out, "rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                continue
            try:
                obj = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(obj, dict):
                continue
            rid = str(obj.get("id"))
            meta = obj.get("meta") if isinstance(obj.get("meta"), dict) else {}
            for k in meta:
                if k not in data.meta_columns:
                    data.meta_columns.append(k)
            if isinstance(obj.get("error"), dict):
                err = obj["error"]
                data.failed.append((rid, str(err.get("type", "?")), str(err.get("message", ""))))
                continue
            res = obj.get("result")
            if not isinstance(res, dict) or not isinstance(res.get("score"), (int, float)):
                continue
            key = question_key(res)
            data.modes.add(str(res.get("mode")))
            if res.get("rubric_version"):
                data.versions[key] = res["rubric_version"]
            legend = data.points.setdefault(key, {})
            verdicts = []
            for p in res.get("points") or []:
                pid = str(p.get("id"))
                if pid not in legend:
                    legend[pid] = (len(legend) + 1, str(p.get("text", "")), p.get("weight", 1))
                verdicts.append((pid, p.get("verdict"), p.get("credit", 0), p.get("evidence")))
            latest[rid] = Graded(rid, key, float(res["score"]), [str(x) for x in res.get("flags") or []], meta,
                                 verdicts, str(res.get("feedback") or ""))
    data.rows = list(latest.values())
    return data


def read_answers(input_path: Path | None, ids: set[str]) -> dict[str, str]:
    """The answer text of the given ids, by streaming INPUT again (OUT does not hold answers)."""
    from .rows import read_rows

    if input_path is None or not ids or str(input_path) == "-" or not Path(input_path).is_file():
        return {}
    found: dict[str, str] = {}
    for _, row in read_rows(input_path):
        rid = getattr(row, "id", None)
        if rid in ids and hasattr(row, "answer"):
            found[rid] = row.answer
    return found


# ---------------------------------------------------------------- pieces


def _highlight(answer: str, verdicts: list, legend: dict) -> str:
    """The answer with each credited point's evidence marked and numbered, as on the web page."""
    spans = []
    for pid, verdict, _, evidence in verdicts:
        if evidence and verdict in ("covered", "partial", "contradicted"):
            at = locate(answer, evidence)
            if at:
                spans.append((at[0], at[1], verdict, legend.get(pid, (0,))[0]))
    spans.sort()
    out, pos = [], 0
    for start, end, verdict, num in spans:
        if start < pos:  # overlapping evidence: the first mark keeps the text, the number is added
            out.append(f"<sup>{num}</sup>")
            continue
        out.append(_e(answer[pos:start]))
        out.append(f'<mark class="{verdict}">{_e(answer[start:end])}<sup>{num}</sup></mark>')
        pos = end
    out.append(_e(answer[pos:]))
    return "".join(out)


def _bars(items: list[tuple[str, float, str]], cls: str = "") -> str:
    """Horizontal bars as HTML: the label wraps (never clipped), the bar's width is a share."""
    rows = "".join(f'<div class="bl">{_e(label)}</div><div class="bt"><span class="{cls}" style="width:{max(0.0, min(1.0, share)) * 100:.1f}%">'
                   f'</span><b>{_e(value)}</b></div>' for label, share, value in items)
    return f'<div class="bars">{rows}</div>'


def _columns(hist: list[dict]) -> str:
    peak = max((b["count"] for b in hist), default=0) or 1
    cols = "".join(f'<div class="col"><b>{b["count"]}</b><span style="height:{100 * b["count"] / peak:.1f}%"></span>'
                   f'<i>{_e(b["bin"])}</i></div>' for b in hist)
    return f'<div class="hist" role="img" aria-label="score histogram">{cols}</div>'


def _group_table(data: RunData, column: str) -> str:
    groups: dict[str, list[Graded]] = {}
    for g in data.rows:
        groups.setdefault(str(g.meta.get(column, "(none)")), []).append(g)
    body = []
    for value in sorted(groups):
        rows = groups[value]
        scores = [g.score for g in rows]
        missed = sum(1 for g in rows for _, v, _, _ in g.verdicts if v in MISSED)
        body.append(f'<tr><td><a href="#answers" data-filter-meta="{_e(column)}" data-value="{_e(value)}">{_e(value)}</a></td>'
                    f'<td class="num">{len(rows)}</td><td class="num">{sum(scores) / len(scores):.2f}</td>'
                    f'<td class="num">{min(scores):.2f}</td><td class="num">{max(scores):.2f}</td><td class="num">{missed}</td></tr>')
    return (f'<h3>By {_e(column)}</h3><div class="scroll"><table class="sortable"><thead><tr><th>{_e(column)}</th><th>answers</th>'
            f'<th>mean</th><th>lowest</th><th>highest</th><th>points missed</th></tr></thead><tbody>{"".join(body)}</tbody></table></div>')


def _grid(data: RunData) -> str:
    """Question x key point: the share of answers that missed each point; a click filters to them."""
    counts: dict[tuple[str, str], list[int]] = {}
    for g in data.rows:
        for pid, v, _, _ in g.verdicts:
            if v == "unscored":
                continue
            c = counts.setdefault((g.question, pid), [0, 0])
            c[0] += 1
            c[1] += v in MISSED
    rows = []
    for key in sorted(data.points, key=_natural):
        cells = []
        for pid, (num, text, weight) in data.points[key].items():
            n, m = counts.get((key, pid), [0, 0])
            rate = m / n if n else 0.0
            cells.append(f'<a class="cell" href="#answers" data-q="{_e(key)}" data-p="{_e(pid)}" style="--r:{rate:.3f}" '
                         f'title="{_e(f"{num}. {text} (weight {weight:g}): missed by {m} of {n}")}">{num}<small>{rate:.0%}</small></a>')
        rows.append(f'<div class="gq"><span>{_e(key)}</span><div>{"".join(cells)}</div></div>')
    legend = "".join(f'<details><summary>{_e(key)}: the key points</summary><ol>'
                     + "".join(f"<li>{_e(text)} <span class=muted>(weight {weight:g})</span></li>" for _, text, weight in pts.values())
                     + "</ol></details>" for key, pts in sorted(data.points.items(), key=lambda kv: _natural(kv[0])))
    return f'<div class="grid-q">{"".join(rows)}</div>{legend}'


def _natural(key: str):
    tail = key.rsplit(":", 1)[-1]
    return (key.rsplit(":", 1)[0] if ":" in key else "", int(tail) if tail.isdigit() else 10**9, key)


def _flag_chips(flags: list) -> str:
    return "".join(f'<span class="flag" title="{_e(f)}">{_e(FLAG_TEXT.get(f, f.replace("_", " ")))}</span>' for f in flags)


def read_compare(old: Path) -> dict[str, tuple[float, dict]]:
    """id -> (score, {point id: verdict}) of an earlier OUT of the same input."""
    prev = read_out(old)
    return {g.id: (g.score, {pid: v for pid, v, _, _ in g.verdicts}) for g in prev.rows}


# ---------------------------------------------------------------- the page


def _asset(name: str) -> str:
    from importlib import resources

    return resources.files("grader").joinpath(f"web/{name}").read_text(encoding="utf-8")


def _content_lang(data: RunData) -> str:
    text = " ".join(t for pts in data.points.values() for _, t, _ in pts.values())[:4000]
    cjk = sum(1 for c in text if "\u3400" <= c <= "\u9fff")
    return "zh-Hans" if text and cjk / len(text) > 0.2 else "en"


def render(run: dict, stats: dict, data: RunData, answers: dict[str, str], compare: dict | None = None,
           csv_name: str | None = None) -> str:
    s, o = stats["scores"], stats["out"]
    u = stats["usage"]
    body = ["<header><h1>Batch grading report</h1>"]
    details = [("graded", o["results"]), ("failed", o["errors"]), ("mean", s["mean"] if s["mean"] is not None else "-"),
               ("median", s["median"] if s["median"] is not None else "-"), ("flagged", stats["flagged_answers"])]
    if u["llm_calls"] or u["prompt_tokens"]:  # an offline run has no tokens and no cost to show
        details.append(("tokens in / out", f"{u['prompt_tokens']:,} / {u['completion_tokens']:,}"))
        if stats["cost"] is not None:
            details.append(("estimated cost", f"{stats['cost']['estimated']:.4f}"))
    body.append('<div class="cards">' + "".join(f'<div class="card"><span>{_e(k)}</span><b>{_e(v)}</b></div>' for k, v in details) + "</div>")
    versions = sorted({v for v in data.versions.values()})
    facts = [("mode", ", ".join(sorted(data.modes)) or run.get("mode") or "-"), ("model", run.get("model") or "none (offline)"),
             ("grader", run.get("grader_version", "-")), ("rubric versions", ", ".join(versions[:6]) + (" …" if len(versions) > 6 else "") or "-"),
             ("input", run.get("input") or "-"), ("output", o["path"]), ("written", run.get("time") or "-"),
             ("this run", f"{run.get('graded', 0)} graded, {run.get('errors', 0)} failed, {run.get('skipped', 0)} skipped"
              + (", interrupted" if run.get("interrupted") else ""))]
    if run.get("repeated"):
        facts.append(("repeated ids", f"{run['repeated']} not graded again: {', '.join(run.get('repeated_ids', []))}"))
    if csv_name:
        facts.append(("export", f'<a href="{_e(csv_name)}" download>{_e(csv_name)}</a> (one line per answer)'))
    body.append('<dl class="facts">' + "".join(f"<dt>{_e(k)}</dt><dd>{v if k == 'export' else _e(v)}</dd>" for k, v in facts) + "</dl></header>")

    body.append('<div class="two"><section><h2>Scores (0-10)</h2>' + _columns(s["histogram"]) + "</section>")
    qs = stats["questions"]
    body.append("<section><h2>Mean per question</h2>" + _bars([(k, q["mean"] / 10, f"{q['mean']:.2f}") for k, q in qs.items()]) + "</section></div>")
    for column in data.meta_columns:
        body.append("<section>" + _group_table(data, column) + "</section>")
    body.append('<section><h2>Key points missed, per question</h2><p class="muted">Each cell is a key point '
                "(its number) and the share of answers that missed it; click one to list those answers.</p>" + _grid(data) + "</section>")
    missed = sorted(((m["miss_rate"], f"{k} · {m['text'] or m['id']}") for k, q in qs.items() for m in q["most_missed"]), reverse=True)[:15]
    if missed:
        body.append("<section><h2>Most-missed key points</h2>" + _bars([(label, r, f"{r:.0%}") for r, label in missed], "miss") + "</section>")
    if stats["flags"]:
        peak = max(stats["flags"].values())
        body.append("<section><h2>Flags</h2>" + _bars([(FLAG_TEXT.get(f, f), n / peak, f"{n:,}") for f, n in stats["flags"].items()], "flagbar") + "</section>")
    if compare is not None:
        body.append(_changes(data, compare))
    body.append(_answers(data, answers))
    if data.failed:
        body.append('<section id="failed"><h2>Failed rows</h2><div class="scroll"><table class="sortable"><thead><tr><th>id</th><th>error</th>'
                    "<th>message</th></tr></thead><tbody>" + "".join(f'<tr><td class="id">{_e(i)}</td><td>{_e(t)}</td><td>{_e(m)}</td></tr>'
                                                                      for i, t, m in data.failed) + "</tbody></table></div></section>")
    return (f'<!DOCTYPE html>\n<html lang="{_content_lang(data)}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1"><title>Batch grading report</title>'
            f"<style>{_asset('report.css')}</style></head><body>\n" + "\n".join(body) + f"\n<script>{_asset('report.js')}</script>\n</body></html>\n")


def _answers(data: RunData, answers: dict[str, str]) -> str:
    cols = data.meta_columns
    qopts = "".join(f'<option value="{_e(k)}">{_e(k)}</option>' for k in sorted(data.points, key=_natural))
    fopts = "".join(f'<option value="{_e(f)}">{_e(FLAG_TEXT.get(f, f))}</option>' for f in sorted({f for g in data.rows for f in g.flags}))
    head = ('<section id="answers"><h2>Answers</h2><div class="filters">'
            '<input id="f-text" type="search" placeholder="filter: id, text, feedback">'
            f'<select id="f-q"><option value="">every question</option>{qopts}</select>'
            f'<select id="f-flag"><option value="">any flags</option>{fopts}</select>'
            '<button type="button" id="f-clear">show all</button><span id="f-count" role="status"></span></div>'
            '<div class="scroll"><table id="answer-table" class="sortable"><thead><tr><th>id</th>'
            + "".join(f"<th>{_e(c)}</th>" for c in cols) + "<th>question</th><th>score</th><th>missed</th><th>flags</th></tr></thead><tbody>")
    rows, sections = [], []
    order = sorted(range(len(data.rows)), key=lambda i: data.rows[i].score)
    for n, i in enumerate(order):
        g = data.rows[i]
        legend = data.points.get(g.question, {})
        miss = " ".join(pid for pid, v, _, _ in g.verdicts if v in MISSED)
        attrs = (f'data-id="{_e(g.id)}" data-q="{_e(g.question)}" data-miss="{_e(miss)}" data-flags="{_e(" ".join(g.flags))}" '
                 + " ".join(f'data-m-{j}="{_e(g.meta.get(c, ""))}"' for j, c in enumerate(cols)))
        missed_n = sum(1 for _, v, _, _ in g.verdicts if v in MISSED)
        rows.append(f'<tr class="answer-row" {attrs}><td class="id"><a href="#a{n}">{_e(g.id)}</a></td>'
                    + "".join(f"<td>{_e(g.meta.get(c, ''))}</td>" for c in cols)
                    + f'<td>{_e(g.question)}</td><td class="num">{g.score:.2f}</td><td class="num">{missed_n}</td><td>{_flag_chips(g.flags)}</td></tr>')
        if n >= MAX_SECTIONS:
            continue
        answer = answers.get(g.id)
        text = _highlight(answer, g.verdicts, legend) if answer is not None else '<span class="muted">(the answer is not in INPUT any more)</span>'
        verdicts = _verdict_line(g.verdicts, legend)
        meta = " · ".join(f"{_e(k)}: {_e(v)}" for k, v in g.meta.items())
        sections.append(f'<article class="answer" id="a{n}" {attrs}><h3>{_e(g.id)} <span class="muted">{_e(g.question)}'
                        f'{" · " + meta if meta else ""}</span> <b class="sc">{g.score:.2f}</b> {_flag_chips(g.flags)}</h3>'
                        f'<div class="ans">{text}</div>{verdicts}<p class="fb">{_e(g.feedback)}</p></article>')
    more = (f'<p class="muted">Sections for the {MAX_SECTIONS} lowest answers; the table and the CSV hold all {len(data.rows)}.</p>'
            if len(data.rows) > MAX_SECTIONS else "")
    texts = {k: {pid: t for pid, (_, t, _) in pts.items()} for k, pts in data.points.items()}
    legend = json.dumps(texts, ensure_ascii=False).replace("<", "\\u003c")  # no "</script>" inside
    return (head + "".join(rows) + '</tbody></table></div></section><section id="sections"><h2>Each answer</h2>' + more
            + "".join(sections) + f'</section><script type="application/json" id="legend">{legend}</script>')


_GROUPS = (("covered", "covered"), ("partial", "partly"), ("missing", "missed"), ("contradicted", "contradicted"), ("unscored", "not judged"))


def _verdict_line(verdicts: list, legend: dict) -> str:
    """The verdicts in one line ("covered 1 2 5 · missed 3 4"); a click in the grid (or a double
    click) spells them out from `data-v` (point id, verdict, credit) and the legend."""
    nums = {pid: legend.get(pid, (0,))[0] for pid, _, _, _ in verdicts}
    parts = []
    for verdict, word in _GROUPS:
        mine = [f"{nums[pid]}" + (f" ({c:.0%})" if verdict == "partial" else "") for pid, v, c, _ in verdicts if v == verdict]
        if mine:
            parts.append(f'<span class="v-{verdict}">{word} {", ".join(mine)}</span>')
    code = " ".join(f"{pid}={v}={c:g}" for pid, v, c, _ in verdicts)
    return f'<p class="vd" data-v="{_e(code)}">{" ".join(parts)}</p>'


def _changes(data: RunData, old: dict) -> str:
    moved = []
    for g in data.rows:
        if g.id not in old:
            continue
        score, verdicts = old[g.id]
        changed = [(pid, verdicts.get(pid), v) for pid, v, _, _ in g.verdicts if verdicts.get(pid) != v]
        if abs(g.score - score) >= 0.005 or changed:
            legend = data.points.get(g.question, {})
            why = "; ".join(f"{legend.get(pid, (0,))[0]}. {legend.get(pid, (0, pid))[1][:60]}: {a or 'none'} → {b}" for pid, a, b in changed)
            moved.append((g.score - score, g, score, why))
    moved.sort(key=lambda m: m[0])
    new = sum(1 for g in data.rows if g.id not in old)
    rows = "".join(f'<tr><td class="id">{_e(g.id)}</td><td>{_e(g.question)}</td><td class="num">{s0:.2f}</td><td class="num">{g.score:.2f}</td>'
                   f'<td class="num {"down" if d < 0 else "up"}">{d:+.2f}</td><td>{_e(why) or "same verdicts"}</td></tr>' for d, g, s0, why in moved)
    return (f'<section id="changes"><h2>Changes since the earlier run</h2><p class="muted">{len(moved)} answers moved, '
            f'{len(data.rows) - len(moved) - new} unchanged, {new} not in the earlier run.</p><div class="scroll"><table class="sortable"><thead><tr>'
            f"<th>id</th><th>question</th><th>before</th><th>now</th><th>change</th><th>why: key points whose verdict changed</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></div></section>")


def write_csv(path: Path, data: RunData) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", *data.meta_columns, "question", "score", "flags", "missed_points", "feedback", "error"])
        for g in data.rows:
            legend = data.points.get(g.question, {})
            missed = "; ".join(legend.get(pid, (0, pid))[1] for pid, v, _, _ in g.verdicts if v in MISSED)
            w.writerow([g.id, *(g.meta.get(c, "") for c in data.meta_columns), g.question, f"{g.score:.2f}", " ".join(g.flags), missed, g.feedback, ""])
        for rid, type_, message in data.failed:
            w.writerow([rid, *("" for _ in data.meta_columns), "", "", "", "", "", f"{type_}: {message}"])


def write_report(path: Path, run: dict, stats: dict, input_path: Path | None, compare: Path | None = None) -> Path:
    """REPORT.html and REPORT.csv beside it; returns the CSV's path."""
    from .. import __version__

    data = read_out(Path(stats["out"]["path"]))
    run = {"grader_version": __version__, "time": datetime.now(timezone.utc).astimezone().strftime("%Y-%m-%d %H:%M %Z"), **run}
    order = sorted(data.rows, key=lambda g: g.score)[:MAX_SECTIONS]
    answers = read_answers(input_path, {g.id for g in order})
    old = read_compare(compare) if compare is not None else None
    csv_path = path.with_suffix(".csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render(run, stats, data, answers, old, csv_path.name), encoding="utf-8")
    tmp.replace(path)
    write_csv(csv_path, data)
    return csv_path
