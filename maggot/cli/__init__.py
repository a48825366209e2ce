"""The ``maggot`` command line: click commands that parse, call the library and print.

Each command lives in a module of this package; this module builds the group.
The modules load lazily: a command's module is imported when the command is
used, so ``maggot run`` does not import what ``maggot diff`` needs.
"""

from __future__ import annotations

import click

import maggot
from maggot.cli.base import MaggotGroup, reports_errors, use_color

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


# command name -> "module:attribute" of its click command
COMMANDS = {
    "summarize": "maggot.cli.summarize:summarize_command",
    "show": "maggot.cli.show:show",
    "show-config": "maggot.cli.show:show_config",
    "show-command": "maggot.cli.show:show_command",
    "config-diff": "maggot.cli.diff:config_diff",
    "diff": "maggot.cli.diff:diff",
    "reproduce": "maggot.cli.reproduce:reproduce_command",
    "rerun": "maggot.cli.rerun:rerun_command",
    "run": "maggot.cli.run:run_command",
    "sweep": "maggot.cli.sweep:sweep_group",
    "compare": "maggot.cli.compare:compare_command",
    "tag": "maggot.cli.annotate:tag",
    "note": "maggot.cli.annotate:note",
    "rm": "maggot.cli.housekeeping:rm_command",
    "mv": "maggot.cli.housekeeping:mv_command",
    "gc": "maggot.cli.housekeeping:gc_command",
    "report": "maggot.cli.report:report_command",
    "ui": "maggot.cli.ui:ui_command",
    "verify": "maggot.cli.verify:verify_command",
}
for name, import_path in COMMANDS.items():
    main.add_lazy_command(name, import_path)
