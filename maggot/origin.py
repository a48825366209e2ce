"""Where a run comes from: the command and directory that replay it.

A run created in a worker process (multiprocessing, joblib/loky, Hydra's
joblib launcher) records the command of the process that launched the
workers, not the worker's bootstrap. A run created in a Hydra job records
where the program was started (before Hydra changed directory) and, in a
multirun, a command that runs that one job alone.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from maggot import capture

# the launching process's command, inherited by the workers it starts
ENV_LAUNCH_ARGV = "MAGGOT_LAUNCH_ARGV"
_BOOTSTRAP_MODULES = (
    "joblib.externals.loky.backend.popen_loky_posix",
    "loky.backend.popen_loky_posix",
    "multiprocessing.forkserver",
    "multiprocessing.spawn",
    "multiprocessing.resource_tracker",
)
_BOOTSTRAP_CODE = ("from multiprocessing", "import multiprocessing", "loky")
_MAX_ANCESTORS = 16
# interpreter options that take a value in the next argument
PYTHON_OPTIONS_WITH_VALUE = ("-X", "-W", "--check-hash-based-pycs")
# Hydra command-line options that take a value in the next argument
_HYDRA_OPTIONS_WITH_VALUE = (
    "--config-path", "-cp", "--config-name", "-cn", "--config-dir", "-cd",
    "--experimental-rerun",
)  # fmt: skip
_HYDRA_SWEEP_FLAGS = ("-m", "--multirun")


class HydraJob(NamedTuple):
    """The Hydra job this process is running, as Hydra describes it."""

    name: str
    number: int | None
    multirun: bool
    overrides: list[str]
    override_dirname: str
    launch_cwd: str
    output_dir: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "job_name": self.name,
            "job_number": self.number,
            "multirun": self.multirun,
            "overrides": self.overrides,
            "launch_cwd": self.launch_cwd,
            "output_dir": self.output_dir,
        }


class Launch(NamedTuple):
    """The command and directory that start this run again."""

    argv: list[str]
    cwd: str
    process_argv: list[str]
    hydra: HydraJob | None

    @property
    def script(self) -> str | None:
        """The launching program's script, absolute, when this process is a worker of it.

        None in the launching process itself, where ``__main__`` is the script.
        """
        if not is_bootstrap(self.process_argv) or is_bootstrap(self.argv):
            return None
        end = program_end(self.argv)
        if end < 2 or self.argv[end - 2] == "-m":
            return None
        return os.path.join(self.cwd, self.argv[end - 1])


def is_bootstrap(argv: Sequence[str]) -> bool:
    """Whether ``argv`` starts a worker process rather than the user's program."""
    arguments = list(argv[1:])
    if "--multiprocessing-fork" in arguments:
        return True
    for option, value in zip(arguments, arguments[1:]):
        if option == "-m" and value.startswith(_BOOTSTRAP_MODULES):
            return True
        if option == "-c" and any(marker in value for marker in _BOOTSTRAP_CODE):
            return True
    return False


def note_launch_command() -> None:
    """Leave this program's command where the worker processes it starts will find it.

    Only needed without Linux's /proc, where a worker reads its ancestors' commands.
    """
    if os.path.isdir("/proc/self"):
        return
    argv = capture.process_argv()
    if not is_bootstrap(argv):
        os.environ[ENV_LAUNCH_ARGV] = json.dumps(argv)


def current_launch() -> Launch:
    """The command and directory that replay a run started now, in this process."""
    process_argv = capture.process_argv()
    argv = process_argv
    if is_bootstrap(argv):
        argv = _launching_argv() or argv
    cwd = os.getcwd()
    if argv is process_argv:
        cwd = start_directory(argv, cwd)
    job = hydra_job()
    if job is not None:
        cwd = job.launch_cwd
        if job.multirun:
            argv = hydra_job_command(argv, job.overrides)
    return Launch(argv=argv, cwd=cwd, process_argv=process_argv, hydra=job)


def start_directory(argv: Sequence[str], cwd: str) -> str:
    """The directory this program was started in, when it has changed directory since.

    A program that changes directory before its run starts (``os.chdir(
    os.path.dirname(__file__))``) would otherwise be replayed from there, where
    its script as typed is another file or none. Python made ``__main__.__file__``
    absolute from the start directory, so a relative script tells where that
    was; ``python -m`` put the start directory first on ``sys.path``.
    """
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    end = program_end(argv)
    if not isinstance(main_file, str) or not os.path.isabs(main_file) or end < 2:
        return cwd
    main_file = os.path.normpath(main_file)
    if argv[end - 2] == "-m":
        start = sys.path[0] if sys.path and not sys.flags.isolated else ""
        safe_path = getattr(sys.flags, "safe_path", False)
        if not safe_path and os.path.isabs(start) and main_file.startswith(os.path.join(start, "")):
            return start
        return cwd
    script = argv[end - 1]
    if os.path.isabs(script) or os.path.normpath(os.path.join(cwd, script)) == main_file:
        return cwd
    typed = os.path.normpath(script)
    if os.pardir not in typed.split(os.sep) and main_file.endswith(os.sep + typed):
        return main_file[: -len(typed) - 1] or os.sep
    return cwd


def _launching_argv() -> list[str] | None:
    ancestor = _ancestor_argv()
    if ancestor is not None:
        return ancestor
    inherited = os.environ.get(ENV_LAUNCH_ARGV)
    if inherited:
        try:
            argv = json.loads(inherited)
        except ValueError:
            return None
        if isinstance(argv, list) and argv and all(isinstance(part, str) for part in argv):
            return argv
    return None


def _ancestor_argv() -> list[str] | None:
    """The nearest ancestor process that is not a worker bootstrap (Linux's /proc)."""
    for _pid, argv in ancestors():
        if argv and not is_bootstrap(argv):
            return argv
    return None


def ancestors(limit: int = _MAX_ANCESTORS) -> Iterator[tuple[int, list[str]]]:
    """This process's ancestors and their command lines, nearest first (Linux's /proc).

    Stops at init, at ``limit`` processes, or at one that cannot be read.
    """
    pid = os.getppid()
    for _ in range(limit):
        if pid <= 1:
            return
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as file:
                parts = file.read().split(b"\0")
            with open(f"/proc/{pid}/stat", "rb") as file:
                parent = int(file.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return
        yield pid, [os.fsdecode(part) for part in parts if part]
        pid = parent


def hydra_job() -> HydraJob | None:
    """The Hydra job running in this process, or None (Hydra is never imported here)."""
    if "hydra" not in sys.modules:
        return None
    try:
        from hydra.core.hydra_config import HydraConfig

        if not HydraConfig.initialized():
            return None
        # Any: Hydra types its config as dataclasses, but it is a DictConfig here
        config: Any = HydraConfig.get()
        number = config.job.get("num")
        output_dir = config.runtime.get("output_dir")
        return HydraJob(
            name=str(config.job.name),
            number=int(number) if number is not None else None,
            multirun=str(config.mode).rsplit(".", 1)[-1] == "MULTIRUN",
            overrides=[str(item) for item in config.overrides.task],
            override_dirname=str(config.job.get("override_dirname") or ""),
            launch_cwd=str(config.runtime.cwd),
            output_dir=str(output_dir) if output_dir is not None else None,
        )
    except Exception:  # a Hydra too old or too new to describe itself this way
        return None


def hydra_run_name(job: HydraJob) -> str:
    """A run name from the job's overrides (Hydra's ``override_dirname``), else the job's name."""
    return job.override_dirname or job.name


def hydra_job_command(argv: Sequence[str], overrides: Sequence[str]) -> list[str]:
    """The command that runs one job of a sweep alone: the program with that job's overrides.

    Options and ``hydra.*`` settings of the sweep's command are kept; the
    sweep flag, sweep settings and the swept overrides are replaced by the
    job's own overrides.
    """
    end = program_end(argv)
    command = list(argv[:end])
    arguments = list(argv[end:])
    index = 0
    while index < len(arguments):
        argument = arguments[index]
        if argument in _HYDRA_SWEEP_FLAGS:
            index += 1
            continue
        if argument in _HYDRA_OPTIONS_WITH_VALUE:
            command.extend(arguments[index : index + 2])
            index += 2
            continue
        if argument.startswith("-") or _is_kept_hydra_setting(argument):
            command.append(argument)
        index += 1
    return command + list(overrides)


def _is_kept_hydra_setting(argument: str) -> bool:
    key = argument.split("=", 1)[0].lstrip("+~")
    if not key.startswith(("hydra.", "hydra/")):
        return False
    return not key.startswith(("hydra.mode", "hydra.sweep", "hydra.sweeper.params"))


def program_end(argv: Sequence[str]) -> int:
    """Index just after the script (or ``-m module``) in an interpreter command line."""
    index = 1
    while index < len(argv):
        argument = argv[index]
        if argument == "-m":
            return min(index + 2, len(argv))
        if argument in PYTHON_OPTIONS_WITH_VALUE:
            index += 2
            continue
        if argument == "--":
            return min(index + 2, len(argv))
        if not argument.startswith("-"):
            return index + 1
        index += 1
    return len(argv)
