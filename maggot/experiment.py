"""Experiment: claims a run directory, records the run, and ties its lifecycle together."""

from __future__ import annotations

import atexit
import os
import sys
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, NamedTuple

from maggot import capture, gitsnap, secrets, store
from maggot.config import Config, flatten, safe_directory_name, to_json_value, unflatten
from maggot.errors import ConfigError, CorruptRunError, MaggotError, NotARunError
from maggot.paths import safe_relative_path
from maggot.records import (
    Continuation,
    ExitInfo,
    JoinedProcess,
    LaunchOptions,
    PythonInfo,
    RunInfo,
    SweepJob,
)
from maggot.replay import ENV_ORIGINAL_ROOT, ENV_REPRODUCTION_OF, ENV_RUN_DIR
from maggot.version import __version__

IF_EXISTS_MODES = ("prompt", "exit", "delete", "continue", "increment")
# set by `maggot run` for its command: an Experiment there joins MAGGOT_RUN_DIR
ENV_JOIN = "MAGGOT_JOIN"
# set by users
ENV_SNAPSHOT = "MAGGOT_SNAPSHOT"
ENV_CAPTURE = "MAGGOT_CAPTURE"
_MAX_INCREMENT = 100_000


def utc_now() -> str:
    """The current UTC time as ISO 8601 with milliseconds and a ``Z``."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


def _log_file_name() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H-%M-%S", time.gmtime(now)) + f"-{int(now % 1 * 1e6):06d}Z"


class Experiment:
    """One run of an experiment, recorded in its own directory.

    ``Experiment(config=...)`` claims ``experiments/<identifier>/`` and records
    the config, command, environment, packages and git snapshot there, logs
    stdout/stderr from then on and records the run's outcome: at the end of a
    ``with`` block, at an uncaught exception, when the next run is created
    without ``with``, or at exit. ``Experiment(resume_from=run_dir)`` reopens
    an existing run (logged only inside ``with``).
    """

    def __init__(
        self,
        config: Any = None,
        resume_from: str | os.PathLike[str] | None = None,
        experiments_dir: str | os.PathLike[str] = "experiments",
        experiment_name: str | None = None,
        if_exists_mode: str = "prompt",
        add_date: bool = False,
        *,
        snapshot: bool | None = None,
        snapshot_limits: gitsnap.SnapshotLimits | None = None,
        capture_output: str | None = None,
        secret_env_words: tuple[str, ...] = (),
        launch: LaunchRecord | None = None,
    ) -> None:
        """Create a new run from ``config`` or reopen one with ``resume_from``.

        config: a dict, a path to a JSON file, an ``argparse.Namespace`` or a Config.
        if_exists_mode: "prompt", "exit", "delete", "continue" or "increment".
        snapshot: record the git state (default on; ``MAGGOT_SNAPSHOT=0`` turns it off).
        capture_output: "sys" (default), "fd" (also child processes and C
        extensions) or "none"; ``MAGGOT_CAPTURE`` sets the default.
        """
        if (config is None) == (resume_from is None):
            raise MaggotError("pass either a config or resume_from (a run directory), not both")
        if if_exists_mode not in IF_EXISTS_MODES:
            raise MaggotError(
                f"if_exists_mode {if_exists_mode!r}: expected one of {', '.join(IF_EXISTS_MODES)}"
            )
        capture_mode = capture_output or os.environ.get(ENV_CAPTURE) or "sys"
        if capture_mode not in capture.CAPTURE_MODES:
            raise MaggotError(
                f"capture_output {capture_mode!r}: expected one of "
                + ", ".join(capture.CAPTURE_MODES)
            )
        self.experiments_dir = os.fspath(experiments_dir)
        self._capture_mode = capture_mode
        self._capture: capture.OutputCapture | None = None
        self._capture_streams: tuple[Any, Any] | None = None
        self._excepthook: Any = None
        self._previous_excepthook: Any = None
        self._entered_at: float | None = None
        self._in_with = False
        self._finished = False
        self._resumed = resume_from is not None
        self._joined = False
        self._launch = launch
        self._exit_code: int | None = None
        self._interrupted = False
        # run.json already says "running" for a run created (or continued) just now
        self._just_recorded = False

        if resume_from is not None:
            self._run_dir = _find_run(os.fspath(resume_from), self.experiments_dir)
            self.experiments_dir, self._name = os.path.split(os.path.normpath(self._run_dir))
            self._run_dir_at_start = os.path.abspath(self._run_dir)
            self.config = Config.from_dict(store.read_config(self._run_dir))
        else:
            self.config = make_config(config)
            if launch is None:
                # a launcher runs its runs in `with` blocks, from several threads at once
                _finish_previous_run()
            config_data = self.config.to_dict()
            joined_dir = _run_to_join()
            if joined_dir is not None:
                name = os.path.basename(os.path.normpath(joined_dir))
            else:
                name = _run_name(self.config, experiment_name, add_date)
            self._run_dir = joined_dir or self._claim(name, if_exists_mode)
            # the directory as claimed: the script may change its directory later
            self._run_dir_at_start = os.path.abspath(self._run_dir)
            self._name = os.path.basename(self._run_dir)
            self._started_at = utc_now()
            self._started_clock = time.monotonic()
            if joined_dir is not None:
                self._join(config_data)
            elif os.path.exists(store.meta_path(self._run_dir, store.RUN_FILE)):
                self._record_continuation()
                self._just_recorded = True
            else:
                self._record_start(config_data, snapshot, snapshot_limits, secret_env_words)
                self._just_recorded = True

        os.makedirs(store.meta_path(self._run_dir, store.LOGS_DIR), exist_ok=True)
        self._logfile = store.meta_path(self._run_dir, store.LOGS_DIR, _log_file_name())
        if not self._resumed:
            atexit.register(self._finish_at_exit)
        if not self._resumed and launch is None:
            # a run made without `with` (a module-level script) is logged and finished
            # all the same: capture from now, status at a crash or at exit
            global _latest_run
            _latest_run = self
            self._start_capture()
            self._install_excepthook()

    @staticmethod
    def is_experiment(directory: str | os.PathLike[str]) -> bool:
        """Whether ``directory`` is a run directory."""
        return store.is_run_dir(directory)

    @property
    def experiment_dir(self) -> str:
        """The run directory, e.g. ``experiments/5-1.0-0.01``."""
        return self._run_dir

    @property
    def logfile(self) -> str:
        """The log file this process writes stdout/stderr to."""
        return self._logfile

    @property
    def exists(self) -> bool:
        """Whether the run directory exists."""
        return os.path.isdir(self._run_dir)

    @property
    def results(self) -> Config:
        """The registered results, nested by dots."""
        return Config.from_dict(store.read_results(self._run_dir))

    @property
    def directories(self) -> Config:
        """Registered directories: ``exp.directories.checkpoints`` is their path."""
        return Config.from_dict(
            {
                name: os.path.join(self._run_dir, name)
                for name in store.registered_directories(self._run_dir)
            }
        )

    def register_directory(self, dirname: str) -> str:
        """Create ``dirname`` inside the run and remember it; returns its path."""
        if not safe_relative_path(dirname.replace(os.sep, "/")):
            raise MaggotError(f"directory name {dirname!r} must be a relative path inside the run")
        directory = os.path.join(self._run_dir, dirname)
        os.makedirs(directory, exist_ok=True)
        store.add_registered_directory(self._run_dir, dirname)
        return directory

    def register_result(self, name: str, value: Any) -> None:
        """Record a result; dotted names nest (``fold1.loss``).

        Safe from several processes at once: the file is updated under a lock
        and replaced atomically.
        """
        stored_value = to_json_value(value, name)
        results_path = store.meta_path(self._run_dir, store.RESULTS_FILE)
        with store.file_lock(store.meta_path(self._run_dir, store.RESULTS_LOCK_FILE)):
            try:
                results = flatten(store.read_json_object(results_path))
            except FileNotFoundError:
                results = {}
            results[name] = stored_value
            store.write_json_atomic(results_path, unflatten(results))

    def record_exit_code(self, exit_code: int, interrupted: bool = False) -> None:
        """The exit code of the command a launcher ran: the run's status follows it.

        Negative codes are signals (``subprocess`` style); SIGINT and SIGTERM, exit
        130, or any failure after the launcher was interrupted mean "interrupted".
        """
        self._exit_code = exit_code
        self._interrupted = interrupted and exit_code != 0

    def __enter__(self) -> Experiment:
        self._entered_at = time.monotonic()
        self._in_with = True
        self._finished = False
        if self._joined:
            return self  # the launcher that created the run logs it and records its status
        if not self._just_recorded:
            self._update_run_info(status=store.STATUS_RUNNING, ended_at=None, exit=None)
        self._just_recorded = False
        if self._capture is None:
            self._start_capture()
        return self

    def _start_capture(self) -> None:
        self._capture = capture.OutputCapture(self._logfile, self._capture_mode)
        self._capture.start()
        self._capture_streams = (sys.stdout, sys.stderr)

    def _stop_capture(self) -> None:
        if self._capture is None:
            return
        current = (sys.stdout, sys.stderr)
        self._capture.stop()
        self._capture = None
        if self._capture_streams is not None and current != self._capture_streams:
            # streams replaced after the capture started (a test runner, an IDE) stay
            sys.stdout, sys.stderr = current
        self._capture_streams = None

    def _install_excepthook(self) -> None:
        previous = sys.excepthook

        def record_crash(
            exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
        ) -> None:
            # the traceback is printed first, so it reaches the log while capturing
            previous(exc_type, exc, tb)
            if not self._finished:
                self._stop_capture()
                self._finish(exc)

        self._excepthook, self._previous_excepthook = record_crash, previous
        sys.excepthook = record_crash

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._capture is not None:
            if exc is not None and not _is_clean_exit(exc):
                # Python prints the traceback after this returns, when the log is closed
                import traceback

                self._capture.log_text("".join(traceback.format_exception(exc_type, exc, tb)))
            self._stop_capture()
        self._in_with = False
        self._finish(exc)

    def _finish_at_exit(self) -> None:
        self._stop_capture()
        if self._finished:
            return
        try:
            # an uncaught exception leaves sys.last_value set before atexit runs
            self._finish(getattr(sys, "last_value", None))
        except OSError:
            pass  # the run directory was removed while the process ran

    def _finish(self, exc: BaseException | None) -> None:
        self._finished = True
        if self._excepthook is not None and sys.excepthook is self._excepthook:
            sys.excepthook = self._previous_excepthook
        self._excepthook = self._previous_excepthook = None
        foreign = tuple(_modules_under(os.environ.get(ENV_ORIGINAL_ROOT)))
        if self._joined:
            if foreign:
                self._update_run_info(imports_outside_snapshot=foreign)
            return
        exit_info: ExitInfo | None
        if exc is None and self._exit_code is not None:
            status, exit_info = _exit_code_status(self._exit_code, self._interrupted)
        elif exc is None or _is_clean_exit(exc):
            status, exit_info = store.STATUS_COMPLETED, None
        elif isinstance(exc, KeyboardInterrupt):
            status, exit_info = store.STATUS_INTERRUPTED, ExitInfo("KeyboardInterrupt")
        else:
            status, exit_info = store.STATUS_FAILED, ExitInfo(type(exc).__name__, str(exc))
        started = (
            self._entered_at
            if self._entered_at is not None
            else getattr(self, "_started_clock", None)
        )
        updates: dict[str, Any] = {"status": status, "ended_at": utc_now(), "exit": exit_info}
        if started is not None:
            updates["duration_seconds"] = round(time.monotonic() - started, 3)
        if self._exit_code is not None:
            updates["exit_code"] = self._exit_code
        if foreign:
            updates["imports_outside_snapshot"] = foreign
        self._update_run_info(**updates)

    def _update_run_info(self, **updates: Any) -> None:
        # the directory as claimed: the script may have changed its directory since
        run_dir = self._run_dir_at_start
        if self._resumed and not os.path.exists(store.meta_path(run_dir, store.RUN_FILE)):
            return  # a 0.2 run has no run.json to update (and gets no lock file either)
        # a launcher and the Experiment of its command share run.json
        with store.file_lock(store.meta_path(run_dir, store.RUN_LOCK_FILE)):
            try:
                info = store.read_run_info(run_dir)
            except (FileNotFoundError, CorruptRunError):
                if self._resumed:
                    return  # a 0.2 run has no run.json to update
                info = RunInfo()
            store.write_run_info(run_dir, info._replace(**updates))

    def _join(self, config_data: dict[str, Any]) -> None:
        """Become part of the run a launcher created: one run, the configs merged.

        The launcher already recorded the command, environment and snapshot and
        logs all output; this process adds its config and results.
        """
        self._joined = True
        self._capture_mode = "none"
        config_path = store.meta_path(self._run_dir, store.CONFIG_FILE)
        with store.file_lock(store.meta_path(self._run_dir, store.RUN_LOCK_FILE)):
            try:
                recorded = store.read_config(self._run_dir)
            except CorruptRunError:
                recorded = {}
            merged = flatten(recorded)
            merged.update(flatten(config_data))
            store.write_json_atomic(config_path, unflatten(merged))
        process = {"at": self._started_at, **capture.describe_process()}
        self._update_run_info(joined=JoinedProcess.from_json(process))

    def _claim(self, name: str, if_exists_mode: str) -> str:
        forced_dir = os.environ.pop(ENV_RUN_DIR, None)
        if forced_dir:
            os.makedirs(os.path.dirname(os.path.abspath(forced_dir)), exist_ok=True)
            try:
                os.mkdir(forced_dir)
            except FileExistsError:
                # reproduce claims the directory before the replay starts
                if os.listdir(forced_dir):
                    raise MaggotError(f"{forced_dir}: exists and is not empty") from None
            os.mkdir(store.meta_path(forced_dir))
            return forced_dir
        os.makedirs(self.experiments_dir, exist_ok=True)
        run_dir = os.path.join(self.experiments_dir, name)
        try:
            os.mkdir(run_dir)
        except FileExistsError:
            run_dir = _resolve_existing(run_dir, if_exists_mode)
        os.makedirs(store.meta_path(run_dir), exist_ok=True)
        return run_dir

    def _record_continuation(self) -> None:
        """``continue`` into a recorded run: its first start stays the record of it.

        Config, command, environment and snapshot describe the start that
        ``maggot reproduce`` replays; later entries are listed in run.json.
        """
        try:
            info = store.read_run_info(self._run_dir)
        except CorruptRunError:
            info = RunInfo()
        launched = self._launch.command_argv if self._launch else ()
        entry = Continuation(self._started_at, launched or tuple(capture.process_argv()))
        store.write_run_info(
            self._run_dir,
            info._replace(
                continued=(*info.continued, entry),
                status=store.STATUS_RUNNING,
                ended_at=None,
                exit=None,
            ),
        )

    def _record_start(
        self,
        config_data: dict[str, Any],
        snapshot: bool | None,
        snapshot_limits: gitsnap.SnapshotLimits | None,
        secret_env_words: tuple[str, ...],
    ) -> None:
        run_dir = self._run_dir
        launch = self._launch or LaunchRecord()
        cwd = launch.cwd or os.getcwd()
        argv = list(launch.command_argv) if launch.command_argv else capture.process_argv()
        store.write_json_atomic(store.meta_path(run_dir, store.CONFIG_FILE), config_data)
        store.write_text_atomic(
            store.meta_path(run_dir, store.COMMAND_FILE), capture.shell_command(argv) + "\n"
        )
        store.write_json_atomic(
            store.meta_path(run_dir, store.ENVIRON_FILE),
            secrets.redact_environ(os.environ, secret_env_words),
        )
        store.write_text_atomic(
            store.meta_path(run_dir, store.PACKAGES_FILE),
            "".join(line + "\n" for line in capture.installed_packages()),
        )
        if snapshot is None:
            snapshot = os.environ.get(ENV_SNAPSHOT, "1").strip().lower() not in (
                "0",
                "false",
                "no",
                "off",
            )
        if launch.frozen_snapshot:
            script = gitsnap.relative_script(launch.script, cwd) if launch.script else None
            head = gitsnap.copy_snapshot(launch.frozen_snapshot, run_dir, script)
        elif snapshot:
            head = gitsnap.take_snapshot(
                run_dir, cwd, [os.path.abspath(self.experiments_dir), os.path.abspath(run_dir)],
                snapshot_limits or gitsnap.DEFAULT_LIMITS, script=launch.script,
            )  # fmt: skip
            if not head.snapshot:
                _warn_once(f"{run_dir}: no git snapshot recorded ({head.reason})")
        else:
            head = gitsnap.record_disabled(run_dir, cwd, "snapshot turned off")
        if head.commit:
            store.write_commit_hash(run_dir, head.commit)
        process = capture.describe_process()
        info = RunInfo(
            format_version=store.FORMAT_VERSION,
            maggot_version=__version__,
            name=self._name,
            status=store.STATUS_RUNNING,
            started_at=self._started_at,
            argv=tuple(sys.argv),
            command_argv=tuple(argv),
            # relative to the repository root when there is one, as the snapshot has it
            cwd=(head.cwd or ".") if head.cwd is not None else cwd,
            cwd_absolute=cwd,
            capture_output=launch.capture_output or self._capture_mode,
            hostname=process.get("hostname"),
            user=process.get("user"),
            pid=process.get("pid"),
            python=PythonInfo.from_json(process.get("python")),
            platform=process.get("platform"),
            reproduction_of=os.environ.get(ENV_REPRODUCTION_OF) or None,
            launched_command=launch.launched_command,
            launch_options=launch.launch_options,
            sweep=launch.sweep,
            rerun_of=launch.rerun_of,
        )
        store.write_run_info(run_dir, info)


_warned: set[str] = set()
_latest_run: Experiment | None = None


def _finish_previous_run() -> None:
    """A loop of runs made without `with`: the next run's start ends the previous one,
    so each run's log holds its own output only."""
    previous = _latest_run
    if previous is not None and not previous._finished and not previous._in_with:
        previous._stop_capture()
        try:
            previous._finish(None)
        except OSError:
            pass  # its directory was removed meanwhile


def _warn_once(message: str) -> None:
    """One line on stderr, once per process for the same kind of trouble (a sweep of
    a hundred runs outside a repository says it once)."""
    kind = message.rsplit("(", 1)[-1]
    if kind not in _warned:
        _warned.add(kind)
        print(f"maggot: warning: {message}", file=sys.stderr, flush=True)


class LaunchRecord(NamedTuple):
    """What a launcher tells the Experiment it creates about the command it runs."""

    command_argv: tuple[str, ...] = ()
    # the command's script (relative to the working directory), recorded in head.json
    script: str | None = None
    # a run directory whose git snapshot this run records instead of taking its own
    frozen_snapshot: str | None = None
    # where the command runs, when not in this process's working directory
    cwd: str | None = None
    # what run.json records about the launch
    launched_command: tuple[str, ...] = ()
    launch_options: LaunchOptions | None = None
    sweep: SweepJob | None = None
    rerun_of: str | None = None
    # how the launcher logs the command's output
    capture_output: str | None = None


def _run_to_join() -> str | None:
    """The run a launcher created for this process, when there is one to join."""
    if os.environ.get(ENV_JOIN) != "1":
        return None
    run_dir = os.environ.get(ENV_RUN_DIR)
    if not run_dir or not os.path.exists(store.meta_path(run_dir, store.RUN_FILE)):
        return None
    # only the first Experiment joins; another one in the same script is its own run
    del os.environ[ENV_RUN_DIR]
    del os.environ[ENV_JOIN]
    return run_dir


def _exit_code_status(exit_code: int, interrupted: bool) -> tuple[str, ExitInfo | None]:
    if exit_code == 0:
        return store.STATUS_COMPLETED, None
    import signal

    if interrupted or exit_code in (-signal.SIGINT, -signal.SIGTERM, 128 + signal.SIGINT):
        return store.STATUS_INTERRUPTED, ExitInfo("Interrupted", _exit_text(exit_code))
    return store.STATUS_FAILED, ExitInfo("ExitCode", _exit_text(exit_code))


def _exit_text(exit_code: int) -> str:
    if exit_code < 0:
        import signal

        try:
            return f"killed by {signal.Signals(-exit_code).name}"
        except ValueError:
            return f"killed by signal {-exit_code}"
    return f"exited with code {exit_code}"


def make_config(config: Any) -> Config:
    """Turn a dict, JSON path, argparse.Namespace or Config into a storable Config."""
    if isinstance(config, Config):
        data = config.to_dict()
    elif isinstance(config, Mapping):
        data = dict(config)
    elif _is_namespace(config):
        data = vars(config)
    elif isinstance(config, (str, os.PathLike)):
        path = os.fspath(config)
        if not os.path.isfile(path):
            raise ConfigError(f"config file {path!r} does not exist")
        data = Config.from_json(path).to_dict()
    else:
        raise ConfigError(
            f"config of type {type(config).__name__} is not supported: pass a dict, a path "
            "to a JSON file, an argparse.Namespace or a maggot Config"
        )
    return Config.from_dict(to_json_value(data))


def _is_namespace(config: Any) -> bool:
    # an argparse.Namespace exists only once argparse is loaded; don't load it here
    argparse = sys.modules.get("argparse")
    return argparse is not None and isinstance(config, argparse.Namespace)


def _run_name(config: Config, experiment_name: str | None, add_date: bool) -> str:
    if experiment_name:
        name = str(experiment_name)
        if safe_directory_name(name) != name or name != os.path.basename(name):
            raise MaggotError(
                f"experiment_name {name!r} is not a safe directory name "
                "(no '/', '\\', control characters, '.' or '..'; at most 200 bytes)"
            )
    else:
        name = config.identifier
        if not name:
            raise ConfigError(
                "the config gives an empty run name (no values, or only '_' keys): "
                "pass experiment_name=..."
            )
    if add_date:
        name = safe_directory_name(time.strftime("%Y-%m-%d-", time.gmtime()) + name)
    return name


def _resolve_existing(run_dir: str, if_exists_mode: str) -> str:
    mode = if_exists_mode
    if mode == "prompt":
        mode = _ask_if_exists(run_dir) if _interactive() else "exit"
    if mode == "exit":
        raise SystemExit(
            f"maggot: {run_dir} already exists; pick another name or pass "
            "if_exists_mode='increment', 'continue' or 'delete'"
        )
    if mode == "delete":
        if not store.is_run_dir(run_dir) and os.listdir(run_dir):
            raise MaggotError(f"{run_dir} exists and is not a maggot run: refusing to delete it")
        import shutil

        shutil.rmtree(run_dir)
        os.mkdir(run_dir)
        return run_dir
    if mode == "continue":
        return run_dir
    for number in range(1, _MAX_INCREMENT):
        candidate = f"{run_dir}_{number}"
        try:
            os.mkdir(candidate)
        except FileExistsError:
            continue
        return candidate
    raise MaggotError(f"{run_dir}: no free name up to _{_MAX_INCREMENT - 1}")


def _interactive() -> bool:
    try:
        return sys.stdin.isatty() and sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def _ask_if_exists(run_dir: str) -> str:
    choices = ("exit", "delete", "continue", "increment")
    print(f"Experiment {run_dir} already exists.")
    while True:
        answer = input(f"[{'/'.join(choices)}] (Enter = exit): ").strip().lower()
        if answer == "":
            return "exit"
        # any unambiguous beginning will do: "inc", "c"
        matches = [choice for choice in choices if choice.startswith(answer)]
        if len(matches) == 1:
            return matches[0]
        print(f"Please answer one of: {', '.join(choices)}")


def _find_run(resume_from: str, experiments_dir: str) -> str:
    try:
        return os.path.normpath(store.resolve_run_dir(resume_from, experiments_dir))
    except NotARunError as error:
        raise NotARunError(f"resume_from {error}") from None


def _is_clean_exit(exc: BaseException) -> bool:
    return isinstance(exc, SystemExit) and exc.code in (None, 0)


def _modules_under(root: str | None) -> list[str]:
    """Modules loaded from ``root``: a replay must import the snapshot, not the checkout."""
    if not root:
        return []
    prefix = os.path.join(os.path.realpath(root), "")
    found = []
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if path and os.path.realpath(path).startswith(prefix):
            found.append(f"{name} ({path})")
    return sorted(found)
