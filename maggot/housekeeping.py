"""Housekeeping of run directories: trash, rename, and what killed reproductions left behind."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Sequence
from typing import NamedTuple

from maggot import store
from maggot.errors import MaggotError
from maggot.git import run_git, split_nul

# how reproduce names its temporary worktrees, and the file naming the process that owns one
WORKTREE_PREFIX = "maggot-reproduce-"
OWNER_FILE = "owner.pid"
UNOWNED_AGE_SECONDS = 3600
SWEEP_TREE = "sweep code tree"


class Removal(NamedTuple):
    """A run moved to the trash (``trashed_to``) or deleted (``trashed_to`` is None)."""

    run_dir: str
    trashed_to: str | None


class Leftover(NamedTuple):
    """Something a killed reproduction left behind: what it is and where."""

    kind: str  # "worktree", "temporary directory", "replay claim" or SWEEP_TREE
    path: str


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    except OSError:
        return False
    return True


def still_running(run_dir: str) -> bool:
    """Whether the run's status is ``running`` and it may really be running.

    A run recorded on this host whose process is gone was killed; one on
    another host cannot be checked and counts as running.
    """
    record = store.load_run(run_dir, with_config=False, with_results=False)
    if record.status != store.STATUS_RUNNING:
        return False
    info = record.info
    if info.hostname == socket.gethostname() and info.pid is not None:
        return process_alive(info.pid)
    return True


def reproductions_of(run_dir: str) -> list[str]:
    """The replay directories ``RUN.repro-N`` next to a run."""
    prefix = os.path.normpath(run_dir) + store.REPLAY_SUFFIX
    return sorted(
        path
        for path in glob.glob(glob.escape(prefix) + "*")
        if path[len(prefix) :].isdigit() and os.path.isdir(path)
    )


def _check_not_running(run_dirs: Sequence[str], force: bool, verb: str) -> None:
    if force:
        return
    for run_dir in run_dirs:
        if store.is_run_dir(run_dir) and still_running(run_dir):
            raise MaggotError(
                f"{run_dir}: is still running; not {verb} it (--force to {verb} it anyway)"
            )


def trash_dir(run_dir: str) -> str:
    """The trash folder of the experiments directory holding ``run_dir``."""
    return os.path.join(os.path.dirname(os.path.normpath(run_dir)) or os.curdir, store.TRASH_DIR)


def remove_runs(
    run_dirs: Sequence[str], *, purge: bool = False, force: bool = False
) -> list[Removal]:
    """Move runs (and their reproductions) to the trash, or delete them with ``purge``.

    Refuses, before touching anything, when one of them is still running
    unless ``force``.
    """
    targets: list[str] = []
    for run_dir in run_dirs:
        for path in (run_dir, *reproductions_of(run_dir)):
            if path not in targets:
                targets.append(path)
    _check_not_running(targets, force, "removing")
    removed = []
    for path in targets:
        if purge:
            shutil.rmtree(path)
            removed.append(Removal(path, None))
            continue
        trash = trash_dir(path)
        os.makedirs(trash, exist_ok=True)
        name = os.path.basename(os.path.normpath(path))
        destination = os.path.join(trash, name)
        number = 1
        while os.path.lexists(destination):
            number += 1
            destination = os.path.join(trash, f"{name}~{number}")
        os.rename(path, destination)
        removed.append(Removal(path, destination))
    return removed


def empty_trash(experiments_dir: str) -> list[str]:
    """Delete everything in the trash of ``experiments_dir``; returns what was deleted."""
    trash = os.path.join(experiments_dir, store.TRASH_DIR)
    try:
        names = sorted(os.listdir(trash))
    except FileNotFoundError:
        return []
    deleted = []
    for name in names:
        path = os.path.join(trash, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
        deleted.append(path)
    os.rmdir(trash)
    return deleted


def rename_run(run_dir: str, new_name: str, *, force: bool = False) -> str:
    """Rename a run in place; returns its new path.

    What inside names the run follows: run.json's ``name`` (the old names are
    kept in ``renamed_from``), its reproductions (``NEW.repro-N``) and their
    ``reproduction_of``. The snapshot, config and results do not name the
    directory, so the run stays reproducible.
    """
    if (
        not new_name
        or new_name in (os.curdir, os.pardir)
        or os.sep in new_name
        or (os.altsep and os.altsep in new_name)
        or not new_name.isprintable()
    ):
        raise MaggotError(f"{new_name!r}: give a plain directory name, not a path")
    run_dir = os.path.normpath(run_dir)
    replays = reproductions_of(run_dir)
    _check_not_running([run_dir, *replays], force, "renaming")
    new_dir = os.path.join(os.path.dirname(run_dir), new_name)
    if os.path.lexists(new_dir):
        raise MaggotError(f"{new_dir}: already exists")
    old_name = os.path.basename(run_dir)
    os.rename(run_dir, new_dir)
    _update_run_info(new_dir, name=new_name, renamed_from=old_name)
    for replay in replays:
        number = replay[len(run_dir) + len(store.REPLAY_SUFFIX) :]
        new_replay = f"{new_dir}{store.REPLAY_SUFFIX}{number}"
        if os.path.lexists(new_replay):
            continue
        os.rename(replay, new_replay)
        _update_run_info(
            new_replay,
            name=os.path.basename(new_replay),
            renamed_from=os.path.basename(replay),
            reproduction_of=os.path.abspath(new_dir),
        )
    return new_dir


def _update_run_info(
    run_dir: str, *, name: str, renamed_from: str, reproduction_of: str | None = None
) -> None:
    try:
        info = store.read_run_info(run_dir)
    except FileNotFoundError:
        return  # a maggot 0.2 run: nothing inside names it
    earlier = info.extra.get("renamed_from")
    names = [*(earlier if isinstance(earlier, list) else []), renamed_from]
    info = info._replace(name=name, extra={**info.extra, "renamed_from": names})
    if reproduction_of is not None and info.reproduction_of is not None:
        info = info._replace(reproduction_of=reproduction_of)
    store.write_run_info(run_dir, info)


def find_leftovers(repository: str | None, experiments_dir: str) -> list[Leftover]:
    """Worktrees, temporary directories and replay claims of reproductions that are gone.

    A temporary worktree whose owning ``maggot reproduce`` still runs is left
    alone; one kept with ``--keep`` counts as a leftover once that command
    ended. A replay claim is a ``RUN.repro-N`` directory in which the replay
    never recorded anything. A sweep's frozen code tree (under
    ``experiments/.sweeps``) counts once none of its jobs waits or runs; a
    ``maggot sweep --resume`` rebuilds it from the sweep's snapshot.
    """
    leftovers: list[Leftover] = []
    registered: set[str] = set()
    if repository is not None:
        output = run_git("worktree", "list", "--porcelain", "-z", cwd=repository)
        for field in split_nul(output):
            if field.startswith("worktree "):
                path = field[len("worktree ") :]
                registered.add(os.path.dirname(path))
                if _abandoned(os.path.dirname(path)):
                    leftovers.append(Leftover("worktree", path))
    pattern = os.path.join(tempfile.gettempdir(), WORKTREE_PREFIX + "*")
    for temp_dir in sorted(glob.glob(pattern)):
        if temp_dir not in registered and _abandoned(temp_dir):
            leftovers.append(Leftover("temporary directory", temp_dir))
    for run_dir in sorted(glob.glob(os.path.join(glob.escape(experiments_dir), "*"))):
        name = os.path.basename(run_dir)
        head, _, number = name.rpartition(store.REPLAY_SUFFIX)
        if head and number.isdigit() and _empty_claim(run_dir):
            leftovers.append(Leftover("replay claim", run_dir))
    leftovers.extend(_finished_sweep_trees(experiments_dir))
    return leftovers


def _finished_sweep_trees(experiments_dir: str) -> list[Leftover]:
    """Code trees of sweeps none of whose jobs is pending or running."""
    from maggot import sweep

    trees = []
    for sweep_id in sweep.list_sweeps(experiments_dir):
        try:
            record = sweep.load_sweep(os.path.join(sweep.sweeps_root(experiments_dir), sweep_id))
        except MaggotError:
            continue  # an unreadable record: leave its tree alone
        if record.code_dir is None or not os.path.isdir(record.code_dir):
            continue
        states = sweep.job_states(record)
        if all(state.state not in (sweep.STATE_PENDING, store.STATUS_RUNNING) for state in states):
            trees.append(Leftover(SWEEP_TREE, record.code_dir))
    return trees


def _abandoned(temp_dir: str) -> bool:
    """A reproduce temporary directory of this user whose owner process has ended.

    One without an owner file (made before reproduce wrote one, or killed
    right after creating it) counts once untouched for UNOWNED_AGE_SECONDS.
    """
    if not os.path.basename(temp_dir).startswith(WORKTREE_PREFIX):
        return False
    if os.path.dirname(os.path.realpath(temp_dir)) != os.path.realpath(tempfile.gettempdir()):
        return False
    try:
        status = os.stat(temp_dir)
    except OSError:
        return False
    if hasattr(os, "getuid") and status.st_uid != os.getuid():
        return False  # someone else's reproduction
    try:
        with open(os.path.join(temp_dir, OWNER_FILE), encoding="utf-8") as file:
            pid = int(file.read().strip() or 0)
    except (OSError, ValueError):
        return time.time() - status.st_mtime > UNOWNED_AGE_SECONDS
    return not process_alive(pid)


def _empty_claim(run_dir: str) -> bool:
    """Nothing but (an empty) ``.maggot`` inside: the replay never started recording."""
    try:
        names = os.listdir(run_dir)
    except OSError:
        return False
    if not names:
        return True
    if names != [store.META_DIR]:
        return False
    try:
        return not os.listdir(store.meta_path(run_dir))
    except OSError:
        return False


def remove_leftovers(repository: str | None, leftovers: Sequence[Leftover]) -> None:
    """Remove what ``find_leftovers`` found: worktrees through git, the rest from disk."""
    for leftover in leftovers:
        if leftover.kind == SWEEP_TREE:
            from maggot import sweep

            sweep.remove_code_tree(sweep.load_sweep(os.path.dirname(leftover.path)))
        elif leftover.kind == "worktree" and repository is not None:
            run_git(
                "worktree", "remove", "--force", "--force", leftover.path,
                cwd=repository, check=False,
            )  # fmt: skip
            shutil.rmtree(os.path.dirname(leftover.path), ignore_errors=True)
        else:
            shutil.rmtree(leftover.path, ignore_errors=True)
