"""Known wrong claims: a key point's `misconceptions`, found in an answer after the lexical match.

A fluent wrong answer uses the right words ("Q、K、V 来自同一个共享的投影矩阵" has 投影矩阵), so
alias groups find the point partly made. A rubric that knows the usual wrong claims catches them,
as a teacher's marking scheme does. A wrong claim is stated when each of its alias groups occurs
with the claim's polarity (read from its own text, as a point's are: a plain claim needs plain
occurrences, "不是共享的投影矩阵" does not state it) in one sentence of the answer, or in one
sentence under its headings ("MQA：", "**缺点**"), as a key point's window reads them.

A point whose wrong claim the answer states is `contradicted`, the claim its reason, even when
another sentence makes the point (COVERED "never": "Beam Search 保留 k 条候选序列。……Beam Search
能保证找到全局最优序列。" states a wrong claim beside the right one, and people take marks off for
it). A claim named to refute it ("常见误解是 X", "a common mistake is to think X", "X 是错误的",
under a heading "常见误区：") is not stated. Chosen on dev and dev3 (`python eval/agreement.py`):
"never" dev 0.924, dev3 0.811 (misconception kinds 3.85 / 7.76 / 4.29); "apart" (a covered point
stays covered when other sentences state the claim) 0.924, 0.808 (4.00 / 7.98 / 4.64); no right
answer of either set loses a point to a claim (`python eval/misconceptions.py`).

Where: a claim's aliases are looked for in the answer and in the answer without its asides (a
parenthesis, a colon, quotes: "Encoder-Only（BERT）：使用单向注意力"); a group in the label that opens a
line ("Greedy Search：") is found in the sentences after it on that line (dev3 0.815 -> 0.819); its
groups anywhere in the sentence (SPAN "window"; within one clause: dev 0.917, dev3 0.803; within 30 characters: 0.921, 0.800).

Cost: one Aho-Corasick pass over the answer finds the claims' alias pieces; only the claims all of
whose groups may occur are matched (about 0.1 ms a fuzzy grade, `python eval/misconceptions.py --cost`).
"""

from __future__ import annotations

import re
from bisect import bisect_right

from ..answer import PreparedAnswer
from ..plain import CLAIMS
from .compiled import CompiledMisconception, CompiledRubric
from .lexical import LexicalMatch, _evidence, _result
from .view import _HEADING_END, AnswerView

# "apart": a covered point stands when the wrong claim is stated in other sentences than those that
# cover it; "always": a covered point stands; "never": the wrong claim contradicts it anyway
COVERED = "never"


# How close a claim's groups must be in the sentence that states it (the sentences of a window
# before it are headings: what is found there counts): "window" anywhere in it, "clause" in one
# clause (CLAIM_CLAUSE), "near" within NEAR characters of each other
SPAN = "window"
NEAR = 30
CLAIM_CLAUSE = re.compile(r"[,;:]|\b(?:but|while|whereas)\b|但是|但|而是|然而|不过|却")

# A wrong claim named to refute it ("常见误解是 X，其实 Y", "a common mistake is to think X", "X 是错误的",
# "rather than X"), before it in its sentence or in a heading above it ("**常见误区**："), after it in
# its clause: it is not stated
REFUTE_BEFORE = re.compile(
    r"误解|误区|误以为|误认为|错误地?认为|错误的(?:说法|观点|理解|认识)|错误说法|常见错误|并非如此|以为|rather than|instead of|而不是|而非"
    r"|\b(?:misconceptions?|mistakes?|myths?|misunderstandings?|wrongly|mistakenly|incorrectly|erroneously|fallacy)\b"
    r"|\bcontrary to\b|\bit is (?:wrong|incorrect|false|a mistake) to\b|\bpeople (?:often |sometimes )?(?:think|believe|assume)\b"
)
REFUTE_AFTER = re.compile(
    r"^[^;:.!?]{0,16}?(?:是错的|是错误的|是不对的|不对|不正确|是误解|是一个?误区|是一种误解|是个误区|的说法是错|这种说法|这是错|并不成立|不成立)"
    r"|^[^,;:]{0,30}?\b(?:is|are|was) (?:a |another )?(?:wrong|incorrect|false|a myth|a misconception|a (?:common )?mistake|not true|not correct)\b"
)


def _refuted(norm: str, start: int, end: int) -> bool:
    """Is the occurrence norm[start:end] of a claim's group named to refute it?"""
    return REFUTE_BEFORE.search(norm, 0, start) is not None or REFUTE_AFTER.search(norm[end:]) is not None


def _close(occ: list[tuple[int, int]], norm: str) -> bool:
    """Are these occurrences (one per group, in one sentence) close enough for SPAN?"""
    lo, hi = min(s for s, _ in occ), max(e for _, e in occ)
    if SPAN == "near":
        return hi - lo <= NEAR + max(e - s for s, e in occ)
    return CLAIM_CLAUSE.search(norm, lo, hi) is None  # "clause": no break between the first and the last


def under_refuting(view: AnswerView) -> frozenset[int]:
    """The sentences under a heading (or a lead-in) that names wrong claims ("**常见误区**：")."""
    return frozenset(span[-1] for span in view.windows if len(span) > 1
                     and any(REFUTE_BEFORE.search(view.segs[j].norm) for j in span[:-1]))


_LABEL = re.compile(r"[^:.!?;\x00]{1,24}:")


def line_labels(view: AnswerView) -> dict[int, tuple[int, int]]:
    """Sentence -> (the sentence that opens its line with a label, where the label ends): in
    "Greedy Search：每一步选概率最大的 token。所以能拿到全局最优解。" the second sentence is about
    Greedy Search too."""
    out: dict[int, tuple[int, int]] = {}
    text = view.prepared.original
    label: tuple[int, int] | None = None
    line = -1
    for j, seg in enumerate(view.segs):
        here = text.count("\n", 0, seg.start)
        if here != line:
            line = here
            m = _LABEL.match(seg.norm)
            label = (j, m.end()) if m else None
        elif label is not None:
            out[j] = label
    return out


def stated(view: AnswerView, misc: CompiledMisconception, spans: list[list[tuple[int, int]]],
           refuting: frozenset[int] = frozenset(), labels: dict[int, tuple[int, int]] | None = None) -> tuple[int, ...] | None:
    """The sentences of the first window that states the wrong claim, or None; `spans`: each
    group's occurrences in the joined answer; `refuting`: `under_refuting(view)`; `labels`:
    `line_labels(view)` (a group found in a line's label is found in the sentences after it)."""
    found: list[dict[int, list[tuple[int, int]]]] = []  # per group: sentence -> occurrences there
    via: dict[tuple[int, int], int] = {}  # (group, sentence) -> the sentence whose label has the group
    for gi, (group, occurrences) in enumerate(zip(misc.groups, spans)):
        segs: dict[int, list[tuple[int, int]]] = {}
        for s, e in occurrences:
            j = view.seg_of(s)
            a, b = s - view.starts[j], e - view.starts[j]
            if view.matches(group, j, a, b) and not _refuted(view.segs[j].norm, a, b):
                segs.setdefault(j, []).append((a, b))
        if not segs:
            return None
        for j, (k, end) in (labels or {}).items():
            if j not in segs and k in segs and any(b <= end for _, b in segs[k]):
                segs[j] = []  # found in the label of its line, not in the sentence itself
                via[(gi, j)] = k
        found.append(segs)
    for k in sorted({k for segs in found[:1] for j in segs for k in view.by_seg[j]}):
        span = view.windows[k]
        if any(not _HEADING_END.search(view.segs[j].text) for j in span[:-1]):
            continue  # a short statement before the sentence is a claim of its own, not its heading
        if span[-1] in refuting:
            continue  # under a heading that names wrong claims ("常见误区：")
        hit = [next((j for j in span if j in segs), None) for segs in found]
        if None in hit:
            continue
        last = span[-1]
        here = [segs[last] for segs, j in zip(found, hit) if j == last and segs[last]]
        if SPAN != "window" and len(here) > 1:
            # the groups in the sentence itself must be close; those in its headings count as found
            if not any(_close(list(occ), view.segs[last].norm) for occ in _product(here)):
                continue
        return tuple(sorted(set(hit) | {via[(g, j)] for g, j in enumerate(hit) if (g, j) in via}))
    return None


def _product(lists: list[list[tuple[int, int]]], limit: int = 64):
    """One occurrence per group, each way (at most `limit` ways: a claim's groups occur a few times)."""
    from itertools import islice, product

    return islice(product(*lists), limit)


def _automaton(compiled: CompiledRubric):
    """Every literal piece of the rubric's wrong claims' aliases -> (the piece, the (point, claim,
    group)s with an alias holding it); built on first use, kept on the rubric."""
    if compiled._claims is not None:
        return compiled._claims
    import ahocorasick

    index: dict[str, set[tuple[int, int, int]]] = {}
    for pi, p in enumerate(compiled.points):
        for mi, m in enumerate(p.misconceptions):
            for gi, g in enumerate(m.groups):
                for probe in g.probes:
                    index.setdefault(probe.piece, set()).add((pi, mi, gi))
    automaton = ahocorasick.Automaton()
    for piece, keys in index.items():
        automaton.add_word(piece, (piece, frozenset(keys)))
    automaton.make_automaton()
    compiled._claims = automaton
    return automaton


def _occurrences_in(compiled: CompiledRubric, joined: str) -> dict[tuple[int, int], list[list[tuple[int, int]]]]:
    """(point, claim) -> each group's occurrences in the joined answer, for the wrong claims all of
    whose groups occur: one pass over the text finds every alias's piece; only the claims each of
    whose groups has a piece there are matched, their aliases around their pieces (as
    `CompiledRubric.exact_spans` does for points)."""
    ends: dict[str, list[int]] = {}  # piece found -> where it ends
    present: set[tuple[int, int, int]] = set()  # (point, claim, group) with a piece found
    for end, (piece, keys) in _automaton(compiled).iter(joined):
        if piece in ends:
            ends[piece].append(end)
        else:
            ends[piece] = [end]
            present |= keys
    out = {}
    for pi, mi, gi in present:
        misc = compiled.points[pi].misconceptions[mi]
        if gi or not all((pi, mi, g) in present for g in range(1, len(misc.groups))):
            continue
        groups = []
        for group in misc.groups:  # the claim's every group may occur: its aliases are matched, around their pieces
            spans: set[tuple[int, int]] = set()
            for probe in group.probes:
                found = ends.get(probe.piece)
                if found is None or (probe.others and not all(r in joined for r in probe.others)):
                    continue  # a phrase ("查询来自encoder") whose piece ("encoder") the answer has, and no more
                for end in found:
                    start = end + 1 - len(probe.piece)
                    spans.update(((start, end + 1),) if probe.literal else probe.spans_around(joined, start, end + 1))
            if not spans:
                break
            groups.append(sorted(spans))
        else:
            out[(pi, mi)] = groups
    return out


# What a sentence puts between a claim's subject and what it says of it: a parenthesis of examples
# or a gloss, a colon, quotes ("Encoder-Only（BERT、RoBERTa）：使用单向的因果注意力"). A claim's
# aliases ("encoder-only 使用单向") are also looked for in the answer without them.
_ASIDE = re.compile(r"\([^()\x00]{0,40}\)|[:\"]")


def _compact(joined: str) -> tuple[str, list[int], list[int]] | None:
    """The joined answer without its asides, where each of its kept runs starts in it and in the
    answer; None when it has none."""
    if not _ASIDE.search(joined):
        return None
    parts: list[str] = []
    at: list[int] = []  # where each kept run starts in the compact text...
    orig: list[int] = []  # ...and in the answer
    pos = size = 0
    for m in _ASIDE.finditer(joined):
        if m.start() > pos:
            parts.append(joined[pos : m.start()])
            at.append(size)
            orig.append(pos)
            size += m.start() - pos
        pos = m.end()
    parts.append(joined[pos:])
    at.append(size)
    orig.append(pos)
    return "".join(parts), at, orig


def _occurrences(compiled: CompiledRubric, joined: str) -> dict[tuple[int, int], list[list[tuple[int, int]]]]:
    """`_occurrences_in` the answer, and in the answer without its asides (`_compact`), with those
    occurrences put back where they are in the answer."""
    out = _occurrences_in(compiled, joined)
    compact = _compact(joined)
    if compact is None:
        return out
    text, at, orig = compact

    def where(i: int) -> int:  # the compact text's position i in the answer
        k = bisect_right(at, i) - 1
        return orig[k] + i - at[k]

    for key, groups in _occurrences_in(compiled, text).items():
        mapped = [[(where(s), where(e - 1) + 1) for s, e in spans] for spans in groups]
        if key in out:
            mapped = [sorted(set(a) | set(b)) for a, b in zip(out[key], mapped)]
        out[key] = mapped
    return out


def misconceived(compiled: CompiledRubric, view: AnswerView, matches: list[LexicalMatch]) -> list[LexicalMatch]:
    """The lexical matches with each point whose known wrong claim the answer states contradicted
    (`view`: the answer as `match_points` read it)."""
    if not any(p.misconceptions for p in compiled.points):
        return matches
    occurring = _occurrences(compiled, view.joined)
    if not occurring:
        return matches
    prepared = view.prepared
    refuting = under_refuting(view)
    labels = line_labels(view)
    out = []
    for pi, (point, m) in enumerate(zip(compiled.points, matches)):
        covered = m.result.verdict == "covered"
        if point.misconceptions and not (covered and COVERED == "always"):
            for mi, misc in enumerate(point.misconceptions):
                idx = stated(view, misc, occurring[(pi, mi)], refuting, labels) if (pi, mi) in occurring else None
                if idx is not None and not (covered and COVERED == "apart" and set(idx).isdisjoint(m.hit_segments)):
                    res = _result(point, "contradicted", 0.0, _evidence(prepared, idx), "keyword", CLAIMS + misc.text)
                    m = LexicalMatch(res, idx, m.groups_found)
                    break
        out.append(m)
    return out


def claims_stated(compiled: CompiledRubric, prepared: PreparedAnswer) -> list[tuple[str, str]]:
    """(point id, claim) of each known wrong claim the text states, covered or not
    (`grader rubric check` reads the reference answer with it)."""
    view = AnswerView(prepared)
    occurring = _occurrences(compiled, view.joined)
    refuting = under_refuting(view)
    labels = line_labels(view)
    return [(compiled.points[pi].id, compiled.points[pi].misconceptions[mi].text)
            for (pi, mi), spans in sorted(occurring.items()) if stated(view, compiled.points[pi].misconceptions[mi], spans, refuting, labels)]
