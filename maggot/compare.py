"""Runs side by side: one column per run, one row per config key, result and run fact."""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Sequence
from typing import Any, NamedTuple

from maggot import annotate, query, series, store
from maggot.capture import shell_command
from maggot.config import flatten
from maggot.errors import MaggotError, NotARunError
from maggot.records import RunInfo
from maggot.summarize import render_cells, render_value
from maggot.terminal import printable_json

MISSING: Any = query.MISSING


class ComparedKey(NamedTuple):
    """One row: a key and each run's value for it (MISSING where a run has none)."""

    key: str
    values: tuple[Any, ...]

    @property
    def differs(self) -> bool:
        """Whether the runs do not all have the same value."""
        return len({_identity(value) for value in self.values}) > 1


class RunComparison(NamedTuple):
    """Runs compared key by key."""

    runs: list[str]
    paths: list[str]
    rows: list[ComparedKey]
    warnings: list[str]


def expand_run_arguments(arguments: Sequence[str], experiments_dir: str) -> list[str]:
    """Run directories the arguments name: runs, run names under ``experiments_dir``, or globs.

    A glob is matched against paths first, then against run names under
    ``experiments_dir``; one that matches no run is an error.
    """
    found: list[str] = []
    for argument in arguments:
        if not any(char in argument for char in "*?["):
            found.append(store.resolve_run_dir(argument, experiments_dir, by_folder_name=True))
            continue
        matches = [path for path in sorted(glob.glob(argument)) if store.is_run_dir(path)]
        if not matches:
            pattern = os.path.join(experiments_dir, argument)
            matches = [path for path in sorted(glob.glob(pattern)) if store.is_run_dir(path)]
        if not matches:
            raise NotARunError(f"{argument}: no run matches")
        found.extend(matches)
    return distinct_runs(found)


def distinct_runs(run_dirs: Sequence[str]) -> list[str]:
    """``run_dirs`` without repeats, however spelled (``a``, ``./a/``, a link to it): first kept."""
    seen: dict[str, str] = {}
    for run_dir in run_dirs:
        seen.setdefault(os.path.realpath(run_dir), run_dir)
    return list(seen.values())


def compare_runs(run_dirs: Sequence[str], *, show_all: bool = False) -> RunComparison:
    """Compare runs: config, results, series (last values), run information, git, tags.

    Only the rows whose values differ are kept unless ``show_all``.
    """
    if not run_dirs:
        raise MaggotError("no runs to compare")
    warnings: list[str] = []
    columns: list[dict[str, Any]] = []
    for run_dir in run_dirs:
        record = store.load_run(run_dir)
        warnings.extend(record.problems)
        columns.append(_facts(record, warnings))
    keys = sorted({key for facts in columns for key in facts}, key=_key_order)
    rows = [ComparedKey(key, tuple(facts.get(key, MISSING) for facts in columns)) for key in keys]
    if not show_all:
        rows = [row for row in rows if row.differs]
    names = [os.path.basename(os.path.normpath(path)) for path in run_dirs]
    if len(set(names)) != len(names):
        names = [os.path.normpath(path) for path in run_dirs]
    return RunComparison(names, list(run_dirs), rows, warnings)


def _facts(record: store.RunRecord, warnings: list[str]) -> dict[str, Any]:
    info = record.info
    run_facts = {
        "run.status": record.status,
        "run.started": info.started_at,
        "run.duration": info.duration_seconds,
        "run.host": info.hostname,
        "run.user": info.user,
        "run.python": info.python.version,
        "run.command": _command_line(info),
    }
    facts: dict[str, Any] = {key: value for key, value in run_facts.items() if value is not None}
    try:
        head = store.read_json_object(store.git_path(record.path, store.HEAD_FILE))
    except FileNotFoundError:
        head = {}
    except MaggotError as error:
        warnings.append(str(error))
        head = {}
    if isinstance(head.get("commit"), str):
        facts["git.commit"] = head["commit"]
    if head.get("snapshot"):
        facts["git.dirty"] = bool(head.get("is_dirty"))
    try:
        tags = annotate.load_annotations(record.path).tags
    except MaggotError as error:
        warnings.append(str(error))
        tags = ()
    facts["tags"] = " ".join(tags)
    facts.update(("config." + key, value) for key, value in flatten(record.config).items())
    facts.update(("results." + key, value) for key, value in flatten(record.results).items())
    if series.has_series(record.path):
        # a series compares by its last value, as summarize shows it
        stats, problems = series.read_stats(record.path)
        warnings.extend(problems)
        facts.update(("series." + name, one.last) for name, one in stats.items())
    return facts


def _command_line(info: RunInfo) -> str | None:
    """The run's own command as one shell line, like ``maggot show-command``.

    A launched run (``maggot run``, a sweep job) shows the command it ran,
    not maggot's; ``argv`` (the launching process's, a sweep's template) is
    only a fallback for records that hold nothing else.
    """
    command = info.launched_command or info.command_argv or info.argv
    return shell_command(command) if command else None


def _key_order(key: str) -> tuple[int, str]:
    order = ("config.", "results.", "series.", "run.", "git.", "tags")
    return next(number for number, prefix in enumerate(order) if key.startswith(prefix)), key


def _identity(value: Any) -> str:
    if value is MISSING:
        return "\0missing"
    return json.dumps(value, sort_keys=True)


def render_comparison(
    comparison: RunComparison, output_format: str, precision: int | None = None
) -> str:
    """The comparison as a vertical table (or json, csv, markdown).

    ``precision`` rounds the floats of tables, except config values: those are
    shown as recorded, so that a row shown because its values differ never
    shows them the same.
    """
    if output_format == "json":
        records = [
            {
                "key": row.key,
                "values": {
                    run: store.without_nonfinite(value)
                    for run, value in zip(comparison.runs, row.values)
                    if value is not MISSING
                },
            }
            for row in comparison.rows
        ]
        text = json.dumps({"runs": comparison.runs, "rows": records}, indent=2, ensure_ascii=False)
        # run-file strings are shown escaped, never obeyed by the terminal
        return printable_json(text + "\n")
    rows = [[row.key, *_shown_values(row, precision)] for row in comparison.rows]
    return render_cells(["key", *comparison.runs], rows, output_format, precision)


def _shown_values(row: ComparedKey, precision: int | None) -> tuple[Any, ...]:
    if precision is None or not row.key.startswith("config."):
        return row.values
    # as text, a float is past rounding: repr is how it shows without precision
    return tuple(render_value(value) if isinstance(value, float) else value for value in row.values)
