"""How the ad-hoc profile's two curves were chosen, reproducibly: Pearson on each half of the ADS
and Mohler questions for a grid of settings.

    python eval/adhoc_curves.py

- the full-marks curve: full marks at SCALE * n ** POWER of a reference's n claims (at most 60%);
  "flat" is the earlier 60% of the claims;
- the score curve: score = 10 * coverage ** EXP for ad-hoc rubrics; "dev map" is the curated
  rubrics' calibration (grader.aggregate.DEFAULT_CALIBRATION).
Half 0 holds the questions at even positions of each set's sorted question ids, half 1 the others.
A setting is chosen on half 0 and checked on half 1 (README, "Agreement with human graders").
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from grader.authoring import adhoc, build as rubric_build, claims  # noqa: E402
from grader.aggregate import DEFAULT_CALIBRATION  # noqa: E402
from grader.runs.evaluate import LabeledRow, evaluate  # noqa: E402
from grader.runs.metrics import agreement  # noqa: E402
from grader.pipeline import Grader  # noqa: E402
from grader.settings import Settings  # noqa: E402

SETS = {"ads": "ads_train.jsonl", "mohler": "mohler.jsonl"}


def halves(name: str, grader: Grader) -> tuple[float, float]:
    rows = [json.loads(line) for line in open(HERE / "data" / SETS[name], encoding="utf-8") if line.strip()]
    res = evaluate([LabeledRow.model_validate(r) for r in rows], grader, "fuzzy")
    by_id = {g["id"]: g for g in res["graded"]}
    qids = sorted({r["question_id"] for r in rows})
    out = []
    for half in (0, 1):
        sel = [by_id[r["id"]] for r in rows if qids.index(r["question_id"]) % 2 == half]
        out.append(agreement([g["human"] for g in sel], [g["grader"] for g in sel])["pearson"])
    return out[0], out[1]


def run(label: str, needed: tuple[float, float] | None, exponent: float | None) -> None:
    claims.ADHOC_NEEDED_SCALE, claims.ADHOC_NEEDED_POWER = needed or (0.6, 1.0)  # 0.6 n: flat 60%
    rubric_build.ADHOC_CALIBRATION = (
        [(x / 10, round((x / 10) ** exponent, 4)) for x in range(11)] if exponent else [list(k) for k in DEFAULT_CALIBRATION]
    )
    adhoc._question.cache_clear()
    grader = Grader(Settings(mode="fuzzy"))
    a0, a1 = halves("ads", grader)
    m0, m1 = halves("mohler", grader)
    print(f"| {label} | {a0:.3f} | {a1:.3f} | {m0:.3f} | {m1:.3f} |")


def main() -> None:
    saved = (claims.ADHOC_NEEDED_SCALE, claims.ADHOC_NEEDED_POWER, rubric_build.ADHOC_CALIBRATION)
    print("| setting | ADS half 0 | ADS half 1 | Mohler half 0 | Mohler half 1 |")
    print("| --- | ---: | ---: | ---: | ---: |")
    run("full marks flat 60%, dev map", None, None)
    for scale, power in ((0.6, 0.7), (0.8, 0.6), (0.8, 0.7), (1.0, 0.5)):
        run(f"full marks {scale} n^{power}, dev map", (scale, power), None)
    for exponent in (1.0, 0.8, 0.7, 0.6, 0.5, 0.4):
        run(f"full marks 0.8 n^0.7, score coverage^{exponent}", (0.8, 0.7), exponent)
    claims.ADHOC_NEEDED_SCALE, claims.ADHOC_NEEDED_POWER, rubric_build.ADHOC_CALIBRATION = saved


if __name__ == "__main__":
    main()
