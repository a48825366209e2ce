"""Housekeeping of run directories: trash, rename, and what killed reproductions left behind."""

from __future__ import annotations

import functools
import glob
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
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
HALF_DELETED = "half-deleted run"
# what Windows refuses in a file name (maggot's run names never hold these either)
_UNSAFE_IN_NAME = re.compile(r'[<>:"|?*]')


class Removal(NamedTuple):
    """A run moved to the trash (``trashed_to``) or deleted (``trashed_to`` is None).

    ``not_deleted`` says why a run to delete is in ``trashed_to`` instead;
    ``not_removed`` why the run is still where it was (``trashed_to`` is None).
    """

    run_dir: str
    trashed_to: str | None
    not_deleted: str | None = None
    not_removed: str | None = None


class Leftover(NamedTuple):
    """Something a killed reproduction left behind: what it is and where.

    ``kept_because`` says why it stays although the reproduction that made it
    has ended: a process (its replay) still works in it.
    """

    kind: str  # "worktree", "temporary directory", "replay claim", SWEEP_TREE or HALF_DELETED
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
    run_dir = os.path.normpath(run_dir)
    run_name = os.path.basename(run_dir)
    found = []
    for path in glob.glob(glob.escape(run_dir + store.REPLAY_SUFFIX) + "*"):
        parts = store.replay_name_parts(os.path.basename(path))
        if parts is not None and parts[0] == run_name and os.path.isdir(path):
            found.append(path)
    return sorted(found)


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
) -> Iterator[Removal]:
    """Move runs (and their reproductions) to the trash, or delete them with ``purge``.

    Refuses, before touching anything, when one of them is still running
    unless ``force``. Then yields each run's Removal once it is done, so
    that what was removed before an interruption can be reported; a run
    that cannot be moved stays where it is (``not_removed`` says why) and
    the others are still removed. A run given as a symbolic link is the
    link: it is moved or deleted, never what it points to. A run to delete
    leaves the listing in one rename before its files go: one whose files
    cannot all be deleted, or whose deletion is interrupted, ends up in the
    trash (``not_deleted`` says why), never half deleted in its place. The
    job file of a sweep's run says the run was removed, so ``maggot sweep
    status`` shows the job ``removed`` (not lost) and ``maggot sweep
    --resume`` runs it again.
    """
    targets: list[str] = []
    for run_dir in run_dirs:
        for path in (run_dir, *reproductions_of(run_dir)):
            if path not in targets:
                targets.append(path)
    _check_not_running(targets, force, "remove")
    jobs = {path: _job_of(path) for path in targets}
    return _remove_each(targets, jobs, purge)


def _remove_each(
    targets: Sequence[str], jobs: dict[str, JobOfRun | None], purge: bool
) -> Iterator[Removal]:
    for path in targets:
        try:
            removal = _remove(path, purge)
        except OSError as error:
            yield Removal(path, None, not_removed=_os_error_text(error, path))
            continue
        job = jobs[path]
        if job is not None:
            from maggot import sweep

            trashed_to = removal.trashed_to
            sweep.mark_job_removed(job, None if trashed_to is None else os.path.abspath(trashed_to))
        yield removal


def _remove(path: str, purge: bool) -> Removal:
    if purge and os.path.islink(path):
        os.unlink(path)
        return Removal(path, None)
    if purge:
        return _purge(path)
    return Removal(path, _move_to_trash(path, os.path.basename(os.path.normpath(path))))


def _os_error_text(error: OSError, run_dir: str) -> str:
    """What went wrong, naming the file when it is not the run itself (the trash folder)."""
    reason = error.strerror or str(error)
    if error.filename is None or os.path.normpath(error.filename) == os.path.normpath(run_dir):
        return reason
    return f"{error.filename}: {reason}"


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
    """Delete a run; what cannot be deleted goes to the trash, whole or not.

    Interrupted (Ctrl-C) while deleting, what is left goes to the trash too
    before the interruption goes on. Killed outright, or when the trash
    cannot take it, what is left stays hidden until ``maggot gc`` finds this
    process gone.
    """
    folder = os.path.dirname(os.path.normpath(run_dir)) or os.curdir
    # no listing shows this name: from here on no half-deleted run is found at run_dir
    hidden = os.path.join(folder, store.deleting_name())
    os.rename(run_dir, hidden)
    try:
        delete_tree(hidden)
    except BaseException as error:
        try:
            left_in = _move_to_trash(hidden, os.path.basename(os.path.normpath(run_dir)))
        except OSError:
            left_in = hidden
        if not isinstance(error, OSError):
            raise
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
    for trash in _maggot_folders(experiments_dir, store.TRASH_DIR.__eq__):
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


def _maggot_folders(experiments_dir: str, wanted: Callable[[str], bool]) -> list[str]:
    """The folders under ``experiments_dir`` whose name is ``wanted``, not looking inside runs."""
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
            if wanted(entry.name):
                found.append(entry.path)
            elif entry.name not in _NOT_HOLDING_RUNS and not store.is_run_dir(entry.path):
                pending.append(entry.path)
    return sorted(found)


# folders of maggot's own that hold neither runs nor trash folders
_NOT_HOLDING_RUNS = frozenset((store.META_DIR, store.SWEEPS_DIR, store.INDEX_DIR, store.TRASH_DIR))


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
    if store.replay_name_parts(new_name) is not None:
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
    own: it follows its run. A reproduction is what its run.json says it
    is (``reproduction_of``), whatever its name.
    """
    check_run_name(new_name)
    run_dir = os.path.normpath(run_dir)
    info = _read_info(run_dir)
    if info is not None and info.reproduction_of is not None:
        raise MaggotError(
            f"{run_dir}: is a reproduction of {_reproduced_run(run_dir, info.reproduction_of)}; "
            "rename that run and its reproductions follow"
        )
    replays = reproductions_of(run_dir)
    new_dir = os.path.join(os.path.dirname(run_dir), new_name)
    moves = [_Move(run_dir, new_dir, info)]
    for replay in replays:
        number = replay[len(run_dir) + len(store.REPLAY_SUFFIX) :]
        moves.append(_Move(replay, f"{new_dir}{store.REPLAY_SUFFIX}{number}", _read_info(replay)))
    _check_not_running([run_dir, *replays], force, "rename")
    for move in moves:
        if os.path.lexists(move.destination):
            raise MaggotError(f"{move.destination}: already exists")
    from maggot import sweep

    job = sweep.job_of_run(run_dir, info.sweep) if info is not None else None
    for move in moves:
        os.rename(move.source, move.destination)
        if move.info is None:
            continue  # a maggot 0.2 run: nothing inside names it
        reproduction_of = move.info.reproduction_of
        if reproduction_of is not None:
            reproduction_of = _renamed_original(
                reproduction_of, os.path.basename(run_dir), new_name
            )
        _write_new_name(move, reproduction_of)
    if job is not None:
        sweep.point_job_at(job, new_dir)
    return new_dir


def _reproduced_run(replay_dir: str, recorded: str) -> str:
    """The run a replay reproduces: the run next to it that its name names, else as recorded."""
    parts = store.replay_name_parts(os.path.basename(replay_dir))
    if parts is not None:
        neighbour = os.path.join(os.path.dirname(replay_dir), parts[0])
        if os.path.isdir(neighbour):
            return neighbour
    return recorded


def _renamed_original(reproduction_of: str, old_name: str, new_name: str) -> str:
    """A replay's ``reproduction_of`` once its run ``old_name`` is renamed ``new_name``.

    Only the last component, the run's folder name, changes: the rest stays
    as recorded even when the experiments tree has moved since or was
    reached through a symbolic link, so ``maggot verify`` can undo exactly
    this. A path whose last component is not the run's name names the run
    some other way and stays as it is.
    """
    head, last = os.path.split(reproduction_of)
    return os.path.join(head, new_name) if last == old_name else reproduction_of


def _read_info(run_dir: str) -> RunInfo | None:
    """run.json of a run about to be renamed; None for a maggot 0.2 run, which has none."""
    try:
        return store.read_run_info(run_dir)
    except FileNotFoundError:
        return None


def _write_new_name(move: _Move, reproduction_of: str | None) -> None:
    """Rewrite a moved run's run.json: its new name, the old one added to ``renamed_from``."""
    info = move.info
    assert info is not None
    earlier = info.extra.get(store.RENAMED_FROM_KEY)
    names = [*(earlier if isinstance(earlier, list) else []), os.path.basename(move.source)]
    info = info._replace(
        name=os.path.basename(move.destination),
        extra={**info.extra, store.RENAMED_FROM_KEY: names},
        reproduction_of=reproduction_of,
    )
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
    ``maggot sweep --resume`` rebuilds it from the sweep's snapshot. A
    half-deleted run is a hidden ``.maggot-deleting-PID-...`` folder (see
    ``store.deleting_name``), in ``experiments_dir`` or a folder below it,
    whose deleting process ``PID`` was killed or could not move it to the trash.
    """
    leftovers: list[Leftover] = []
    registered: set[str] = set()
    # read from /proc only when a reproduce that ended left something
    working_directories = functools.cache(_working_directories)
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
        if store.replay_name_parts(os.path.basename(run_dir)) is not None and _empty_claim(run_dir):
            leftovers.append(Leftover("replay claim", run_dir))
    leftovers.extend(_finished_sweep_trees(experiments_dir))
    for path in _maggot_folders(experiments_dir, _is_deleting):
        if _deletion_cut_short(path):
            leftovers.append(Leftover(HALF_DELETED, path))
    return leftovers


def _is_deleting(name: str) -> bool:
    return store.deleting_process(name) is not None


def _deletion_cut_short(path: str) -> bool:
    """Whether the process that renamed a run to ``path`` to delete it has ended.

    Judged as a run's process is (``entries``): the folder changed when it
    was renamed, after that process had started, so a process that started
    later only reuses the number.
    """
    from maggot import entries

    pid = store.deleting_process(os.path.basename(path))
    if pid is None or pid == os.getpid():
        return False
    try:
        renamed = os.lstat(path).st_ctime
    except OSError:
        return False
    return entries.local_process_gone(pid, renamed)


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
    return entries.local_process_gone(pid, written)


def _still_used(
    temp_dir: str, working_directories: Callable[[], Sequence[tuple[int, str]]]
) -> str | None:
    """Why a temporary directory whose reproduce ended must stay; None when nothing uses it.

    Killing ``maggot reproduce`` alone leaves its replay running in the
    worktree; so does a process started there (the replay's workers).
    """
    for pid in (_owner_processes(temp_dir) or [])[1:]:
        if not _owner_gone(pid, temp_dir):
            return f"its replay still runs (process {pid})"
    inside = os.path.realpath(temp_dir) + os.sep
    for pid, directory in working_directories():
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
