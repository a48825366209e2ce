"""What ``maggot reproduce`` prints about drift, inputs, repeated replays and likely causes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click

from maggot import explain
from maggot.cli.base import CommandError, paint

_LABEL_WIDTH = 11


def _row(label: str, value: str) -> None:
    click.echo(f"  {label:<{_LABEL_WIDTH}}{value}")


def print_preflight(checks: explain.Preflight) -> None:
    """The plan's lines on environment drift and recorded inputs."""
    environment_drift = checks.drift
    if environment_drift.differs:
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


def refuse_drift(checks: explain.Preflight) -> None:
    """``--strict-env``: stop (exit 1) when anything differs or was not recorded."""
    environment_drift = checks.drift
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


def print_agreement(agreements: Sequence[explain.Agreement]) -> None:
    """A table of every result across the replays, and the verdict on determinism."""
    from tabulate import tabulate  # type: ignore[import-untyped, unused-ignore]

    if not agreements:
        return
    replays = len(agreements[0].values)
    rows = [
        [
            item.name,
            *(show_value(value) for value in item.values),
            paint("yes", "green") if item.agree else paint("no", "red"),
        ]
        for item in agreements
    ]
    headers = ["result", *(f"replay {number}" for number in range(1, replays + 1)), "agree"]
    click.echo(tabulate(rows, headers=headers, disable_numparse=True))
    if explain.is_nondeterministic(agreements):
        click.echo(
            paint(
                f"nondeterministic: the {replays} replays ran the same code in the same "
                "environment and disagree with each other; seed the script's random number "
                "generators (this is a different problem from drift)",
                "red",
                bold=True,
            )
        )
    else:
        click.echo(paint(f"the {replays} replays agree with each other", "green"))


def print_explanation(explanation: explain.Explanation) -> None:
    """The likely causes of a mismatch, numbered, most telling first."""
    if explanation.causes:
        click.echo(paint("Likely causes", bold=True))
        for number, cause in enumerate(explanation.causes, start=1):
            click.echo(f"  {number}. {cause.message}")
    for remark in explanation.remarks:
        click.echo(f"  {remark}")


def show_value(value: Any) -> str:
    """A result as shown in tables: JSON, empty when absent."""
    return "" if value is None else json.dumps(value)
