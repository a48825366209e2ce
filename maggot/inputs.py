"""Files a run's Python process opened outside its git snapshot: recorded and checked later.

While a run is active, an audit hook (``sys.addaudithook``, ``maggot.openlog``)
notes every path opened, in the run's process and in its Python child
processes, which leave their lists in the run directory when they end. The
hook only collects: at the end of the run the paths are resolved,
filtered (the experiments directory, the interpreter's own files, /proc, /sys,
/dev and files the snapshot holds are left out), checked against
``git check-ignore`` in one batch, stat'ed and hashed, and written to
``.maggot/inputs.json``.
"""

from __future__ import annotations

import functools
import os
import stat
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, NamedTuple

from maggot import hashing, openlog, store
from maggot.errors import CorruptRunError, GitError
from maggot.git import run_git, split_nul

if TYPE_CHECKING:
    from maggot.sharedfiles import SharedFiles

INPUTS_FORMAT_VERSION = 1
DEFAULT_MAX_FILES = 100_000
# where a recorded file lies
OUTSIDE = "outside"  # outside the repository (or the run has no snapshot)
IGNORED = "ignored"  # inside the repository, ignored by git
SKIPPED = "skipped"  # inside the repository, untracked and left out of the snapshot
READ, WRITE, READ_WRITE = "read", "write", "read+write"
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
    the snapshot skipped. tree_root: the working tree the run executes in
    when it is not ``repo_root`` but a rebuilt copy of its code state (a
    sweep's frozen tree, a rerun's worktree): its files are recorded by their
    repository-relative paths too. children_dir: where the run's Python child
    processes leave the paths they opened (None: children are not tracked).
    own_process: whether this process's own opens count (a launcher's do not:
    it only runs the command).
    """

    def __init__(
        self,
        repo_root: str | None,
        exclude_dirs: Sequence[str],
        not_in_snapshot: Iterable[str] = (),
        limits: hashing.HashLimits = hashing.DEFAULT_HASH_LIMITS,
        max_files: int = DEFAULT_MAX_FILES,
        tree_root: str | None = None,
        children_dir: str | None = None,
        own_process: bool = True,
    ) -> None:
        self.repo_root = repo_root
        self.tree_root = tree_root
        self.children_dir = children_dir
        self.own_process = own_process
        self.limits = limits
        self.max_files = max_files
        self.not_in_snapshot = frozenset(not_in_snapshot)
        # maggot's own modules (imported lazily, e.g. on the first log_metric) are not
        # inputs of the run, even when maggot is installed from a checkout
        own_package = os.path.dirname(os.path.abspath(__file__))
        skipped = [*exclude_dirs, *openlog.interpreter_dirs(), *_SYSTEM_DIRS, own_package]
        if repo_root is not None:
            skipped.append(os.path.join(repo_root, ".git"))
        self.skipped_prefixes = _prefixes(skipped)
        self._collector = openlog.Collector()
        # files read for the run by a process that does not count (a launcher's --config)
        self._noted: list[tuple[str, bool]] = []
        self._started_ns = 0

    def start(self) -> None:
        """Begin collecting the paths this process opens (when its own opens count).

        With a children_dir, this process's environment gets the variables
        that make its Python child processes track theirs (put back at ``stop()``).
        """
        self._started_ns = time.time_ns()
        if self.children_dir is not None:
            os.makedirs(self.children_dir, exist_ok=True)
        if not self.own_process:
            return
        if self.children_dir is not None:
            _lend_environment(self)
        openlog.install_hook()
        if self._collector not in openlog.collectors:
            # what was opened before this run started is not its input
            openlog.hand_over(os.getcwd())
            openlog.collectors.append(self._collector)

    def child_environment(self, environ: Mapping[str, str]) -> dict[str, str]:
        """The variables (updates of ``environ``) that make Python child processes
        started with it leave the paths they open to this run; none without a
        children_dir."""
        if self.children_dir is None:
            return {}
        from maggot import bootstrap

        existing = environ.get("PYTHONPATH")
        return {
            openlog.ENV_INPUTS_DIR: os.path.abspath(self.children_dir),
            "PYTHONPATH": os.pathsep.join([bootstrap.DIRECTORY, *([existing] if existing else [])]),
        }

    def note_read(self, path: str) -> None:
        """Count ``path`` as read by the run: a file its launcher read for it."""
        self._noted.append((os.path.abspath(path), False))

    def cancel(self) -> None:
        """Stop collecting, and keep nothing."""
        if self._collector in openlog.collectors:
            openlog.hand_over(openlog.current_cwd())
            openlog.collectors.remove(self._collector)
        _return_environment(self)

    def stop(self) -> InputsRecord:
        """Stop collecting; resolve, filter, stat and hash what this process and its
        children opened."""
        self.cancel()
        opened = self._collector.opened() + self._noted
        if self.children_dir is not None:
            opened += openlog.read_child_lists(self.children_dir)
        modes: dict[str, str] = {}
        for path, writes in opened:
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
        root = os.path.realpath(self.repo_root) if self.repo_root else None
        tops = [root] if root else []
        if root and self.tree_root and os.path.realpath(self.tree_root) != root:
            tops.append(os.path.realpath(self.tree_root))
        # repository-relative paths, asked of git in the tree they were found in; the
        # innermost tree first (a sweep's frozen tree may lie inside the checkout)
        inside: dict[str, dict[str, tuple[str, os.stat_result]]] = {
            top: {} for top in sorted(tops, key=len, reverse=True)
        }
        resolved_dirs: dict[str, str] = {}
        # files read through a symlink inside the repository (data -> /mnt/datasets):
        # repository-relative path as opened -> (path, stat, the symlink's path)
        linked: dict[str, tuple[str, os.stat_result, str]] = {}
        is_link: dict[str, bool] = {}
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
            top, relative = None, None
            for top in inside:
                relative = _relative_to(real, top)
                if relative is not None:
                    break
            if top is None or relative is None:
                through = self._through_link(path, root, is_link) if root else None
                if through is None:
                    outside[path] = (path, OUTSIDE, info)
                else:
                    linked[through[0]] = (path, info, through[1])
            elif relative.split("/", 1)[0] != ".git":
                inside[top][relative] = (path, info)
        for top, found in inside.items():
            if not found:
                continue
            ignored = self._ignored(top, sorted(found), problems)
            for relative, (path, info) in found.items():
                if relative in ignored:
                    outside[path] = (relative, IGNORED, info)
                elif relative in self.not_in_snapshot:
                    outside[path] = (relative, SKIPPED, info)
        if linked and root is not None:
            # an ignored symlink: the file is the repository's input, by the path it was read at
            links = self._ignored(root, sorted({link for _, _, link in linked.values()}), problems)
            for spelled, (path, info, link) in linked.items():
                outside[path] = (spelled, IGNORED, info) if link in links else (path, OUTSIDE, info)
        return outside

    def _through_link(
        self, path: str, root: str, is_link: dict[str, bool]
    ) -> tuple[str, str] | None:
        """``(path as opened, the symlink it went through)``, both repository-relative,
        for a file read through a symlinked directory inside the repository."""
        spelled = _relative_to(path, root)
        if spelled is None and self.repo_root is not None:
            spelled = _relative_to(path, os.path.abspath(self.repo_root))
        if spelled is None:
            return None
        parts = spelled.split("/")
        if parts[0] == ".git":
            return None
        for depth in range(1, len(parts) + 1):  # a directory on the way, or the file itself
            prefix = "/".join(parts[:depth])
            if prefix not in is_link:
                is_link[prefix] = os.path.islink(os.path.join(root, *parts[:depth]))
            if is_link[prefix]:
                return spelled, prefix
        return None

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


# the trackers of this process whose children record for them, latest last, and the
# variables as they were before the first one set them
_lenders: list[InputTracker] = []
_environment_before: dict[str, str | None] = {}


def _lend_environment(tracker: InputTracker) -> None:
    """Children started from now on record for ``tracker`` (the latest run)."""
    if not _lenders:
        _environment_before.clear()
        _environment_before.update(
            {name: os.environ.get(name) for name in (openlog.ENV_INPUTS_DIR, "PYTHONPATH")}
        )
        os.environ.update(tracker.child_environment(os.environ))
    else:
        os.environ[openlog.ENV_INPUTS_DIR] = os.path.abspath(str(tracker.children_dir))
    _lenders.append(tracker)


def _return_environment(tracker: InputTracker) -> None:
    """Children record for the latest run still going, or the variables are put back."""
    if tracker not in _lenders:
        return
    _lenders.remove(tracker)
    if _lenders:
        os.environ[openlog.ENV_INPUTS_DIR] = os.path.abspath(str(_lenders[-1].children_dir))
        return
    for name, value in _environment_before.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


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


def write_inputs(run_dir: str, record: InputsRecord, shared: SharedFiles | None = None) -> None:
    """Write ``.maggot/inputs.json`` atomically (linked from ``shared`` when a sweep's
    earlier job recorded the same)."""
    data = record._asdict()
    data["files"] = [item._asdict() for item in record.files]
    data["problems"] = list(record.problems)
    path = store.meta_path(run_dir, store.INPUTS_FILE)
    if shared is not None:
        shared.write(path, store.text_bytes(store.dumps_json(data)))
    else:
        store.write_json_atomic(path, data)


def merge_inputs(earlier: InputsRecord, later: InputsRecord) -> InputsRecord:
    """One record for the processes of one run (a launcher and the program it started).

    A file both recorded is described by the later record, read and written
    if either process read it and either wrote it.
    """
    files = {item.path: item for item in earlier.files}
    for item in later.files:
        before = files.get(item.path)
        if before is not None and before.mode != item.mode:
            item = item._replace(mode=READ_WRITE)
            if item.sha256 is None:
                item = item._replace(sha256=before.sha256, hashed=before.hashed)
        files[item.path] = item
    return later._replace(
        repo_root=later.repo_root or earlier.repo_root,
        files=tuple(sorted(files.values(), key=lambda item: (item.location, item.path))),
        omitted=earlier.omitted + later.omitted,
        problems=tuple(dict.fromkeys((*earlier.problems, *later.problems))),
    )


def write_merged_inputs(
    run_dir: str, record: InputsRecord, shared: SharedFiles | None = None
) -> None:
    """Add ``record`` to the run's inputs record, under the run's lock."""
    with store.file_lock(store.meta_path(run_dir, store.RUN_LOCK_FILE)):
        try:
            existing = load_inputs(run_dir)
        except CorruptRunError:
            existing = None
        write_inputs(
            run_dir, record if existing is None else merge_inputs(existing, record), shared
        )


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


def changed_inputs(
    record: InputsRecord, repo_root: str | None, locations: Sequence[str] | None = None
) -> list[InputChange]:
    """Read inputs whose content differs now from what the run read, or that are gone.

    Files inside the repository are looked up under ``repo_root`` (the checkout
    reproduce runs from, which may be another clone than the recorded one).
    ``locations`` limits the check to files recorded there.
    """
    changes = []
    for item in record.files:
        if locations is not None and item.location not in locations:
            continue
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
