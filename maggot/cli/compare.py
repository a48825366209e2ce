"""``maggot compare``: runs side by side, one column per run."""

from __future__ import annotations

import click

from maggot import compare, query
from maggot import summarize as summaries
from maggot.cli.base import CommandError, MaggotCommand, warn
from maggot.cli.summarize import format_option, parse_filters


@click.command("compare", cls=MaggotCommand)
@click.argument("runs", nargs=-1, metavar="[RUN...]")
@click.option("--all", "show_all", is_flag=True, help="Show every row, not only those that differ.")
@click.option(
    "--filter", "filters", multiple=True, metavar="EXPR", callback=parse_filters,
    help="Compare the runs under --dir where EXPR holds (as in summarize).",
)  # fmt: skip
@click.option(
    "--dir", "directory", default=summaries.DEFAULT_DIR, show_default=True, metavar="DIR",
    help="Where RUN names, globs and --filter look for runs.",
)  # fmt: skip
@format_option
@click.option(
    "--precision", type=click.IntRange(min=1), metavar="N",
    help="Round results, series and durations to N significant digits in table and "
    "markdown output (config values are shown as recorded).",
)  # fmt: skip
def compare_command(
    runs: tuple[str, ...],
    show_all: bool,
    filters: list[query.Filter],
    directory: str,
    output_format: str,
    precision: int | None,
) -> None:
    """Compare runs key by key: one column per run, one row per key.

    \b
    Rows: config.KEY, results.KEY, run.status/started/duration/host/user/
    python/command, git.commit, git.dirty and tags. Only the rows that differ
    are shown unless --all. A RUN is a run directory, a run name under --dir,
    or a glob ('experiments/0.1-*' or '0.1-*'); --filter adds the runs under
    --dir where the expression holds (reproductions left out). It takes two
    different runs or more.
    """
    run_dirs = compare.expand_run_arguments(runs, directory)
    if filters:
        summary = summaries.summarize(directory, filters=filters)
        run_dirs = compare.distinct_runs([*run_dirs, *(row.path for row in summary.rows)])
    _check_two_runs_or_more(run_dirs, filters, directory)
    comparison = compare.compare_runs(run_dirs, show_all=show_all)
    for message in comparison.warnings:
        warn(message)
    if not comparison.rows:
        click.echo("maggot: the runs do not differ (--all shows every row)", err=True)
    click.echo(compare.render_comparison(comparison, output_format, precision), nl=False)


def _check_two_runs_or_more(
    run_dirs: list[str], filters: list[query.Filter], directory: str
) -> None:
    """One line saying why there is nothing to compare; with --filter, the runs decide (exit 1)."""
    if len(run_dirs) >= 2:
        return
    if not run_dirs and not filters:
        raise click.UsageError("give two runs or more to compare, or --filter")
    if not run_dirs:
        which = "the filter" if len(filters) == 1 else "the filters"
        raise CommandError(f"no run under {directory} matches {which}")
    message = f"compare needs two different runs or more, got only {run_dirs[0]}"
    raise CommandError(message) if filters else click.UsageError(message)
