"""Evidence: a `covered` or `partial` verdict must quote the answer.

The quote is looked up in the original answer, then, after `grader.text.normalize`, in windows of
one to three sentences (rapidfuzz partial_ratio):
  - found (score >= 90) in the candidate's own sentences: the verdict stands; the evidence is the
    matching span of the original answer, whose normalised form occurs in the normalised answer;
  - near miss (75 <= score < 90, and at least 4 content units): one step down
    (covered -> partial, partial -> missing);
  - not found, empty, or taken from a sentence addressed to the grader (`prepared.injected`):
    `missing`. A claim of coverage with no support earns nothing; giving it partial credit would
    let a model that obeys an injection, or invents quotes, raise a score.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz

from ..answer import PreparedAnswer
from ..plain import Point
from ..text import Segment, content_length, normalize

STEP_DOWN = {"covered": "partial", "partial": "missing"}
EVIDENCE_OK = 90.0
EVIDENCE_WEAK = 75.0
WEAK_MIN_CONTENT = 4
EVIDENCE_WINDOW = 3


@dataclass(slots=True)
class Located:
    span: str | None  # span of the original answer
    score: float  # 0-100, how well the quote matches it
    injected: bool  # the span touches a sentence addressed to the grader


_norm = lru_cache(maxsize=4096)(normalize)  # the same answer is normalised for every point it quotes

_QUOTE_CHARS = "\"'“”‘’「」『』«»`"


def _clean_quote(quote: str) -> str:
    q = (quote or "").strip().strip(_QUOTE_CHARS).strip()
    if "..." in q or "…" in q:  # "A ... B": keep the longest verbatim fragment
        q = max(re.split(r"\.\.\.|…", q), key=len).strip().strip(_QUOTE_CHARS).strip()
    return q


def _overlaps(seg: Segment, start: int, end: int) -> bool:
    return seg.start < end and start < seg.end


def _final_span(prepared: PreparedAnswer, start: int, end: int, full_norm: str) -> str | None:
    """The span as evidence: its normalised form must occur in the normalised answer (the contract);
    when cutting mid-formula breaks that, widen to the sentences it touches."""
    answer = prepared.original
    span = answer[start:end].strip()
    if span and _norm(span) and _norm(span) in full_norm:
        return span
    segs = [s for s in prepared.segments + prepared.injected if _overlaps(s, start, end)]
    if segs:
        span = answer[min(s.start for s in segs) : max(s.end for s in segs)].strip()
        if _norm(span) and _norm(span) in full_norm:
            return span
    return None


def locate_evidence(quote: str, prepared: PreparedAnswer) -> Located:
    """Where (and how well) a quote occurs in the answer."""
    q = _clean_quote(quote)
    nq = _norm(q)
    if not nq or content_length(nq) == 0:
        return Located(None, 0.0, False)
    answer = prepared.original
    full_norm = _norm(answer)
    injected_segs = prepared.injected

    def touches_injection(start: int, end: int) -> bool:
        return any(_overlaps(s, start, end) for s in injected_segs)

    # 1. verbatim, preferring an occurrence outside text addressed to the grader
    hits = [m.start() for m in re.finditer(re.escape(q), answer)] if q else []
    if hits:
        clean = [h for h in hits if not touches_injection(h, h + len(q))]
        start = (clean or hits)[0]
        end = start + len(q)
        return Located(_final_span(prepared, start, end, full_norm), 100.0, not clean)

    # 2. after normalisation, with a small tolerance, in windows of consecutive sentences
    segs = sorted(prepared.segments + injected_segs, key=lambda s: s.start)
    best: tuple[float, bool, int, int, int] | None = None  # score, clean, -width, start, end
    for i in range(len(segs)):
        for w in range(1, EVIDENCE_WINDOW + 1):
            window = segs[i : i + w]
            if len(window) < w:
                break
            text = " ".join(s.norm for s in window)
            score = fuzz.partial_ratio(nq, text) if len(nq) <= len(text) else fuzz.ratio(nq, text)
            start, end = window[0].start, window[-1].end
            clean = not touches_injection(start, end)
            cand = (score, clean, -w, start, end)
            if best is None or cand[:3] > best[:3]:
                best = cand
    if best is None:
        return Located(None, 0.0, False)
    score, clean, _, start, end = best
    # narrow the window to the part the quote aligns with, when that part is itself valid evidence
    window_text = answer[start:end]
    al = fuzz.partial_ratio_alignment(q.lower(), window_text.lower())
    if al is not None and al.score >= EVIDENCE_OK and len(window_text.lower()) == len(window_text):
        sub = window_text[al.dest_start : al.dest_end]
        if _norm(sub) and _norm(sub) in full_norm and content_length(_norm(sub)) >= max(1, content_length(nq) // 2):
            start, end = start + al.dest_start, start + al.dest_end
    return Located(_final_span(prepared, start, end, full_norm), float(score), not clean)


def check_evidence(verdict: str, quote: str, prepared: PreparedAnswer) -> tuple[str, str | None, str | None]:
    """(verdict, evidence, why it was downgraded or None): the rule of the module docstring."""
    if verdict == "missing":
        return "missing", None, None
    loc = locate_evidence(quote, prepared)
    if verdict == "contradicted":  # earns nothing either way; keep the quote only when it is real
        ok = loc.span is not None and loc.score >= EVIDENCE_OK and not loc.injected
        return "contradicted", loc.span if ok else None, None
    if not _clean_quote(quote):
        return "missing", None, "no quote from the answer was given"
    if loc.injected and loc.score >= EVIDENCE_WEAK:
        return "missing", None, "the quote is text addressed to the grader, not part of the answer"
    if loc.score >= EVIDENCE_OK and loc.span is not None:
        return verdict, loc.span, None
    if loc.score >= EVIDENCE_WEAK and loc.span is not None and content_length(_norm(_clean_quote(quote))) >= WEAK_MIN_CONTENT:
        lower = STEP_DOWN[verdict]
        return lower, (loc.span if lower != "missing" else None), f"the quote only approximately matches the answer ({loc.score:.0f}/100)"
    return "missing", None, "the quote does not occur in the answer"


ONE_QUOTE_MIN_POINTS = 4


def one_quote_for_all(points: list[Point], checks: dict[str, str]) -> list[Point]:
    """One quote given as the evidence of every key point (four or more) supports none of them: an
    answer does not make every point in one phrase; a judge that obeys an injection does that."""
    credited = [p for p in points if p.verdict in ("covered", "partial")]
    quotes = {normalize(p.evidence or "") for p in credited}
    if len(points) < ONE_QUOTE_MIN_POINTS or len(credited) < len(points) or len(quotes) != 1:
        return points
    why = "the same quote was given for every key point"
    for p in credited:
        checks[p.id] = f"{p.verdict} -> missing: {why}"
    return [p.replace(verdict="missing", credit=0.0, evidence=None,
                      reason=f"{p.reason + ' ' if p.reason else ''}[{p.verdict} -> missing: {why}]")
            for p in points]
