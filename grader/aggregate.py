"""Per-point results -> score. Pure and deterministic: the only place a score is computed.

coverage, over the points that were scored (an `unscored` point is left out and listed):

    (sum(weight * credit) - sum(weight of contradicted points)) / (sum(weight) * full_marks_at)

clipped to [0, 1]. A contradicted point earns nothing and its weight is also taken off what the
others earned, as a wrong statement costs with a human grader (dev set: Spearman 0.883 -> 0.895,
negated answers 3.81 -> 2.85). `full_marks_at` is the rubric's: 1 unless it says an answer needs
only part of the points.

score = max_score * calibrate(coverage): a monotone piecewise-linear map, global to the grader
(never per question), from the share of key points made to the scale people grade on: roughly in
proportion up to two thirds of the points, then near-full marks from 85-90%.
calibrate(0) = 0 and calibrate(1) = 1.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from .plain import Point

# (coverage, normalised score) knots. Read off the dev set (eval/data/dev.jsonl: human score by
# coverage bin, `python eval/calibration.py`): below two thirds of the key points people grade
# about in proportion; from there they give near-full marks to an answer that makes 85-90% of the
# points. Identity would be ((0, 0), (1, 1)).
DEFAULT_CALIBRATION: tuple[tuple[float, float], ...] = (
    (0.0, 0.0), (0.5, 0.42), (0.72, 0.68), (0.85, 0.88), (0.92, 0.95), (1.0, 1.0),
)


CONTRADICTION_COST = 1.0  # share of a contradicted point's weight taken off what the others earned


@dataclass(frozen=True, slots=True)
class Aggregate:
    score: float
    coverage: float
    missing_points: list[str]
    unscored_points: list[str]


def calibrate(coverage: float, knots: tuple[tuple[float, float], ...] = DEFAULT_CALIBRATION) -> float:
    x = min(1.0, max(0.0, coverage))
    xs = [k[0] for k in knots]
    i = bisect_right(xs, x) - 1
    if i >= len(knots) - 1:
        return knots[-1][1]
    (x0, y0), (x1, y1) = knots[i], knots[i + 1]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0) if x1 > x0 else y1


def aggregate(
    points: list[Point],
    max_score: float = 10.0,
    knots: tuple[tuple[float, float], ...] = DEFAULT_CALIBRATION,
    full_marks_at: float = 1.0,
) -> Aggregate:
    scored = [p for p in points if p.verdict != "unscored"]
    total = sum(p.weight for p in scored) * full_marks_at
    earned = sum(p.weight * p.credit for p in scored)
    # a claim stated backwards costs, as a wrong statement costs with a human grader
    earned -= CONTRADICTION_COST * sum(p.weight for p in scored if p.verdict == "contradicted")
    coverage = min(1.0, max(0.0, earned) / total) if total > 0 else 0.0
    score = round(max_score * calibrate(coverage, knots), 2)
    missing = [p.text for p in points if p.verdict in ("missing", "contradicted")]
    unscored = [p.text for p in points if p.verdict == "unscored"]
    return Aggregate(score, round(coverage, 4), missing, unscored)
