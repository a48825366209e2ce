"""The ``maggot`` console script (and ``python -m maggot``).

``maggot run`` is on the path of every recorded command, so its start-up
counts: a run's options are read here without importing click (about 30 ms
of imports), and the run starts straight away. Anything this parser does not
take as it is -- ``--help``, a bad or unknown option, a missing command, shell
completion -- goes to the click command line, which then answers exactly as
it always does. Every other command goes to click directly.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

PROG_NAME = "maggot"
# maggot run's options that take a value, by the RunRequest field they fill
_VALUE_OPTIONS = {
    "--config": "config_file",
    "--name": "name_template",
    "--experiments-dir": "experiments_dir",
    "--if-exists": "if_exists",
    "--results": "results_file",
    "--metric-pattern": "metric_pattern",
}
_IF_EXISTS_CHOICES = ("prompt", "exit", "delete", "continue", "increment")
_COMPLETION_VARIABLE = "_MAGGOT_COMPLETE"


# commands whose process ends without the interpreter's teardown (see _exit_now): those on
# the path of every recorded command, and the listings, which free 100,000 runs' objects
_EXIT_NOW_COMMANDS = ("run", "sweep", "summarize", "compare")


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line given in ``argv`` (default: ``sys.argv[1:]``) and exit."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["run"] and _COMPLETION_VARIABLE not in os.environ:
        options = parse_run_arguments(arguments[1:])
        if options is not None:
            code = _run_fast(options, arguments)
            if argv is None:
                _exit_now(code)
            sys.exit(code)
    code = _click_main(arguments)
    if argv is None and arguments[:1] and arguments[0] in _EXIT_NOW_COMMANDS:
        _exit_now(code)
    sys.exit(code)


def _exit_now(code: int) -> None:
    """End this process with ``code`` once its exit handlers ran, without the teardown.

    ``maggot run`` and ``maggot sweep`` are on the path of every recorded command:
    after the run is recorded and every file closed, freeing each module and
    object one by one costs the user 20-40 ms of waiting on a small VM (more
    than the command itself for a short one). Exit handlers -- the user's
    too, e.g. a coverage tool's -- still run and output is flushed; with
    another thread still running, or a profiler or debugger attached, the
    interpreter exits as usual.
    """
    import atexit
    import threading

    main_thread = threading.main_thread()
    if any(thread is not main_thread and not thread.daemon for thread in threading.enumerate()):
        sys.exit(code)
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)  # a profiler or debugger (python -m cProfile) writes its report after
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass  # closed or gone: nothing left to write
    os._exit(code)


def parse_run_arguments(arguments: Sequence[str]) -> dict[str, Any] | None:
    """``maggot run``'s options and command as RunRequest fields, or None when click
    must read them (help, an error, anything unusual)."""
    fields: dict[str, Any] = {"extra_params": [], "track_inputs": True}
    index = 0
    while index < len(arguments):
        argument = arguments[index]
        if argument == "--":
            index += 1
            break
        if argument == "-" or not argument.startswith("-"):
            break  # the command: no option of maggot run follows it
        name, equals, value = argument.partition("=")
        if name == "--no-track-inputs" and not equals:
            fields["track_inputs"] = False
            index += 1
            continue
        if name not in ("--param", *_VALUE_OPTIONS) or not name.startswith("--"):
            return None  # --help, an unknown option, -x ...: click says what it is
        if not equals:
            if index + 1 >= len(arguments):
                return None
            index += 1
            value = arguments[index]
        if name == "--param":
            key, has_equals, _ = value.partition("=")
            if not has_equals or not key:
                return None
            fields["extra_params"].append(value)
        elif name == "--if-exists" and value not in _IF_EXISTS_CHOICES:
            return None
        else:
            fields[_VALUE_OPTIONS[name]] = value
        index += 1
    command = tuple(arguments[index:])
    if not command:
        return None
    fields["command"] = command
    return fields


def _run_fast(fields: dict[str, Any], arguments: Sequence[str]) -> int:
    """Record the command as a run; errors are reported as the click command would."""
    try:
        from maggot import launch, params

        pairs = []
        for assignment in fields.pop("extra_params"):
            key, _, text = assignment.partition("=")
            pairs.append((key, params.parse_value(text)))
        request = launch.RunRequest(extra_params=tuple(pairs), **fields)
        try:
            launch.check_request(request)
        except (launch.LaunchError, params.ParameterError):
            # a usage error: click's own message and exit code, nothing created
            return _click_main(arguments)
        return execute_run(request, _echo)
    except BaseException as error:  # noqa: BLE001 - reported as every command reports
        from maggot.signals import Terminated

        if isinstance(error, SystemExit) and not isinstance(error, Terminated):
            raise
        from maggot.cli.base import report_error

        return report_error(error)


def execute_run(request: Any, echo: Callable[[str], None]) -> int:
    """Run a checked ``maggot run`` request, saying where it records; returns the exit code."""
    from maggot import launch

    def announce(run_dir: str) -> None:
        echo(f"maggot: recording {run_dir}")

    outcome = launch.run_command(request, on_start=announce)
    for warning in outcome.warnings:
        echo(f"maggot: warning: {warning}")
    echo(f"maggot: {outcome.run_dir}: {outcome.status}")
    return launch.shell_exit_code(outcome.exit_code)


def _echo(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def _click_main(arguments: Sequence[str]) -> int:
    from maggot.cli import main as click_main

    try:
        click_main(list(arguments), prog_name=PROG_NAME)
    except SystemExit as exit_status:
        code = exit_status.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        raise
    return 0
