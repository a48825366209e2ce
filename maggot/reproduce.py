"""Reproduce a run: rebuild its code state in a separate worktree, replay it, compare results."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from maggot import gitsnap, store
from maggot.config import flatten
from maggot.errors import GitError, ReproduceError
from maggot.experiment import ENV_ORIGINAL_ROOT, ENV_REPRODUCTION_OF, ENV_RUN_DIR
from maggot.git import run_git

_PYTHON_OPTIONS_WITH_VALUE = ("-X", "-W", "--check-hash-based-pycs")
_NOTEBOOK_MODULES = ("ipykernel_launcher", "ipykernel", "IPython", "jupyter")
REPLAY_SUFFIX = ".repro-"


class Repository(NamedTuple):
    """The user's repository that reproduce works from."""

    root: str
    commit_summary: str


class ReproducePlan(NamedTuple):
    """Everything reproduce will do, decided before anything is touched."""

    run_dir: str
    snapshot: gitsnap.GitSnapshot
    repository: Repository
    command: list[str]
    cwd: str
    replay_dir: str
    worktree: str | None

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


def find_repository(start: str) -> Repository | None:
    """The repository containing ``start``, or None."""
    import git

    try:
        repo = git.Repo(start, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return None
    if repo.working_tree_dir is None:
        return None
    return Repository(root=os.fspath(repo.working_tree_dir), commit_summary="")


def _describe_commit(root: str, commit: str, remotes: Mapping[str, str]) -> str:
    import git

    repo = git.Repo(root)
    try:
        found = repo.commit(commit)
    except (ValueError, git.BadName):
        hint = ""
        if remotes:
            name, url = next(iter(sorted(remotes.items())))
            hint = f" (recorded remote {name}: {url})"
        raise ReproduceError(
            f"commit {commit[:12]} is not in the repository at {root}; "
            f"fetch it first, e.g. 'git fetch --all'{hint}"
        ) from None
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
    repository = None
    for start in [repo_path] if repo_path else [os.getcwd(), run_dir]:
        repository = find_repository(start)
        if repository is not None:
            break
    if repository is None:
        where = repo_path or "the current directory"
        raise ReproduceError(f"{where} is not inside a git repository; run reproduce from a clone")
    summary = _describe_commit(repository.root, snapshot.commit, snapshot.head.get("remotes", {}))
    repository = repository._replace(commit_summary=summary)
    if worktree is not None:
        worktree = os.path.abspath(worktree)
        if _is_inside(worktree, repository.root):
            raise ReproduceError(f"--worktree {worktree}: choose a path outside the repository")
        if os.path.exists(worktree) and os.listdir(worktree):
            raise ReproduceError(f"--worktree {worktree}: exists and is not empty")
    relative_cwd = snapshot.head.get("cwd") or ""
    if not gitsnap.safe_relative_path(relative_cwd) and relative_cwd != "":
        raise ReproduceError(f"{run_dir}: refusing recorded cwd {relative_cwd!r}")
    return ReproducePlan(
        run_dir=run_dir,
        snapshot=snapshot,
        repository=repository,
        command=replay_command(command_argv, python or sys.executable, run_dir),
        cwd=relative_cwd,
        replay_dir=next_replay_dir(run_dir),
        worktree=worktree,
    )


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


def next_replay_dir(run_dir: str) -> str:
    """``<run>.repro-<n>`` next to the run, with the first free ``n``."""
    number = 1
    while os.path.lexists(f"{run_dir}{REPLAY_SUFFIX}{number}"):
        number += 1
    return f"{run_dir}{REPLAY_SUFFIX}{number}"


def _is_inside(path: str, root: str) -> bool:
    path, root = os.path.realpath(path), os.path.realpath(root)
    return path == root or path.startswith(os.path.join(root, ""))


def _map_into(path: str, roots: Sequence[str], worktree: str) -> str | None:
    """``path`` under one of ``roots`` as the same place in the worktree, else None."""
    for root in roots:
        for candidate_root in {root, os.path.realpath(root)}:
            prefix = os.path.join(candidate_root, "")
            if path == candidate_root:
                return worktree
            if path.startswith(prefix):
                return os.path.join(worktree, path[len(prefix) :])
    return None


def map_arguments(command: Sequence[str], roots: Sequence[str], worktree: str) -> list[str]:
    """Point absolute paths into the checkout at the worktree when the file is there.

    Paths the snapshot doesn't hold (ignored data, say) keep pointing at the
    original, where the file still is.
    """
    mapped = [command[0]]
    for argument in command[1:]:
        name, equals, value = (
            argument.partition("=") if argument.startswith("-") else ("", "", argument)
        )
        target = _map_into(value, roots, worktree) if os.path.isabs(value) else None
        if target is not None and os.path.lexists(target):
            argument = f"{name}{equals}{target}"
        mapped.append(argument)
    return mapped


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

    Returns the worktree path and the temporary directory holding it (None
    with ``--worktree``). The user's working tree, index, branches and stash
    are not touched.
    """
    temp_dir = None
    if plan.worktree is None:
        temp_dir = tempfile.mkdtemp(prefix="maggot-reproduce-")
        path = os.path.join(temp_dir, os.path.basename(plan.repository.root) or "tree")
    else:
        path = plan.worktree
    try:
        # no hooks: a post-checkout hook must not run (or change anything) for a replay
        run_git(
            "-c", "core.hooksPath=" + os.devnull,
            "worktree", "add", "--detach", "--quiet", path, plan.commit,
            cwd=plan.repository.root,
        )  # fmt: skip
    except GitError as error:
        if temp_dir:
            shutil.rmtree(temp_dir, ignore_errors=True)
        raise ReproduceError(str(error)) from None
    try:
        gitsnap.apply_snapshot(plan.snapshot, path)
    except BaseException:
        remove_worktree(plan.repository.root, path, temp_dir)
        raise
    return path, temp_dir


def remove_worktree(repo_root: str, path: str, temp_dir: str | None) -> None:
    """Remove a worktree made by ``create_worktree`` and prune git's record of it."""
    run_git("worktree", "remove", "--force", "--force", path, cwd=repo_root, check=False)
    if os.path.exists(path):
        shutil.rmtree(path, ignore_errors=True)
    if temp_dir:
        shutil.rmtree(temp_dir, ignore_errors=True)
    run_git("worktree", "prune", cwd=repo_root, check=False)


def run_replay(plan: ReproducePlan, worktree: str) -> int:
    """Run the recorded command in the worktree; output streams to the terminal."""
    roots = [plan.repository.root]
    recorded_root = plan.snapshot.head.get("repo_root")
    if isinstance(recorded_root, str) and recorded_root not in roots:
        roots.append(recorded_root)
    cwd = os.path.join(worktree, plan.cwd)
    if not os.path.isdir(cwd):
        raise ReproduceError(f"recorded cwd {plan.cwd!r} does not exist in the snapshot")
    command = map_arguments(plan.command, roots, worktree)
    environment = dict(os.environ)
    python_path = replay_pythonpath(
        import_paths(command[0], os.path.dirname(worktree)), roots, worktree
    )
    if python_path:
        environment["PYTHONPATH"] = os.pathsep.join(python_path)
    environment[ENV_RUN_DIR] = os.path.abspath(plan.replay_dir)
    environment[ENV_REPRODUCTION_OF] = os.path.abspath(plan.run_dir)
    environment[ENV_ORIGINAL_ROOT] = plan.repository.root
    process = subprocess.Popen(command, cwd=cwd, env=environment)
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


def _code_state_differences(original: gitsnap.GitSnapshot, replay_dir: str) -> list[str]:
    """The replay snapshots its own worktree: it must show the recorded code state."""
    try:
        replayed = gitsnap.load_snapshot(replay_dir)
    except ReproduceError as error:
        return [f"cannot confirm the replay's code state: {error}"]
    differences = []
    if replayed.commit != original.commit:
        differences.append(
            f"the replay ran on commit {replayed.commit[:12]}, not {original.commit[:12]}"
        )
    elif replayed.patch_bytes() != original.patch_bytes():
        differences.append("the replay's uncommitted changes differ from the recorded diff.patch")
    missing = set(original.untracked_files()) - set(replayed.untracked_files())
    if missing:
        differences.append(
            "recorded untracked files missing in the replay: " + ", ".join(sorted(missing))
        )
    return differences


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
    else:
        replay = store.load_run(plan.replay_dir, with_config=False)
        problems.extend(replay.problems)
        replay_results = replay.results
        problems.extend(_code_state_differences(plan.snapshot, plan.replay_dir))
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
