"""``maggot run``: record any command as a run, unchanged."""

from __future__ import annotations

from typing import Any

import click

from maggot.cli.base import MaggotCommand

IF_EXISTS_CHOICES = ("prompt", "exit", "delete", "continue", "increment")


def parse_assignments(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[tuple[str, Any], ...]:
    """``KEY=VALUE`` options as (key, value) pairs, numbers as numbers."""
    from maggot import params

    pairs = []
    for value in values:
        key, equals, text = value.partition("=")
        if not equals or not key:
            raise click.BadParameter(f"{value!r}: expected KEY=VALUE", ctx=ctx, param=param)
        pairs.append((key, params.parse_value(text)))
    return tuple(pairs)


# options maggot run and maggot sweep share, defined once
name_option = click.option(
    "--name", "name_template", metavar="TEMPLATE",
    help="Run name with {key} placeholders, e.g. 'lr{lr}-e{epochs}' (default: from the values).",
)  # fmt: skip
results_option = click.option(
    "--results", "results_file", metavar="FILE",
    help="A JSON file the command writes; its values become the run's results.",
)  # fmt: skip
metric_pattern_option = click.option(
    "--metric-pattern", metavar="REGEX",
    help="Pick results out of output lines: named groups 'name' and 'value'.",
)  # fmt: skip


@click.command(
    "run",
    cls=MaggotCommand,
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option(
    "--config", "config_file", metavar="FILE.json",
    help="Add this JSON file's content to the config.",
)  # fmt: skip
@click.option(
    "--param", "extra_params", multiple=True, metavar="KEY=VALUE", callback=parse_assignments,
    help="Add KEY=VALUE to the config (repeatable).",
)  # fmt: skip
@name_option
@click.option(
    "--experiments-dir", default="experiments", show_default=True, metavar="DIR",
    help="Where run directories are created.",
)  # fmt: skip
@click.option(
    "--if-exists", type=click.Choice(IF_EXISTS_CHOICES), default="prompt", show_default=True,
    help="When the run directory exists (prompt asks on a terminal, else exits).",
)  # fmt: skip
@results_option
@metric_pattern_option
@click.option(
    "--no-track-inputs", "track_inputs", flag_value=False, default=True,
    help="Record no inputs.json (the files the run's Python processes open).",
)  # fmt: skip
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
def run_command(
    config_file: str | None,
    extra_params: tuple[tuple[str, Any], ...],
    name_template: str | None,
    experiments_dir: str,
    if_exists: str,
    results_file: str | None,
    metric_pattern: str | None,
    track_inputs: bool,
    command: tuple[str, ...],
) -> None:
    """Record COMMAND as a run, without changing it: maggot run [OPTIONS] -- COMMAND...

    The config is the command's parameters in the order given: --lr 0.1,
    --lr=0.1, -x 3 and key=value; a bare --flag is true; numbers become
    numbers. The output of the command and all its children is shown and
    logged as printed. A script that creates an Experiment itself joins this
    run (its config merged in). The run's status follows the command's exit
    code, and maggot run exits with it; Ctrl-C reaches the command and the
    run is recorded as interrupted.

    \b
    Example:
      maggot run --metric-pattern '(?P<name>acc)=(?P<value>[0-9.]+)' -- python train.py --lr 0.1
    """
    from maggot import entry, launch, params

    request = launch.RunRequest(
        command=command,
        experiments_dir=experiments_dir,
        name_template=name_template,
        if_exists=if_exists,
        config_file=config_file,
        extra_params=extra_params,
        results_file=results_file,
        metric_pattern=metric_pattern,
        track_inputs=track_inputs,
    )
    try:
        launch.check_request(request)
    except (launch.LaunchError, params.ParameterError) as error:
        raise click.UsageError(str(error)) from None
    # the same run as the console script's click-free path (maggot.entry) starts
    exit_code = entry.execute_run(request, lambda message: click.echo(message, err=True))
    click.get_current_context().exit(exit_code)
