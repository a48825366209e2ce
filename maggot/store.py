"""The run-directory format: file names, atomic writes, and reading runs back as records."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
from collections.abc import Iterator
from typing import Any, NamedTuple

from maggot.errors import CorruptRunError, NotARunError

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
DIRECTORIES_FILE = "directories"
LEGACY_DIRECTORIES_FILE = "registered_directories"
COMMIT_HASH_FILE = "commit_hash"
LOGS_DIR = "logs"
GIT_DIR = "git"
HEAD_FILE = "head.json"
PATCH_FILE = "diff.patch"
UNTRACKED_DIR = "untracked"

STATUS_RUNNING = "running"
STATUS_COMPLETED = "completed"
STATUS_FAILED = "failed"
STATUS_INTERRUPTED = "interrupted"
STATUS_UNKNOWN = "unknown"


def meta_path(run_dir: str | os.PathLike[str], *parts: str) -> str:
    """Path of a file inside a run's ``.maggot`` directory."""
    return os.path.join(os.fspath(run_dir), META_DIR, *parts)


def git_path(run_dir: str | os.PathLike[str], *parts: str) -> str:
    """Path of a file inside a run's git snapshot."""
    return meta_path(run_dir, GIT_DIR, *parts)


def is_run_dir(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a maggot run directory (0.2 or v1)."""
    return os.path.isdir(meta_path(path))


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


_temp_counter = itertools.count()


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` so readers see the old or the new file, never half of one."""
    path = os.fspath(path)
    directory, name = os.path.split(path)
    # pid + counter keep writers apart: tempfile costs more to import than this saves
    temp_path = os.path.join(directory, f".tmp-{os.getpid()}-{next(_temp_counter)}-{name}")
    descriptor = os.open(temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        # surrogateescape: a command line with non-UTF-8 bytes is written back as those bytes
        with os.fdopen(
            descriptor, "w", encoding="utf-8", errors="surrogateescape", newline="\n"
        ) as file:
            file.write(text)
        os.replace(temp_path, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_path)
        raise


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as JSON atomically (temp file + ``os.replace``)."""
    write_text_atomic(path, dumps_json(data))


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file; a file that doesn't parse raises CorruptRunError naming it."""
    try:
        # bytes read and decoded in C: a text wrapper or json's own encoding
        # detection cost a measurable share of listing 10,000 runs
        with open(path, "rb") as file:
            return json.loads(file.read().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CorruptRunError(f"{os.fspath(path)}: not valid JSON ({error})") from None


def read_json_object(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a JSON file that must hold an object."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise CorruptRunError(
            f"{os.fspath(path)}: expected a JSON object, got {type(data).__name__}"
        )
    return data


@contextlib.contextmanager
def file_lock(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing) across processes.

    fcntl record locks (``lockf``), not ``flock``: NFS clients see each other's
    record locks, while ``flock`` locks only within one machine there.
    """
    with open(path, "a+b") as handle:
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


class RunRecord(NamedTuple):
    """One run directory as read back from disk."""

    path: str
    name: str
    format_version: int
    status: str
    info: dict[str, Any]
    config: dict[str, Any]
    results: dict[str, Any]
    problems: tuple[str, ...]


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
    info: dict[str, Any] = {}
    format_version = 0
    status = STATUS_UNKNOWN
    try:
        info = read_json_object(meta_dir + RUN_FILE)
        format_version = int(info.get("format_version", 0))
        status = str(info.get("status", STATUS_UNKNOWN))
    except (FileNotFoundError, NotADirectoryError):
        # checked only now: listing 10,000 runs should not stat each one twice
        if not is_run_dir(run_dir):
            if not os.path.exists(run_dir):
                raise NotARunError(f"{run_dir}: no such directory") from None
            raise NotARunError(
                f"{run_dir}: no {META_DIR}/ directory (not a run directory?)"
            ) from None
        problems.append(f"{run_dir}: no {META_DIR}/{RUN_FILE} (written by maggot 0.2?)")
    except (CorruptRunError, ValueError, TypeError) as error:
        problems.append(str(error))
    except OSError as error:
        problems.append(f"{meta_dir}{RUN_FILE}: {error.strerror}")
    missing_config = f"{run_dir}: no {META_DIR}/{CONFIG_FILE}"
    config = _read_optional(meta_dir + CONFIG_FILE, problems, missing_config) if with_config else {}
    results = _read_optional(meta_dir + RESULTS_FILE, problems) if with_results else {}
    return RunRecord(
        path=run_dir,
        name=os.path.basename(os.path.normpath(run_dir)),
        format_version=format_version,
        status=status,
        info=info,
        config=config,
        results=results,
        problems=tuple(problems),
    )


def _read_optional(
    path: str, problems: list[str], missing_message: str | None = None
) -> dict[str, Any]:
    """A JSON object file of a run, or {} with what went wrong added to ``problems``."""
    try:
        return read_json_object(path)
    except FileNotFoundError:
        if missing_message:
            problems.append(missing_message)
    except CorruptRunError as error:
        problems.append(str(error))
    except OSError as error:
        problems.append(f"{path}: {error.strerror}")
    return {}


def resolve_run_dir(argument: str, experiments_dir: str) -> str:
    """The run ``argument`` names: a run directory, or a run's name under ``experiments_dir``."""
    if is_run_dir(argument):
        return argument
    fallback = os.path.join(experiments_dir, argument)
    if not os.path.exists(argument) and is_run_dir(fallback):
        return fallback
    if not os.path.exists(argument):
        raise NotARunError(f"{argument}: no such directory")
    raise NotARunError(f"{argument}: no {META_DIR}/ directory (not a run directory?)")


def find_run_dirs(root: str | os.PathLike[str], max_depth: int | None = 3) -> list[str]:
    """Run directories under ``root`` (or ``root`` itself), sorted by path.

    Does not descend into runs (their artifacts can be large) nor below
    ``max_depth`` levels; ``None`` means no limit.
    """
    root = os.fspath(root)
    if is_run_dir(root):
        return [root]
    found: list[str] = []
    pending: list[tuple[str, int]] = [(root, 0)]
    while pending:
        directory, depth = pending.pop()
        if max_depth is not None and depth >= max_depth:
            continue
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.name in (META_DIR, SWEEPS_DIR) or not entry.is_dir(follow_symlinks=False):
                    continue
            except OSError:
                continue  # removed while listed (ENOENT, or ESTALE on NFS)
            if os.path.isdir(entry.path + os.sep + META_DIR):
                found.append(entry.path)
            else:
                pending.append((entry.path, depth + 1))
    return sorted(found)


def read_lines(path: str | os.PathLike[str]) -> list[str]:
    """Non-empty lines of a text file; a missing file has none."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as file:
            return [line.rstrip("\n") for line in file if line.strip()]
    except FileNotFoundError:
        return []


def registered_directories(run_dir: str | os.PathLike[str]) -> list[str]:
    """Directory names registered in a run (v1 and 0.2 files), in order, unique."""
    names: list[str] = []
    for file_name in (DIRECTORIES_FILE, LEGACY_DIRECTORIES_FILE):
        for name in read_lines(meta_path(run_dir, file_name)):
            if name not in names:
                names.append(name)
    return names
