"""``maggot show``, ``show-config`` and ``show-command``: one run at a time."""

from __future__ import annotations

import click

from maggot import showrun, store
from maggot.cli.base import MaggotCommand, complete_run, paint


@click.command(cls=MaggotCommand)
@click.argument("run", shell_complete=complete_run)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
def show(run: str, output_format: str) -> None:
    """Show everything about one run.

    Status, times, host, python, command, git snapshot, config, results,
    registered directories and log files. Parts a run lacks (maggot 0.2 runs
    have no run.json and no snapshot) are listed under "problems".
    """
    details = showrun.load_details(showrun.resolve_run_dir(run))
    if output_format == "json":
        click.echo(
            store.dumps_strict(
                showrun.details_as_json(details), indent=2, sort_keys=True, ensure_ascii=False
            )
        )
        return
    for number, section in enumerate(showrun.details_as_sections(details)):
        if number:
            click.echo()
        indent = ""
        if section.title:
            click.echo(paint(section.title, bold=True))
            indent = "  "
        width = max(len(field.label) for field in section.fields)
        for field in section.fields:
            click.echo(f"{indent}{field.label.ljust(width)}  {field.value}".rstrip())


@click.command("show-config", cls=MaggotCommand)
@click.argument("run", shell_complete=complete_run)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["json", "flat"]),
    default="json",
    show_default=True,
    help="json: the stored config; flat: key=value lines (dotted keys; text as it is, "
    "other values as JSON; shell-quoted when needed) to paste back as arguments.",
)
def show_config(run: str, output_format: str) -> None:
    """Print the config a run was started with."""
    config = store.read_config(showrun.resolve_run_dir(run))
    if output_format == "json":
        click.echo(store.dumps_json(config), nl=False)
    else:
        for line in showrun.flat_lines(config):
            click.echo(line)


@click.command("show-command", cls=MaggotCommand)
@click.argument("run", shell_complete=complete_run)
def show_command(run: str) -> None:
    """Print the command that started a run.

    One shell-quoted line, ready to paste into a shell.
    """
    click.echo(store.read_command(showrun.resolve_run_dir(run)))
