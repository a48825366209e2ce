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
from typing import IO, TypeVar

Result = TypeVar("Result")

# below this many jobs, forking costs more than the jobs it takes over
PARALLEL_THRESHOLD = 10_000

# the shared progress: the helper has done jobs [LOW, count), this process has taken [0, HIGH)
_LOW, _HIGH = 0, 1


def shared_map(
    job: Callable[[int], Result],
    count: int,
    *,
    meanwhile: Callable[[], None] | None = None,
) -> list[Result]:
    """``[job(0), ..., job(count - 1)]``, a forked helper process taking some of them.

    ``job`` must leave nothing this process relies on besides its result, and
    its results must be ``marshal``-able (the helper's come back that way).
    ``meanwhile`` is called once, while the helper (when one is used) already
    works: work to overlap with the jobs.
    """
    if not _worth_a_helper(count):
        if meanwhile is not None:
            meanwhile()
        return [job(index) for index in range(count)]
    mapping = mmap.mmap(-1, 16)
    progress = memoryview(mapping).cast("q")
    try:
        progress[_LOW], progress[_HIGH] = count, 0
        with _results_file() as results:
            try:
                helper = os.fork()
            except OSError:
                helper = -1
            if helper == 0:
                _helper(job, count, progress, results.fileno())  # never returns
            theirs: list[Result] | None = None
            try:
                if meanwhile is not None:
                    meanwhile()
                mine = _take_from_start(job, progress)
            finally:
                if helper > 0:
                    progress[_HIGH] = count  # stop it, if this process is being interrupted
                    if _wait(helper):
                        theirs = _read_results(results.fileno())
            low = progress[_LOW]
            if theirs is None or len(theirs) != count - low:
                theirs, low = [], count  # no help after all
            if len(mine) < low:  # the helper stopped early: do what it left
                mine += [job(index) for index in range(len(mine), low)]
            theirs.reverse()  # it worked from the end
            return mine[:low] + theirs
    finally:
        progress.release()
        mapping.close()


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
