"""Record any command as a run: claim the run, start the command, follow its exit.

The recording is the Experiment's own (same directory format, snapshot,
environment); a script that creates an Experiment itself joins the run
instead of making a second one. ``maggot run`` and the sweep launchers all
start runs through :func:`run_command`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from maggot import params, secrets, signals, store
from maggot.config import flatten, to_json_value, unflatten
from maggot.errors import ConfigError, MaggotError
from maggot.experiment import (
    ENV_JOIN,
    ENV_TRACK_INPUTS,
    IF_EXISTS_MODES,
    Experiment,
    LaunchRecord,
)
from maggot.records import LaunchOptions, SweepJob
from maggot.replay import ENV_RUN_DIR

# Ctrl-C on a terminal reaches the command too: forward it only if the command
# is still running this long after (a `kill -INT` of the launcher alone)
SIGINT_GRACE_SECONDS = 1.0
EXIT_COMMAND_NOT_FOUND = 127


class LaunchError(MaggotError):
    """A ``maggot run`` request that cannot start (bad pattern, missing file ...)."""


class RunRequest(NamedTuple):
    """Everything needed to record one command as a run."""

    command: tuple[str, ...]
    experiments_dir: str = "experiments"
    name_template: str | None = None
    if_exists: str = "prompt"
    config_file: str | None = None
    extra_params: tuple[tuple[str, Any], ...] = ()
    results_file: str | None = None
    metric_pattern: str | None = None
    # where the command runs (default: here), and the snapshot it records
    # instead of taking one (a sweep's frozen code state)
    cwd: str | None = None
    frozen_snapshot: str | None = None
    # recorded in run.json: the sweep job this run is, the run it reruns
    sweep: SweepJob | None = None
    rerun_of: str | None = None
    # reuse this run directory (a requeued or resumed sweep job continues its own run)
    continue_run: str | None = None
    # environment variables set for the command (a frozen tree's PYTHONPATH)
    env: tuple[tuple[str, str], ...] = ()
    # record the files the run's Python processes open (--no-track-inputs: off)
    track_inputs: bool = True


class RunOutcome(NamedTuple):
    """How a recorded command ended."""

    run_dir: str
    exit_code: int
    status: str
    warnings: tuple[str, ...]


def check_request(request: RunRequest) -> dict[str, Any]:
    """Validate a request before anything is created; returns the run's config."""
    if not request.command:
        raise LaunchError("no command given (put it after --)")
    if request.if_exists not in IF_EXISTS_MODES:
        raise LaunchError(
            f"--if-exists {request.if_exists!r}: expected one of {', '.join(IF_EXISTS_MODES)}"
        )
    find_program(request.command[0], request.cwd or os.getcwd())
    if request.metric_pattern is not None:
        compile_metric_pattern(request.metric_pattern)
    config: dict[str, Any] = {}
    if request.config_file is not None:
        path = os.path.join(request.cwd or "", request.config_file)
        try:
            with open(path, encoding="utf-8") as file:
                loaded = json.load(file)
        except OSError as error:
            raise LaunchError(f"--config {request.config_file}: {error.strerror}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise LaunchError(f"--config {request.config_file}: not valid JSON ({error})") from None
        if not isinstance(loaded, dict):
            raise LaunchError(f"--config {request.config_file}: expected a JSON object")
        config.update(flatten(loaded))
    # a secret given on the command line must not reach config.json or the run's name
    config.update(params.parameters_config(secrets.redact_argv(request.command, os.environ)[0]))
    config.update(dict(request.extra_params))
    try:
        config = to_json_value(config)
    except ConfigError as error:
        raise LaunchError(str(error)) from None
    if request.name_template is not None:
        run_name(request.name_template, config)
    elif not config and request.continue_run is None:
        raise LaunchError("the command has no parameters to name the run after: pass --name NAME")
    return config


def run_name(template: str, config: Mapping[str, Any]) -> str:
    """``--name`` filled from the config (``lr{lr}-e{epochs}``)."""
    from maggot.config import safe_directory_name

    name = params.render(template, config, "--name")
    if not name or safe_directory_name(name) != name or os.path.basename(name) != name:
        raise LaunchError(f"--name {template!r} gives {name!r}, not a safe directory name")
    return name


def find_program(program: str, cwd: str) -> str:
    """The program a command starts, or LaunchError naming it when there is none."""
    if os.sep in program or (os.altsep and os.altsep in program):
        path = os.path.join(cwd, program)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
        raise LaunchError(f"{program}: no such executable file")
    found = shutil.which(program)
    if found is None:
        raise LaunchError(f"{program}: command not found")
    return found


def compile_metric_pattern(pattern: str) -> re.Pattern[str]:
    """The ``--metric-pattern`` regex; it needs the named groups ``name`` and ``value``."""
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise LaunchError(f"--metric-pattern {pattern!r}: {error}") from None
    missing = {"name", "value"} - set(compiled.groupindex)
    if missing:
        raise LaunchError(
            f"--metric-pattern {pattern!r}: needs the named groups (?P<name>...) and (?P<value>...)"
        )
    return compiled


def recorded_argv(request: RunRequest) -> list[str]:
    """The ``maggot run`` command line that replays this request (what reproduce runs)."""
    argv = [sys.executable, "-m", "maggot", "run"]
    if request.config_file is not None:
        argv += ["--config", request.config_file]
    for key, value in request.extra_params:
        argv += ["--param", f"{key}={params.format_value(value)}"]
    if request.name_template is not None:
        # a command without parameters needs it to start at all (a replay's run is named
        # by reproduce)
        argv += ["--name", request.name_template]
    if request.results_file is not None:
        argv += ["--results", request.results_file]
    if request.metric_pattern is not None:
        argv += ["--metric-pattern", request.metric_pattern]
    if not request.track_inputs:
        argv.append("--no-track-inputs")
    return [*argv, "--", *request.command]


def launch_options(request: RunRequest) -> LaunchOptions:
    """The ``maggot run`` options of a request, as run.json records them (for rerun)."""
    return LaunchOptions(
        config_file=request.config_file,
        extra_params=request.extra_params,
        name_template=request.name_template,
        results_file=request.results_file,
        metric_pattern=request.metric_pattern,
        track_inputs=request.track_inputs,
    )


def start_run(request: RunRequest, config: Mapping[str, Any]) -> Experiment:
    """Claim and record the run (the Experiment's own recording)."""
    cwd = os.path.abspath(request.cwd or os.getcwd())
    launch = LaunchRecord(
        command_argv=tuple(recorded_argv(request)),
        script=params.script_of(request.command, cwd),
        frozen_snapshot=request.frozen_snapshot,
        cwd=cwd,
        launched_command=request.command,
        launch_options=launch_options(request),
        sweep=request.sweep,
        rerun_of=request.rerun_of,
        # output is logged at the descriptor level, children included
        capture_output="fd",
    )
    name: str | None
    if request.continue_run is not None:
        experiments_dir, name = os.path.split(os.path.normpath(request.continue_run))
        if_exists = "continue"
    else:
        experiments_dir = request.experiments_dir
        name = run_name(request.name_template, config) if request.name_template else None
        if_exists = request.if_exists
    try:
        return Experiment(
            config=unflatten(dict(config)),
            experiments_dir=experiments_dir,
            experiment_name=name,
            if_exists_mode=if_exists,
            capture_output="none",
            track_inputs=request.track_inputs,
            launch=launch,
        )
    except SystemExit:
        # the API's own message names if_exists_mode=; say it the command line's way
        from maggot.config import Config

        taken = os.path.join(experiments_dir, name or Config.from_flat_dict(config).identifier)
        raise LaunchError(
            f"{taken} already exists; pick another --name or pass --if-exists increment, "
            "continue or delete"
        ) from None


class Controls(NamedTuple):
    """How a launcher running many commands in threads follows and stops them."""

    # set when the launcher was interrupted: a command failing after it is interrupted
    stop: threading.Event
    # the running commands, to pass a signal on
    processes: set[subprocess.Popen[bytes]]
    lock: threading.Lock
    # the signals that stopped the launcher (SIGINT, SIGTERM, SIGHUP), first one first
    received: list[int]


def new_controls() -> Controls:
    """Controls for a pool of commands run from threads."""
    return Controls(threading.Event(), set(), threading.Lock(), [])


def run_command(
    request: RunRequest,
    *,
    live: bool = True,
    on_start: Callable[[str], None] | None = None,
    controls: Controls | None = None,
) -> RunOutcome:
    """Record ``request.command`` as a run, run it, and record how it ended.

    ``live`` shows the output on this terminal while logging it (file
    descriptors 1 and 2 go through the log); otherwise the command writes
    straight into the run's log. ``on_start(run_dir)`` is called once the run
    is claimed. ``controls`` let a pool of threads stop their commands.
    """
    config = check_request(request)
    experiment = start_run(request, config)
    run_dir = experiment.experiment_dir
    if on_start is not None:
        on_start(run_dir)
    environment = dict(os.environ)
    environment[ENV_RUN_DIR] = os.path.abspath(run_dir)
    environment[ENV_JOIN] = "1"
    # a pipe (the log) makes Python buffer whole blocks: keep output flowing as printed
    environment.setdefault("PYTHONUNBUFFERED", "1")
    if not request.track_inputs:
        # a script that joins the run, and its Python children, record no inputs either
        environment[ENV_TRACK_INPUTS] = "0"
    environment.update(dict(request.env))
    # Python processes of the command record the files they open
    experiment.prepare_child_environment(environment)
    cwd = os.path.abspath(request.cwd or os.getcwd())
    if request.config_file is not None:
        # read here, not by the command: an input all the same, which a replay needs
        experiment.note_input(os.path.join(cwd, request.config_file))
    from maggot import capture

    log_capture = capture.OutputCapture(experiment.logfile, "fd") if live else None
    results_before = _file_identity(cwd, request.results_file)
    with experiment:
        if log_capture is not None:
            log_capture.start()
        try:
            exit_code, stopped_by = _run_and_wait(
                list(request.command),
                cwd,
                environment,
                None if live else experiment.logfile,
                controls,
            )
        finally:
            if log_capture is not None:
                log_capture.stop()
        warnings = _collect_results(request, experiment, cwd, results_before)
        experiment.record_exit_code(exit_code, stopped_by)
    status = store.load_run(run_dir, with_config=False, with_results=False).status
    return RunOutcome(run_dir, exit_code, status, tuple(warnings))


def _run_and_wait(
    command: list[str],
    cwd: str,
    environment: dict[str, str],
    logfile: str | None,
    controls: Controls | None,
) -> tuple[int, int | None]:
    """Run the command; SIGINT, SIGTERM and SIGHUP reach it. Returns its exit code and
    the signal that stopped the launcher meanwhile, if any."""
    log = open(logfile, "ab") if logfile else None
    try:
        try:
            process = subprocess.Popen(command, cwd=cwd, env=environment, stdout=log, stderr=log)
        except OSError as error:
            message = f"maggot: {command[0]}: {error.strerror}\n"
            if log is not None:
                log.write(message.encode())
            else:
                sys.stderr.write(message)
            return EXIT_COMMAND_NOT_FOUND, None
        if controls is None:
            return _wait(process)
        with controls.lock:
            controls.processes.add(process)
            # started while the launcher was being stopped, after it signalled its commands
            late = controls.received[0] if controls.stop.is_set() and controls.received else None
        if late is not None:
            process.send_signal(late)
        try:
            exit_code = process.wait()
        finally:
            with controls.lock:
                controls.processes.discard(process)
        if not controls.stop.is_set():
            return exit_code, None
        with controls.lock:
            return exit_code, controls.received[0] if controls.received else signal.SIGINT
    finally:
        if log is not None:
            log.close()


def _wait(process: subprocess.Popen[bytes]) -> tuple[int, int | None]:
    received: list[int] = []

    def forward(signum: int) -> None:
        if process.poll() is None:
            try:
                process.send_signal(signum)
            except OSError:
                pass

    def on_signal(signum: int, frame: Any) -> None:
        received.append(signum)
        if signum == signal.SIGINT and received.count(signal.SIGINT) == 1:
            timer = threading.Timer(SIGINT_GRACE_SECONDS, forward, (signum,))
            timer.daemon = True
            timer.start()
        else:
            forward(signum)

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for handled in (signal.SIGINT, *signals.TERMINATION_SIGNALS):
            if signal.getsignal(handled) is not signal.SIG_IGN:  # nohup's SIGHUP stays ignored
                previous[handled] = signal.signal(handled, on_signal)
    try:
        exit_code = process.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return exit_code, received[0] if received else None


def _file_identity(cwd: str, name: str | None) -> tuple[int, int, int, int] | None:
    """What tells whether a file was written: device, inode, size and mtime (None: none)."""
    if name is None:
        return None
    try:
        status = os.stat(os.path.join(cwd, name))
    except OSError:
        return None
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)


def _collect_results(
    request: RunRequest,
    experiment: Experiment,
    cwd: str,
    results_before: tuple[int, int, int, int] | None = None,
) -> list[str]:
    """Results from ``--results FILE`` and ``--metric-pattern``; warnings for what failed.

    A results file as it was before the command started is not read: it is
    another run's (the previous job of a sweep), not this one's.
    """
    warnings: list[str] = []
    if request.metric_pattern is not None:
        pattern = compile_metric_pattern(request.metric_pattern)
        found: dict[str, Any] = {}
        for line in store.read_lines(experiment.logfile):
            for match in pattern.finditer(line):
                found[match.group("name")] = params.parse_value(match.group("value"))
        for name, value in found.items():
            experiment.register_result(name, value)
    if request.results_file is not None:
        path = os.path.join(cwd, request.results_file)
        # on a file system with whole-second times a rewrite may keep every field
        fine_times = results_before is not None and results_before[3] % 1_000_000_000 != 0
        if fine_times and _file_identity(cwd, request.results_file) == results_before:
            warnings.append(
                f"--results {request.results_file}: the command did not write it (it is as "
                "it was before the command started); not read"
            )
            return warnings
        try:
            results = store.read_json_object(path)
        except FileNotFoundError:
            warnings.append(f"--results {request.results_file}: the command wrote no such file")
        except MaggotError as error:
            warnings.append(f"--results {request.results_file}: {error}")
        else:
            for name, value in flatten(results).items():
                experiment.register_result(name, value)
    return warnings


def shell_exit_code(exit_code: int) -> int:
    """A subprocess exit code as a shell reports it (killed by signal N -> 128 + N)."""
    return 128 - exit_code if exit_code < 0 else exit_code
