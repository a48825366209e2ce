"""``maggot summarize``: a table of runs."""

from __future__ import annotations

import click

from maggot import summarize as summaries
from maggot.cli.base import MaggotCommand, warn


def _parse_filters(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> list[summaries.Condition]:
    try:
        return [summaries.parse_condition(value) for value in values]
    except summaries.FilterSyntaxError as error:
        raise click.BadParameter(str(error), ctx=ctx, param=param) from None


@click.command("summarize", cls=MaggotCommand)
# a Path type: shells complete directories for it
@click.argument("directory", metavar="DIR", type=click.Path(file_okay=False))
@click.option(
    "--sort", "sort_key", metavar="KEY", help="Sort by this metric (or run, status, ...)."
)
@click.option("--ascending", is_flag=True, help="Sort smallest first (default: largest first).")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(summaries.FORMATS),
    default="table",
    show_default=True,
    help="json, csv and markdown are for scripts and documents.",
)
@click.option("--params", "with_params", is_flag=True, help="Add a column per config value.")
@click.option(
    "--filter", "conditions", multiple=True, metavar="EXPR", callback=_parse_filters,
    help="Keep runs where KEY OP VALUE holds (OP: = == != < <= > >=); repeat to AND.",
)  # fmt: skip
@click.option(
    "--depth", type=click.IntRange(min=0), default=None,
    help=f"Look this many folder levels below DIR for runs [default: {summaries.DEFAULT_DEPTH}].",
)  # fmt: skip
@click.option("--recursive", is_flag=True, help="Look at any depth below DIR.")
@click.option(
    "--sweep", "sweep_id", metavar="ID",
    help="Only the runs of sweep ID (DIR is the experiments directory holding it).",
)  # fmt: skip
def summarize_command(
    directory: str,
    sort_key: str | None,
    ascending: bool,
    output_format: str,
    with_params: bool,
    conditions: list[summaries.Condition],
    depth: int | None,
    recursive: bool,
    sweep_id: str | None,
) -> None:
    """List the runs under DIR with their status and metrics.

    One row per run and a column per metric in results.json, named by its
    dotted key (fold1.loss). --params adds a column per config value, named by
    its dotted key (model.C), or config.KEY when a metric has the same name.

    --filter and --sort keys are run, status, a metric, or a config key
    (config.KEY always means the config value); numbers compare numerically,
    anything else as text; runs without the key never match a filter and sort
    last. Runs in different folders with the same name are shown by their path
    relative to DIR. Corrupt or unfinished runs are listed with a warning on
    stderr.
    """
    if depth is not None and recursive:
        raise click.UsageError("--depth and --recursive cannot be used together")
    max_depth = None if recursive else (summaries.DEFAULT_DEPTH if depth is None else depth)
    run_dirs = None
    if sweep_id is not None:
        from maggot import sweep

        record = sweep.load_sweep(sweep.find_sweep(sweep_id, directory))
        run_dirs = [state.run_dir for state in sweep.job_states(record) if state.run_dir]
    result = summaries.summarize(
        directory,
        max_depth=max_depth,
        with_params=with_params,
        conditions=conditions,
        sort_key=sort_key,
        ascending=ascending,
        run_dirs=run_dirs,
    )
    for message in result.warnings:
        warn(message)
    if not result.runs_found:
        click.echo(f"maggot: no runs under {directory}", err=True)
    elif not result.rows:
        click.echo("maggot: no runs match the filters", err=True)
    click.echo(summaries.render(result, output_format), nl=False)
