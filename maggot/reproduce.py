"""Reproduce a run: rebuild its code state in a separate worktree, replay it, compare results."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from maggot import codediff, gitsnap, store
from maggot.codediff import Repository, find_repository
from maggot.config import flatten
from maggot.errors import GitError, MaggotError, ReproduceError
from maggot.experiment import ENV_ORIGINAL_ROOT, ENV_REPRODUCTION_OF, ENV_RUN_DIR
from maggot.git import run_git, split_nul

_PYTHON_OPTIONS_WITH_VALUE = ("-X", "-W", "--check-hash-based-pycs")
_NOTEBOOK_MODULES = ("ipykernel_launcher", "ipykernel", "IPython", "jupyter")
REPLAY_SUFFIX = ".repro-"


class ReproducePlan(NamedTuple):
    """Everything reproduce will do, decided before anything is touched."""

    run_dir: str
    snapshot: gitsnap.GitSnapshot
    repository: Repository
    commit_summary: str
    command: list[str]
    cwd: str
    replay_dir: str
    worktree: str | None
    notes: list[str]

    @property
    def commit(self) -> str:
        return self.snapshot.commit


class Comparison(NamedTuple):
    """One result compared between the original run and its replay."""

    name: str
    original: Any
    replay: Any
    status: str  # "match", "differ", "missing" (not in the replay), "extra" (only in the replay)


class ReplayOutcome(NamedTuple):
    """What the replay did."""

    exit_code: int
    replay_dir: str
    comparisons: list[Comparison]
    problems: list[str]

    @property
    def reproduced(self) -> bool:
        return (
            self.exit_code == 0
            and not self.problems
            and bool(self.comparisons)
            and all(item.status in ("match", "extra") for item in self.comparisons)
        )


def _describe_commit(repository: Repository, snapshot: gitsnap.GitSnapshot) -> str:
    """``<short sha> <subject>`` of the run's commit, read with GitPython's object model."""
    import git

    try:
        found = git.Repo(repository.toplevel).commit(snapshot.commit)
    except (ValueError, git.BadName):
        raise ReproduceError(codediff.missing_commit_message(snapshot, repository)) from None
    summary = found.summary
    if isinstance(summary, bytes):
        summary = summary.decode(errors="replace")
    return f"{found.hexsha[:12]} {summary}"


def plan_reproduction(
    run_dir: str,
    *,
    repo_path: str | None = None,
    python: str | None = None,
    worktree: str | None = None,
) -> ReproducePlan:
    """Check that ``run_dir`` can be reproduced here and decide how."""
    run_dir = os.path.normpath(run_dir)
    record = store.load_run(run_dir, with_results=False)
    snapshot = gitsnap.load_snapshot(run_dir)
    command_argv = record.info.get("command_argv")
    if not isinstance(command_argv, list) or not command_argv:
        raise ReproduceError(f"{run_dir}: no recorded command (run.json has no command_argv)")
    repository = find_repository(*([repo_path] if repo_path else [os.getcwd(), run_dir]))
    summary = _describe_commit(repository, snapshot)
    if worktree is not None:
        worktree = os.path.abspath(worktree)
        if gitsnap.is_within(worktree, repository.toplevel):
            raise ReproduceError(f"--worktree {worktree}: choose a path outside the repository")
        if os.path.exists(worktree) and os.listdir(worktree):
            raise ReproduceError(f"--worktree {worktree}: exists and is not empty")
    relative_cwd = snapshot.head.get("cwd") or ""
    if not gitsnap.safe_relative_path(relative_cwd) and relative_cwd != "":
        raise ReproduceError(f"{run_dir}: refusing recorded cwd {relative_cwd!r}")
    command = replay_command(command_argv, python or sys.executable, run_dir)
    roots = _checkout_roots(repository, snapshot)
    return ReproducePlan(
        run_dir=run_dir,
        snapshot=snapshot,
        repository=repository,
        commit_summary=summary,
        command=command,
        cwd=relative_cwd,
        replay_dir=next_replay_dir(run_dir),
        worktree=worktree,
        notes=_snapshot_notes(snapshot) + _command_notes(record.info, command, roots, snapshot),
    )


def _checkout_roots(repository: Repository, snapshot: gitsnap.GitSnapshot) -> list[str]:
    """The checkout here and, for a run copied from elsewhere, where it was recorded."""
    roots = [repository.toplevel]
    recorded_root = snapshot.head.get("repo_root")
    if isinstance(recorded_root, str) and recorded_root not in roots:
        roots.append(recorded_root)
    return roots


def _command_notes(
    info: Mapping[str, Any],
    command: Sequence[str],
    roots: Sequence[str],
    snapshot: gitsnap.GitSnapshot,
) -> list[str]:
    notes = [
        f"{path} points into your checkout: the replay uses the worktree's copy when the "
        "snapshot holds all of it, otherwise this path as it is now"
        for path in _checkout_paths(command, roots, snapshot.head.get("script"))
    ]
    continued = info.get("continued")
    if isinstance(continued, list) and continued:
        notes.append(
            f"the run was continued {len(continued)} time(s) after its first start; the replay "
            "repeats the first start only, so results of later entries may not come back"
        )
    return notes


def _snapshot_notes(snapshot: gitsnap.GitSnapshot) -> list[str]:
    """What the run had that its snapshot does not hold."""
    head = snapshot.head
    notes = [
        f"not in the snapshot: {item.get('path')} ({item.get('reason')})"
        for item in head.get("skipped", [])
    ]
    if head.get("script") is None:
        notes.append(
            "the script that started the run is not in the repository: the replay runs it "
            "as it is now, not from the snapshot"
        )
    for item in head.get("submodules", []):
        if item.get("dirty"):
            notes.append(
                f"submodule {item.get('path')} had uncommitted changes, which are not in the "
                "snapshot: the replay uses its recorded commit"
            )
    return notes


def replay_command(command_argv: Sequence[str], python: str, run_dir: str) -> list[str]:
    """The recorded interpreter command with ``python`` as the interpreter.

    Refuses commands that cannot be replayed: ``python -c``, stdin, an
    interactive interpreter or a notebook kernel.
    """
    arguments = list(command_argv[1:])
    index = 0
    while index < len(arguments):
        argument = arguments[index]
        if argument in _PYTHON_OPTIONS_WITH_VALUE:
            index += 2
            continue
        if argument == "-m":
            module = arguments[index + 1] if index + 1 < len(arguments) else ""
            if module.split(".")[0] in _NOTEBOOK_MODULES:
                raise ReproduceError(
                    f"{run_dir}: ran in a notebook kernel; only scripts can be replayed"
                )
            return [python, *arguments]
        if argument.startswith("-c") or argument == "-":
            raise ReproduceError(
                f"{run_dir}: ran from 'python {argument}' (inline code or stdin); only scripts "
                "and 'python -m module' runs can be replayed"
            )
        if argument.startswith("-") and argument != "--":
            index += 1
            continue
        script = os.path.basename(arguments[index + 1] if argument == "--" else argument)
        if script.split(".")[0] in ("ipython", "jupyter", "ipykernel_launcher"):
            raise ReproduceError(
                f"{run_dir}: ran in an interactive session; only scripts can be replayed"
            )
        return [python, *arguments]
    raise ReproduceError(
        f"{run_dir}: ran in an interactive interpreter; only scripts can be replayed"
    )


def claim_replay_dir(plan: ReproducePlan) -> ReproducePlan:
    """Create the replay's run directory (the next free ``.repro-<n>``) before it runs."""
    replay_dir = plan.replay_dir
    while True:
        try:
            os.mkdir(replay_dir)
        except FileExistsError:
            replay_dir = next_replay_dir(plan.run_dir)
            continue
        return plan._replace(replay_dir=replay_dir)


def next_replay_dir(run_dir: str) -> str:
    """``<run>.repro-<n>`` next to the run, with the first free ``n``."""
    number = 1
    while os.path.lexists(f"{run_dir}{REPLAY_SUFFIX}{number}"):
        number += 1
    return f"{run_dir}{REPLAY_SUFFIX}{number}"


def _map_into(path: str, roots: Sequence[str], worktree: str) -> str | None:
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


def _split_path_argument(argument: str) -> tuple[str, str, str]:
    """``(name, "=", value)`` of ``--option=/path`` or ``key=/path`` (Hydra, fire) arguments."""
    name, equals, value = argument.partition("=")
    if not equals or os.path.isabs(argument):
        return "", "", argument
    return name, equals, value


def _checkout_paths(command: Sequence[str], roots: Sequence[str], script: Any) -> list[str]:
    """Absolute paths in the command that point into the checkout, the script aside."""
    paths = []
    for argument in command[1:]:
        value = _split_path_argument(argument)[2]
        relative = _map_into(value, roots, "") if os.path.isabs(value) else None
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
        name, equals, value = _split_path_argument(argument)
        target = _map_into(value, roots, worktree) if os.path.isabs(value) else None
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
    completed = subprocess.run(
        [python, "-c", _IMPORT_PATHS_PROBE], cwd=cwd, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        raise ReproduceError(f"{python}: cannot run this interpreter: {completed.stderr.strip()}")
    return [path for path in json.loads(completed.stdout) if isinstance(path, str)]


def replay_pythonpath(paths: Sequence[str], roots: Sequence[str], worktree: str) -> list[str]:
    """PYTHONPATH entries that make imports from the checkout resolve in the worktree.

    An editable install maps a package to its directory in the checkout; its
    parent directory, moved into the worktree, is put first on the path.
    """
    entries: list[str] = []
    for path in paths:
        target = _map_into(os.path.abspath(path), roots, worktree)
        if target is None:
            continue
        if os.path.isfile(target) or os.path.isfile(os.path.join(target, "__init__.py")):
            target = os.path.dirname(target)
        if target not in entries:
            entries.append(target)
    return entries


def create_worktree(plan: ReproducePlan) -> tuple[str, str | None]:
    """Add a detached worktree at the run's commit and apply its changes.

    Submodules get worktrees of the user's own submodule clones at the recorded
    commits. Returns the worktree path and the temporary directory holding it
    (None with ``--worktree``). The user's working tree, index, branches and
    stash are not touched.
    """
    temp_dir = None
    if plan.worktree is None:
        temp_dir = tempfile.mkdtemp(prefix="maggot-reproduce-")
        path = os.path.join(temp_dir, os.path.basename(plan.repository.toplevel) or "tree")
    else:
        path = plan.worktree
    try:
        build_code_tree(plan.repository.toplevel, plan.snapshot, path)
    except BaseException:
        if temp_dir:
            shutil.rmtree(temp_dir, ignore_errors=True)
        raise
    return path, temp_dir


def build_code_tree(toplevel: str, snapshot: gitsnap.GitSnapshot, path: str) -> None:
    """Rebuild a snapshot's code state as a detached worktree of ``toplevel`` at ``path``.

    Removes what it added when any step fails.
    """
    try:
        _add_worktree(toplevel, path, snapshot.commit)
    except GitError as error:
        raise ReproduceError(str(error)) from None
    try:
        for submodule in _recorded_submodules(snapshot):
            source = os.path.join(toplevel, submodule["path"])
            try:
                _add_worktree(source, os.path.join(path, submodule["path"]), submodule["commit"])
            except GitError as error:
                raise ReproduceError(
                    f"submodule {submodule['path']}: cannot check out {submodule['commit'][:12]} "
                    f"from {source}: {error}"
                ) from None
        gitsnap.apply_snapshot(snapshot, path)
    except BaseException:
        remove_code_tree(toplevel, snapshot, path)
        raise


_LOCK_RETRIES = 50
# git's messages when another process holds a lock, or is halfway through adding a
# worktree whose admin files (.git/worktrees/NAME/commondir ...) this one reads
_RETRYABLE_GIT_ERRORS = (".lock", "/worktrees/")


def _add_worktree(repository: str, path: str, commit: str) -> None:
    # no hooks: a post-checkout hook must not run (or change anything) for a replay
    with_lock_retries(
        lambda: run_git(
            "-c",
            "core.hooksPath=" + os.devnull,
            "worktree",
            "add",
            "--detach",
            "--quiet",
            path,
            commit,
            cwd=repository,
        )  # fmt: skip
    )


def with_lock_retries(operation: Callable[[], bytes]) -> bytes:
    """Run a git operation again while another process holds a lock it needs.

    Many jobs can add or remove worktrees of one repository at once; git
    refuses instead of waiting when it finds ``index.lock`` or a ref lock
    taken, or reads another worktree's admin files while they are written.
    """
    import random
    import time

    for attempt in range(_LOCK_RETRIES):
        try:
            return operation()
        except GitError as error:
            retryable = any(text in str(error) for text in _RETRYABLE_GIT_ERRORS)
            if not retryable or attempt == _LOCK_RETRIES - 1:
                raise
            # back off with jitter so the waiting processes do not retry in step
            time.sleep(0.05 + random.random() * 0.1 * (attempt + 1))
    raise AssertionError("unreachable")


def _recorded_submodules(snapshot: gitsnap.GitSnapshot) -> list[dict[str, str]]:
    submodules = []
    for item in snapshot.head.get("submodules", []):
        path, commit = item.get("path"), item.get("commit")
        if not item.get("initialized", True) or not isinstance(path, str) or not commit:
            continue
        if not gitsnap.safe_relative_path(path):
            raise ReproduceError(f"{snapshot.run_dir}: refusing submodule path {path!r}")
        submodules.append({"path": path, "commit": str(commit)})
    return submodules


def remove_worktree(plan: ReproducePlan, path: str, temp_dir: str | None) -> None:
    """Remove the worktrees made by ``create_worktree``; other worktrees are left alone."""
    remove_code_tree(plan.repository.toplevel, plan.snapshot, path)
    if temp_dir:
        shutil.rmtree(temp_dir, ignore_errors=True)


def remove_code_tree(toplevel: str, snapshot: gitsnap.GitSnapshot, path: str) -> None:
    """Remove a tree made by ``build_code_tree`` and its submodule worktrees."""
    for submodule in reversed(_recorded_submodules(snapshot)):
        source = os.path.join(toplevel, submodule["path"])
        target = os.path.join(path, submodule["path"])
        run_git("worktree", "remove", "--force", "--force", target, cwd=source, check=False)
    run_git("worktree", "remove", "--force", "--force", path, cwd=toplevel, check=False)
    if os.path.exists(path):
        shutil.rmtree(path, ignore_errors=True)


class Replay(NamedTuple):
    """The replay's process, ready to start."""

    command: list[str]
    cwd: str
    environment: dict[str, str]
    notes: list[str]


def prepare_replay(plan: ReproducePlan, worktree: str) -> Replay:
    """Map the command, directory and import paths from the checkout onto the worktree."""
    roots = _checkout_roots(plan.repository, plan.snapshot)
    notes = []
    cwd = os.path.join(worktree, plan.cwd)
    if not os.path.isdir(cwd):
        os.makedirs(cwd)
        notes.append(f"{plan.cwd}/ is not in the snapshot (empty or ignored); created it empty")
    command, argument_notes = map_arguments(plan.command, roots, worktree)
    notes.extend(argument_notes)
    environment = dict(os.environ)
    python_path = replay_pythonpath(
        import_paths(command[0], os.path.dirname(worktree)), roots, worktree
    )
    # the user's own entries stay, unless they point into the checkout; relative
    # ones resolve against the replay's directory, inside the worktree
    python_path += [
        entry
        for entry in environment.get("PYTHONPATH", "").split(os.pathsep)
        if entry and (not os.path.isabs(entry) or _map_into(entry, roots, worktree) is None)
    ]
    if python_path:
        environment["PYTHONPATH"] = os.pathsep.join(python_path)
    environment[ENV_RUN_DIR] = os.path.abspath(plan.replay_dir)
    environment[ENV_REPRODUCTION_OF] = os.path.abspath(plan.run_dir)
    environment[ENV_ORIGINAL_ROOT] = plan.repository.toplevel
    return Replay(command, cwd, environment, notes)


def run_replay(replay: Replay) -> int:
    """Run the replay without a shell; its output streams to the terminal."""
    process = subprocess.Popen(replay.command, cwd=replay.cwd, env=replay.environment)
    try:
        return process.wait()
    except KeyboardInterrupt:
        # the child got the same Ctrl-C; give it a moment to record "interrupted"
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        raise


def compare_results(
    original: Mapping[str, Any], replay: Mapping[str, Any], rtol: float = 0.0, atol: float = 0.0
) -> list[Comparison]:
    """Compare flattened results: exact by default, within tolerances for numbers."""
    original_flat, replay_flat = flatten(original), flatten(replay)
    comparisons = []
    for name in sorted(set(original_flat) | set(replay_flat)):
        if name not in replay_flat:
            comparisons.append(Comparison(name, original_flat[name], None, "missing"))
        elif name not in original_flat:
            comparisons.append(Comparison(name, None, replay_flat[name], "extra"))
        else:
            before, after = original_flat[name], replay_flat[name]
            same = _values_match(before, after, rtol, atol)
            comparisons.append(Comparison(name, before, after, "match" if same else "differ"))
    return comparisons


def _values_match(before: Any, after: Any, rtol: float, atol: float) -> bool:
    numbers = (int, float)
    if (
        isinstance(before, numbers)
        and isinstance(after, numbers)
        and not isinstance(before, bool)
        and not isinstance(after, bool)
    ):
        if math.isnan(before) and math.isnan(after):
            return True
        if rtol or atol:
            return math.isclose(before, after, rel_tol=rtol, abs_tol=atol)
        return before == after
    return bool(before == after)


def _code_state_differences(plan: ReproducePlan) -> list[str]:
    """The replay snapshots its own worktree: its full code state must be the recorded one.

    Both states (commit + patch + untracked files) are built as git trees and
    compared, so a file staged in the original and untracked in the replay
    still counts as the same code. Files only the replay has are ignored: a
    script may create some before its Experiment starts.
    """
    try:
        replayed = gitsnap.load_snapshot(plan.replay_dir)
    except ReproduceError as error:
        return [f"cannot confirm the replay's code state: {error}"]
    repository = plan.repository
    with codediff.scratch_directory() as scratch:
        env = codediff.scratch_env(repository, scratch)
        try:
            recorded_tree = codediff.build_tree(repository, plan.snapshot, env, scratch)
            replayed_tree = codediff.build_tree(repository, replayed, env, scratch)
        except MaggotError as error:
            return [f"cannot confirm the replay's code state: {error}"]
        output = run_git(
            "diff", "--name-status", "-z", "--no-renames", recorded_tree, replayed_tree,
            cwd=repository.toplevel, env=env,
        )  # fmt: skip
    fields = split_nul(output)
    changed = [
        f"{path} ({_STATUS_WORDS.get(kind, kind)})"
        for kind, path in zip(fields[::2], fields[1::2])
        if kind != "A"
    ]
    if not changed:
        return []
    return ["the replay ran on code that differs from the snapshot: " + ", ".join(changed)]


_STATUS_WORDS = {"M": "modified", "D": "missing", "T": "type changed"}


def check_replay(plan: ReproducePlan, exit_code: int, rtol: float, atol: float) -> ReplayOutcome:
    """Read the replay's run back and compare it with the original."""
    problems: list[str] = []
    original = store.load_run(plan.run_dir, with_config=False)
    problems.extend(original.problems)
    if exit_code != 0:
        problems.append(f"the replay exited with code {exit_code}")
    replay_results: dict[str, Any] = {}
    if not store.is_run_dir(plan.replay_dir):
        problems.append("the replay recorded no run (did the script create an Experiment?)")
        if os.path.isdir(plan.replay_dir) and not os.listdir(plan.replay_dir):
            os.rmdir(plan.replay_dir)
    else:
        replay = store.load_run(plan.replay_dir, with_config=False)
        problems.extend(replay.problems)
        replay_results = replay.results
        problems.extend(_code_state_differences(plan))
        foreign = replay.info.get("imports_outside_snapshot")
        if foreign:
            problems.append(
                "the replay imported code from the checkout instead of the snapshot: "
                + ", ".join(foreign)
            )
    if not original.results:
        problems.append(f"{plan.run_dir}: the original run recorded no results to compare")
    comparisons = compare_results(original.results, replay_results, rtol, atol)
    return ReplayOutcome(exit_code, plan.replay_dir, comparisons, problems)
