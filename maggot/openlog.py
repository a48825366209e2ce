"""The record of files a Python process opens: an audit hook, and what child processes leave.

Only the standard library is imported here: a child Python process of a run
loads this module on its own (``maggot/bootstrap/sitecustomize.py``) without
importing maggot, so tracking costs it about a millisecond. The paths are
collected raw; the run's own process resolves, filters, hashes and records
them (``maggot.inputs``) when the run ends.

A child process (a ``subprocess`` running Python, a ``multiprocessing``
worker, the command of ``maggot run``) finds the directory to leave its list
in ``MAGGOT_INPUTS_DIR``: at its exit it writes one file there, named for its
process, so children never write the same file. Forked children (the default
``multiprocessing`` start method on Linux) carry on with the hook they
inherited and leave their own list too.
"""

from __future__ import annotations

import atexit
import os
import sys

# typing costs a child process several milliseconds to import: for annotations only
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# where child processes leave the paths they opened (set for them by the run)
ENV_INPUTS_DIR = "MAGGOT_INPUTS_DIR"
OPENED_SUFFIX = ".opened"
# O_WRONLY and O_RDWR: the open's flags say whether it can write
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR


def interpreter_dirs() -> list[str]:
    """Directories holding the interpreter's own files: prefixes, stdlib, site-packages."""
    import site

    directories = [
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        sys.base_exec_prefix,
        os.path.dirname(os.__file__),
    ]
    try:
        directories.extend(site.getsitepackages())
        directories.append(site.getusersitepackages())
    except AttributeError:  # an old virtualenv's site module lacks them
        pass
    return [directory for directory in directories if directory]


class Collector:
    """The paths opened while one run is active, grouped by working directory."""

    def __init__(self) -> None:
        # (working directory, paths read, paths written); relative paths are
        # joined to their directory at the end
        self.epochs: list[tuple[str | None, set[Any], set[Any]]] = []

    def opened(self) -> list[tuple[str, bool]]:
        """``(absolute path, opened for writing)`` for every path collected."""
        found = []
        for cwd, reads, writes in self.epochs:
            for paths, writing in ((reads, False), (writes, True)):
                for opened in paths:
                    if isinstance(opened, int):
                        continue  # an already open descriptor
                    try:
                        path = os.fsdecode(opened)
                    except TypeError:
                        continue  # an "open" event raised by other code, shaped differently
                    if not os.path.isabs(path):
                        if cwd is None:
                            continue  # after an fchdir we could not follow
                        path = os.path.join(cwd, path)
                    found.append((os.path.normpath(path), writing))
        return found


collectors: list[Collector] = []
# The paths opened since the last hand-over, and the directory they are relative
# to. The hook appends the path object it was given to one of two lists, through
# bound methods looked up once: no new object survives the open (keeping each
# event's argument tuple cost several percent of a loop of small reads), and an
# append costs less than a set insertion, which hashes every new path (measured:
# about 100 ns of the 500 ns a Python audit hook adds to an open). The lists are
# folded into sets, deduplicated by the raw path, every _FOLD_AT opens (a loop
# that opens the same files again and again keeps its memory flat) and at every
# hand-over: collector start and stop, and chdir.
_read_paths: list[Any] = []
_written_paths: list[Any] = []
_add_read = _read_paths.append
_add_written = _written_paths.append
_FOLD_AT = 1 << 16
_reads: set[Any] = set()
_writes: set[Any] = set()
_epoch_cwd: str | None = None
_hook_installed = False


def _fold() -> None:
    """Move the paths appended so far into the sets (each path once)."""
    for paths, target in ((_read_paths, _reads), (_written_paths, _writes)):
        # another thread's open may append meanwhile: remove only what was taken
        taken = paths[:]
        del paths[: len(taken)]
        try:
            target.update(taken)
        except TypeError:  # an unhashable path-like object: keep its path
            for item in taken:
                try:
                    target.add(item)
                except TypeError:
                    _add_path_of(target, item)


def _add_path_of(target: set[Any], item: Any) -> None:
    try:
        target.add(os.fspath(item))
    except Exception:  # noqa: BLE001 - not a path: nothing to record
        pass


def hand_over(next_cwd: str | None) -> None:
    """Give the paths collected so far to the active collectors; start afresh at ``next_cwd``."""
    global _reads, _writes, _epoch_cwd
    _fold()
    reads, writes, cwd = _reads, _writes, _epoch_cwd
    _reads, _writes, _epoch_cwd = set(), set(), next_cwd
    if reads or writes:
        for collector in collectors:
            collector.epochs.append((cwd, reads, writes))


def _audit_hook(event: str, args: tuple[Any, ...]) -> None:
    # runs for every audited operation of the process: an open costs one list append
    if event == "open":
        if collectors:
            try:
                if args[2] & _WRITE_FLAGS:
                    _add_written(args[0])
                    if len(_written_paths) > _FOLD_AT:
                        _fold()
                else:
                    _add_read(args[0])
                    if len(_read_paths) > _FOLD_AT:
                        _fold()
            except Exception:  # noqa: BLE001 - raising here would fail the user's open
                _note_odd_open(args)
    elif event == "os.chdir" and collectors:
        hand_over(_directory_after_chdir(args[0] if args else None))


def _note_odd_open(args: tuple[Any, ...]) -> None:
    """An open event with no integer flags: its path counts as read."""
    try:
        _add_read(args[0])
    except Exception:  # noqa: BLE001 - raising here would fail the user's open
        pass


def _directory_after_chdir(target: Any) -> str | None:
    """Where ``os.chdir(target)``, about to run, will lead (as getcwd() would say it)."""
    try:
        if isinstance(target, int):
            return os.readlink(f"/proc/self/fd/{target}")  # fchdir, where /proc tells it
        return os.path.realpath(os.path.join(os.getcwd(), os.fsdecode(target)))
    except (OSError, TypeError, ValueError):
        return None


def install_hook() -> None:
    """Add the audit hook once per process: audit hooks cannot be removed."""
    global _hook_installed
    if not _hook_installed:
        sys.addaudithook(_audit_hook)
        _hook_installed = True


def current_cwd() -> str | None:
    """The directory the paths collected since the last hand-over are relative to."""
    return _epoch_cwd


# --- child processes ------------------------------------------------------------

_child: Collector | None = None
_child_dir: str | None = None
_start_cwd: str | None = None


def tracking_child() -> bool:
    """Whether this process leaves the paths it opens for a run that started it."""
    return _child is not None


def start_child(directory: str) -> None:
    """Collect what this process opens and leave the list in ``directory`` at exit."""
    global _child, _child_dir, _start_cwd
    install_hook()
    if _child is not None:
        return
    _child, _child_dir = Collector(), directory
    if _start_cwd is None:  # where a relative sys.argv[0] is relative to
        _start_cwd = os.getcwd()
    hand_over(_start_cwd)  # what the interpreter opened to start is not an input
    collectors.append(_child)
    atexit.register(write_child_list)
    util = sys.modules.get("multiprocessing.util")
    if util is not None:
        # a multiprocessing worker ends with os._exit, after its finalizers; a forked
        # one clears those it inherited first, then runs its after-fork callbacks
        util.register_after_fork(_child, _finalize_in_worker)
        util.Finalize(None, write_child_list, exitpriority=0)


def _finalize_in_worker(collector: Collector) -> None:
    util = sys.modules["multiprocessing.util"]
    util.Finalize(None, write_child_list, exitpriority=0)


def write_child_list() -> None:
    """Write what this child process opened (once): ``r``/``w``, NUL, the path, NUL."""
    global _child
    collector, directory = _child, _child_dir
    if collector is None or directory is None:
        return
    _child = None
    hand_over(_epoch_cwd)
    collectors.remove(collector)
    skipped = tuple(os.path.join(path, "") for path in interpreter_dirs())
    # the program's own script is its code, not an input (and a run without inputs
    # then costs its launcher nothing at the end); __main__.__file__ is gone by now
    program = sys.argv[0] if sys.argv else ""
    script = None
    if program not in ("", "-c", "-") and _start_cwd is not None:
        script = os.path.normpath(os.path.join(_start_cwd, program))
    parts = []
    for path, writing in collector.opened():
        if not path.startswith(skipped) and path != script:
            parts.append(b"w\0" if writing else b"r\0")
            parts.append(os.fsencode(path) + b"\0")
    if not parts:
        return
    name = f"{os.getpid()}-{os.urandom(4).hex()}"
    temporary = os.path.join(directory, f".tmp-{name}")
    try:
        with open(temporary, "wb") as file:
            file.write(b"".join(parts))
        os.replace(temporary, os.path.join(directory, name + OPENED_SUFFIX))
    except OSError:
        pass  # the run directory is gone: nothing to add to


def read_child_lists(directory: str) -> list[tuple[str, bool]]:
    """``(absolute path, opened for writing)`` from every list children left in ``directory``."""
    found: list[tuple[str, bool]] = []
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return found
    for name in names:
        if not name.endswith(OPENED_SUFFIX):
            continue
        try:
            with open(os.path.join(directory, name), "rb") as file:
                fields = file.read().split(b"\0")
        except OSError:
            continue
        for kind, path in zip(fields[0::2], fields[1::2]):
            if kind in (b"r", b"w") and path:
                found.append((os.fsdecode(path), kind == b"w"))
    return found


def _after_fork_in_child() -> None:
    """A forked child keeps collecting, for itself: the parent records its own paths."""
    global _child
    if not collectors:
        return
    directory = _child_dir if _child is not None else os.environ.get(ENV_INPUTS_DIR)
    del collectors[:]
    _child = None
    del _read_paths[:]
    del _written_paths[:]
    _reads.clear()
    _writes.clear()
    if directory:
        start_child(directory)


os.register_at_fork(after_in_child=_after_fork_in_child)
