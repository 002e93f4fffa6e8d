"""Rows: INPUT read as a stream of `Row`s, and the one way a row is graded (`row_flow`).

Every shell that grades rows goes through `row_flow` and its two drivers: `grader batch` (worker
processes: `grade_row`; llm/hybrid: `agrade_row`), `--via openai-batch` (drives `row_flow` a round
of the Batch API at a time), `grader eval` and the HTTP API (`grade_row` / `agrade_row`, with the
API's own way of finding a row's question).
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import UsageError
from ..llm.drive import Flow, arun, run
from ..models import CleanStr, GradeResult, Question, scrub
from ..pipeline import Grader, grade_flow, shared_client_of


class Row(BaseModel):
    """One input row. Extra columns are kept out of grading (e.g. a human score) and travel to OUT
    as the row's `meta` (a student, a class: what a report groups by)."""

    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True)

    id: CleanStr = Field(min_length=1)
    answer: CleanStr
    question_id: CleanStr | None = None
    bank: CleanStr | None = None
    reference_answer: CleanStr | None = None
    question: CleanStr | None = None
    # other reference answers to the same question: the answer keeps its best grade
    reference_answers: list[CleanStr] | None = None

    @model_validator(mode="after")
    def _references(self):
        refs = [r for r in (self.reference_answers or []) if r and r.strip()]
        if self.reference_answers is not None and not refs:
            raise ValueError("reference_answers is empty: give at least one reference answer, or drop the field")
        if refs and self.reference_answer is None:
            self.reference_answer = refs[0]
        return self

    @property
    def meta(self) -> dict | None:
        """The row's other columns with a plain value (text, number, true/false), as given."""
        extra = {k: v for k, v in (self.model_extra or {}).items() if isinstance(v, (str, int, float, bool))}
        return extra or None

    @property
    def alternatives(self) -> tuple[str, ...]:
        return tuple(r for r in (self.reference_answers or []) if r and r.strip() and r != self.reference_answer)


@dataclass
class RowError:
    id: str | None
    type: str
    message: str


# Bytes that are not UTF-8 are read as lone surrogates (surrogateescape) so that one bad byte is an
# error line for its row, not the end of the batch.
_NOT_UTF8 = re.compile("[\udc80-\udcff]")
NOT_UTF8 = "is not UTF-8 text; save the file as UTF-8"
csv.field_size_limit(1 << 30)  # a long answer is a long answer (the default stops at 131,072 characters)


def _csv_rows(f: io.TextIOBase) -> Iterator[tuple[int, dict | RowError]]:
    reader = csv.DictReader(f)
    if not reader.fieldnames or "id" not in reader.fieldnames or "answer" not in reader.fieldnames:
        raise UsageError(f"the CSV header must have the columns id, question_id, answer (found: {reader.fieldnames})")
    while True:
        n = reader.line_num + 1  # the line the record starts on (a quoted field may span lines)
        try:
            rec = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield n, RowError(None, "invalid_row", f"line {n}: {exc}; fix the CSV quoting of this row")
            continue
        rid = rec.get("id") or None
        if any(isinstance(v, str) and _NOT_UTF8.search(v) for v in rec.values()):
            yield n, RowError(None, "invalid_row", f"line {n} {NOT_UTF8}")
        elif rec.get("answer") is None:
            yield n, RowError(rid, "invalid_row", f"line {n}: the row has no answer column (fewer fields than the header)")
        else:
            yield n, {k: v for k, v in rec.items() if k is not None and v not in (None, "")} | {"answer": rec["answer"]}


def _jsonl_rows(f: io.TextIOBase) -> Iterator[tuple[int, dict | RowError]]:
    for n, line in enumerate(f, start=1):
        if not line.strip():
            continue
        if not line.isascii() and _NOT_UTF8.search(line):
            yield n, RowError(None, "invalid_row", f"line {n} {NOT_UTF8}")
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield n, RowError(None, "invalid_json", f"line {n}: {exc.msg}; each line must be one JSON object")
            continue
        except RecursionError:
            yield n, RowError(None, "invalid_json", f"line {n}: nested too deeply; each line must be one flat JSON object")
            continue
        if not isinstance(obj, dict):
            yield n, RowError(None, "invalid_row", f"line {n}: expected a JSON object")
            continue
        yield n, obj


def open_input(path: Path) -> io.TextIOBase:
    try:
        if str(path) == "-":
            try:  # closing it leaves stdin open
                return open(sys.stdin.fileno(), encoding="utf-8-sig", errors="surrogateescape", newline="", closefd=False)
            except (AttributeError, io.UnsupportedOperation):  # a stdin that is not a file (tests)
                return sys.stdin
        return open(path, encoding="utf-8-sig", errors="surrogateescape", newline="")
    except OSError as exc:
        raise UsageError(f"cannot read input {path}: {exc.strerror or exc}; pass a readable JSONL or CSV file") from None


def read_rows(path: Path) -> Iterator[tuple[int, Row | RowError]]:
    """Stream rows; a row that cannot be used is a RowError carrying its id when known."""
    f = open_input(path)
    try:
        yield from rows_of(f, str(path).lower().endswith(".csv"), path)
    finally:
        if f is not sys.stdin:
            f.close()


def rows_of(f: io.TextIOBase, is_csv: bool, name) -> Iterator[tuple[int, Row | RowError]]:
    """The rows of an open JSONL or CSV text file (`name` for the message of a decoding error)."""
    try:
        yield from parse_rows(_csv_rows(f) if is_csv else _jsonl_rows(f))
    except UnicodeDecodeError:
        raise UsageError(f"{name} is not UTF-8 text; save it as UTF-8") from None


def parse_rows(source: Iterable[tuple[int, dict | RowError]]) -> Iterator[tuple[int, Row | RowError]]:
    """Records (numbered) validated as Rows; a record that is not a usable row is a RowError."""
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
            yield n, RowError(None if rid is None else scrub(str(rid)), "invalid_row", f"line {n}: {field_name}: {err['msg']}")


class Item(NamedTuple):
    """A row as plain data: what travels to a worker process (cheaper to pickle than a Row)."""

    id: str
    question_id: str | None
    bank: str | None
    answer: str
    reference_answer: str | None
    question: str | None
    alternatives: tuple[str, ...]
    meta: dict | None = None


def item_of(rid: str, row: Row) -> Item:
    return Item(rid, row.question_id, row.bank, row.answer, row.reference_answer, row.question, row.alternatives, row.meta)


# Where a row is graded against, in a mode: a bank question, or a rubric built from its own
# reference (for the judge, whole sentences as claims).
Resolve = Callable[[object, str], "tuple[Question, str | None]"]


def _target(grader: Grader) -> Resolve:
    return lambda row, mode: grader.target(row.question_id, row.bank, row.reference_answer, row.question, row.alternatives, mode)


def row_flow(grader: Grader, row, mode: str | None = None, endpoint=None, resolve: Resolve | None = None) -> Flow[GradeResult]:
    """The one way a row (a Row, an Item, an API request) is graded: its target, then the
    pipeline's flow (yielding the judge's requests, if any)."""
    mode = mode or grader.settings.mode
    question, bank_name = (resolve or _target(grader))(row, mode)
    return grade_flow(question, row.answer, mode, grader.settings, bank_name, False, endpoint)


def grade_row(grader: Grader, row, mode: str | None = None, resolve: Resolve | None = None) -> GradeResult:
    """`row_flow`, driven synchronously (the judge's client shared per configuration)."""
    client = shared_client_of(grader.settings)
    return run(row_flow(grader, row, mode, client, resolve), client)


async def agrade_row(grader: Grader, row, mode: str | None, client, resolve: Resolve | None = None) -> GradeResult:
    """`row_flow` on an event loop, through one JudgeClient shared by the rows in flight."""
    get = lambda: client  # noqa: E731
    return await arun(row_flow(grader, row, mode, get, resolve), get)
