"""Environment drift: what a run recorded about its interpreter, platform, packages and
environment variables, compared with what a replay will run on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from typing import NamedTuple

from maggot import capture, secrets, store
from maggot.errors import CorruptRunError, MaggotError
from maggot.ranks import is_launch_variable
from maggot.records import PythonInfo

INTERPRETER, PLATFORM, PACKAGE, VARIABLE = "interpreter", "platform", "package", "variable"
# set per shell, terminal or test process, or by maggot itself: they differ between
# any two processes and say nothing about a run's numbers
_VOLATILE_VARIABLES = frozenset(
    (
        "_",
        "COLUMNS",
        "LINES",
        "OLDPWD",
        "PWD",
        "PS1",
        "PYTEST_CURRENT_TEST",
        "SHLVL",
        "SSH_AUTH_SOCK",
        "SSH_CLIENT",
        "SSH_CONNECTION",
        "SSH_TTY",
        "TERM_SESSION_ID",
        "TMUX_PANE",
        "WINDOWID",
        "XDG_SESSION_ID",
    )
)
_SHOWN_VALUE_CHARS = 60


class EnvironmentRecord(NamedTuple):
    """What a process ran on. ``None`` fields (and empty ``recorded``) were not recorded."""

    python_executable: str | None
    python_version: str | None
    implementation: str | None
    platform: str | None
    packages: dict[str, str]  # normalized name -> version ("" when unknown)
    environ: dict[str, str]  # secret-looking values are secrets.REDACTED
    recorded: frozenset[str]  # which of "python", "packages", "environ" are known


class Difference(NamedTuple):
    """One thing that differs between the run and the replay."""

    kind: str  # INTERPRETER, PLATFORM, PACKAGE or VARIABLE
    name: str
    recorded: str | None  # None: absent in the run
    current: str | None  # None: absent now

    def describe(self) -> str:
        if self.kind == VARIABLE and secrets.REDACTED in (self.recorded, self.current):
            where = "only in the run" if self.current is None else "only in the replay"
            return f"environment variable {self.name} (redacted): {where}"
        label = {VARIABLE: "environment variable "}.get(self.kind, "")
        if self.current is None:
            return f"{label}{self.name} {_short(self.recorded)}: missing in the replay"
        if self.recorded is None:
            return f"{label}{self.name} {_short(self.current)}: new in the replay"
        return f"{label}{self.name}: {_short(self.recorded)} -> {_short(self.current)}"


class Drift(NamedTuple):
    """The differences between a run's recorded environment and a replay's."""

    differences: tuple[Difference, ...]
    not_recorded: tuple[str, ...]  # parts the run did not record

    @property
    def differs(self) -> bool:
        return bool(self.differences)

    def of_kind(self, *kinds: str) -> list[Difference]:
        return [item for item in self.differences if item.kind in kinds]


def _short(value: str | None) -> str:
    text = "" if value is None else value
    return text if len(text) <= _SHOWN_VALUE_CHARS else text[: _SHOWN_VALUE_CHARS - 3] + "..."


def parse_packages(lines: list[str]) -> dict[str, str]:
    """``packages.txt`` lines (``name==version`` or ``name``) as a mapping."""
    packages = {}
    for line in lines:
        name, _, version = line.strip().partition("==")
        if name:
            packages[name] = version
    return packages


def recorded_environment(run_dir: str) -> EnvironmentRecord:
    """What ``run_dir`` recorded about its environment (0.2 runs: nothing)."""
    recorded = set()
    info = store.load_run(run_dir, with_config=False, with_results=False).info
    python = info.python
    if python != PythonInfo():
        recorded.add("python")
    packages_path = store.meta_path(run_dir, store.PACKAGES_FILE)
    packages = parse_packages(store.read_lines(packages_path))
    if os.path.exists(packages_path):
        recorded.add("packages")
    environ: dict[str, str] = {}
    try:
        data = store.read_json_object(store.meta_path(run_dir, store.ENVIRON_FILE))
        environ = {str(name): str(value) for name, value in data.items()}
        recorded.add("environ")
    except (FileNotFoundError, CorruptRunError):
        pass
    return EnvironmentRecord(
        python_executable=python.executable,
        python_version=python.version,
        implementation=python.implementation,
        platform=info.platform,
        packages=packages,
        environ=environ,
        recorded=frozenset(recorded),
    )


_PROBE = """
import json, os, maggot.capture as capture
process = capture.describe_process()
print(json.dumps({"python": process["python"], "platform": process["platform"],
                  "packages": capture.installed_packages()}))
"""


def current_environment(
    python: str | None = None, environ: Mapping[str, str] | None = None
) -> EnvironmentRecord:
    """What a replay with ``python`` (default: this interpreter) and ``environ`` runs on.

    Another interpreter is asked in a subprocess; it must be able to import
    maggot, as the replayed script does.
    """
    environ = os.environ if environ is None else environ
    if python is None or same_interpreter(python, sys.executable):
        process = capture.describe_process()
        python_info, platform = process["python"], process["platform"]
        package_lines = capture.installed_packages()
    else:
        try:
            completed = subprocess.run(
                [python, "-c", _PROBE], capture_output=True, text=True, check=False
            )
        except OSError as error:
            raise MaggotError(f"{python}: cannot run this interpreter: {error.strerror}") from None
        if completed.returncode != 0:
            last_line = (completed.stderr.strip().splitlines() or ["no output"])[-1]
            raise MaggotError(f"{python}: cannot inspect this interpreter: {last_line}")
        data = json.loads(completed.stdout)
        python_info, platform, package_lines = data["python"], data["platform"], data["packages"]
    return EnvironmentRecord(
        python_executable=python_info.get("executable"),
        python_version=python_info.get("version"),
        implementation=python_info.get("implementation"),
        platform=platform,
        packages=parse_packages(package_lines),
        environ=secrets.redact_environ(environ),
        recorded=frozenset(("python", "packages", "environ")),
    )


def same_interpreter(first: str, second: str) -> bool:
    """Whether two interpreter paths start the same Python with the same packages.

    ``venv/bin/python`` and ``venv/bin/python3`` are two names of one binary;
    two virtual environments made from one Python share the binary too, but
    not their packages, so the environment each path belongs to must match.
    """
    if first == second:
        return True
    try:
        same_binary = os.path.samefile(first, second)
    except OSError:
        return False
    return same_binary and _virtual_environment(first) == _virtual_environment(second)


def _virtual_environment(executable: str) -> str | None:
    """The virtual environment ``executable`` starts (None: none).

    Python looks for ``pyvenv.cfg`` next to the path it was started as, or one
    directory up, before following symlinks: the path decides, not its target.
    """
    directory = os.path.dirname(os.path.abspath(executable))
    for candidate in (directory, os.path.dirname(directory)):
        if os.path.isfile(os.path.join(candidate, "pyvenv.cfg")):
            return os.path.realpath(candidate)
    return None


def compare(recorded: EnvironmentRecord, current: EnvironmentRecord) -> Drift:
    """Everything that differs, in order: interpreter, platform, packages, variables.

    Two paths of one interpreter in one environment (a virtual environment's
    ``bin/python`` and ``bin/python3``) are the same interpreter, not drift.
    """
    differences: list[Difference] = []
    if "python" in recorded.recorded:
        for name, before, after in (
            ("python", recorded.python_version, current.python_version),
            ("implementation", recorded.implementation, current.implementation),
        ):
            if before != after:
                differences.append(Difference(INTERPRETER, name, before, after))
        before, after = recorded.python_executable, current.python_executable
        if not _same_executable(before, after):
            differences.append(Difference(INTERPRETER, "interpreter", before, after))
        if recorded.platform != current.platform:
            differences.append(
                Difference(PLATFORM, "platform", recorded.platform, current.platform)
            )
    if "packages" in recorded.recorded:
        differences.extend(
            Difference(PACKAGE, name, version, current.packages.get(name))
            for name, version in _differing(recorded.packages, current.packages)
        )
    if "environ" in recorded.recorded:
        differences.extend(_variable_differences(recorded.environ, current.environ))
    not_recorded = tuple(
        part for part in ("python", "packages", "environ") if part not in recorded.recorded
    )
    return Drift(tuple(differences), not_recorded)


def _same_executable(recorded: str | None, current: str | None) -> bool:
    if recorded is None or current is None:
        return recorded == current
    return same_interpreter(recorded, current)


def _differing(before: Mapping[str, str], after: Mapping[str, str]) -> list[tuple[str, str | None]]:
    names = sorted(set(before) | set(after))
    return [(name, before.get(name)) for name in names if before.get(name) != after.get(name)]


def _variable_differences(before: Mapping[str, str], after: Mapping[str, str]) -> list[Difference]:
    differences = []
    for name in sorted(set(before) | set(after)):
        if name in _VOLATILE_VARIABLES or name.startswith("MAGGOT_") or is_launch_variable(name):
            continue
        old, new = before.get(name), after.get(name)
        if old is not None and new is not None and secrets.REDACTED in (old, new):
            continue  # a redacted value is compared by name only
        if old != new:
            differences.append(Difference(VARIABLE, name, old, new))
    return differences


def check_drift(run_dir: str, python: str | None = None) -> Drift:
    """Compare what ``run_dir`` recorded with this machine (and ``python``) now."""
    return compare(recorded_environment(run_dir), current_environment(python))
