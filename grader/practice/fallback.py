"""The fallback file: attempts the history database could not take, one JSON line each, kept in
`<db>.unsaved.jsonl` beside it until a run that opens the database imports them.

Nothing in it is lost or read twice, with any number of sessions writing and importing at once:

- A writer appends one whole line under an exclusive lock (`flock`) on the file, and only once
  the locked file is still the one named `<db>.unsaved.jsonl` (an importer may have renamed it
  meanwhile: the writer then opens the new one). A line always starts on a line of its own, even
  after a torn last line (a session killed in the middle of its append).
- An importer locks the file and renames it to `<db>.unsaved.jsonl.importing-<pid>-<n>` (rename,
  then read: a writer can no longer reach it), stores its attempts, and only then deletes it. If
  the import fails (the database locked again), the renamed file stays and the next import takes
  it (it is locked while an importer works on it, so two never take the same one).
- A line that is not an attempt (torn, glued to another, bad bytes) is set aside, byte for byte,
  in `<db>.unsaved.rejected` with a warning naming it; the good lines are imported.

Attempts carry a uid, so an import interrupted and run again adds nothing twice.
"""

from __future__ import annotations

import glob
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; the rename still keeps readers and writers apart
    fcntl = None  # type: ignore[assignment]

LOCK_WAIT = 10.0  # seconds a writer waits for another writer before appending anyway


def fallback_path(db: Path) -> Path:
    return db.with_name(db.name + ".unsaved.jsonl")


def rejected_path(db: Path) -> Path:
    return db.with_name(db.name + ".unsaved.rejected")


def _lock(fd: int, block: bool) -> bool:
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
        return True
    except BlockingIOError:
        return False


def _names(fd: int, path: Path) -> bool:
    """Whether `path` still names the file open as `fd` (not renamed away or deleted)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    fs = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (fs.st_dev, fs.st_ino)


def _open_for_append(path: Path) -> int:
    """`path` opened for appending and locked, and still named `path` once locked."""
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        while not _lock(fd, block=False):
            if not _names(fd, path) or time.monotonic() > deadline:
                break
            time.sleep(0.005)
        else:
            if _names(fd, path):
                return fd
        if time.monotonic() > deadline and _names(fd, path):
            return fd  # a writer holding the lock this long is stuck: O_APPEND keeps the line whole
        os.close(fd)


def append_line(path: Path, line: bytes) -> None:
    """Append one whole line under the lock, on a line of its own after a torn last line."""
    fd = _open_for_append(path)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line
        view = memoryview(line)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def save_fallback(db: Path, attempt: Any) -> str:
    """Keep an attempt the database could not take: one JSON line beside it, or on stderr.

    Returns where it went, for the message to the learner."""
    line = attempt.model_dump_json(exclude={"id"})
    fb = fallback_path(db)
    try:
        fb.parent.mkdir(parents=True, exist_ok=True)
        append_line(fb, line.encode("utf-8") + b"\n")
        return str(fb)
    except OSError:
        print(line, file=sys.stderr)
        return "stderr (copy the JSON line above to keep it)"


def _claims(db: Path) -> list[tuple[Path, int]]:
    """The files to import, each open and locked by this process: the fallback file (renamed
    first) and any renamed file an interrupted import left behind that no one is working on."""
    fb = fallback_path(db)
    out: list[tuple[Path, int]] = []
    for name in sorted(glob.glob(glob.escape(str(fb)) + ".importing-*")):
        try:
            fd = os.open(name, os.O_RDONLY)
        except FileNotFoundError:
            continue
        if _lock(fd, block=False) and _names(fd, Path(name)):
            out.append((Path(name), fd))
        else:
            os.close(fd)
    while True:
        try:
            fd = os.open(fb, os.O_RDONLY)
        except FileNotFoundError:
            return out
        _lock(fd, block=True)  # waits for a writer in the middle of its line
        if _names(fd, fb):
            claim = fb.with_name(f"{fb.name}.importing-{os.getpid()}-{uuid.uuid4().hex[:8]}")
            os.rename(fb, claim)
            out.append((claim, fd))
            return out
        os.close(fd)  # another importer renamed it first: look again


def import_fallback(db: Path, parse: Callable[[str], Any], store: Callable[[Any], object]) -> int:
    """Store every attempt of the fallback file(s) with `store` (each line read with `parse`, an
    Attempt's model_validate_json); returns how many. A file is deleted only after all its
    attempts are stored and its unreadable lines set aside."""
    claims = _claims(db)
    imported = 0
    try:
        for claim, fd in claims:
            with os.fdopen(os.dup(fd), "rb") as f:
                data = f.read()
            bad: list[bytes] = []
            for raw in data.split(b"\n"):
                if not raw.strip():
                    continue
                try:
                    attempt = parse(raw.decode("utf-8"))
                except ValueError:
                    bad.append(raw)
                    continue
                attempt.id = None
                store(attempt)
                imported += 1
            if bad:
                rej = rejected_path(db)
                append_line(rej, b"".join(b + b"\n" for b in bad))
                print(
                    f"grader: warning: {len(bad)} line(s) of {fallback_path(db)} are not attempts (cut short or damaged); "
                    f"set aside in {rej}, the other attempts were imported",
                    file=sys.stderr,
                )
            os.unlink(claim)
    finally:
        for _, fd in claims:
            os.close(fd)
    return imported
