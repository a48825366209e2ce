"""``maggot summarize``: a table of runs."""

from __future__ import annotations

import gc

import click

from maggot import query, series
from maggot import summarize as summaries
from maggot.cli.base import MaggotCommand, warn


def parse_filters(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> list[query.Filter]:
    """Click callback: each ``--filter`` parsed, or a usage error pointing at the column."""
    try:
        return [query.parse(value) for value in values]
    except query.FilterSyntaxError as error:
        raise click.BadParameter(str(error), ctx=ctx, param=param) from None


def _parse_info(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[str]:
    names = split_patterns(ctx, param, values)
    for name in names:
        if name.removeprefix(summaries.INFO_PREFIX) not in summaries.INFO_COLUMNS:
            raise click.BadParameter(summaries.unknown_info_column(name), ctx=ctx, param=param)
    return names


def _parse_stats(ctx: click.Context, param: click.Parameter, value: str) -> list[str]:
    stats = [stat.strip() for stat in value.split(",") if stat.strip()]
    unknown = [stat for stat in stats if stat not in series.STATS]
    if unknown:
        raise click.BadParameter(
            f"{', '.join(unknown)}: expected some of {','.join(series.STATS)}", ctx=ctx, param=param
        )
    return stats


def split_patterns(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> list[str]:
    """Click callback: comma-separated values of a repeatable option, in order."""
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


format_option = click.option(
    "--format",
    "output_format",
    type=click.Choice(summaries.FORMATS),
    default="table",
    show_default=True,
    help="json (NaN/inf as null), csv and markdown are for scripts and documents.",
)
precision_option = click.option(
    "--precision", type=click.IntRange(min=1), metavar="N",
    help="Round floats to N significant digits in table and markdown output "
    "(config values are shown as recorded).",
)  # fmt: skip


@click.command("summarize", cls=MaggotCommand)
# a Path type: shells complete directories for it
@click.argument(
    "directory", metavar="[DIR]", default=summaries.DEFAULT_DIR, type=click.Path(file_okay=False)
)
@click.option(
    "--sort",
    "sort_key",
    metavar="KEY",
    help="Sort by this metric (or run, status, a config key...).",
)
@click.option("--ascending", is_flag=True, help="Sort smallest first (default: largest first).")
@format_option
@click.option("--params", "with_params", is_flag=True, help="Add a column per config value.")
@click.option(
    "--filter", "filters", multiple=True, metavar="EXPR", callback=parse_filters,
    help="Keep runs where EXPR holds, e.g. 'accuracy > 0.9 and model.C in [1, 10]'; "
    "repeat to AND.",
)  # fmt: skip
@click.option(
    "--columns", multiple=True, metavar="PATTERNS", callback=split_patterns,
    help="Show only these columns (comma-separated globs; config keys and info names too).",
)  # fmt: skip
@click.option(
    "--drop", multiple=True, metavar="PATTERNS", callback=split_patterns,
    help="Hide the columns matching these comma-separated globs.",
)  # fmt: skip
@click.option(
    "--only-changed", is_flag=True, help="Config columns, only those that differ between runs."
)
@click.option(
    "--info", multiple=True, metavar="NAMES", callback=_parse_info,
    help=f"Add run information columns: {', '.join(summaries.INFO_COLUMNS)}.",
)  # fmt: skip
@precision_option
@click.option(
    "--limit", type=click.IntRange(min=1), metavar="N", help="Show the first N rows (N >= 1)."
)
@click.option(
    "--repros", "with_repros", is_flag=True, help="Also list reproductions (RUN.repro-N)."
)
@click.option(
    "--depth", type=click.IntRange(min=0), default=None,
    help=f"Look this many folder levels below DIR for runs [default: {summaries.DEFAULT_DEPTH}].",
)  # fmt: skip
@click.option("--recursive", is_flag=True, help="Look at any depth below DIR.")
@click.option(
    "--stats", "series_stats", metavar="LIST", default="last", show_default=True,
    callback=_parse_stats,
    help="Series columns, comma-separated: " + ",".join(series.STATS) + ".",
)  # fmt: skip
@click.option(
    "--sweep", "sweep_id", metavar="ID",
    help="Only the runs of sweep ID (DIR is the experiments directory holding it).",
)  # fmt: skip
@click.option("--no-index", is_flag=True, help="Read every run file; don't use or write the index.")
def summarize_command(
    directory: str,
    sort_key: str | None,
    ascending: bool,
    output_format: str,
    with_params: bool,
    filters: list[query.Filter],
    columns: list[str],
    drop: list[str],
    only_changed: bool,
    info: list[str],
    precision: int | None,
    limit: int | None,
    with_repros: bool,
    depth: int | None,
    recursive: bool,
    series_stats: list[str],
    sweep_id: str | None,
    no_index: bool,
) -> None:
    """List the runs under DIR (default: experiments) with their status and metrics.

    One row per run and a column per metric in results.json, named by its
    dotted key (fold1.loss). --params adds a column per config value, named by
    its dotted key (model.C), or config.KEY when a metric has the same name.

    \b
    Filters: comparisons (== != < <= > >=), regex match (~, !~), KEY in [..],
    and, or, not, parentheses; text in quotes or as one bare word:
      --filter 'accuracy > 0.9 and (model.C in [1, 10] or status == "failed")'
      --filter 'tags ~ "baseline"'
    A key is run, status, a metric, a config key or an info column
    (config.KEY and info.KEY say which); an info column shown by --info
    comes before a config key of the same name, shown as config.KEY.
    Numbers compare numerically, anything else as text; runs without the
    key never match a comparison.

    Runs without a --sort key sort last. Reproductions (RUN.repro-N) are
    hidden unless --repros, and then follow their original. Runs in different
    folders with the same name are shown by their path relative to DIR.
    Corrupt or unfinished runs are listed with a warning on stderr. A listing
    index in DIR/.maggot-index lets unchanged runs be listed without reading
    their files; deleting it loses nothing. It notices every change maggot
    makes; after editing a run file by hand, touch RUN/.maggot or use
    --no-index.

    A series recorded with log_metric shows as its last value (loss); --stats
    shows the statistics named instead: loss.min, loss.max, loss.step (the
    last step), loss.count, and loss for last. A --sort, --filter or
    --columns key such as loss.min adds that column by itself.
    """
    if depth is not None and recursive:
        raise click.UsageError("--depth and --recursive cannot be used together")
    # everything a listing allocates lives until the process ends: collections only
    # rescan it (measured: a quarter of the CPU time of listing 15,000 indexed runs)
    gc.disable()
    max_depth = None if recursive else (summaries.DEFAULT_DEPTH if depth is None else depth)
    run_dirs = None
    if sweep_id is not None:
        from maggot import sweep

        record = sweep.load_sweep(sweep.find_sweep(sweep_id, directory))
        run_dirs = [state.run_dir for state in sweep.job_states(record) if state.run_dir]
    result, text = summaries.summarize_rendered(
        directory,
        output_format,
        precision,
        max_depth=max_depth,
        with_params=with_params,
        filters=filters,
        sort_key=sort_key,
        ascending=ascending,
        series_stats=series_stats,
        run_dirs=run_dirs,
        columns=columns,
        drop=drop,
        only_changed=only_changed,
        info=info,
        limit=limit,
        with_repros=with_repros,
        use_index=not no_index,
    )
    for message in result.warnings:
        warn(message)
    if not result.runs_found and result.deeper_runs:
        click.echo(
            f"maggot: no runs within {max_depth} folder levels of {directory}, but "
            f"{result.deeper_runs} deeper (the nearest {result.nearest_depth} levels down): "
            f"use --depth {result.nearest_depth} or --recursive",
            err=True,
        )
    elif not result.runs_found:
        click.echo(f"maggot: no runs under {directory}", err=True)
    elif not result.rows:
        click.echo("maggot: no runs match the filters", err=True)
    click.echo(text, nl=False)
