"""Known wrong claims: a key point's `misconceptions`, found in an answer after the lexical match.

A fluent wrong answer uses the right words ("Q、K、V 来自同一个共享的投影矩阵" has 投影矩阵), so
alias groups find the point partly made. A rubric that knows the usual wrong claims catches them,
as a teacher's marking scheme does. A wrong claim is stated when each of its alias groups occurs
with the claim's polarity (read from its own text, as a point's are: a plain claim needs plain
occurrences, "不是共享的投影矩阵" does not state it) in one sentence of the answer, or in one
sentence under its headings ("MQA：", "**缺点**"), as a key point's window reads them.

A point whose wrong claim the answer states is `contradicted`, the claim its reason. A covered
point stays covered when the sentences that make it are not those that state the wrong claim
(COVERED): "Q、K、V 来自同一个共享的投影矩阵" has the point's words and is its wrong claim.
Measured on dev (`python eval/agreement.py`): "apart" and "never" give Spearman 0.922, "always"
0.917 (misconception 2.40 and 2.86).

Cost: one Aho-Corasick pass over the answer finds the claims' alias pieces; only the claims all of
whose groups may occur are matched (about 0.1 ms a fuzzy grade, `python eval/misconceptions.py --cost`).
"""

from __future__ import annotations

from ..answer import PreparedAnswer
from ..plain import CLAIMS
from .aliases import AliasProbe
from .compiled import CompiledMisconception, CompiledRubric
from .lexical import LexicalMatch, _evidence, _result
from .view import _HEADING_END, AnswerView

# "apart": a covered point stands when the wrong claim is stated in other sentences than those that
# cover it; "always": a covered point stands; "never": the wrong claim contradicts it anyway
COVERED = "apart"


def stated(view: AnswerView, misc: CompiledMisconception, spans: list[list[tuple[int, int]]]) -> tuple[int, ...] | None:
    """The sentences of the first window that states the wrong claim, or None; `spans`: each
    group's occurrences in the joined answer."""
    found: list[set[int]] = []
    for group, occurrences in zip(misc.groups, spans):
        segs = set()
        for s, e in occurrences:
            j = view.seg_of(s)
            if j not in segs and view.matches(group, j, s - view.starts[j], e - view.starts[j]):
                segs.add(j)
        if not segs:
            return None
        found.append(segs)
    for k in sorted({k for j in found[0] for k in view.by_seg[j]}):
        span = view.windows[k]
        if any(not _HEADING_END.search(view.segs[j].text) for j in span[:-1]):
            continue  # a short statement before the sentence is a claim of its own, not its heading
        hit = [next((j for j in span if j in segs), None) for segs in found]
        if None not in hit:
            return tuple(sorted(set(hit)))
    return None


def _automaton(compiled: CompiledRubric):
    """Every literal piece of the rubric's wrong claims' aliases -> (alias probe, the (point, claim,
    group)s it is in) for each alias holding that piece; built on first use, kept on the rubric."""
    if compiled._claims is not None:
        return compiled._claims
    import ahocorasick

    index: dict[str, dict[str, tuple[AliasProbe, set[tuple[int, int, int]]]]] = {}
    for pi, p in enumerate(compiled.points):
        for mi, m in enumerate(p.misconceptions):
            for gi, g in enumerate(m.groups):
                for probe in g.probes:
                    index.setdefault(probe.piece, {}).setdefault(probe.alias, (probe, set()))[1].add((pi, mi, gi))
    automaton = ahocorasick.Automaton()
    for piece, entries in index.items():
        automaton.add_word(piece, (piece, tuple((probe, tuple(keys)) for probe, keys in entries.values())))
    automaton.make_automaton()
    compiled._claims = automaton
    return automaton


def _occurrences(compiled: CompiledRubric, joined: str) -> dict[tuple[int, int], list[list[tuple[int, int]]]]:
    """(point, claim) -> each group's occurrences in the joined answer, for the wrong claims all of
    whose groups occur: one pass over the text finds every alias's piece, and only the aliases
    whose piece is there are matched, around it (as `CompiledRubric.exact_spans` does for points)."""
    at: dict[str, tuple[tuple, list[int]]] = {}  # piece found -> (its aliases, where it ends)
    for end, (piece, entries) in _automaton(compiled).iter(joined):
        if piece in at:
            at[piece][1].append(end)
        else:
            at[piece] = (entries, [end])
    maybe: dict[tuple[int, int, int], list] = {}  # (point, claim, group) -> its aliases that may occur, where
    for piece, (entries, ends) in at.items():
        for probe, keys in entries:
            if probe.others and not all(r in joined for r in probe.others):
                continue  # a phrase ("查询来自encoder") whose piece ("encoder") the answer has, and no more
            for key in keys:
                maybe.setdefault(key, []).append((probe, ends))
    out = {}
    for pi, mi, gi in list(maybe):
        n = len(compiled.points[pi].misconceptions[mi].groups)
        if gi or not all((pi, mi, g) in maybe for g in range(1, n)):
            continue
        groups = []
        for g in range(n):  # the claim's every group may occur: its aliases are matched, around their pieces
            spans: set[tuple[int, int]] = set()
            for probe, ends in maybe[(pi, mi, g)]:
                for end in ends:
                    start = end + 1 - len(probe.piece)
                    spans.update(((start, end + 1),) if probe.literal else probe.spans_around(joined, start, end + 1))
            if not spans:
                break
            groups.append(sorted(spans))
        else:
            out[(pi, mi)] = groups
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
    out = []
    for pi, (point, m) in enumerate(zip(compiled.points, matches)):
        covered = m.result.verdict == "covered"
        if point.misconceptions and not (covered and COVERED == "always"):
            for mi, misc in enumerate(point.misconceptions):
                idx = stated(view, misc, occurring[(pi, mi)]) if (pi, mi) in occurring else None
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
    return [(compiled.points[pi].id, compiled.points[pi].misconceptions[mi].text)
            for (pi, mi), spans in sorted(occurring.items()) if stated(view, compiled.points[pi].misconceptions[mi], spans)]
