"""`grader calibrate`: a user's own score scale, fitted from answers they scored themselves.

People grade on scales of their own: on Mohler the teachers give answers the judge finds wrong
5.7/10 on average, where the grader gives 0. The grader's ranking can be right and its numbers
still far from theirs. A scale is a monotone map from the grader's 0-1 score to the user's:

    labelled rows --grade (mode M, no scale)--> (grader score, human score) pairs
                  --isotonic fit (pool adjacent violators)--> block means
                  --> knots [(x, y), ...] of a piecewise-linear map, x and y in [0, 1]

It is stored per mode in the bank's bank.yaml (`scales: {fuzzy: [[x, y], ...]}`) and applied to
every grade of that bank in that mode (`GradeResult.raw_score` keeps the score before it). What it
is worth is reported by cross-validation over questions: the rows of each fold of questions are
mapped by a scale fitted on the other folds, so no question is scored by a scale fitted on itself.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from ..errors import UsageError
from ..aggregate import calibrate as apply_scale
from ..banks import forget
from .metrics import agreement

MAX_KNOTS = 12  # blocks (6 and 8 measured the same on Mohler and ADS, 4 worse: python eval/calibration_cv.py)


def fit_scale(pairs: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Isotonic (non-decreasing) fit of human on grader score, both 0-1: pool adjacent violators
    over the distinct grader scores, then each block of scores kept at its mean human score from
    its lowest to its highest grader score (as scikit-learn's IsotonicRegression predicts), linear
    between blocks; at most MAX_KNOTS blocks (the closest neighbours merged)."""
    if not pairs:
        raise UsageError("no graded rows to fit a scale on")
    by_x: dict[float, list[float]] = defaultdict(list)
    for x, y in pairs:
        by_x[round(min(1.0, max(0.0, x)), 4)].append(y)
    # blocks: [lowest x, highest x, sum of y, n], in x order
    blocks: list[list[float]] = []
    for x in sorted(by_x):
        blocks.append([x, x, sum(by_x[x]), len(by_x[x])])
        while len(blocks) > 1 and blocks[-2][2] / blocks[-2][3] >= blocks[-1][2] / blocks[-1][3]:
            _, hi, sy, n = blocks.pop()
            blocks[-1][1], blocks[-1][2], blocks[-1][3] = hi, blocks[-1][2] + sy, blocks[-1][3] + n
    mean = lambda blk: blk[2] / blk[3]  # noqa: E731
    while len(blocks) > MAX_KNOTS:
        i = min(range(len(blocks) - 1), key=lambda k: mean(blocks[k + 1]) - mean(blocks[k]))
        nxt = blocks.pop(i + 1)
        blocks[i] = [blocks[i][0], nxt[1], blocks[i][2] + nxt[2], blocks[i][3] + nxt[3]]
    knots: list[tuple[float, float]] = []
    for lo, hi, sy, n in blocks:
        y = round(min(1.0, max(0.0, sy / n)), 4)
        knots.extend([(lo, y)] if hi == lo else [(lo, y), (hi, y)])
    if knots[0][0] > 0:
        knots.insert(0, (0.0, knots[0][1]))
    if knots[-1][0] < 1:
        knots.append((1.0, knots[-1][1]))
    return knots


def cross_validate(graded: list[dict], folds: int) -> dict:
    """Agreement before and after the scale, each question's rows mapped by a scale fitted on the
    other folds of questions. `graded`: {"question_id", "human", "grader"} on 0-10."""
    by_q: dict[str, list[dict]] = defaultdict(list)
    for g in graded:
        by_q[g["question_id"]].append(g)
    questions = sorted(by_q)
    if len(questions) < folds:
        raise UsageError(f"cross-validation over {folds} folds needs at least {folds} questions (found {len(questions)}); lower --folds")
    human, before, after = [], [], []
    for f in range(folds):
        held = set(questions[f::folds])
        train = [(g["grader"] / 10, g["human"] / 10) for q in questions if q not in held for g in by_q[q]]
        knots = tuple(fit_scale(train))
        for q in held:
            for g in by_q[q]:
                human.append(g["human"])
                before.append(g["grader"])
                after.append(10 * apply_scale(g["grader"] / 10, knots))
    return {"before": agreement(human, before), "after": agreement(human, after), "folds": folds,
            "questions": len(questions)}


def write_scale(bank_dir: Path, mode: str, knots: list[tuple[float, float]]) -> Path:
    """Store the scale in the bank's bank.yaml under scales.<mode>, keeping the file's other keys."""
    import yaml

    path = bank_dir / "bank.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}; give --bank a bank directory you can write") from None
    data.setdefault("scales", {})[mode] = [[x, y] for x, y in knots]
    try:
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}; copy the bank to a directory you can write, "
                         "or add --dry-run") from None
    forget(bank_dir)
    return path
