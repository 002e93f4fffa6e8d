"""Three simple graders to measure the real grader against, on the same rows.

- length: the answer's length in characters (a grader that rewards writing more).
- tfidf: cosine between character 1-3-gram TF-IDF vectors of the answer and its reference, IDF
  fitted on all answers and references of the file.
- keywords: the quick keyword grader: the reference's top-20 jieba TF-IDF keywords; score = the
  share of them found in the answer (lower-cased substring).

A row that carries several references (`reference_answers`, as ADS rows do) gets the best of its
references, as the grader does. Each returns a raw number per row; agreement is measured with rank and linear correlations, and
for QWK/MAE the raw number is mapped linearly onto 0-10 (min-max over the file) -- a generous
treatment, since these baselines are never calibrated otherwise.
"""

from __future__ import annotations

import logging
import math
from collections import Counter


def _ref(row: dict, bank_refs: dict[str, str]) -> str:
    return row.get("reference_answer") or bank_refs.get(str(row.get("question_id")), "") or ""


def _refs(row: dict, bank_refs: dict[str, str]) -> list[str]:
    """The row's references: its main one, then any others it carries."""
    main = _ref(row, bank_refs)
    return list(dict.fromkeys([main, *(x for x in row.get("reference_answers") or [] if x)]))


def length_scores(rows: list[dict], bank_refs: dict[str, str]) -> list[float]:
    return [float(len(r["answer"])) for r in rows]


def _grams(text: str) -> Counter:
    t = " ".join(text.lower().split())
    c: Counter = Counter()
    for n in (1, 2, 3):
        for i in range(len(t) - n + 1):
            g = t[i : i + n]
            if g.strip():
                c[g] += 1
    return c


def tfidf_scores(rows: list[dict], bank_refs: dict[str, str]) -> list[float]:
    docs_a = [_grams(r["answer"]) for r in rows]
    refs = {ref for r in rows for ref in _refs(r, bank_refs)}
    docs_r = {ref: _grams(ref) for ref in refs}
    df: Counter = Counter()
    for d in list(docs_a) + list(docs_r.values()):
        df.update(d.keys())
    n = len(docs_a) + len(docs_r)
    idf = {g: math.log((1 + n) / (1 + c)) + 1 for g, c in df.items()}

    def vec(c: Counter) -> dict[str, float]:
        v = {g: (1 + math.log(k)) * idf[g] for g, k in c.items()}
        norm = math.sqrt(sum(x * x for x in v.values())) or 1.0
        return {g: x / norm for g, x in v.items()}

    ref_vecs = {ref: vec(c) for ref, c in docs_r.items()}
    out = []
    for r, c in zip(rows, docs_a):
        a = vec(c)
        out.append(max(sum(x * ref_vecs[ref].get(g, 0.0) for g, x in a.items()) for ref in _refs(r, bank_refs)))
    return out


def keyword_scores(rows: list[dict], bank_refs: dict[str, str]) -> list[float]:
    import jieba
    import jieba.analyse

    jieba.setLogLevel(logging.WARNING)
    cache: dict[str, list[str]] = {}
    out = []
    for r in rows:
        ans = r["answer"].lower()
        best = 0.0
        for ref in _refs(r, bank_refs):
            if ref not in cache:
                cache[ref] = [k.lower() for k in jieba.analyse.extract_tags(ref, topK=20)]
            kws = cache[ref]
            best = max(best, sum(1 for k in kws if k in ans) / len(kws) if kws else 0.0)
        out.append(best)
    return out


BASELINES = {"length": length_scores, "tfidf": tfidf_scores, "keywords": keyword_scores}


def to_scale(values: list[float]) -> list[float]:
    lo, hi = min(values), max(values)
    return [10.0 * (v - lo) / (hi - lo) if hi > lo else 0.0 for v in values]
