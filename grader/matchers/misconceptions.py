"""Known wrong claims: a key point's `misconceptions`, found in an answer after the lexical match.

A fluent wrong answer uses the right words ("Q、K、V 来自同一个共享的投影矩阵" has 投影矩阵), so
alias groups find the point partly made. A rubric that knows the usual wrong claims catches them,
as a teacher's marking scheme does. A wrong claim is stated when each of its alias groups occurs
with the claim's polarity (read from its own text, as a point's are: a plain claim needs plain
occurrences, "不是共享的投影矩阵" does not state it) in one sentence of the answer, or in one
sentence under its headings ("MQA：", "**缺点**"), as a key point's window reads them.

A point whose wrong claim the answer states is `contradicted`, the claim its reason. A covered
point stays covered when the sentences that make it are not those that state the wrong claim
(COVERED_APART): "Q、K、V 来自同一个共享的投影矩阵" has the point's words and is its wrong claim.
"""

from __future__ import annotations

from ..answer import PreparedAnswer
from ..models import CLAIMS
from .compiled import CompiledMisconception, CompiledRubric
from .lexical import _HEADING_END, AnswerView, LexicalMatch, _evidence, _result

# "apart": a covered point stands when the wrong claim is stated in other sentences than those that
# cover it; "always": a covered point stands; "never": the wrong claim contradicts it anyway
COVERED = "apart"


def stated(view: AnswerView, misc: CompiledMisconception) -> tuple[int, ...] | None:
    """The sentences of the first window that states the wrong claim, or None."""
    found: list[set[int]] = []
    for group in misc.groups:
        segs = set()
        for s, e in group.spans(view.joined):
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


def misconceived(compiled: CompiledRubric, prepared: PreparedAnswer, matches: list[LexicalMatch]) -> list[LexicalMatch]:
    """The lexical matches with each point whose known wrong claim the answer states contradicted."""
    if not any(p.misconceptions for p in compiled.points):
        return matches
    view = AnswerView(prepared)
    out = []
    for point, m in zip(compiled.points, matches):
        covered = m.result.verdict == "covered"
        if point.misconceptions and not (covered and COVERED == "always"):
            for misc in point.misconceptions:
                idx = stated(view, misc)
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
    return [(p.id, m.text) for p in compiled.points for m in p.misconceptions if stated(view, m) is not None]
