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
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from ..answer import PreparedAnswer
from ..models import PointResult
from ..text import VERDICT_FALSE, VERDICT_TRUE, Segment, clauses, content_length, tokens
from .compiled import CUE_CANDIDATE, NEG_REACH, PLAIN, CompiledGroup, CompiledPoint, CompiledRubric, occurrence_matches, polarity_matches, reading

NONE, OPPOSITE, SAME = 0, 1, 2
WINDOW = 3  # at most this many sentences judged together...
HEAD_MAX = 16  # ...and only when all but the last are short (a heading, a "L1 正则化：" lead-in)
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

_WORD = re.compile(r"[a-z][a-z'-]+")
LABEL_TAIL = 16  # a label's colon comes this soon after its subject ("beam search (束搜索)：")
_LEAD_GAP = re.compile(r"[\s\-*+>#.()\d]{0,4}")  # what may come before a sentence's opening subject
_TERM = re.compile(r"[a-z]{2}|[\u3400-\u9fff]")  # a word, not a symbol, value or formula


@dataclass(slots=True)
class LexicalMatch:
    result: PointResult
    hit_segments: tuple[int, ...]  # indices of the sentences that matched
    groups_found: int  # groups found anywhere in the answer, any polarity


SEP = "\x00"  # joins sentences: no alias pattern can match across it


class AnswerView:
    """The sentences of an answer joined once, so each alias group is one regex scan."""

    __slots__ = ("prepared", "segs", "joined", "starts", "windows", "by_seg", "_words", "_token_segs", "_read", "_cues")

    def __init__(self, prepared: PreparedAnswer):
        self.prepared = prepared
        self.segs = prepared.segments
        self.starts: list[int] = []
        pos = 0
        for seg in self.segs:
            self.starts.append(pos)
            pos += len(seg.norm) + 1
        self.joined = SEP.join(seg.norm for seg in self.segs)
        self.windows = _windows(self.segs)
        self.by_seg: list[list[int]] = [[] for _ in self.segs]  # sentence -> windows holding it
        for k, span in enumerate(self.windows):
            for j in span:
                self.by_seg[j].append(k)
        self._words: dict[str, tuple[list[int], list[tuple[str, int, int]], list[str]]] | None = None
        self._token_segs: dict[str, list[int]] | None = None
        self._read: dict[tuple[int, int, int], int] = {}
        self._cues: dict[int, int] = {}  # sentence -> where the first thing that may be a negation cue is

    def matches(self, group: CompiledGroup, j: int, start: int, end: int) -> bool:
        """`occurrence_matches` on sentence j, each occurrence's negation read once per answer
        (an alias shared by several groups, or found by several probes, is read once)."""
        if group.polarity == "any":
            return True
        key = (j, start, end)
        read = self._read.get(key)
        if read is None:
            norm = self.segs[j].norm
            first = self._cues.get(j)
            if first is None:
                m = CUE_CANDIDATE.search(norm)
                first = self._cues[j] = m.start() if m else len(norm) + NEG_REACH
            # no possible cue before the end of the term's reach (clause_negated reads its clause
            # from the sentence's start when no break comes first): plain, without looking
            read = reading(norm, start, end) if first < end + NEG_REACH else PLAIN
            self._read[key] = read
        return polarity_matches(group.polarity, read)

    def seg_of(self, pos: int) -> int:
        return bisect_right(self.starts, pos) - 1

    @property
    def words(self) -> dict[str, tuple[list[int], list[tuple[str, int, int]], list[str]]]:
        """first letter -> (lengths, (word, sentence, offset), texts) of English words and adjacent
        pairs joined ("multi qurey"), by length, in text order within a length."""
        if self._words is None:
            out: dict[tuple[str, int], list[tuple[str, int, int]]] = {}
            for j, seg in enumerate(self.segs):
                found = [(m.group().replace("-", "").replace("'", ""), m.start()) for m in _WORD.finditer(seg.norm)]
                for w, p in found:
                    out.setdefault((w[0], len(w)), []).append((w, j, p))
                for (a, pa), (b, _) in zip(found, found[1:]):
                    out.setdefault((a[0], len(a) + len(b)), []).append((a + b, j, pa))
            by_first: dict[str, tuple[list[int], list[tuple[str, int, int]], list[str]]] = {}
            for first, size in sorted(out):
                lens, items, texts = by_first.setdefault(first, ([], [], []))
                for x in out[(first, size)]:
                    lens.append(size)
                    items.append(x)
                    texts.append(x[0])
            self._words = by_first
        return self._words

    def near(self, first: str, size: int) -> tuple[list[tuple[str, int, int]], list[str]]:
        """Words (and pairs) opening with `first`, within two letters of `size`, in reading order; their texts."""
        entry = self.words.get(first)
        if entry is None:
            return [], []
        lens, items, texts = entry
        lo, hi = bisect_left(lens, size - 2), bisect_right(lens, size + 2)
        return items[lo:hi], texts[lo:hi]

    @property
    def token_segs(self) -> dict[str, list[int]]:
        """Content token -> the sentences that hold it."""
        if self._token_segs is None:
            index: dict[str, list[int]] = {}
            for j, seg in enumerate(self.segs):
                for t in set(tokens(seg.norm)):
                    index.setdefault(t, []).append(j)
            self._token_segs = index
        return self._token_segs


def _group_hits(
    group: CompiledGroup, view: AnswerView, fuzzy: bool, spans: list[tuple[int, int]]
) -> dict[int, tuple[int, bool]]:
    """sentence index -> (status, via_fuzzy) for one alias group."""
    joined = view.joined
    hits = _exact_hits(group, view, spans)
    if not fuzzy or any(st == SAME for st, _ in hits.values()):
        return hits
    # typo-tolerant aliases, only for a concept the answer does not spell exactly anywhere
    for alias in group.fuzzy_words:
        near, texts = view.near(alias[0], len(alias))
        if not near:
            continue
        # the words within reach scored in one call; the close ones read in text order, as before
        close = process.extract(alias, texts, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF, limit=None)
        for k in sorted(k for _, _, k in close) if len(close) > 1 else [k for _, _, k in close]:
            w, j, p = near[k]
            if j not in hits:
                hits[j] = (SAME if view.matches(group, j, p, p + len(w)) else OPPOSITE, True)
    present = view.token_segs
    for alias, grams in zip(group.fuzzy_cjk, group.fuzzy_cjk_bigrams):
        if sum(1 for g in grams if g in present) * 2 < len(grams):
            continue  # fewer than half of its bigrams anywhere: no alignment can reach the cutoff
        al = fuzz.partial_ratio_alignment(alias, joined, score_cutoff=FUZZY_CUTOFF)
        if al is not None:
            j = view.seg_of(al.dest_start)
            if j not in hits:
                off = view.starts[j]
                st = view.matches(group, j, al.dest_start - off, al.dest_end - off)
                hits[j] = (SAME if st else OPPOSITE, True)
    return hits


def _exact_hits(group: CompiledGroup, view: AnswerView, spans: list[tuple[int, int]]) -> dict[int, tuple[int, bool]]:
    hits: dict[int, tuple[int, bool]] = {}
    for start, end in spans:
        j = view.seg_of(start)
        if hits.get(j, (NONE,))[0] == SAME:
            continue
        off = view.starts[j]
        st = SAME if view.matches(group, j, start - off, end - off) else OPPOSITE
        hits[j] = (max(st, hits.get(j, (NONE,))[0]), False)
    return hits


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


_HEADING_END = re.compile(r"[:：]\s*$|^[^。.!?！？；;]*$")


def _windows(segs: list[Segment]) -> list[tuple[int, ...]]:
    """Sentences judged together: a sentence alone, or with the short lead-ins right before it;
    each of these also under the last one or two headings of its section ("**Beam Search**",
    "缺点：": short lines that name what the sentences below them are about)."""
    out: set[tuple[int, ...]] = set()
    # a sentence of at most HEAD_MAX characters has at most that many content units: not counted
    short = [len(s.norm) <= HEAD_MAX or content_length(s.norm) <= HEAD_MAX for s in segs]
    recent: list[int] = []  # the last two headings before this sentence
    for j in range(len(segs)):
        run = (j,)
        while True:  # the sentence, then with one and two short sentences right before it
            out.add(run)
            if recent:
                a = tuple(h for h in recent[-1:] if h < run[0])
                if a:
                    out.add(a + run)
                b = tuple(h for h in recent if h < run[0])
                if b:
                    out.add(b + run)
            lead = run[0] - 1
            if len(run) == WINDOW or lead < 0 or not short[lead]:
                break
            run = (lead,) + run
        if short[j] and _HEADING_END.search(segs[j].text):
            recent = (recent + [j])[-2:]
    return sorted(out, key=lambda w: (w[-1], len(w)))


def _judge_point(
    point: CompiledPoint,
    view: AnswerView,
    fuzzy: bool,
    partial_from: float,
    spans: list[list[tuple[int, int]]],
    named: list[set[int]],
) -> LexicalMatch:
    prepared = view.prepared
    n = len(point.groups)
    hits = [_group_hits(g, view, fuzzy, sp) for g, sp in zip(point.groups, spans)]  # group: sentence -> status
    # In a comparison, a sentence that names another subject and not this point's says nothing of it,
    # and neither does a window whose only subject is another one ("**MQA**" over "共享一组 K/V").
    own: set[int] = named[point.subject] if point.subject is not None else set()
    others: set[int] = set()
    if point.subject is not None:
        others = set().union(*(s for k, s in enumerate(named) if k != point.subject))
        elsewhere = others - own
        if elsewhere:
            hits = [{j: v for j, v in h.items() if j not in elsewhere} for h in hits]
    found = sum(1 for h in hits if h)
    # A group the answer also states with the claim's polarity somewhere is not contradicted by a
    # negated mention elsewhere: "RNN 无法并行, 自注意力可以并行" compares, it does not contradict.
    affirmed = [any(st == SAME for st, _ in h.values()) for h in hits]
    touched = set().union(*hits) if hits else set()
    live = [(h, aff) for h, aff in zip(hits, affirmed) if h]  # the groups found somewhere

    best_credit, hit_idx, used_fuzzy = 0.0, (), False
    contradiction: tuple[int, ...] | None = None
    for k in sorted({k for j in touched for k in view.by_seg[j]}):
        span = view.windows[k]
        if others and not own.intersection(span) and others.intersection(span):
            continue  # the window is about another subject of the comparison
        same = opp = 0
        win_hits: set[int] = set()
        opp_idx: set[int] = set()
        via_fuzzy = False
        for h, aff in live:
            if aff:  # the group's first sentence in the window that states it
                for j in span:
                    v = h.get(j)
                    if v is not None and v[0] == SAME:
                        same += 1
                        win_hits.add(j)
                        via_fuzzy |= v[1]
                        break
            else:  # never stated with the claim's polarity: what the window has of it is reversed
                if js := [j for j in span if j in h]:
                    opp += 1
                    opp_idx.update(js)
        # reversed terms contradict the claim when nothing of it is affirmed, or in a sentence that
        # affirms the rest: "It includes a name and parameters. Does not include return type."
        # reverses nothing of "the name and the types of the parameters" (Mohler 0.540 -> 0.543)
        if opp and same + opp == n and contradiction is None and (not same or opp_idx & win_hits):
            contradiction = tuple(sorted(win_hits | opp_idx))
        credit = same / n if n else 0.0
        if credit > best_credit + 1e-9:
            best_credit, hit_idx, used_fuzzy = credit, tuple(sorted(win_hits)), via_fuzzy
            if credit >= 1.0:
                break  # covered: no later window can do better, and a contradiction no longer counts

    method = "fuzzy" if (fuzzy and used_fuzzy) else "keyword"
    if best_credit < 1.0 and contradiction is None and n <= NEGATED_TERM_GROUPS and hits[0] and not affirmed[0]:
        # the point's first (most specific) term is written, and only negated: "自注意力无法并行计算"
        # against "并行计算" says the opposite even when the point's other word is not there
        contradiction = tuple(sorted(hits[0]))
    if best_credit < 1.0 and contradiction is None and point.opposite is not None:
        # the answer says the opposite in so many words ("正确" where the point is "错误")
        joined = view.joined
        opp_segs = {
            view.seg_of(s)
            for s, e in point.opposite.spans(joined)
            if occurrence_matches(point.opposite, joined, s, e)
        }
        if not VERDICT_WORDS.intersection(point.opposite.aliases):
            opp_segs &= touched  # a property word: only in a sentence with one of the point's keywords
        if opp_segs:
            contradiction = tuple(sorted(opp_segs))
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
    n = len(view.segs)
    one = [0] * n
    two = [0] * n  # window (i, i + 1)
    index = view.token_segs
    for t in point.tokens:
        segs = index.get(t)
        if not segs:
            continue
        in_pair = set()
        for j in segs:
            one[j] += 1
            in_pair.add(j)
            if j > 0:
                in_pair.add(j - 1)
        for i in in_pair:
            if i + 1 < n:
                two[i] += 1
    best, best_idx = 0, ()
    for i in range(n):
        if one[i] > best:
            best, best_idx = one[i], (i,)
        if i + 1 < n and two[i] > best:
            best, best_idx = two[i], (i, i + 1)
    recall = best / len(point.tokens)
    credit = (recall - PARA_LOW) / (PARA_HIGH - PARA_LOW)
    return max(0.0, min(1.0, credit)), best_idx


def _result(point: CompiledPoint, verdict, credit, evidence, method, reason) -> PointResult:
    # built from the matcher's own values: no need to validate them again
    return PointResult.made(id=point.id, text=point.text, weight=point.weight, verdict=verdict, credit=credit,
                            evidence=evidence, method=method, reason=reason)


def match_points(compiled: CompiledRubric, prepared: PreparedAnswer, fuzzy: bool) -> list[LexicalMatch]:
    view = AnswerView(prepared)
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
    return [
        _judge_point(p, view, fuzzy, compiled.partial_from, [found.get((i, g), []) for g in range(len(p.groups))], named)
        for i, p in enumerate(compiled.points)
    ]


def bare_points(compiled: CompiledRubric, prepared: PreparedAnswer, matches: list[LexicalMatch]) -> tuple[int, set[str]]:
    """(number of credited points, ids of those whose every matching clause is a bare term).

    A clause is bare when, once the point's own terms are taken out, almost nothing is left:
    "Q K V、softmax、根号dk" lists terms, "除以根号dk防止softmax饱和" explains one.
    """
    credited, bare = 0, set()
    by_id = {p.id: (i, p) for i, p in enumerate(compiled.points)}
    seen: dict[int, list[tuple[str, dict[int, list]]]] = {}  # sentence -> its clauses, the probes in each
    for m in matches:
        if m.result.credit <= 0 or not m.hit_segments:
            continue
        credited += 1
        pi, point = by_id[m.result.id]
        hit_clauses = 0
        for j in m.hit_segments:
            if j not in seen:
                seen[j] = [(c, compiled.probes_in(c)) for c in clauses(prepared.segments[j].norm)]
            for c, probes in seen[j]:
                # the point's aliases whose piece the clause holds (one automaton pass per clause)
                spans = [sp for probe in probes.get(pi, ()) for sp in probe.spans(c)]
                if not any(_TERM.search(c, a, b) for a, b in spans):
                    continue  # no term here: a value or a formula ("n/2") answers, it lists nothing
                keep = [True] * len(c)
                for a, b in spans:
                    keep[a:b] = [False] * (b - a)
                left = "".join(ch if k else " " for ch, k in zip(c, keep))
                if content_length(left) > BARE_LEFT:
                    break
                hit_clauses += 1
            else:
                continue
            break  # an explained clause: not bare
        else:
            if hit_clauses:
                bare.add(point.id)
    return credited, bare
