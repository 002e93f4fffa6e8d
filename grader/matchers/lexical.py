"""Lexical matching of key points: alias groups, typo-tolerant aliases, paraphrased claims.

`match_points(compiled, prepared, fuzzy)` is the pure helper behind both offline matchers:

1. Each alias group of a point is looked up in each sentence of the answer; an occurrence counts
   when its polarity (negated or not) is the claim's.
2. A point is judged on its best window of up to three consecutive sentences: the share of its
   groups found there is its keyword credit (all groups: covered; at least half: partial). When the
   window states the claim with a reversed polarity, the point is `contradicted`; so is a point of
   one or two groups whose first group the answer writes only negated.
3. With `fuzzy`, misspelled aliases count too (rapidfuzz, same first letter, ratio >= 85), and the
   point's own sentence is compared with each window (share of its content tokens present): a
   paraphrase without the keywords still earns credit.

The evidence is the span of the original answer from the first to the last sentence that matched.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from itertools import repeat

from rapidfuzz import fuzz, process

from ..answer import PreparedAnswer
from ..plain import Point
from ..text import VERDICT_FALSE, VERDICT_TRUE, clauses, content_length
from .compiled import CompiledGroup, CompiledPoint, CompiledRubric, occurrence_matches
from .view import SEP, AnswerView

NONE, OPPOSITE, SAME = 0, 1, 2
FUZZY_CUTOFF = 85.0
BARE_LEFT = 2  # content units left in a clause once the rubric's terms are removed
# paraphrase: share of the claim's tokens found in a window, mapped linearly to credit
PARA_LOW, PARA_HIGH = 0.35, 0.8
# A point of at most this many groups whose first group occurs only negated is contradicted, the
# other group found or not (dev built rubrics: Spearman 0.805 -> 0.820; with 3 groups or more, as
# ad-hoc claims have, ADS fell 0.625 -> 0.550; any group rather than the first: Mohler 0.525 -> 0.521)
NEGATED_TERM_GROUPS = 2
# Opposites that are a verdict on a statement ("正确" where the point says it is wrong) contradict the
# point wherever the answer writes them ("正确。"); any other opposite (a property: "增大" where the
# point says "减小") only in a sentence that has one of the point's keywords.
VERDICT_WORDS = frozenset(VERDICT_FALSE + VERDICT_TRUE)

LABEL_TAIL = 16  # a label's colon comes this soon after its subject ("beam search (束搜索)：")
_LEAD_GAP = re.compile(r"[\s\-*+>#.()\d]{0,4}")  # what may come before a sentence's opening subject
_TERM = re.compile(r"[a-z]{2}|[\u3400-\u9fff]")  # a word, not a symbol, value or formula


@dataclass(slots=True)
class LexicalMatch:
    result: Point
    hit_segments: tuple[int, ...]  # indices of the sentences that matched
    groups_found: int  # groups found anywhere in the answer, any polarity


def _group_hits(group: CompiledGroup, view: AnswerView, fuzzy: bool, spans: list[tuple[int, int]]) -> tuple[int, int, int]:
    """One alias group in the answer, as sentence bitmasks: (the sentences that state it with the
    claim's polarity, those where it occurs at all, those where only a typo-tolerant alias found it)."""
    same, hit = _exact_hits(group, view, spans)
    if not fuzzy or same:
        return same, hit, 0
    # typo-tolerant aliases, only for a concept the answer does not spell exactly anywhere
    typo = 0
    live = view.live if group.fuzzy_words else None
    for alias in group.fuzzy_words:
        if live is not None and alias not in live:
            continue
        near, texts = view.near(alias[0], len(alias))
        if not near:
            continue
        # the words within reach scored in one call; the close ones read in text order, as before
        close = process.extract(alias, texts, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF, limit=None)
        for k in sorted(k for _, _, k in close) if len(close) > 1 else [k for _, _, k in close]:
            w, j, p = near[k]
            bit = 1 << j
            if not hit & bit:
                hit |= bit
                typo |= bit
                if view.matches(group, j, p, p + len(w)):
                    same |= bit
    for alias, grams in zip(group.fuzzy_cjk, group.fuzzy_cjk_bigrams):
        if len(grams.intersection(view.present)) * 2 < len(grams):
            continue  # fewer than half of its bigrams anywhere: no alignment can reach the cutoff
        al = fuzz.partial_ratio_alignment(alias, view.joined, score_cutoff=FUZZY_CUTOFF)
        if al is not None:
            j = view.seg_of(al.dest_start)
            bit = 1 << j
            if not hit & bit:
                hit |= bit
                typo |= bit
                off = view.starts[j]
                if view.matches(group, j, al.dest_start - off, al.dest_end - off):
                    same |= bit
    return same, hit, typo


def _exact_hits(group: CompiledGroup, view: AnswerView, spans: list[tuple[int, int]]) -> tuple[int, int]:
    """(sentences stating the group with the claim's polarity, sentences holding it) as bitmasks."""
    same = hit = 0
    starts = view.starts
    for start, end in spans:
        j = bisect_right(starts, start) - 1
        bit = 1 << j
        if same & bit:
            continue
        hit |= bit
        off = starts[j]
        if view.matches(group, j, start - off, end - off):
            same |= bit
    return same, hit


def _bits(mask: int) -> tuple[int, ...]:
    """The indices of a bitmask's set bits, ascending."""
    if mask >> 64:  # an answer of many sentences: one pass over the digits, not one big-int step per bit
        digits = bin(mask)[:1:-1]
        return tuple(i for i, c in enumerate(digits) if c == "1")
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return tuple(out)


def _evidence(prepared: PreparedAnswer, idx) -> str | None:
    """The original text of the matched sentences: the last one and those right before it (a
    section heading further up is context, not part of the quote)."""
    if not idx:
        return None
    segs = prepared.segments
    have = set(idx)
    last = first = max(have)
    while first - 1 in have:
        first -= 1
    return prepared.original[segs[first].start : segs[last].end]


def _judge_point(
    point: CompiledPoint,
    view: AnswerView,
    fuzzy: bool,
    partial_from: float,
    spans: list[list[tuple[int, int]]],
    named: list[int],
) -> LexicalMatch:
    prepared = view.prepared
    n = len(point.groups)
    hits = [_group_hits(g, view, fuzzy, sp) for g, sp in zip(point.groups, spans)]  # (same, hit, typo) masks
    # In a comparison, a sentence that names another subject and not this point's says nothing of it,
    # and neither does a window whose only subject is another one ("**MQA**" over "共享一组 K/V").
    own = others = 0
    if point.subject is not None:
        own = named[point.subject]
        for k, m in enumerate(named):
            if k != point.subject:
                others |= m
        keep = ~(others & ~own)
        if keep != -1:
            hits = [(s & keep, h & keep, t & keep) for s, h, t in hits]
    found = sum(1 for _, h, _ in hits if h)
    touched = 0
    for _, h, _ in hits:
        touched |= h
    # A group the answer also states with the claim's polarity somewhere is not contradicted by a
    # negated mention elsewhere: "RNN 无法并行, 自注意力可以并行" compares, it does not contradict.
    live = [x for x in hits if x[1]]  # the groups found somewhere

    best_credit, hit_idx, used_fuzzy = 0.0, (), False
    contradiction: tuple[int, ...] | None = None
    cand = 0  # the windows that hold a sentence where some group occurs
    seg_windows = view.seg_windows
    for j in _bits(touched):
        cand |= seg_windows[j]
    win_masks = view.win_masks
    for k in _bits(cand):
        wm = win_masks[k]
        if others and not own & wm and others & wm:
            continue  # the window is about another subject of the comparison
        same = opp = 0
        win_hits = opp_idx = 0
        via_fuzzy = False
        for s, h, t in live:
            if s:  # the group's first sentence in the window that states it
                x = s & wm
                if x:
                    same += 1
                    x &= -x
                    win_hits |= x
                    via_fuzzy |= bool(t & x)
            else:  # never stated with the claim's polarity: what the window has of it is reversed
                x = h & wm
                if x:
                    opp += 1
                    opp_idx |= x
        # reversed terms contradict the claim when nothing of it is affirmed, or in a sentence that
        # affirms the rest: "It includes a name and parameters. Does not include return type."
        # reverses nothing of "the name and the types of the parameters" (Mohler 0.540 -> 0.543)
        if opp and same + opp == n and contradiction is None and (not same or opp_idx & win_hits):
            contradiction = _bits(win_hits | opp_idx)
        credit = same / n if n else 0.0
        if credit > best_credit + 1e-9:
            best_credit, hit_idx, used_fuzzy = credit, _bits(win_hits), via_fuzzy
            if credit >= 1.0:
                break  # covered: no later window can do better, and a contradiction no longer counts

    method = "fuzzy" if (fuzzy and used_fuzzy) else "keyword"
    if best_credit < 1.0 and contradiction is None and n <= NEGATED_TERM_GROUPS and hits[0][1] and not hits[0][0]:
        # the point's first (most specific) term is written, and only negated: "自注意力无法并行计算"
        # against "并行计算" says the opposite even when the point's other word is not there
        contradiction = _bits(hits[0][1])
    if best_credit < 1.0 and contradiction is None and point.opposite is not None:
        # the answer says the opposite in so many words ("正确" where the point is "错误")
        joined = view.joined
        opp_segs = 0
        for s, e in point.opposite.spans(joined):
            if occurrence_matches(point.opposite, joined, s, e):
                opp_segs |= 1 << view.seg_of(s)
        if not VERDICT_WORDS.intersection(point.opposite.aliases):
            opp_segs &= touched  # a property word: only in a sentence with one of the point's keywords
        if opp_segs:
            contradiction = _bits(opp_segs)
    if best_credit < 1.0 and contradiction is not None:
        return LexicalMatch(
            _result(point, "contradicted", 0.0, _evidence(prepared, contradiction), method,
                    "the answer states the opposite"),
            contradiction, found,
        )

    credit, verdict_idx = best_credit, hit_idx
    if fuzzy and point.tokens and best_credit < 1.0:
        para, para_idx = _paraphrase(point, view)
        if para > credit + 1e-9:
            credit, verdict_idx, method = para, para_idx, "fuzzy"

    if credit >= 0.999:
        verdict, credit = "covered", 1.0
    elif credit >= partial_from - 1e-9:
        verdict = "partial"
    else:
        verdict, credit, verdict_idx = "missing", 0.0, ()
    ev = _evidence(prepared, verdict_idx) if verdict != "missing" else None
    return LexicalMatch(_result(point, verdict, round(credit, 4), ev, method, None), verdict_idx, found)


def _paraphrase(point: CompiledPoint, view: AnswerView) -> tuple[float, tuple[int, ...]]:
    """Best share of the claim's tokens found in a window of one or two sentences, as credit."""
    # the claim's tokens that the answer holds, as a token mask (distinct bits: their sum is their union)
    claim = sum(map(view.token_bits.get, point.tokens, repeat(0)))
    best, best_idx = 0, ()
    if claim:
        pairs = view._pair_masks
        last = len(pairs)
        for i, mask in enumerate(view._seg_masks):  # the first best window, a sentence before the pair it opens
            c = (claim & mask).bit_count()
            if c > best:
                best, best_idx = c, (i,)
            if i < last:
                c = (claim & pairs[i]).bit_count()
                if c > best:
                    best, best_idx = c, (i, i + 1)
    recall = best / len(point.tokens)
    credit = (recall - PARA_LOW) / (PARA_HIGH - PARA_LOW)
    return max(0.0, min(1.0, credit)), best_idx


def _result(point: CompiledPoint, verdict, credit, evidence, method, reason) -> Point:
    return Point(id=point.id, text=point.text, weight=point.weight, verdict=verdict, credit=credit,
                 evidence=evidence, method=method, reason=reason)


def match_points(compiled: CompiledRubric, prepared: PreparedAnswer, fuzzy: bool, view: AnswerView | None = None) -> list[LexicalMatch]:
    if view is None:
        view = AnswerView(prepared, compiled.reach)
    found = compiled.exact_spans(view.joined)
    # sentences naming each compared subject: a claim about MHA is not made by a sentence about MQA
    named = [
        {view.seg_of(s) for i in members for s, _ in found.get((i, 0), ())} for members in compiled.subjects
    ]
    if named:
        # a sentence labelled with a subject ("- Beam Search：… 比贪心还小") is about that one: the
        # others it names after the label are compared with it, not described
        for k, members in enumerate(compiled.subjects):
            for i in members:
                for s, e in found.get((i, 0), ()):
                    j = view.seg_of(s)
                    colon = view.joined.find(":", e, e + LABEL_TAIL)
                    if colon >= 0 and _LEAD_GAP.fullmatch(view.joined, view.starts[j], s) and SEP not in view.joined[e:colon]:
                        for other, segs in enumerate(named):
                            if other != k:
                                segs.discard(j)
    masks = [sum(1 << j for j in segs) for segs in named]  # each subject's sentences as a bitmask
    return [
        _judge_point(p, view, fuzzy, compiled.partial_from, [found.get((i, g), []) for g in range(len(p.groups))], masks)
        for i, p in enumerate(compiled.points)
    ]


def _blank(text: str, spans) -> str:
    """`text` with each span blanked out (a space: what is left is counted in words and characters)."""
    out, pos = [], 0
    for a, b in sorted(spans):
        if b <= max(a, pos):
            continue  # empty, or inside a span already blanked
        out.append(text[pos:a] if a > pos else "")
        out.append(" ")
        pos = b
    out.append(text[pos:])
    return "".join(out)


def bare_points(compiled: CompiledRubric, prepared: PreparedAnswer, matches: list[LexicalMatch]) -> tuple[int, set[str]]:
    """(number of credited points, ids of those whose every matching clause is a bare term).

    A clause is bare when, once the point's own terms are taken out, almost nothing is left:
    "Q K V、softmax、根号dk" lists terms, "除以根号dk防止softmax饱和" explains one.
    """
    credited, bare = 0, set()
    by_id = {p.id: (i, p) for i, p in enumerate(compiled.points)}
    seen: dict[int, list[tuple[str, set[str]]]] = {}  # sentence -> its clauses, the alias pieces in each
    for m in matches:
        if m.result.credit <= 0 or not m.hit_segments:
            continue
        credited += 1
        pi, point = by_id[m.result.id]
        hit_clauses = 0
        for j in m.hit_segments:
            if j not in seen:
                seen[j] = [(c, compiled.pieces_in(c)) for c in clauses(prepared.segments[j].norm)]
            for c, pieces in seen[j]:
                # the point's aliases whose piece the clause holds
                spans = [sp for probe in compiled.probes_of(pieces, pi) for sp in probe.spans(c)] if pieces else ()
                if not any(_TERM.search(c, a, b) for a, b in spans):
                    continue  # no term here: a value or a formula ("n/2") answers, it lists nothing
                if content_length(_blank(c, spans)) > BARE_LEFT:
                    break
                hit_clauses += 1
            else:
                continue
            break  # an explained clause: not bare
        else:
            if hit_clauses:
                bare.add(point.id)
    return credited, bare
