"""`grader batch --engine ray`: the same batch on a Ray cluster (the extra `grader[ray]`).

    INPUT (JSONL, CSV or Parquet; a path, a directory or any URI Ray reads)
      --read tasks (`RowsSource`: one file per task, the local engine's parsers)--> numbered records
      --map_batches(GradeBatch), a pool of actors, one per CPU of the cluster by default:
            each actor loads and compiles the rubrics once (`_warm`), skips the ids already in OUT,
            validates the records (`rows.parse_rows`) and grades them with `rows.grade_row`
            (offline) or `rows.agrade_row` on its own event loop, one JudgeClient per actor and
            `--concurrency` calls in flight per actor (llm / hybrid)
      --iter_batches on the driver--> repeats dropped, OUT: the local engine's lines, one write each

OUT is written by the driver through `outfile.Out`, so it is the local engine's file: the same
lines, resume by id (`done_ids`), the same summary and report. The ids already in OUT travel to the
actors as a sorted array of 64-bit hashes (blake2b: stable across processes and machines, unlike
`hash`), shared read-only through the object store.

A failed row is an error line (`batch._grade_item`); a worker that dies is replaced and its batches
run again by Ray Data (actor restarts and task retries); a driver that dies leaves OUT with whole
lines only, and the next run resumes. Ray is imported by this module alone (and `grader.ray`), that
is only by `--engine ray`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import pickle
from collections.abc import Iterator
from pathlib import Path

from ..errors import JudgeConfigError, UsageError
from ..models import OFFLINE_MODES
from ..pipeline import Grader
from .batch import ProgressBar, Summary, _grade_item, _Stop, _warm, count_lines, emitter
from .outfile import IdSet, Out, done_ids, error_line, exc_line, result_line
from .rows import RowError, _csv_rows, _jsonl_rows, agrade_row, item_of, parse_rows

try:
    import numpy as np
    import pyarrow as pa
    import ray
    import ray.data
    from ray.data.datasource import FileBasedDatasource
except ImportError as exc:  # pragma: no cover - the base install
    raise UsageError(f'--engine ray needs the extra: pip install "grader[ray]" ({exc})') from None

OFFLINE_BATCH = 128  # rows per actor call, offline (~0.3 s of work: Ray's per-call cost stays small)
LLM_BATCH_PER_CALL = 4  # rows per actor call per judge call in flight (llm / hybrid)
DEFAULT_CONCURRENCY = 8  # judge calls in flight per actor

BLOCK_ROWS = OFFLINE_BATCH  # rows per block read: an actor takes a whole block, so small ones spread the work

GRADED, ERROR, SKIPPED = 0, 1, 2

_FORMATS = {"jsonl": "jsonl", "json": "jsonl", "ndjson": "jsonl", "csv": "csv", "parquet": "parquet", "pq": "parquet"}
_COMPRESSED = ("gz", "bz2", "zst", "lz4", "br")


def file_format(path: str) -> str | None:
    """jsonl, csv or parquet from a file name (a compression suffix looked through), else None."""
    parts = path.rsplit("/", 1)[-1].lower().split(".")
    if len(parts) > 2 and parts[-1] in _COMPRESSED:
        parts.pop()
    return _FORMATS.get(parts[-1]) if len(parts) > 1 else None


# ---------------------------------------------------------------- INPUT


class RowsSource(FileBasedDatasource):
    """Files of rows as blocks of one column, `row`: a pickled (line number, record or RowError),
    read by the local engine's parsers (JSONL, CSV) or pyarrow (Parquet: numbered by row)."""

    _FILE_EXTENSIONS = sorted(_FORMATS) + [f"{e}.{c}" for e in _FORMATS for c in _COMPRESSED]

    def __init__(self, paths, default_format: str = "jsonl", **kwargs):
        super().__init__(paths, **kwargs)
        self.default_format = default_format

    def _format(self, path: str) -> str:
        return file_format(path) or self.default_format

    def _open_input_source(self, filesystem, path: str, **open_args):
        if self._format(path) == "parquet":
            return filesystem.open_input_file(path)  # random access: the footer first
        return super()._open_input_source(filesystem, path, **open_args)

    def _read_stream(self, f, path: str) -> Iterator:
        fmt = self._format(path)
        if fmt == "parquet":
            import pyarrow.parquet as pq

            def records():
                n = 0
                for rb in pq.ParquetFile(f).iter_batches(batch_size=1024):
                    for rec in rb.to_pylist():
                        n += 1
                        yield n, {k: v for k, v in rec.items() if v is not None}
            source = records()
        else:
            import io

            text = io.TextIOWrapper(f, encoding="utf-8-sig", newline="")
            source = _csv_rows(text) if fmt == "csv" else _jsonl_rows(text)
        buf: list[bytes] = []
        try:
            for n_rec in source:
                buf.append(pickle.dumps(n_rec, protocol=pickle.HIGHEST_PROTOCOL))
                if len(buf) >= BLOCK_ROWS:
                    yield pa.table({"row": pa.array(buf, pa.binary())})
                    buf = []
        except UnicodeDecodeError:
            raise UsageError(f"{path} is not UTF-8 text; save it as UTF-8") from None
        if buf:
            yield pa.table({"row": pa.array(buf, pa.binary())})


# ---------------------------------------------------------------- ids already in OUT


def stable_hash(rid: str) -> int:
    return int.from_bytes(hashlib.blake2b(rid.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


class _Done:
    """The ids already in OUT (`done_ids(out, into=...)`): an IdSet for the driver, and stable
    64-bit hashes for the actors."""

    def __init__(self):
        self.ids = IdSet()
        self.values: list[int] = []

    def add(self, rid: str) -> bool:
        self.values.append(stable_hash(rid))
        return self.ids.add(rid)

    def array(self) -> np.ndarray:
        return np.unique(np.array(self.values, dtype=np.uint64))


# ---------------------------------------------------------------- the actor


class GradeBatch:
    """The callable class of `map_batches`: one per actor, the rubrics loaded and compiled once.

    Input batches have a `row` column (from `RowsSource`) or the columns of a Row (a user's own
    dataset, `grader.ray.grade`). Output: `id`, `line` (the OUT line, bytes) and `kind` (graded,
    error, or skipped: already in OUT), or with `columns=True`: `id`, `score`, `normalized`,
    `result` and `error` (JSON text)."""

    def __init__(self, settings, bank: str | None, mode: str, done=None, concurrency: int = DEFAULT_CONCURRENCY,
                 columns: bool = False):
        self.grader = Grader(settings, bank=bank)
        self.mode = mode
        self.done = done if done is not None and len(done) else None
        self.concurrency = concurrency
        self.columns = columns
        self.loop = None
        self.client = None
        if mode in OFFLINE_MODES:
            _warm(self.grader, mode)

    def _items(self, batch: pa.Table) -> Iterator[tuple[str | None, object]]:
        """(id, Item or the OUT line of an unusable row); ids already in OUT as (id, None)."""
        if "row" in batch.column_names:
            numbered = (pickle.loads(b) for b in batch.column("row").to_pylist())
        else:
            numbered = (("?", {k: v for k, v in rec.items() if v is not None}) for rec in batch.to_pylist())
        for n, row in parse_rows(numbered):
            rid = row.id if row.id is not None else (f"line-{n}" if n != "?" else None)
            if self.done is not None and rid is not None and self._is_done(rid):
                yield rid, None
            elif isinstance(row, RowError):
                yield rid, error_line(rid, row.type, row.message)
            else:
                yield rid, item_of(rid, row)

    def _is_done(self, rid: str) -> bool:
        h = np.uint64(stable_hash(rid))
        i = int(np.searchsorted(self.done, h))
        return i < len(self.done) and self.done[i] == h

    def __call__(self, batch: pa.Table) -> pa.Table:
        todo = list(self._items(batch))
        work = [it for _, it in todo if it is not None]
        if self.mode in OFFLINE_MODES:
            graded = [_grade_item(self.grader, it, self.mode) for it in work]
        else:
            if self.loop is None:
                self.loop = asyncio.new_event_loop()
            graded = self.loop.run_until_complete(self._agrade(work))
        out = iter(graded)
        ids, lines, kinds = [], [], []
        for rid, it in todo:
            ids.append(rid)
            if it is None:
                lines.append(b"")
                kinds.append(SKIPPED)
            else:
                line, error = next(out)
                lines.append(line)
                kinds.append(ERROR if error else GRADED)
        if self.columns:
            return _as_columns(ids, lines, kinds)
        return pa.table({"id": pa.array(ids, pa.string()), "line": pa.array(lines, pa.binary()),
                         "kind": pa.array(kinds, pa.int8())})

    async def _agrade(self, work: list) -> list[tuple[bytes, bool]]:
        if self.client is None:
            from ..llm.client import JudgeClient

            self.client = JudgeClient(self.grader.settings)
        gate = asyncio.Semaphore(self.concurrency)

        async def one(it) -> tuple[bytes, bool]:
            if isinstance(it, bytes):
                return it, True
            async with gate:
                try:
                    return result_line(it.id, await agrade_row(self.grader, it, self.mode, self.client)), False
                except JudgeConfigError:
                    raise  # 401, 404, no model: every row would fail the same way
                except Exception as exc:  # noqa: BLE001 - a fault in one row must not stop the batch
                    return exc_line(it.id, exc), True

        return list(await asyncio.gather(*(one(it) for it in work)))


def _as_columns(ids: list, lines: list[bytes], kinds: list[int]) -> pa.Table:
    import json

    score, norm, result, error = [], [], [], []
    for line, kind in zip(lines, kinds):
        obj = json.loads(line) if line else {}
        res = obj.get("result")
        score.append(res["score"] if res else None)
        norm.append(res["normalized"] if res else None)
        result.append(json.dumps(res, ensure_ascii=False) if res else None)
        error.append(json.dumps(obj["error"], ensure_ascii=False) if "error" in obj else None)
    return pa.table({"id": pa.array(ids, pa.string()), "score": pa.array(score, pa.float64()),
                     "normalized": pa.array(norm, pa.float64()), "result": pa.array(result, pa.string()),
                     "error": pa.array(error, pa.string())})


# ---------------------------------------------------------------- the cluster


def connect(address: str | None) -> None:
    """Join the cluster at `address` (None: $RAY_ADDRESS, else a new local cluster); quiet logs."""
    if not ray.is_initialized():
        kwargs = {} if address else {"include_dashboard": False}
        if not address and not os.environ.get("RAY_ADDRESS"):
            # a local cluster for this batch: its workers at the local engine's priority (Ray's 15
            # lets any other work on the machine take their cores)
            os.environ.setdefault("RAY_worker_niceness", "0")
        try:
            ray.init(address=address, logging_level=logging.WARNING, **kwargs)
        except ConnectionError as exc:
            raise UsageError(f"cannot reach the Ray cluster at {address}: {exc}; pass --address HOST:PORT of a running head node, or none for a local cluster") from None
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    ray.data.DataContext.get_current().enable_progress_bars = False


def cluster_cpus() -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def grade_dataset(ds, grader: Grader, mode: str, *, done=None, concurrency: int | None = None,
                  workers: int | None = None, columns: bool = False):
    """`ds` (rows, or `RowsSource` blocks) mapped through a pool of `GradeBatch` actors."""
    c = concurrency or DEFAULT_CONCURRENCY
    n = workers or cluster_cpus()
    batch = OFFLINE_BATCH if mode in OFFLINE_MODES else max(1, LLM_BATCH_PER_CALL * c)
    return ds.map_batches(
        GradeBatch, batch_format="pyarrow", batch_size=batch, zero_copy_batch=True,
        fn_constructor_kwargs={"settings": grader.settings, "bank": grader.bank_ref, "mode": mode,
                               "done": done, "concurrency": c, "columns": columns},
        compute=ray.data.ActorPoolStrategy(size=n), num_cpus=1,
    )


def read_input(input_path: str):
    fmt = file_format(input_path)
    kwargs = {} if fmt else {"file_extensions": None}
    try:
        return ray.data.read_datasource(RowsSource(input_path, default_format=fmt or "jsonl", **kwargs), num_cpus=0)
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise UsageError(f"cannot read input {input_path}: {exc}; pass a JSONL, CSV or Parquet file, a directory of them, or a URI Ray reads") from None


def run_ray_batch(input_path: str, out_path: Path, grader: Grader, mode: str | None = None,
                  concurrency: int | None = None, workers: int | None = None, address: str | None = None,
                  progress: bool | None = None) -> Summary:
    """`run_batch` on Ray: INPUT into OUT (appending; ids already there are skipped)."""
    mode = mode or grader.settings.mode
    grader.settings.check_mode(mode)
    if mode not in OFFLINE_MODES:
        from ..llm.client import check_config

        check_config(grader.settings)  # no model or key: a usage error before any row
    if "://" in str(out_path) or file_format(str(out_path)) in ("csv", "parquet"):
        raise UsageError(f"OUT {out_path}: the Ray engine writes OUT as a local JSONL file; pass a path ending in .jsonl")
    connect(address)
    done = done_ids(out_path, _Done())
    seen = done.ids
    summary = Summary()
    ds = grade_dataset(read_input(str(input_path)), grader, mode, done=done.array(),
                       concurrency=concurrency, workers=workers)
    n = workers or cluster_cpus()
    summary.executor = f"ray, {n} workers" + ("" if mode in OFFLINE_MODES else f", {concurrency or DEFAULT_CONCURRENCY} in flight each")
    local_input = "://" not in str(input_path) and Path(input_path).is_file()
    bar = ProgressBar(progress, lambda: count_lines(Path(input_path)) if local_input else None, len(seen))
    out = Out(out_path)
    emit = emitter(out, summary, bar)
    try:
        with _Stop() as stop:
            for b in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
                for rid, line, kind in zip(b.column("id").to_pylist(), b.column("line").to_pylist(),
                                           b.column("kind").to_pylist()):
                    summary.rows += 1
                    if kind == SKIPPED or not seen.add(rid):  # already in OUT, or repeated in INPUT
                        summary.skipped += 1
                    else:
                        emit(line, kind == ERROR)
                if stop.flag:
                    summary.interrupted = True
                    break
    except ray.exceptions.RayError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, (UsageError, JudgeConfigError)):
            raise cause from None
        raise
    finally:
        bar.close()
        out.close()
    return summary
