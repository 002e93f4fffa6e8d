"""`grader eval`: agreement between the grader and human scores on a labelled JSONL file.

Each row: {"id", "question_id", "answer", "score"} with optional "max_score" (default 10),
"kind", and "reference_answer"/"question" (graded against that reference, as batch does).
Human and grader scores are put on the 0-10 scale before comparing.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .rows import Row, grade_row, open_input
from ..errors import UsageError
from .metrics import agreement
from ..pipeline import Grader


class LabeledRow(Row):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    score: float
    max_score: float = Field(default=10.0, gt=0)
    kind: str | None = None


class Graded(BaseModel):
    id: str
    kind: str | None
    question_id: str  # the question, or the reference a row carries: the unit of cross-validation
    human: float  # 0-10
    grader: float  # 0-10
    raw: float  # 0-10, before the bank's user scale
    flags: list[str]


def read_labeled(path: Path) -> list[LabeledRow]:
    rows: list[LabeledRow] = []
    f = open_input(path)
    try:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rows.append(LabeledRow.model_validate(json.loads(line)))
            except json.JSONDecodeError as exc:
                raise UsageError(f"{path}:{n}: invalid JSON ({exc.msg}); each line must be one JSON object") from None
            except ValidationError as exc:
                err = exc.errors()[0]
                loc = ".".join(str(p) for p in err["loc"])
                raise UsageError(f"{path}:{n}: {loc}: {err['msg']}; see 'grader eval --help' for the row format") from None
    finally:
        f.close()
    if not rows:
        raise UsageError(f"{path} has no rows")
    return rows


def evaluate(rows: list[LabeledRow], grader: Grader, mode: str | None = None, worst: int = 10) -> dict:
    graded: list[Graded] = []
    errors: list[dict] = []
    unscored: list[dict] = []
    for row in rows:
        try:
            r = grade_row(grader, row, mode)
        except UsageError as exc:
            errors.append({"id": row.id, "error": str(exc)})
            continue
        if r.points and all(p.verdict == "unscored" for p in r.points):
            # no point has a verdict (over the time budget, or a judge that failed with no fallback):
            # its 0 is not the grader's opinion, so it is left out of the agreement, and listed
            unscored.append({"id": row.id, "flags": list(r.flags)})
            continue
        graded.append(
            Graded(id=row.id, kind=row.kind, question_id=row.question_id or (row.reference_answer or "")[:200],
                   human=row.score * 10.0 / row.max_score, grader=r.normalized * 10.0,
                   raw=(r.raw_score if r.raw_score is not None else r.score) * 10.0 / r.max_score, flags=r.flags)
        )
    if not graded:
        why = errors[0]["error"] if errors else (f"every row unscored ({', '.join(unscored[0]['flags'])})" if unscored else "empty input")
        raise UsageError("no row could be graded: " + why)
    out = agreement([g.human for g in graded], [g.grader for g in graded])
    out["mode"] = mode or grader.settings.mode
    by_kind: dict[str, list[Graded]] = defaultdict(list)
    for g in graded:
        if g.kind:
            by_kind[g.kind].append(g)
    if by_kind:
        out["by_kind"] = {
            k: {
                **agreement([g.human for g in v], [g.grader for g in v]),
                "mean_human": round(sum(g.human for g in v) / len(v), 3),
                "mean_grader": round(sum(g.grader for g in v) / len(v), 3),
            }
            for k, v in sorted(by_kind.items())
        }
    out["worst"] = [
        {"id": g.id, "kind": g.kind, "human": round(g.human, 2), "grader": round(g.grader, 2), "flags": g.flags}
        for g in sorted(graded, key=lambda g: -abs(g.human - g.grader))[:worst]
    ]
    out["errors"] = errors
    out["unscored"] = unscored
    out["graded"] = [g.model_dump() for g in graded]
    return out
