"""What a batch produced: a summary of the whole OUT, printed, as JSON, and as one HTML file.

`summarize` streams OUT once (every line, rows graded by earlier interrupted runs included) and
keeps only counters: scores in 0.01 steps (so the median is exact to that step whatever the number
of rows), per question the mean and, per key point, how often it was missed (verdict missing or
contradicted; unscored points are left out), flags, error types, token usage, and the few lowest
and flagged answers for the report's table (heaps of bounded size).

The HTML report and its CSV are `report_html.write_report`'s.
"""

from __future__ import annotations

import heapq
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

    repeated = run.get("repeated", 0)
    head = (f"{run['rows']} rows read: {run['graded']} graded, {run['errors']} errors, "
            f"{run['skipped'] - repeated} skipped (already in OUT)")
    if repeated:
        head += (f", {repeated} repeated id{'s' if repeated > 1 else ''} not graded again: "
                 f"{', '.join(run.get('repeated_ids', []))} (give each row its own id)")
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
