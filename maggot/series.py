"""Step-wise metrics ("series"): the append-only files under ``.maggot/series/`` and their reader.

Each writing process owns one pair of files, so ranks of one run never
interleave their bytes::

    .maggot/series/<host>-<pid>-<token>.names    "maggot-series 1" then one name per line
    .maggot/series/<host>-<pid>-<token>.points   fixed 32-byte records, little-endian:
                                                 name index (i64), step (i64),
                                                 wall-clock time (f64, Unix seconds), value (f64)

Four 8-byte fields let the reader take each column with one C-level slice of
an array instead of unpacking records one by one in Python.

A name line is written (unbuffered) before the first point that uses it;
points are buffered and written with one ``O_APPEND`` write at least every
second, when the buffer fills, and at exit. A process killed with SIGKILL
loses at most the last second of points; a torn last record is ignored.
"""

from __future__ import annotations

import array
import atexit
import math
import os
import struct
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from maggot import store
from maggot.errors import CorruptRunError

SERIES_DIR = "series"
FORMAT_VERSION = 1
NAMES_SUFFIX = ".names"
POINTS_SUFFIX = ".points"
NAMES_HEADER = f"maggot-series {FORMAT_VERSION}"
POINT = struct.Struct("<qqdd")
STATS = ("last", "min", "max", "step", "count")
DEFAULT_STATS = ("last",)
FLUSH_SECONDS = 1.0
# flush early when this many bytes wait: bounds memory in a tight loop
_FLUSH_BYTES = 1 << 20
_INT64 = (-(1 << 63), (1 << 63) - 1)


class SeriesStats(NamedTuple):
    """What a listing shows of one series: NaN/inf points count but never win min/max."""

    last: float
    min: float
    max: float
    step: int
    points: int

    def get(self, stat: str) -> float | int:
        """One of STATS by name (``count`` is the number of points)."""
        return self.points if stat == "count" else getattr(self, stat)  # type: ignore[no-any-return, unused-ignore]


class Series(NamedTuple):
    """All points of one series, merged over the run's processes, ordered by step then time."""

    name: str
    steps: list[int]
    times: list[float]
    values: list[float]

    def stats(self) -> SeriesStats:
        """last (the value at the largest step), finite min and max, last step, point count."""
        values = self.values
        # a finite sum means no NaN or inf: skip the per-point filter
        finite = values if math.isfinite(sum(values)) else [v for v in values if math.isfinite(v)]
        return SeriesStats(
            last=self.values[-1],
            min=min(finite) if finite else math.nan,
            max=max(finite) if finite else math.nan,
            step=self.steps[-1],
            points=len(self.values),
        )


def series_dir(run_dir: str | os.PathLike[str]) -> str:
    """The directory holding a run's series files."""
    return store.meta_path(run_dir, SERIES_DIR)


def check_name(name: Any) -> str:
    """A metric name as stored: a non-empty string without line breaks."""
    if not isinstance(name, str):
        raise TypeError(f"metric name {name!r}: expected a str, got {type(name).__name__}")
    if not name or "\n" in name or "\r" in name or name.startswith(".") or name.endswith("."):
        raise ValueError(
            f"metric name {name!r}: must be non-empty, one line, without a leading or trailing dot"
        )
    return name


def as_float(name: str, value: Any) -> float:
    """``value`` as a float, or a TypeError naming the metric (strings are never parsed)."""
    if isinstance(value, (str, bytes, bytearray)) or value is None:
        raise TypeError(
            f"metric {name!r}: value {value!r} is not a number ({type(value).__name__})"
        )
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"metric {name!r}: value of type {type(value).__name__} is not a number"
        ) from None


def as_step(name: str, step: Any) -> int:
    """``step`` as an int64, or a TypeError/ValueError naming the metric."""
    if isinstance(step, bool) or not hasattr(step, "__index__"):
        raise TypeError(f"metric {name!r}: step {step!r} is not an integer")
    number = step.__index__()
    if not _INT64[0] <= number <= _INT64[1]:
        raise ValueError(f"metric {name!r}: step {number} does not fit in 64 bits")
    return int(number)


class SeriesWriter:
    """Buffers one process's points for one run and appends them to its own files."""

    def __init__(self, run_dir: str) -> None:
        self.run_dir = run_dir
        self._lock = threading.Lock()
        self._buffer = bytearray()
        # name -> [index, next default step]
        self._names: dict[str, list[int]] = {}
        self._names_fd = -1
        self._points_fd = -1
        self._flush_due = 0.0

    def log(self, name: str, value: Any, step: Any = None) -> None:
        """Add one point; ``step`` defaults to one more than this name's previous step."""
        entry = self._names.get(name)
        if entry is None:
            entry = self._add_name(name)
        if type(value) is not float:
            value = as_float(name, value)
        if step is None:
            step = entry[1]
        elif type(step) is not int or not _INT64[0] <= step <= _INT64[1]:
            step = as_step(name, step)
        entry[1] = step + 1
        now = time.time()
        with self._lock:
            buffer = self._buffer
            buffer += POINT.pack(entry[0], step, now, value)
            if now >= self._flush_due or len(buffer) >= _FLUSH_BYTES:
                self._flush_locked(now)

    def log_many(self, values: Mapping[str, Any], step: Any = None) -> None:
        """Add one point per name; nested mappings give dotted names."""
        for name, value in _flat_items(values, ""):
            self.log(name, value, step)

    def flush(self) -> None:
        """Write the buffered points now."""
        with self._lock:
            self._flush_locked(time.time())

    def close(self) -> None:
        """Flush and close the files; later points open new ones."""
        with self._lock:
            self._flush_locked(time.time())
            for descriptor in (self._names_fd, self._points_fd):
                if descriptor >= 0:
                    os.close(descriptor)
            self._names_fd = self._points_fd = -1
            self._names.clear()

    def forget_after_fork(self) -> None:
        """In a forked child: drop the parent's buffer and files, start files of our own."""
        self._lock = threading.Lock()
        self._buffer = bytearray()
        self._names.clear()
        self._names_fd = self._points_fd = -1

    def _add_name(self, name: str) -> list[int]:
        check_name(name)
        with self._lock:
            known = self._names.get(name)
            if known is not None:  # another thread added it meanwhile
                return known
            if self._names_fd < 0:
                self._open_files()
            entry = [len(self._names), 0]
            # written before any point refers to it, in one append
            _write_all(self._names_fd, (name + "\n").encode("utf-8", "surrogateescape"))
            self._names[name] = entry
        return entry

    def _open_files(self) -> None:
        import socket  # only a writer needs it: listings import this module too

        directory = series_dir(self.run_dir)
        os.makedirs(directory, exist_ok=True)
        host = "".join(char if char.isalnum() else "_" for char in socket.gethostname())[:40]
        while True:
            stem = os.path.join(directory, f"{host}-{os.getpid()}-{os.urandom(4).hex()}")
            try:
                # O_EXCL: two processes with the same pid on two hosts never share a file
                names_fd = os.open(
                    stem + NAMES_SUFFIX, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644
                )
            except FileExistsError:
                continue
            break
        _write_all(names_fd, (NAMES_HEADER + "\n").encode())
        self._names_fd = names_fd
        self._points_fd = os.open(
            stem + POINTS_SUFFIX, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644
        )
        _start_flusher()

    def _flush_locked(self, now: float) -> None:
        self._flush_due = now + FLUSH_SECONDS
        if self._buffer and self._points_fd >= 0:
            data, self._buffer = bytes(self._buffer), bytearray()
            _write_all(self._points_fd, data)


def _flat_items(values: Mapping[str, Any], prefix: str) -> Iterable[tuple[str, Any]]:
    if not isinstance(values, Mapping):
        raise TypeError(f"log_metrics: expected a mapping of names to numbers, got {values!r}")
    for name, value in values.items():
        if not isinstance(name, str):
            raise TypeError(f"metric name {name!r}: expected a str, got {type(name).__name__}")
        if isinstance(value, Mapping):
            yield from _flat_items(value, prefix + name + ".")
        else:
            yield prefix + name, value


def _write_all(descriptor: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(descriptor, view)
        view = view[written:]


_writers: dict[str, SeriesWriter] = {}
_writers_lock = threading.Lock()
_flusher: threading.Thread | None = None


def writer_for(run_dir: str) -> SeriesWriter:
    """The writer this process uses for ``run_dir`` (one per run, shared by its Experiments)."""
    key = os.path.realpath(run_dir)
    writer = _writers.get(key)
    if writer is None:
        with _writers_lock:
            writer = _writers.get(key)
            if writer is None:
                writer = _writers[key] = SeriesWriter(run_dir)
    return writer


def flush_all() -> None:
    """Write every buffered point of this process."""
    for writer in list(_writers.values()):
        try:
            writer.flush()
        except OSError:
            pass  # the run directory was removed while the process ran


def _start_flusher() -> None:
    # a daemon thread flushes points logged just before a long pause (an evaluation,
    # a sleep) that no later call would flush
    global _flusher
    if _flusher is not None and _flusher.is_alive():
        return
    _flusher = threading.Thread(target=_flush_forever, name="maggot-series-flush", daemon=True)
    _flusher.start()


def _flush_forever() -> None:
    wake = threading.Event()
    while True:
        wake.wait(FLUSH_SECONDS / 2)
        flush_all()


def _after_fork_in_child() -> None:
    global _flusher
    _flusher = None
    for writer in _writers.values():
        writer.forget_after_fork()


atexit.register(flush_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _series_files(run_dir: str | os.PathLike[str]) -> list[str]:
    try:
        entries = os.listdir(series_dir(run_dir))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(
        os.path.join(series_dir(run_dir), entry[: -len(NAMES_SUFFIX)])
        for entry in entries
        if entry.endswith(NAMES_SUFFIX)
    )


def has_series(run_dir: str | os.PathLike[str]) -> bool:
    """Whether a run recorded any series (one directory listing)."""
    return bool(_series_files(run_dir))


def _read_names(path: str) -> list[str]:
    with open(path, "rb") as file:
        lines = file.read().decode("utf-8", "surrogateescape").split("\n")
    header = lines[0] if lines else ""
    if not header.startswith("maggot-series "):
        raise CorruptRunError(f"{path}: not a maggot series names file")
    version = header.split(" ", 1)[1]
    if version != str(FORMAT_VERSION):
        raise CorruptRunError(f"{path}: series format {version} is newer than this maggot")
    # the last element is "" after the final newline, or a half-written name: skip it
    return lines[1:-1]


def read_series(
    run_dir: str | os.PathLike[str], names: Iterable[str] | None = None
) -> tuple[dict[str, Series], list[str]]:
    """Every series of a run (or only ``names``), and problems met reading them.

    Points of all the run's processes are merged and ordered by step, then by
    time. Files that cannot be read become problems, never exceptions.
    """
    wanted = set(names) if names is not None else None
    merged: dict[str, list[Series]] = {}
    problems: list[str] = []
    for stem in _series_files(run_dir):
        try:
            file_names = _read_names(stem + NAMES_SUFFIX)
            with open(stem + POINTS_SUFFIX, "rb") as file:
                data = file.read()
        except FileNotFoundError:
            continue  # the names file is created first: a process that just started
        except CorruptRunError as error:
            problems.append(str(error))
            continue
        except OSError as error:
            problems.append(f"{stem}{POINTS_SUFFIX}: {error.strerror}")
            continue
        for one in _split_by_name(data, file_names, stem, problems):
            if wanted is None or one.name in wanted:
                merged.setdefault(one.name, []).append(one)
    return {name: _merge(parts) for name, parts in sorted(merged.items())}, problems


def _columns(data: bytes) -> tuple[list[int], list[int], list[float], list[float]]:
    usable = len(data) - len(data) % POINT.size  # a torn last record is dropped
    integers, floats = array.array("q"), array.array("d")
    integers.frombytes(data[:usable])
    floats.frombytes(data[:usable])
    if sys.byteorder == "big":
        integers.byteswap()
        floats.byteswap()
    return (
        integers[0::4].tolist(),
        integers[1::4].tolist(),
        floats[2::4].tolist(),
        floats[3::4].tolist(),
    )


def _split_by_name(data: bytes, names: list[str], stem: str, problems: list[str]) -> list[Series]:
    indexes, steps, times, values = _columns(data)
    if not indexes:
        return []
    first = indexes[0]
    if indexes.count(first) == len(indexes) and 0 <= first < len(names):
        # the common file: one series per process
        return [Series(names[first], steps, times, values)]
    split: dict[int, Series] = {}
    unknown = False
    for index, step, when, value in zip(indexes, steps, times, values):
        one = split.get(index)
        if one is None:
            if not 0 <= index < len(names):
                unknown = True
                continue
            one = split[index] = Series(names[index], [], [], [])
        one.steps.append(step)
        one.times.append(when)
        one.values.append(value)
    if unknown:
        problems.append(f"{stem}{POINTS_SUFFIX}: points of unknown names skipped")
    return list(split.values())


def _merge(parts: list[Series]) -> Series:
    if len(parts) == 1:
        merged = parts[0]
    else:
        merged = Series(parts[0].name, [], [], [])
        for part in parts:
            merged.steps.extend(part.steps)
            merged.times.extend(part.times)
            merged.values.extend(part.values)
    steps = merged.steps
    # sorted() of sorted input is a linear C pass: the usual case costs almost nothing
    if len(parts) == 1 and sorted(steps) == steps:
        return merged
    order = sorted(range(len(steps)), key=lambda at: (steps[at], merged.times[at]))
    return Series(
        merged.name,
        [steps[at] for at in order],
        [merged.times[at] for at in order],
        [merged.values[at] for at in order],
    )


def read_stats(run_dir: str | os.PathLike[str]) -> tuple[dict[str, SeriesStats], list[str]]:
    """Summary statistics of every series of a run, and problems met reading them."""
    series, problems = read_series(run_dir)
    return {name: one.stats() for name, one in series.items()}, problems


def split_stat_key(key: str) -> tuple[str, str | None]:
    """``loss.min`` -> (``loss``, ``min``); a key without a stat suffix -> (key, None)."""
    base, _, suffix = key.rpartition(".")
    if base and suffix in STATS:
        return base, suffix
    return key, None


def stat_columns(
    stats: Mapping[str, SeriesStats], wanted: Iterable[str] = DEFAULT_STATS
) -> dict[str, Any]:
    """Listing columns of a run's series: ``loss`` is the last value, ``loss.min`` ... on request.

    ``wanted`` holds stat names (``last`` gives the bare name as well) or full
    keys such as ``loss.min``. NaN and infinities stay floats.
    """
    wanted = list(wanted)
    stat_names = {stat for stat in wanted if stat in STATS}
    keys = {key for key in wanted if key not in STATS}
    columns: dict[str, Any] = {}
    for name, one in stats.items():
        if "last" in stat_names or name in keys:
            columns[name] = one.last
        for stat in STATS:
            key = f"{name}.{stat}"
            if stat in stat_names and stat != "last" or key in keys:
                columns[key] = one.get(stat)
    return columns


SPARK_CHARACTERS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float], width: int = 24) -> str:
    """A one-line picture of ``values``: one block character per bucket, blank for NaN/inf."""
    if not values:
        return ""
    width = min(width, len(values))
    buckets: list[float] = []
    for index in range(width):
        start = index * len(values) // width
        end = max(start + 1, (index + 1) * len(values) // width)
        finite = [value for value in values[start:end] if math.isfinite(value)]
        buckets.append(sum(finite) / len(finite) if finite else math.nan)
    finite_buckets = [value for value in buckets if math.isfinite(value)]
    if not finite_buckets:
        return " " * width
    low, high = min(finite_buckets), max(finite_buckets)
    span = high - low
    top = len(SPARK_CHARACTERS) - 1
    return "".join(
        " "
        if not math.isfinite(value)
        else SPARK_CHARACTERS[round((value - low) / span * top) if span else top // 2]
        for value in buckets
    )
