"""The runs as one self-contained HTML page: table, curves, parallel coordinates, scatter, diffs.

``collect`` reads runs into the page's data (a JSON-able dict); ``render_page``
puts that data, the page's own script and style, and the embedded uPlot
library into one HTML document that needs no network. ``maggot ui`` serves
the same page and data live.
"""

from __future__ import annotations

import array
import base64
import collections
import hashlib
import html
import json
import math
import os
import re
import sys
import time
from collections.abc import Iterable, Sequence
from importlib import resources
from typing import Any, NamedTuple

from maggot import query, series, showrun, store
from maggot.errors import CorruptRunError, MaggotError, NotARunError

DATA_FORMAT = 1
# points kept per page, shared by all series: 1,000 runs x 1,000 points stay under 2 MB
POINT_BUDGET = 64_000
MAX_POINTS_PER_SERIES = 2_000
MIN_POINTS_PER_SERIES = 64
# code diffs are worked out ahead only when there are this few distinct code states
CODE_DIFF_STATES = 6
MAX_CODE_DIFF_BYTES = 200_000
MAX_ARTIFACTS = 200
ASSETS = "assets"
_PLACEHOLDER = re.compile(r"/\*MAGGOT:(\w+)\*/")
# characters that could end the data's <script> element or a JS string early
_SCRIPT_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028"}
_SCRIPT_ESCAPES["\u2029"] = "\\u2029"
_SCRIPT_UNSAFE = re.compile("[<>&\u2028\u2029]")


class ReportOutcome(NamedTuple):
    """What ``write_report`` wrote."""

    path: str
    runs: int
    size: int
    warnings: list[str]


def find_runs(sources: Sequence[str], max_depth: int | None) -> list[str]:
    """Run directories named by ``sources``: runs themselves, or folders searched for runs.

    Raises NotARunError for a source that does not exist.
    """
    found: list[str] = []
    for source in sources:
        if store.is_run_dir(source):
            found.append(source)
        elif os.path.isdir(source):
            found.extend(store.find_run_dirs(source, max_depth))
        else:
            raise NotARunError(f"{source}: no such directory")
    unique: dict[str, str] = {}
    for run_dir in found:
        unique.setdefault(os.path.realpath(run_dir), run_dir)
    return list(unique.values())


def select_runs(run_dirs: Sequence[str], filters: Sequence[query.Filter]) -> list[str]:
    """The runs of ``run_dirs`` where every filter holds, judged as ``summarize`` judges them.

    Keys are those of ``summarize`` (metrics, series stats, config keys, info
    columns); a key no run has raises SummarizeError.
    """
    from maggot import summarize

    if not filters or not run_dirs:
        return list(run_dirs)
    wanted = {os.path.realpath(run_dir) for run_dir in run_dirs}
    # summarize lists a folder's runs; a run given by itself is its own folder
    roots = {os.path.dirname(os.path.realpath(run_dir)) for run_dir in run_dirs}
    kept: set[str] = set()
    errors: list[summarize.SummarizeError] = []
    for root in sorted(roots):
        try:
            listing = summarize.summarize(root, max_depth=1, filters=filters, with_repros=True)
        except summarize.SummarizeError as error:
            # no run in this folder has a key: none of them matches
            errors.append(error)
            continue
        kept.update(os.path.realpath(row.path) for row in listing.rows)
    if errors and len(errors) == len(roots):
        raise errors[0]
    return [run_dir for run_dir in run_dirs if os.path.realpath(run_dir) in kept & wanted]


def collect(
    run_dirs: Sequence[str],
    *,
    title: str = "maggot runs",
    code_diffs: bool = True,
    point_budget: int = POINT_BUDGET,
) -> dict[str, Any]:
    """The page's data for ``run_dirs``: runs with config, results, series, details.

    Unreadable parts become warnings in the data (``warnings``), never errors.
    Series are downsampled to share ``point_budget`` points, keeping each
    bucket's minimum and maximum.
    """
    warnings: list[str] = []
    runs: list[dict[str, Any]] = []
    all_series: list[dict[str, series.Series]] = []
    for run_dir in run_dirs:
        try:
            record = store.load_run(run_dir)
        except NotARunError as error:  # removed while we were listing
            warnings.append(str(error))
            continue
        warnings.extend(record.problems)
        run_series, problems = series.read_series(run_dir)
        warnings.extend(problems)
        all_series.append(run_series)
        runs.append(_run_entry(record, run_series))
    _name_runs(runs)
    total_series = sum(len(one) for one in all_series)
    per_series = MAX_POINTS_PER_SERIES
    if total_series:
        per_series = max(MIN_POINTS_PER_SERIES, min(per_series, point_budget // total_series))
    for entry, run_series in zip(runs, all_series):
        entry["series"] = {name: encode_series(one, per_series) for name, one in run_series.items()}
    data: dict[str, Any] = {
        "format": DATA_FORMAT,
        "title": title,
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "runs": runs,
        "warnings": warnings,
        "code_diffs": {},
        "code_diff_note": "",
    }
    if code_diffs:
        data["code_diffs"], data["code_diff_note"] = _code_diffs(runs, warnings)
    return data


def _run_entry(record: store.RunRecord, run_series: dict[str, series.Series]) -> dict[str, Any]:
    info = record.info
    stats = {name: one.stats() for name, one in run_series.items()}
    try:
        command = store.read_command(record.path)
    except CorruptRunError:
        command = ""  # the run's details list no command; its problems come from load_run
    return {
        "name": record.name,
        "path": record.path,
        "status": record.status,
        "started_at": info.started_at,
        "duration": info.duration_seconds,
        "host": info.hostname,
        "exit": info.exit.to_json() if info.exit is not None else None,
        "config": record.config,
        "results": record.results,
        "stats": {
            name: {stat: one.get(stat) for stat in series.STATS} for name, one in stats.items()
        },
        "command": command,
        "git": _git_summary(record.path),
        "artifacts": _artifacts(record.path),
        "problems": list(record.problems),
    }


def _name_runs(runs: list[dict[str, Any]]) -> None:
    # the same name in two folders: show the paths, as summarize does
    counts = collections.Counter(run["name"] for run in runs)
    duplicated = {name for name, count in counts.items() if count > 1}
    for run in runs:
        run["label"] = run["path"] if run["name"] in duplicated else run["name"]


def _git_summary(run_dir: str) -> dict[str, Any]:
    try:
        head = store.read_git_head(run_dir)
    except (FileNotFoundError, CorruptRunError):
        return {"snapshot": False, "commit": store.read_commit_hash(run_dir), "reason": "none"}
    summary = {
        "snapshot": head.snapshot,
        "reason": head.reason,
        "commit": head.commit,
        "branch": head.branch,
        "detached": head.detached,
        "dirty": head.is_dirty,
        "counts": head.counts.to_json() if any(head.counts) else None,
        "patch_bytes": head.patch_bytes,
        "skipped": [skipped.to_json() for skipped in head.skipped],
    }
    # what a run lacks is left out: 1,000 runs of nulls add up in the page
    return {key: value for key, value in summary.items() if value}


def _artifacts(run_dir: str) -> dict[str, Any]:
    """Files in the run outside ``.maggot``, by path relative to the run, with sizes."""
    listed, more, counted_all = showrun.list_artifacts(run_dir, MAX_ARTIFACTS)
    artifacts: dict[str, Any] = {"files": [[item.path, item.size] for item in listed], "more": more}
    if not counted_all:
        artifacts["more_is_at_least"] = True  # counting stopped: "and 9800+ more"
    return artifacts


def downsample(one: series.Series, limit: int) -> series.Series:
    """At most about ``limit`` points: per bucket the minimum and the maximum, in step order.

    A bucket holding NaN or an infinity keeps one such point, so gaps stay
    visible; the first and last points are always kept.
    """
    count = len(one.values)
    if count <= limit:
        return one
    buckets = max(1, limit // 2)
    keep: set[int] = {0, count - 1}
    values = one.values
    for bucket in range(buckets):
        start = bucket * count // buckets
        end = (bucket + 1) * count // buckets
        chunk = values[start:end]
        if not chunk:
            continue
        if math.isfinite(sum(chunk)):
            keep.add(start + chunk.index(min(chunk)))
            keep.add(start + chunk.index(max(chunk)))
            continue
        finite = [(value, start + at) for at, value in enumerate(chunk) if math.isfinite(value)]
        if finite:
            keep.add(min(finite)[1])
            keep.add(max(finite)[1])
        keep.add(next(start + at for at, value in enumerate(chunk) if not math.isfinite(value)))
    order = sorted(keep)
    return series.Series(
        one.name,
        [one.steps[at] for at in order],
        [one.times[at] for at in order],
        [values[at] for at in order],
    )


def encode_series(one: series.Series, limit: int = MAX_POINTS_PER_SERIES) -> dict[str, Any]:
    """A series for the page: base64 little-endian float arrays, downsampled to ``limit``.

    Float32 keeps NaN and infinities (JSON cannot) at 5.3 bytes a value; steps
    stay exact up to 2**24 in float32, beyond that they go as float64.
    """
    sampled = downsample(one, limit)
    start = sampled.times[0] if sampled.times else 0.0
    exact_in_float32 = all(-(1 << 24) <= step <= 1 << 24 for step in sampled.steps)
    return {
        "n": len(one.values),
        "step": _pack("f" if exact_in_float32 else "d", sampled.steps),
        "step_type": "f32" if exact_in_float32 else "f64",
        "time": _pack("f", [when - start for when in sampled.times]),
        "value": _pack("f", sampled.values),
        "start_time": start,
    }


def _pack(typecode: str, values: Iterable[float]) -> str:
    packed = array.array(typecode, values)
    if sys.byteorder == "big":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")


def _code_state(run: dict[str, Any]) -> str | None:
    """A fingerprint of a run's full code state, or None without a snapshot."""
    git = run["git"]
    if not git.get("snapshot") or not git.get("commit"):
        return None
    digest = hashlib.sha256(str(git["commit"]).encode())
    try:
        with open(store.git_path(run["path"], store.PATCH_FILE), "rb") as file:
            digest.update(file.read())
    except OSError:
        pass
    untracked = store.git_path(run["path"], store.UNTRACKED_DIR)
    for directory, subdirectories, names in os.walk(untracked):
        subdirectories.sort()
        for name in sorted(names):
            path = os.path.join(directory, name)
            digest.update(os.path.relpath(path, untracked).encode("utf-8", "surrogateescape"))
            try:
                with open(path, "rb") as file:
                    digest.update(hashlib.sha256(file.read()).digest())
            except OSError:
                digest.update(b"unreadable")
    # 64 bits tell a page's code states apart; the full digest would bloat every run
    return digest.hexdigest()[:16]


def _code_diffs(runs: list[dict[str, Any]], warnings: list[str]) -> tuple[dict[str, str], str]:
    """Code diffs between the runs' distinct code states, when there are few of them.

    Keys are ``"STATE1 STATE2"``; each run carries its ``code_state``.
    Runs with the same state need no diff.
    """
    states: dict[str, str] = {}
    for run in runs:
        state = _code_state(run)
        run["code_state"] = state
        if state is not None:
            states.setdefault(state, run["path"])
    if len(states) > CODE_DIFF_STATES:
        return {}, (
            f"{len(states)} different code states: code diffs are not in the page; "
            "run maggot diff RUN1 RUN2, or use maggot ui"
        )
    diffs: dict[str, str] = {}
    ordered = sorted(states)
    for first_index, first in enumerate(ordered):
        for second in ordered[first_index + 1 :]:
            for one, two in ((first, second), (second, first)):
                try:
                    diffs[f"{one} {two}"] = code_diff_text(states[one], states[two])
                except MaggotError as error:
                    # the same reason (no repository, a missing commit) for every pair
                    return {}, f"no code diffs: {error}"
    return diffs, ""


def code_diff_text(run_dir1: str, run_dir2: str) -> str:
    """``maggot diff``'s code part from run 1 to run 2, as text, cut at a size limit."""
    from maggot import codediff

    output = codediff.diff_code(run_dir1, run_dir2, cwd=os.getcwd()).output
    text = output[:MAX_CODE_DIFF_BYTES].decode("utf-8", errors="replace")
    if len(output) > MAX_CODE_DIFF_BYTES:
        text += f"\n... cut at {MAX_CODE_DIFF_BYTES} bytes: run maggot diff for the rest\n"
    return text


def _finite(value: Any) -> Any:
    """NaN and infinities as the strings Python prints; JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def data_json(data: dict[str, Any]) -> str:
    """The page data as JSON safe inside a ``<script>`` element: no ``<``, ``>`` or ``&``."""
    try:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(data), ensure_ascii=False, separators=(",", ":"))
    return _SCRIPT_UNSAFE.sub(lambda match: _SCRIPT_ESCAPES[match.group()], text)


def _asset(name: str) -> str:
    return (resources.files("maggot") / ASSETS / name).read_text(encoding="utf-8")


def render_page(data: dict[str, Any] | None, *, live: bool = False) -> str:
    """The HTML page: ``data`` embedded, or fetched from the server when ``live``."""
    parts = {
        "TITLE": html.escape(data["title"] if data else "maggot runs"),
        "UPLOT_CSS": _asset("uPlot.min.css"),
        "STYLE": _asset("report.css"),
        "UPLOT": _asset("uPlot.iife.min.js"),
        "APP": _asset("report.js"),
        "DATA": data_json(data) if data is not None else "null",
        "LIVE": "true" if live else "false",
    }
    # one pass: text put in (run strings, the scripts) is never searched for placeholders
    return _PLACEHOLDER.sub(lambda match: parts[match.group(1)], _asset("report.html"))


def write_report(
    run_dirs: Sequence[str], output: str, *, title: str = "maggot runs"
) -> ReportOutcome:
    """Write the page for ``run_dirs`` to ``output`` (atomically)."""
    data = collect(run_dirs, title=title)
    page = render_page(data)
    store.write_text_atomic(output, page)
    return ReportOutcome(output, len(data["runs"]), len(page.encode("utf-8")), data["warnings"])
