"""Human score by coverage bin on the dev set: what the calibration knots in grader/aggregate.py
were read from.

    python eval/calibration.py
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from grader.aggregate import DEFAULT_CALIBRATION, calibrate  # noqa: E402
from grader.pipeline import Grader  # noqa: E402
from grader.settings import Settings  # noqa: E402

BINS = [(0, 0.01), (0.01, 0.2), (0.2, 0.35), (0.35, 0.5), (0.5, 0.65), (0.65, 0.8), (0.8, 0.9), (0.9, 1.01)]


def main() -> None:
    grader = Grader(Settings(mode="fuzzy"))
    pairs = []
    with open(HERE / "data" / "dev.jsonl", encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            pairs.append((grader.grade(r["question_id"], r["answer"]).coverage, r["score"] * 10 / r.get("max_score", 10)))
    print("coverage bin   n  human mean  human median  calibrated score at bin centre")
    for lo, hi in BINS:
        b = [h for c, h in pairs if lo <= c < hi]
        if b:
            mid = (lo + min(hi, 1.0)) / 2
            print(f"{lo:.2f}-{min(hi, 1.0):.2f}  {len(b):4d}  {statistics.mean(b):10.2f}  {statistics.median(b):12.1f}  {10 * calibrate(mid):8.2f}")
    print("knots:", DEFAULT_CALIBRATION)


if __name__ == "__main__":
    main()
