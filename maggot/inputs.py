"""Files a run's Python process opened outside its git snapshot: recorded and checked later.

While a run is active, an audit hook (``sys.addaudithook``) notes every path
opened. The hook only collects: at the end of the run the paths are resolved,
filtered (the experiments directory, the interpreter's own files, /proc, /sys,
/dev and files the snapshot holds are left out), checked against
``git check-ignore`` in one batch, stat'ed and hashed, and written to
``.maggot/inputs.json``.
"""

from __future__ import annotations

import functools
import os
import stat
import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from maggot import hashing, store
from maggot.errors import CorruptRunError, GitError
from maggot.git import run_git, split_nul

INPUTS_FORMAT_VERSION = 1
DEFAULT_MAX_FILES = 100_000
# where a recorded file lies
OUTSIDE = "outside"  # outside the repository (or the run has no snapshot)
IGNORED = "ignored"  # inside the repository, ignored by git
SKIPPED = "skipped"  # inside the repository, untracked and left out of the snapshot
READ, WRITE, READ_WRITE = "read", "write", "read+write"
# O_WRONLY and O_RDWR: the open's flags say whether it can write
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR
_SYSTEM_DIRS = ("/proc", "/sys", "/dev")


class InputFile(NamedTuple):
    """One file the run opened that its snapshot does not hold."""

    path: str  # absolute when OUTSIDE, repository-relative (``/``) otherwise
    location: str
    mode: str  # READ, WRITE or READ_WRITE
    size: int
    mtime: str  # UTC ISO 8601, at the end of the run
    mtime_ns: int
    sha256: str | None  # files the run read; None for files it only wrote
    hashed: str | None  # hashing.HASH_FULL or hashing.HASH_SAMPLE
    changed_during_run: bool  # modified after the run started, and not by the run itself

    @property
    def was_read(self) -> bool:
        return self.mode != WRITE


class InputsRecord(NamedTuple):
    """``.maggot/inputs.json``: what the run read and wrote outside its snapshot."""

    format_version: int
    repo_root: str | None
    files: tuple[InputFile, ...]
    omitted: int  # files past the limit, not listed
    full_hash_bytes: int
    sample: str
    problems: tuple[str, ...]

    def of_location(self, *locations: str) -> list[InputFile]:
        return [item for item in self.files if item.location in locations]


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


class _Collector:
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


_collectors: list[_Collector] = []
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


def _hand_over(next_cwd: str | None) -> None:
    """Give the paths collected so far to the active collectors; start afresh at ``next_cwd``."""
    global _reads, _writes, _epoch_cwd
    _fold()
    reads, writes, cwd = _reads, _writes, _epoch_cwd
    _reads, _writes, _epoch_cwd = set(), set(), next_cwd
    if reads or writes:
        for collector in _collectors:
            collector.epochs.append((cwd, reads, writes))


def _audit_hook(event: str, args: tuple[Any, ...]) -> None:
    # runs for every audited operation of the process: an open costs one list append
    if event == "open":
        if _collectors:
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
    elif event == "os.chdir" and _collectors:
        _hand_over(_directory_after_chdir(args[0] if args else None))


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


def _install_hook() -> None:
    """Add the audit hook once per process: audit hooks cannot be removed."""
    global _hook_installed
    if not _hook_installed:
        sys.addaudithook(_audit_hook)
        _hook_installed = True


def _prefixes(directories: Iterable[str]) -> tuple[str, ...]:
    """``dir/`` prefixes, under both spellings: a path may arrive through a symlink."""
    spellings = {os.path.abspath(path) for path in directories}
    spellings |= {os.path.realpath(path) for path in spellings}
    return tuple(sorted(os.path.join(path, "") for path in spellings))


class InputTracker:
    """Records the files a run opens between ``start()`` and ``stop()``.

    repo_root: the repository whose snapshot the run has (None: no snapshot,
    so every file counts). exclude_dirs: never recorded (the experiments
    directory, the run directory). not_in_snapshot: repository-relative paths
    the snapshot skipped.
    """

    def __init__(
        self,
        repo_root: str | None,
        exclude_dirs: Sequence[str],
        not_in_snapshot: Iterable[str] = (),
        limits: hashing.HashLimits = hashing.DEFAULT_HASH_LIMITS,
        max_files: int = DEFAULT_MAX_FILES,
    ) -> None:
        self.repo_root = repo_root
        self.limits = limits
        self.max_files = max_files
        self.not_in_snapshot = frozenset(not_in_snapshot)
        # maggot's own modules (imported lazily, e.g. on the first log_metric) are not
        # inputs of the run, even when maggot is installed from a checkout
        own_package = os.path.dirname(os.path.abspath(__file__))
        skipped = [*exclude_dirs, *interpreter_dirs(), *_SYSTEM_DIRS, own_package]
        if repo_root is not None:
            skipped.append(os.path.join(repo_root, ".git"))
        self.skipped_prefixes = _prefixes(skipped)
        self._collector = _Collector()
        self._started_ns = 0

    def start(self) -> None:
        """Begin collecting the paths this process opens."""
        _install_hook()
        self._started_ns = time.time_ns()
        if self._collector not in _collectors:
            _hand_over(os.getcwd())  # what was opened before this run started is not its input
            _collectors.append(self._collector)

    def cancel(self) -> None:
        """Stop collecting, and keep nothing."""
        if self._collector in _collectors:
            _hand_over(_epoch_cwd)
            _collectors.remove(self._collector)

    def stop(self) -> InputsRecord:
        """Stop collecting; resolve, filter, stat and hash what was opened."""
        self.cancel()
        modes: dict[str, str] = {}
        for path, writes in self._collector.opened():
            if self._wanted(path):
                mode = WRITE if writes else READ
                modes[path] = READ_WRITE if modes.get(path, mode) != mode else mode
        problems: list[str] = []
        located = self._locate(modes, problems)
        files: list[InputFile] = []
        for path, found in sorted(located.items(), key=lambda item: item[1][:2]):
            if len(files) >= self.max_files:
                break
            described = self._describe(path, found, modes[path], problems)
            if described is not None:
                files.append(described)
        return InputsRecord(
            format_version=INPUTS_FORMAT_VERSION,
            repo_root=self.repo_root,
            files=tuple(files),
            omitted=max(len(located) - self.max_files, 0),
            full_hash_bytes=self.limits.input_full_bytes,
            sample=hashing.SAMPLE_DESCRIPTION,
            problems=tuple(problems),
        )

    def _wanted(self, path: str) -> bool:
        if path.startswith(self.skipped_prefixes):
            return False
        # Python's own bytecode caches, next to any imported module
        return "__pycache__" not in path.split(os.sep) and not path.endswith((".pyc", ".pyo"))

    def _locate(
        self, modes: dict[str, str], problems: list[str]
    ) -> dict[str, tuple[str, str, os.stat_result]]:
        """``{path: (recorded path, location, stat)}`` for the regular files the snapshot lacks."""
        outside: dict[str, tuple[str, str, os.stat_result]] = {}
        inside: dict[str, tuple[str, os.stat_result]] = {}
        root = os.path.realpath(self.repo_root) if self.repo_root else None
        resolved_dirs: dict[str, str] = {}
        for path in modes:
            try:
                info = os.lstat(path)
                if stat.S_ISLNK(info.st_mode):
                    real, info = os.path.realpath(path), os.stat(path)
                else:
                    # one realpath per directory, not per file: 10,000 files in a data set
                    # would cost a stat per path component each
                    directory, name = os.path.split(path)
                    if directory not in resolved_dirs:
                        resolved_dirs[directory] = os.path.realpath(directory)
                    real = os.path.join(resolved_dirs[directory], name)
            except OSError:
                continue  # gone (a temporary file), or never there (a failed open)
            if not stat.S_ISREG(info.st_mode):
                continue
            relative = _relative_to(real, root) if root else None
            if relative is None:
                outside[path] = (path, OUTSIDE, info)
            elif relative.split("/", 1)[0] != ".git":
                inside[relative] = (path, info)
        if inside and root is not None:
            ignored = self._ignored(root, sorted(inside), problems)
            for relative, (path, info) in inside.items():
                if relative in ignored:
                    outside[path] = (relative, IGNORED, info)
                elif relative in self.not_in_snapshot:
                    outside[path] = (relative, SKIPPED, info)
        return outside

    @staticmethod
    def _ignored(root: str, relatives: list[str], problems: list[str]) -> set[str]:
        """The paths git ignores, asked in one ``git check-ignore --stdin`` call."""
        encoded = b"".join(
            path.encode("utf-8", errors="surrogateescape") + b"\0" for path in relatives
        )
        try:
            # exit code 1 means "none of them is ignored"
            output = run_git("check-ignore", "--stdin", "-z", cwd=root, input=encoded, check=False)
        except GitError as error:
            problems.append(f"could not ask git which files are ignored: {error}")
            return set()
        return set(split_nul(output))

    def _describe(
        self, path: str, found: tuple[str, str, os.stat_result], mode: str, problems: list[str]
    ) -> InputFile | None:
        shown, location, before = found
        try:
            sha256 = hashed = None
            if mode != WRITE:
                sha256, hashed = hashing.content_hash(
                    path, before.st_size, self.limits.input_full_bytes
                )
            after = os.stat(path)
        except OSError as error:
            problems.append(f"{shown}: {error.strerror or error}")
            return None
        changed = mode == READ and (
            after.st_mtime_ns >= self._started_ns
            or (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns)
        )
        return InputFile(
            path=shown,
            location=location,
            mode=mode,
            size=after.st_size,
            mtime=_iso(after.st_mtime_ns),
            mtime_ns=after.st_mtime_ns,
            sha256=sha256,
            hashed=hashed,
            changed_during_run=changed,
        )


def _relative_to(path: str, root: str) -> str | None:
    if path == root:
        return None
    prefix = os.path.join(root, "")
    if not path.startswith(prefix):
        return None
    return path[len(prefix) :].replace(os.sep, "/")


@functools.lru_cache(maxsize=1024)
def _iso_seconds(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def _iso(nanoseconds: int) -> str:
    seconds, fraction = divmod(nanoseconds, 1_000_000_000)
    return f"{_iso_seconds(seconds)}.{fraction:09d}Z"


def write_inputs(run_dir: str, record: InputsRecord) -> None:
    """Write ``.maggot/inputs.json`` atomically."""
    data = record._asdict()
    data["files"] = [item._asdict() for item in record.files]
    data["problems"] = list(record.problems)
    store.write_json_atomic(store.meta_path(run_dir, store.INPUTS_FILE), data)


def load_inputs(run_dir: str) -> InputsRecord | None:
    """A run's inputs record; None when it was not recorded (older runs, tracking off)."""
    path = store.meta_path(run_dir, store.INPUTS_FILE)
    data = store.read_optional_object(path)
    if data is None:
        return None
    try:
        files = tuple(
            InputFile(**{field: item.get(field) for field in InputFile._fields})
            for item in data["files"]
        )
        return InputsRecord(
            format_version=int(data["format_version"]),
            repo_root=data.get("repo_root"),
            files=files,
            omitted=int(data.get("omitted", 0)),
            full_hash_bytes=int(data.get("full_hash_bytes", 0)),
            sample=str(data.get("sample", "")),
            problems=tuple(data.get("problems", ())),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise CorruptRunError(f"{path}: not an inputs record ({error})") from None


class InputChange(NamedTuple):
    """A recorded input whose content is not what the run read."""

    path: str
    location: str
    state: str  # "changed" or "missing"


def changed_inputs(record: InputsRecord, repo_root: str | None) -> list[InputChange]:
    """Read inputs whose content differs now from what the run read, or that are gone.

    Files inside the repository are looked up under ``repo_root`` (the checkout
    reproduce runs from, which may be another clone than the recorded one).
    """
    changes = []
    for item in record.files:
        if not item.was_read or item.sha256 is None or item.hashed is None:
            continue
        if item.location == OUTSIDE:
            path = item.path
        elif repo_root is not None:
            path = os.path.join(repo_root, *item.path.split("/"))
        else:
            continue
        try:
            same = hashing.same_content(path, item.sha256, item.hashed)
        except OSError:
            same = None
        if same is None:
            changes.append(InputChange(item.path, item.location, "missing"))
        elif not same:
            changes.append(InputChange(item.path, item.location, "changed"))
    return changes
