"""The judge cache: SQLite on disk, one row per (model, server, prompt, rubric, answer, sampling).

A hit costs no model call. The key is a hash of everything that can change the judge's reply
(`cache_key` takes them as named parts, so the caller states what the reply depends on); the value
is the validated reply as JSON, never a score: verdicts are re-checked and re-scored on every hit,
so a change to the evidence check or to aggregation applies to cached replies too.

Safe for many threads and processes: WAL journal, a busy timeout, one connection per thread, and
each read or write is its own short transaction. A cache that cannot be opened or written is
skipped (a miss), never a failed grade: the cache only saves calls.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import sys
import threading
import time
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS judge_cache (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def cache_key(**parts: object) -> str:
    """Hash of the named parts (canonical JSON, so the order of the arguments does not matter)."""
    blob = json.dumps(parts, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class JudgeCache:
    def __init__(self, path: Path | str, timeout: float = 5.0):
        self.path = Path(path).expanduser()
        self.timeout = timeout
        self._local = threading.local()
        self._init_lock = threading.Lock()
        self._ready = False  # the file exists in WAL mode with its table
        self.error: str | None = None  # why the cache was skipped, if it was

    def _conn(self) -> sqlite3.Connection | None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            # Switching to WAL and creating the table take a lock that SQLite does not wait for:
            # threads opening their connections at once would fail. One of them does it, once.
            with self._init_lock:
                if not self._ready:
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.execute(SCHEMA)
                    self._ready = True
            conn.execute("PRAGMA synchronous=NORMAL")
        except (sqlite3.Error, OSError) as exc:
            self._fail(f"cache {self.path} unavailable: {exc}")
            return None
        self._local.conn = conn
        return conn

    def get(self, key: str) -> dict | None:
        conn = self._conn()
        if conn is None:
            return None
        try:
            row = conn.execute("SELECT value FROM judge_cache WHERE key = ?", (key,)).fetchone()
            value = json.loads(row[0]) if row else None
        except (sqlite3.Error, ValueError, TypeError) as exc:
            self._fail(f"cache {self.path} read failed: {exc}")
            return None
        if value is not None and not isinstance(value, dict):
            self._fail(f"cache {self.path} holds a value that is not a judge reply")
            return None
        return value

    def put(self, key: str, value: dict) -> None:
        conn = self._conn()
        if conn is None:
            return
        try:
            conn.execute(
                "INSERT OR REPLACE INTO judge_cache (key, value, created) VALUES (?, ?, ?)",
                (key, json.dumps(value, ensure_ascii=False), time.time()),
            )
        except sqlite3.Error as exc:
            self._fail(f"cache {self.path} write failed: {exc}")

    def _fail(self, error: str) -> None:
        """Note why the cache was skipped; warn once per process (the grade goes on without it)."""
        if self.error is None:
            print(f"grader: warning: {error}; grading goes on without the cache "
                  "(delete the file or set GRADER_CACHE to rebuild it)", file=sys.stderr)
        self.error = error

    def __len__(self) -> int:
        conn = self._conn()
        if conn is None:
            return 0
        return conn.execute("SELECT COUNT(*) FROM judge_cache").fetchone()[0]

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


_caches: dict[str, JudgeCache] = {}
_lock = threading.Lock()


def open_cache(path: Path | str) -> JudgeCache:
    """One JudgeCache per path per process (its connections are per thread)."""
    key = str(Path(path).expanduser())
    with _lock:
        cache = _caches.get(key)
        if cache is None:
            cache = _caches[key] = JudgeCache(key)
        return cache
