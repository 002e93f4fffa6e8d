"""Many answers: JSONL or CSV in, JSONL out, resumable by id.

Input rows are read as a stream (`read_rows`), each one graded on its own: a bad row becomes an
error line and the batch goes on. Every output line is written whole and flushed, so an
interrupted run leaves at most one torn last line, which the next run drops before resuming:
ids already in OUT are skipped, nothing is graded twice and nothing is lost.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import GraderError, UsageError
from .models import GradeResult
from .pipeline import Grader


class Row(BaseModel):
    """One input row. Extra columns are kept out of grading (e.g. a human score)."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    id: str = Field(min_length=1)
    answer: str
    question_id: str | None = None
    bank: str | None = None
    reference_answer: str | None = None
    question: str | None = None


@dataclass
class RowError:
    id: str | None
    type: str
    message: str


def _csv_rows(f: io.TextIOBase) -> Iterator[tuple[int, dict | RowError]]:
    reader = csv.DictReader(f)
    if not reader.fieldnames or "id" not in reader.fieldnames or "answer" not in reader.fieldnames:
        raise UsageError(f"the CSV header must have the columns id, question_id, answer (found: {reader.fieldnames})")
    for n, rec in enumerate(reader, start=2):
        yield n, {k: v for k, v in rec.items() if k is not None and v not in (None, "")} | {"answer": rec.get("answer") or ""}


def _jsonl_rows(f: io.TextIOBase) -> Iterator[tuple[int, dict | RowError]]:
    for n, line in enumerate(f, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield n, RowError(None, "invalid_json", f"line {n}: {exc.msg}; each line must be one JSON object")
            continue
        if not isinstance(obj, dict):
            yield n, RowError(None, "invalid_row", f"line {n}: expected a JSON object")
            continue
        yield n, obj


def open_input(path: Path) -> io.TextIOBase:
    try:
        if str(path) == "-":
            return sys.stdin
        return open(path, encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise UsageError(f"cannot read input {path}: {exc.strerror or exc}; pass a readable JSONL or CSV file") from None


def read_rows(path: Path) -> Iterator[tuple[int, Row | RowError]]:
    """Stream rows; a row that cannot be used is a RowError carrying its id when known."""
    f = open_input(path)
    is_csv = str(path).lower().endswith(".csv")
    try:
        source = _csv_rows(f) if is_csv else _jsonl_rows(f)
        for n, rec in source:
            if isinstance(rec, RowError):
                yield n, rec
                continue
            try:
                yield n, Row.model_validate(rec)
            except ValidationError as exc:
                err = exc.errors()[0]
                field_name = ".".join(str(p) for p in err["loc"])
                rid = rec.get("id")
                yield n, RowError(None if rid is None else str(rid), "invalid_row", f"line {n}: {field_name}: {err['msg']}")
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text; save it as UTF-8") from None
    finally:
        if f is not sys.stdin:
            f.close()


def grade_row(grader: Grader, row: Row, mode: str | None) -> GradeResult:
    if row.reference_answer:
        return grader.grade_reference(row.reference_answer, row.answer, row.question, mode, question_id=row.question_id)
    if not row.question_id:
        raise UsageError("the row has neither question_id nor reference_answer")
    return grader.grade(row.question_id, row.answer, mode=mode, bank=row.bank)


def done_ids(out: Path) -> set[str]:
    """Ids already in OUT. A torn last line (a run killed mid-write) is cut off first."""
    if not out.exists():
        return set()
    ids: set[str] = set()
    with open(out, "rb+") as f:
        data = f.read()
        good_end = 0
        pos = 0
        for line in data.splitlines(keepends=True):
            end = pos + len(line)
            if line.endswith(b"\n"):
                try:
                    ids.add(str(json.loads(line)["id"]))
                    good_end = end
                except (ValueError, KeyError, TypeError):
                    good_end = end  # a whole but foreign line: leave it
            pos = end
        if good_end < len(data):
            f.truncate(good_end)
    return ids


@dataclass
class Summary:
    rows: int = 0
    graded: int = 0
    errors: int = 0
    skipped: int = 0
    flags: Counter = field(default_factory=Counter)
    score_sum: float = 0.0

    def as_dict(self) -> dict:
        return {
            "rows": self.rows,
            "graded": self.graded,
            "errors": self.errors,
            "skipped": self.skipped,
            "mean_score": round(self.score_sum / self.graded, 3) if self.graded else None,
            "flags": dict(self.flags),
        }


def run_batch(
    input_path: Path,
    out_path: Path,
    grader: Grader,
    mode: str | None = None,
    concurrency: int = 1,
) -> Summary:
    skip = done_ids(out_path)
    summary = Summary()
    if str(input_path) != "-" and not Path(input_path).is_file():
        raise UsageError(f"cannot read input {input_path}: no such file; pass a JSONL or CSV file")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with open(out_path, "a", encoding="utf-8") as out:

        def write(obj: dict) -> None:
            out.write(json.dumps(obj, ensure_ascii=False) + "\n")
            out.flush()

        def finish(rid: str, fut_or_result) -> None:
            try:
                result = fut_or_result.result() if isinstance(fut_or_result, Future) else fut_or_result
            except GraderError as exc:
                summary.errors += 1
                write({"id": rid, "error": {"type": type(exc).__name__, "message": str(exc)}})
                return
            except Exception as exc:  # a bug or an unexpected fault must not stop the batch
                summary.errors += 1
                write({"id": rid, "error": {"type": type(exc).__name__, "message": str(exc) or repr(exc)}})
                return
            summary.graded += 1
            summary.score_sum += result.score
            summary.flags.update(result.flags)
            write({"id": rid, "result": result.model_dump(mode="json", exclude_none=True)})

        seen: set[str] = set()
        pending: dict[Future, str] = {}
        pool = ThreadPoolExecutor(max_workers=max(1, concurrency)) if concurrency > 1 else None
        try:
            for n, row in read_rows(input_path):
                summary.rows += 1
                rid = row.id if row.id is not None else f"line-{n}"
                if rid in skip or rid in seen:
                    summary.skipped += 1
                    continue
                if isinstance(row, RowError):
                    summary.errors += 1
                    write({"id": rid, "error": {"type": row.type, "message": row.message}})
                    continue
                seen.add(rid)
                if pool is None:
                    fut: Future = Future()
                    try:
                        fut.set_result(grade_row(grader, row, mode))
                    except Exception as exc:  # noqa: BLE001 - recorded as an error line
                        fut.set_exception(exc)
                    finish(rid, fut)
                    continue
                pending[pool.submit(grade_row, grader, row, mode)] = rid
                if len(pending) >= concurrency * 4:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for f in done:
                        finish(pending.pop(f), f)
            for f in list(pending):
                finish(pending.pop(f), f)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
            out.flush()
            os.fsync(out.fileno())
    return summary
