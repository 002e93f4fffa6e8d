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
streaming OUT afterwards: see `grader.runs.report`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import GraderError, JudgeConfigError, UsageError
from ..models import OFFLINE_MODES
from ..pipeline import Grader
from .outfile import IdSet, Out, check_paths, done_ids, error_line, exc_line, result_line
from .rows import Item, RowError, agrade_row, grade_row, item_of, read_rows

CHUNK = 64  # rows per task sent to a worker process
WINDOW_PER_WORKER = 4  # chunks in flight per worker
MIN_BYTES_FOR_WORKERS = 64 * 1024  # below this, starting processes costs more than it saves
DEFAULT_CONCURRENCY = 8  # judge calls in flight (llm / hybrid)


# ---------------------------------------------------------------- one row in a worker


def _grade_item(grader: Grader, item: Item | bytes, mode: str) -> tuple[bytes, bool]:
    """(OUT line, whether it is an error line). A bytes item is an unusable row's error line, passed
    along so that OUT keeps INPUT's order."""
    if isinstance(item, bytes):
        return item, True
    try:
        return result_line(item.id, grade_row(grader, item, mode), item.meta), False
    except Exception as exc:  # noqa: BLE001 - a bug or fault in one row must not stop the batch
        return exc_line(item.id, exc, item.meta), True


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
    repeated: int = 0  # rows whose id came earlier in this INPUT (counted in skipped too)
    repeated_ids: list = field(default_factory=list)  # the first few of them
    interrupted: bool = False
    executor: str = ""
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"rows": self.rows, "graded": self.graded, "errors": self.errors, "skipped": self.skipped,
                "repeated": self.repeated, "repeated_ids": self.repeated_ids,
                "interrupted": self.interrupted, "executor": self.executor, **self.extra}


def input_items(input_path: Path, seen: IdSet, summary: Summary, stop: "_Stop") -> Iterator[Item | bytes]:
    """The rows of INPUT still to grade, as items; an unusable row as its error line (bytes), in
    INPUT's order. Rows already in OUT (`seen`) are counted as skipped, and those whose id came
    earlier in INPUT also as repeated (named in the summary); a stop ends the stream."""
    this_input = IdSet()
    for n, row in read_rows(input_path):
        if stop.flag:
            summary.interrupted = True
            return
        summary.rows += 1
        rid = row.id if row.id is not None else f"line-{n}"
        first_here = this_input.add(rid)
        if not seen.add(rid):
            summary.skipped += 1
            if not first_here:
                summary.repeated += 1
                if len(summary.repeated_ids) < 10:
                    summary.repeated_ids.append(f"{rid} (line {n})")
            continue
        if isinstance(row, RowError):
            yield error_line(rid, row.type, row.message)
            continue
        yield item_of(rid, row)


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


class ProgressBar:
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


def emitter(out: Out, summary: Summary, bar: ProgressBar):
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
    check_paths(input_path, out_path)
    out = Out(out_path)  # locked first: a second run on the same OUT stops here
    try:
        seen = done_ids(out_path, IdSet())
    except BaseException:
        out.close()
        raise
    n_done = len(seen)
    summary = Summary()
    bar = ProgressBar(progress, lambda: count_lines(input_path), n_done)

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
    from ..llm.client import JudgeClient

    client = JudgeClient(grader.settings)  # raises JudgeConfigError (no model / key) before any row

    async def one(it: Item | bytes) -> tuple[bytes, bool]:
        if isinstance(it, bytes):
            return it, True
        try:
            return result_line(it.id, await agrade_row(grader, it, mode, client), it.meta), False
        except JudgeConfigError:
            raise  # 401, 404, no model: every row would fail the same way
        except Exception as exc:  # noqa: BLE001
            return exc_line(it.id, exc, it.meta), True

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
