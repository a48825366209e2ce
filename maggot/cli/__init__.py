"""The ``maggot`` command line: click commands that parse, call the library and print.

Each command lives in a module of this package; this module builds the group.
"""

from __future__ import annotations

import click

import maggot
from maggot.cli.base import MaggotGroup, reports_errors, use_color
from maggot.cli.diff import config_diff, diff
from maggot.cli.reproduce import reproduce_command
from maggot.cli.rerun import rerun_command
from maggot.cli.run import run_command
from maggot.cli.show import show, show_command, show_config
from maggot.cli.summarize import summarize_command
from maggot.cli.sweep import sweep_group

__all__ = ["main", "reports_errors", "use_color"]


@click.group(
    cls=MaggotGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(
    maggot.__version__, "--version", prog_name="maggot", message="%(prog)s %(version)s"
)
def main() -> None:
    """Record, compare and reproduce experiment runs.

    A RUN argument is a run directory (one holding .maggot/), or the name of a
    run under ./experiments.

    \b
    Exit codes: 0 ok, 1 expected failure, 2 usage error, 3 bug, 130 interrupted.
    Colors only on a terminal and never when NO_COLOR is set.

    \b
    Shell completion: add one line to your shell's startup file:
      bash  eval "$(_MAGGOT_COMPLETE=bash_source maggot)"     (~/.bashrc)
      zsh   eval "$(_MAGGOT_COMPLETE=zsh_source maggot)"      (~/.zshrc)
      fish  _MAGGOT_COMPLETE=fish_source maggot | source      (~/.config/fish/config.fish)
    """


for command in (
    summarize_command,
    show,
    show_config,
    show_command,
    config_diff,
    diff,
    reproduce_command,
    rerun_command,
    run_command,
    sweep_group,
):
    main.add_command(command)
