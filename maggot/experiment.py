"""Experiment: claims a run directory, records the run, and ties its lifecycle together."""

from __future__ import annotations

import atexit
import json
import os
import sys
import time
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple

from maggot import (
    capture,
    entries,
    gitsnap,
    origin,
    ranks,
    secrets,
    sharedfiles,
    signals,
    store,
)
from maggot.config import (
    MAX_CONFIG_DEPTH,
    Config,
    check_config_keys,
    flatten,
    nesting_depth,
    safe_directory_name,
    to_json_value,
    unflatten,
)
from maggot.errors import ConfigError, CorruptRunError, MaggotError, NotARunError
from maggot.hashing import DEFAULT_HASH_LIMITS, HashLimits
from maggot.paths import is_within, safe_relative_path
from maggot.records import (
    DistributedLaunch,
    ExitInfo,
    GitHead,
    JoinedProcess,
    LaunchOptions,
    PythonInfo,
    RunInfo,
    SweepJob,
)
from maggot.replay import (
    ENV_ORIGINAL_ROOT,
    ENV_REPLAY_CONFIG,
    ENV_REPLAY_ROOTS,
    ENV_REPRODUCTION_OF,
    ENV_RUN_DIR,
    with_roots_replaced,
)
from maggot.version import __version__

if TYPE_CHECKING:
    from maggot import series
    from maggot.inputs import InputTracker

IF_EXISTS_MODES = ("prompt", "exit", "delete", "continue", "increment")
NAME_SOURCES = ("config", "overrides")
# how long a joining process waits for a just-created run directory to get its record
_CLAIM_GRACE_SECONDS = 2.0
# set by `maggot run` for its command: an Experiment there joins MAGGOT_RUN_DIR
ENV_JOIN = "MAGGOT_JOIN"
# set by users
ENV_SNAPSHOT = "MAGGOT_SNAPSHOT"
ENV_CAPTURE = "MAGGOT_CAPTURE"
ENV_TRACK_INPUTS = "MAGGOT_TRACK_INPUTS"
_MAX_INCREMENT = 100_000
# names git and maggot use for themselves: a run there would be taken for their data
RESERVED_RUN_NAMES = frozenset((store.META_DIR, ".git"))
STATUS_TERMINATED = "terminated"
# a rank waiting this long for rank 0 says so
_RANK_WAIT_NOTICE_SECONDS = 1.0


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
        track_inputs: bool | None = None,
        hash_limits: HashLimits | None = None,
        name_from: str | None = None,
        launch: LaunchRecord | None = None,
    ) -> None:
        """Create a new run from ``config`` or reopen one with ``resume_from``.

        config: a dict, a path to a JSON file, an ``argparse.Namespace`` or a Config.
        if_exists_mode: "prompt", "exit", "delete", "continue" or "increment".
        snapshot: record the git state (default on; ``MAGGOT_SNAPSHOT=0`` turns it off).
        capture_output: "auto" (default: "fd" where file descriptors can be
        redirected, else "sys"), "fd" (the process and its children at the file
        descriptor level), "sys" (Python's sys.stdout/sys.stderr only) or
        "none"; ``MAGGOT_CAPTURE`` sets the default.
        track_inputs: record the files the run opens outside its snapshot in
        ``.maggot/inputs.json`` (default on; ``MAGGOT_TRACK_INPUTS=0`` turns it off).
        hash_limits: above which size inputs are hashed by a sample, and run
        files are listed in the manifest without a hash.
        name_from: "config" (the identifier of the config values) or
        "overrides" (a Hydra job's command-line overrides); the default is
        "overrides" for an OmegaConf config inside a Hydra job, else "config".
        """
        if (config is None) == (resume_from is None):
            raise MaggotError("pass either a config or resume_from (a run directory), not both")
        if if_exists_mode not in IF_EXISTS_MODES:
            raise MaggotError(
                f"if_exists_mode {if_exists_mode!r}: expected one of {', '.join(IF_EXISTS_MODES)}"
            )
        if name_from is not None and name_from not in NAME_SOURCES:
            raise MaggotError(f"name_from {name_from!r}: expected one of {', '.join(NAME_SOURCES)}")
        capture_mode = capture_output or os.environ.get(ENV_CAPTURE) or "auto"
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
        self._in_with = False
        self._finished = False
        self._resumed = resume_from is not None
        self._series_writer: series.SeriesWriter | None = None
        # a forked child shares this object: only the process that started the run records it
        self._owner_pid = os.getpid()
        self._live_lock: Any = None
        self._warned_gone = False
        self._hash_limits = hash_limits or DEFAULT_HASH_LIMITS
        self._input_tracker: InputTracker | None = None
        self._started_here = False  # this process recorded the run's start
        self._captured_as: str | None = None
        self._entry_id: str | None = None
        self._entry_clock: float | None = None
        self._exclude_dirs: list[str] = []
        self._created = False
        self._origin = origin.current_launch()
        self._launch = launch
        self._joined = False
        self._exit_code: int | None = None
        self._stopped_by: int | None = None
        # this process's place in a multi-process launch (torchrun, srun, mpirun ...)
        self._rank: ranks.Rank | None = None
        self._launcher_entry: str | None = None

        if resume_from is not None:
            self._run_dir = _find_run(os.fspath(resume_from), self.experiments_dir)
            self.experiments_dir, self._name = os.path.split(os.path.normpath(self._run_dir))
            self._identity = _identity(self._run_dir)
            self._run_dir_at_start = os.path.abspath(self._run_dir)
            config = store.read_config(self._run_dir_at_start)
            if nesting_depth(config) > MAX_CONFIG_DEPTH:
                raise CorruptRunError(
                    f"{store.meta_path(self._run_dir, store.CONFIG_FILE)}: nested more than "
                    f"{MAX_CONFIG_DEPTH} levels deep"
                )
            self.config = Config.from_dict(config)
        else:
            self.config = make_config(config)
            if launch is None:
                # a launcher runs its runs in `with` blocks, from several threads at once
                _finish_previous_run()
            config_data = self.config.to_dict()
            joined_dir = _run_to_join()
            self._rank = ranks.current_rank() if launch is None else None
            if self._rank is not None:
                os.environ[ranks.ENV_RANK_PROCESS] = str(os.getpid())
            other_rank = self._rank is not None and self._rank.rank != 0
            rank_zero_entry: dict[str, Any] | None = None
            if joined_dir is not None:
                self._run_dir = joined_dir
            else:
                if experiment_name is None:
                    experiment_name = _hydra_name(self._origin.hydra, config, name_from)
                name = _run_name(self.config, experiment_name, add_date)
                if other_rank:
                    self._run_dir, rank_zero_entry = self._find_launch_run(name)
                else:
                    self._run_dir = self._claim(name, if_exists_mode, config_data)
            # the run's files are found again after the program changes directory
            self._run_dir_at_start = os.path.abspath(self._run_dir)
            self._name = os.path.basename(self._run_dir)
            self._exclude_dirs = [os.path.abspath(self.experiments_dir), self._run_dir_at_start]
            self._started_at = utc_now()
            self._entry_clock = time.monotonic()
            os.makedirs(store.meta_path(self._run_dir, store.LOGS_DIR), exist_ok=True)
            self._logfile = store.meta_path(self._run_dir, store.LOGS_DIR, _log_file_name())
            if self._rank is not None and joined_dir is None:
                # the ranks of one launch log side by side, in rank 0's directory
                log_dir = self._logfile + store.RANK_LOGS_SUFFIX
                zero_log = (rank_zero_entry or {}).get("log")
                if isinstance(zero_log, str):
                    log_dir = store.meta_path(self._run_dir, os.path.dirname(zero_log))
                self._logfile = self._rank_log(log_dir)
            start = (config_data, snapshot, snapshot_limits, secret_env_words)
            if joined_dir is not None:
                self._join_launcher(config_data)
            elif other_rank:
                self._join_as_rank()
            elif not self._created:
                self._join(start)
            else:
                with store.file_lock(store.meta_path(self._run_dir_at_start, store.RUN_LOCK_FILE)):
                    self._record_start(*start)
            # a program a launcher started (joined) records what it opens into the run too,
            # unless it already does as one of the run's Python processes (maggot.openlog)
            if (self._started_here or (self._joined and not _tracked_as_child())) and (
                track_inputs if track_inputs is not None else _env_flag(ENV_TRACK_INPUTS)
            ):
                self._start_tracking()
            self._check_run_dir()
            signals.install()

        if self._resumed:
            os.makedirs(store.meta_path(self._run_dir, store.LOGS_DIR), exist_ok=True)
            self._logfile = store.meta_path(self._run_dir, store.LOGS_DIR, _log_file_name())
        else:
            atexit.register(self._finish_at_exit)
        if not self._resumed and launch is None and not self._joined:
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
        return Config.from_dict(store.read_results(self._run_dir_at_start))

    @property
    def directories(self) -> Config:
        """Registered directories: ``exp.directories.checkpoints`` is their path."""
        return Config.from_dict(
            {
                name: os.path.join(self._run_dir, name)
                for name in store.registered_directories(self._run_dir_at_start)
            }
        )

    def register_directory(self, dirname: str) -> str:
        """Create ``dirname`` inside the run and remember it; returns its path."""
        if not safe_relative_path(dirname.replace(os.sep, "/")):
            raise MaggotError(f"directory name {dirname!r} must be a relative path inside the run")
        self._check_run_dir()
        directory = os.path.join(self._run_dir, dirname)
        os.makedirs(directory, exist_ok=True)
        store.add_registered_directory(self._run_dir_at_start, dirname)
        return directory

    def register_result(self, name: str, value: Any, *, per_rank: bool = False) -> None:
        """Record a result; dotted names nest (``fold1.loss``).

        Safe from several processes at once: the file is updated under a lock
        and replaced atomically. A name that is a section of another result
        (``loss`` and ``loss.val``) is refused, since one would erase the other.

        In a multi-process launch, rank 0's value of a name is kept; another
        rank's value is kept only while no rank registered the name before it.
        ``per_rank=True`` keeps every rank's value, as ``name.rank-N``.
        """
        if per_rank:
            name = f"{name}.{self._rank_name()}"
        keep_registered = self._rank is not None and self._rank.rank != 0 and not per_rank
        stored_value = to_json_value(value, name)
        if isinstance(stored_value, dict) and stored_value:
            new_results = {f"{name}.{key}": item for key, item in flatten(stored_value).items()}
        else:
            new_results = {name: stored_value}
        self._check_run_dir()
        results_path = store.meta_path(self._run_dir_at_start, store.RESULTS_FILE)
        with store.file_lock(store.meta_path(self._run_dir_at_start, store.RESULTS_LOCK_FILE)):
            try:
                results = flatten(store.read_json_object(results_path))
            except FileNotFoundError:
                results = {}
            for new_name in new_results:
                for existing in results:
                    if existing.startswith(new_name + ".") or new_name.startswith(existing + "."):
                        raise MaggotError(
                            f"result {new_name!r} conflicts with the registered result "
                            f"{existing!r}: one name cannot be both a value and a section of values"
                        )
            if keep_registered:
                new_results = {key: item for key, item in new_results.items() if key not in results}
            results.update(new_results)
            store.write_json_atomic(results_path, unflatten(results))

    def log_metric(
        self, name: str, value: Any, step: int | None = None, *, per_rank: bool = False
    ) -> None:
        """Add a point to the series ``name`` (dotted names nest, as results do).

        ``step`` defaults to one more than this process's previous step for the
        name (0 first); the wall-clock time is kept too. Cheap enough for an
        inner loop: points are buffered and written at least every second and
        at exit. A value that is not a number raises TypeError naming the metric.
        In a multi-process launch every rank's points are kept in the series;
        ``per_rank=True`` keeps each rank's in its own series ``name.rank-N``.
        """
        writer = self._series_writer
        if writer is None:
            writer = self._open_series()
        if per_rank:
            name = f"{name}.{self._rank_name()}"
        writer.log(name, value, step)

    def log_metrics(self, values: Mapping[str, Any], step: int | None = None) -> None:
        """Add a point to each series in ``values`` (``{"loss": 0.3, "val": {"acc": 0.9}}``)."""
        writer = self._series_writer
        if writer is None:
            writer = self._open_series()
        writer.log_many(values, step)

    def _rank_name(self) -> str:
        """``rank-N`` for this process (``rank-0`` outside a multi-process launch)."""
        return f"{store.RANK_LOG_PREFIX}{self._rank.rank if self._rank is not None else 0}"

    def _open_series(self) -> series.SeriesWriter:
        from maggot import series

        self._series_writer = series.writer_for(self._run_dir_at_start)
        return self._series_writer

    def record_exit_code(self, exit_code: int, stopped_by: int | None = None) -> None:
        """The exit code of the command a launcher ran: the run's status follows it.

        ``stopped_by`` is the signal the launcher received and passed on, if any.
        Negative codes are signals (``subprocess`` style), 128 + N a shell's way
        to say signal N: SIGINT means "interrupted", SIGTERM and SIGHUP
        "terminated", as for a run of the API.
        """
        self._exit_code = exit_code
        self._stopped_by = stopped_by if exit_code != 0 else None

    def __enter__(self) -> Experiment:
        self._check_run_dir()
        if self._entry_id is None and not self._joined:
            # resume_from, or a second ``with`` on this object: a new entry into the run
            self._started_at = utc_now()
            if os.path.exists(store.meta_path(self._run_dir_at_start, store.RUN_FILE)):
                kind = entries.ENTRY_RESUME if self._resumed else entries.ENTRY_CONTINUE
                try:
                    self._begin_entry(kind)
                except CorruptRunError as error:
                    # never rewritten: what is left of the record may still be worth reading
                    raise CorruptRunError(f"{error}; not updating it") from None
            # else a maggot 0.2 run: no run.json to list entries in
        if self._live_lock is None:
            self._take_live_lock(self._run_dir_at_start)
        if self._finished or self._resumed:
            signals.install()
        self._entry_clock = time.monotonic()
        self._in_with = True
        self._finished = False
        if self._joined:
            return self  # the launcher that created the run logs it and records its status
        if self._capture is None:
            self._start_capture()
        return self

    def _start_capture(self) -> None:
        self._capture = capture.OutputCapture(self._logfile, self._capture_mode)
        self._captured_as = self._capture.start()
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
            if not self._finished and os.getpid() == self._owner_pid:
                self._stop_capture()
                self._finish_safely(exc)

        self._excepthook, self._previous_excepthook = record_crash, previous
        sys.excepthook = record_crash

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if os.getpid() != self._owner_pid:
            return  # a forked child leaving the block: the parent records the run
        # nothing here may replace the block's own exception: failures become warnings
        if self._capture is not None:
            try:
                if isinstance(exc, signals.Terminated):
                    self._capture.log_text(f"maggot: terminated by {exc.signal_name}\n")
                elif exc is not None and not _is_clean_exit(exc):
                    # Python prints the traceback after this returns, when the log is closed
                    import traceback

                    text = "".join(traceback.format_exception(exc_type, exc, tb))
                    self._capture.log_text(text)
            finally:
                self._stop_capture()
        self._in_with = False
        self._finish_safely(exc)

    def _finish_at_exit(self) -> None:
        if os.getpid() != self._owner_pid:
            return
        self._stop_capture()
        if self._finished:
            return
        # an uncaught exception leaves sys.last_value set before atexit runs
        self._finish_safely(signals.received() or getattr(sys, "last_value", None))

    def _finish_safely(self, exc: BaseException | None) -> None:
        """Record the outcome; a run directory gone or broken is a warning, not an error."""
        try:
            with signals.deferred():
                self._finish(exc)
        except (OSError, MaggotError) as error:
            _warn(f"the outcome of {self._run_dir} was not recorded: {error}")
        finally:
            self._release_live_lock()
            signals.uninstall()

    def _finish(self, exc: BaseException | None) -> None:
        self._finished = True
        if self._excepthook is not None and sys.excepthook is self._excepthook:
            sys.excepthook = self._previous_excepthook
        self._excepthook = self._previous_excepthook = None
        if self._run_dir_replaced():
            if not self._warned_gone:
                self._warned_gone = True
                _warn(
                    f"{self._run_dir} was deleted or replaced while the run was running: "
                    "its outcome was not recorded"
                )
            if self._input_tracker is not None:
                self._input_tracker.cancel()
                self._input_tracker = None
            return
        if self._series_writer is not None:
            # the points are on disk before the status says the run has ended
            self._series_writer.flush()
        foreign = _modules_under(os.environ.get(ENV_ORIGINAL_ROOT))
        if self._joined:
            if foreign:
                self._record_joined(imports_outside_snapshot=foreign)
            self._stop_tracking()
            return
        exit_info: ExitInfo | None
        if exc is None and self._exit_code is not None:
            status, exit_info = _exit_code_status(self._exit_code, self._stopped_by)
        elif exc is None or _is_clean_exit(exc):
            status, exit_info = store.STATUS_COMPLETED, None
        elif isinstance(exc, signals.Terminated):
            status = STATUS_TERMINATED
            exit_info = ExitInfo(exc.signal_name, f"terminated by {exc.signal_name}")
        elif isinstance(exc, KeyboardInterrupt):
            status, exit_info = store.STATUS_INTERRUPTED, ExitInfo("KeyboardInterrupt")
        else:
            status, exit_info = store.STATUS_FAILED, ExitInfo(type(exc).__name__, str(exc))
        entry_id, self._entry_id = self._entry_id, None
        if entry_id is None:
            # a maggot 0.2 run resumed: no run.json to record in
            self._write_manifest()
            return
        outcome: dict[str, Any] = {
            "status": status,
            "ended_at": utc_now(),
            "exit": exit_info.to_json() if exit_info else None,
        }
        if self._captured_as is not None:
            outcome["capture_output"] = self._captured_as  # "auto" as it turned out
        if self._entry_clock is not None:
            outcome["duration_seconds"] = round(time.monotonic() - self._entry_clock, 3)
        if self._exit_code is not None:
            outcome["exit_code"] = self._exit_code
        if foreign:
            outcome["imports_outside_snapshot"] = foreign
        try:
            ended = entries.end_entry(self._run_dir_at_start, entry_id, outcome)
        except CorruptRunError as error:
            # never rewritten: what is left of the record may still be worth reading
            raise CorruptRunError(f"{error}; not updating it") from None
        finally:
            # the outcome first: hashing a large input must not delay it
            self._stop_tracking()
        if ended or self._rank is None:
            # the ranks of a launch: the last one to end hashes what all of them wrote
            self._write_manifest()

    def _start_tracking(self) -> None:
        """Record the files this process opens outside the snapshot from now on."""
        from maggot import inputs

        try:
            head = store.read_git_head(self._run_dir)
        except (OSError, CorruptRunError):
            head = GitHead()
        repo_root = head.repo_root
        if repo_root is None and head.commit:
            # no snapshot, but a commit: the repository's files are its code state
            repo_root = gitsnap.find_toplevel(os.getcwd())
        excluded = [os.path.abspath(self.experiments_dir), os.path.abspath(self._run_dir)]
        # a launched run may execute in a rebuilt tree of its code state (a sweep's frozen
        # tree, a rerun's worktree): files there count as the repository's
        # (a launcher resolves what its command's processes opened, in the command's tree)
        where = self._cwd() if self._launch is not None else os.getcwd()
        tree_root = gitsnap.find_toplevel(where) if repo_root is not None else None
        if tree_root is not None and not os.path.isfile(os.path.join(tree_root, ".git")):
            tree_root = None  # not a worktree: a repository of its own
        if tree_root is not None and is_within(tree_root, os.path.abspath(self.experiments_dir)):
            # a sweep's frozen tree lies in the experiments directory: only the run is left out
            excluded = [os.path.abspath(self._run_dir)]
        self._input_tracker = inputs.InputTracker(
            repo_root,
            excluded,
            [item.path for item in head.skipped],
            self._hash_limits,
            tree_root=tree_root,
            children_dir=store.meta_path(self._run_dir_at_start, store.OPENED_DIR),
            # a launcher's own opens are not the run's: its command's (and their children's) are
            own_process=self._launch is None,
        )
        self._input_tracker.start()

    def note_input(self, path: str) -> None:
        """For launchers: record ``path`` among the run's inputs (a file read for it)."""
        if self._input_tracker is not None:
            self._input_tracker.note_read(path)

    def prepare_child_environment(self, environment: dict[str, str]) -> None:
        """For launchers: make the command started with ``environment`` record its inputs."""
        if self._input_tracker is not None:
            environment.update(self._input_tracker.child_environment(environment))

    def _stop_tracking(self) -> None:
        tracker, self._input_tracker = self._input_tracker, None
        if tracker is None:
            return
        if not os.path.isdir(self._run_dir_at_start):
            tracker.cancel()  # the run directory was removed while the process ran
            return
        from maggot import inputs

        try:
            if self._joined or self._launch is not None:
                # the launcher and the program it started record into one file
                inputs.write_merged_inputs(
                    self._run_dir_at_start, tracker.stop(), self._shared_files()
                )
            else:
                inputs.write_inputs(self._run_dir_at_start, tracker.stop())
            if tracker.children_dir is not None:
                try:
                    os.rmdir(tracker.children_dir)  # mostly empty: no child wrote a list
                except OSError:
                    import shutil

                    shutil.rmtree(tracker.children_dir, ignore_errors=True)  # taken in
        except (OSError, MaggotError) as error:
            # the run's outcome matters more than its inputs record
            if os.path.isdir(self._run_dir_at_start):
                print(f"maggot: warning: inputs not recorded: {error}", file=sys.stderr)

    def _write_manifest(self) -> None:
        """Hash the run directory as it is at the end of the run (``maggot verify``)."""
        from maggot import manifest

        try:
            manifest.write_manifest(self._run_dir_at_start, self._hash_limits.manifest_file_bytes)
        except OSError as error:
            if os.path.isdir(self._run_dir_at_start):
                print(f"maggot: warning: manifest not written: {error}", file=sys.stderr)

    def _join_launcher(self, config_data: dict[str, Any]) -> None:
        """Become part of the run a launcher created: one run, the configs merged.

        The launcher already recorded the command, environment and snapshot,
        holds the run's entry and logs all output; this process adds its config,
        itself (``joined``) and its results.
        """
        self._joined = True
        requested_capture, self._capture_mode = self._capture_mode, "none"
        run_dir = self._run_dir_at_start
        # the launcher holds the run's live lock too; this one keeps a delete-mode
        # start elsewhere away for as long as this process records into the run
        self._take_live_lock(run_dir)
        self._identity = _identity(run_dir)
        config_path = store.meta_path(run_dir, store.CONFIG_FILE)
        with store.file_lock(store.meta_path(run_dir, store.RUN_LOCK_FILE)):
            merged = flatten(store.read_config(run_dir))
            merged.update(flatten(config_data))
            store.write_json_atomic(config_path, unflatten(merged))
            if self._rank is not None:
                self._join_launcher_as_rank(requested_capture)
                return
            process = {"at": self._started_at, **capture.describe_process()}
            joined = JoinedProcess.from_json(process)
            self._record_joined(locked=True, joined=joined.to_json() if joined else None)

    def _join_launcher_as_rank(self, capture_mode: str) -> None:
        """A rank of a launch a launcher started (``maggot run -- mpirun ...``): its own entry.

        Each rank logs its own output (the launcher logs all of it together)
        and records how it ended; rank 0 records the launch in run.json. The
        caller holds the run's lock.
        """
        assert self._rank is not None
        self._joined = False
        self._capture_mode = capture_mode
        info = store.read_json_object(store.meta_path(self._run_dir_at_start, store.RUN_FILE))
        launcher = entries.running_launcher_entry(info)
        log_dir = self._logfile + store.RANK_LOGS_SUFFIX
        if launcher is not None:
            self._launcher_entry = str(launcher.get("id"))
            launcher_log = launcher.get("log")
            if isinstance(launcher_log, str):
                log_dir = store.meta_path(
                    self._run_dir_at_start, launcher_log + store.RANK_LOGS_SUFFIX
                )
        self._logfile = self._rank_log(log_dir)
        if self._rank.rank == 0:
            process_argv = secrets.redact_argv(self._origin.process_argv, os.environ)[0]
            distributed = DistributedLaunch(
                launcher=self._rank.launcher,
                world_size=self._rank.world_size,
                launch_id=self._rank.launch_id,
                source="the command maggot ran",
                rank_command_argv=tuple(process_argv),
                variables=dict(self._rank.variables),
            )
            self._record_joined(locked=True, distributed=distributed.to_json())
        self._begin_entry(entries.ENTRY_RANK, locked=True)

    def _join_as_rank(self) -> None:
        """A rank other than 0: join the run rank 0 of the same launch recorded."""
        run_dir = self._run_dir_at_start
        self._take_live_lock(run_dir)
        self._identity = _identity(run_dir)
        try:
            self._begin_entry(entries.ENTRY_RANK)
        except BaseException:
            self._release_live_lock()
            raise

    def _rank_log(self, log_dir: str) -> str:
        assert self._rank is not None
        os.makedirs(log_dir, exist_ok=True)
        return os.path.join(log_dir, self._rank_name())

    def _find_launch_run(self, name: str) -> tuple[str, dict[str, Any]]:
        """The run rank 0 of this launch recorded, and rank 0's entry; waits for it.

        Rank 0 claims the run named from the config (``NAME``, or ``NAME_<n>``
        with ``increment``; the replay's directory in a replay); its entry names
        the launch. Gives up after ``MAGGOT_RANK_WAIT`` seconds.
        """
        assert self._rank is not None
        rank = self._rank
        forced_dir = os.environ.get(ENV_RUN_DIR)
        wait = _env_seconds(ranks.ENV_RANK_WAIT, ranks.DEFAULT_RANK_WAIT_SECONDS)
        started = time.monotonic()
        told = False
        target = forced_dir or os.path.join(self.experiments_dir, name)
        while True:
            candidates = [forced_dir] if forced_dir else _numbered_runs(self.experiments_dir, name)
            for candidate in candidates:
                try:
                    info = store.read_optional_object(store.meta_path(candidate, store.RUN_FILE))
                except (OSError, MaggotError):
                    continue  # a broken run of the same name is not this launch's
                found = entries.rank_zero_entry(info or {}, rank.launch_id)
                if found is not None:
                    return candidate, found
            waited = time.monotonic() - started
            if waited > wait:
                raise MaggotError(
                    f"rank {rank.rank} of a {rank.launcher} launch: rank 0 recorded no run "
                    f"at {target} within {wait:g} s (set {ranks.ENV_RANK_WAIT} to wait longer)"
                )
            if not told and waited > _RANK_WAIT_NOTICE_SECONDS:
                told = True
                _warn(f"rank {rank.rank} waits for rank 0 to record the run {target}")
            time.sleep(0.05)

    def _record_joined(self, locked: bool = False, **updates: Any) -> None:
        """Fields of run.json a joined process sets, under the run's lock."""

        def change(info: dict[str, Any]) -> None:
            info.update(updates)

        entries.update_run_info(self._run_dir_at_start, change, locked=locked)

    def _run_dir_replaced(self) -> bool:
        """Whether the run directory was deleted, or another one now stands at its path."""
        return _identity(self._run_dir_at_start) != self._identity

    def _check_run_dir(self) -> None:
        if self._run_dir_replaced():
            raise MaggotError(
                f"{self._run_dir} was deleted or replaced by another run while this one was "
                "running: not writing into it"
            )

    def _take_live_lock(self, run_dir: str, new: bool = False) -> None:
        """Hold the run's live lock (shared) while this process runs it.

        ``if_exists_mode="delete"`` only deletes a run nobody holds.
        """
        self._live_lock = store.hold_live_lock(run_dir, new=new)
        _LIVE_IN_THIS_PROCESS[id(self)] = _identity(run_dir)

    def _release_live_lock(self) -> None:
        if self._live_lock is not None:
            self._live_lock.close()
            self._live_lock = None
            _LIVE_IN_THIS_PROCESS.pop(id(self), None)

    def _claim(self, name: str, if_exists_mode: str, config_data: dict[str, Any]) -> str:
        """The run directory; ``self._created`` says whether this process made it."""
        forced_dir = os.environ.get(ENV_RUN_DIR)
        # in the replayed program itself the first Experiment records (a different config
        # is then reported); in its worker processes only the one with the recorded config
        in_worker = origin.is_bootstrap(self._origin.process_argv)
        if (
            forced_dir
            and (not in_worker or _replays_recorded_config(config_data))
            and _claim_replay_dir(forced_dir)
        ):
            os.environ.pop(ENV_RUN_DIR, None)
            self._created = True
            self._take_live_lock(forced_dir, new=True)
            self._identity = _identity(forced_dir)
            return forced_dir
        os.makedirs(self.experiments_dir, exist_ok=True)
        run_dir = os.path.join(self.experiments_dir, name)
        try:
            os.mkdir(run_dir)
            created = True
        except FileExistsError:
            run_dir, created = _resolve_existing(run_dir, if_exists_mode)
        try:
            os.makedirs(store.meta_path(run_dir), exist_ok=True)
            # creating the live lock is the claim: a delete-mode start elsewhere
            # may have replaced the directory since it was made
            self._take_live_lock(run_dir, new=created)
        except (store.RunTakenError, FileNotFoundError):
            raise MaggotError(
                f"{run_dir} was taken over by another process while this run claimed it"
            ) from None
        # held now: no delete-mode start can move the directory any more
        self._identity = _identity(run_dir)
        self._created = created
        return run_dir

    def _join(self, start: tuple[Any, ...]) -> None:
        """``continue`` into an existing run: a new entry, or its first start if it has none.

        The process that created the directory holds the run's lock until the
        start is recorded; one that finds neither a record nor that lock in the
        moment after the directory appeared waits for it briefly.
        """
        lock = store.meta_path(self._run_dir, store.RUN_LOCK_FILE)
        deadline = time.monotonic() + _CLAIM_GRACE_SECONDS
        while True:
            with store.file_lock(lock):
                if os.path.exists(store.meta_path(self._run_dir, store.RUN_FILE)):
                    try:
                        self._begin_entry(entries.ENTRY_CONTINUE, locked=True)
                    except CorruptRunError as error:
                        self._release_live_lock()
                        raise CorruptRunError(f"{error}; not continuing into it") from None
                    return
                if time.monotonic() > deadline or not _just_created(self._run_dir):
                    # a run directory without a record (maggot 0.2, a crash): start it here
                    self._record_start(*start)
                    return
            time.sleep(0.01)

    def _begin_entry(
        self, kind: str, first: dict[str, Any] | None = None, locked: bool = False
    ) -> None:
        """List this process's entry into the run in run.json."""
        cwd = self._cwd()
        entry: dict[str, Any] = {
            "kind": kind,
            "started_at": self._started_at,
            "command_argv": secrets.redact_argv(self._command_argv(), os.environ)[0],
            "cwd": cwd,
            "hostname": capture.host_name(),
            "pid": os.getpid(),
            "log": os.path.relpath(self._logfile, store.meta_path(self._run_dir)),
        }
        if self._rank is not None:
            entry.update(
                rank=self._rank.rank,
                world_size=self._rank.world_size,
                launcher=self._rank.launcher,
                launch_id=self._rank.launch_id,
            )
            if self._rank.local_rank is not None:
                entry["local_rank"] = self._rank.local_rank
            if self._launcher_entry is not None:
                entry["launcher_entry"] = self._launcher_entry
        if first is None and kind != entries.ENTRY_RANK:
            current = entries.code_state(cwd, self._exclude_dirs or [self._run_dir])
            recorded = entries.recorded_code_state(self._run_dir)
            if current is not None and recorded is not None and current != recorded:
                entry["code"] = current
        self._entry_id = entries.begin_entry(self._run_dir, entry, first, locked=locked)

    def _record_start(
        self,
        config_data: dict[str, Any],
        snapshot: bool | None,
        snapshot_limits: gitsnap.SnapshotLimits | None,
        secret_env_words: tuple[str, ...],
    ) -> None:
        run_dir = self._run_dir
        launch = self._launch or LaunchRecord()
        cwd = self._cwd()
        command_argv = self._command_argv()
        distributed: DistributedLaunch | None = None
        if self._rank is not None:
            distributed = ranks.describe(self._rank, self._origin.process_argv)
            # the launch is what replays the run, with the same number of processes
            command_argv = list(distributed.command_argv) or command_argv
            distributed = distributed._replace(
                command_argv=tuple(secrets.redact_argv(distributed.command_argv, os.environ)[0]),
                rank_command_argv=tuple(
                    secrets.redact_argv(distributed.rank_command_argv, os.environ)[0]
                ),
            )
        argv, redacted_arguments = secrets.redact_argv(command_argv, os.environ)
        launched_command = _redacted_suffix(launch.launched_command, launch.command_argv, argv)
        store.write_json_atomic(store.meta_path(run_dir, store.CONFIG_FILE), config_data)
        store.write_text_atomic(
            store.meta_path(run_dir, store.COMMAND_FILE), capture.shell_command(argv) + "\n"
        )
        # a sweep's jobs record the same environment, packages and commit: linked, not rewritten
        shared = self._shared_files()
        write = shared.write if shared is not None else store.write_bytes_atomic
        environ = secrets.redact_environ(
            {
                key: value
                for key, value in os.environ.items()
                if key not in (origin.ENV_LAUNCH_ARGV, ranks.ENV_RANK_PROCESS)
            },
            secret_env_words,
            [item.environment for item in redacted_arguments if item.environment]
            # values a rerun or replay was given for redacted arguments
            + [name for name in os.environ if name.startswith(secrets.SUPPLY_PREFIX)],
        )
        write(
            store.meta_path(run_dir, store.ENVIRON_FILE),
            store.text_bytes(store.dumps_json(environ)),
        )
        write(
            store.meta_path(run_dir, store.PACKAGES_FILE),
            store.text_bytes("".join(line + "\n" for line in capture.installed_packages())),
        )
        if snapshot is None:
            snapshot = _env_flag(ENV_SNAPSHOT)
        if launch.frozen_snapshot:
            script = gitsnap.relative_script(launch.script, cwd) if launch.script else None
            head = gitsnap.copy_snapshot(launch.frozen_snapshot, run_dir, script, shared)
        elif snapshot:
            head = gitsnap.take_snapshot(
                run_dir,
                cwd,
                self._exclude_dirs,
                snapshot_limits or gitsnap.DEFAULT_LIMITS,
                script=launch.script if launch.command_argv else self._origin.script,
            )
            if not head.snapshot:
                _warn_once(f"{run_dir}: no git snapshot recorded ({head.reason})")
            elif head.script is None:
                _warn_if_script_outside(launch.script if launch.command_argv else None, head)
        else:
            head = gitsnap.record_disabled(run_dir, cwd, "snapshot turned off")
        if head.commit and shared is not None:
            shared.write(store.meta_path(run_dir, store.COMMIT_HASH_FILE), head.commit.encode())
        elif head.commit:
            store.write_commit_hash(run_dir, head.commit)
        process = capture.describe_process()
        extra: dict[str, Any] = {}
        if not launch.command_argv and self._origin.process_argv != self._origin.argv:
            # a worker process, or one job of a Hydra sweep: what this process really ran
            extra["process_argv"] = secrets.redact_argv(self._origin.process_argv)[0]
        if self._origin.hydra is not None:
            extra["hydra"] = self._origin.hydra.as_json()
        info = RunInfo(
            format_version=store.FORMAT_VERSION,
            maggot_version=__version__,
            name=self._name,
            status=store.STATUS_RUNNING,
            started_at=self._started_at,
            argv=tuple(secrets.redact_argv(sys.argv)[0]),
            command_argv=tuple(argv),
            redacted_arguments=tuple(redacted_arguments),
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
            launched_command=launched_command,
            launch_options=launch.launch_options,
            sweep=launch.sweep,
            rerun_of=launch.rerun_of,
            distributed=distributed,
            extra=extra,
        )
        # the caller holds the run's lock
        self._begin_entry(entries.ENTRY_START, first=info.to_json(), locked=True)
        self._started_here = True

    def _shared_files(self) -> sharedfiles.SharedFiles | None:
        """For a sweep's job: the files its jobs share (see maggot.sharedfiles)."""
        if self._launch is not None and self._launch.sweep is not None:
            return sharedfiles.for_sweep(self._launch.sweep.id)
        return None

    def _cwd(self) -> str:
        """Where the recorded command runs: the launcher's command's directory, or this one."""
        if self._launch is not None and self._launch.cwd:
            return self._launch.cwd
        return self._origin.cwd

    def _command_argv(self) -> list[str]:
        """The command that replays the run: a launcher's command, or this process's."""
        if self._launch is not None and self._launch.command_argv:
            return list(self._launch.command_argv)
        return list(self._origin.argv)


_warned: set[str] = set()
_latest_run: Experiment | None = None


def _finish_previous_run() -> None:
    """A loop of runs made without `with`: the next run's start ends the previous one,
    so each run's log holds its own output only."""
    previous = _latest_run
    if (
        previous is not None
        and not previous._finished
        and not previous._in_with
        and previous._owner_pid == os.getpid()
    ):
        previous._stop_capture()
        previous._finish_safely(None)


def _warn_if_script_outside(script: str | None, head: GitHead) -> None:
    """Say when the program's script lies outside the repository the snapshot is of.

    Its code is then not in the snapshot (a replay runs it as it is then). An
    entry point of the interpreter's (pytest, a tool's console script) is not
    the user's code and is not mentioned.
    """
    if script is None:
        script = getattr(sys.modules.get("__main__"), "__file__", None)
    if not isinstance(script, str) or not os.path.isfile(script):
        return
    from maggot import openlog

    script = os.path.abspath(script)
    interpreter = tuple(
        os.path.join(os.path.abspath(path), "") for path in openlog.interpreter_dirs()
    )
    if script.startswith(interpreter) or os.path.realpath(script).startswith(interpreter):
        return
    _warn_once(
        f"{script} is not in the repository {head.repo_root}: the snapshot does not hold its "
        "code, so a replay runs it as it is then (script outside the repository)"
    )


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


def _exit_code_status(exit_code: int, stopped_by: int | None) -> tuple[str, ExitInfo | None]:
    if exit_code == 0:
        return store.STATUS_COMPLETED, None
    import signal

    by_signal = stopped_by
    if by_signal is None and exit_code < 0:
        by_signal = -exit_code
    elif by_signal is None and 128 < exit_code < 128 + 65:
        by_signal = exit_code - 128
    if by_signal is not None and by_signal in signals.TERMINATION_SIGNALS:
        name = signal.Signals(by_signal).name
        return STATUS_TERMINATED, ExitInfo(name, f"terminated by {name}: {_exit_text(exit_code)}")
    if by_signal is not None and (stopped_by is not None or by_signal == signal.SIGINT):
        return store.STATUS_INTERRUPTED, ExitInfo("Interrupted", _exit_text(exit_code))
    return store.STATUS_FAILED, ExitInfo("ExitCode", _exit_text(exit_code))


def _redacted_suffix(
    command: tuple[str, ...], full_argv: tuple[str, ...], redacted_argv: list[str]
) -> tuple[str, ...]:
    """``command`` (the end of ``full_argv``) as ``redacted_argv`` records it."""
    if not command:
        return ()
    if full_argv[len(full_argv) - len(command) :] == command:
        return tuple(redacted_argv[len(redacted_argv) - len(command) :])
    return tuple(secrets.redact_argv(command, os.environ)[0])


def _exit_text(exit_code: int) -> str:
    if exit_code < 0:
        import signal

        try:
            return f"killed by {signal.Signals(-exit_code).name}"
        except ValueError:
            return f"killed by signal {-exit_code}"
    return f"exited with code {exit_code}"


def make_config(config: Any) -> Config:
    """Turn a mapping, JSON path, argparse.Namespace or Config into a storable Config.

    An OmegaConf config (Hydra) is stored resolved, interpolations replaced by values.
    """
    if is_omegaconf(config):
        config = omegaconf_to_container(config)
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
    if nesting_depth(data) > MAX_CONFIG_DEPTH:
        raise ConfigError(f"the config is nested more than {MAX_CONFIG_DEPTH} levels deep")
    check_config_keys(data)
    return Config.from_dict(to_json_value(data))


def is_omegaconf(value: Any) -> bool:
    """Whether ``value`` is an OmegaConf DictConfig/ListConfig (omegaconf is not imported)."""
    return type(value).__module__.split(".", 1)[0] == "omegaconf"


def omegaconf_to_container(value: Any) -> Any:
    """An OmegaConf config as plain dicts and lists, interpolations resolved."""
    from omegaconf import OmegaConf

    try:
        return OmegaConf.to_container(value, resolve=True)
    except Exception as error:  # omegaconf's errors have no common public base
        raise ConfigError(f"the OmegaConf config cannot be resolved: {error}") from None


def _hydra_name(job: origin.HydraJob | None, config: Any, name_from: str | None) -> str | None:
    """The run name for a Hydra job named from its overrides, or None to use the config."""
    if name_from is None:
        name_from = "overrides" if job is not None and is_omegaconf(config) else "config"
    if name_from == "config":
        return None
    if job is None:
        raise MaggotError("name_from='overrides' needs a running Hydra job")
    return safe_directory_name(origin.hydra_run_name(job))


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
    # case-insensitive: .GIT is .git on macOS and Windows
    if name.lower() in RESERVED_RUN_NAMES:
        raise MaggotError(
            f"run name {name!r} is reserved for git and maggot's own files: "
            "pass experiment_name=... or change the config"
        )
    return name


def _claim_replay_dir(replay_dir: str) -> bool:
    """Claim the directory reproduce made for the replay; False if another process did."""
    os.makedirs(os.path.dirname(os.path.abspath(replay_dir)), exist_ok=True)
    try:
        os.mkdir(replay_dir)
    except FileExistsError:
        # reproduce creates the directory before the replay starts
        entries_there = os.listdir(replay_dir)
        if entries_there and store.META_DIR not in entries_there:
            raise MaggotError(f"{replay_dir}: exists and is not empty") from None
    try:
        os.mkdir(store.meta_path(replay_dir))
    except FileExistsError:
        return False  # another Experiment of the replay (a worker) with the same config
    return True


def _replays_recorded_config(config_data: dict[str, Any]) -> bool:
    """In a replay, whether this Experiment is the recorded one: its config is the same.

    A replayed program may create several Experiments (a joblib loop, a sweep);
    only the one with the recorded config records into the replay's directory.
    Paths into the checkout compare equal to the same paths in the worktree.
    """
    config_path = os.environ.get(ENV_REPLAY_CONFIG)
    if not config_path:
        return True
    try:
        recorded = store.read_json(config_path)
        roots = json.loads(os.environ.get(ENV_REPLAY_ROOTS) or "{}")
    except (OSError, ValueError, MaggotError):
        return True
    recorded_roots = [str(root) for root in roots.get("recorded", []) if root]
    replay_roots = [str(roots["replay"])] if roots.get("replay") else []
    return bool(
        with_roots_replaced(recorded, recorded_roots)
        == with_roots_replaced(to_json_value(config_data), replay_roots)
    )


def _resolve_existing(run_dir: str, if_exists_mode: str) -> tuple[str, bool]:
    """The directory to use for an existing run name, and whether it was made anew."""
    mode = if_exists_mode
    if mode == "prompt":
        mode = _ask_if_exists(run_dir) if _interactive() else "exit"
    if mode == "exit":
        raise SystemExit(
            f"maggot: {run_dir} already exists; pick another name or pass "
            "if_exists_mode='increment', 'continue' or 'delete'"
        )
    if mode == "delete":
        return _replace_existing(run_dir), True
    if mode == "continue":
        if not os.path.isdir(run_dir):
            raise MaggotError(f"{run_dir} exists and is not a directory: cannot continue into it")
        return run_dir, False
    for number in range(1, _MAX_INCREMENT):
        candidate = f"{run_dir}_{number}"
        try:
            os.mkdir(candidate)
        except FileExistsError:
            continue
        return candidate, True
    raise MaggotError(f"{run_dir}: no free name up to _{_MAX_INCREMENT - 1}")


_DELETE_ATTEMPTS = 20
# runs this process records: a notebook re-running a cell in delete mode replaces its own run
_LIVE_IN_THIS_PROCESS: dict[int, tuple[int, int] | None] = {}


def _replace_existing(run_dir: str) -> str:
    """``delete`` mode: move the old run out of the way, then claim its name.

    The old run is renamed away in one step (so a reader never sees half of
    it), but only when no process holds its live lock; a run still being
    recorded is refused. Racing ``delete`` starts each get a fresh run or a
    clear error, never a shared directory.
    """
    for _ in range(_DELETE_ATTEMPTS):
        if os.path.islink(run_dir):
            raise MaggotError(
                f"{run_dir} is a symbolic link: not deleting it (remove the link yourself)"
            )
        try:
            _move_away(run_dir)
        except FileNotFoundError:
            pass  # another process removed it first
        try:
            os.mkdir(run_dir)
        except FileExistsError:
            continue  # another process claimed it first: that one may be deletable, or live
        return run_dir
    raise MaggotError(f"{run_dir}: gave up after {_DELETE_ATTEMPTS} attempts to replace it")


def _move_away(run_dir: str) -> None:
    import shutil

    if not os.path.isdir(run_dir):
        raise MaggotError(f"{run_dir} exists and is not a directory: refusing to delete it")
    if not store.is_run_dir(run_dir) and os.listdir(run_dir):
        raise MaggotError(f"{run_dir} exists and is not a maggot run: refusing to delete it")
    # killed while deleting, what is left stays hidden until `maggot gc` sees this process gone
    trash = os.path.join(os.path.dirname(run_dir), store.deleting_name())
    with store.try_exclusive_live_lock(run_dir) as state:
        if state == store.LIVE_CHANGED:
            return  # replaced meanwhile: the caller looks again
        if state == store.LIVE_BUSY and _identity(run_dir) not in _LIVE_IN_THIS_PROCESS.values():
            raise MaggotError(f"{run_dir} is being recorded by a running process: not deleting it")
        os.rename(run_dir, trash)
    shutil.rmtree(trash, ignore_errors=True)


def _identity(path: str) -> tuple[int, int] | None:
    """Device and inode of ``path``: a directory deleted and made anew differs."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino)


def _warn(message: str) -> None:
    """A warning for the user, even while their output is being captured."""
    stream = sys.__stderr__ or sys.stderr
    try:
        stream.write(f"maggot: warning: {message}\n")
        stream.flush()
    except (OSError, ValueError, AttributeError):
        pass


def _interactive() -> bool:
    try:
        return sys.stdin.isatty() and sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def _ask_if_exists(run_dir: str) -> str:
    choices = ("exit", "delete", "continue", "increment")
    print(f"Experiment {run_dir} already exists.")
    while True:
        try:
            answer = input(f"[{'/'.join(choices)}] (Enter = exit): ").strip().lower()
        except EOFError:  # Ctrl-D: no answer, the safe choice
            print()
            return "exit"
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


def _tracked_as_child() -> bool:
    """Whether this process records its opens for a run that started it (maggot.openlog)."""
    openlog = sys.modules.get("maggot.openlog")
    return openlog is not None and bool(openlog.tracking_child())


def _env_flag(name: str) -> bool:
    """An on/off setting from the environment: on unless set to 0, false, no or off."""
    return os.environ.get(name, "1").strip().lower() not in ("0", "false", "no", "off")


def _env_seconds(name: str, default: float) -> float:
    """A number of seconds from the environment; the default when unset or not a number."""
    try:
        value = float(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value >= 0 else default


def _numbered_runs(experiments_dir: str, name: str) -> list[str]:
    """``NAME`` and the ``NAME_<n>`` an ``increment`` start makes, in ``experiments_dir``."""
    try:
        listed = os.listdir(experiments_dir)
    except OSError:
        return []
    prefix = name + "_"
    return [
        os.path.join(experiments_dir, item)
        for item in sorted(listed)
        if item == name or (item.startswith(prefix) and item[len(prefix) :].isdigit())
    ]


def _just_created(run_dir: str) -> bool:
    try:
        age = time.time() - os.stat(run_dir).st_mtime
    except OSError:
        return False
    return age < _CLAIM_GRACE_SECONDS


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
