"""A time budget per grade: the CPU time the grading thread may spend on one answer.

A hostile answer within the size limits ("mha;" x 5,000) costs the lexical matcher hundreds of
times a normal answer. Rather than thread checks through every loop of the matchers, a watchdog
thread reads each budgeted thread's own CPU clock (`pthread_getcpuclockid`, so waiting for the
GIL or for a busy machine is not counted) and, past the deadline, raises `OverBudget` in that
thread (`PyThreadState_SetAsyncExc`), which the pipeline turns into an `unscored` grade with the
`over_time_budget` flag. The budgeted region is pure computation (preparing the answer and the
lexical matchers; no lock, no file, no I/O), so an exception at any bytecode boundary inside it
leaves nothing half-done; the pipeline compiles the rubric before entering it.

Where a thread's CPU clock cannot be read, wall time is used.
"""

from __future__ import annotations

import ctypes
import gc
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

TICK = 0.002  # seconds between the watchdog's looks, while some thread is budgeted
REFIRE = 0.01  # CPU seconds after which an OverBudget that did not stop its block is raised again


class OverBudget(Exception):
    """Raised inside a budgeted thread when its time is up."""


# A C lock (no Python frame in acquire or release): an exception raised asynchronously in a
# budgeted thread cannot leave it held. The watchdog fires only under it, and a block's cleanup
# clears what is pending under it, so nothing fires after the block.
_lock = threading.Lock()
_wake = threading.Event()
_active: dict[int, list] = {}  # thread id -> [clock id or None, deadline (None: thread gone), fired]
_watchdog: threading.Thread | None = None


def _after_fork_in_child() -> None:
    """A forked process (`grader batch`'s workers) has no watchdog thread, and a lock the parent's
    watchdog held at the fork would be held for ever: begin afresh (the first budget in the child
    hung on `_lock` once in a few batch runs)."""
    global _lock, _wake, _watchdog
    _lock, _wake, _watchdog = threading.Lock(), threading.Event(), None
    _active.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _clock_of(tid: int) -> int | None:
    try:
        return time.pthread_getcpuclockid(tid)
    except (AttributeError, OSError):
        return None


def _now(clock: int | None) -> float:
    return time.clock_gettime(clock) if clock is not None else time.monotonic()


def _raise_in(tid: int, exc: type[BaseException] | None) -> None:
    """Set (or, with None, clear) the exception pending in thread `tid`."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(tid), ctypes.py_object(exc) if exc else None)


def _watch() -> None:
    while True:
        _wake.wait()
        with _lock:
            waiting = False
            for tid, entry in _active.items():
                if entry[1] is None:
                    continue
                try:
                    now = _now(entry[0])
                except OSError:  # the thread is gone
                    entry[1] = None
                    continue
                waiting = True
                if now > entry[1]:
                    # again a little later if the block is still running: an exception delivered
                    # inside a finaliser (a weakref callback) is swallowed there
                    entry[1], entry[2] = now + REFIRE, True
                    _raise_in(tid, OverBudget)
            if not waiting:
                _wake.clear()
        time.sleep(TICK)


def _gc_pause(phase: str, info: dict, _started: dict[int, float] = {}) -> None:  # noqa: B006 (one per process)
    """A garbage collection is the process's work, not the answer's: it runs in whichever thread
    allocates when the heap is due (a full collection of a large heap takes tens of milliseconds,
    which had made legitimate answers `over_time_budget`), so a budgeted thread's deadline moves by
    its length. No lock: the collector holds the GIL from start to stop, so the watchdog cannot look
    in between, and taking `_lock` here could deadlock a thread that allocates while holding it."""
    entry = _active.get(threading.get_ident())
    if entry is None or entry[1] is None:
        return
    if phase == "start":
        _started[threading.get_ident()] = _now(entry[0])
        return
    began = _started.pop(threading.get_ident(), None)
    if began is not None:
        entry[1] += _now(entry[0]) - began


gc.callbacks.append(_gc_pause)


def _quiet_hook(previous):
    def hook(unraisable):
        if unraisable.exc_type is not None and issubclass(unraisable.exc_type, OverBudget):
            return  # delivered inside a finaliser, which swallows it: raised again in the block
        previous(unraisable)

    hook.grader_budget = True
    return hook


@contextmanager
def time_budget(seconds: float | None) -> Iterator[None]:
    """Run the block with at most `seconds` of this thread's CPU time (None or 0: no limit);
    past it, `OverBudget` is raised in the block. Catch it around the `with`, not inside."""
    global _watchdog
    if not seconds:
        yield
        return
    if not getattr(sys.unraisablehook, "grader_budget", False):
        sys.unraisablehook = _quiet_hook(sys.unraisablehook)  # no "Exception ignored in ..." on stderr
    tid = threading.get_ident()
    clock = _clock_of(tid)
    with _lock:
        _active[tid] = [clock, _now(clock) + seconds, False]
    if _watchdog is None or not _watchdog.is_alive():
        with _lock:
            if _watchdog is None or not _watchdog.is_alive():
                _watchdog = threading.Thread(target=_watch, name="grader-budget", daemon=True)
                _watchdog.start()
    _wake.set()
    try:
        yield
    finally:
        while True:
            try:
                with _lock:
                    entry = _active.pop(tid, None)
                    if entry is not None and entry[2]:
                        _raise_in(tid, None)  # fired as the block ended: not delivered later, elsewhere
                break
            except OverBudget:  # delivered during this cleanup: the lock is released, look again
                continue
