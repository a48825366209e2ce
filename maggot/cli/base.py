"""Shared pieces of the ``maggot`` commands: one-line errors, exit codes, colors."""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from collections.abc import Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any

import click

from maggot.errors import MaggotError
from maggot.signals import Terminated
from maggot.terminal import printable

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

EXIT_INTERRUPTED = 130
EXIT_BUG = 3


class CommandError(click.ClickException):
    """An expected failure: one ``maggot: <message>`` line on stderr, exit 1."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"maggot: {printable(self.format_message())}", file=file, err=file is None)


@contextlib.contextmanager
def reports_errors() -> Iterator[None]:
    """Report MaggotError and OS errors as one ``maggot: ...`` line and exit 1.

    Every command of the ``main`` group already runs inside it; use it as
    ``with reports_errors():`` or ``@reports_errors()`` elsewhere.
    """
    try:
        yield
    except MaggotError as error:
        raise CommandError(str(error)) from None
    except OSError as error:
        if error.errno == errno.EPIPE:
            raise  # click quietly ends on a closed pipe (``maggot summarize | head``)
        where = f"{error.filename}: " if error.filename else ""
        raise CommandError(f"{where}{error.strerror or error}") from None


def use_color() -> bool:
    """Colors only on a terminal, and never with NO_COLOR set."""
    if "NO_COLOR" in os.environ:
        return False
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def paint(text: str, color: str | None = None, bold: bool = False) -> str:
    """``text`` styled when colors are on, unchanged otherwise."""
    return click.style(text, fg=color, bold=bold or None) if use_color() else text


def confirm_or_refuse(what: str) -> None:
    """Ask before running ``what``; without a terminal, refuse (the caller's --yes skips this)."""
    if not sys.stdin.isatty():
        raise CommandError(f"refusing to run {what} without --yes: stdin is not a terminal")
    if not click.confirm("Run it?", default=False):
        raise CommandError("not run")


def warn(message: str) -> None:
    """One ``maggot: warning: ...`` line on stderr."""
    click.echo(f"maggot: warning: {printable(message)}", err=True)


def complete_run(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Shell completion for RUN: run names under ./experiments, else directories."""
    from click.shell_completion import CompletionItem

    from maggot import showrun, store

    names: list[str] = []
    if "/" not in incomplete and os.sep not in incomplete:
        try:
            entries = sorted(
                os.scandir(showrun.DEFAULT_EXPERIMENTS_DIR), key=lambda entry: entry.name
            )
        except OSError:
            entries = []
        names = [
            entry.name
            for entry in entries
            if entry.name.startswith(incomplete) and store.is_run_dir(entry.path)
        ]
    # the "dir" item first: the shell completes directories when no run name matches
    return [CompletionItem(incomplete, type="dir")] + [CompletionItem(name) for name in names]


class MaggotCommand(click.Command):
    """A command whose expected failures are one line on stderr."""

    def invoke(self, ctx: click.Context) -> Any:
        with reports_errors():
            return super().invoke(ctx)


class MaggotGroup(click.Group):
    """The ``maggot`` group: one-line errors, exit 2 on usage errors, 130 on Ctrl-C.

    Commands are registered with ``add_command``, or with ``add_lazy_command``
    as a ``"module:attribute"`` path whose module is imported only when that
    command is used (or listed, by ``--help`` and completion): one command's
    run does not pay for importing all the others.
    """

    command_class = MaggotCommand

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands: dict[str, str] = {}

    def add_lazy_command(self, name: str, import_path: str) -> None:
        """Register the command at ``import_path`` (``"package.module:attribute"``) as ``name``."""
        self.lazy_commands[name] = import_path

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        import_path = self.lazy_commands.get(cmd_name)
        if import_path is not None and cmd_name not in self.commands:
            import importlib

            module_name, _, attribute = import_path.partition(":")
            command = getattr(importlib.import_module(module_name), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{import_path} is not a click command")
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except (KeyboardInterrupt, Terminated, Exception) as error:
            sys.exit(report_error(error))
        # an int here comes from ctx.exit(code); the commands themselves return None
        sys.exit(code if isinstance(code, int) and not isinstance(code, bool) else 0)


def report_error(error: BaseException) -> int:
    """Say what went wrong on stderr, as every command does; returns the exit code.

    Usage errors are one line (exit 2), expected failures (MaggotError, OS
    errors) one line (exit 1), Ctrl-C 130, a termination signal 128 + N, and
    anything else is a bug, its traceback kept in a file (exit 3).
    """
    if isinstance(error, (MaggotError, OSError)) and not isinstance(error, click.ClickException):
        try:
            with reports_errors():
                raise error
        except CommandError as converted:
            error = converted
        except OSError:  # a closed pipe: nothing more to say
            return 1
    if isinstance(error, click.exceptions.NoArgsIsHelpError):
        error.show()
        return error.exit_code
    if isinstance(error, click.UsageError):
        hint = f" (see '{error.ctx.command_path} --help')" if error.ctx else ""
        # a usage error quotes the arguments, which may hold anything a run name can
        click.echo(f"maggot: {printable(error.format_message())}{hint}", err=True)
        return error.exit_code
    if isinstance(error, click.ClickException):
        error.show()
        return error.exit_code
    if isinstance(error, click.Abort):
        if isinstance(error.__cause__, KeyboardInterrupt):
            click.echo("maggot: interrupted", err=True)
            return EXIT_INTERRUPTED
        click.echo("maggot: aborted", err=True)
        return 1
    if isinstance(error, KeyboardInterrupt):
        click.echo("\nmaggot: interrupted", err=True)
        return EXIT_INTERRUPTED
    if isinstance(error, Terminated):
        click.echo(f"maggot: terminated by {error.signal_name}", err=True)
        return 128 + error.signal_number
    if isinstance(error, Exception):  # a bug, not a user error: say so, keep the details
        return _report_bug(error)
    raise error


def _report_bug(error: Exception) -> int:
    """One line on stderr for an unexpected error; the traceback goes to a file."""
    import tempfile
    import traceback

    with tempfile.NamedTemporaryFile(
        "w", prefix="maggot-error-", suffix=".log", delete=False, encoding="utf-8"
    ) as log:
        traceback.print_exception(type(error), error, error.__traceback__, file=log)
    click.echo(
        f"maggot: unexpected error ({type(error).__name__}: {printable(str(error))}); "
        "this is a bug, "
        f"please report it with the traceback in {log.name}",
        err=True,
    )
    return EXIT_BUG
