"""Independent jobs over a long list, shared with a forked helper process.

Listing 100,000 runs stats each run's ``.maggot`` (a few microseconds each,
mostly in the kernel) and, the first time, reads and parses two JSON files
per run. Threads do not help in CPython: a stat gives up the GIL and takes
it back, and with two threads the hand-overs cost what the parallel kernel
work saves (measured); JSON parsing holds the GIL. A forked process works
truly in parallel: it takes jobs from the end of the list while this process
does other work (reading the listing index) and then takes jobs from the
start, until the two meet. Progress goes through a shared anonymous mapping;
the helper's results come back as ``marshal`` data in a file it writes when
it stops. Waiting for the helper to exit is the only synchronisation the
results need: a job near the meeting point may be done by both, and then
either result is a true one.

A helper is used on Linux only (forking is fragile where system libraries
keep threads, as on macOS), for long lists, with a second CPU available.
Anything going wrong with it (no fork, the helper failing or dying) only
means this process does the rest of the jobs itself.
"""

from __future__ import annotations

import contextlib
import marshal
import mmap
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import IO, Generic, TypeVar

Result = TypeVar("Result")

# below this many jobs, forking costs more than the jobs it takes over
PARALLEL_THRESHOLD = 10_000

# the shared progress: the helper has done jobs [LOW, count), this process has taken [0, HIGH)
_LOW, _HIGH = 0, 1


def shared_map(
    job: Callable[[int], Result],
    count: int,
    *,
    meanwhile: Callable[[], object] | None = None,
) -> list[Result]:
    """``[job(0), ..., job(count - 1)]``, a forked helper process taking some of them.

    ``job`` must leave nothing this process relies on besides its result, and
    its results must be ``marshal``-able (the helper's come back that way).
    ``meanwhile`` is called once, while the helper (when one is used) already
    works: work to overlap with the jobs.
    """
    with start(job, count) as shared:
        if meanwhile is not None:
            meanwhile()
        return shared.finish()


def start(job: Callable[[int], Result], count: int) -> Shared[Result]:
    """The jobs of ``shared_map``, started: a forked helper (when one is used) works on them
    until ``finish`` is called, which does the rest here. Use it as a context manager: leaving
    it unfinished stops the helper."""
    return Shared(job, count)


class Shared(Generic[Result]):
    """Jobs under way in a forked helper process, taken over by this one on ``finish``."""

    def __init__(self, job: Callable[[int], Result], count: int) -> None:
        self._job, self._count = job, count
        self._helper = -1
        self._mapping: mmap.mmap | None = None
        self._results: IO[bytes] | None = None
        if not _worth_a_helper(count):
            return
        self._mapping = mmap.mmap(-1, 16)
        self._progress = memoryview(self._mapping).cast("q")
        self._progress[_LOW], self._progress[_HIGH] = count, 0
        self._results = _results_file()
        try:
            self._helper = os.fork()
        except OSError:
            self._helper = -1
        if self._helper == 0:
            _helper(job, count, self._progress, self._results.fileno())  # never returns

    def finish(self) -> list[Result]:
        """Every job's result, in order: those the helper did not do are done here."""
        job, count = self._job, self._count
        if self._mapping is None:
            return [job(index) for index in range(count)]
        progress = self._progress
        theirs: list[Result] | None = None
        try:
            mine = _take_from_start(job, progress)
        finally:
            theirs = self._stop()
        low = progress[_LOW]
        if theirs is None or len(theirs) != count - low:
            theirs, low = [], count  # no help after all
        if len(mine) < low:  # the helper stopped early: do what it left
            mine += [job(index) for index in range(len(mine), low)]
        theirs.reverse()  # it worked from the end
        self.close()
        return mine[:low] + theirs

    def _stop(self) -> list[Result] | None:
        """The helper told to stop and waited for; its results, when it exited cleanly."""
        helper, self._helper = self._helper, -1
        if helper <= 0 or self._results is None:
            return None
        self._progress[_HIGH] = self._count
        return _read_results(self._results.fileno()) if _wait(helper) else None

    def close(self) -> None:
        """Stop the helper (if still working) and free what the jobs shared."""
        self._stop()
        if self._results is not None:
            self._results.close()
            self._results = None
        if self._mapping is not None:
            self._progress.release()
            self._mapping.close()
            self._mapping = None

    def __enter__(self) -> Shared[Result]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _worth_a_helper(count: int) -> bool:
    if count < PARALLEL_THRESHOLD or not sys.platform.startswith("linux"):
        return False
    # a fork copies only the calling thread: a lock another thread holds stays held forever
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        return False
    try:
        return len(os.sched_getaffinity(0)) > 1
    except (AttributeError, OSError):
        return False


def _wait(helper: int) -> bool:
    """Whether the helper, told to stop, exited cleanly; one that does not is killed.

    It stops after the job in hand and writes its results, well under a
    second; the limit only keeps a helper stuck for any reason from hanging
    the listing.
    """
    deadline = time.monotonic() + HELPER_STOP_SECONDS
    while True:
        finished, status = os.waitpid(helper, os.WNOHANG)
        if finished:
            return status == 0
        if time.monotonic() > deadline:
            os.kill(helper, signal.SIGKILL)
            os.waitpid(helper, 0)
            return False
        time.sleep(0.0005)


# how long a helper told to stop may take to write its results and exit
HELPER_STOP_SECONDS = 30.0


def _results_file() -> IO[bytes]:
    # a file without a name that both processes share by descriptor: in memory where the
    # system has such files (importing tempfile is a measurable part of a listing's start)
    if hasattr(os, "memfd_create"):
        with contextlib.suppress(OSError):
            return os.fdopen(os.memfd_create("maggot-shared", os.MFD_CLOEXEC), "w+b")
    import tempfile

    return tempfile.TemporaryFile(prefix="maggot-shared-")


def _take_from_start(job: Callable[[int], Result], progress: memoryview) -> list[Result]:
    """Jobs from the start, each announced before it is done, until the helper's are reached."""
    done: list[Result] = []
    append = done.append
    index = 0
    while index < progress[_LOW]:
        progress[_HIGH] = index + 1
        append(job(index))
        index += 1
    return done


def _helper(job: Callable[[int], Result], count: int, progress: memoryview, results: int) -> None:
    """The forked helper: jobs from the end until this process's are reached."""
    status = 1
    try:
        done: list[Result] = []
        append = done.append
        index = count - 1
        while index >= progress[_HIGH]:
            append(job(index))
            progress[_LOW] = index
            index -= 1
        with os.fdopen(os.dup(results), "wb") as file:
            marshal.dump(done, file)
        status = 0
    finally:
        # no clean-up of the parent's state (atexit handlers, buffered output) in a fork
        os._exit(status)


def _read_results(descriptor: int) -> list[Result] | None:
    try:
        with os.fdopen(os.dup(descriptor), "rb") as file:
            file.seek(0)
            # one read: marshal.load reads a file object a few bytes per value
            loaded = marshal.loads(file.read())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    return loaded if type(loaded) is list else None
