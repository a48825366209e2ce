"""The identity of many directories at once, with a forked helper sharing the stats.

Listing 100,000 runs stats each run's ``.maggot``: a few microseconds each,
mostly in the kernel, so a third of a second in all. Threads do not help in
CPython: every ``os.stat`` gives up the GIL and takes it back, and with two
threads the hand-overs cost what the parallel kernel work saves (measured).
A forked process works truly in parallel: it takes paths from the end of the
list while this process does other work (reading the listing index) and then
takes paths from the start, until the two meet. Results and progress go
through a shared anonymous mapping, and waiting for the helper to exit is
the only synchronisation the results need: every path is stat-ed by exactly
one of the two, or by both near the meeting point, and then either answer is
a true one.

A helper is used on Linux only (forking is fragile where system libraries
keep threads, as on macOS), for long lists, with a second CPU available.
Anything going wrong with it (no fork, the helper dying) only means this
process stats the rest itself.
"""

from __future__ import annotations

import mmap
import os
import sys
from collections.abc import Callable, Sequence

# below this many paths, forking costs more than the stats it takes over
PARALLEL_THRESHOLD = 10_000

# the shared mapping: two progress counters, then a modification time and an inode per path
_LOW, _HIGH = 0, 1
_COUNTERS = 2


def identity(status: os.stat_result) -> int:
    """A directory's modification time and inode as one number (one object per run)."""
    return status.st_mtime_ns << 64 | status.st_ino


def identities(
    descriptor: int,
    paths: Sequence[str],
    suffix: str = "",
    *,
    meanwhile: Callable[[], None] | None = None,
) -> list[int | None]:
    """The identity of each path + ``suffix`` (relative to the open ``descriptor``), or None.

    ``meanwhile`` is called once, while a helper process (when one is used)
    already stats: work to overlap with the stats.
    """
    if not _worth_a_helper(len(paths)):
        if meanwhile is not None:
            meanwhile()
        return _stat_range(descriptor, paths, suffix, 0, len(paths))
    return _shared_stats(descriptor, paths, suffix, meanwhile)


def _worth_a_helper(count: int) -> bool:
    if count < PARALLEL_THRESHOLD or not sys.platform.startswith("linux"):
        return False
    try:
        return len(os.sched_getaffinity(0)) > 1
    except (AttributeError, OSError):
        return False


def _stat_range(
    descriptor: int, paths: Sequence[str], suffix: str, start: int, end: int
) -> list[int | None]:
    stat = os.stat
    found: list[int | None] = []
    append = found.append
    for index in range(start, end):
        try:
            status = stat(paths[index] + suffix, dir_fd=descriptor)
        except OSError:
            append(None)
        else:
            append(status.st_mtime_ns << 64 | status.st_ino)
    return found


def _shared_stats(
    descriptor: int, paths: Sequence[str], suffix: str, meanwhile: Callable[[], None] | None
) -> list[int | None]:
    count = len(paths)
    mapping = mmap.mmap(-1, 8 * (_COUNTERS + 2 * count))
    view = memoryview(mapping)
    progress = view[: 8 * _COUNTERS].cast("q")
    mtimes = view[8 * _COUNTERS : 8 * (_COUNTERS + count)].cast("q")
    inodes = view[8 * (_COUNTERS + count) :].cast("Q")
    try:
        progress[_LOW] = count
        progress[_HIGH] = 0
        try:
            helper = os.fork()
        except OSError:
            helper = -1
        if helper == 0:
            _helper(descriptor, paths, suffix, progress, mtimes, inodes)  # never returns
        try:
            if meanwhile is not None:
                meanwhile()
            mine = _take_from_start(descriptor, paths, suffix, progress)
        finally:
            if helper > 0:
                progress[_HIGH] = count  # stop it, if this process is being interrupted
                os.waitpid(helper, 0)
        low = progress[_LOW]
        if len(mine) < low:  # the helper stopped early: take what it left
            mine += _stat_range(descriptor, paths, suffix, len(mine), low)
        theirs = [
            None if inode == 0 else mtime << 64 | inode
            for mtime, inode in zip(mtimes[low:], inodes[low:])
        ]
        return mine[:low] + theirs
    finally:
        progress.release()
        mtimes.release()
        inodes.release()
        view.release()
        mapping.close()


def _take_from_start(
    descriptor: int, paths: Sequence[str], suffix: str, progress: memoryview
) -> list[int | None]:
    """Stat paths from the start, announcing each before it, until the helper's are reached."""
    stat = os.stat
    found: list[int | None] = []
    append = found.append
    index = 0
    while index < progress[_LOW]:
        progress[_HIGH] = index + 1
        try:
            status = stat(paths[index] + suffix, dir_fd=descriptor)
        except OSError:
            append(None)
        else:
            append(status.st_mtime_ns << 64 | status.st_ino)
        index += 1
    return found


def _helper(
    descriptor: int,
    paths: Sequence[str],
    suffix: str,
    progress: memoryview,
    mtimes: memoryview,
    inodes: memoryview,
) -> None:
    """The forked helper: stat paths from the end until this process's are reached."""
    status_code = 1
    try:
        stat = os.stat
        index = len(paths) - 1
        while index >= progress[_HIGH]:
            try:
                status = stat(paths[index] + suffix, dir_fd=descriptor)
            except OSError:
                mtimes[index], inodes[index] = 0, 0
            else:
                mtimes[index], inodes[index] = status.st_mtime_ns, status.st_ino
            progress[_LOW] = index
            index -= 1
        status_code = 0
    finally:
        # no clean-up of the parent's state (atexit handlers, buffered output) in a fork
        os._exit(status_code)
