"""``maggot report``: the runs as one self-contained HTML file."""

from __future__ import annotations

import os

import click

from maggot import query
from maggot import summarize as summaries
from maggot.cli.base import MaggotCommand, warn
from maggot.cli.summarize import parse_filters


@click.command("report", cls=MaggotCommand)
@click.argument("sources", nargs=-1, metavar="[DIR | RUN...]")
@click.option(
    "-o", "--output", default="report.html", show_default=True, metavar="FILE",
    help="Where to write the page.",
)  # fmt: skip
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a web browser.")
@click.option("--title", default=None, help="The page's title [default: the sources].")
@click.option(
    "--depth", type=click.IntRange(min=0), default=summaries.DEFAULT_DEPTH, show_default=True,
    help="Look this many folder levels below DIR for runs.",
)  # fmt: skip
@click.option(
    "--filter", "filters", multiple=True, metavar="EXPR", callback=parse_filters,
    help="Only the runs where EXPR holds (summarize's filter language); repeat to AND.",
)  # fmt: skip
def report_command(
    sources: tuple[str, ...],
    output: str,
    open_browser: bool,
    title: str | None,
    depth: int,
    filters: list[query.Filter],
) -> None:
    """Write one HTML page showing runs: table, curves, plots and diffs.

    SOURCES are run directories or folders holding runs (default:
    ./experiments). The page works offline (everything is embedded, no
    network), so it can be attached to a pull request or copied off a
    cluster. It has the runs table (sortable, filterable with summarize's
    KEY OP VALUE filters, column chooser), overlaid curves of a series,
    parallel coordinates of config values against a metric (brushing filters
    the table), a scatter plot, everything about one run, and the config
    and code diff of two runs. Long series are downsampled for the page,
    keeping each stretch's minimum and maximum. --filter chooses the runs
    with summarize's filter language (the page's own filter box takes
    KEY OP VALUE terms).
    """
    from maggot import report

    sources = sources or ("experiments",)
    run_dirs = report.select_runs(report.find_runs(sources, depth), filters)
    outcome = report.write_report(run_dirs, output, title=title or "maggot: " + " ".join(sources))
    for message in outcome.warnings:
        warn(message)
    click.echo(f"{outcome.path}: {outcome.runs} runs, {outcome.size / 1e6:.2f} MB")
    if open_browser:
        import webbrowser

        webbrowser.open("file://" + os.path.abspath(outcome.path))
