"""OUT, the JSONL a batch writes: one whole line per row, appended in one write(); the ids already
there (`done_ids`, held in an `IdSet`) are what a resumed run skips. One run at a time writes an
OUT: `Out` holds an exclusive lock on it (`flock`) for the whole run, taken before the ids already
there are read, so a second run on the same OUT stops at once instead of grading every row twice."""

from __future__ import annotations

import errno
import json
import os
from array import array
from pathlib import Path

from ..errors import GraderError, UsageError
from ..models import GradeResult

try:
    import fcntl
except ImportError:  # Windows: no advisory locks
    fcntl = None  # type: ignore[assignment]


# ---------------------------------------------------------------- ids


class IdSet:
    """A set of ids held as 64-bit hashes (Python's own str hash, stable within one process) in an
    open-addressing table: 8-32 bytes per id. Two different ids share a hash with probability
    about n^2 / 2^64 (3e-8 for a million rows); the cost of such a collision is one row skipped."""

    __slots__ = ("_t", "_mask", "_n")

    def __init__(self, ids=()):
        self._t = array("Q", bytes(8 * 1024))
        self._mask = 1023
        self._n = 0
        for i in ids:
            self.add(i)

    @staticmethod
    def _h(key: str) -> int:
        return (hash(key) & 0xFFFFFFFFFFFFFFFF) | 1  # 0 marks an empty slot

    def _insert(self, h: int) -> bool:
        t, mask = self._t, self._mask
        i = h & mask
        while True:
            v = t[i]
            if v == 0:
                t[i] = h
                return True
            if v == h:
                return False
            i = (i + 1) & mask

    def add(self, key: str) -> bool:
        """Add; False when it was already there."""
        if not self._insert(self._h(key)):
            return False
        self._n += 1
        if self._n * 2 > self._mask:
            old = self._t
            self._t = array("Q", bytes(8 * 2 * len(old)))
            self._mask = 2 * len(old) - 1
            for v in old:
                if v:
                    self._insert(v)
        return True

    def __contains__(self, key: str) -> bool:
        h = self._h(key)
        t, mask = self._t, self._mask
        i = h & mask
        while True:
            v = t[i]
            if v == 0:
                return False
            if v == h:
                return True
            i = (i + 1) & mask

    def __len__(self) -> int:
        return self._n


def line_id(line: bytes) -> str | None:
    """The id of a whole OUT line, or None for a foreign line. Our own lines start with the id, so
    only that prefix is decoded (OUT lines are long: the whole GradeResult)."""
    if line.startswith(b'{"id": "'):
        try:
            value, _ = _DECODER.raw_decode(line[7:512].decode("utf-8", "ignore"))
            return str(value)
        except ValueError:
            pass
    try:
        return str(json.loads(line)["id"])
    except (ValueError, KeyError, TypeError):
        return None


_DECODER = json.JSONDecoder()


def done_ids(out: Path, into: IdSet | set | None = None):
    """Ids already in OUT, streamed. A torn last line (a run killed mid-write) is cut off first.
    Returns a set (or fills `into`, e.g. an IdSet)."""
    ids = set() if into is None else into
    if not out.exists():
        return ids
    with open(out, "rb+") as f:
        good_end = 0
        torn = False
        for line in f:
            if not line.endswith(b"\n"):
                torn = True
                break
            good_end += len(line)
            rid = line_id(line)
            if rid is not None:
                ids.add(rid)
            # a whole but foreign line is left as it is
        if torn:
            f.truncate(good_end)
    return ids


# ---------------------------------------------------------------- lines


def _meta(meta: dict | None) -> str:
    return ', "meta": ' + json.dumps(meta, ensure_ascii=False) if meta else ""


def result_line(rid: str, result: GradeResult, meta: dict | None = None) -> bytes:
    """`{"id", "meta"?, "result"}`: `meta` holds the input row's other columns (a student, a class)."""
    return ('{"id": ' + json.dumps(rid, ensure_ascii=False) + _meta(meta) + ', "result": '
            + result.model_dump_json(exclude_none=True) + "}\n").encode("utf-8")


def error_line(rid: str, type_: str, message: str, meta: dict | None = None) -> bytes:
    return ('{"id": ' + json.dumps(rid, ensure_ascii=False) + _meta(meta) + ', "error": '
            + json.dumps({"type": type_, "message": message}, ensure_ascii=False) + "}\n").encode("utf-8")


def exc_line(rid: str, exc: BaseException, meta: dict | None = None) -> bytes:
    return error_line(rid, type(exc).__name__, str(exc) or repr(exc), meta)


def check_paths(input_path: Path, out_path: Path) -> None:
    """INPUT given as OUT would skip every row (each id is "already written"): refuse it."""
    try:
        same = str(input_path) != "-" and out_path.exists() and os.path.samefile(input_path, out_path)
    except OSError:
        same = False
    if same:
        raise UsageError(f"--out {out_path} is the input file itself: pass another path for the graded lines")


class Out:
    """OUT opened for appending and locked; each line goes out in one write() of the whole line."""

    def __init__(self, path: Path):
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except IsADirectoryError:
            raise UsageError(f"--out {path} is a directory: pass a file path, e.g. {path / 'graded.jsonl'}") from None
        except OSError as exc:
            raise UsageError(f"cannot write --out {path}: {exc.strerror or exc}; pass a writable file path") from None
        if fcntl is not None:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(self.fd)
                raise UsageError(
                    f"--out {path} is being written by another grader batch; wait for it to finish (then run again "
                    "to resume) or pass another --out"
                ) from None

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:  # a short write (disk nearly full) leaves a torn tail only if killed in between
                n = os.write(self.fd, view)
                view = view[n:]
        except OSError as exc:
            full = exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
            raise GraderError(
                f"cannot write to {self.path}: {exc.strerror or exc}; "
                + ("free some space" if full else "check the file") + ", then run the same command again: it resumes"
            ) from None

    def close(self) -> None:
        try:
            os.fsync(self.fd)
        except OSError:
            pass
        os.close(self.fd)
