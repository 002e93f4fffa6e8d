"""Lexical matching of key points: alias groups, typo-tolerant aliases, paraphrased claims.

`match_points(compiled, prepared, fuzzy)` is the pure helper behind both offline matchers:

1. Each alias group of a point is looked up in each sentence of the answer; an occurrence counts
   when its polarity (negated or not) is the claim's.
2. A point is judged on its best window of up to three consecutive sentences: the share of its
   groups found there is its keyword credit (all groups: covered; at least half: partial). When the
   window states the claim with a reversed polarity, the point is `contradicted`.
3. With `fuzzy`, misspelled aliases count too (rapidfuzz, same first letter, ratio >= 85), and the
   point's own sentence is compared with each window (share of its content tokens present): a
   paraphrase without the keywords still earns credit.

The evidence is the span of the original answer from the first to the last sentence that matched.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from ..guards import PreparedAnswer
from ..models import PointResult
from ..text import Segment, clauses, content_length, tokens
from .compiled import CompiledGroup, CompiledPoint, CompiledRubric, occurrence_matches

NONE, OPPOSITE, SAME = 0, 1, 2
WINDOW = 3  # at most this many sentences judged together...
HEAD_MAX = 16  # ...and only when all but the last are short (a heading, a "L1 正则化：" lead-in)
FUZZY_CUTOFF = 85.0
PARTIAL_AT = 0.5
BARE_LEFT = 2  # content units left in a clause once the rubric's terms are removed
# paraphrase: share of the claim's tokens found in a window, mapped linearly to credit
PARA_LOW, PARA_HIGH = 0.35, 0.8

_WORD = re.compile(r"[a-z][a-z'-]+")


@dataclass(slots=True)
class LexicalMatch:
    result: PointResult
    hit_segments: tuple[int, ...]  # indices of the sentences that matched
    groups_found: int  # groups found anywhere in the answer, any polarity


def _scan(group: CompiledGroup, seg: Segment, words: list[tuple[str, int]], fuzzy: bool) -> tuple[int, bool]:
    """(status, via_fuzzy) of one alias group in one sentence."""
    status = NONE
    for m in group.regex.finditer(seg.norm):
        if occurrence_matches(group, seg.norm, m.start(), m.end()):
            return SAME, False
        status = OPPOSITE
    if status or not fuzzy:
        return status, False
    if group.fuzzy_words and words:
        for alias in group.fuzzy_words:
            cands = [w for w, _ in words if w[0] == alias[0] and abs(len(w) - len(alias)) <= 2]
            if not cands:
                continue
            hit = process.extractOne(alias, cands, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF)
            if hit:
                pos = next(p for w, p in words if w == hit[0])
                return (SAME if occurrence_matches(group, seg.norm, pos, pos + len(hit[0])) else OPPOSITE), True
    for alias in group.fuzzy_cjk:
        al = fuzz.partial_ratio_alignment(alias, seg.norm, score_cutoff=FUZZY_CUTOFF)
        if al is not None:
            return (SAME if occurrence_matches(group, seg.norm, al.dest_start, al.dest_end) else OPPOSITE), True
    return NONE, False


def _candidate_words(norm: str) -> list[tuple[str, int]]:
    """English words of a sentence, separators dropped, and adjacent pairs joined ("multi qurey")."""
    found = [(m.group().replace("-", "").replace("'", ""), m.start()) for m in _WORD.finditer(norm)]
    pairs = [(a + b, pa) for (a, pa), (b, _) in zip(found, found[1:])]
    return found + pairs


def _evidence(prepared: PreparedAnswer, idx: list[int]) -> str | None:
    if not idx:
        return None
    segs = prepared.segments
    return prepared.original[segs[min(idx)].start : segs[max(idx)].end]


def _windows(segs: list[Segment]) -> list[range]:
    """Runs of sentences judged together: a sentence alone, or short lead-ins plus one sentence."""
    out = []
    short = [content_length(s.norm) <= HEAD_MAX for s in segs]
    for i in range(len(segs)):
        for w in range(1, WINDOW + 1):
            if i + w > len(segs):
                break
            if w > 1 and not short[i + w - 2]:
                break
            out.append(range(i, i + w))
    return out


def _judge_point(
    point: CompiledPoint,
    windows: list[range],
    prepared: PreparedAnswer,
    words: list[list[tuple[str, int]]],
    seg_tokens: list[frozenset[str]],
    fuzzy: bool,
) -> LexicalMatch:
    segs = prepared.segments
    n = len(point.groups)
    grid = []  # grid[j][g] = (status, via_fuzzy)
    for j, seg in enumerate(segs):
        grid.append([_scan(g, seg, words[j], fuzzy) for g in point.groups])
    found = sum(1 for g in range(n) if any(grid[j][g][0] for j in range(len(segs))))
    # A group the answer also states with the claim's polarity somewhere is not contradicted by a
    # negated mention elsewhere: "RNN 无法并行, 自注意力可以并行" compares, it does not contradict.
    affirmed = [any(grid[j][g][0] == SAME for j in range(len(segs))) for g in range(n)]

    best = (-1.0, 0, ())  # (credit, contradicted, hit indices)
    used_fuzzy = False
    contradiction: tuple[int, ...] | None = None
    for span in windows:
            same = opp = 0
            hit_idx: set[int] = set()
            opp_idx: set[int] = set()
            via_fuzzy = False
            for g in range(n):
                st = [grid[j][g] for j in span]
                if any(s == SAME for s, _ in st):
                    same += 1
                    for j in span:
                        if grid[j][g][0] == SAME:
                            hit_idx.add(j)
                            via_fuzzy |= grid[j][g][1]
                            break
                elif any(s == OPPOSITE for s, _ in st) and not affirmed[g]:
                    opp += 1
                    opp_idx.update(j for j in span if grid[j][g][0] == OPPOSITE)
            credit = same / n if n else 0.0
            if opp and same + opp == n and contradiction is None:
                contradiction = tuple(sorted(hit_idx | opp_idx))
            if credit > best[0] + 1e-9:
                best = (credit, 0, tuple(sorted(hit_idx)))
                used_fuzzy = via_fuzzy

    kw_credit, hit_idx = max(best[0], 0.0), best[2]
    method = "fuzzy" if (fuzzy and used_fuzzy) else "keyword"

    if kw_credit < 1.0 and contradiction is not None:
        return LexicalMatch(
            _result(point, "contradicted", 0.0, _evidence(prepared, list(contradiction)), method,
                     "the answer states the opposite"),
            contradiction, found,
        )

    credit, verdict_idx = kw_credit, hit_idx
    if fuzzy and point.tokens and kw_credit < 1.0:
        para, para_idx = _paraphrase(point, seg_tokens)
        if para > credit + 1e-9:
            credit, verdict_idx, method = para, para_idx, "fuzzy"

    if credit >= 0.999:
        verdict, credit = "covered", 1.0
    elif credit >= PARTIAL_AT - 1e-9:
        verdict = "partial"
    else:
        verdict, credit, verdict_idx = "missing", 0.0, ()
    ev = _evidence(prepared, list(verdict_idx)) if verdict != "missing" else None
    return LexicalMatch(_result(point, verdict, round(credit, 4), ev, method, None), verdict_idx, found)


def _paraphrase(point: CompiledPoint, seg_tokens: list[frozenset[str]]) -> tuple[float, tuple[int, ...]]:
    """Best share of the claim's tokens found in a window of one or two sentences, as credit."""
    best, best_idx = 0.0, ()
    need = point.tokens
    for i in range(len(seg_tokens)):
        for w in (1, 2):
            if i + w > len(seg_tokens):
                break
            have = seg_tokens[i] if w == 1 else seg_tokens[i] | seg_tokens[i + 1]
            recall = len(need & have) / len(need)
            if recall > best:
                best, best_idx = recall, tuple(range(i, i + w))
    credit = (best - PARA_LOW) / (PARA_HIGH - PARA_LOW)
    return max(0.0, min(1.0, credit)), best_idx


def _result(point: CompiledPoint, verdict, credit, evidence, method, reason) -> PointResult:
    return PointResult(
        id=point.id, text=point.text, weight=point.weight, verdict=verdict, credit=credit,
        evidence=evidence, method=method, reason=reason,
    )


def match_points(compiled: CompiledRubric, prepared: PreparedAnswer, fuzzy: bool) -> list[LexicalMatch]:
    segs = prepared.segments
    words = [_candidate_words(s.norm) for s in segs] if fuzzy else [[] for _ in segs]
    seg_tokens = [frozenset(tokens(s.norm)) for s in segs] if fuzzy else []
    windows = _windows(segs)
    return [_judge_point(p, windows, prepared, words, seg_tokens, fuzzy) for p in compiled.points]


def bare_points(compiled: CompiledRubric, prepared: PreparedAnswer, matches: list[LexicalMatch]) -> tuple[int, set[str]]:
    """(number of credited points, ids of those whose every matching clause is a bare term).

    A clause is bare when, once every alias of the rubric is taken out, almost nothing is left:
    "Q K V、softmax、根号dk" lists terms, "除以根号dk防止softmax饱和" explains one.
    """
    credited, bare = 0, set()
    if compiled.all_aliases is None:
        return credited, bare
    by_id = {p.id: p for p in compiled.points}
    for m in matches:
        if m.result.credit <= 0 or not m.hit_segments:
            continue
        credited += 1
        point = by_id[m.result.id]
        hit_clauses = [
            c
            for j in m.hit_segments
            for c in clauses(prepared.segments[j].norm)
            if any(g.regex.search(c) for g in point.groups)
        ]
        if hit_clauses and all(content_length(compiled.all_aliases.sub(" ", c)) <= BARE_LEFT for c in hit_clauses):
            bare.add(point.id)
    return credited, bare
