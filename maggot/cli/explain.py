"""What ``maggot reproduce`` prints about drift, inputs, repeated replays and likely causes."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import click

from maggot import explain, inputs
from maggot.cli.base import CommandError, paint, warn

if TYPE_CHECKING:
    from maggot.reproduce import ReplayOutcome

_LABEL_WIDTH = 11


def _row(label: str, value: str) -> None:
    click.echo(f"  {label:<{_LABEL_WIDTH}}{value}")


def print_preflight(checks: explain.Preflight, warn_inside: bool = True) -> None:
    """The plan's lines on environment drift and recorded inputs.

    ``warn_inside``: warn that files read inside the repository and not in
    the snapshot are not in the worktree (they are not provided).
    """
    environment_drift = checks.drift
    if checks.drift_problem:
        _row("drift", paint(f"unknown: {checks.drift_problem}", "yellow"))
    elif environment_drift.differs:
        count = len(environment_drift.differences)
        _row("drift", paint(f"{count} difference(s) from the run's environment:", "yellow"))
        for difference in environment_drift.differences:
            _row("", difference.describe())
    elif not environment_drift.not_recorded:
        _row("drift", "none (interpreter, platform, packages, environment variables)")
    if environment_drift.not_recorded:
        _row("drift", "not recorded: " + ", ".join(environment_drift.not_recorded))
    _row("inputs", _inputs_summary(checks))
    for change in checks.input_changes:
        _row("", paint(f"{change.path}: {change.state} since the run", "yellow"))
    if checks.inputs is not None and warn_inside:
        inside = checks.inputs.of_location(inputs.IGNORED, inputs.SKIPPED)
        read_inside = [item.path for item in inside if item.was_read]
        if read_inside:
            warn(
                "the run read files inside the repository that are not in the snapshot ("
                + ", ".join(read_inside)
                + "): the worktree does not have them, so a replay reading them by a "
                "relative path will not find them"
            )


def _inputs_summary(checks: explain.Preflight) -> str:
    inputs = checks.inputs
    if inputs is None:
        return "not recorded (an older run, or input tracking was off)"
    read = [item for item in inputs.files if item.was_read]
    written = len(inputs.files) - len(read)
    summary = f"{len(read)} read, {written} written outside the snapshot"
    if checks.input_changes:
        return f"{summary}; {len(checks.input_changes)} changed since the run:"
    return f"{summary}; none read changed since the run" if read else summary


def link_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--link PATH`` and ``--no-inputs``, shared by reproduce and rerun."""
    command = click.option(
        "--no-inputs",
        is_flag=True,
        help="Provide no ignored files from the checkout (the worktree has only the snapshot).",
    )(command)
    return click.option(
        "--link",
        "links",
        multiple=True,
        metavar="PATH",
        type=click.Path(exists=True),
        help="Also provide this file or directory of the checkout at the same path in the "
        "worktree (runs without an inputs record); repeatable.",
    )(command)


def check_link_options(links: Sequence[str], no_inputs: bool) -> None:
    """``--link`` and ``--no-inputs`` contradict each other."""
    if links and no_inputs:
        raise click.UsageError("--link and --no-inputs cannot be used together")


def refuse_drift(checks: explain.Preflight) -> None:
    """``--strict-env``: stop (exit 1) when anything differs or was not recorded."""
    environment_drift = checks.drift
    if checks.drift_problem:
        raise CommandError(f"--strict-env: {checks.drift_problem}; nothing was run")
    if environment_drift.not_recorded:
        raise CommandError(
            "--strict-env: the run did not record its "
            + ", ".join(environment_drift.not_recorded)
            + ", so drift cannot be ruled out; nothing was run"
        )
    if environment_drift.differs:
        described = [item.describe() for item in environment_drift.differences]
        raise CommandError(
            "--strict-env: the environment differs from the run's: "
            + "; ".join(described)
            + "; nothing was run"
        )


def print_repeated(
    outcomes: Sequence[ReplayOutcome], agreements: Sequence[explain.Agreement]
) -> None:
    """One table for several replays: each result in the run and in every replay,
    how many replays match the run, and whether the replays agree with each other."""
    from tabulate import tabulate  # type: ignore[import-untyped, unused-ignore]

    count = len(outcomes)
    statuses = [{item.name: item for item in outcome.comparisons} for outcome in outcomes]
    agreement = {item.name: item for item in agreements}
    names = sorted(set(agreement).union(*statuses))
    rows = []
    for name in names:
        original = next((by_name[name].first for by_name in statuses if name in by_name), None)
        values = [by_name[name].second if name in by_name else None for by_name in statuses]
        matching = sum(
            1 for by_name in statuses if name in by_name and by_name[name].status == "match"
        )
        agree = name in agreement and agreement[name].agree
        rows.append(
            [
                name,
                show_value(original),
                *(show_value(value) for value in values),
                paint(f"{matching}/{count}", "green" if matching == count else "red"),
                paint("yes", "green") if agree else paint("no", "red"),
            ]
        )
    headers = ["result", "original", *(f"replay {n}" for n in range(1, count + 1))]
    click.echo(tabulate(rows, headers=[*headers, "match", "agree"], disable_numparse=True))
    for number, outcome in enumerate(outcomes, start=1):
        for problem in outcome.problems:
            click.echo(f"maggot: replay {number}: {problem}", err=True)
    failed = sum(1 for outcome in outcomes if not outcome.reproduced)
    if failed:
        message = f"not reproduced: {failed} of {count} replays differ from the run"
        click.echo(paint(message, "red", bold=True))
    else:
        click.echo(paint(f"reproduced: every result matches in all {count} replays", "green"))
    if explain.is_nondeterministic(agreements):
        click.echo(
            paint(
                f"nondeterministic: the {count} replays ran the same code in the same "
                "environment and disagree with each other; seed the script's random number "
                "generators (this is a different problem from drift)",
                "red",
                bold=True,
            )
        )
    else:
        click.echo(f"the {count} replays agree with each other")


def print_explanation(explanation: explain.Explanation) -> None:
    """The likely causes of a mismatch, numbered, most telling first."""
    if explanation.causes:
        click.echo(paint("Likely causes", bold=True))
        for number, cause in enumerate(explanation.causes, start=1):
            click.echo(f"  {number}. {cause.message}")
    for remark in explanation.remarks:
        click.echo(f"  {remark}")


def show_value(value: Any) -> str:
    """A result as shown in tables: JSON (long lists shortened), empty when absent."""
    if isinstance(value, list):
        from maggot.summarize import table_value

        return table_value(value)
    return "" if value is None else json.dumps(value)
