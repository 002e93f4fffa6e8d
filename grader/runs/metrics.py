"""Agreement between the grader and human scores. Pure functions, no numpy."""

from __future__ import annotations

import math


def pearson(x: list[float], y: list[float]) -> float:
    n = len(x)
    if n < 2:
        return float("nan")
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    if sxx == 0 or syy == 0:
        return float("nan")
    return sxy / math.sqrt(sxx * syy)


def _ranks(v: list[float]) -> list[float]:
    order = sorted(range(len(v)), key=lambda i: v[i])
    ranks = [0.0] * len(v)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and v[order[j + 1]] == v[order[i]]:
            j += 1
        avg = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[order[k]] = avg
        i = j + 1
    return ranks


def spearman(x: list[float], y: list[float]) -> float:
    return pearson(_ranks(x), _ranks(y))


def qwk(x: list[float], y: list[float], lo: int = 0, hi: int = 10) -> float:
    """Quadratic weighted kappa on integer ratings (values rounded half up and clipped)."""
    a = [min(hi, max(lo, int(math.floor(v + 0.5)))) for v in x]
    b = [min(hi, max(lo, int(math.floor(v + 0.5)))) for v in y]
    k = hi - lo + 1
    n = len(a)
    if n == 0:
        return float("nan")
    obs = [[0.0] * k for _ in range(k)]
    for i, j in zip(a, b):
        obs[i - lo][j - lo] += 1
    ha = [sum(r) for r in obs]
    hb = [sum(obs[i][j] for i in range(k)) for j in range(k)]
    num = den = 0.0
    for i in range(k):
        for j in range(k):
            w = (i - j) ** 2 / (k - 1) ** 2
            num += w * obs[i][j]
            den += w * ha[i] * hb[j] / n
    return 1.0 - num / den if den else float("nan")


def mae(x: list[float], y: list[float]) -> float:
    return sum(abs(a - b) for a, b in zip(x, y)) / len(x) if x else float("nan")


def agreement(human: list[float], graded: list[float]) -> dict:
    """Scores on the 0-10 scale -> the figures `grader eval` prints."""
    r = lambda v: None if v != v else round(v, 4)  # NaN -> None for JSON
    return {
        "n": len(human),
        "pearson": r(pearson(graded, human)),
        "spearman": r(spearman(graded, human)),
        "qwk": r(qwk(graded, human)),
        "mae": r(mae(graded, human)),
    }
