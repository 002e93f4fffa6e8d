"""Grade a Ray Dataset you already hold (the extra `grader[ray]`):

    import ray, grader.ray
    ds = ray.data.read_parquet("s3://bucket/answers/")      # columns id, question_id, answer, ...
    graded = grader.ray.grade(ds, bank="llm-interview", mode="fuzzy")
    graded.write_parquet("s3://bucket/graded/")             # id, score, normalized, result, error

Each row is graded as a line of `grader batch` is (the same validation, the same GradeResult); the
rows are mapped through a pool of actors that load and compile the rubrics once each. A row that
cannot be graded gets `error` (JSON: type and message) and no score; the job goes on. `result` is
the GradeResult as JSON text. Nothing is skipped: resuming by id is `grader batch --engine ray`'s.
"""

from __future__ import annotations

from .settings import Settings


def grade(ds, bank: str | None = None, mode: str | None = None, *, settings: Settings | None = None,
          concurrency: int | None = None, workers: int | None = None):
    """`ds` -> a Dataset of `id`, `score`, `normalized`, `result` and `error`, one row per row.

    `mode` defaults to the settings' (offline unless GRADER_MODE says otherwise); `concurrency`: judge
    calls in flight per actor (llm, hybrid); `workers`: actors (default: the cluster's CPUs)."""
    from .pipeline import Grader
    from .runs.ray_engine import connect, grade_dataset

    grader = Grader(settings or Settings.from_env(), bank=bank)
    mode = mode or grader.settings.mode
    grader.settings.check_mode(mode)
    connect(None)
    return grade_dataset(ds, grader, mode, concurrency=concurrency, workers=workers, columns=True)
