"""The practice history: every attempt a learner makes, in one SQLite file.

An attempt keeps the answer, the bank and question, the mode, the score, the rubric version, the
time, and the grader's verdict and credit on each key point. The learner's corrections (a point
marked covered or missed, an own score) are stored beside the grader's verdict, never over it, so
`grader history --export-labels` can turn them into measurement.

Schema. A `schema_version` table holds one row; `MIGRATIONS` is a list of steps, each a tuple of
SQL statements, applied in order inside one transaction per step. A new file is created at v0
and brought to the last version; an older file is migrated on open; a file written by a newer
grader is refused (the message says to upgrade). Add a step at the end, never edit one.

Failures. Every sqlite3 error is translated in one place (`_guard`) into a `HistoryError` whose
message names the file and the fix: a corrupt file ("move it aside"), a file locked by another
program for longer than `timeout` seconds (`HistoryLockedError`), an unwritable directory.
An attempt is never lost: when the database cannot take it, `save_fallback` appends it as one JSON
line to `<db>.unsaved.jsonl` beside the database (or prints it when even that fails), and the next
`History` that opens cleanly imports those lines (`grader.practice.fallback`: locked appends,
rename-then-read, damaged lines set aside). Each attempt carries a `uid`, so an import that is
interrupted and re-run adds nothing twice.

The schedule and the statistics are not stored: they are pure functions of the attempts
(`grader.practice.schedule`), so there is no second copy to migrate or to drift.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from ..errors import HistoryError, HistoryLockedError
from ..models import CleanStr, GradeResult
from .fallback import fallback_path, import_fallback, save_fallback  # noqa: F401 (re-exported)

LearnerVerdict = Literal["covered", "missing"]
MISSED = ("missing", "contradicted")

MIGRATIONS: list[tuple[str, ...]] = [
    # v1: attempts and the grader's verdict on each key point
    (
        """CREATE TABLE attempts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at TEXT NOT NULL,
            bank TEXT NOT NULL,
            question_id TEXT NOT NULL,
            mode TEXT NOT NULL,
            answer TEXT NOT NULL,
            score REAL NOT NULL,
            max_score REAL NOT NULL,
            rubric_version TEXT,
            flags TEXT NOT NULL DEFAULT '[]'
        )""",
        """CREATE TABLE attempt_points (
            attempt_id INTEGER NOT NULL REFERENCES attempts(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            point_id TEXT NOT NULL,
            text TEXT NOT NULL,
            weight REAL NOT NULL,
            verdict TEXT NOT NULL,
            credit REAL NOT NULL,
            evidence TEXT,
            PRIMARY KEY (attempt_id, point_id)
        )""",
        "CREATE INDEX attempts_question ON attempts(bank, question_id, created_at)",
    ),
    # v2: the learner's corrections beside the grader's verdicts; a uid per attempt (fallback import)
    (
        "ALTER TABLE attempts ADD COLUMN learner_score REAL",
        "ALTER TABLE attempts ADD COLUMN corrected_at TEXT",
        "ALTER TABLE attempts ADD COLUMN uid TEXT",
        "CREATE UNIQUE INDEX attempts_uid ON attempts(uid)",
        "ALTER TABLE attempt_points ADD COLUMN learner_verdict TEXT",
    ),
]
SCHEMA_VERSION = len(MIGRATIONS)


# ------------------------------------------------------------------ records


class AttemptPoint(BaseModel):
    id: CleanStr
    text: CleanStr
    weight: float
    verdict: str
    credit: float
    evidence: CleanStr | None = None
    learner_verdict: LearnerVerdict | None = None

    @property
    def effective_verdict(self) -> str:
        """The learner's word when they gave one, else the grader's."""
        return self.learner_verdict or self.verdict

    @property
    def missed(self) -> bool:
        return self.effective_verdict in MISSED


class Attempt(BaseModel):
    id: int | None = None
    uid: str = Field(default_factory=lambda: uuid.uuid4().hex)
    created_at: datetime
    bank: CleanStr
    question_id: CleanStr
    mode: str
    answer: CleanStr
    score: float
    max_score: float = 10.0
    rubric_version: str | None = None
    flags: list[str] = Field(default_factory=list)
    points: list[AttemptPoint] = Field(default_factory=list)
    learner_score: float | None = None
    corrected_at: datetime | None = None

    @classmethod
    def from_result(cls, result: GradeResult, answer: str, at: datetime | None = None) -> Attempt:
        return cls(
            created_at=at or datetime.now(timezone.utc),
            bank=result.bank or "",
            question_id=result.question_id or "",
            mode=result.mode,
            answer=answer,
            score=result.score,
            max_score=result.max_score,
            rubric_version=result.rubric_version,
            flags=list(result.flags),
            points=[
                AttemptPoint(id=p.id, text=p.text, weight=p.weight, verdict=p.verdict, credit=p.credit, evidence=p.evidence)
                for p in result.points
            ],
        )

    @property
    def final_score(self) -> float:
        """The learner's own score when they gave one, else the grader's."""
        return self.learner_score if self.learner_score is not None else self.score

    @property
    def normalized(self) -> float:
        return self.final_score / self.max_score if self.max_score else 0.0

    @property
    def corrected(self) -> bool:
        return self.learner_score is not None or any(p.learner_verdict for p in self.points)

    def correct(self, points: dict[str, LearnerVerdict] | None = None, score: float | None = None) -> None:
        """Apply a learner's corrections in memory (History.correct stores them)."""
        known = {p.id for p in self.points}
        for pid, v in (points or {}).items():
            if pid not in known:
                raise HistoryError(f"attempt has no key point {pid!r}; known points: {', '.join(sorted(known))}")
            if v not in ("covered", "missing"):
                raise HistoryError(f"a correction is 'covered' or 'missing', not {v!r}")
        if score is not None and not 0 <= score <= self.max_score:
            raise HistoryError(f"own score {score:g} is outside 0-{self.max_score:g}")
        for p in self.points:
            if p.id in (points or {}):
                p.learner_verdict = points[p.id]  # type: ignore[index]
        if score is not None:
            self.learner_score = score
        self.corrected_at = datetime.now(timezone.utc)


# ------------------------------------------------------------------ the database


def _ts(dt: datetime) -> str:
    if dt.tzinfo is None:
        dt = dt.astimezone()
    return dt.astimezone(timezone.utc).isoformat(timespec="seconds")


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text).astimezone() if text else None


class History:
    """An open history database. Use as a context manager, or call close()."""

    def __init__(self, path: Path, timeout: float = 3.0):
        self.path = Path(path)
        self.timeout = timeout
        self.imported = 0  # attempts imported from the fallback file on open
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise HistoryError(
                f"cannot create the directory of the history database {self.path}: {exc.strerror or exc}; "
                "set GRADER_HISTORY to a writable file path"
            ) from None
        with self._guard():
            self.db = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None)
        try:
            with self._guard():
                self.db.execute("PRAGMA foreign_keys = ON")
                self._migrate()
            self.imported = self._import_fallback()
        except BaseException:
            self.db.close()
            raise

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    # -------------------------------------------------------------- errors and transactions

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Translate sqlite3 errors into HistoryError messages that name the file and the fix."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            msg = str(exc)
            if "locked" in msg or "busy" in msg:
                raise HistoryLockedError(
                    f"the history database {self.path} is locked by another program (another grader session?); "
                    f"waited {self.timeout:g}s. Close it and run again, or raise GRADER_HISTORY_TIMEOUT"
                ) from None
            if "unable to open" in msg or "readonly" in msg or "disk I/O" in msg:
                raise HistoryError(
                    f"cannot open the history database {self.path} ({msg}); "
                    "check its permissions or set GRADER_HISTORY to a writable file path"
                ) from None
            raise self._corrupt(msg) from None
        except sqlite3.DatabaseError as exc:
            raise self._corrupt(str(exc)) from None

    def _corrupt(self, msg: str) -> HistoryError:
        return HistoryError(
            f"the history database {self.path} is not a usable SQLite database ({msg}); "
            f"move it aside (mv '{self.path}' '{self.path}.broken') and run again: a new one is created"
        )

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._guard():
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    # -------------------------------------------------------------- schema

    def version(self) -> int:
        with self._guard():
            row = self.db.execute("SELECT version FROM schema_version").fetchone()
        return int(row[0]) if row else 0

    def _migrate(self) -> None:
        tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "schema_version" not in tables:
            if tables - {"sqlite_sequence"}:
                raise HistoryError(
                    f"{self.path} is a SQLite database but not a grader history (no schema_version table); "
                    "set GRADER_HISTORY to another file"
                )
            with self._write() as db:
                db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
                if db.execute("SELECT count(*) FROM schema_version").fetchone()[0] == 0:
                    db.execute("INSERT INTO schema_version (version) VALUES (0)")
        current = self.version()
        if current > SCHEMA_VERSION:
            raise HistoryError(
                f"the history database {self.path} has schema version {current}, newer than this grader knows "
                f"({SCHEMA_VERSION}); upgrade grader (pip install -U grader) or set GRADER_HISTORY to another file"
            )
        for target in range(current + 1, SCHEMA_VERSION + 1):
            with self._write() as db:
                # re-read inside the write lock: another process may have migrated meanwhile
                if db.execute("SELECT version FROM schema_version").fetchone()[0] >= target:
                    continue
                for statement in MIGRATIONS[target - 1]:
                    db.execute(statement)
                db.execute("UPDATE schema_version SET version = ?", (target,))

    # -------------------------------------------------------------- writing

    def add(self, attempt: Attempt) -> int:
        """Store an attempt (and any corrections it already carries); returns its id."""
        with self._write() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO attempts (uid, created_at, bank, question_id, mode, answer, score, max_score,"
                " rubric_version, flags, learner_score, corrected_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    attempt.uid, _ts(attempt.created_at), attempt.bank, attempt.question_id, attempt.mode,
                    attempt.answer, attempt.score, attempt.max_score, attempt.rubric_version,
                    json.dumps(attempt.flags), attempt.learner_score,
                    _ts(attempt.corrected_at) if attempt.corrected_at else None,
                ),
            )
            if cur.rowcount == 0:  # already stored (a fallback line imported twice): keep newer corrections
                attempt.id = db.execute("SELECT id FROM attempts WHERE uid = ?", (attempt.uid,)).fetchone()[0]
                if attempt.corrected:
                    self._write_corrections(db, attempt)
                return attempt.id
            attempt.id = int(cur.lastrowid)
            db.executemany(
                "INSERT INTO attempt_points (attempt_id, position, point_id, text, weight, verdict, credit, evidence,"
                " learner_verdict) VALUES (?,?,?,?,?,?,?,?,?)",
                [
                    (attempt.id, i, p.id, p.text, p.weight, p.verdict, p.credit, p.evidence, p.learner_verdict)
                    for i, p in enumerate(attempt.points)
                ],
            )
        return attempt.id

    def save_corrections(self, attempt: Attempt) -> None:
        """Store the learner's corrections of an attempt already in the database."""
        if attempt.id is None:
            raise HistoryError("the attempt is not stored yet; add it first")
        with self._write() as db:
            self._write_corrections(db, attempt)

    @staticmethod
    def _write_corrections(db: sqlite3.Connection, attempt: Attempt) -> None:
        db.execute(
            "UPDATE attempts SET learner_score = ?, corrected_at = ? WHERE id = ?",
            (attempt.learner_score, _ts(attempt.corrected_at) if attempt.corrected_at else None, attempt.id),
        )
        db.executemany(
            "UPDATE attempt_points SET learner_verdict = ? WHERE attempt_id = ? AND point_id = ?",
            [(p.learner_verdict, attempt.id, p.id) for p in attempt.points],
        )

    def delete(self, attempt_id: int) -> None:
        """Forget an attempt (practice's `undo`); its points go with it (ON DELETE CASCADE)."""
        with self._write() as db:
            db.execute("DELETE FROM attempts WHERE id = ?", (attempt_id,))

    def correct(self, attempt_id: int, points: dict[str, LearnerVerdict] | None = None, score: float | None = None) -> Attempt:
        attempt = self.get(attempt_id)
        attempt.correct(points, score)
        self.save_corrections(attempt)
        return attempt

    def _import_fallback(self) -> int:
        """Import the attempts saved beside the database while it could not take them."""
        return import_fallback(self.path, Attempt.model_validate_json, self.add)

    # -------------------------------------------------------------- reading

    def _attempts(self, where: str = "", params: tuple = (), order: str = "ASC", limit: int | None = None) -> list[Attempt]:
        sql = (
            "SELECT id, uid, created_at, bank, question_id, mode, answer, score, max_score, rubric_version, flags,"
            f" learner_score, corrected_at FROM attempts {where} ORDER BY created_at {order}, id {order}"
        )
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._guard():
            rows = self.db.execute(sql, params).fetchall()
            out = [
                Attempt(
                    id=r[0], uid=r[1] or f"legacy-{r[0]}", created_at=_dt(r[2]), bank=r[3], question_id=r[4], mode=r[5],
                    answer=r[6], score=r[7], max_score=r[8], rubric_version=r[9], flags=json.loads(r[10] or "[]"),
                    learner_score=r[11], corrected_at=_dt(r[12]),
                )
                for r in rows
            ]
            by_id = {a.id: a for a in out}
            if by_id:
                marks = ",".join("?" * len(by_id))
                for p in self.db.execute(
                    "SELECT attempt_id, point_id, text, weight, verdict, credit, evidence, learner_verdict"
                    f" FROM attempt_points WHERE attempt_id IN ({marks}) ORDER BY attempt_id, position",
                    tuple(by_id),
                ):
                    by_id[p[0]].points.append(
                        AttemptPoint(id=p[1], text=p[2], weight=p[3], verdict=p[4], credit=p[5], evidence=p[6], learner_verdict=p[7])
                    )
        return out

    def get(self, attempt_id: int) -> Attempt:
        found = self._attempts("WHERE id = ?", (int(attempt_id),)) if 0 < int(attempt_id) < 2**63 else []
        if not found:
            raise HistoryError(f"no attempt #{attempt_id} in {self.path}; run 'grader history' to list them")
        return found[0]

    def recent(self, question_id: str | None = None, bank: str | None = None, limit: int | None = 20) -> list[Attempt]:
        """Attempts, newest first."""
        where, params = self._filter(question_id, bank)
        return self._attempts(where, params, order="DESC", limit=limit)

    def all(self, bank: str | None = None, question_id: str | None = None) -> list[Attempt]:
        """Every attempt, oldest first (what the schedule and the statistics read)."""
        where, params = self._filter(question_id, bank)
        return self._attempts(where, params)

    @staticmethod
    def _filter(question_id: str | None, bank: str | None) -> tuple[str, tuple]:
        clauses, params = [], []
        if question_id is not None:
            clauses.append("question_id = ?")
            params.append(str(question_id))
        if bank is not None:
            clauses.append("bank = ?")
            params.append(bank)
        return ("WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)
