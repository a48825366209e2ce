"""The listing index: a cache next to the runs so that listing unchanged runs reads no run file.

``DIR/.maggot-index`` maps each run (by its path relative to DIR) to what a
listing needs from its files, together with the identity (inode and mtime in
nanoseconds) of the run's ``.maggot`` directory when they were read. It also
keeps the identity of every folder the search for runs listed, with the runs
it found.

Why one stat per run is enough: every file a listing reads from ``.maggot``
(run.json, results.json, config.json, annotations.json) is only ever written
by renaming a new file over it (``store.write_bytes_atomic``), and a rename
changes the mtime of the directory it happens in. So a ``.maggot`` whose
identity is unchanged holds the files the index read. Likewise a run added,
removed or renamed changes the mtime of the folder holding it, so while
every searched folder is unchanged the runs found last time are still all
the runs (each run's ``.maggot`` is still stat-ed). ``git/head.json`` lives
one level deeper and is checked by its own stat, only when its columns are
asked for. Series files are appended in place: they are never cached, the
index only remembers whether the run has a series folder (creating it
changes ``.maggot``'s mtime).

Where this is not sound: a run file rewritten in place (an editor that
saves without renaming, ``echo >>``) leaves the directory's mtime alone;
``touch RUN/.maggot`` or ``--no-index`` shows the new content. A directory
modified within ``RACY_NANOSECONDS`` of a listing is not cached at all (two
changes in one clock tick keep the mtime), which also covers file systems
with timestamps as coarse as 2 seconds.

Never believed blindly: an index that does not parse or has the wrong shape
is rebuilt (with one warning) and an entry of the wrong shape is a miss. The
index is a header line, a line of checksums, and two parts of ``marshal``
data (the search, then the entries) holding only what the JSON run files
held (nothing in it is executed; a checksum mismatch means a rebuild). A
directory that cannot be written is listed without an index. Deleting the
index loses nothing.

The entries are stored as columns, one list per key with a value per run
(``_Table``), and a listing of unchanged runs takes its lists from them:
decoding 100,000 entries as mappings, and checking them one at a time, was
most of the time of such a listing. An entry is made for a run only when
it is looked at on its own (changed, new, or with problems). An optimistic
index (see ``RunIndex.confirm``) goes one step further: it lets a listing
be made from the stored identities while the runs are stat-ed, to be shown
only once the stats confirm them.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import marshal
import operator
import os
import stat
import sys
import time
import zlib
from collections.abc import Callable, Container, Iterable, Sequence
from typing import Any, NamedTuple

from maggot import forkshare, store
from maggot.config import flatten
from maggot.errors import CorruptRunError, MaggotError

INDEX_FORMAT_VERSION = 5
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

# keys of an entry besides its parts: the .maggot identity (see _identity), whether
# the run has a series folder, and the problems met reading each part
_IDENTITY = "identity"
_SERIES = "series"
_PROBLEMS = "problems"
# the results as the members of a JSON object, as ``summarize --format json`` writes them:
# encoding floats is most of the time of writing 100,000 rows, so it is done once per change
_RESULTS_JSON = "results_json"
# and as table cells (at full precision), joined by NUL; None when a cell holds a NUL
_RESULTS_TEXTS = "results_texts"


class Listing(NamedTuple):
    """The runs read for one listing, as a list per field (one item per run, in order).

    Lists of fields rather than a record per run: making 100,000 records is
    measurable, and a listing of unchanged runs takes most lists from the
    index's columns. Parts that were not asked for hold empty mappings.
    """

    paths: list[str]
    statuses: list[str]
    infos: list[dict[str, Any]]
    results: list[dict[str, Any]]
    configs: list[dict[str, Any]]
    gits: list[dict[str, Any]]
    annotations: list[dict[str, Any]]
    problems: list[tuple[str, ...]]
    # whether each run has a series folder: only those are read for series columns
    has_series: list[bool]
    # the results as the members of a JSON object (NaN/inf as null), when results were asked for
    results_json: list[str | None]
    # the results as table cells at full precision, joined by NUL (see summarize.table_value)
    results_texts: list[str | None]
    # each run's path relative to the root (else as given)
    relatives: list[str]
    warnings: list[str]


class _Table(NamedTuple):
    """Entries as columns, as an index file holds them.

    ``columns`` holds, by entry key, one value per run of ``relatives``
    (``_ABSENT`` where the run's entry has no such key). ``gone`` lists runs a
    changes file removes from the index file's.
    """

    relatives: list[str]
    columns: dict[str, list[Any]]
    gone: list[str]


# what a column holds for an entry without its key: marshal-able, and no JSON value
_ABSENT = ...
_ABSENT_TYPE = type(_ABSENT)


class _Part(NamedTuple):
    relative_path: str
    # turns the file's parsed JSON into the cached payload; raises CorruptRunError
    extract: Callable[[Any, str], Any]
    empty: Any
    missing_problem: str | None
    # problems with the file itself are reported by another part reading it (run.json's
    # by the status part, read by every listing), so that each is reported once
    reports_file: bool = True


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
    # a field of another type is left out, as records.RunInfo reads it: what the index
    # holds is checked against these types before it is believed
    return {column: value for column, value in info.items() if type(value) in _INFO_TYPES[column]}


def _extract_flat(data: Any, path: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise CorruptRunError(f"{path}: expected a JSON object, got {type(data).__name__}")
    # interned keys are one object across runs, which marshal then writes once; in key
    # order, the order of the columns they are shown in
    return {sys.intern(key): value for key, value in sorted(flatten(data).items())}


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
    PART_INFO: _Part(store.RUN_FILE, _extract_info, {}, None, reports_file=False),
    PART_RESULTS: _Part(store.RESULTS_FILE, _extract_flat, {}, None),
    PART_CONFIG: _Part(
        store.CONFIG_FILE, _extract_flat, {}, f"no {store.META_DIR}/{store.CONFIG_FILE}"
    ),
    PART_GIT: _Part(os.path.join(store.GIT_DIR, store.HEAD_FILE), _extract_git, {}, None),
    PART_ANNOTATIONS: _Part(store.ANNOTATIONS_FILE, _extract_annotations, {}, None),
}
# the git part, one level below .maggot, is cached with its own file's identity:
# [inode, size, mtime_ns, payload, problems]; size -1 is a missing file
_MISSING_IDENTITY = (0, -1, 0)
# plain concatenation with the run directory: os.path.join per file is measurable at 100,000 runs
_RELATIVE_PATHS = {
    part: os.sep + store.META_DIR + os.sep + spec.relative_path for part, spec in _PARTS.items()
}
_META_SUFFIX = os.sep + store.META_DIR
_SERIES_SUFFIX = os.sep + store.META_DIR + os.sep + "series"
# what each part's cached payload must be, checked before it is believed
_PAYLOAD_TYPES = {part: (str if part == PART_RUN else dict) for part in PARTS}
_NONE = type(None)
# and what the info and annotations payloads may hold, by key (see _contents_valid)
_INFO_TYPES: dict[str, set[type]] = {
    "started": {str, _NONE},
    "ended": {str, _NONE},
    "duration": {int, float, _NONE},
    "host": {str, _NONE},
    "sweep": {str, _NONE},
    "reproduction_of": {str, _NONE},
}
_ANNOTATION_KEYS = frozenset(("tags", "note"))
_GIT_TYPES: dict[str, set[type]] = {"commit": {str, _NONE}, "dirty": {bool, _NONE}}


def index_path(root: str) -> str:
    """Where the index of the runs under ``root`` is kept."""
    return os.path.join(root, store.INDEX_FILE)


def changes_path(root: str) -> str:
    """Where the entries changed since the index was written are kept, while they are few."""
    return os.path.join(root, store.INDEX_CHANGES_FILE)


class _Search(NamedTuple):
    """The runs a search found, and the folders it listed: [relative path, inode, mtime_ns]."""

    max_depth: int | None
    folders: list[list[Any]]
    runs: list[str]


class RunIndex:
    """The index of the runs under one directory, read once per listing."""

    def __init__(self, root: str, *, enabled: bool = True, optimistic: bool = False) -> None:
        self.root = root
        # DirEntry.path spells runs as root joined with their name: so does this prefix
        self.prefix = os.path.join(root, "")
        # never inside a run: its directory belongs to the run's own files
        self.enabled = enabled and not store.is_run_dir(root)
        self.warnings: list[str] = []
        self._search: _Search | None = None
        # the entries are decoded on first use: while a helper process stats the runs.
        # Those of the index file are the base; the changes file's replace them (None:
        # a run that is gone), and a write that changes few entries writes only those
        self._read_base: Callable[[], _Table] = _empty_table
        self._read_changes: Callable[[], _Table] | None = None
        self._base: _Table | None = None
        self._changes: dict[str, Any] = {}
        # the base's runs by relative path, made when a run is looked up on its own
        self._positions: dict[str, int] | None = None
        # the last list of runs aligned with the base, and its aligner (see _aligner)
        self._aligner_of: tuple[list[str], Callable[[str], list[Any]]] | None = None
        # .maggot identities taken for this listing, by run directory; None: no .maggot
        self._identities: dict[str, int | None] = {}
        # the runs the last search found, their paths relative to the root and their
        # identities, when find_runs took them from it (merged into _identities on demand)
        self._from_search: tuple[list[str], list[str], list[int | None]] | None = None
        # a changes file that is there but not sound, and how many of the warnings (which
        # only the index files add) a write has answered: an unsound file is written anew
        # by the next listing even when no entry changed, else it would warn on every one
        self._unsound_changes = False
        self._warnings_answered = 0
        if self.enabled:
            search, read_changes, present = _read_index(changes_path(root), self.warnings)
            # a changes file is written after the index file: its search is the newer one
            self._search, self._read_base, _ = _read_index(
                index_path(root), self.warnings, with_search=not present
            )
            if present:
                self._search, self._read_changes = search, read_changes
            else:
                self._unsound_changes = os.path.lexists(changes_path(root))
            _one_warning_for_both_files(root, self.warnings)
        self._new_search = self._search
        # listing runs given by the caller (a sweep's) keeps the entries of the others
        self._searched = False
        # an optimistic listing takes each run's identity to be the one the index holds
        # while their stats are taken (see confirm): the stats under way, what was assumed,
        # whether it held, and the runs found (kept for listing them again once it did not)
        self._optimistic = optimistic and self.enabled
        self._pending: _Stats | None = None
        # (runs, their paths relative to the root, their identities); runs is None when
        # they are the last search's (stat-ed while the folders were listed again)
        self._assumed: tuple[list[str] | None, list[str], list[int | None]] | None = None
        # the runs whose identity is assumed, and the index writes waiting for them
        self._assumed_runs: Container[str] = ()
        self._deferred_writes: list[Callable[[], None]] = []
        # the runs a search found, when the identities assumed are the last search's
        self._found_again: list[str] = []
        self._assumption_held = True
        self._found: tuple[int | None, list[str]] | None = None

    def confirm(self) -> bool:
        """Whether the identities an optimistic listing assumed are those the stats find.

        An optimistic index takes, while every folder the last search listed
        is unchanged and its index file holds those very runs, each run's
        ``.maggot`` identity to be the stored one, so that the listing is made
        while a helper process takes the stats; a listing must be confirmed
        before it is shown. When it is not, the stats' identities are used
        from then on: list again through the same index.
        """
        if self._pending is not None:
            pending, self._pending = self._pending, None
            identities = pending.finish()
            assert self._assumed is not None
            runs, relatives, assumed = self._assumed
            self._assumed_runs = ()
            writes, self._deferred_writes = self._deferred_writes, []
            differ = list(
                itertools.compress(itertools.count(), map(operator.ne, identities, assumed))
            )
            if differ and runs is None:
                # the last search's runs: only those found again matter (the others are gone)
                found = set(self._found_again)
                differ = [number for number in differ if relatives[number] in found]
            if not differ:
                for write in writes:
                    write()
            else:
                self._assumption_held = self._optimistic = False
                self._identities = {}
                self._from_search = None
                self._found = None
                # else a run lost its .maggot (search again), or the runs were the last
                # search's (list the folders again)
                if runs is not None and None not in identities:
                    self._from_search = (runs, relatives, identities)
                    self._found = (self._search.max_depth if self._search else None, runs)
        return self._assumption_held

    def close(self) -> None:
        """Stop the stats an unconfirmed optimistic listing left under way (writing nothing)."""
        if self._pending is not None:
            self._pending.close()
            self._pending = None
            self._deferred_writes = []

    @property
    def cached(self) -> dict[str, Any]:
        """The index's entries, by run path relative to the root (made on each call)."""
        base = self._decoded()
        entries = _as_entries(base)
        entries.update(self._changes)
        for relative in [key for key, entry in self._changes.items() if entry is None]:
            del entries[relative]
        return entries

    def _decoded(self) -> _Table:
        if self._base is None:
            self._base = self._read_base()
            if self._read_changes is not None:
                changes = self._read_changes()
                self._changes = {**_as_entries(changes), **dict.fromkeys(changes.gone)}
        return self._base

    def _base_positions(self) -> dict[str, int]:
        """The index file's runs, by path relative to the root: their positions in its table."""
        if self._positions is None:
            self._positions = dict(zip(self._decoded().relatives, itertools.count()))
        return self._positions

    def _entry(self, relative: str) -> Any:
        """The index's entry for a run: the changes file's, else the index file's, else None."""
        if relative in self._changes:
            return self._changes[relative]
        position = self._base_positions().get(relative)
        return None if position is None else _entry_at(self._decoded(), position)

    def find_runs(self, max_depth: int | None) -> list[str]:
        """Run directories under the root, sorted by path.

        While every folder listed by the last search is unchanged, the runs
        it found are taken without listing anything (each one's ``.maggot``
        is stat-ed, as the listing needs that anyway).
        """
        self._searched = True
        if self._found is not None and self._found[0] == max_depth:
            return self._found[1]
        if self.enabled:
            runs = self._runs_from_last_search(max_depth)
            if runs is not None:
                self._new_search = self._search
                return runs
        searched: list[tuple[str, os.stat_result]] = []
        if not self.enabled:
            return store.find_run_dirs(self.root, max_depth)
        # the runs the last search found are most of those found now (the search is made
        # again because some were added or removed): a helper stats them while the folders
        # are listed
        last = self._search
        early = None
        if last is not None and last.max_depth == max_depth and last.runs:
            early = (last.runs, _Stats(self.root, last.runs))
        try:
            # every folder taken for a run without a look: the stat of its .maggot the
            # listing needs anyway tells, and the folders that are not runs are searched then
            runs = store.find_run_dirs(
                self.root, max_depth, known_runs=store.EVERY_FOLDER, searched=searched
            )
            if runs != [self.root]:
                runs = self._without_non_runs(runs, max_depth, searched, early)
                skip = len(self.prefix)
                folders = [
                    [path[skip:] if path != self.root else "", status.st_ino, status.st_mtime_ns]
                    for path, status in searched
                ]
                found = self._from_search
                relatives = (
                    found[1]
                    if found is not None and found[0] is runs
                    else list(map(operator.itemgetter(slice(skip, None)), runs))
                )
                self._new_search = _Search(max_depth, folders, relatives)
        finally:
            if early is not None and early[1] is not self._pending:
                early[1].close()
        return runs

    def _without_non_runs(
        self,
        runs: list[str],
        max_depth: int | None,
        searched: list[tuple[str, os.stat_result]],
        early: tuple[list[str], _Stats] | None = None,
    ) -> list[str]:
        """``runs`` (folders taken for runs), those without a ``.maggot`` searched instead.

        ``early`` holds runs (relative to the root) whose stats were started
        before the search: only the others are stat-ed now.
        """
        skip = len(self.prefix)
        # in loops that run in C: a loop in Python over 100,000 paths is measurable
        if all(map(operator.methodcaller("startswith", self.prefix), runs)):
            inside = runs
        else:
            inside = [path for path in runs if path.startswith(self.prefix)]
        relatives = list(map(operator.itemgetter(slice(skip, None)), inside))
        # the entries are decoded while a helper process stats
        if early is None:
            found_identities = _identities(self.root, relatives, meanwhile=self._decoded)
        else:
            self._decoded()
            known: dict[str, Any]
            assumed = self._assumable(early[0]) if self._optimistic else None
            if assumed is None:
                known = dict(zip(early[0], early[1].finish()))
            else:
                # the stored identities, confirmed later (see confirm); the new runs' are taken
                known = dict(zip(early[0], assumed))
                self._pending, self._assumed = early[1], (None, early[0], assumed)
                self._assumed_runs, self._found_again = known, relatives
            found_identities = list(map(known.get, relatives, itertools.repeat(_UNKNOWN)))
            unknown = list(
                itertools.compress(
                    itertools.count(),
                    map(operator.is_, found_identities, itertools.repeat(_UNKNOWN)),
                )
            )
            fresh = _identities(self.root, [relatives[number] for number in unknown])
            for number, identity in zip(unknown, fresh):
                found_identities[number] = identity
        lost = list(itertools.compress(inside, map(operator.is_, found_identities, _NONES)))
        if not lost and len(inside) == len(runs):
            # as runs taken from the last search are: a map of 100,000 identities is 0.05 s
            self._from_search = (runs, relatives, found_identities)
            return runs
        self._identities.update(zip(inside, found_identities))
        if not lost:
            return runs
        found = set(runs) - set(lost)
        for path in lost:
            depth = len(path[skip:].split(os.sep))
            if max_depth is None or depth < max_depth:
                below = None if max_depth is None else max_depth - depth
                found.update(store.find_run_dirs(path, below, searched=searched))
        return sorted(found)

    def _runs_from_last_search(self, max_depth: int | None) -> list[str] | None:
        search = self._search
        if search is None or search.max_depth != max_depth:
            return None
        for relative, inode, mtime_ns in search.folders:
            try:
                status = os.stat(self.prefix + relative if relative else self.root)
            except OSError:
                return None
            if status.st_mtime_ns != mtime_ns or status.st_ino != inode:
                return None
        prefix = self.prefix
        runs = list(map(prefix.__add__, search.runs))
        stats = _Stats(self.root, search.runs)
        try:
            self._decoded()  # while a helper process stats
            assumed = self._assumable(search.runs) if self._optimistic else None
        except BaseException:
            stats.close()
            raise
        if assumed is not None:
            self._pending, self._assumed = stats, (runs, search.runs, assumed)
            self._from_search = (runs, search.runs, assumed)
            self._assumed_runs = store.EVERY_FOLDER  # every run
            return runs
        identities = stats.finish()
        if None in identities:
            return None  # a run lost its .maggot: search again, it may hold runs now
        self._from_search = (runs, search.runs, identities)
        return runs

    def _assumable(self, relatives: list[str]) -> list[int | None] | None:
        """The identities an optimistic listing may assume for ``relatives``, if any.

        Those the index holds (the changes file's, else the index file's) when
        it holds each of these runs with an identity, and there is no warning.
        """
        if self.warnings or self._unsound_changes:
            return None
        stored = self._aligner(relatives)(_IDENTITY)
        assumed = stored
        if self._changes:
            assumed = list(stored)
            for number in itertools.compress(
                itertools.count(), map(operator.is_, stored, itertools.repeat(_ABSENT))
            ):
                entry = self._changes.get(relatives[number])
                assumed[number] = entry.get(_IDENTITY) if type(entry) is dict else None
        if not set(map(type, assumed)) <= {int}:
            return None
        return assumed

    def load(
        self, run_dirs: Sequence[str], parts: Iterable[str], *, keep: Iterable[str] = ()
    ) -> Listing:
        """Read ``parts`` of each run in ``run_dirs``, from the index where they are unchanged.

        Runs in ``keep`` were found but are not listed this time (hidden
        reproductions): their entries stay in the index. Runs that vanished
        while listing are left out with a warning. The index is rewritten only
        when something changed.
        """
        wanted = [part for part in PARTS if part in set(parts) | {PART_RUN}]
        with_info, with_results = PART_INFO in wanted, PART_RESULTS in wanted
        with_config, with_git = PART_CONFIG in wanted, PART_GIT in wanted
        with_annotations = PART_ANNOTATIONS in wanted
        directory_parts = [part for part in wanted if part != PART_GIT]
        # checked one by one below: the parts every listing reads, then the others
        other_parts = [
            (part, _PAYLOAD_TYPES[part])
            for part in directory_parts
            if part not in (PART_RUN, PART_RESULTS)
        ]
        self._decoded()  # before the warnings are taken: decoding may add one
        warnings = list(self.warnings)
        started_ns = time.time_ns()
        count = len(run_dirs)
        while True:
            relatives, identities = self._relatives_and_identities(run_dirs)
            align = self._aligner(relatives)
            taken = (
                [False] * count  # a listing with git columns looks at each run's head.json
                if with_git
                else _unchanged(align, identities, directory_parts)
            )
            # the runs not taken in bulk, one by one: first those whose entry can be kept,
            # then those read again, many in parallel: (number, run_dir, relative, entry,
            # whether the entry is the index file's as it is), and (number, run_dir,
            # relative, identity, old)
            looked_at: list[tuple[int, str, str, dict[str, Any], bool]] = []
            to_read: list[tuple[int, str, str, int | None, Any]] = []
            vanished: list[int] = []
            for number in itertools.compress(itertools.count(), map(operator.not_, taken)):
                run_dir, relative = run_dirs[number], relatives[number]
                identity, found = identities[number], self._entry(relative)
                if (
                    identity is not None
                    and type(found) is dict
                    and found.get(_IDENTITY) == identity
                    and type(found.get(PART_RUN)) is str
                    and type(found.get(_SERIES)) is bool
                    and (
                        not with_results
                        or type(found.get(PART_RESULTS)) is dict
                        and type(found.get(_RESULTS_JSON)) is str
                        and type(found.get(_RESULTS_TEXTS, 0)) in _TEXTS_TYPES
                    )
                    and (not other_parts or all(type(found.get(p)) is t for p, t in other_parts))
                ):
                    as_stored = relative not in self._changes
                    looked_at.append((number, run_dir, relative, found, as_stored))
                elif identity is None and not store.is_run_dir(run_dir):
                    vanished.append(number)
                else:
                    to_read.append((number, run_dir, relative, identity, found))
            if looked_at:
                kept = list(map(operator.itemgetter(3), looked_at))
                columns = {
                    part: list(map(operator.itemgetter(part), kept))
                    for part in (PART_INFO, PART_ANNOTATIONS)
                    if part in directory_parts
                }
                columns[_PROBLEMS] = list(map(dict.get, kept, itertools.repeat(_PROBLEMS)))
                if not _contents_valid(columns):
                    # the few entries of the wrong shape are read again, from their files alone
                    valid = list(map(_entry_valid, kept))
                    to_read += [
                        (number, run_dir, relative, identities[number], None)
                        for (number, run_dir, relative, _, _), ok in zip(looked_at, valid)
                        if not ok
                    ]
                    looked_at = list(itertools.compress(looked_at, valid))
            assumed_runs = self._assumed_runs
            if self._pending is None or not (
                vanished or with_git or any(row[2] in assumed_runs for row in to_read)
            ):
                break
            # runs are read, and the index written, only with the identities the stats find
            self.confirm()
        warnings.extend(
            f"{run_dirs[number]}: no such run directory (removed while listing?)"
            for number in vanished
        )
        empty: dict[str, Any] = {}

        def field(key: str, asked: bool, default: Any) -> list[Any]:
            # a copy: the rows not taken are filled in below, and the caller may change it
            return list(align(key)) if asked else [default] * count

        listing = Listing(
            list(run_dirs),
            field(PART_RUN, True, None),
            field(PART_INFO, with_info, empty),
            field(PART_RESULTS, with_results, empty),
            field(PART_CONFIG, with_config, empty),
            [empty] * count,
            field(PART_ANNOTATIONS, with_annotations, empty),
            [()] * count,
            field(_SERIES, True, None),
            field(_RESULTS_JSON, with_results, None),
            field(_RESULTS_TEXTS, with_results, None),
            relatives,
            warnings,
        )

        def read(index: int) -> dict[str, Any]:
            _, run_dir, _, identity, found = to_read[index]
            return _read_entry(run_dir, directory_parts, identity, found)

        # the listing's lists the entries of runs looked at fill, and the entry key of each
        filled_from_entries = [
            (values, key)
            for values, key, asked in (
                (listing.statuses, PART_RUN, True),
                (listing.has_series, _SERIES, True),
                (listing.infos, PART_INFO, with_info),
                (listing.results, PART_RESULTS, with_results),
                (listing.results_json, _RESULTS_JSON, with_results),
                (listing.results_texts, _RESULTS_TEXTS, with_results),
                (listing.configs, PART_CONFIG, with_config),
                (listing.annotations, PART_ANNOTATIONS, with_annotations),
            )
            if asked
        ]
        modified = bool(to_read)
        if to_read:
            read_again = forkshare.shared_map(read, len(to_read))
            looked_at += [
                (number, run_dir, relative, entry, False)
                for (number, run_dir, relative, _, _), entry in zip(to_read, read_again)
            ]
        # the entries that differ from the index file's, by run
        changed: dict[str, Any] = {}
        for number, run_dir, relative, entry, as_stored in looked_at:
            if with_git:
                slot = entry.get(PART_GIT)
                if not _is_fresh(run_dir, slot):
                    entry = {**entry, PART_GIT: _read_git(run_dir)}
                    as_stored, modified = False, True
            if not as_stored:
                changed[relative] = entry
            part_problems = entry.get(_PROBLEMS)
            problems: tuple[str, ...] = ()
            if part_problems:
                problems = tuple(
                    run_dir + problem
                    for part in directory_parts
                    for problem in part_problems.get(part, ())
                )
            if with_git:
                listing.gits[number] = entry[PART_GIT][3]
                problems += tuple(run_dir + problem for problem in entry[PART_GIT][4])
            listing.problems[number] = problems
            for values, key in filled_from_entries:
                values[number] = entry[key]
        if vanished:
            present = [True] * count
            for number in vanished:
                present[number] = False
            listing = Listing._make(
                [*(list(itertools.compress(values, present)) for values in listing[:-1]), warnings]
            )
            relatives = list(itertools.compress(relatives, present))
        # the runs listed that the index held (an entry of the wrong shape counts as not held)
        held = len(relatives) - sum(1 for row in to_read if row[4] is None)
        self._update(relatives, keep, changed, modified, started_ns, held=held)
        return listing

    def _relatives_and_identities(
        self, run_dirs: Sequence[str]
    ) -> tuple[list[str], list[int | None]]:
        """Each run's path relative to the root (else as given) and its ``.maggot`` identity."""
        from_search = self._from_search
        if from_search is not None and run_dirs is from_search[0]:
            return from_search[1], from_search[2]
        if from_search is not None:
            self._identities.update(zip(from_search[0], from_search[2]))
            self._from_search = None
        prefix, skip = self.prefix, len(self.prefix)
        if all(map(operator.methodcaller("startswith", prefix), run_dirs)):
            relatives = list(map(operator.itemgetter(slice(skip, None)), run_dirs))
        else:
            relatives = [path[skip:] if path.startswith(prefix) else path for path in run_dirs]
            for number, path in enumerate(run_dirs):
                if not path.startswith(prefix):
                    # spelled another way (a sweep's runs are recorded by absolute path): the
                    # same entry when it lies under the root, else an entry of its own
                    try:
                        relative = os.path.relpath(path, self.root)
                    except ValueError:  # another drive (Windows)
                        continue
                    if relative.split(os.sep)[0] not in (os.pardir, os.curdir):
                        relatives[number] = relative
        unknown = [path for path in run_dirs if path not in self._identities]
        if unknown:
            inside = [path for path in unknown if path.startswith(prefix)]
            self._identities.update(zip(inside, _identities(self.root, [p[skip:] for p in inside])))
            for path in unknown:
                if not path.startswith(prefix):
                    self._identities[path] = _identity(path + _META_SUFFIX)
        return relatives, list(map(self._identities.__getitem__, run_dirs))

    def _aligner(self, relatives: list[str]) -> Callable[[str], list[Any]]:
        """A function giving the index file's column of a key, one value per run of ``relatives``.

        ``_ABSENT`` for a run it does not hold, or whose entry the changes file
        replaces (those are looked at one by one). The column itself when the
        index file holds the same runs in the same order: nothing is copied.
        """
        if self._aligner_of is not None and self._aligner_of[0] is relatives:
            return self._aligner_of[1]
        base = self._decoded()
        aligned: dict[str, list[Any]] = {}
        filled: list[int] | None = None
        if relatives != base.relatives or self._changes:
            positions = self._base_positions()
            if self._changes:
                positions = {**positions}
                for relative in self._changes:
                    positions.pop(relative, None)
            filled = list(map(positions.get, relatives, itertools.repeat(len(base.relatives))))
        # picks the values at those positions in one call (a tuple of them, from two on)
        pick = operator.itemgetter(*filled) if filled is not None and len(filled) > 1 else None

        def align(key: str) -> list[Any]:
            if key not in aligned:
                column = base.columns.get(key)
                if column is None:
                    aligned[key] = [_ABSENT] * len(relatives)
                elif filled is None:
                    aligned[key] = column
                elif pick is not None:
                    aligned[key] = list(pick([*column, _ABSENT]))
                else:
                    aligned[key] = [[*column, _ABSENT][position] for position in filled]
            return aligned[key]

        self._aligner_of = (relatives, align)
        return align

    def _update(
        self,
        relatives: list[str],
        keep: Iterable[str],
        changed: dict[str, Any],
        modified: bool,
        started_ns: int,
        *,
        held: int,
    ) -> None:
        """Take the listing's entries in, and write the index when they changed.

        ``relatives`` are the runs listed, ``changed`` their entries that differ
        from the index file's, ``modified`` whether any was read again,
        ``held`` how many of them the index held an entry for. The write
        waits while identities are assumed (see confirm).
        """
        base, old = self._decoded(), self._changes
        skip = len(self.prefix)
        kept = [run_dir[skip:] for run_dir in keep]
        changes: dict[str, Any] = {}
        if not self._searched:
            changes.update(old)  # a listing of given runs keeps the others' entries
        elif relatives != base.relatives or old or kept:
            if self._holds_only(held, kept):
                # no run is gone: only the changes file's entries of runs not listed are kept
                kept_set = set(kept)
                changes.update(
                    (relative, entry)
                    for relative, entry in old.items()
                    if entry is None or relative in kept_set
                )
            else:
                present = set(relatives).union(kept)
                changes.update((relative, old[relative]) for relative in kept if relative in old)
                gone = itertools.filterfalse(present.__contains__, base.relatives)
                changes.update(dict.fromkeys(gone))
        changes.update(changed)
        differs = modified or changes.keys() != old.keys()
        differs = differs or any(changes[relative] is not old[relative] for relative in changes)
        search_changed = self._new_search is not self._search
        unsound = self._unsound_changes or len(self.warnings) > self._warnings_answered
        if self.enabled and (differs or search_changed or unsound):
            self._base, self._changes, write = _index_files(
                self.root, base, changes, self._new_search, started_ns
            )
            if self._pending is None:
                write()
            else:  # written once the identities assumed are confirmed
                self._deferred_writes.append(write)
            if self._base is not base:
                self._positions = None
            self._aligner_of = None
            self._unsound_changes = False
            self._warnings_answered = len(self.warnings)
        elif differs:  # not written: held for the next load of this listing
            self._changes = changes
            self._aligner_of = None
        self._search = self._new_search

    def _holds_only(self, listed: int, kept: list[str]) -> bool:
        """Whether the index holds as many runs as ``listed`` (the runs listed it holds) and
        ``kept`` together, and each of ``kept``: then it holds no other run."""
        base, changes = self._decoded(), self._changes
        in_base = self._base_positions()
        held = len(base.relatives)
        for relative, entry in changes.items():
            if entry is None and relative in in_base:
                held -= 1
            elif entry is not None and relative not in in_base:
                held += 1
        return held == listed + len(kept) and all(
            changes[relative] is not None if relative in changes else relative in in_base
            for relative in kept
        )


def _unchanged(
    align: Callable[[str], list[Any]], identities: list[int | None], parts: Sequence[str]
) -> list[bool]:
    """Whether each run can be taken from the index file as it is.

    The checks ``RunIndex.load`` makes for one run at a time, made one key
    at a time over all runs by loops that run in C: its ``.maggot`` is
    unchanged, its entry has no problems and holds each part asked for with
    a payload of the right shape. The others are looked at one by one.
    """
    allowed: dict[str, set[type]] = {part: {_PAYLOAD_TYPES[part]} for part in parts}
    allowed[_SERIES] = {bool}
    if PART_RESULTS in parts:
        allowed.update({_RESULTS_JSON: {str}, _RESULTS_TEXTS: set(_TEXTS_TYPES)})
    stored, problems = align(_IDENTITY), align(_PROBLEMS)
    count = len(identities)
    numbers = itertools.count
    # the runs that fail a check, from loops in C over each column: few, or none
    failing: list[Iterable[int]] = []
    if stored != identities:
        failing.append(itertools.compress(numbers(), map(operator.ne, stored, identities)))
    if None in identities:
        failing.append(itertools.compress(numbers(), map(operator.is_, identities, _NONES)))
    if problems.count(_ABSENT) != count:
        absent = itertools.repeat(_ABSENT)
        failing.append(itertools.compress(numbers(), map(operator.is_not, problems, absent)))
    for key, types in allowed.items():
        column = align(key)
        found = set(map(type, column))
        if found <= types:
            continue
        if found <= types | {_ABSENT_TYPE}:  # runs the index file lacks: the cheaper test
            absent = itertools.repeat(_ABSENT)
            failing.append(itertools.compress(numbers(), map(operator.is_, column, absent)))
        else:
            wrong = map(operator.not_, map(types.__contains__, map(type, column)))
            failing.append(itertools.compress(numbers(), wrong))
    taken = [True] * count
    for number in itertools.chain.from_iterable(failing):
        taken[number] = False
    every = len(taken) == taken.count(True)
    checked = [part for part in (PART_INFO, PART_ANNOTATIONS) if part in parts]
    if checked and not _contents_valid(
        {
            part: align(part) if every else list(itertools.compress(align(part), taken))
            for part in checked
        }
    ):
        # an entry holding values of the wrong shape: those are read again
        columns = [align(part) for part in checked]
        for number in itertools.compress(itertools.count(), taken):
            entry = {part: column[number] for part, column in zip(checked, columns)}
            taken[number] = _entry_valid(entry)
    return taken


_NONES = itertools.repeat(None)

# a run whose identity is still to be taken
_UNKNOWN = object()


def _contents_valid(columns: dict[str, list[Any]]) -> bool:
    """Whether cached payloads hold what reading the run files gives (else they are read again).

    ``columns`` holds, by part (and ``_PROBLEMS``), one value per run, of the
    type ``_PAYLOAD_TYPES`` names (checked already) for parts. The info and
    annotations payloads and the problems are checked a key at a time over all
    runs, in loops that run in C; results and config hold any JSON value.
    """
    infos = columns.get(PART_INFO)
    if infos:
        if not set(itertools.chain.from_iterable(infos)) <= _INFO_TYPES.keys():
            return False
        if not _values_of_types(infos, _INFO_TYPES):
            return False
    annotations = columns.get(PART_ANNOTATIONS)
    if annotations:
        if not set(itertools.chain.from_iterable(annotations)) <= _ANNOTATION_KEYS:
            return False
        tags = list(map(dict.get, annotations, itertools.repeat("tags"), itertools.repeat([])))
        notes = map(dict.get, annotations, itertools.repeat("note"), itertools.repeat(""))
        if (
            not set(map(type, tags)) <= {list}
            or not set(map(type, itertools.chain.from_iterable(tags))) <= {str}
            or not set(map(type, notes)) <= {str}
        ):
            return False
    problems = columns.get(_PROBLEMS)
    if problems:
        if not set(map(type, problems)) <= {dict, _NONE}:
            return False
        found = list(filter(None, problems))
        if not set(itertools.chain.from_iterable(found)) <= set(PARTS):
            return False
        lists = list(itertools.chain.from_iterable(map(dict.values, found)))
        if not set(map(type, lists)) <= {list} or not _strings(lists):
            return False
    return True


def _values_of_types(mappings: list[dict[str, Any]], types: dict[str, set[type]]) -> bool:
    """Whether each mapping's value for each key of ``types`` (None when absent) is of its types."""
    for key, allowed in types.items():
        if not set(map(type, map(dict.get, mappings, itertools.repeat(key)))) <= allowed:
            return False
    return True


def _strings(lists: Iterable[list[Any]]) -> bool:
    """Whether every item of every list is a string."""
    return set(map(type, itertools.chain.from_iterable(lists))) <= {str}


def _entry_valid(entry: dict[str, Any]) -> bool:
    """``_contents_valid`` for one entry: its problems, and its info and annotations if any."""
    columns = {
        part: [entry[part]]
        for part in (PART_INFO, PART_ANNOTATIONS)
        if type(entry.get(part)) is dict
    }
    columns[_PROBLEMS] = [entry.get(_PROBLEMS)]
    return _contents_valid(columns)


def _identity(meta_dir: str) -> int | None:
    """A directory's mtime and inode as one number (one object per run in the index)."""
    try:
        status = os.stat(meta_dir)
    except OSError:
        return None
    return status.st_mtime_ns << 64 | status.st_ino


def _identities(
    root: str, relative_runs: Sequence[str], *, meanwhile: Callable[[], object] | None = None
) -> list[int | None]:
    """The identity of each run's ``.maggot`` (None when it has none), one stat each.

    Long lists are shared with a helper process, while it does ``meanwhile``.
    """
    with _Stats(root, relative_runs) as stats:
        if meanwhile is not None:
            meanwhile()
        return stats.finish()


class _Stats:
    """The identities of runs' ``.maggot`` being taken, by a helper process for long lists.

    Relative to an open ``root``: the kernel then resolves two names per run
    instead of the whole path, measured a fifth faster at 100,000 runs.
    """

    def __init__(self, root: str, relative_runs: Sequence[str]) -> None:
        descriptor = -1
        if os.stat in os.supports_dir_fd:
            with contextlib.suppress(OSError):
                descriptor = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        self._descriptor = descriptor
        stat, suffix = os.stat, _META_SUFFIX

        def identity(index: int) -> int | None:
            try:
                if descriptor < 0:
                    status = stat(os.path.join(root, relative_runs[index]) + suffix)
                else:
                    status = stat(relative_runs[index] + suffix, dir_fd=descriptor)
            except OSError:
                return None
            return status.st_mtime_ns << 64 | status.st_ino

        self._shared = forkshare.start(identity, len(relative_runs))

    def finish(self) -> list[int | None]:
        try:
            return self._shared.finish()
        finally:
            self.close()

    def close(self) -> None:
        self._shared.close()
        if self._descriptor >= 0:
            os.close(self._descriptor)
            self._descriptor = -1

    def __enter__(self) -> _Stats:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _read_entry(
    run_dir: str, parts: Sequence[str], identity: int | None, old: Any
) -> dict[str, Any]:
    """An entry for the run's files as they are now (read after its identity was taken)."""
    entry: dict[str, Any] = {}
    problems: dict[str, list[str]] = {}
    old_problems = old.get(_PROBLEMS) if type(old) is dict else None
    if (
        identity is not None
        and type(old) is dict
        and old.get(_IDENTITY) == identity
        and type(old.get(_SERIES)) is bool
        and (old_problems is None or type(old_problems) is dict)
        and _entry_valid(old)
    ):
        # the directory is unchanged: keep the parts read before, read the others
        for part, payload_type in _PAYLOAD_TYPES.items():
            if part != PART_GIT and type(old.get(part)) is payload_type:
                entry[part] = old[part]
                if old_problems and type(old_problems.get(part)) is list:
                    problems[part] = old_problems[part]
        if (
            PART_RESULTS in entry
            and type(old.get(_RESULTS_JSON)) is str
            and type(old.get(_RESULTS_TEXTS, 0)) in _TEXTS_TYPES
        ):
            entry[_RESULTS_JSON] = old[_RESULTS_JSON]
            entry[_RESULTS_TEXTS] = old[_RESULTS_TEXTS]
        else:
            entry.pop(PART_RESULTS, None)
        entry[_SERIES] = old[_SERIES]
    else:
        entry[_SERIES] = os.path.isdir(run_dir + _SERIES_SUFFIX)
    if identity is not None:
        entry[_IDENTITY] = identity
    parsed: dict[str, Any] = {}
    for part in parts:
        if part not in entry:
            payload, part_problems = _read_part(run_dir, part, parsed)
            entry[part] = payload
            if part_problems:
                problems[part] = part_problems
    if PART_RESULTS in entry and _RESULTS_JSON not in entry:
        entry[_RESULTS_JSON] = _members(entry[PART_RESULTS])
        entry[_RESULTS_TEXTS] = _cells(entry[PART_RESULTS])
    if problems:
        entry[_PROBLEMS] = problems
    if type(old) is dict and PART_GIT in old:
        entry[PART_GIT] = old[PART_GIT]  # checked by its own identity
    return entry


def _read_part(run_dir: str, part: str, parsed: dict[str, Any]) -> tuple[Any, list[str]]:
    """A part's payload as its file is now, and the problems met reading it.

    ``parsed`` keeps each file's JSON for the other parts read from it (run.json).
    """
    spec = _PARTS[part]
    relative = _RELATIVE_PATHS[part]
    path = run_dir + relative
    data = parsed.get(relative)
    if data is None:
        try:
            data = store.parse_json(store.read_bytes(path, store.MAX_JSON_BYTES), path)
        except FileNotFoundError:
            return spec.empty, ([f": {spec.missing_problem}"] if spec.missing_problem else [])
        except MaggotError as error:  # not a regular file, too large, not JSON
            problem = relative + str(error).removeprefix(path)
            return spec.empty, [problem] if spec.reports_file else []
        except OSError as error:
            return spec.empty, [f"{relative}: {error.strerror}"] if spec.reports_file else []
        parsed[relative] = data
    try:
        return spec.extract(data, path), []
    except MaggotError as error:
        return spec.empty, [relative + str(error).removeprefix(path)]


def _members(results: dict[str, Any]) -> str:
    """``{"a": 1, "b": 2}`` as ``"a": 1, "b": 2``: JSON with NaN and infinities as null."""
    global _encode
    if _encode is None:
        _encode = store.strict_json_encoder(ensure_ascii=False)
    return _encode(results)[1:-1]


def _cells(results: dict[str, Any]) -> str | None:
    """The results as table cells joined by NUL, or None when a cell holds a NUL itself."""
    from maggot.summarize import table_value  # which imports this module

    texts = "\0".join(map(table_value, results.values()))
    return None if texts.count("\0") != max(len(results) - 1, 0) else texts


_TEXTS_TYPES = (str, type(None))
# made once, on first use: making an encoder per run is measurable
_encode: Callable[[Any], str] | None = None


def _is_fresh(run_dir: str, slot: Any) -> bool:
    """Whether a cached git slot still describes ``git/head.json`` (one stat)."""
    if type(slot) is not list or len(slot) != 5 or type(slot[4]) is not list:
        return False
    if type(slot[3]) is not dict or not _strings([slot[4]]):
        return False
    if not slot[3].keys() <= _GIT_TYPES.keys() or not _values_of_types([slot[3]], _GIT_TYPES):
        return False
    try:
        stat = os.stat(run_dir + _RELATIVE_PATHS[PART_GIT])
    except FileNotFoundError:
        if slot[1] != _MISSING_IDENTITY[1]:
            return False
    except OSError:
        return False
    else:
        if slot[2] != stat.st_mtime_ns or slot[1] != stat.st_size or slot[0] != stat.st_ino:
            return False
    return type(slot[3]) is dict


def _read_git(run_dir: str) -> list[Any]:
    """A git slot for ``git/head.json`` as it is now: identity, payload, problems."""
    spec = _PARTS[PART_GIT]
    relative = _RELATIVE_PATHS[PART_GIT]
    path = run_dir + relative
    try:
        stat, content = store.read_file(path, store.MAX_JSON_BYTES)
    except FileNotFoundError:
        return [*_MISSING_IDENTITY, spec.empty, []]
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


def _read_index(
    path: str, warnings: list[str], *, with_search: bool = True
) -> tuple[_Search | None, Callable[[], _Table], bool]:
    """The stored search, a function decoding the entries, and whether the file was sound.

    Without ``with_search`` the search is neither checked nor decoded (None).

    An index file (and a changes file) is a header line, a line of checksums
    and lengths, then the search and the entries, each as ``marshal`` data:
    the search is decoded first so the runs it found can be stat-ed while the
    entries are decoded.
    """
    try:
        content = _read_regular_file(path)
    except (FileNotFoundError, NotADirectoryError):  # none yet, or an older single-file index
        return None, _empty_table, False
    except IsADirectoryError:
        # not maggot's to remove, and no index can be written over it
        warnings.append(f"{path}: a directory where the listing index belongs; listing without it")
        return None, _empty_table, False
    except OSError as error:
        # a write may still replace it (else the next listing says this again)
        warnings.append(path + _unreadable(error.strerror or str(error)))
        return None, _empty_table, False
    # offsets and views rather than partition: each copy of 20 MB is measurable
    end_of_header = content.find(b"\n")
    if end_of_header < 0:
        end_of_header = len(content)
    end_of_sums = content.find(b"\n", end_of_header + 1)
    if end_of_sums < 0:
        end_of_sums = len(content)
    header = content[:end_of_header]
    if header != _header():
        if not header.startswith(_MAGIC):
            warnings.append(f"{path}: not a listing index; rebuilding it")
        # written by another maggot or Python version: rebuilt quietly
        return None, _empty_table, False
    sums = content[end_of_header + 1 : end_of_sums].split()
    body = memoryview(content)[end_of_sums + 1 :]
    search_length = int(sums[1]) if len(sums) == 3 and sums[1].isdigit() else -1
    search_part, entries_part = body[:search_length], body[search_length:]

    def decode(part: memoryview, digest: bytes) -> Any:
        """The part's content, or _CORRUPT (with a warning)."""
        if digest != _digest(part):
            warnings.append(f"{path}: corrupt listing index (checksum mismatch); rebuilding it")
            return _CORRUPT
        try:
            return marshal.loads(part)
        except (EOFError, ValueError, TypeError) as error:
            warnings.append(f"{path}: corrupt listing index ({error}); rebuilding it")
            return _CORRUPT

    if search_length < 0:
        warnings.append(f"{path}: corrupt listing index (no checksums); rebuilding it")
        return None, _empty_table, False

    def read_entries() -> _Table:
        table = decode(entries_part, sums[2])
        if table is _CORRUPT:
            return _empty_table()
        valid = _valid_table(table)
        if valid is None:
            warnings.append(f"{path}: corrupt listing index (not a table); rebuilding it")
            return _empty_table()
        return valid

    if not with_search:
        return None, read_entries, True
    search = decode(search_part, sums[0])
    if search is _CORRUPT:
        return None, _empty_table, False
    return _valid_search(search), read_entries, True


_CORRUPT = object()


def _one_warning_for_both_files(root: str, warnings: list[str]) -> None:
    """Both index files denied (the folder's permissions, most likely) said once, of the folder."""
    denied = _unreadable(os.strerror(errno.EACCES))
    if warnings == [changes_path(root) + denied, index_path(root) + denied]:
        warnings[:] = [os.path.join(root, store.INDEX_DIR) + denied]


def _unreadable(reason: str) -> str:
    """The warning of an index file that cannot be read, after its path."""
    return f": unreadable listing index ({reason}); listing without it"


def _read_regular_file(path: str) -> bytes:
    """The file's content; OSError (EINVAL) for a FIFO, socket or device, which a plain
    open could block on or read without end."""
    # opened without blocking: opening a FIFO with no writer waits for one
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(descriptor, "rb") as file:
        mode = os.fstat(descriptor).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        return file.read()


def _valid_search(data: Any) -> _Search | None:
    """The stored search, when it has the shape one has (else a new search is made)."""
    if type(data) is not tuple or len(data) != 3:
        return None
    max_depth, folders, runs = data
    if max_depth is not None and type(max_depth) is not int:
        return None
    if type(folders) is not list or type(runs) is not list:
        return None
    for folder in folders:
        if (
            type(folder) is not list
            or len(folder) != 3
            or type(folder[0]) is not str
            or type(folder[1]) is not int
            or type(folder[2]) is not int
        ):
            return None
    if not set(map(type, runs)) <= {str}:
        return None
    return _Search(max_depth, folders, runs)


def _header() -> bytes:
    # marshal's format changes between Python versions: an index from another is not read
    python = f"{sys.implementation.cache_tag}-{marshal.version}"
    return _MAGIC + f" {INDEX_FORMAT_VERSION} {python}".encode()


def _digest(body: bytes | memoryview) -> bytes:
    # a check against a torn or damaged file, not against a forger (who could write a
    # valid index anyway): CRC-32 reads 12 MB several times faster than a hash
    return b"%08x" % zlib.crc32(body)


def _index_files(
    root: str, base: _Table, changes: dict[str, Any], search: _Search | None, started_ns: int
) -> tuple[_Table, dict[str, Any], Callable[[], None]]:
    """The index of ``base`` with ``changes``: its index file's table and changes, and a
    function writing them.

    When few entries differ from ``base`` (the index file's), only they are
    written, to the changes file: rewriting 20 MB for each run a sweep adds
    would be most of the time of a listing while it runs. Any entry, from
    either file, is believed only while its run's identity is unchanged, so
    a changes file read with an index file another listing wrote in between
    shows no stale run: at worst a few runs are read again. What is not
    written (a read-only directory) is returned all the same, for the next
    load of this listing.
    """
    # a directory or file changed just now may change again within its mtime tick: read it
    # again next time
    recent = started_ns - RACY_NANOSECONDS
    stored_search = None
    if search is not None and all(mtime_ns < recent for _, _, mtime_ns in search.folders):
        stored_search = tuple(search)
    if base.relatives and len(changes) <= len(base.relatives) // _CHANGES_PER_REWRITE:
        entries = {relative: entry for relative, entry in changes.items() if entry}
        changes = {**changes, **_without_racy(entries, recent)}

        def write_changes() -> None:
            with contextlib.suppress(OSError):  # a read-only experiments directory has no index
                _make_folder(root)
                store.write_bytes_atomic(changes_path(root), *encode(changes, stored_search))

        return base, changes, write_changes
    table = _table_without_racy(_merged(base, changes), recent)

    def write_index() -> None:
        with contextlib.suppress(OSError):
            _make_folder(root)
            store.write_bytes_atomic(index_path(root), *_encode_table(table, stored_search))
            with contextlib.suppress(FileNotFoundError):
                os.unlink(changes_path(root))

    return table, {}, write_index


# the index file is rewritten when more than one entry in this many changed since
_CHANGES_PER_REWRITE = 8


def _merged(base: _Table, changes: dict[str, Any]) -> _Table:
    """The table of ``base`` with ``changes`` (None: a run gone), its runs sorted."""
    if not changes:
        return base
    kept = list(map(operator.not_, map(changes.__contains__, base.relatives)))
    added = [(relative, entry) for relative, entry in changes.items() if type(entry) is dict]
    entries = [entry for _, entry in added]
    relatives = [*itertools.compress(base.relatives, kept), *(relative for relative, _ in added)]
    columns: dict[str, list[Any]] = {}
    for key in set(base.columns).union(*map(dict.keys, entries)):
        column = base.columns.get(key)
        values = (
            list(itertools.compress(column, kept))
            if column is not None
            else [_ABSENT] * (len(relatives) - len(added))
        )
        values += map(dict.get, entries, itertools.repeat(key), itertools.repeat(_ABSENT))
        columns[key] = values
    if relatives != sorted(relatives):
        # in the order runs are listed: the next listing of the same runs copies no column
        order = sorted(range(len(relatives)), key=relatives.__getitem__)
        relatives = list(map(relatives.__getitem__, order))
        columns = {key: list(map(values.__getitem__, order)) for key, values in columns.items()}
    return _Table(relatives, columns, [])


def _table_without_racy(table: _Table, recent: int) -> _Table:
    """``table`` without the identities and git slots that changed at or after ``recent``."""
    columns = dict(table.columns)
    identities = columns.get(_IDENTITY)
    if identities is not None:
        threshold = recent << 64
        columns[_IDENTITY] = [
            identity if type(identity) is int and identity < threshold else _ABSENT
            for identity in identities
        ]
    slots = columns.get(PART_GIT)
    if slots is not None:
        columns[PART_GIT] = [slot if _settled(slot, recent) else _ABSENT for slot in slots]
    return _Table(table.relatives, columns, [])


def _without_racy(entries: dict[str, Any], recent: int) -> dict[str, Any]:
    """``entries`` without the identities and git slots that changed at or after ``recent``."""
    kept = dict(entries)
    for relative, entry in entries.items():
        identity = entry.get(_IDENTITY)
        git = entry.get(PART_GIT, _ABSENT)
        racy_identity = type(identity) is int and identity >> 64 >= recent
        if racy_identity or not _settled(git, recent):
            entry = kept[relative] = dict(entry)  # copied only here: a copy of each is measurable
            if racy_identity:
                del entry[_IDENTITY]
            if not _settled(git, recent):
                del entry[PART_GIT]
    return kept


def _settled(slot: Any, recent: int) -> bool:
    """Whether a git slot (or its absence) may be kept: it did not change at or after ``recent``."""
    return slot is _ABSENT or (
        type(slot) is list
        and len(slot) == 5
        and (slot[1] == _MISSING_IDENTITY[1] or (slot[1] >= 0 and slot[2] < recent))
    )


def encode(runs: dict[str, Any], search: tuple[Any, ...] | None) -> list[bytes]:
    """The content of an index file holding ``runs`` (entries; None: gone) and ``search``."""
    return _encode_table(_as_table(runs), search)


def _encode_table(table: _Table, search: tuple[Any, ...] | None) -> list[bytes]:
    search_part, entries_part = marshal.dumps(search), marshal.dumps(tuple(table))
    sums = b"%s %d %s" % (_digest(search_part), len(search_part), _digest(entries_part))
    return [_header(), b"\n", sums, b"\n", search_part, entries_part]


def _as_table(entries: dict[str, Any]) -> _Table:
    """``entries`` (by run; None: a run gone) as a table; those not mappings are left out."""
    runs = {relative: entry for relative, entry in entries.items() if type(entry) is dict}
    values = list(runs.values())
    columns = {
        key: list(map(dict.get, values, itertools.repeat(key), itertools.repeat(_ABSENT)))
        for key in set(itertools.chain.from_iterable(values))
    }
    gone = [relative for relative, entry in entries.items() if entry is None]
    return _Table(list(runs), columns, gone)


def _as_entries(table: _Table) -> dict[str, dict[str, Any]]:
    """The table's entries by run (each a new mapping)."""
    keys = list(table.columns)
    rows = zip(*table.columns.values()) if keys else itertools.repeat(())
    return {
        relative: {key: value for key, value in zip(keys, row) if value is not _ABSENT}
        for relative, row in zip(table.relatives, rows)
    }


def _entry_at(table: _Table, position: int) -> dict[str, Any]:
    """The entry of the table's run at ``position``."""
    entry = {}
    for key, column in table.columns.items():
        value = column[position]
        if value is not _ABSENT:
            entry[key] = value
    return entry


def _empty_table() -> _Table:
    return _Table([], {}, [])


def _valid_table(data: Any) -> _Table | None:
    """The stored table, when it has the shape of one."""
    if type(data) is not tuple or len(data) != 3:
        return None
    relatives, columns, gone = data
    if type(relatives) is not list or type(columns) is not dict or type(gone) is not list:
        return None
    if not set(map(type, relatives)) <= {str} or not set(map(type, gone)) <= {str}:
        return None
    if not set(map(type, columns)) <= {str} or not set(map(type, columns.values())) <= {list}:
        return None
    if not set(map(len, columns.values())) <= {len(relatives)}:
        return None
    return _Table(relatives, columns, gone)


def _make_folder(root: str) -> None:
    """The index's folder, replacing an older single-file index; quietly, when it can."""
    folder = os.path.join(root, store.INDEX_DIR)
    if os.path.isdir(folder):
        return
    with contextlib.suppress(OSError):
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            os.unlink(folder)  # an older single-file index in the way
        os.mkdir(folder)
