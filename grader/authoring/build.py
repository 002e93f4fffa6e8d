"""Key points from a reference answer: the one mechanism behind `grader rubric build` and the
rubrics built on the fly for ad-hoc references (`grader.authoring.adhoc`).

reference --structure--> sections (headings: `#`, a line that is all `<strong>…</strong>` or
`**…**`; each sub-question of the reference is one) --> units (paragraphs, list items with their
bold lead "<strong>优点：</strong>", table rows; `<div>` / `$$` formula blocks stay with the unit
before them) --langchain RecursiveCharacterTextSplitter (Chinese and English sentence
separators)--> claims, each a verbatim span of the reference --> key points:

- decoration is dropped ("思考方式：…", "介绍分几点…", a heading that restates the question,
  lead-ins such as "具体可以从以下几个维度来看：");
- the points of a section are its claims; when a rubric would have more than `max_points`, each
  section keeps a share of the slots proportional to its claims and merges its neighbouring
  claims (the merged point's source is the span from the first to the last: still verbatim);
- keyword groups per point, most specific first: bold phrases and bold leads, English terms
  ("Beam Search", "KV Cache"), Chinese content words (jieba, ranked by IDF and by how few units
  of this reference use them). A term the reference gives in two languages ("键值缓存（KV Cache）",
  "Greedy Search (贪心搜索)") is one group holding both; a term of the bilingual term table shipped
  with grader (grader/terms_zh_en.txt: 注意力/attention, 键值缓存/kv cache, ...) ranks ahead of
  plain words and its group holds every spelling the table lists, so an answer that writes the
  English form (or an abbreviation) of the reference's Chinese term still makes the point;
- weights from structure: every section (sub-question) weighs the same and its points share that
  weight equally.

The claim profile (`structured=False`) is what `grader.authoring.adhoc` uses: clause-sized claims of the
tag-stripped text, every claim a point of weight 1, one group per keyword (formulas such as
"(2n+1)/3" kept whole, the question's own words left out, a true/false verdict with its spellings).
`grader rubric build` and `grader.authoring.adhoc` alike take the structured profile for a reference with
sub-headings or of more than LONG_REFERENCE_CLAIMS claims, and the claim profile for a shorter one
(`is_structured`); a bank's claim-by-claim rubric merges neighbouring claims down to `max_points`.

jieba and langchain are imported on first use only, so the grading path never pays for them.
"""

from __future__ import annotations

import re

from ..models import KeyPoint, Rubric
from ..text import CJK_RE, VERDICT_FALSE, VERDICT_TRUE, english_stem, normalize
from .markup import _TAG, formulas, plain, slug
from .terms import antonym_table, glossary, term_table
from .claims import ADHOC_CALIBRATION, ADHOC_PARTIAL_FROM, MAX_GROUPS, adhoc_full_marks_at, claim_keywords, clause_claims, split_claims
from .structure import Candidate, _allot, _merge_to, candidates, parse_structure
from .keywords import _Vocabulary, _groups_for, _point_text


# A reference's verdict word -> every spelling of that verdict (grader.text.VERDICT_FALSE / _TRUE)...
VERDICTS = {w: VERDICT_FALSE for w in ("错误", "不正确", "错", "false", "incorrect")} | {
    w: VERDICT_TRUE for w in ("正确", "true", "correct")
}


# ...and what states the opposite verdict, written plainly ("不正确" is not "正确"; "不错" is praise)
_OPPOSITE = {
    VERDICT_FALSE: ("正确", "对的", "true", "correct"),
    VERDICT_TRUE: ("错误", "不正确", "不对", "false", "incorrect", "wrong"),
}


def _in_question(word: str, question_norm: str, question_stems: frozenset[str]) -> bool:
    if CJK_RE.search(word) or not word.replace("-", "").isalpha():
        return word in question_norm
    return all(english_stem(w) in question_stems for w in word.split("-") if w)


def _merge_claims(reference: str, claims: tuple[str, ...], limit: int) -> list[str]:
    """At most `limit` claims: neighbouring claims merged as the structured profile merges them (the
    smallest pair first), a merged claim being the span of the (tag-stripped) reference from the
    first to the last."""
    text = _TAG.sub(" ", reference)
    spans, pos = [], 0
    for c in claims:
        k = text.find(c, pos)
        if k < 0:
            return list(claims[:limit])  # not found verbatim: keep the first ones rather than guess
        spans.append((k, k + len(c)))
        pos = k + len(c)
    merged = _merge_to([Candidate(a, b, 0, "", "", "para") for a, b in spans], limit)
    return [text[g[0].start : g[-1].end] for g in merged]


def _build_adhoc(reference: str, question: str | None = None, max_points: int | None = None,
                 unit: str = "clause") -> list[KeyPoint]:
    """Claims (`unit` "clause": clause-sized, cut at commas too; "sentence": whole sentences, as a
    judge needs them), each a point of weight 1 whose keywords are its content words, most
    specific first (formulas, English terms, rare Chinese words), less the question's words; with
    `max_points`, neighbouring claims merged until no more remain."""
    points: list[KeyPoint] = []
    qn = normalize(question or "")
    qstems = frozenset(english_stem(w) for w in re.findall(r"[a-z][a-z0-9']*", qn))
    claims = split_claims(reference) if unit == "sentence" else clause_claims(reference)
    if max_points and len(claims) > max_points:
        claims = _merge_claims(reference, claims, max_points)
    for claim in claims:
        words = claim_keywords(claim)
        if not words:
            continue
        # the question's own words show nothing (an answer restates them): the claim's other words
        # are its keywords; a claim that only restates the question keeps them all (dropping such
        # claims measured worse on ADS: Pearson 0.538 -> 0.520)
        words = [w for w in words if not _in_question(w, qn, qstems)] or words
        values = [w for w in words if w in formulas(w)]
        words = values or words  # a claim that gives a value or a formula is that value
        # each keyword with its other spellings from the term table (Mohler Pearson 0.510 -> 0.520)
        groups = [list(VERDICTS.get(w) or term_table().forms(w) or (w,)) for w in words[:MAX_GROUPS]]
        verdict = next((VERDICTS[w] for w in words[:MAX_GROUPS] if w in VERDICTS), None)
        opposites = list(_OPPOSITE[verdict]) if verdict else []
        points.append(KeyPoint(id=f"c{len(points) + 1}", text=claim, weight=1.0, keywords=groups, opposites=opposites, source=claim))
    return points


POINT_GROUPS = 2  # keyword groups per point


CORPUS_MIN = 3


class Corpus:
    """The references of a whole bank, to tell the field's words from a point's."""

    def __init__(self, references: list[str]):
        self.texts = [normalize(plain(r)) for r in references if r and r.strip()]

    def share(self, forms) -> float:
        """Share of the references that use any of the spellings (0 for a bank too small to tell)."""
        if len(self.texts) < CORPUS_MIN:
            return 0.0
        forms = [normalize(f) for f in forms if f]
        return sum(1 for t in self.texts if any(f in t for f in forms)) / len(self.texts)


# A bank's reference answer says more than an answer needs (every sub-question in detail): full marks
# at 60% of the weighted points, the ad-hoc profile's setting (chosen on ADS and Mohler, not on the dev
# set). Seed bank, dev fuzzy: QWK 0.616 -> 0.726, MAE 2.09 -> 1.81, Spearman 0.735 -> 0.732.
STRUCTURED_FULL_MARKS_AT = 0.6


# Coverage -> score of a built rubric. The grader's default knots (grader/aggregate.py) were read off
# the curated rubrics; a built rubric's groups are found less often (its coverage runs lower for the
# same answer), and people's mean score by coverage bin of the built rubrics on the dev set is about
# 3 at 40 %, 6.5 at 60 %, 8.5 at 80 %. Knots read off those bins, smoothed; monotone, so Spearman does
# not move. Seed bank, dev fuzzy: QWK 0.830 -> 0.860, Pearson 0.859 -> 0.870, MAE 1.379 -> 1.325
# (in-sample: read off the rows it is measured on, as the default knots were).
STRUCTURED_CALIBRATION = [(0.0, 0.0), (0.4, 0.3), (0.6, 0.65), (0.8, 0.85), (1.0, 1.0)]


def build_points(reference: str, question: str | None = None, *, max_points: int = 12, max_groups: int | None = None,
                 corpus: Corpus | None = None) -> list[KeyPoint]:
    """Key points of a (possibly structured) reference; each `source` is a verbatim span of it."""
    sections = parse_structure(reference, question)
    cands = candidates(reference, sections)
    if sum(c.kind != "row" for c in cands) >= 5:
        cands = [c for c in cands if c.kind != "row"]  # a summary table repeats the text above it
    if not cands:
        return []
    by_section: dict[int, list[Candidate]] = {}
    for c in cands:
        by_section.setdefault(c.section, []).append(c)
    order = sorted(by_section)
    slots = _allot([len(by_section[s]) for s in order], max_points)
    merged: list[tuple[int, list[Candidate]]] = []
    for s, k in zip(order, slots):
        for g in _merge_to(by_section[s], k):
            merged.append((s, g))
    gloss = glossary(reference)
    vocab = _Vocabulary(reference, [(g[0].start, g[-1].end) for _, g in merged])
    weight_of = {s: 1.0 / sum(1 for t, _ in merged if t == s) for s in order}
    scale = len(merged) / len(order)  # mean weight 1 when sections are the same size
    points: list[KeyPoint] = []
    ids: set[str] = set()
    for s, g in merged:
        a, b = g[0].start, g[-1].end
        src = reference[a:b].strip()
        labels = [c.label for c in g if c.label]
        groups = _groups_for(src, labels, gloss, vocab, max_groups or POINT_GROUPS, normalize(question or ""), corpus)
        if not groups:
            continue
        title = sections[s].title
        base = slug(title.split("(")[0]) or slug(groups[0][-1]) or f"s{s}"
        pid, n = base, 1
        while pid in ids or not re.match(r"^[a-z0-9]", pid):
            n += 1
            pid = f"{base}-{n}" if re.match(r"^[a-z0-9]", base) else f"p{len(points) + n}"
        ids.add(pid)
        # the opposite of what the span states ("增大" where it says "减小"), from the antonym table
        opposites = antonym_table().opposites_in(normalize(plain(src)), {a for g in groups for a in g})
        points.append(
            KeyPoint(
                id=pid,
                text=_point_text(reference, g, title),
                weight=round(weight_of[s] * scale, 2) or 0.01,
                keywords=groups,
                **({"opposites": opposites} if opposites else {}),
                source=src,
            )
        )
    return _opposites_the_reference_allows(points, reference, question)


def _opposites_the_reference_allows(points: list[KeyPoint], reference: str, question: str | None) -> list[KeyPoint]:
    """The reference graded against its own points contradicts none of them: a point it contradicts
    loses its `opposites` ("单向" near "自注意力机制" is the next section's claim, the one that
    point's opposite words caught; the reference itself then lost credit)."""
    if not any(p.opposites for p in points):
        return points
    from ..answer import prepare
    from ..matchers.compiled import compile_rubric
    from ..matchers.lexical import match_points

    compiled = compile_rubric(Rubric(points=points), f"{question or ''}\n{reference}")
    matches = match_points(compiled, prepare(reference), fuzzy=True)
    return [p.model_copy(update={"opposites": []}) if p.opposites and m.result.verdict == "contradicted" else p
            for p, m in zip(points, matches)]


# A reference of more claims than this (a page or more: the seed bank's references have 39-68 claims,
# ADS's 1-15, Mohler's 1-4) is built by its structure even without sub-headings: twice the key points
# a built rubric holds by default.
LONG_REFERENCE_CLAIMS = 24


def is_structured(reference: str, question: str | None = None) -> bool:
    """Is a reference built by its structure (sub-headings, or more than LONG_REFERENCE_CLAIMS claims)
    or claim by claim? A short reference ("To simulate the behaviour of portions of the desired
    software product.") has no structure to weigh by, and two keyword groups per merged point ask too
    little of it: ADS and Mohler as banks (`python eval/build_other_banks.py`) graded at Pearson
    0.419 / 0.402 built by structure, 0.622 / 0.543 claim by claim. A long one graded claim by claim
    is as poor: the seed bank's references on the fly, dev set Spearman 0.721 claim by claim, 0.794
    by structure (`python eval/rubric_quality.py`)."""
    if len(parse_structure(reference, question)) > 1:
        return True  # sub-headings: sub-questions, whose points share their weight
    # a list alone is no reason (ADS bank 0.622 -> 0.553 when its one short two-item list was built so)
    return len(clause_claims(reference)) > LONG_REFERENCE_CLAIMS


def build_rubric(reference: str, question: str | None = None, *, structured: bool | None = None,
                 max_points: int | None = 12, corpus: Corpus | None = None, claim_unit: str = "clause") -> Rubric:
    """`structured`: build by the reference's structure (True), claim by claim (False), or whichever
    suits the reference (None: `is_structured`). `max_points`: at most this many key points (None:
    one per claim, as a reference graded on the fly has; the structured profile then keeps 12).
    `claim_unit` (claim profile): "clause" for the keyword matcher, "sentence" for the judge: split
    at every comma, ADS grades at Pearson 0.667 by keyword and 0.541 by whole sentences
    (`python eval/agreement.py`), while the judge cannot judge a fragment such as "(phase 7)".
    `corpus`: the references of the whole bank being built (structured profile only)."""
    if structured is None:
        structured = is_structured(reference, question)
    points = (
        build_points(reference, question, max_points=max_points or 12, corpus=corpus)
        if structured else _build_adhoc(reference, question, max_points, claim_unit)
    )
    if not points:
        # A reference of one or two words ("O(n)") is its own single key point.
        text = reference.strip()
        points = [KeyPoint(id="c1", text=text, keywords=[[normalize(text)]], source=text)]
    if structured:
        return Rubric(points=points, full_marks_at=STRUCTURED_FULL_MARKS_AT, calibration=STRUCTURED_CALIBRATION,
                      notes="built from the reference answer by its structure")
    return Rubric(
        points=points,
        partial_from=ADHOC_PARTIAL_FROM,
        full_marks_at=adhoc_full_marks_at(len(points)),
        calibration=ADHOC_CALIBRATION,
        notes="built from the reference answer claim by claim",
    )
