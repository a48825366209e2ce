"""``maggot tag`` and ``maggot note``: label runs without touching what they recorded."""

from __future__ import annotations

import click

from maggot import annotate, showrun
from maggot.cli.base import MaggotCommand
from maggot.errors import NotARunError
from maggot.terminal import printable


def split_runs_and_tags(arguments: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """The leading arguments that name runs, and the rest (the tags)."""
    runs: list[str] = []
    for position, argument in enumerate(arguments):
        if not _names_a_run(argument):
            return runs, list(arguments[position:])
        runs.append(showrun.resolve_run_dir(argument))
    return runs, []


def _names_a_run(argument: str) -> bool:
    try:
        showrun.resolve_run_dir(argument)
    except NotARunError:
        return False
    return True


@click.command(cls=MaggotCommand)
@click.argument("arguments", nargs=-1, required=True, metavar="RUN... [TAG...]")
@click.option("--remove", is_flag=True, help="Remove the tags instead of adding them.")
def tag(arguments: tuple[str, ...], remove: bool) -> None:
    """Add (or --remove) tags on runs; with no TAG, print each run's tags.

    The arguments that name runs come first, the tags after them. A tag is
    one word of letters, digits and _ . + -. Tags are kept in the run's
    .maggot/annotations.json; the recorded files are never changed. Removing
    a tag a run does not have says so on stderr. They show
    in 'maggot show' and 'summarize --info tags', and filter with
    --filter 'tags ~ "baseline"'.
    """
    runs, tags = split_runs_and_tags(arguments)
    if not runs:
        showrun.resolve_run_dir(arguments[0])  # says why the first one is not a run
    if not tags:
        if remove:
            raise click.UsageError("--remove needs the tags to remove")
        for run_dir in runs:
            listed = " ".join(annotate.load_annotations(run_dir).tags)
            click.echo(printable(f"{run_dir}\t{listed}".rstrip(), keep="\t"))
        return
    for run_dir in runs:
        if not remove:
            annotate.change_tags(run_dir, add=tags)
            continue
        absent = annotate.remove_tags(run_dir, tags)
        if absent:
            what = "tag" if len(absent) == 1 else "tags"
            click.echo(printable(f"maggot: {run_dir}: had no {what} {' '.join(absent)}"), err=True)


@click.command(cls=MaggotCommand)
@click.argument("run")
@click.argument("text", required=False)
@click.option("--clear", is_flag=True, help="Remove every note of the run.")
def note(run: str, text: str | None, clear: bool) -> None:
    """Add a note to RUN; with no TEXT, print its notes.

    Notes are stamped with the time (UTC) and kept in the run's
    .maggot/annotations.json. They show in 'maggot show' and
    'summarize --info note', and filter with --filter 'note ~ "lr too high"'.
    """
    run_dir = showrun.resolve_run_dir(run)
    if clear:
        if text is not None:
            raise click.UsageError("--clear takes no TEXT")
        annotate.clear_notes(run_dir)
        return
    if text is None:
        for entry in annotate.load_annotations(run_dir).notes:
            click.echo(printable(f"{entry.at}  {entry.text}"))
        return
    annotate.add_note(run_dir, text)
