"""``maggot show``, ``show-config`` and ``show-command``: one run at a time."""

from __future__ import annotations

import click

from maggot import showrun, store
from maggot.cli.base import MaggotCommand, complete_run, paint, use_color
from maggot.terminal import printable, printable_json


@click.command(cls=MaggotCommand)
@click.argument("run", shell_complete=complete_run)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
@click.option(
    "--log",
    "show_log",
    is_flag=True,
    help="Print the run's output logs instead (colours kept on a terminal only).",
)
def show(run: str, output_format: str, show_log: bool) -> None:
    """Show everything about one run.

    Status, times, host, python, command, every entry into the run (start,
    continue, resume), git snapshot, config, results, registered directories
    and log files. Parts a run lacks (maggot 0.2 runs have no run.json and no
    snapshot) are listed under "problems". A run still marked running whose
    process is gone (same host, no such pid) shows as killed.
    """
    details = showrun.load_details(showrun.resolve_run_dir(run))
    if show_log:
        if output_format == "json":
            raise click.UsageError("--log prints text; leave out --format json")
        logs = showrun.read_logs(details)
        colors = use_color()
        for number, (path, text) in enumerate(logs):
            if len(logs) > 1:
                header = f"==> {showrun.render_log(path, False)} <=="
                click.echo(("\n" if number else "") + paint(header, bold=True))
            click.echo(showrun.render_log(text, colors), nl=False)
        return
    if output_format == "json":
        text = store.dumps_strict(
            showrun.details_as_json(details), indent=2, sort_keys=True, ensure_ascii=False
        )
        click.echo(printable_json(text))
        return
    for number, section in enumerate(showrun.details_as_sections(details)):
        if number:
            click.echo()
        indent = ""
        if section.title:
            click.echo(paint(section.title, bold=True))
            indent = "  "
        fields = [(printable(field.label), printable(field.value)) for field in section.fields]
        width = max(len(label) for label, _ in fields)
        for label, value in fields:
            click.echo(f"{indent}{label.ljust(width)}  {value}".rstrip())


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
        click.echo(printable_json(store.dumps_json(config)), nl=False)
    else:
        for line in showrun.flat_lines(config):
            click.echo(printable(line))


@click.command("show-command", cls=MaggotCommand)
@click.argument("run", shell_complete=complete_run)
def show_command(run: str) -> None:
    """Print the command that started a run.

    One shell-quoted line, ready to paste into a shell.
    """
    click.echo(printable(store.read_command(showrun.resolve_run_dir(run))))
