"""The listing index: a cache next to the runs so that listing unchanged runs reads no run file.

``DIR/.maggot-index`` maps each run (by its path relative to DIR) to what a
listing needs from each of its files, together with the file's identity when
it was read: inode, size and mtime in nanoseconds. A listing stats only the
files it needs and re-reads a file whenever its identity differs, so a run
changed, added, removed or renamed since the index was written shows as it is
on disk now. Deleting the index loses nothing.

Never believed blindly: an index that does not parse or has the wrong shape
is rebuilt (with one warning), an entry of the wrong shape is a miss, and a
file modified within ``RACY_NANOSECONDS`` of the listing is not cached at all
(a write in the same clock tick as the read would keep size and mtime). The index
is a header line, a checksum line and ``marshal`` data holding only what
the JSON run files held (loading it is about twice as fast as JSON; nothing
in it is executed, and a checksum mismatch means a rebuild). A directory
that cannot be written is listed without an index.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple

from maggot import store
from maggot.config import flatten
from maggot.errors import CorruptRunError, MaggotError

INDEX_FORMAT_VERSION = 1
_MAGIC = b"maggot-listing-index"
RACY_NANOSECONDS = 2_000_000_000

PART_RUN = "run"
PART_INFO = "info"
PART_RESULTS = "results"
PART_CONFIG = "config"
PART_GIT = "git"
PART_ANNOTATIONS = "annotations"
PARTS = (PART_RUN, PART_INFO, PART_RESULTS, PART_CONFIG, PART_GIT, PART_ANNOTATIONS)

# run.json fields a listing shows, by the column name they are shown under
INFO_FIELDS = {
    "started": "started_at",
    "ended": "ended_at",
    "duration": "duration_seconds",
    "host": "hostname",
    "sweep": "sweep",
    "reproduction_of": "reproduction_of",
}


class ListedRun(NamedTuple):
    """What a listing knows about one run; parts that were not asked for are empty."""

    path: str
    status: str
    info: dict[str, Any]
    results: dict[str, Any]
    config: dict[str, Any]
    git: dict[str, Any]
    annotations: dict[str, Any]
    problems: tuple[str, ...]


class Listing(NamedTuple):
    """The runs read for one listing, and warnings about runs and the index."""

    runs: list[ListedRun]
    warnings: list[str]


class _Part(NamedTuple):
    relative_path: str
    # turns the file's parsed JSON into the cached payload; raises CorruptRunError
    extract: Callable[[Any, str], Any]
    empty: Any
    missing_problem: str | None


def _extract_status(data: Any, path: str) -> str:
    if not isinstance(data, dict):
        raise CorruptRunError(f"{path}: expected a JSON object, got {type(data).__name__}")
    status = data.get("status")
    # read here rather than through RunInfo: a record per run is measurable at 100,000 runs
    return sys.intern(status) if isinstance(status, str) else store.STATUS_UNKNOWN


def _extract_info(data: Any, path: str) -> dict[str, Any]:
    # a run.json that is not an object is reported once, by the status part
    if not isinstance(data, dict):
        return {}
    info = {column: data[field] for column, field in INFO_FIELDS.items() if field in data}
    if isinstance(info.get("host"), str):
        info["host"] = sys.intern(info["host"])
    sweep = info.get("sweep")
    if isinstance(sweep, dict):
        # shown and filtered by the sweep's id (`maggot summarize --filter sweep=ID`)
        info["sweep"] = sweep.get("id")
    return info


def _extract_flat(data: Any, path: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise CorruptRunError(f"{path}: expected a JSON object, got {type(data).__name__}")
    # interned keys are one object across runs, which marshal then writes once
    return {sys.intern(key): value for key, value in flatten(data).items()}


def _extract_git(data: Any, path: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise CorruptRunError(f"{path}: expected a JSON object, got {type(data).__name__}")
    found: dict[str, Any] = {}
    if isinstance(data.get("commit"), str):
        found["commit"] = data["commit"]
    if data.get("snapshot"):
        found["dirty"] = bool(data.get("is_dirty"))
    return found


def _extract_annotations(data: Any, path: str) -> dict[str, Any]:
    from maggot import annotate

    annotations = annotate.parse_annotations(data, path)
    return {"tags": list(annotations.tags), "note": annotate.note_text(annotations.notes)}


_PARTS = {
    PART_RUN: _Part(
        store.RUN_FILE,
        _extract_status,
        store.STATUS_UNKNOWN,
        f"no {store.META_DIR}/{store.RUN_FILE} (written by maggot 0.2?)",
    ),
    # the run.json fields shown as info columns: cached only when a listing asks for them
    PART_INFO: _Part(store.RUN_FILE, _extract_info, {}, None),
    PART_RESULTS: _Part(store.RESULTS_FILE, _extract_flat, {}, None),
    PART_CONFIG: _Part(
        store.CONFIG_FILE, _extract_flat, {}, f"no {store.META_DIR}/{store.CONFIG_FILE}"
    ),
    PART_GIT: _Part(os.path.join(store.GIT_DIR, store.HEAD_FILE), _extract_git, {}, None),
    PART_ANNOTATIONS: _Part(store.ANNOTATIONS_FILE, _extract_annotations, {}, None),
}
# a cached part: [inode, size, mtime_ns, payload, problems]; size -1 is a missing file
_MISSING_IDENTITY = (0, -1, 0)
# plain concatenation with the run directory: os.path.join per file is measurable at 100,000 runs
_RELATIVE_PATHS = {
    part: os.sep + store.META_DIR + os.sep + spec.relative_path for part, spec in _PARTS.items()
}


def index_path(root: str) -> str:
    """Where the index of the runs under ``root`` is kept."""
    return os.path.join(root, store.INDEX_FILE)


class RunIndex:
    """The index of the runs under one directory, read once per listing."""

    def __init__(self, root: str, *, enabled: bool = True) -> None:
        self.root = root
        # never inside a run: its directory belongs to the run's own files
        self.enabled = enabled and not store.is_run_dir(root)
        self.warnings: list[str] = []
        self.cached: dict[str, Any] = _read_index(root, self.warnings) if self.enabled else {}

    def find_runs(self, max_depth: int | None) -> list[str]:
        """Run directories under the root; runs the index knows skip one check each."""
        prefix = self.root + os.sep
        known = {prefix + name for name in self.cached} if self.cached else ()
        return store.find_run_dirs(self.root, max_depth, known_runs=known)

    def load(
        self, run_dirs: Sequence[str], parts: Iterable[str], *, keep: Iterable[str] = ()
    ) -> Listing:
        """Read ``parts`` of each run in ``run_dirs``, from the index where the files are unchanged.

        Runs in ``keep`` were found but are not listed this time (hidden
        reproductions): their entries stay in the index. Runs that vanished
        while listing are left out with a warning. The index is rewritten only
        when something changed.
        """
        wanted = [part for part in PARTS if part in set(parts) | {PART_RUN}]
        position = {part: number for number, part in enumerate(wanted)}
        info_at = position.get(PART_INFO)
        results_at, config_at = position.get(PART_RESULTS), position.get(PART_CONFIG)
        git_at, annotations_at = position.get(PART_GIT), position.get(PART_ANNOTATIONS)
        warnings = list(self.warnings)
        cached = self.cached
        started_ns = time.time_ns()
        fresh: dict[str, dict[str, Any]] = {}
        changed = False
        runs: list[ListedRun] = []
        skip = len(self.root) + len(os.sep)
        for run_dir in run_dirs:
            relative = run_dir[skip:] if self.enabled else run_dir
            found = cached.get(relative)
            entry: dict[str, Any] = found if type(found) is dict else {}
            copied = False
            values: list[Any] = []
            problems: tuple[str, ...] = ()
            for part in wanted:
                slot: Any = entry.get(part)
                if not _is_fresh(run_dir, part, slot):
                    slot = _read_part(run_dir, part)
                    if not copied:  # the loaded index stays as read until it is written
                        entry, copied = dict(entry), True
                    entry[part] = slot
                    changed = True
                values.append(slot[3])
                if slot[4]:
                    problems = (*problems, *(run_dir + problem for problem in slot[4]))
            if values[0] is None:  # not a run any more
                warnings.append(f"{run_dir}: no such run directory (removed while listing?)")
                continue
            fresh[relative] = entry
            runs.append(
                ListedRun(
                    run_dir,
                    values[0],
                    values[info_at] if info_at is not None else {},
                    values[results_at] if results_at is not None else {},
                    values[config_at] if config_at is not None else {},
                    values[git_at] if git_at is not None else {},
                    values[annotations_at] if annotations_at is not None else {},
                    problems,
                )
            )
        for run_dir in keep:
            relative = run_dir[skip:]
            if relative in cached:
                fresh[relative] = cached[relative]
        if self.enabled and (changed or len(fresh) != len(cached)):
            _write_index(self.root, fresh, started_ns)
        self.cached = fresh
        return Listing(runs, warnings)


def _is_fresh(run_dir: str, part: str, slot: Any) -> bool:
    """Whether a cached slot still describes the part's file (one stat)."""
    if type(slot) is not list or len(slot) != 5 or type(slot[4]) is not list:
        return False
    try:
        stat = os.stat(run_dir + _RELATIVE_PATHS[part])
    except FileNotFoundError:
        if slot[1] != _MISSING_IDENTITY[1]:
            return False
    except OSError:
        return False
    else:
        if slot[2] != stat.st_mtime_ns or slot[1] != stat.st_size or slot[0] != stat.st_ino:
            return False
    payload = slot[3]
    if part == PART_RUN:
        return type(payload) is str
    return type(payload) is dict


def _read_part(run_dir: str, part: str) -> list[Any]:
    """A slot for the part's file as it is now: identity, payload, problems."""
    spec = _PARTS[part]
    relative = _RELATIVE_PATHS[part]
    path = run_dir + relative
    try:
        stat, content = store.read_file(path, store.MAX_JSON_BYTES)
    except FileNotFoundError:
        if part == PART_RUN and not store.is_run_dir(run_dir):
            return [*_MISSING_IDENTITY, None, []]
        problems = [f": {spec.missing_problem}"] if spec.missing_problem else []
        return [*_MISSING_IDENTITY, spec.empty, problems]
    except MaggotError as error:  # not a regular file, or too large
        return [0, -2, 0, spec.empty, [relative + str(error).removeprefix(path)]]
    except OSError as error:
        return [0, -2, 0, spec.empty, [f"{relative}: {error.strerror}"]]
    identity = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
    try:
        payload = spec.extract(store.parse_json(content, path), path)
    except MaggotError as error:
        return [*identity, spec.empty, [relative + str(error).removeprefix(path)]]
    return [*identity, payload, []]


def _read_index(root: str, warnings: list[str]) -> dict[str, Any]:
    path = index_path(root)
    try:
        with open(path, "rb") as file:
            content = file.read()
    except FileNotFoundError:
        return {}
    except OSError as error:
        warnings.append(f"{path}: unreadable listing index ({error.strerror}); rebuilding it")
        return {}
    header, _, rest = content.partition(b"\n")
    digest, _, body = rest.partition(b"\n")
    if header != _header():
        if not header.startswith(_MAGIC):
            warnings.append(f"{path}: not a listing index; rebuilding it")
        return {}  # written by another maggot or Python version: rebuilt quietly
    if digest != _digest(body):
        warnings.append(f"{path}: corrupt listing index (checksum mismatch); rebuilding it")
        return {}
    try:
        runs = marshal.loads(body)
    except (EOFError, ValueError, TypeError) as error:
        warnings.append(f"{path}: corrupt listing index ({error}); rebuilding it")
        return {}
    if type(runs) is not dict:
        warnings.append(f"{path}: corrupt listing index (not a mapping); rebuilding it")
        return {}
    return runs


def _header() -> bytes:
    # marshal's format changes between Python versions: an index from another is not read
    python = f"{sys.implementation.cache_tag}-{marshal.version}"
    return _MAGIC + f" {INDEX_FORMAT_VERSION} {python}".encode()


def _digest(body: bytes) -> bytes:
    return hashlib.blake2b(body, digest_size=16).hexdigest().encode()


def _write_index(root: str, runs: dict[str, dict[str, Any]], started_ns: int) -> None:
    recent = started_ns - RACY_NANOSECONDS

    def keep(slot: Any) -> bool:
        # a file changed just now may change again within its mtime tick: read it next time
        return (
            type(slot) is list
            and len(slot) == 5
            and (slot[1] == _MISSING_IDENTITY[1] or (slot[1] >= 0 and slot[2] < recent))
        )

    kept = dict(runs)
    for relative, entry in runs.items():
        # copied only where something is dropped: a copy of every entry doubles peak memory
        if not all(keep(slot) for slot in entry.values()):
            kept[relative] = {part: slot for part, slot in entry.items() if keep(slot)}
    body = marshal.dumps(kept)
    try:
        store.write_bytes_atomic(index_path(root), _header(), b"\n", _digest(body), b"\n", body)
    except OSError:
        pass  # a read-only experiments directory is listed without an index
