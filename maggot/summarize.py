"""Tables of runs: collect one row per run, filter, sort, and render as text, JSON or CSV."""

from __future__ import annotations

import contextlib
import csv
import fnmatch
import gc
import io
import itertools
import json
import math
import operator
import os
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple, Protocol

from maggot import query, series, store
from maggot.errors import MaggotError, NotARunError
from maggot.index import (
    PART_ANNOTATIONS,
    PART_CONFIG,
    PART_GIT,
    PART_INFO,
    PART_RESULTS,
    Listing,
    RunIndex,
)
from maggot.terminal import printable, printable_json

FORMATS = ("table", "json", "csv", "markdown")
DEFAULT_DEPTH = 3
DEFAULT_DIR = "experiments"
RUN_COLUMN = "run"
STATUS_COLUMN = "status"
CONFIG_PREFIX = "config."
INFO_PREFIX = "info."
# run information shown as columns on request: from run.json, git/head.json and annotations
INFO_COLUMNS = ("commit", "dirty", "started", "ended", "duration", "host", "sweep", "tags", "note")
_GIT_COLUMNS = ("commit", "dirty")
_ANNOTATION_COLUMNS = ("tags", "note")
# a cell a run has no value for; None is a real (JSON null) value
_MISSING: Any = query.MISSING

ValueReader = Callable[[str], Any]


class ColumnProvider(Protocol):
    """Extra columns computed from a run directory (e.g. a series' minimum).

    Called with a key a listing asks for (``--columns``, ``--filter``,
    ``--sort``) that is not a run, status, metric, config or info column;
    returns a function from run directory to value (or ``MISSING``), or None
    when the key is not one it provides.
    """

    def __call__(self, key: str) -> ValueReader | None: ...


_providers: list[ColumnProvider] = []


def register_column_provider(provider: ColumnProvider) -> None:
    """Make ``provider``'s columns available to every summary in this process."""
    if provider not in _providers:
        _providers.append(provider)


class SummarizeError(MaggotError):
    """A summary that cannot be made (a sort or filter key no run has)."""


class RunRow(NamedTuple):
    """One run in a summary; ``info`` holds info and provided columns that were asked for."""

    run: str
    path: str
    status: str
    metrics: dict[str, Any]
    params: dict[str, Any]
    info: dict[str, Any]
    # ``metrics`` as the members of a JSON object, and as table cells joined by NUL, when
    # known (see index.Listing)
    metrics_json: str | None = None
    metrics_texts: str | None = None


class Column(NamedTuple):
    """A column: its header, and where a row keeps its value (``run``/``status`` or a dict)."""

    header: str
    source: str
    key: str


class Summary(NamedTuple):
    """The runs under a directory, filtered and sorted, ready to render."""

    rows: list[RunRow]
    columns_shown: list[Column]
    warnings: list[str]
    runs_found: int
    # with no run within the depth: how many lie deeper, and the depth that reaches the nearest
    deeper_runs: int = 0
    nearest_depth: int | None = None

    @property
    def columns(self) -> list[str]:
        """Column headers in order: run, status, info, metrics, config, provided."""
        return [column.header for column in self.columns_shown]


def summarize(
    root: str = DEFAULT_DIR,
    *,
    max_depth: int | None = DEFAULT_DEPTH,
    with_params: bool = False,
    filters: Sequence[query.Filter] = (),
    sort_key: str | None = None,
    ascending: bool = False,
    columns: Sequence[str] = (),
    drop: Sequence[str] = (),
    only_changed: bool = False,
    info: Sequence[str] = (),
    limit: int | None = None,
    with_repros: bool = False,
    use_index: bool = True,
    series_stats: Sequence[str] = series.DEFAULT_STATS,
    run_dirs: Sequence[str] | None = None,
    run_index: RunIndex | None = None,
) -> Summary:
    """Collect the runs under ``root`` (at most ``max_depth`` levels down) into rows.

    Only the files a summary needs are read, and through the listing index
    only when they changed. A key names ``run``, ``status``, a metric, else an
    info column shown under that name (in ``info``, or named in ``columns``),
    else a config value, else an info column (``config.KEY`` and ``info.KEY``
    say which). Filters are ANDed. Sorting is descending unless ``ascending``;
    runs without the key go last. Reproductions (``RUN.repro-N``) are left out
    unless ``with_repros``, and then follow their original. ``columns`` and
    ``drop`` are glob patterns over headers; ``only_changed`` shows only the
    config columns whose value differs between the rows. ``run_dirs`` lists
    these runs instead of those under ``root`` (a sweep's). Raises NotARunError
    for a missing ``root`` and SummarizeError for a key no run has. A run's
    series add columns: ``loss`` (its last value), and ``loss.min`` ... for
    each stat in ``series_stats`` or named by a key asked for; a result of the
    same name wins. Series are read afresh each time, never from the index,
    so a run still logging shows its latest points. ``run_index`` is the
    index to list through (one is made for ``root`` when None): an
    optimistic one's summary is believed only once it confirms it.
    """
    if not os.path.isdir(root):
        raise NotARunError(f"{root}: no such directory")
    for name in info:
        if name.removeprefix(INFO_PREFIX) not in INFO_COLUMNS:
            raise SummarizeError(unknown_info_column(name))
    requested = [key for item in filters for key in item.used_keys()]
    if sort_key is not None:
        requested.append(sort_key)
    exact = [pattern for pattern in columns if not _is_glob(pattern)]
    info_names = _info_names([*info, *exact, *requested])
    # a bare key names the column shown under that name: an info column asked for (by --info,
    # or by name in --columns) is shown as KEY, and a config value of that name as config.KEY,
    # unless a metric has the name; else a config value wins over an info column
    shown_info = _info_names(exact if columns else info)
    parts = {PART_RESULTS}
    if any(name not in _GIT_COLUMNS and name not in _ANNOTATION_COLUMNS for name in info_names):
        parts.add(PART_INFO)
    if any(name in _GIT_COLUMNS for name in info_names):
        parts.add(PART_GIT)
    if any(name in _ANNOTATION_COLUMNS for name in info_names):
        parts.add(PART_ANNOTATIONS)
    hidden_dirs: list[str]
    with _gc_paused():
        if run_index is None:
            run_index = RunIndex(root, enabled=use_index)
        found = run_index.find_runs(max_depth) if run_dirs is None else list(run_dirs)
        shown_dirs, hidden_dirs = found, []
        # the substring test in C first: a loop over 100,000 runs in Python is measurable
        maybe_replays = any(map(operator.contains, found, itertools.repeat(store.REPLAY_SUFFIX)))
        if not with_repros and maybe_replays:
            shown_dirs = []
            for path in found:
                # the substring test first: a regular expression per run is measurable
                is_replay = (
                    store.REPLAY_SUFFIX in path
                    and store.replay_name_parts(_display_name(path)) is not None
                )
                (hidden_dirs if is_replay else shown_dirs).append(path)
        listing = run_index.load(shown_dirs, parts, keep=hidden_dirs)
        series_warnings: list[str] = []
        series_columns = _series_columns(
            listing, [*series_stats, *exact, *requested], series_warnings
        )
        metric_names = _union_keys(itertools.chain(listing.results, series_columns.values()))
        special = {RUN_COLUMN, STATUS_COLUMN, *metric_names}
        needs_config = (
            with_params
            or only_changed
            or bool(columns)
            or any(key not in special and key not in shown_info for key in requested)
        )
        if needs_config:
            listing = run_index.load(shown_dirs, parts | {PART_CONFIG}, keep=hidden_dirs)
    warnings = [*listing.warnings, *series_warnings]
    warnings.extend(itertools.chain.from_iterable(listing.problems))
    statuses = listing.statuses
    if store.STATUS_RUNNING in statuses:
        # only then: what tells a killed run (its process) is a measurable import
        from maggot import entries

        for number in [n for n, status in enumerate(statuses) if status == store.STATUS_RUNNING]:
            path = listing.paths[number]
            killed, warning = _running_check(path)
            if killed:
                statuses[number] = entries.STATUS_KILLED
            if warning:
                warnings.append(warning)
    rows = _rows(root, listing, info_names)
    if series_columns:
        rows = [
            # metrics stay in key order, the order of their columns (see _json_lines)
            row._replace(
                metrics=dict(sorted({**series_columns[row.path], **row.metrics}.items())),
                metrics_json=None,
                metrics_texts=None,
            )
            if row.path in series_columns
            else row
            for row in rows
        ]
    param_names = _union_keys(map(operator.attrgetter("params"), rows))
    extra_names = _provide(rows, [*exact, *requested], {*special, *param_names}, info_names)

    known = {*special, *param_names, *INFO_COLUMNS, *extra_names}
    known.update(CONFIG_PREFIX + name for name in param_names)
    known.update(INFO_PREFIX + name for name in INFO_COLUMNS)
    for item in filters:
        for key in item.used_keys():
            if key not in known:
                raise SummarizeError(
                    _unknown(f"filter {str(item)!r}: no run under {root} has", key, known)
                )
    if sort_key is not None and sort_key not in known:
        raise SummarizeError(_unknown(f"sort key: no run under {root} has", sort_key, known))

    as_info = {name: INFO_PREFIX + name for name in shown_info if name not in special}
    if filters:
        rows = [row for row in rows if all(item.matches(_lookup(row, as_info)) for item in filters)]
    if sort_key is not None:
        rows = _sorted(rows, as_info.get(sort_key, sort_key), ascending)
    if with_repros:  # else reproductions were left out already
        rows = _with_reproductions_after_originals(rows)
    if limit is not None:
        rows = rows[:limit]
    shown = _choose_columns(
        rows,
        info_names=info_names if columns else _info_names(info),
        extra_names=extra_names,
        with_params=with_params or only_changed or bool(columns),
        patterns=columns,
        drop=drop,
        only_changed=only_changed,
        warnings=warnings,
    )
    deeper = (
        store.find_run_dirs(root, None)
        if not found and max_depth is not None and run_dirs is None
        else []
    )
    summary = Summary(
        rows=rows,
        columns_shown=shown,
        warnings=warnings,
        runs_found=len(listing.paths),
        deeper_runs=len(deeper),
        nearest_depth=min((_depth(path, root) for path in deeper), default=None),
    )
    global _last_listing
    # freed with the next listing, or never when the process ends right after this one
    # (maggot summarize): freeing 100,000 runs' entries and rows costs a listing 60 ms
    _last_listing = (run_index, summary)
    return summary


_last_listing: tuple[RunIndex, Summary] | None = None


def summarize_rendered(
    root: str, output_format: str, precision: int | None = None, **options: Any
) -> tuple[Summary, str]:
    """``summarize(root, **options)`` and its ``render``, made while the runs' stats are taken.

    Listing 100,000 unchanged runs is mostly one stat of each (shared with a
    helper process) and making the rows and the text: through an optimistic
    index (see RunIndex.confirm) the two overlap. What is returned is
    confirmed first: when a run changed since the index was written, the
    listing is made again from what the stats found.
    """
    run_index = RunIndex(root, enabled=options.get("use_index", True), optimistic=True)
    try:
        try:
            summary = summarize(root, run_index=run_index, **options)
            text = render(summary, output_format, precision)
        except MaggotError:
            if run_index.confirm():
                raise
        else:
            if run_index.confirm():
                return summary, text
        summary = summarize(root, run_index=run_index, **options)
        return summary, render(summary, output_format, precision)
    finally:
        run_index.close()


def _running_check(run_dir: str) -> tuple[bool, str | None]:
    """Of a run marked running: whether it was killed (its process on this host is gone),
    and a warning when that cannot be told (a run of this host still running needs none)."""
    from maggot import entries

    try:
        info = store.read_json_object(store.meta_path(run_dir, store.RUN_FILE))
    except (OSError, MaggotError):
        return False, f"{run_dir}: status is 'running' (still running, or killed)"
    if entries.live_status(info) == entries.STATUS_KILLED:
        return True, f"{run_dir}: recorded as running, but its process is gone"
    if entries.running_here(info):
        return False, None
    host = info.get("hostname")
    where = f"on {host}" if isinstance(host, str) and host else "on another host"
    return False, f"{run_dir}: status is 'running' (recorded {where}: running there, or killed)"


def _depth(run_dir: str, root: str) -> int:
    return len(os.path.relpath(run_dir, root).split(os.sep))


_TABLE_VALUE_WIDTH = 40


def _table_cell(value: Any, precision: int | None = None) -> str:
    if isinstance(value, list):
        return table_value(value)
    return render_value(value, precision)


def table_value(value: Any) -> str:
    """A cell for a table: a long list as its length and last item (JSON output keeps it all)."""
    text = render_value(value)
    if isinstance(value, list) and value and len(text) > _TABLE_VALUE_WIDTH:
        last = render_value(value[-1])
        if len(last) > _TABLE_VALUE_WIDTH:
            last = last[: _TABLE_VALUE_WIDTH - 3] + "..."
        return f"[{len(value)} items, last {last}]"
    return text


def _is_glob(pattern: str) -> bool:
    return any(char in pattern for char in "*?[")


def _info_names(keys: Iterable[str]) -> list[str]:
    """Info columns among ``keys``, in order, unique."""
    names: dict[str, None] = {}
    for key in keys:
        name = key.removeprefix(INFO_PREFIX)
        if name in INFO_COLUMNS:
            names[name] = None
    return list(names)


def unknown_info_column(name: str) -> str:
    """The message for an ``info`` name that is not one of INFO_COLUMNS."""
    return _unknown("unknown info column", name, INFO_COLUMNS) + (
        f"; the info columns are {', '.join(INFO_COLUMNS)}"
    )


# more names than this in a hint are a listing, not a suggestion
_MOST_SUGGESTED = 5


def _unknown(what: str, key: str, known: Iterable[str]) -> str:
    """``what 'key'`` and the known keys that look like it, in any case."""
    hint = ", ".join(_close_keys(key, set(known)))
    return f"{what} {key!r}" + (f" (did you mean {hint}?)" if hint else "")


def _close_keys(key: str, known: set[str]) -> list[str]:
    """Known keys like ``key``: ending in it, starting with it, then spelled alike."""
    import difflib

    scope = next((prefix for prefix in (CONFIG_PREFIX, INFO_PREFIX) if key.startswith(prefix)), "")
    folded = key.removeprefix(scope).casefold()
    if scope:  # only what that scope holds (config.val is no metric val.acc)
        candidates = sorted(name[len(scope) :] for name in known if name.startswith(scope))
    else:  # config.KEY and info.KEY only repeat another name
        candidates = sorted(
            name for name in known if not name.startswith((CONFIG_PREFIX, INFO_PREFIX))
        )
    close = [name for name in candidates if name.rsplit(".", 1)[-1].casefold() == folded]
    if folded:
        close += _starting_with(folded, candidates)
    by_folded: dict[str, list[str]] = {}
    for name in candidates:
        by_folded.setdefault(name.casefold(), []).append(name)
    for match in difflib.get_close_matches(folded, list(by_folded), n=3, cutoff=0.6):
        close += by_folded[match]
    return list(dict.fromkeys(scope + name for name in close))[:_MOST_SUGGESTED]


def _starting_with(folded: str, candidates: list[str]) -> list[str]:
    """The keys under ``folded`` (val: val.acc, val.loss), then the shortest it begins."""
    family = [name for name in candidates if name.casefold().startswith(folded + ".")]
    longer = [
        name
        for name in candidates
        if name.casefold().startswith(folded) and not name.casefold().startswith(folded + ".")
    ]
    # sorted() is stable: names of one length stay in alphabetical order
    return family + sorted(longer, key=len)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    # every object read here lives on, so collections while loading thousands
    # of runs only re-scan them: measured 10-20% of the load time
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _series_columns(
    listing: Listing, wanted: Sequence[str], warnings: list[str]
) -> dict[str, dict[str, Any]]:
    """Series columns (``loss``, ``loss.min`` ...) of the runs that have series, by path."""
    columns: dict[str, dict[str, Any]] = {}
    # known from the index: no directory listing per run (and no loop in Python without them)
    for path in itertools.compress(listing.paths, listing.has_series):
        stats, problems = series.read_stats(path)
        warnings.extend(problems)
        found = series.stat_columns(stats, wanted)
        if found:
            columns[path] = found
    return columns


def _rows(root: str, listing: Listing, info_names: Sequence[str]) -> list[RunRow]:
    paths = listing.paths
    if not paths:
        return []
    # from the listing's lists, in loops that run in C: one loop in Python per run is
    # measurable at 100,000 runs
    relatives = listing.relatives
    # a run's name is its path relative to the root, when that is a single folder name
    flat = not os.altsep and os.sep not in "\0".join(relatives)
    names = relatives if flat and _NAMELESS_ENDS.isdisjoint(relatives) else _display_names(paths)
    if len(set(names)) != len(names):
        names = [os.path.relpath(path, root) for path in paths]
    infos: Iterable[dict[str, Any]] = itertools.repeat({})
    if info_names:
        infos = [
            {**info, **git, **annotations}
            for info, git, annotations in zip(listing.infos, listing.gits, listing.annotations)
        ]
    rows = zip(
        names,
        paths,
        listing.statuses,
        listing.results,
        listing.configs,
        infos,
        listing.results_json,
        listing.results_texts,
    )
    # tuple.__new__ in C: a NamedTuple's own __new__ is a Python call per run
    return list(map(tuple.__new__, itertools.repeat(RunRow), rows))


def _display_names(paths: Sequence[str]) -> list[str]:
    """Each path's last part, as _display_name gives it."""
    names = [path[path.rfind(os.sep) + 1 :] for path in paths]
    if os.altsep or not _NAMELESS_ENDS.isdisjoint(names):
        return [_display_name(path) for path in paths]
    return names


# what a path may end in that is not a folder's own name
_NAMELESS_ENDS = frozenset(("", os.curdir, os.pardir))


def _display_name(path: str) -> str:
    # the last part by hand: normpath per run is measurable at 100,000 runs
    name = path[path.rfind(os.sep) + 1 :]
    if name in ("", os.curdir, os.pardir) or (os.altsep and os.altsep in name):
        name = os.path.basename(os.path.normpath(path))
        if name in ("", os.curdir, os.pardir):
            return os.path.basename(os.path.abspath(path))
    return name


def _provide(
    rows: list[RunRow], keys: Sequence[str], taken: set[str], info_names: Sequence[str]
) -> list[str]:
    """Ask the column providers for requested keys nothing else has; fill rows' info."""
    provided: list[str] = []
    for key in dict.fromkeys(keys):
        if key in taken or key in info_names or key.startswith((CONFIG_PREFIX, INFO_PREFIX)):
            continue
        for provider in _providers:
            read = provider(key)
            if read is not None:
                for index, row in enumerate(rows):
                    value = read(row.path)
                    if value is not _MISSING:
                        info = dict(row.info)
                        info[key] = value
                        rows[index] = row._replace(info=info)
                provided.append(key)
                break
    return provided


def _union_keys(mappings: Iterable[dict[str, Any]]) -> list[str]:
    # chained in C: a set update per run is measurable at 100,000 runs
    return sorted(set(itertools.chain.from_iterable(mappings)))


def _value(row: RunRow, key: str) -> Any:
    if key == RUN_COLUMN:
        return row.run
    if key == STATUS_COLUMN:
        return row.status
    if key in row.metrics:
        return row.metrics[key]
    if key in row.params:
        return row.params[key]
    if key.startswith(CONFIG_PREFIX):
        return row.params.get(key[len(CONFIG_PREFIX) :], _MISSING)
    name = key.removeprefix(INFO_PREFIX)
    if name in row.info:
        return row.info[name]
    if name == "tags" and name in INFO_COLUMNS:
        return []  # a run nobody tagged has no tags, which a filter can test
    return _MISSING


def _lookup(row: RunRow, renamed: dict[str, str]) -> Callable[[str], Any]:
    """The values of ``row`` by key, ``renamed`` keys read under their new name."""
    if renamed:
        return lambda key: _value(row, renamed.get(key, key))
    return lambda key: _value(row, key)


def _sorted(rows: list[RunRow], key: str, ascending: bool) -> list[RunRow]:
    metrics = list(map(operator.attrgetter("metrics"), rows))
    if key not in (RUN_COLUMN, STATUS_COLUMN) and all(
        map(operator.contains, metrics, itertools.repeat(key))
    ):
        # the usual sort, by a metric every run has: loops that run in C take the values
        values = list(map(operator.itemgetter(key), metrics))
        if set(map(type, values)) <= {int, float}:
            # NaN is the one value not equal to itself
            numbers = list(itertools.compress(itertools.count(), map(operator.eq, values, values)))
            numbers.sort(key=values.__getitem__, reverse=not ascending)
            if len(numbers) == len(rows):
                return list(map(rows.__getitem__, numbers))
            chosen = set(numbers)
            rest = [row for index, row in enumerate(rows) if index not in chosen]
            return [rows[index] for index in numbers] + rest
    present: list[tuple[tuple[int, float, str], RunRow]] = []
    missing: list[RunRow] = []
    for row in rows:
        value = _value(row, key)
        if value is _MISSING or (isinstance(value, float) and math.isnan(value)):
            missing.append(row)
        elif _is_number(value):
            present.append(((0, float(value), ""), row))
        else:
            present.append(((1, 0.0, render_value(value)), row))
    present.sort(key=lambda item: item[0], reverse=not ascending)
    return [row for _, row in present] + missing


def _with_reproductions_after_originals(rows: list[RunRow]) -> list[RunRow]:
    """Each reproduction right after its original (by number); never ranked on its own."""
    by_original: dict[str, list[tuple[int, RunRow]]] = {}
    for row in rows:
        replay = store.replay_name_parts(row.run)
        if replay is not None:
            original, number = replay
            by_original.setdefault(original, []).append((number, row))
    if not by_original:
        return rows
    names = {row.run for row in rows}
    ordered: list[RunRow] = []
    for row in rows:
        replay = store.replay_name_parts(row.run)
        if replay is not None and replay[0] in names:
            continue
        ordered.append(row)
        ordered.extend(repro for _, repro in sorted(by_original.get(row.run, [])))
    return ordered


def _choose_columns(
    rows: Sequence[RunRow],
    *,
    info_names: Sequence[str],
    extra_names: Sequence[str],
    with_params: bool,
    patterns: Sequence[str],
    drop: Sequence[str],
    only_changed: bool,
    warnings: list[str],
) -> list[Column]:
    metric_names = _union_keys(map(operator.attrgetter("metrics"), rows))
    param_names = _union_keys(map(operator.attrgetter("params"), rows)) if with_params else []
    unchanged: list[str] = []
    if only_changed:
        changed = {name: _differs(rows, name) for name in param_names}
        unchanged = [name for name, differs in changed.items() if not differs]
        param_names = [name for name, differs in changed.items() if differs]
    taken = {RUN_COLUMN, STATUS_COLUMN, *metric_names}
    available = [Column(RUN_COLUMN, RUN_COLUMN, ""), Column(STATUS_COLUMN, STATUS_COLUMN, "")]
    for name in info_names:
        header = INFO_PREFIX + name if name in taken else name
        available.append(Column(header, "info", name))
    available += [Column(name, "metrics", name) for name in metric_names]
    taken.update(info_names)
    for name in param_names:
        available.append(Column(CONFIG_PREFIX + name if name in taken else name, "params", name))
    available += [Column(name, "info", name) for name in extra_names]
    chosen = available
    if patterns:
        chosen = [available[0]]
        for pattern in patterns:
            matching = [
                column
                for column in available
                if fnmatch.fnmatchcase(column.header, pattern)
                and (column.source != "info" or not _is_glob(pattern))
                or (column.source == "params" and column.key == pattern)
                or (column.source == "info" and column.key == pattern.removeprefix(INFO_PREFIX))
            ]
            if not matching and rows:
                warnings.append(f"--columns {pattern!r}: {_why_no_column(pattern, unchanged)}")
            chosen += [column for column in matching if column not in chosen]
    return [
        column
        for column in chosen
        if column.source == RUN_COLUMN
        or not any(fnmatch.fnmatchcase(column.header, pattern) for pattern in drop)
    ]


def _why_no_column(pattern: str, unchanged: Sequence[str]) -> str:
    """Why a --columns pattern picked nothing: --only-changed hid what it matches, or nothing."""
    for name in unchanged:
        if fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(CONFIG_PREFIX + name, pattern):
            return "the config values it matches are the same in every run (--only-changed)"
    return "no column of the runs listed matches"


def _differs(rows: Sequence[RunRow], name: str) -> bool:
    values = {render_value(row.params.get(name, _MISSING)) for row in rows}
    return len(values) > 1


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# significant digits that tell every float apart (repr shows at most this many)
_FLOAT_DIGITS = 17


def render_value(value: Any, precision: int | None = None) -> str:
    """A cell: floats as Python prints them (or to ``precision`` significant digits).

    Other non-strings are shown as JSON.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        # past 17 digits a float has nothing more to show but its binary expansion
        if precision is None or precision >= _FLOAT_DIGITS:
            return repr(value)
        return f"{value:.{precision}g}"
    if value is _MISSING:
        return ""
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _getter(column: Column) -> Callable[[RunRow], Any]:
    if column.source == RUN_COLUMN:
        return lambda row: row.run
    if column.source == STATUS_COLUMN:
        return lambda row: row.status
    key = column.key
    if column.source == "metrics":
        return lambda row: row.metrics.get(key, _MISSING)
    if column.source == "params":
        return lambda row: row.params.get(key, _MISSING)
    if key == "tags":
        return lambda row: row.info.get(key, [])
    return lambda row: row.info.get(key, _MISSING)


def _column_values(column: Column, rows: Sequence[RunRow]) -> list[Any]:
    """What ``_getter(column)`` gives for each row, in loops that run in C."""
    if column.source in (RUN_COLUMN, STATUS_COLUMN):
        return list(map(operator.attrgetter(column.source), rows))
    source = column.source if column.source in ("metrics", "params") else "info"
    default = [] if source == "info" and column.key == "tags" else _MISSING
    mappings = map(operator.attrgetter(source), rows)
    return list(map(dict.get, mappings, itertools.repeat(column.key), itertools.repeat(default)))


def _cells(summary: Summary) -> list[list[Any]]:
    getters = [_getter(column) for column in summary.columns_shown]
    return [[get(row) for get in getters] for row in summary.rows]


def as_records(summary: Summary) -> list[dict[str, Any]]:
    """Rows as JSON-ready objects; a run without a value has no key for it, NaN/inf are None."""
    return [store.without_nonfinite(record) for record in _raw_records(summary)]


def _raw_records(summary: Summary) -> list[dict[str, Any]]:
    columns = summary.columns
    return [
        {column: value for column, value in zip(columns, values) if value is not _MISSING}
        for values in _cells(summary)
    ]


def _json_lines(summary: Summary) -> str:
    """A JSON array, one object per line; NaN and infinities as null."""
    columns = summary.columns
    # one shared encoder, and indent= left out: it would switch to the pure-Python encoder;
    # NaN and infinities become null, which strict JSON parsers accept
    encode = store.strict_json_encoder(ensure_ascii=False)
    # one record at a time: all of them at once would double the peak memory of a listing
    if _run_status_and_metrics(summary):
        # the default columns: a row's metrics are in column order already (sorted), and
        # mostly encoded already
        lines = _default_json_lines(summary.rows, encode)
    else:
        getters = [_getter(column) for column in summary.columns_shown]
        lines = [
            encode(
                {
                    column: value
                    for column, value in zip(columns, [get(row) for get in getters])
                    if value is not _MISSING
                }
            )
            for row in summary.rows
        ]
    if not lines:
        return "[]\n"
    body = ",\n  ".join(lines)
    # JSON escapes every control character but DEL: ASCII text without DEL is printable,
    # two checks of the whole text at memory speed instead of one per line
    if not (body.isascii() and "\x7f" not in body) and not all(map(str.isprintable, lines)):
        # a line per record: escaping checks lines, and a record has no line break
        body = ",\n  ".join(printable_json(line) for line in lines)
    return "[\n  " + body + "\n]\n"


def _default_json_lines(rows: Sequence[RunRow], encode: Callable[[Any], str]) -> list[str]:
    """Rows as JSON objects of their run, status and metrics, in this order."""
    text = json.encoder.encode_basestring
    run_key, status_key = text(RUN_COLUMN), text(STATUS_COLUMN)
    runs = map(text, map(operator.attrgetter("run"), rows))
    status_texts = {
        status: text(status) for status in set(map(operator.attrgetter("status"), rows))
    }
    statuses = map(status_texts.__getitem__, map(operator.attrgetter("status"), rows))
    members = list(map(operator.attrgetter("metrics_json"), rows))
    # an f-string per row: measured three times faster than str.__mod__ or str.join
    lines = [
        f"{{{run_key}: {run}, {status_key}: {status}, {metrics}}}"
        for run, status, metrics in zip(runs, statuses, members)
    ]
    # rows whose metrics are not encoded already, or that have none
    for number in itertools.compress(itertools.count(), map(operator.not_, members)):
        row = rows[number]
        lines[number] = encode({RUN_COLUMN: row.run, STATUS_COLUMN: row.status, **row.metrics})
    return lines


def _run_status_and_metrics(summary: Summary) -> bool:
    """Whether the columns are run, status and then every metric, in the rows' metric order."""
    shown = summary.columns_shown
    if len(shown) < 2 or shown[0].source != RUN_COLUMN or shown[1].source != STATUS_COLUMN:
        return False
    names = [column.header for column in shown[2:] if column.source == "metrics"]
    if len(names) != len(shown) - 2 or RUN_COLUMN in names or STATUS_COLUMN in names:
        return False
    return names == sorted(names) and all(column.header == column.key for column in shown[2:])


def render(summary: Summary, output_format: str, precision: int | None = None) -> str:
    """The summary as text in one of FORMATS (empty for a table with no rows).

    ``precision`` rounds floats in table and markdown output, except config
    values; json and csv always carry full values.
    """
    if output_format == "json":
        return _json_lines(summary)
    if output_format == "table":
        return _table(summary, precision)
    values = _cells(summary)
    right = [
        all(_is_number(value) or value is _MISSING for value in column) for column in zip(*values)
    ]
    if precision is not None and output_format != "csv":
        values = _config_floats_as_recorded(summary, values)
    return render_cells(summary.columns, values, output_format, precision, right)


def _config_floats_as_recorded(summary: Summary, values: list[list[Any]]) -> list[list[Any]]:
    """``values`` with the floats of config columns as text, which ``--precision`` leaves alone:
    config values tell runs apart, and rounded two could show the same."""
    config = [column.source == "params" for column in summary.columns_shown]
    if not any(config):
        return values
    return [
        [
            render_value(value) if is_config and isinstance(value, float) else value
            for value, is_config in zip(row, config)
        ]
        for row in values
    ]


def render_cells(
    headers: Sequence[str],
    values: Sequence[Sequence[Any]],
    output_format: str,
    precision: int | None = None,
    right: Sequence[bool] | None = None,
) -> str:
    """Rows of values as a table, csv or markdown (empty for a table with no rows).

    ``precision`` rounds floats except in csv; ``right`` right-aligns columns.
    """
    if output_format == "csv":
        precision = None
    # run-file strings are shown escaped, never obeyed by the terminal
    headers = [printable(header) for header in headers]
    # long lists (a loss curve) as their length and last item, whole only in csv and json
    show = render_value if output_format == "csv" else _table_cell
    cells = [[printable(show(value, precision)) for value in row] for row in values]
    if output_format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows(cells)
        return buffer.getvalue()
    if output_format not in FORMATS:
        raise MaggotError(f"unknown format {output_format!r}: expected one of {', '.join(FORMATS)}")
    if not cells:
        return ""
    right = right or [False] * len(headers)
    if output_format == "table":
        return plain_table(headers, cells, right)
    from tabulate import tabulate  # type: ignore[import-untyped, unused-ignore]

    cells = [[cell.replace("|", "\\|") for cell in row] for row in cells]
    alignment = ["right" if flag else "left" for flag in right]
    table = tabulate(
        cells, headers=list(headers), tablefmt="github", disable_numparse=True, colalign=alignment
    )
    return str(table) + "\n"


_NUMBER_TYPES = {int, float, type(_MISSING)}


def _table(summary: Summary, precision: int | None) -> str:
    """The summary as a plain table, built column by column.

    A column of one type is converted with one ``map`` instead of a function
    call per cell: measured a third of the time of listing 100,000 runs.
    """
    if not summary.rows:
        return ""
    headers: list[str] = []
    columns: list[list[str]] = []
    right: list[bool] = []
    known = _known_metric_cells(summary) if precision is None else {}
    metrics = [row.metrics for row in summary.rows] if known else []
    for column in summary.columns_shown:
        cached = known.get(column.key) if column.source == "metrics" else None
        if cached is not None:
            values = list(map(operator.itemgetter(column.key), metrics))
        else:
            values = _column_values(column, summary.rows)
        kinds = set(map(type, values))
        if cached is not None:
            texts = cached
        elif kinds == {str}:
            texts = values
        elif kinds == {float} and precision is None:
            texts = list(map(float.__repr__, values))
        else:
            rounded_to = None if column.source == "params" else precision
            texts = [_table_cell(value, rounded_to) for value in values]
        if not "".join(texts).isprintable():
            texts = [printable(text) for text in texts]
        headers.append(printable(column.header))
        columns.append(texts)
        right.append(kinds <= _NUMBER_TYPES)
    return _layout(headers, columns, right)


def _known_metric_cells(summary: Summary) -> dict[str, list[str]]:
    """The metric columns' cells from the index, when every row has the same metrics.

    Formatting each float is most of the time of a table of 100,000 runs;
    the index keeps the cells of each run's results as one string.
    """
    names = [column.key for column in summary.columns_shown if column.source == "metrics"]
    wanted = set(names)
    rows = summary.rows
    texts = list(map(operator.attrgetter("metrics_texts"), rows))
    # a row's metrics are in key order: with the same keys, its cells line up
    keys = map(dict.keys, map(operator.attrgetter("metrics"), rows))
    if not names or None in texts or not all(map(operator.eq, keys, itertools.repeat(wanted))):
        return {}
    # every row has len(wanted) cells (a cell holding NUL has no texts): one split for all
    cells = "\0".join(texts).split("\0")
    return {name: cells[index :: len(wanted)] for index, name in enumerate(sorted(wanted))}


def plain_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]
) -> str:
    """The layout of tabulate's "simple" format, without trailing blanks.

    Measured on 10,000 runs of five columns: tabulate takes 0.25 s of
    summarize's 1 s budget, padding column by column here about 0.04 s.
    """
    return _layout(headers, [[row[index] for row in rows] for index in range(len(headers))], right)


def _layout(headers: Sequence[str], cells: Sequence[list[str]], right: Sequence[bool]) -> str:
    """``plain_table`` of the cells given column by column."""
    columns: list[list[str]] = []
    for index, header in enumerate(headers):
        column = cells[index]
        joined = "".join(column)
        if joined.isascii() and joined.isprintable():
            # the common column: one check in C instead of three per cell
            width = max(len(header) + 2, max(map(len, column), default=0))
            pad = str.rjust if right[index] else str.ljust
            padded = map(pad, column, itertools.repeat(width, len(column)))
            columns.append([_pad(header, width, right[index]), "-" * width, *padded])
            continue
        column = [printable(text) for text in column]
        # tabulate keeps two blanks of room next to each header
        width = max([_width(header) + 2, *map(_width, column)])
        columns.append([_pad(text, width, right[index]) for text in (header, "-" * width, *column)])
    return "\n".join(map(str.rstrip, map("  ".join, zip(*columns)))) + "\n"


def _width(text: str) -> int:
    if text.isascii():
        return len(text)
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _pad(text: str, width: int, right: bool) -> str:
    if text.isascii():
        return text.rjust(width) if right else text.ljust(width)
    blanks = " " * (width - _width(text))
    return blanks + text if right else text + blanks
