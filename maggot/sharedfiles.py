"""Run files that every job of a sweep records with the same bytes: written once, then linked.

The jobs of a sweep share their environment, installed packages and code
state, so their ``environ``, ``packages.txt``, ``commit_hash`` and
``git/head.json`` hold the same bytes. Creating a file costs far more than
linking one on some file systems (a new inode and its journal entries: a
large part of a small job's recording), so the first job writes each file
and the next ones hard-link it. Run files are never changed in place (every
writer replaces the file, see ``store.write_bytes_atomic``), so linked copies
cannot drift apart; a sweep's snapshot files are linked the same way.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import NamedTuple

from maggot import store


class _Written(NamedTuple):
    data: bytes
    path: str
    # the file as it was written: a link is made only while it is still that file
    identity: tuple[int, int, int, int]


class SharedFiles:
    """The files written so far for one sweep's jobs, by their name in the run directory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._written: dict[str, _Written] = {}

    def write(self, path: str, data: bytes) -> None:
        """Put ``data`` at ``path`` atomically: a hard link to an earlier job's identical file
        when there is one, else a new file (linked to by the next jobs)."""
        name = os.path.basename(path)
        with self._lock:
            known = self._written.get(name)
        if known is not None and known.data == data and _link(known, path):
            return
        store.write_bytes_atomic(path, data)
        try:
            identity = _identity(os.stat(path))
        except OSError:
            return
        with self._lock:
            self._written[name] = _Written(data, os.path.abspath(path), identity)


def _identity(info: os.stat_result) -> tuple[int, int, int, int]:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


def _link(known: _Written, path: str) -> bool:
    """Link ``known`` into place at ``path`` (atomically); False when it cannot be linked."""
    temp_path = store.temporary_path(path)
    try:
        if _identity(os.stat(known.path)) != known.identity:
            return False  # removed or replaced since: write this one afresh
        os.link(known.path, temp_path)
        os.replace(temp_path, path)
    except OSError:  # another file system, links not supported, the run removed ...
        with contextlib.suppress(OSError):
            os.unlink(temp_path)
        return False
    return True


_by_sweep: dict[str, SharedFiles] = {}
_by_sweep_lock = threading.Lock()


def for_sweep(sweep_id: str) -> SharedFiles:
    """The shared files of sweep ``sweep_id``'s jobs run by this process."""
    with _by_sweep_lock:
        return _by_sweep.setdefault(sweep_id, SharedFiles())
