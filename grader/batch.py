"""Many answers: JSONL or CSV in, JSONL out, resumable by id, memory flat in the number of rows.

The flow of `run_batch`:

    INPUT --read_rows (stream)--> skip ids already in OUT (and repeats) --> a bad row: error line
          --> an executor, at most a bounded window of rows in flight:
                offline modes: worker processes, chunks of rows, results back in submission order
                               (`--workers`, default: the usable cores when the input is not tiny)
                llm / hybrid:  asyncio, one JudgeClient (pooled connections), `--concurrency` answers
                               in flight, results written as they complete
          --> OUT: one os.write() of one whole line per row, on a file opened O_APPEND

Neither the rows nor the results are held: the in-flight window is the only state that grows with
throughput, and what grows with the number of rows is the set of ids seen (`IdSet`: 64-bit hashes
in an open-addressing table, 8-32 bytes per id instead of ~100 for a set of str).

Durability: a line reaches OUT in a single write() of the whole line, so a kill -9 loses at most
the rows in flight and leaves at worst a torn last line (disk full, a write cut short), which
`done_ids` cuts off before the next run resumes. OUT is fsynced at the end, not per line.

Stopping: the first SIGINT (Ctrl-C) stops reading; rows already graded (and, for worker processes,
the chunks already running, under a second) are written, in-flight judge calls are cancelled, and
`run_batch` returns its Summary with `interrupted` set (the CLI exits 130). A second SIGINT raises
KeyboardInterrupt at once; OUT still holds only whole lines.

The summary of the whole OUT (rows graded by earlier, interrupted runs included) is computed by
streaming OUT afterwards: see `grader.report`.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import signal
import sys
import threading
from array import array
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import GraderError, UsageError
from .models import OFFLINE_MODES, GradeResult
from .pipeline import Grader, grade_question

CHUNK = 64  # rows per task sent to a worker process
WINDOW_PER_WORKER = 4  # chunks in flight per worker
MIN_BYTES_FOR_WORKERS = 64 * 1024  # below this, starting processes costs more than it saves
DEFAULT_CONCURRENCY = 8  # judge calls in flight (llm / hybrid)


class Row(BaseModel):
    """One input row. Extra columns are kept out of grading (e.g. a human score)."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)

    id: str = Field(min_length=1)
    answer: str
    question_id: str | None = None
    bank: str | None = None
    reference_answer: str | None = None
    question: str | None = None
    # other reference answers to the same question: the answer keeps its best grade
    reference_answers: list[str] | None = None

    @model_validator(mode="after")
    def _references(self):
        refs = [r for r in (self.reference_answers or []) if r and r.strip()]
        if self.reference_answers is not None and not refs:
            raise ValueError("reference_answers is empty: give at least one reference answer, or drop the field")
        if refs and self.reference_answer is None:
            self.reference_answer = refs[0]
        return self

    @property
    def alternatives(self) -> tuple[str, ...]:
        return tuple(r for r in (self.reference_answers or []) if r and r.strip() and r != self.reference_answer)


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
    q, bank_name = grader.target(row.question_id, row.bank, row.reference_answer, row.question, row.alternatives, mode)
    return grade_question(q, row.answer, mode or grader.settings.mode, grader.settings, bank_name)


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


def result_line(rid: str, result: GradeResult) -> bytes:
    return ('{"id": ' + json.dumps(rid, ensure_ascii=False) + ', "result": '
            + result.model_dump_json(exclude_none=True) + "}\n").encode("utf-8")


def error_line(rid: str, type_: str, message: str) -> bytes:
    return (json.dumps({"id": rid, "error": {"type": type_, "message": message}}, ensure_ascii=False) + "\n").encode("utf-8")


def exc_line(rid: str, exc: BaseException) -> bytes:
    return error_line(rid, type(exc).__name__, str(exc) or repr(exc))


class Out:
    """OUT opened for appending; each line goes out in one write() of the whole line."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:  # a short write (disk nearly full) leaves a torn tail only if killed in between
            n = os.write(self.fd, view)
            view = view[n:]

    def close(self) -> None:
        try:
            os.fsync(self.fd)
        except OSError:
            pass
        os.close(self.fd)


# ---------------------------------------------------------------- one row, as plain data

# A row travels to a worker as a tuple:
# (id, question_id, bank, answer, reference_answer, question, alternative references).
Item = tuple


def _item(rid: str, row: Row) -> Item:
    return (rid, row.question_id, row.bank, row.answer, row.reference_answer, row.question, row.alternatives)


def _grade_item(grader: Grader, item: Item | bytes, mode: str) -> tuple[bytes, bool]:
    """(OUT line, whether it is an error line). A bytes item is an unusable row's error line, passed
    along so that OUT keeps INPUT's order."""
    if isinstance(item, bytes):
        return item, True
    rid, qid, bank, answer, ref, question, alternatives = item
    try:
        q, bank_name = grader.target(qid, bank, ref, question, alternatives, mode)
        return result_line(rid, grade_question(q, answer, mode, grader.settings, bank_name)), False
    except Exception as exc:  # noqa: BLE001 - a bug or fault in one row must not stop the batch
        return exc_line(rid, exc), True


# worker process state, set by the initializer
_W: dict = {}


def _worker_init(settings, bank: str | None, mode: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _W["grader"] = Grader(settings, bank=bank)
    _W["mode"] = mode
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:  # PR_SET_PDEATHSIG: the kernel kills this worker when the parent dies
            import ctypes

            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        os._exit(1)

    def watch() -> None:  # the parent was killed (kill -9): do not linger
        import time

        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _worker_chunk(items: list[Item]) -> list[tuple[bytes, bool]]:
    g, mode = _W["grader"], _W["mode"]
    return [_grade_item(g, it, mode) for it in items]


# ---------------------------------------------------------------- the run


@dataclass
class Summary:
    """Counts of this run; `report.summarize` adds the statistics of the whole OUT."""

    rows: int = 0
    graded: int = 0
    errors: int = 0
    skipped: int = 0
    interrupted: bool = False
    executor: str = ""
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"rows": self.rows, "graded": self.graded, "errors": self.errors, "skipped": self.skipped,
                "interrupted": self.interrupted, "executor": self.executor, **self.extra}


def input_items(input_path: Path, seen: IdSet, summary: Summary, stop: "_Stop") -> Iterator[Item | bytes]:
    """The rows of INPUT still to grade, as items; an unusable row as its error line (bytes), in
    INPUT's order. Rows already in OUT (`seen`) are counted as skipped; a stop ends the stream."""
    for n, row in read_rows(input_path):
        if stop.flag:
            summary.interrupted = True
            return
        summary.rows += 1
        rid = row.id if row.id is not None else f"line-{n}"
        if not seen.add(rid):
            summary.skipped += 1
            continue
        if isinstance(row, RowError):
            yield error_line(rid, row.type, row.message)
            continue
        yield _item(rid, row)


class _Stop:
    """The first SIGINT sets the flag; the second raises KeyboardInterrupt."""

    def __init__(self):
        self.flag = False
        self._old = None

    def __enter__(self) -> _Stop:
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.flag:
            raise KeyboardInterrupt
        self.flag = True

    def __exit__(self, *exc) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)


def usable_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return os.cpu_count() or 1


def count_lines(path: Path) -> int | None:
    """Rows in INPUT, for the progress bar's total (CSV: lines minus the header, approximate)."""
    if str(path) == "-" or not Path(path).is_file():
        return None
    n = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            n += block.count(b"\n")
    if str(path).lower().endswith(".csv"):
        n -= 1
    return max(n, 0)


class Progress:
    """A rich progress bar on stderr with rate and ETA; nothing when stderr is not a terminal."""

    def __init__(self, enabled: bool | None, total: Callable[[], int | None], done: int):
        from rich.console import Console

        console = Console(stderr=True)
        self.bar = None
        if enabled is False or (enabled is None and not console.is_terminal):
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, ProgressColumn, Text
        from rich.progress import TextColumn, TimeElapsedColumn, TimeRemainingColumn

        class Rate(ProgressColumn):
            def render(self, task):
                return Text(f"{task.speed:,.0f} answers/s" if task.speed else "- answers/s", style="cyan")

        self.bar = RichProgress(
            TextColumn("[bold]grading"), BarColumn(), MofNCompleteColumn(), Rate(),
            TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=console, transient=False, refresh_per_second=4,
        )
        t = total()
        self.task = self.bar.add_task("grading", total=t, completed=min(done, t) if t is not None else 0)
        self.bar.start()

    def advance(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def emitter(out: Out, summary: Summary, bar: Progress):
    """The one way a result reaches OUT: write the whole line, count it, advance the bar."""

    def emit(line: bytes, error: bool) -> None:
        out.write(line)
        if error:
            summary.errors += 1
        else:
            summary.graded += 1
        bar.advance()

    return emit


def run_batch(
    input_path: Path,
    out_path: Path,
    grader: Grader,
    mode: str | None = None,
    concurrency: int | None = None,
    workers: int | None = None,
    progress: bool | None = None,
) -> Summary:
    """Grade INPUT into OUT (appending; ids already there are skipped). `workers`: processes for
    the offline modes (None: automatic, 0: in this process); `concurrency`: judge calls in flight
    for llm and hybrid. `progress`: None shows the bar when stderr is a terminal."""
    mode = mode or grader.settings.mode
    grader.settings.check_mode(mode)
    if str(input_path) != "-" and not Path(input_path).is_file():
        raise UsageError(f"cannot read input {input_path}: no such file; pass a JSONL or CSV file")
    seen = done_ids(out_path, IdSet())
    n_done = len(seen)
    summary = Summary()
    out = Out(out_path)
    bar = Progress(progress, lambda: count_lines(input_path), n_done)

    emit = emitter(out, summary, bar)

    def items(stop: _Stop) -> Iterator[Item | bytes]:
        return input_items(input_path, seen, summary, stop)

    try:
        with _Stop() as stop:
            if mode in OFFLINE_MODES:
                n_workers = _choose_workers(workers, input_path)
                if n_workers > 0:
                    summary.executor = f"{n_workers} worker processes"
                    _run_processes(items(stop), emit, grader, mode, n_workers, stop)
                else:
                    summary.executor = "in process"
                    for it in items(stop):
                        emit(*_grade_item(grader, it, mode))
            else:
                c = concurrency or DEFAULT_CONCURRENCY
                summary.executor = f"asyncio, {c} in flight"
                asyncio.run(_run_async(items(stop), emit, grader, mode, c, stop))
            summary.interrupted = summary.interrupted or stop.flag
    finally:
        bar.close()
        out.close()
    return summary


def _choose_workers(workers: int | None, input_path: Path) -> int:
    if workers is not None:
        return max(0, workers)
    if str(input_path) == "-":
        return usable_cpus() if usable_cpus() > 1 else 0
    size = Path(input_path).stat().st_size
    return usable_cpus() if usable_cpus() > 1 and size >= MIN_BYTES_FOR_WORKERS else 0


def _chunks(it: Iterator[Item], size: int) -> Iterator[list[Item]]:
    buf: list[Item] = []
    for x in it:
        buf.append(x)
        if len(buf) >= size:
            yield buf
            buf = []
    if buf:
        yield buf


def _warm(grader: Grader, mode: str) -> None:
    """Compile every rubric of the default bank once, before forking: the workers inherit the
    compiled rubrics instead of each compiling all of them (~0.15 s per question)."""
    try:
        bank = grader.bank()
    except GraderError:
        return
    for qid in bank.questions:
        try:
            grader.grade(qid, "warm up", mode=mode)
        except GraderError:
            pass


def _run_processes(items: Iterator[Item], emit, grader: Grader, mode: str, n: int, stop: _Stop) -> None:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context("spawn")
    if ctx.get_start_method() == "fork":
        _warm(grader, mode)
    window: deque = deque()
    with ProcessPoolExecutor(n, mp_context=ctx, initializer=_worker_init,
                             initargs=(grader.settings, grader.bank_ref, mode)) as pool:
        try:
            for chunk in _chunks(items, CHUNK):
                window.append(pool.submit(_worker_chunk, chunk))
                while len(window) >= n * WINDOW_PER_WORKER or (window and window[0].done()):
                    for line, error in window.popleft().result():
                        emit(line, error)
                if stop.flag:
                    break
        finally:
            # results come back in submission order: OUT follows INPUT. On a stop, the chunks
            # already handed out (a few, well under a second of work) are finished and written.
            while window:
                fut = window.popleft()
                for line, error in fut.result():
                    emit(line, error)


async def _run_async(items: Iterator[Item], emit, grader: Grader, mode: str, concurrency: int, stop: _Stop) -> None:
    from .judge_client import JudgeClient, JudgeConfigError
    from .pipeline import agrade_question

    settings = grader.settings
    client = JudgeClient(settings)  # raises JudgeConfigError (no model / key) before any row

    async def one(it: Item | bytes) -> tuple[bytes, bool]:
        if isinstance(it, bytes):
            return it, True
        rid, qid, bank, answer, ref, question, alternatives = it
        try:
            q, bank_name = grader.target(qid, bank, ref, question, alternatives, mode)
            res = await agrade_question(q, answer, mode, settings, bank_name, client=client)
            return result_line(rid, res), False
        except JudgeConfigError:
            raise  # 401, 404, no model: every row would fail the same way
        except Exception as exc:  # noqa: BLE001
            return exc_line(rid, exc), True

    pending: set[asyncio.Task] = set()

    async def reap(block: bool) -> None:
        nonlocal pending
        if not pending:
            return
        done, pending = await asyncio.wait(pending, timeout=0.25 if block else 0, return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            emit(*t.result())

    try:
        for it in items:
            pending.add(asyncio.ensure_future(one(it)))
            while len(pending) >= concurrency and not stop.flag:
                await reap(True)
            if stop.flag:
                break
        while pending and not stop.flag:
            await reap(True)
        await reap(False)  # whatever finished at the same moment as the stop
    finally:
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        await client.aclose()
