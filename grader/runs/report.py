"""What a batch produced: a summary of the whole OUT, printed, as JSON, and as one HTML file.

`summarize` streams OUT once (every line, rows graded by earlier interrupted runs included) and
keeps only counters: scores in 0.01 steps (so the median is exact to that step whatever the number
of rows), per question the mean and, per key point, how often it was missed (verdict missing or
contradicted; unscored points are left out), flags, error types, token usage, and the few lowest
and flagged answers for the report's table (heaps of bounded size).

`write_html` renders one self-contained file: inline CSS, inline SVG charts, no script, no URL
(it opens offline and from an e-mail attachment). Every piece of text that came from a row or a
model (answers, feedback, ids, key point texts) is HTML-escaped.
"""

from __future__ import annotations

import heapq
import html
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

BINS = 10  # 0-1, 1-2, ..., 9-10 (10 falls in the last bin)
TOP_MISSED = 3
TABLE_ROWS = 25


@dataclass
class _Question:
    n: int = 0
    score_sum: float = 0.0
    # point id -> [text, times scored, times missed]
    points: dict = field(default_factory=dict)


def _key(result: dict) -> str:
    qid = result.get("question_id")
    bank = result.get("bank")
    if qid is None:
        return "(ad hoc)"
    return f"{bank}:{qid}" if bank else str(qid)


def summarize(out: Path, price_in: float | None = None, price_out: float | None = None, keep: int = TABLE_ROWS) -> dict:
    """Statistics of every line of OUT (streamed; memory does not grow with the number of lines)."""
    lines = results = errors = foreign = n_flagged = 0
    error_types: Counter = Counter()
    flags: Counter = Counter()
    scores: Counter = Counter()  # score in hundredths -> count
    hist = [0] * BINS
    score_sum = 0.0
    usage = Counter()
    questions: dict[str, _Question] = defaultdict(_Question)
    lowest: list = []  # max-heap by -score of the `keep` lowest
    flagged: list = []  # the first `keep` flagged, lowest score first at the end
    seq = 0
    if out.exists():
        with open(out, "rb") as f:
            for raw in f:
                if not raw.endswith(b"\n"):
                    continue  # a torn tail: the next run cuts it off
                lines += 1
                try:
                    obj = json.loads(raw)
                except ValueError:
                    foreign += 1
                    continue
                if not isinstance(obj, dict):
                    foreign += 1
                    continue
                if "error" in obj:
                    errors += 1
                    err = obj.get("error") or {}
                    error_types[str(err.get("type", "?")) if isinstance(err, dict) else "?"] += 1
                    continue
                res = obj.get("result")
                if not isinstance(res, dict) or not isinstance(res.get("score"), (int, float)):
                    foreign += 1
                    continue
                results += 1
                score = float(res["score"])
                score_sum += score
                scores[round(score * 100)] += 1
                hist[min(BINS - 1, max(0, int(score)))] += 1
                fl = [str(x) for x in res.get("flags") or []]
                flags.update(fl)
                for k, v in (res.get("usage") or {}).items():
                    if isinstance(v, (int, float)):
                        usage[k] += v
                q = questions[_key(res)]
                q.n += 1
                q.score_sum += score
                for p in res.get("points") or []:
                    if p.get("verdict") == "unscored":
                        continue
                    rec = q.points.get(p.get("id"))
                    if rec is None:
                        rec = q.points[p.get("id")] = [p.get("text", ""), 0, 0]
                    rec[1] += 1
                    if p.get("verdict") in ("missing", "contradicted"):
                        rec[2] += 1
                seq += 1
                entry = (-score, seq, {
                    "id": str(obj.get("id")), "question": _key(res), "score": score, "flags": fl,
                    "feedback": res.get("feedback") or "", "missing": (res.get("missing_points") or [])[:3],
                })
                if len(lowest) < keep:
                    heapq.heappush(lowest, entry)
                elif -score > lowest[0][0]:
                    heapq.heapreplace(lowest, entry)
                if fl:
                    n_flagged += 1
                if fl and len(flagged) < keep:
                    flagged.append(entry[2])

    per_q = {}
    for key in sorted(questions, key=_natural):
        q = questions[key]
        missed = sorted(
            ((pid, t, n, m) for pid, (t, n, m) in q.points.items() if n),
            key=lambda x: (-x[3] / x[2], -x[3], str(x[0])),
        )[:TOP_MISSED]
        per_q[key] = {
            "n": q.n,
            "mean": round(q.score_sum / q.n, 3),
            "most_missed": [{"id": pid, "text": t, "missed": m, "of": n, "miss_rate": round(m / n, 3)}
                            for pid, t, n, m in missed if m],
        }
    cost = None
    note = "no prices given: pass --price-in and --price-out (per 1M tokens) for an estimate"
    if price_in is not None or price_out is not None:
        pin, pout = price_in or 0.0, price_out or 0.0
        cost = {
            "price_in_per_1m": pin, "price_out_per_1m": pout,
            "estimated": round(usage["prompt_tokens"] / 1e6 * pin + usage["completion_tokens"] / 1e6 * pout, 6),
        }
        note = "estimate from the token counts the server reported and the prices given"
    return {
        "out": {"path": str(out), "lines": lines, "results": results, "errors": errors, "other_lines": foreign,
                "error_types": dict(error_types.most_common())},
        "mean_score": round(score_sum / results, 3) if results else None,
        "scores": {
            "n": results,
            "mean": round(score_sum / results, 3) if results else None,
            "median": _median(scores, results),
            "histogram": [{"bin": f"{i}-{i + 1}", "count": c} for i, c in enumerate(hist)],
        },
        "questions": per_q,
        "flags": dict(flags.most_common()),
        "flagged_answers": n_flagged,
        "usage": {k: int(usage[k]) for k in ("llm_calls", "prompt_tokens", "completion_tokens", "cache_hits")},
        "cost": cost,
        "cost_note": note,
        "lowest": [e[2] for e in sorted(lowest, key=lambda e: (-e[0], e[1]))],
        "flagged": sorted(flagged, key=lambda e: e["score"]),
    }


def _natural(key: str):
    tail = key.rsplit(":", 1)[-1]
    return (key.rsplit(":", 1)[0] if ":" in key else "", int(tail) if tail.isdigit() else 10**9, key)


def _median(counts: Counter, n: int) -> float | None:
    if not n:
        return None
    lo_rank, hi_rank = (n - 1) // 2, n // 2
    lo = hi = None
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if lo is None and seen > lo_rank:
            lo = value
        if seen > hi_rank:
            hi = value
            break
    return round((lo + hi) / 200, 2)


# ---------------------------------------------------------------- the human summary


def print_summary(console, run: dict, stats: dict) -> None:
    from rich.table import Table

    head = (f"{run['rows']} rows read: {run['graded']} graded, {run['errors']} errors, "
            f"{run['skipped']} skipped (already in OUT or repeated)")
    if run.get("interrupted"):
        head += " - interrupted: run the same command again to resume"
    console.print(head)
    o, s = stats["out"], stats["scores"]
    console.print(f"OUT {o['path']}: {o['lines']} lines, {o['results']} graded, {o['errors']} errors"
                  + (f" ({', '.join(f'{k} {v}' for k, v in o['error_types'].items())})" if o["error_types"] else ""))
    if s["n"]:
        console.print(f"score: mean {s['mean']}, median {s['median']} (0-10)")
        peak = max(b["count"] for b in s["histogram"]) or 1
        for b in s["histogram"]:
            console.print(f"  {b['bin']:>5}  {'█' * round(30 * b['count'] / peak):<30} {b['count']}")
    if stats["questions"]:
        t = Table(title="per question", show_edge=False, pad_edge=False)
        t.add_column("question")
        t.add_column("n", justify="right")
        t.add_column("mean", justify="right")
        t.add_column("most missed key points (miss rate)")
        for key, q in stats["questions"].items():
            t.add_row(key, str(q["n"]), f"{q['mean']:.2f}",
                      "; ".join(f"{m['id']} {m['miss_rate']:.0%}" for m in q["most_missed"]) or "-")
        console.print(t)
    if stats["flags"]:
        console.print("flags: " + ", ".join(f"{k} {v}" for k, v in stats["flags"].items()))
    u = stats["usage"]
    if u["llm_calls"] or u["prompt_tokens"]:
        console.print(f"tokens: {u['prompt_tokens']} in, {u['completion_tokens']} out, {u['llm_calls']} calls, "
                      f"{u['cache_hits']} cache hits")
    if stats["cost"] is not None:
        console.print(f"estimated cost: {stats['cost']['estimated']:.4f} (at {stats['cost']['price_in_per_1m']} in / "
                      f"{stats['cost']['price_out_per_1m']} out per 1M tokens)")
    elif u["prompt_tokens"]:
        console.print(f"cost: not estimated ({stats['cost_note']})")


# ---------------------------------------------------------------- the HTML report


def fetch_answers(input_path: Path, ids: set[str]) -> dict[str, str]:
    """The answer text of the given ids, by streaming INPUT again (OUT does not hold answers)."""
    from .rows import read_rows

    if not ids or str(input_path) == "-" or not Path(input_path).is_file():
        return {}
    found: dict[str, str] = {}
    for _, row in read_rows(input_path):
        rid = getattr(row, "id", None)
        if rid in ids and hasattr(row, "answer"):
            found[rid] = row.answer
            if len(found) == len(ids):
                break
    return found


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI","Noto Sans","Noto Sans CJK SC",sans-serif;margin:24px auto;max-width:1100px;color:#1f2933;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d9e2ec;padding-bottom:4px}
.muted{color:#627d98}.cards{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0}
.card{border:1px solid #d9e2ec;border-radius:6px;padding:8px 14px;min-width:110px}.card b{display:block;font-size:20px}
table{border-collapse:collapse;width:100%;font-size:13px}th,td{border-bottom:1px solid #e4e7eb;padding:5px 6px;text-align:left;vertical-align:top}
th{background:#f0f4f8}td.num{text-align:right;white-space:nowrap}.ans{max-width:460px;white-space:pre-wrap;word-break:break-word}
.flag{display:inline-block;background:#fde2e1;color:#8a1c1c;border-radius:3px;padding:0 4px;margin:1px;font-size:12px}
svg text{font-family:inherit}.grid{display:grid;grid-template-columns:1fr 1fr;gap:18px}@media(max-width:800px){.grid{grid-template-columns:1fr}}
"""


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _svg_columns(labels: list[str], values: list[float], title: str, width: int = 520, height: int = 240) -> str:
    """Vertical bars (the histogram)."""
    left, bottom, top = 40, 28, 14
    peak = max(values) if values and max(values) > 0 else 1
    n = max(1, len(values))
    bw = (width - left - 10) / n
    parts = [f'<svg class="chart" role="img" aria-label="{_e(title)}" width="{width}" height="{height}" viewBox="0 0 {width} {height}">']
    for frac in (0, 0.5, 1):
        y = top + (height - top - bottom) * (1 - frac)
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e7eb"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="#627d98">{round(peak * frac)}</text>')
    for i, (lab, v) in enumerate(zip(labels, values)):
        h = (height - top - bottom) * v / peak
        x = left + i * bw
        parts.append(f'<rect x="{x + 3:.1f}" y="{height - bottom - h:.1f}" width="{bw - 6:.1f}" height="{h:.1f}" fill="#3e7cb1"><title>{_e(lab)}: {_e(v)}</title></rect>'
                     f'<text x="{x + bw / 2:.1f}" y="{height - bottom + 16}" font-size="11" text-anchor="middle" fill="#334e68">{_e(lab)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _svg_bars(labels: list[str], values: list[float], vmax: float, fmt, title: str, width: int = 520,
              color: str = "#3e7cb1", label_w: int = 200) -> str:
    """Horizontal bars with a label on the left and the value on the right."""
    row, right = 22, 56
    max_chars = max(8, label_w // 7)
    height = max(row * len(values) + 8, 30)
    span = width - label_w - right
    parts = [f'<svg class="chart" role="img" aria-label="{_e(title)}" width="{width}" height="{height}" viewBox="0 0 {width} {height}">']
    for i, (lab, v) in enumerate(zip(labels, values)):
        y = 4 + i * row
        w = span * (v / vmax if vmax else 0)
        short = lab if len(lab) <= max_chars else lab[: max_chars - 1] + "…"
        parts.append(f'<text x="{label_w - 6}" y="{y + 15}" font-size="12" text-anchor="end" fill="#334e68"><title>{_e(lab)}</title>{_e(short)}</text>'
                     f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 7}" fill="{color}" rx="2"/>'
                     f'<text x="{label_w + w + 5:.1f}" y="{y + 15}" font-size="12" fill="#102a43">{_e(fmt(v))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(run: dict, stats: dict, answers: dict[str, str], title: str = "Batch grading report") -> str:
    s, o = stats["scores"], stats["out"]
    cards = [("answers graded", o["results"]), ("errors", o["errors"]), ("mean score", s["mean"] if s["mean"] is not None else "-"),
             ("median", s["median"] if s["median"] is not None else "-"), ("flagged answers", stats["flagged_answers"]),
             ("tokens in / out", f"{stats['usage']['prompt_tokens']:,} / {stats['usage']['completion_tokens']:,}")]
    if stats["cost"] is not None:
        cards.append(("estimated cost", f"{stats['cost']['estimated']:.4f}"))
    body = [f"<h1>{_e(title)}</h1>",
            f'<div class="muted">OUT: {_e(o["path"])} · {o["lines"]} lines · this run: {run.get("graded", 0)} graded, '
            f'{run.get("errors", 0)} errors, {run.get("skipped", 0)} skipped{" · interrupted" if run.get("interrupted") else ""}</div>',
            '<div class="cards">' + "".join(f'<div class="card"><span class="muted">{_e(k)}</span><b>{_e(v)}</b></div>' for k, v in cards) + "</div>"]
    if stats["cost"] is None:
        body.append(f'<p class="muted">Cost: {_e(stats["cost_note"])}.</p>')

    body.append('<div class="grid"><section><h2>Score distribution (0-10)</h2>')
    body.append(_svg_columns([b["bin"] for b in s["histogram"]], [b["count"] for b in s["histogram"]], "score histogram"))
    body.append("</section><section><h2>Mean score per question</h2>")
    qs = stats["questions"]
    banks = {k.rsplit(":", 1)[0] for k in qs if ":" in k}
    strip = (lambda k: k.rsplit(":", 1)[-1]) if len(banks) == 1 and all(":" in k for k in qs) else (lambda k: k)
    if strip is not None and len(banks) == 1:
        body.append(f'<p class="muted">Bank: {_e(next(iter(banks)))}</p>')
    body.append(_svg_bars([f"question {strip(k)}" for k in qs], [q["mean"] for q in qs.values()], 10.0,
                          lambda v: f"{v:.2f}", "mean per question"))
    body.append("</section></div>")

    body.append("<h2>Most-missed key points</h2>")
    labels, values = [], []
    for key, q in qs.items():
        for m in q["most_missed"]:
            labels.append(f"{strip(key)} · {m['text'] or m['id']}")
            values.append(m["miss_rate"])
    if labels:
        body.append(_svg_bars(labels, values, 1.0, lambda v: f"{v:.0%}", "most-missed key points", width=1060,
                              color="#d64545", label_w=520))
    else:
        body.append('<p class="muted">No key point was missed.</p>')

    if stats["flags"]:
        body.append("<h2>Flags</h2>")
        fl = stats["flags"]
        body.append(_svg_bars(list(fl), list(fl.values()), max(fl.values()), lambda v: f"{v:,}", "flag counts", color="#9f7aea"))

    def table(title_: str, entries: list[dict]) -> None:
        body.append(f"<h2>{_e(title_)}</h2>")
        if not entries:
            body.append('<p class="muted">None.</p>')
            return
        body.append('<table><thead><tr><th>id</th><th>question</th><th>score</th><th>flags</th><th>answer</th><th>feedback</th></tr></thead><tbody>')
        for e in entries:
            ans = answers.get(e["id"])
            ans_html = _e(ans if len(ans) <= 600 else ans[:600] + "…") if ans is not None else '<span class="muted">(not available)</span>'
            body.append(
                f'<tr class="answer-row"><td>{_e(e["id"])}</td><td>{_e(e["question"])}</td><td class="num">{e["score"]:.2f}</td>'
                f'<td>{"".join(f"<span class=flag>{_e(f)}</span>" for f in e["flags"])}</td>'
                f'<td class="ans">{ans_html}</td><td>{_e(e["feedback"])}</td></tr>')
        body.append("</tbody></table>")

    table(f"Lowest-scoring answers (up to {TABLE_ROWS})", stats["lowest"])
    table(f"Flagged answers (the first {TABLE_ROWS}, lowest score first)", stats["flagged"])
    if o["error_types"]:
        body.append("<h2>Errors</h2><p>" + ", ".join(f"{_e(k)}: {v}" for k, v in o["error_types"].items()) + "</p>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{_e(title)}</title>"
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def write_html(path: Path, run: dict, stats: dict, input_path: Path | None) -> None:
    ids = {e["id"] for e in stats["lowest"]} | {e["id"] for e in stats["flagged"]}
    answers = fetch_answers(input_path, ids) if input_path is not None else {}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render_html(run, stats, answers), encoding="utf-8")
    tmp.replace(path)
