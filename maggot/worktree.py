"""A run's code state checked out as a separate git worktree, and removed again."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from typing import NamedTuple

from maggot.errors import GitError, ReproduceError
from maggot.git import run_git
from maggot.gitsnap import GitSnapshot, apply_snapshot, checkout_environment, submodule_snapshots
from maggot.housekeeping import OWNER_FILE, WORKTREE_PREFIX
from maggot.paths import safe_relative_path
from maggot.records import Submodule
from maggot.store import write_text_atomic


class Worktree(NamedTuple):
    """A worktree made by ``create_worktree``."""

    path: str
    temp_dir: str | None  # the temporary directory holding it, when maggot chose the place
    repository: str  # the toplevel of the repository it belongs to
    snapshot: GitSnapshot


def create_worktree(snapshot: GitSnapshot, repository: str, path: str | None = None) -> Worktree:
    """Add a detached worktree of ``repository`` at the run's commit and apply its changes.

    The worktree goes to ``path``, or into a new temporary directory.
    Submodules get worktrees of the user's own submodule clones at the
    recorded commits. The user's working tree, index, branches and stash are
    not touched.
    """
    temp_dir = None
    # the run's line-ending settings, for the checkout and the patch
    env = checkout_environment(snapshot.head)
    if path is None:
        temp_dir = tempfile.mkdtemp(prefix=WORKTREE_PREFIX)
        # names its owner: ``maggot gc`` leaves the worktree alone while this process runs
        write_text_atomic(os.path.join(temp_dir, OWNER_FILE), f"{os.getpid()}\n")
        path = os.path.join(temp_dir, os.path.basename(repository) or "tree")
    tree = Worktree(path, temp_dir, repository, snapshot)
    try:
        _add_worktree(repository, path, snapshot.commit, env)
    except GitError as error:
        if temp_dir:
            shutil.rmtree(temp_dir, ignore_errors=True)
        raise ReproduceError(str(error)) from None
    except BaseException:
        # stopped half-way (Ctrl-C, SIGTERM): a half-made worktree may be registered
        remove_worktree(tree)
        raise
    try:
        for submodule in recorded_submodules(snapshot):
            source = os.path.join(repository, submodule.path)
            try:
                _add_worktree(source, os.path.join(path, submodule.path), submodule.commit, env)
            except GitError as error:
                raise ReproduceError(
                    f"submodule {submodule.path}: cannot check out {submodule.commit[:12]} "
                    f"from {source}: {error}"
                ) from None
        apply_snapshot(snapshot, path, env)
        for submodule, submodule_snapshot in submodule_snapshots(snapshot):
            apply_snapshot(submodule_snapshot, os.path.join(path, submodule.path), env)
    except BaseException:
        remove_worktree(tree)
        raise
    return tree


def name_replay(tree: Worktree, pid: int) -> None:
    """Name the replay process started in the worktree after its owner.

    ``maggot gc`` then keeps the worktree while the replay runs, even when
    the process that made it was killed alone.
    """
    if tree.temp_dir is None:
        return
    try:
        write_text_atomic(os.path.join(tree.temp_dir, OWNER_FILE), f"{os.getpid()}\n{pid}\n")
    except OSError:
        pass  # the replay must not fail for it; gc still sees a process working in the tree


_LOCK_RETRIES = 50
# git's messages when another process holds a lock, or is halfway through adding a
# worktree whose admin files (.git/worktrees/NAME/commondir ...) this one reads
_RETRYABLE_GIT_ERRORS = (".lock", "/worktrees/")


def _add_worktree(
    repository: str, path: str, commit: str, env: dict[str, str] | None = None
) -> None:
    # no hooks: a post-checkout hook must not run (or change anything) for a replay
    args = ("-c", "core.hooksPath=" + os.devnull, "worktree", "add", "--detach", "--quiet")
    with_lock_retries(lambda: run_git(*args, path, commit, cwd=repository, env=env))


def with_lock_retries(operation: Callable[[], bytes]) -> bytes:
    """Run a git operation again while another process holds a lock it needs.

    Many jobs (a sweep's, on one or many machines) can add or remove worktrees
    of one repository at once; git refuses instead of waiting when it finds
    ``index.lock`` or a ref lock taken, or reads another worktree's admin
    files while they are written.
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


def recorded_submodules(snapshot: GitSnapshot) -> list[Submodule]:
    """The initialized submodules a snapshot recorded, with paths checked to stay inside."""
    submodules = []
    for item in snapshot.head.submodules:
        if not item.initialized or not item.commit:
            continue
        if not safe_relative_path(item.path):
            raise ReproduceError(f"{snapshot.run_dir}: refusing submodule path {item.path!r}")
        submodules.append(item)
    return submodules


def remove_worktree(tree: Worktree) -> None:
    """Remove the worktrees made by ``create_worktree``; other worktrees are left alone."""
    for submodule in reversed(recorded_submodules(tree.snapshot)):
        source = os.path.join(tree.repository, submodule.path)
        target = os.path.join(tree.path, submodule.path)
        run_git("worktree", "remove", "--force", "--force", target, cwd=source, check=False)
    run_git("worktree", "remove", "--force", "--force", tree.path, cwd=tree.repository, check=False)
    if os.path.exists(tree.path):
        shutil.rmtree(tree.path, ignore_errors=True)
    if tree.temp_dir:
        shutil.rmtree(tree.temp_dir, ignore_errors=True)
