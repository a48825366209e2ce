"""``maggot config-diff`` and ``maggot diff``: two runs side by side."""

from __future__ import annotations

from collections.abc import Sequence

import click

from maggot import codediff, showrun, store
from maggot import summarize as summaries
from maggot.cli.base import MaggotCommand, complete_run, paint, use_color, warn
from maggot.results import compare_results
from maggot.terminal import printable, printable_json, printable_lines

_CHANGE_COLORS = {codediff.CHANGED: "yellow", codediff.ADDED: "green", codediff.REMOVED: "red"}


def _print_config_changes(changes: Sequence[codediff.ConfigChange]) -> None:
    for change in changes:
        click.echo(paint(printable(str(change)), _CHANGE_COLORS[change.kind]))


@click.command("config-diff", cls=MaggotCommand)
@click.argument("run1", shell_complete=complete_run)
@click.argument("run2", shell_complete=complete_run)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
@click.option("--exit-code", is_flag=True, help="Exit 1 when the configs differ.")
@click.pass_context
def config_diff(
    ctx: click.Context, run1: str, run2: str, output_format: str, exit_code: bool
) -> None:
    """Show how RUN2's config differs from RUN1's.

    Lines read "~ key: old -> new" (changed), "+ key: value" (only in RUN2) and
    "- key: value" (only in RUN1), with dotted keys and JSON values; equal configs
    print "(no differences)". Exits 0 either way unless --exit-code.
    """
    changes = codediff.config_changes(
        store.read_config(showrun.resolve_run_dir(run1)),
        store.read_config(showrun.resolve_run_dir(run2)),
    )
    if output_format == "json":
        text = store.dumps_strict(
            [change.as_json() for change in changes], indent=2, ensure_ascii=False
        )
        click.echo(printable_json(text))
    else:
        _print_config_changes(changes)
        if not changes:
            click.echo("(no differences)")
    if exit_code and changes:
        ctx.exit(1)


@click.command(cls=MaggotCommand)
@click.argument("run1", shell_complete=complete_run)
@click.argument("run2", shell_complete=complete_run)
@click.argument("paths", nargs=-1, metavar="[-- PATH...]")
@click.option("--stat", is_flag=True, help="Show a diffstat instead of the code patch.")
@click.option("--name-only", is_flag=True, help="Show only the names of changed files.")
def diff(run1: str, run2: str, paths: tuple[str, ...], stat: bool, name_only: bool) -> None:
    """Compare two runs: config, full code state, and results.

    The code diff goes from RUN1's code to RUN2's, each being its commit plus
    the uncommitted changes and untracked files recorded with the run; PATHs
    limit it. It runs in the git repository containing the current directory
    (or else RUN1), which must have both commits; nothing in that repository
    is changed. --stat and --name-only change the code part only.
    """
    if stat and name_only:
        raise click.UsageError("--stat and --name-only cannot be used together")
    run_dir1, run_dir2 = showrun.resolve_run_dir(run1), showrun.resolve_run_dir(run2)
    record1 = store.load_run(run_dir1, with_config=False)
    record2 = store.load_run(run_dir2, with_config=False)
    for problem in (*record1.problems, *record2.problems):
        warn(problem)
    changes = codediff.config_changes(store.read_config(run_dir1), store.read_config(run_dir2))
    code = codediff.diff_code(
        run_dir1,
        run_dir2,
        paths=paths,
        output=codediff.STAT if stat else codediff.NAME_ONLY if name_only else codediff.PATCH,
        color=use_color(),
    )
    label1, label2 = record1.name, record2.name
    if label1 == label2:
        label1, label2 = run_dir1, run_dir2
    label1, label2 = printable(label1), printable(label2)

    click.echo(paint(f"config ({label1} -> {label2})", bold=True))
    _print_config_changes(changes)
    if not changes:
        click.echo("(no differences)")

    click.echo()
    commits = f"{code.commit1[:12]} -> {code.commit2[:12]}"
    recorded = "with recorded changes" if code.dirty1 or code.dirty2 else "both recorded clean"
    click.echo(paint(f"code ({commits}, {recorded})", bold=True))
    if code.output:
        text = code.output.decode("utf-8", errors="replace")
        click.echo(printable_lines(text, colored=use_color()), nl=False)
    else:
        click.echo("(no differences)")

    click.echo()
    click.echo(paint("results", bold=True))
    rows = compare_results(record1.results, record2.results)
    if not rows:
        click.echo("(none recorded)")
        return
    from tabulate import tabulate  # type: ignore[import-untyped, unused-ignore]

    cells = [
        [
            printable(row.name),
            printable(summaries.render_value(row.first) if row.in_first else ""),
            printable(summaries.render_value(row.second) if row.in_second else ""),
        ]
        for row in rows
    ]
    click.echo(tabulate(cells, headers=["metric", label1, label2], disable_numparse=True))
