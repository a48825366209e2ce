"""The run-directory format: file names, atomic writes, and reading runs back as records."""

from __future__ import annotations

import contextlib
import errno
import itertools
import json
import operator
import os
import stat
import threading
from collections.abc import Callable, Container, Iterator, Mapping
from typing import IO, Any, NamedTuple

from maggot.errors import CorruptRunError, MaggotError, NotARunError
from maggot.records import (
    STATUS_COMPLETED,
    STATUS_FAILED,
    STATUS_INTERRUPTED,
    STATUS_RUNNING,
    STATUS_UNKNOWN,
    GitHead,
    RunInfo,
)

__all__ = [
    "STATUS_COMPLETED",
    "STATUS_FAILED",
    "STATUS_INTERRUPTED",
    "STATUS_RUNNING",
    "STATUS_UNKNOWN",
    "GitHead",
    "RunInfo",
]

FORMAT_VERSION = 1
META_DIR = ".maggot"
RUN_FILE = "run.json"
CONFIG_FILE = "config.json"
COMMAND_FILE = "command"
ENVIRON_FILE = "environ"
PACKAGES_FILE = "packages.txt"
RESULTS_FILE = "results.json"
RESULTS_LOCK_FILE = "results.lock"
RUN_LOCK_FILE = "run.lock"
# sweeps keep their record and frozen code tree here, inside the experiments directory
SWEEPS_DIR = ".sweeps"
LIVE_LOCK_FILE = "live.lock"
# a run being deleted is first renamed to this prefix (deleting_name), so it vanishes in one step
TRASH_PREFIX = ".maggot-deleting-"
DIRECTORIES_FILE = "directories"
LEGACY_DIRECTORIES_FILE = "registered_directories"
COMMIT_HASH_FILE = "commit_hash"
LOGS_DIR = "logs"
# the ranks of a multi-process launch log into logs/<first log>-ranks/rank-<N>
RANK_LOGS_SUFFIX = "-ranks"
RANK_LOG_PREFIX = "rank-"
GIT_DIR = "git"
HEAD_FILE = "head.json"
PATCH_FILE = "diff.patch"
UNTRACKED_DIR = "untracked"
# tags and notes, written after the run by ``maggot tag`` / ``maggot note`` (see annotate.py)
ANNOTATIONS_FILE = "annotations.json"
ANNOTATIONS_LOCK_FILE = ANNOTATIONS_FILE + ".lock"
# the run.json field where ``maggot mv`` lists a run's earlier names, oldest first
RENAMED_FROM_KEY = "renamed_from"
# next to the runs: the listing cache (index.py) and the folder ``maggot rm`` moves runs to;
# the cache is a file in a folder of its own, so that rewriting it leaves the mtime of the
# folder holding the runs alone (the index relies on that mtime)
INDEX_DIR = ".maggot-index"
INDEX_FILE = os.path.join(INDEX_DIR, "runs")
# the entries changed since INDEX_FILE was written, while they are few
INDEX_CHANGES_FILE = os.path.join(INDEX_DIR, "changes")
# a replay of RUN by ``maggot reproduce`` is the run directory RUN.repro-N next to it
REPLAY_SUFFIX = ".repro-"
TRASH_DIR = ".maggot-trash"
INPUTS_FILE = "inputs.json"
# the lists of files a run's Python child processes opened, until inputs.json takes them in
OPENED_DIR = "opened"
MANIFEST_FILE = "manifest.json"


def meta_path(run_dir: str | os.PathLike[str], *parts: str) -> str:
    """Path of a file inside a run's ``.maggot`` directory."""
    return os.path.join(os.fspath(run_dir), META_DIR, *parts)


def git_path(run_dir: str | os.PathLike[str], *parts: str) -> str:
    """Path of a file inside a run's git snapshot."""
    return meta_path(run_dir, GIT_DIR, *parts)


def is_run_dir(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a maggot run directory (0.2 or v1)."""
    return os.path.isdir(meta_path(path))


def replay_name_parts(name: str) -> tuple[str, int] | None:
    """``(RUN, N)`` for a replay's folder name ``RUN.repro-N``; None for any other name."""
    run_name, _, number = name.rpartition(REPLAY_SUFFIX)
    if not run_name or not (number.isascii() and number.isdigit()):
        return None
    return run_name, int(number)


def deleting_name() -> str:
    """A hidden folder name to rename a run to before deleting it.

    It names this process, so that ``maggot gc`` can tell a folder whose
    deletion was cut short (the process is gone) from one still being deleted.
    """
    return f"{TRASH_PREFIX}{os.getpid()}-{os.urandom(6).hex()}"


def deleting_process(name: str) -> int | None:
    """The process id in a name made by ``deleting_name``; None for any other name."""
    if not name.startswith(TRASH_PREFIX):
        return None
    pid, separator, _ = name[len(TRASH_PREFIX) :].partition("-")
    if not separator or not (pid.isascii() and pid.isdigit()):
        return None
    return int(pid)


def dumps_json(data: Any) -> str:
    """JSON the same way everywhere: sorted, indented, UTF-8, trailing newline.

    Text that isn't valid Unicode (a non-UTF-8 argument or environment value
    arrives as surrogates) is written as ``\\udcxx`` escapes, which read back
    to the same string.
    """
    text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=True) + "\n"
    return text


def without_nonfinite(value: Any) -> Any:
    """``value`` with NaN and infinities as None, for output strict JSON parsers read.

    Run files keep them (Python writes ``NaN``/``Infinity``, as JavaScript
    does); JSON meant for other programs (``--format json``) must not.
    """
    if isinstance(value, float):
        return value if value - value == 0 else None
    if isinstance(value, dict):
        return {key: without_nonfinite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [without_nonfinite(item) for item in value]
    return value


def strict_json_encoder(**options: Any) -> Callable[[Any], str]:
    """A ``json.dumps`` that never writes NaN or Infinity (they become null).

    Make one and call it for many values: building the encoder per value
    (what ``json.dumps`` with options does) is a measurable part of listing
    10,000 runs.
    """
    encoder = json.JSONEncoder(allow_nan=False, **options)
    encode_one: Callable[[Any], str] = encoder.encode
    make_c_encoder = getattr(json.encoder, "c_make_encoder", None)
    if make_c_encoder is not None and encoder.indent is None:
        # the C encoder made once: JSONEncoder.encode makes a new one per value, which
        # was most of the time of writing 100,000 rows; no circular-reference markers,
        # as values read from JSON files cannot refer to themselves
        c_encoder = make_c_encoder(
            None,
            encoder.default,
            json.encoder.encode_basestring_ascii
            if encoder.ensure_ascii
            else json.encoder.encode_basestring,
            None,
            encoder.key_separator,
            encoder.item_separator,
            encoder.sort_keys,
            encoder.skipkeys,
            False,
        )

        def encode_one(value: Any) -> str:
            return "".join(c_encoder(value, 0))

    def encode(value: Any) -> str:
        try:
            return encode_one(value)
        except ValueError:
            return encode_one(without_nonfinite(value))

    return encode


def dumps_strict(value: Any, **options: Any) -> str:
    """``json.dumps`` that never writes NaN or Infinity (they become null)."""
    return strict_json_encoder(**options)(value)


TEMP_PREFIX = ".tmp-"
_temp_counter = itertools.count()


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` so readers see the old or the new file, never half of one."""
    write_bytes_atomic(path, text_bytes(text))


def text_bytes(text: str) -> bytes:
    """``text`` as run files hold it: UTF-8."""
    # surrogateescape: a command line with non-UTF-8 bytes is written back as those bytes
    return text.encode("utf-8", errors="surrogateescape")


def write_bytes_atomic(path: str | os.PathLike[str], *chunks: bytes) -> None:
    """Write ``chunks`` one after the other so readers see the old or the new file, never half.

    Chunks spare the caller a joined copy of a large file. The temporary
    file's name is unique across processes and restarts (a job restarted with
    the same pid, PID 1 in a container, finds its old leftovers and must not
    trip over them); readers never look at ``.tmp-*`` files.
    """
    path = os.fspath(path)
    temp_path = temporary_path(path)
    descriptor = os.open(temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(descriptor, "wb") as file:
            for chunk in chunks:
                file.write(chunk)
        os.replace(temp_path, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_path)
        raise


def temporary_path(path: str) -> str:
    """A name next to ``path`` to write it under before ``os.replace`` puts it in place."""
    directory, name = os.path.split(path)
    # pid + random + counter: tempfile costs more to import than this saves
    unique = f"{os.getpid()}-{os.urandom(6).hex()}-{next(_temp_counter)}"
    return os.path.join(directory, f"{TEMP_PREFIX}{unique}-{name}")


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as JSON atomically (temp file + ``os.replace``)."""
    write_text_atomic(path, dumps_json(data))


MAX_JSON_BYTES = 64 * 1024 * 1024
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)


def read_bytes(path: str | os.PathLike[str], limit: int | None = None) -> bytes:
    """The content of a run file, which must be a regular file (see ``read_file``)."""
    return read_file(path, limit)[1]


def read_file(
    path: str | os.PathLike[str], limit: int | None = None
) -> tuple[os.stat_result, bytes]:
    """A run file's status (from the same open, so it describes what was read) and content.

    Run directories travel between people: a FIFO or device where a file
    should be would block or never end, so it raises CorruptRunError naming
    the file instead. Missing files raise FileNotFoundError as usual.
    """
    # O_NONBLOCK: opening a FIFO for reading must not wait for a writer; plain
    # os.read, as a file object costs a measurable share of listing 10,000 runs
    descriptor = os.open(path, _READ_FLAGS)
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise CorruptRunError(f"{os.fspath(path)}: not a regular file")
        if limit is not None and info.st_size > limit:
            raise CorruptRunError(
                f"{os.fspath(path)}: {info.st_size} bytes, more than a run file may have ({limit})"
            )
        wanted = info.st_size + 1
        chunks = [os.read(descriptor, wanted)]
        # a short read is the end of a regular file: asking again would cost a read per file
        while len(chunks[-1]) == wanted:  # a file still growing: read to its end
            wanted = 1 << 20
            chunks.append(os.read(descriptor, wanted))
        return info, b"".join(chunks)
    finally:
        os.close(descriptor)


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file; a file that doesn't parse raises CorruptRunError naming it.

    Hand-edited or hostile files are expected input: huge numbers, deep
    nesting, FIFOs and invalid UTF-8 are all reported as CorruptRunError.
    """
    # bytes read and decoded in C: a text wrapper or json's own encoding
    # detection cost a measurable share of listing 10,000 runs
    return parse_json(read_bytes(path, MAX_JSON_BYTES), path)


def parse_json(content: bytes, path: str | os.PathLike[str]) -> Any:
    """The JSON document in ``content`` (read from ``path``), or CorruptRunError naming it."""
    try:
        return json.loads(content.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CorruptRunError(f"{os.fspath(path)}: not valid JSON ({error})") from None
    except ValueError as error:  # an integer with more digits than Python converts
        raise CorruptRunError(f"{os.fspath(path)}: unreadable JSON ({error})") from None
    except RecursionError:
        raise CorruptRunError(f"{os.fspath(path)}: JSON nested too deeply") from None


def read_json_object(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a JSON file that must hold an object."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise CorruptRunError(
            f"{os.fspath(path)}: expected a JSON object, got {type(data).__name__}"
        )
    return data


def read_optional_object(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """A JSON object file, or None when it does not exist (a run written before it)."""
    try:
        return read_json_object(path)
    except FileNotFoundError:
        return None


# one lock per lock file for the threads of this process (record locks do not
# exclude them from each other)
_thread_locks: dict[str, threading.RLock] = {}
_thread_locks_guard = threading.Lock()


@contextlib.contextmanager
def file_lock(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) across processes.

    fcntl record locks (``lockf``), not ``flock``: NFS clients see each other's
    record locks, while ``flock`` locks only within one machine there. Record
    locks belong to the process, so threads of one process also take a lock of
    their own for the path.
    """
    key = os.path.abspath(path)
    with _thread_locks_guard:
        thread_lock = _thread_locks.setdefault(key, threading.RLock())
    with thread_lock, open(path, "a+b") as handle:
        try:
            import fcntl
        except ImportError:  # Windows
            import msvcrt

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)  # type: ignore[attr-defined]
            try:
                yield
            finally:
                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
            return
        fcntl.lockf(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.lockf(handle.fileno(), fcntl.LOCK_UN)


class RunTakenError(MaggotError):
    """Another process claimed the run directory first (or replaced it meanwhile)."""


def _same_file(handle: IO[bytes], path: str) -> bool:
    """Whether ``path`` still names the file ``handle`` has open."""
    try:
        current = os.stat(path)
    except OSError:
        return False
    opened = os.fstat(handle.fileno())
    return (current.st_dev, current.st_ino) == (opened.st_dev, opened.st_ino)


def hold_live_lock(run_dir: str | os.PathLike[str], *, new: bool) -> IO[bytes]:
    """Take the run's live lock (shared) and return the open file holding it.

    A process keeps it while it records the run; closing the file releases
    it. For a ``new`` run, creating the lock file is the claim itself: of
    processes racing for one directory, exactly one creates it, and the others
    get RunTakenError. The lock is checked to still be the one at ``run_dir``
    once held, so a directory replaced in between is noticed.
    """
    path = meta_path(run_dir, LIVE_LOCK_FILE)
    if new:
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise RunTakenError(f"{os.fspath(run_dir)}: claimed by another process") from None
    else:
        descriptor = _open_existing_live_lock(run_dir, path)
    handle = os.fdopen(descriptor, "r+b")
    try:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks between runs
            return handle
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
        except OSError as error:
            if isinstance(error, BlockingIOError) or error.errno == errno.EINTR:
                raise
            return handle  # a file system without locks (ENOLCK): the run goes on without
        if not _same_file(handle, path):
            raise RunTakenError(
                f"{os.fspath(run_dir)}: replaced by another process while this one claimed it"
            )
    except BaseException:
        handle.close()
        raise
    return handle


def _open_existing_live_lock(run_dir: str | os.PathLike[str], path: str) -> int:
    """Open the live lock of a run this process did not create.

    Creating the lock file here would steal the claim of a process that has just
    made the directory and is about to create it; so wait for that process, and
    create the file only for runs recorded before live locks existed (they have a
    run.json and no lock file) or when the creator died before making it.
    """
    import time

    deadline = time.monotonic() + _CREATOR_WAIT_SECONDS
    while True:
        try:
            return os.open(path, os.O_RDWR)
        except FileNotFoundError:
            if os.path.exists(meta_path(run_dir, RUN_FILE)) or time.monotonic() > deadline:
                return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            time.sleep(0.01)


_CREATOR_WAIT_SECONDS = 5.0


LIVE_FREE = "free"
LIVE_BUSY = "busy"
LIVE_CHANGED = "changed"


@contextlib.contextmanager
def try_exclusive_live_lock(run_dir: str | os.PathLike[str]) -> Iterator[str]:
    """Hold the run's live lock exclusively if no process holds it.

    Yields LIVE_FREE (held now, and still the lock at ``run_dir``), LIVE_BUSY
    (a process is recording the run) or LIVE_CHANGED (the directory changed
    meanwhile: look again). A directory without ``.maggot/`` counts as free.
    """
    path = meta_path(run_dir, LIVE_LOCK_FILE)
    try:
        handle = open(path, "a+b")
    except (FileNotFoundError, NotADirectoryError):
        yield LIVE_FREE
        return
    with handle:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks between runs
            yield LIVE_FREE
            return
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield LIVE_BUSY
            return
        except OSError:  # a file system without locks: nobody can be seen holding it
            pass
        yield LIVE_FREE if _same_file(handle, path) else LIVE_CHANGED


def missing_message(run_dir: str | os.PathLike[str], *parts: str) -> str:
    """The one way to say a run lacks a file: ``RUN: no .maggot/NAME``."""
    return f"{os.fspath(run_dir)}: no {'/'.join((META_DIR, *parts))}"


def read_run_info(run_dir: str | os.PathLike[str]) -> RunInfo:
    """A run's ``run.json``.

    Raises FileNotFoundError when it is missing (a 0.2 run) and
    CorruptRunError when it does not parse.
    """
    return RunInfo.from_json(read_json_object(meta_path(run_dir, RUN_FILE)))


def write_run_info(run_dir: str | os.PathLike[str], info: RunInfo) -> None:
    """Write a run's ``run.json`` atomically."""
    write_json_atomic(meta_path(run_dir, RUN_FILE), info.to_json())


def read_git_head(run_dir: str | os.PathLike[str]) -> GitHead:
    """A run's ``git/head.json``.

    Raises FileNotFoundError when it is missing and CorruptRunError when it
    does not parse.
    """
    return GitHead.from_json(read_json_object(git_path(run_dir, HEAD_FILE)))


def write_git_head(run_dir: str | os.PathLike[str], head: GitHead) -> None:
    """Write a run's ``git/head.json`` atomically (creating ``git/``)."""
    os.makedirs(git_path(run_dir), exist_ok=True)
    write_json_atomic(git_path(run_dir, HEAD_FILE), head.to_json())


def read_config(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """A run's stored config; raise CorruptRunError when it is missing or unreadable."""
    try:
        return read_json_object(meta_path(run_dir, CONFIG_FILE))
    except FileNotFoundError:
        raise CorruptRunError(missing_message(run_dir, CONFIG_FILE)) from None


def read_results(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """A run's registered results ({} when none were registered)."""
    try:
        return read_json_object(meta_path(run_dir, RESULTS_FILE))
    except FileNotFoundError:
        return {}


def read_command(run_dir: str | os.PathLike[str]) -> str:
    """A run's command line, shell-quoted; raise CorruptRunError when it was not recorded."""
    try:
        content = read_bytes(meta_path(run_dir, COMMAND_FILE), MAX_JSON_BYTES)
    except FileNotFoundError:
        raise CorruptRunError(missing_message(run_dir, COMMAND_FILE)) from None
    command = content.decode("utf-8", errors="replace").strip()
    if not command:
        raise CorruptRunError(f"{os.fspath(run_dir)}: {META_DIR}/{COMMAND_FILE} is empty")
    return command


def read_commit_hash(run_dir: str | os.PathLike[str]) -> str | None:
    """The 0.2-compatible ``commit_hash`` file's sha, or None."""
    lines = read_lines(meta_path(run_dir, COMMIT_HASH_FILE))
    return lines[0].strip() if lines else None


def write_commit_hash(run_dir: str | os.PathLike[str], commit: str) -> None:
    """Write the 0.2-compatible ``commit_hash`` file."""
    write_text_atomic(meta_path(run_dir, COMMIT_HASH_FILE), commit)


class RunRecord(NamedTuple):
    """One run directory as read back from disk."""

    path: str
    name: str
    status: str
    format_version: int
    # run.json as parsed; read it through ``info``
    run_json: Mapping[str, Any]
    config: dict[str, Any]
    results: dict[str, Any]
    problems: tuple[str, ...]

    @property
    def info(self) -> RunInfo:
        """The run's ``run.json`` record (all defaults for a 0.2 run).

        Built on access: a listing of 10,000 runs needs only the status, and
        building every record measured a third of summarize's time budget.
        """
        return RunInfo.from_json(self.run_json)


def load_run(
    run_dir: str | os.PathLike[str], *, with_config: bool = True, with_results: bool = True
) -> RunRecord:
    """Read a run's metadata, config and results.

    Raises NotARunError when ``run_dir`` is not a run. Unreadable files do not
    raise: they are described in ``problems`` so listings can go on.
    """
    run_dir = os.fspath(run_dir)
    # plain concatenation: os.path.join per file showed up when listing 10,000 runs
    meta_dir = run_dir + os.sep + META_DIR + os.sep
    problems: list[str] = []
    run_json: dict[str, Any] = {}
    try:
        run_json = read_json_object(meta_dir + RUN_FILE)
    except (FileNotFoundError, NotADirectoryError):
        # checked only now: listing 10,000 runs should not stat each one twice
        if not is_run_dir(run_dir):
            if not os.path.exists(run_dir):
                raise NotARunError(f"{run_dir}: no such directory") from None
            raise NotARunError(
                f"{run_dir}: no {META_DIR}/ directory (not a run directory?)"
            ) from None
        problems.append(missing_message(run_dir, RUN_FILE) + " (written by maggot 0.2?)")
    except CorruptRunError as error:
        problems.append(str(error))
    except OSError as error:
        problems.append(f"{meta_dir}{RUN_FILE}: {error.strerror}")
    config = (
        _read_optional(meta_dir + CONFIG_FILE, problems, missing_message(run_dir, CONFIG_FILE))
        if with_config
        else {}
    )
    results = _read_optional(meta_dir + RESULTS_FILE, problems) if with_results else {}
    status = run_json.get("status")
    format_version = run_json.get("format_version")
    return RunRecord(
        path=run_dir,
        name=os.path.basename(os.path.normpath(run_dir)),
        status=status if isinstance(status, str) else STATUS_UNKNOWN,
        format_version=format_version if type(format_version) is int else 0,
        run_json=run_json,
        config=config,
        results=results,
        problems=tuple(problems),
    )


def _read_optional(path: str, problems: list[str], missing: str | None = None) -> dict[str, Any]:
    """A JSON object file of a run, or {} with what went wrong added to ``problems``."""
    try:
        return read_json_object(path)
    except FileNotFoundError:
        if missing:
            problems.append(missing)
    except CorruptRunError as error:
        problems.append(str(error))
    except OSError as error:
        problems.append(f"{path}: {error.strerror}")
    return {}


def resolve_run_dir(argument: str, experiments_dir: str, *, by_folder_name: bool = False) -> str:
    """The run ``argument`` names: a run directory, or a run's path under ``experiments_dir``;
    with ``by_folder_name``, also a run in a folder there by its folder's name alone (as
    ``summarize`` shows it), while no other run has that name."""
    if is_run_dir(argument):
        return argument
    if os.path.exists(argument):
        raise NotARunError(f"{argument}: no {META_DIR}/ directory (not a run directory?)")
    fallback = os.path.join(experiments_dir, argument)
    if is_run_dir(fallback):
        return fallback
    # a run in a folder of its own is listed by its name alone while no other run has it
    named = _runs_named(argument, experiments_dir) if by_folder_name else []
    if len(named) == 1:
        return named[0]
    if named:
        raise NotARunError(f"{argument}: {len(named)} runs have this name ({', '.join(named)})")
    raise NotARunError(f"{argument}: no such directory")


def _runs_named(name: str, experiments_dir: str) -> list[str]:
    """The runs under ``experiments_dir`` (as deep as a listing looks) whose folder is ``name``."""
    if os.sep in name or (os.altsep and os.altsep in name) or name in ("", os.curdir, os.pardir):
        return []
    if not os.path.isdir(experiments_dir):
        return []
    return [path for path in find_run_dirs(experiments_dir) if os.path.basename(path) == name]


def find_run_dirs(
    root: str | os.PathLike[str],
    max_depth: int | None = 3,
    known_runs: Container[str] = (),
    searched: list[tuple[str, os.stat_result]] | None = None,
) -> list[str]:
    """Run directories under ``root`` (or ``root`` itself), sorted by path.

    Paths in ``known_runs`` (as this function spells them) are taken to be
    runs without checking for their ``.maggot``: the listing index knew them,
    and the caller reads their files next anyway; ``EVERY_FOLDER`` takes
    every folder for a run (the caller searches those that are not). ``searched`` receives each
    folder listed, with its status taken just before listing it (so a change
    made while it is listed shows as a newer mtime next time).

    Does not descend into runs (their artifacts can be large), into the
    trash of ``maggot rm``, nor below ``max_depth`` levels; ``None`` means no
    limit.
    """
    root = os.fspath(root)
    if is_run_dir(root):
        return [root]
    every = known_runs is EVERY_FOLDER
    found: list[str] = []
    pending: list[tuple[str, int]] = [(root, 0)]
    while pending:
        directory, depth = pending.pop()
        if max_depth is not None and depth >= max_depth:
            continue
        try:
            status = os.stat(directory) if searched is not None else None
            entries = list(os.scandir(directory))
        except OSError:
            continue
        if searched is not None and status is not None:
            searched.append((directory, status))
        if every:
            folders = _folders(entries)
            if folders is not None:
                found.extend(folders)
                continue
        for entry in entries:
            name = entry.name
            if name in _NOT_SEARCHED or name.startswith(TRASH_PREFIX):
                continue
            try:
                if not entry.is_dir(follow_symlinks=False):
                    continue
            except OSError:
                continue  # removed while listed (ENOENT, or ESTALE on NFS)
            path = entry.path
            if every or path in known_runs or os.path.isdir(path + os.sep + META_DIR):
                found.append(path)
            else:
                pending.append((path, depth + 1))
    return sorted(found)


def _folders(entries: list[os.DirEntry[str]]) -> list[str] | None:
    """The paths of the folders among ``entries`` that may be runs, in loops that run in C.

    100,000 runs in one directory cost a loop in Python 0.1 s. None when a
    folder could not be told (removed while listed): the caller looks at each.
    """
    names = list(map(_ENTRY_NAME, entries))
    try:
        folders = list(map(_IS_FOLDER, entries))
    except OSError:
        return None
    skipped = map(operator.or_, map(_IS_TRASH, names), map(_NOT_SEARCHED.__contains__, names))
    wanted = map(operator.not_, skipped)
    chosen = itertools.compress(entries, map(operator.and_, folders, wanted))
    return list(map(_ENTRY_PATH, chosen))


_ENTRY_NAME = operator.attrgetter("name")
_ENTRY_PATH = operator.attrgetter("path")
_IS_FOLDER = operator.methodcaller("is_dir", follow_symlinks=False)
_IS_TRASH = operator.methodcaller("startswith", TRASH_PREFIX)


class _EveryFolder:
    """A container holding every path (find_run_dirs tells it by identity)."""

    def __contains__(self, path: object) -> bool:
        return True


EVERY_FOLDER: Container[str] = _EveryFolder()
_NOT_SEARCHED = frozenset((META_DIR, TRASH_DIR, SWEEPS_DIR, INDEX_DIR))


def read_lines(path: str | os.PathLike[str]) -> list[str]:
    """Non-empty lines of a text file; a missing file has none."""
    try:
        text = read_bytes(path, MAX_JSON_BYTES).decode("utf-8", errors="surrogateescape")
    except FileNotFoundError:
        return []
    return [line.rstrip("\r") for line in text.split("\n") if line.strip()]


def add_registered_directory(run_dir: str | os.PathLike[str], name: str) -> None:
    """Remember a registered directory (one line appended, 0.2-compatible), once."""
    if name not in registered_directories(run_dir):
        with open(meta_path(run_dir, DIRECTORIES_FILE), "a", encoding="utf-8") as file:
            file.write(name + "\n")


def registered_directories(run_dir: str | os.PathLike[str]) -> list[str]:
    """Directory names registered in a run (v1 and 0.2 files), in order, unique."""
    names: list[str] = []
    for file_name in (DIRECTORIES_FILE, LEGACY_DIRECTORIES_FILE):
        for name in read_lines(meta_path(run_dir, file_name)):
            if name not in names:
                names.append(name)
    return names
