"""Housekeeping of run directories: trash, rename, and what killed reproductions left behind."""

from __future__ import annotations

import glob
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from maggot import store
from maggot.config import MAX_NAME_BYTES, safe_directory_name
from maggot.errors import MaggotError
from maggot.git import run_git, split_nul
from maggot.records import RunInfo

if TYPE_CHECKING:
    from maggot.sweep import JobOfRun

# how reproduce names its temporary worktrees, and the file naming the process that owns one
WORKTREE_PREFIX = "maggot-reproduce-"
OWNER_FILE = "owner.pid"
UNOWNED_AGE_SECONDS = 3600
SWEEP_TREE = "sweep code tree"
# what Windows refuses in a file name (maggot's run names never hold these either)
_UNSAFE_IN_NAME = re.compile(r'[<>:"|?*]')


class Removal(NamedTuple):
    """A run moved to the trash (``trashed_to``) or deleted (``trashed_to`` is None).

    ``not_deleted`` says why a run to delete is in ``trashed_to`` instead.
    """

    run_dir: str
    trashed_to: str | None
    not_deleted: str | None = None


class Leftover(NamedTuple):
    """Something a killed reproduction left behind: what it is and where.

    ``kept_because`` says why it stays although the reproduction that made it
    has ended: a process (its replay) still works in it.
    """

    kind: str  # "worktree", "temporary directory", "replay claim" or SWEEP_TREE
    path: str
    kept_because: str | None = None


def still_running(run_dir: str) -> bool:
    """Whether the run's status is ``running`` and it may really be running.

    Judged as ``maggot summarize`` judges it (``entries.live_status``): a run
    recorded on this host whose process is gone, a zombie, or replaced by
    another process under the same number was killed; one on another host
    cannot be checked and counts as running.
    """
    from maggot import entries

    record = store.load_run(run_dir, with_config=False, with_results=False)
    return entries.live_status(record.info.to_json()) == store.STATUS_RUNNING


def reproductions_of(run_dir: str) -> list[str]:
    """The replay directories ``RUN.repro-N`` next to a run."""
    prefix = os.path.normpath(run_dir) + store.REPLAY_SUFFIX
    return sorted(
        path
        for path in glob.glob(glob.escape(prefix) + "*")
        if path[len(prefix) :].isdigit() and os.path.isdir(path)
    )


def _check_not_running(run_dirs: Sequence[str], force: bool, verb: str) -> None:
    """Refuse runs still running unless ``force``; ``verb`` as in "--force to VERB it"."""
    if force:
        return
    for run_dir in run_dirs:
        if store.is_run_dir(run_dir) and still_running(run_dir):
            raise MaggotError(
                f"{run_dir}: is still running; not {_GERUND[verb]} it (--force to {verb} it anyway)"
            )


_GERUND = {"remove": "removing", "rename": "renaming"}


def trash_dir(run_dir: str) -> str:
    """The trash folder of the experiments directory holding ``run_dir``."""
    return os.path.join(os.path.dirname(os.path.normpath(run_dir)) or os.curdir, store.TRASH_DIR)


def remove_runs(
    run_dirs: Sequence[str], *, purge: bool = False, force: bool = False
) -> list[Removal]:
    """Move runs (and their reproductions) to the trash, or delete them with ``purge``.

    Refuses, before touching anything, when one of them is still running
    unless ``force``. A run given as a symbolic link is the link: it is moved
    or deleted, never what it points to. A run to delete leaves the listing
    in one rename before its files go: one whose files cannot all be
    deleted ends up in the trash (``not_deleted`` says why), never half
    deleted in its place. The job file of a sweep's run says
    the run was removed, so ``maggot sweep status`` shows the job ``removed``
    (not lost) and ``maggot sweep --resume`` runs it again.
    """
    targets: list[str] = []
    for run_dir in run_dirs:
        for path in (run_dir, *reproductions_of(run_dir)):
            if path not in targets:
                targets.append(path)
    _check_not_running(targets, force, "remove")
    jobs = {path: _job_of(path) for path in targets}
    removed = []
    for path in targets:
        if purge and os.path.islink(path):
            os.unlink(path)
            removal = Removal(path, None)
        elif purge:
            removal = _purge(path)
        else:
            removal = Removal(path, _move_to_trash(path, os.path.basename(os.path.normpath(path))))
        removed.append(removal)
        job = jobs[path]
        if job is not None:
            from maggot import sweep

            trashed_to = removal.trashed_to
            sweep.mark_job_removed(job, None if trashed_to is None else os.path.abspath(trashed_to))
    return removed


def _move_to_trash(path: str, name: str) -> str:
    """Move ``path`` to the trash next to it as ``name`` (``name~2`` ... when taken)."""
    trash = trash_dir(path)
    os.makedirs(trash, exist_ok=True)
    destination = os.path.join(trash, name)
    number = 1
    while os.path.lexists(destination):
        number += 1
        destination = os.path.join(trash, f"{name}~{number}")
    os.rename(path, destination)
    return destination


def _purge(run_dir: str) -> Removal:
    """Delete a run; what cannot be deleted goes to the trash, whole or not."""
    folder = os.path.dirname(os.path.normpath(run_dir)) or os.curdir
    # no listing shows this name: from here on no half-deleted run is found at run_dir
    hidden = os.path.join(folder, f"{store.TRASH_PREFIX}{os.getpid()}-{os.urandom(6).hex()}")
    os.rename(run_dir, hidden)
    try:
        delete_tree(hidden)
    except OSError as error:
        try:
            left_in = _move_to_trash(hidden, os.path.basename(os.path.normpath(run_dir)))
        except OSError:
            left_in = hidden
        # the file that stayed, named where it is now
        where = os.path.join(left_in, os.path.relpath(error.filename or hidden, hidden))
        return Removal(run_dir, left_in, f"{os.path.normpath(where)}: {error.strerror or error}")
    return Removal(run_dir, None)


def delete_tree(path: str) -> None:
    """``shutil.rmtree``, whose error names the full path of what it could not delete."""

    def failed(function: object, failed_path: str, error: BaseException) -> None:
        if isinstance(error, OSError):
            raise OSError(error.errno, error.strerror, failed_path) from None
        raise error

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=failed)
    else:
        shutil.rmtree(path, onerror=lambda function, where, info: failed(function, where, info[1]))


def _job_of(run_dir: str) -> JobOfRun | None:
    """The sweep job file naming this run; None for other runs and unreadable run.json."""
    if os.path.islink(run_dir):
        return None  # the link goes, the run it points to stays where the job file says
    try:
        info = store.read_run_info(run_dir)
    except (OSError, MaggotError):
        return None
    if info.sweep is None:
        return None
    from maggot import sweep

    return sweep.job_of_run(run_dir, info.sweep)


def empty_trash(experiments_dir: str) -> list[str]:
    """Delete everything in the trash folders under ``experiments_dir``; returns what was deleted.

    A run in a subfolder goes to that subfolder's trash, so every
    ``.maggot-trash`` below is emptied (runs themselves are not searched).
    Raises MaggotError when ``experiments_dir`` is not a directory.
    """
    if not os.path.isdir(experiments_dir):
        what = "not a directory" if os.path.lexists(experiments_dir) else "no such directory"
        raise MaggotError(f"{experiments_dir}: {what}")
    deleted = []
    for trash in _trash_folders(experiments_dir):
        try:
            names = sorted(os.listdir(trash))
        except FileNotFoundError:
            continue
        for name in names:
            path = os.path.join(trash, name)
            if os.path.isdir(path) and not os.path.islink(path):
                delete_tree(path)
            else:
                os.unlink(path)
            deleted.append(path)
        os.rmdir(trash)
    return deleted


def _trash_folders(experiments_dir: str) -> list[str]:
    """The ``.maggot-trash`` folders under ``experiments_dir``, not looking inside runs."""
    found = []
    pending = [experiments_dir]
    while pending:
        directory = pending.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            try:
                if not entry.is_dir(follow_symlinks=False):
                    continue
            except OSError:
                continue
            if entry.name == store.TRASH_DIR:
                found.append(entry.path)
            elif entry.name not in _NOT_HOLDING_TRASH and not store.is_run_dir(entry.path):
                pending.append(entry.path)
    return sorted(found)


# folders of maggot's own that never hold a trash folder
_NOT_HOLDING_TRASH = frozenset((store.META_DIR, store.SWEEPS_DIR, store.INDEX_DIR))


class RunNameError(MaggotError):
    """A new run name ``maggot mv`` refuses."""


def check_run_name(new_name: str) -> None:
    """Refuse a name a run may not be given (RunNameError says why).

    A name is one directory that is safe on Linux, macOS and Windows, as the
    names maggot gives runs; it may not start with ``.`` (hidden, and where
    ``.git``, ``.maggot``, the trash and the sweeps live) nor end with
    ``.repro-N`` (the name of a reproduction).
    """
    if (
        not new_name
        or new_name in (os.curdir, os.pardir)
        or os.sep in new_name
        or (os.altsep and os.altsep in new_name)
        or "\\" in new_name
    ):
        raise RunNameError(f"{new_name!r}: give a plain directory name, not a path")
    if new_name.startswith("."):
        raise RunNameError(
            f"{new_name!r}: a run name may not start with '.' (hidden, and reserved for "
            "git and maggot's own folders)"
        )
    if _reproduced_name(new_name) is not None:
        raise RunNameError(
            f"{new_name!r}: a name ending in '{store.REPLAY_SUFFIX}N' is a reproduction's"
        )
    if (
        not new_name.isprintable()
        or _UNSAFE_IN_NAME.search(new_name)
        or safe_directory_name(new_name) != new_name
    ):
        raise RunNameError(
            f"{new_name!r}: not a safe directory name (no control characters or "
            '<>:"|?*, no trailing dot or space, no reserved name like CON, at most '
            f"{MAX_NAME_BYTES} bytes)"
        )


def _reproduced_name(name: str) -> str | None:
    """``RUN`` for a reproduction's name ``RUN.repro-N``; None for any other name."""
    head, _, number = name.rpartition(store.REPLAY_SUFFIX)
    return head if head and number.isascii() and number.isdigit() else None


class _Move(NamedTuple):
    """One directory ``rename_run`` moves, and its run.json read beforehand (None: none)."""

    source: str
    destination: str
    info: RunInfo | None


def rename_run(run_dir: str, new_name: str, *, force: bool = False) -> str:
    """Rename a run in place; returns its new path.

    What inside names the run follows: run.json's ``name`` (the old names are
    kept in ``renamed_from``), its reproductions (``NEW.repro-N``) and their
    ``reproduction_of``, and the job file of the sweep that started it. The
    snapshot, config and results do not name the directory, so the run stays
    reproducible. Everything is read and checked before anything moves: an
    unreadable run.json, a name that is taken or a running run (unless
    ``force``) leaves all as it was. A reproduction is not renamed on its
    own: it follows its run.
    """
    check_run_name(new_name)
    run_dir = os.path.normpath(run_dir)
    original = _reproduced_name(os.path.basename(run_dir))
    if original is not None:
        original_dir = os.path.join(os.path.dirname(run_dir), original)
        raise MaggotError(
            f"{run_dir}: is a reproduction of {original_dir}; rename that run and its "
            "reproductions follow"
        )
    replays = reproductions_of(run_dir)
    new_dir = os.path.join(os.path.dirname(run_dir), new_name)
    moves = [_Move(run_dir, new_dir, _read_info(run_dir))]
    for replay in replays:
        number = replay[len(run_dir) + len(store.REPLAY_SUFFIX) :]
        moves.append(_Move(replay, f"{new_dir}{store.REPLAY_SUFFIX}{number}", _read_info(replay)))
    _check_not_running([run_dir, *replays], force, "rename")
    for move in moves:
        if os.path.lexists(move.destination):
            raise MaggotError(f"{move.destination}: already exists")
    from maggot import sweep

    info = moves[0].info
    job = sweep.job_of_run(run_dir, info.sweep) if info is not None else None
    for move in moves:
        os.rename(move.source, move.destination)
        if move.info is None:
            continue  # a maggot 0.2 run: nothing inside names it
        reproduction_of = (
            os.path.abspath(new_dir) if move.info.reproduction_of is not None else None
        )
        _write_new_name(move, reproduction_of if move.source != run_dir else None)
    if job is not None:
        sweep.point_job_at(job, new_dir)
    return new_dir


def _read_info(run_dir: str) -> RunInfo | None:
    """run.json of a run about to be renamed; None for a maggot 0.2 run, which has none."""
    try:
        return store.read_run_info(run_dir)
    except FileNotFoundError:
        return None


def _write_new_name(move: _Move, reproduction_of: str | None) -> None:
    info = move.info
    assert info is not None
    earlier = info.extra.get(store.RENAMED_FROM_KEY)
    names = [*(earlier if isinstance(earlier, list) else []), os.path.basename(move.source)]
    info = info._replace(
        name=os.path.basename(move.destination), extra={**info.extra, store.RENAMED_FROM_KEY: names}
    )
    if reproduction_of is not None:
        info = info._replace(reproduction_of=reproduction_of)
    store.write_run_info(move.destination, info)


def find_leftovers(repository: str | None, experiments_dir: str) -> list[Leftover]:
    """Worktrees, temporary directories and replay claims of reproductions that are gone.

    A temporary worktree whose owning ``maggot reproduce`` still runs is left
    alone; one kept with ``--keep`` counts as a leftover once that command
    ended. One whose reproduce was killed while its replay (or any process
    working in it) still runs is listed with ``kept_because`` set, and kept.
    A replay claim is a ``RUN.repro-N`` directory in which the replay never
    recorded anything. A sweep's frozen code tree (under
    ``experiments/.sweeps``) counts once none of its jobs waits or runs; a
    ``maggot sweep --resume`` rebuilds it from the sweep's snapshot.
    """
    leftovers: list[Leftover] = []
    registered: set[str] = set()
    working_directories = _working_directories()
    if repository is not None:
        output = run_git("worktree", "list", "--porcelain", "-z", cwd=repository)
        for field in split_nul(output):
            if field.startswith("worktree "):
                path = field[len("worktree ") :]
                temp_dir = os.path.dirname(path)
                registered.add(temp_dir)
                if _abandoned(temp_dir):
                    kept_because = _still_used(temp_dir, working_directories)
                    leftovers.append(Leftover("worktree", path, kept_because))
    pattern = os.path.join(tempfile.gettempdir(), WORKTREE_PREFIX + "*")
    for temp_dir in sorted(glob.glob(pattern)):
        if temp_dir not in registered and _abandoned(temp_dir):
            kept_because = _still_used(temp_dir, working_directories)
            leftovers.append(Leftover("temporary directory", temp_dir, kept_because))
    for run_dir in sorted(glob.glob(os.path.join(glob.escape(experiments_dir), "*"))):
        if _reproduced_name(os.path.basename(run_dir)) is not None and _empty_claim(run_dir):
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
    owners = _owner_processes(temp_dir)
    if owners is None:
        return time.time() - status.st_mtime > UNOWNED_AGE_SECONDS
    return not owners or _owner_gone(owners[0], temp_dir)


def _owner_processes(temp_dir: str) -> list[int] | None:
    """The process ids in the owner file: the reproduce's, then its running replay's.

    None when the file is missing or unreadable.
    """
    try:
        with open(os.path.join(temp_dir, OWNER_FILE), encoding="utf-8") as file:
            return [int(line) for line in file.read().split()]
    except (OSError, ValueError):
        return None


def _owner_gone(pid: int, temp_dir: str) -> bool:
    """Whether an owner has ended, judged as a run's process is (``entries``).

    The owner file is written after its processes started: one that started
    later only reuses the number.
    """
    from maggot import entries

    try:
        written = os.stat(os.path.join(temp_dir, OWNER_FILE)).st_mtime
    except OSError:
        return True
    written_at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(written))
    return entries.local_process_gone(pid, written_at)


def _still_used(temp_dir: str, working_directories: Sequence[tuple[int, str]]) -> str | None:
    """Why a temporary directory whose reproduce ended must stay; None when nothing uses it.

    Killing ``maggot reproduce`` alone leaves its replay running in the
    worktree; so does a process started there (the replay's workers).
    """
    for pid in (_owner_processes(temp_dir) or [])[1:]:
        if not _owner_gone(pid, temp_dir):
            return f"its replay still runs (process {pid})"
    inside = os.path.realpath(temp_dir) + os.sep
    for pid, directory in working_directories:
        if (directory + os.sep).startswith(inside):
            return f"process {pid} works in it"
    return None


def _working_directories() -> list[tuple[int, str]]:
    """The working directory of each process of this user that can be read (Linux: /proc).

    Elsewhere there is no cheap way to ask: only the owner file tells.
    """
    found = []
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    for name in names:
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            found.append((int(name), os.readlink(f"/proc/{name}/cwd")))
        except OSError:
            continue  # ended meanwhile, or another user's
    return found


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
    """Remove what ``find_leftovers`` found, not what it keeps: worktrees through git, the rest
    from disk.
    """
    for leftover in leftovers:
        if leftover.kept_because is not None:
            continue
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
