"""How a replay process is set up: its command, import path and environment.

A recorded command refers to the checkout it ran in; the replay runs in a
worktree. This module maps the interpreter command, path arguments and
PYTHONPATH from one to the other, and names the environment variables that
tell the replayed ``Experiment`` where to record.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from maggot.errors import ReproduceError
from maggot.origin import is_bootstrap

if TYPE_CHECKING:
    import subprocess

# set by ``maggot reproduce`` for the replayed process, read by its Experiment
ENV_RUN_DIR = "MAGGOT_RUN_DIR"
ENV_REPRODUCTION_OF = "MAGGOT_REPRODUCTION_OF"
ENV_ORIGINAL_ROOT = "MAGGOT_ORIGINAL_ROOT"
# the recorded config, and {"recorded": [checkout roots], "replay": worktree} to compare it
ENV_REPLAY_CONFIG = "MAGGOT_REPLAY_CONFIG"
ENV_REPLAY_ROOTS = "MAGGOT_REPLAY_ROOTS"
REPLAY_VARIABLES = (
    ENV_RUN_DIR,
    ENV_REPRODUCTION_OF,
    ENV_ORIGINAL_ROOT,
    ENV_REPLAY_CONFIG,
    ENV_REPLAY_ROOTS,
)

# interpreter options that take a value, which may follow in the same argument (-Wignore)
_SHORT_OPTIONS_WITH_VALUE = "WX"
_LONG_OPTIONS_WITH_VALUE = ("--check-hash-based-pycs",)
_NOTEBOOK_MODULES = ("ipykernel_launcher", "ipykernel", "IPython", "jupyter")


def replay_command(command_argv: Sequence[str], python: str, run_dir: str) -> list[str]:
    """The recorded interpreter command with ``python`` as the interpreter.

    Refuses commands that cannot be replayed: ``python -c`` (however the
    options are bundled: ``-Ic``, ``-uBc``), stdin, an interactive
    interpreter or a notebook kernel.
    """
    if is_bootstrap(command_argv):
        raise ReproduceError(
            f"{run_dir}: the recorded command starts a worker process "
            f"({shlex.join(command_argv[1:3])} ...), not the program that launched it; "
            "it cannot be replayed"
        )
    arguments = list(command_argv[1:])
    index = 0
    while index < len(arguments):
        argument = arguments[index]
        if argument == "--" or argument == "-" or not argument.startswith("-"):
            break
        index += 1
        if argument.startswith("--"):
            name = argument.split("=", 1)[0]
            if name in _LONG_OPTIONS_WITH_VALUE and "=" not in argument:
                index += 1
            continue
        letters = argument[1:]
        for position, letter in enumerate(letters):
            rest = letters[position + 1 :]
            if letter == "c":
                raise ReproduceError(
                    f"{run_dir}: ran from 'python {argument}' (inline code); only scripts "
                    "and 'python -m module' runs can be replayed"
                )
            if letter == "m":
                module = rest or (arguments[index] if index < len(arguments) else "")
                if module.split(".")[0] in _NOTEBOOK_MODULES:
                    raise ReproduceError(
                        f"{run_dir}: ran in a notebook kernel; only scripts can be replayed"
                    )
                return [python, *arguments]
            if letter in _SHORT_OPTIONS_WITH_VALUE:
                if not rest:
                    index += 1  # the value is the next argument
                break
    if index < len(arguments):
        argument = arguments[index]
        if argument == "-":
            raise ReproduceError(
                f"{run_dir}: ran from 'python -' (stdin); only scripts "
                "and 'python -m module' runs can be replayed"
            )
        if argument == "--":
            if index + 1 >= len(arguments):
                raise ReproduceError(
                    f"{run_dir}: ran in an interactive interpreter; only scripts can be replayed"
                )
            argument = arguments[index + 1]
        script = os.path.basename(argument)
        if script.split(".")[0] in ("ipython", "jupyter", "ipykernel_launcher"):
            raise ReproduceError(
                f"{run_dir}: ran in an interactive session; only scripts can be replayed"
            )
        return [python, *arguments]
    raise ReproduceError(
        f"{run_dir}: ran in an interactive interpreter; only scripts can be replayed"
    )


def map_into(path: str, roots: Sequence[str], worktree: str) -> str | None:
    """``path`` under one of ``roots`` as the same place in the worktree, else None.

    Both sides are also compared resolved, since a repository reached through
    a symlink (``/home`` -> ``/gpfs/...``) shows up under either spelling.
    """
    for candidate in dict.fromkeys((path, os.path.realpath(path))):
        for root in roots:
            for candidate_root in dict.fromkeys((root, os.path.realpath(root))):
                if candidate == candidate_root:
                    return worktree
                prefix = os.path.join(candidate_root, "")
                if candidate.startswith(prefix):
                    return os.path.join(worktree, candidate[len(prefix) :])
    return None


_MAX_COMPARED_ENTRIES = 10_000


def _snapshot_holds(original: str, target: str) -> bool:
    """Whether everything at ``original`` is also at ``target`` (bytecode caches aside)."""
    if not os.path.lexists(target):
        return False
    if not os.path.isdir(original) or os.path.islink(original):
        return True
    seen = 0
    for directory, dirnames, filenames in os.walk(original):
        dirnames[:] = [name for name in dirnames if name != "__pycache__"]
        relative = os.path.relpath(directory, original)
        for name in filenames:
            seen += 1
            if seen > _MAX_COMPARED_ENTRIES:
                return False
            if name.endswith((".pyc", ".pyo")):
                continue
            if not os.path.lexists(os.path.join(target, relative, name)):
                return False
    return True


def split_path_argument(argument: str) -> tuple[str, str, str]:
    """``(name, "=", value)`` of ``--option=/path`` or ``key=/path`` (Hydra, fire) arguments."""
    name, equals, value = argument.partition("=")
    if not equals or os.path.isabs(argument):
        return "", "", argument
    return name, equals, value


def checkout_paths(command: Sequence[str], roots: Sequence[str], script: Any) -> list[str]:
    """Absolute paths in the command that point into the checkout, the script aside."""
    paths = []
    for argument in command[1:]:
        value = split_path_argument(argument)[2]
        relative = map_into(value, roots, "") if os.path.isabs(value) else None
        if relative is not None and relative != script:
            paths.append(value)
    return paths


def map_arguments(
    command: Sequence[str], roots: Sequence[str], worktree: str
) -> tuple[list[str], list[str]]:
    """Point absolute paths into the checkout at the worktree, with notes on the rest.

    A path is mapped when the snapshot holds everything there; otherwise (an
    ignored data set, an output directory) it keeps pointing at the checkout,
    and a note says so.
    """
    mapped = [command[0]]
    notes = []
    for argument in command[1:]:
        name, equals, value = split_path_argument(argument)
        target = map_into(value, roots, worktree) if os.path.isabs(value) else None
        if target is not None:
            if _snapshot_holds(value, target):
                argument = f"{name}{equals}{target}"
            else:
                notes.append(
                    f"{value} is in your checkout but not (all) in the snapshot: "
                    "the replay uses it, and may write there, as it is now"
                )
        mapped.append(argument)
    return mapped, notes


_IMPORT_PATHS_PROBE = """
import json, sys
paths = [p for p in sys.path if p]
for finder in sys.meta_path:
    mapping = getattr(sys.modules.get(getattr(finder, "__module__", ""), None), "MAPPING", None)
    if isinstance(mapping, dict):
        paths.extend(str(p) for p in mapping.values())
print(json.dumps(paths))
"""


def import_paths(python: str, cwd: str) -> list[str]:
    """Where ``python`` imports from: sys.path plus editable-install mappings."""
    return finish_import_paths(python, start_import_paths(python, cwd))


def start_import_paths(python: str, cwd: str) -> subprocess.Popen[str]:
    """Start asking ``python`` where it imports from; ``finish_import_paths`` reads the answer
    (the interpreter starts while the caller does other work)."""
    import subprocess

    return subprocess.Popen(
        [python, "-c", _IMPORT_PATHS_PROBE],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish_import_paths(python: str, probe: subprocess.Popen[str]) -> list[str]:
    """The answer of a ``start_import_paths`` probe (see ``import_paths``)."""
    stdout, stderr = probe.communicate()
    if probe.returncode != 0:
        raise ReproduceError(f"{python}: cannot run this interpreter: {stderr.strip()}")
    return [path for path in json.loads(stdout) if isinstance(path, str)]


def replay_pythonpath(paths: Sequence[str], roots: Sequence[str], worktree: str) -> list[str]:
    """PYTHONPATH entries that make imports from the checkout resolve in the worktree.

    An editable install maps a package to its directory in the checkout; its
    parent directory, moved into the worktree, is put first on the path.
    """
    entries: list[str] = []
    for path in paths:
        target = map_into(os.path.abspath(path), roots, worktree)
        if target is None:
            continue
        if os.path.isfile(target) or os.path.isfile(os.path.join(target, "__init__.py")):
            target = os.path.dirname(target)
        if target not in entries:
            entries.append(target)
    return entries


def with_roots_replaced(value: Any, roots: Sequence[str]) -> Any:
    """``value`` with paths under the checkout ``roots`` made comparable across checkouts."""
    if isinstance(value, str):
        for root in roots:
            for spelling in dict.fromkeys((root, os.path.realpath(root))):
                value = value.replace(spelling, "\0root")
        return value
    if isinstance(value, dict):
        return {key: with_roots_replaced(item, roots) for key, item in value.items()}
    if isinstance(value, list):
        return [with_roots_replaced(item, roots) for item in value]
    return value
