"""``maggot compare``: runs side by side, one column per run."""

from __future__ import annotations

import click

from maggot import compare, query
from maggot import summarize as summaries
from maggot.cli.base import MaggotCommand, warn
from maggot.cli.summarize import format_option, parse_filters, precision_option


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
@precision_option
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
    --dir where the expression holds (reproductions left out).
    """
    run_dirs = compare.expand_run_arguments(runs, directory)
    if filters:
        summary = summaries.summarize(directory, filters=filters)
        run_dirs += [row.path for row in summary.rows if row.path not in run_dirs]
    if not run_dirs:
        raise click.UsageError("give runs to compare, or --filter")
    comparison = compare.compare_runs(run_dirs, show_all=show_all)
    for message in comparison.warnings:
        warn(message)
    if not comparison.rows:
        click.echo("maggot: the runs do not differ (--all shows every row)", err=True)
    click.echo(compare.render_comparison(comparison, output_format, precision), nl=False)
