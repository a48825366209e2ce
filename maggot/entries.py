"""Entries into a run: each start, ``continue`` and resume, recorded in run.json under a lock."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from maggot import capture, gitsnap, store
from maggot.errors import CorruptRunError, GitError
from maggot.git import run_git

ENTRY_START = "start"
ENTRY_CONTINUE = "continue"
ENTRY_RESUME = "resume"
# a rank other than 0 of a multi-process launch (rank 0 makes the start or continue entry)
ENTRY_RANK = "rank"
ENTRIES_KEY = "entries"
# maggot 0.3 listed later entries here, with their time and command only
LEGACY_CONTINUED_KEY = "continued"
STATUS_KILLED = "killed"


class Entry(NamedTuple):
    """One entry into a run as read back from run.json."""

    kind: str
    started_at: str | None
    ended_at: str | None
    status: str
    duration_seconds: float | None
    command_argv: list[str] | None
    hostname: str | None
    pid: int | None
    exit: dict[str, Any] | None
    code: dict[str, Any] | None
    # set for the processes of a multi-process launch
    rank: int | None = None
    log: str | None = None


def update_run_info(
    run_dir: str, change: Callable[[dict[str, Any]], None], *, locked: bool = False
) -> dict[str, Any]:
    """Read run.json, apply ``change`` and write it back, all under the run's lock.

    Processes joining a run at the same moment each see the others' entries.
    ``locked``: the caller already holds the lock. A run.json that does not
    parse raises CorruptRunError and is left as it is.
    """
    path = store.meta_path(run_dir, store.RUN_FILE)
    with contextlib.ExitStack() as stack:
        if not locked:
            stack.enter_context(store.file_lock(store.meta_path(run_dir, store.RUN_LOCK_FILE)))
        try:
            info = store.read_json_object(path)
        except FileNotFoundError:
            info = {}
        change(info)
        store.write_json_atomic(path, info)
    return info


def entry_list(info: dict[str, Any]) -> list[dict[str, Any]]:
    """The run's entries as stored; runs written before entries existed get them rebuilt."""
    entries = info.get(ENTRIES_KEY)
    if isinstance(entries, list):
        return [entry for entry in entries if isinstance(entry, dict)]
    rebuilt: list[dict[str, Any]] = []
    if info.get("started_at"):
        rebuilt.append(
            {
                "kind": ENTRY_START,
                "started_at": info.get("started_at"),
                "ended_at": info.get("ended_at"),
                "status": info.get("status", store.STATUS_UNKNOWN),
                "duration_seconds": info.get("duration_seconds"),
                "exit": info.get("exit"),
                "command_argv": info.get("command_argv"),
                "hostname": info.get("hostname"),
                "pid": info.get("pid"),
            }
        )
    continued = info.get(LEGACY_CONTINUED_KEY)
    for item in continued if isinstance(continued, list) else []:
        if isinstance(item, dict):
            rebuilt.append(
                {
                    "kind": ENTRY_CONTINUE,
                    "started_at": item.get("at"),
                    "status": store.STATUS_UNKNOWN,
                    "command_argv": item.get("command_argv"),
                }
            )
    return rebuilt


def read_entries(info: dict[str, Any]) -> list[Entry]:
    """Typed entries of a run.json object, wrong types read as missing."""
    return [_as_entry(item) for item in entry_list(info)]


def _as_entry(item: dict[str, Any]) -> Entry:
    def text(name: str) -> str | None:
        value = item.get(name)
        return value if isinstance(value, str) else None

    def mapping(name: str) -> dict[str, Any] | None:
        value = item.get(name)
        return value if isinstance(value, dict) else None

    duration = item.get("duration_seconds")
    argv = item.get("command_argv")
    pid = item.get("pid")
    rank = item.get("rank")
    return Entry(
        kind=text("kind") or ENTRY_START,
        started_at=text("started_at"),
        ended_at=text("ended_at"),
        status=text("status") or store.STATUS_UNKNOWN,
        duration_seconds=(
            float(duration)
            if isinstance(duration, (int, float)) and not isinstance(duration, bool)
            else None
        ),
        command_argv=([str(part) for part in argv] if isinstance(argv, list) and argv else None),
        hostname=text("hostname"),
        pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
        exit=mapping("exit"),
        code=mapping("code"),
        rank=rank if isinstance(rank, int) and not isinstance(rank, bool) else None,
        log=text("log"),
    )


def begin_entry(
    run_dir: str,
    entry: dict[str, Any],
    first: dict[str, Any] | None = None,
    *,
    locked: bool = False,
) -> str:
    """Add an entry (status ``running``) and return its id.

    ``first`` is the full run.json of a new run, written in the same update;
    entries of processes that joined the run before it was recorded are kept
    after the first start.
    """
    entry_id = os.urandom(8).hex()

    def change(info: dict[str, Any]) -> None:
        if first is not None:
            joined = entry_list(info) if ENTRIES_KEY in info else []
            info.clear()
            info.update(first, **{ENTRIES_KEY: joined})
        listed = entry_list(info)
        new_entry = {**entry, "id": entry_id, "status": store.STATUS_RUNNING}
        if first is not None:
            listed.insert(0, new_entry)
        else:
            listed.append(new_entry)
        info[ENTRIES_KEY] = listed
        info.pop(LEGACY_CONTINUED_KEY, None)
        info.update(status=store.STATUS_RUNNING, ended_at=None, exit=None)

    update_run_info(run_dir, change, locked=locked)
    return entry_id


def end_entry(run_dir: str, entry_id: str, outcome: dict[str, Any]) -> bool:
    """Record how entry ``entry_id`` ended; the run's status follows its entries.

    The run is ``running`` while any entry is (an entry of this host whose
    process is gone, killed, does not count); otherwise it has the outcome of
    the entry that ended last, unless a rank of the same launch did not
    complete: then the run failed, and ``failed_ranks`` and the exit say which
    and how. Its duration is the sum over entries (ranks' overlap is not
    counted twice: rank entries add nothing). Earlier entries' outcomes are
    never rewritten. Returns whether the run has ended (no entry running).
    """
    ended = False

    def change(info: dict[str, Any]) -> None:
        listed = entry_list(info)
        mine = [item for item in listed if item.get("id") == entry_id]
        if not mine:
            return
        mine[0].update(outcome)
        info[ENTRIES_KEY] = listed
        info.pop(LEGACY_CONTINUED_KEY, None)
        durations = [
            item["duration_seconds"]
            for item in listed
            if isinstance(item.get("duration_seconds"), (int, float))
            and item.get("kind") != ENTRY_RANK
        ]
        info["duration_seconds"] = round(sum(durations), 3) if durations else None
        if any(_still_running(item) for item in listed):
            return
        nonlocal ended
        ended = True
        status, exit_info = outcome.get("status"), outcome.get("exit")
        failed = failed_ranks(listed, mine[0])
        if failed:
            status, exit_info = _rank_failure(failed)
            info["failed_ranks"] = [item.get("rank") for item in failed]
        info.update(status=status, ended_at=outcome.get("ended_at"), exit=exit_info)
        if "imports_outside_snapshot" in outcome:
            info["imports_outside_snapshot"] = outcome["imports_outside_snapshot"]
        if "exit_code" in outcome:
            # a launched command's exit code (`maggot run`, a sweep job)
            info["exit_code"] = outcome["exit_code"]

    update_run_info(run_dir, change)
    return ended


def launch_group(listed: Sequence[dict[str, Any]], entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The rank entries of the launch ``entry`` belongs to (a rank's, or a launcher's)."""
    launch_id = entry.get("launch_id")
    if launch_id:
        group = [item for item in listed if item.get("launch_id") == launch_id]
    else:
        group = [item for item in listed if item.get("launcher_entry") == entry.get("id")]
    return sorted(
        (item for item in group if isinstance(item.get("rank"), int)),
        key=lambda item: int(item["rank"]),
    )


def failed_ranks(listed: Sequence[dict[str, Any]], entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The ranks of ``entry``'s launch that ended other than completed."""
    return [
        item for item in launch_group(listed, entry) if item.get("status") != store.STATUS_COMPLETED
    ]


def _rank_failure(failed: Sequence[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """The run's status and exit when ranks did not complete: each rank, and how it ended."""
    statuses = [str(item.get("status")) for item in failed]
    status = store.STATUS_FAILED if store.STATUS_FAILED in statuses else statuses[0]
    parts = []
    for item in failed:
        how = str(item.get("status"))
        exit_info = item.get("exit")
        if isinstance(exit_info, dict) and exit_info.get("type"):
            message = exit_info.get("message")
            how += f" ({exit_info['type']}{': ' + str(message) if message else ''})"
        parts.append(f"rank {item.get('rank')} {how}")
    return status, {"type": "RankFailed", "message": "; ".join(parts)}


def rank_zero_entry(info: dict[str, Any], launch_id: str) -> dict[str, Any] | None:
    """Rank 0's entry of the launch ``launch_id`` in a run.json object, if it has one."""
    for item in entry_list(info):
        if item.get("launch_id") == launch_id and item.get("rank") == 0:
            return item
    return None


def running_launcher_entry(info: dict[str, Any]) -> dict[str, Any] | None:
    """The latest running entry that is no rank's: a launcher holding the run."""
    running = [
        item
        for item in entry_list(info)
        if item.get("status") == store.STATUS_RUNNING and "rank" not in item
    ]
    return running[-1] if running else None


def _still_running(item: dict[str, Any]) -> bool:
    """Whether an entry is marked running and its process may still be alive.

    A killed entry (SIGKILL, on this host, process gone) stays marked running
    but must not keep a run resumed to its end at ``running`` forever.
    """
    if item.get("status") != store.STATUS_RUNNING:
        return False
    entry = _as_entry(item)
    return not _process_gone(entry.hostname, entry.pid, entry.started_at)


def code_state(cwd: str, exclude_dirs: Sequence[str]) -> dict[str, Any] | None:
    """The commit and a hash of the tracked changes of the repository holding ``cwd``."""
    toplevel = gitsnap.find_toplevel(cwd)
    if toplevel is None:
        return None
    pathspec = gitsnap.exclusion_pathspec(toplevel, exclude_dirs)
    try:
        commit = run_git("rev-parse", "--verify", "-q", "HEAD", cwd=toplevel)
        patch = run_git("diff", "HEAD", *gitsnap.DIFF_OPTIONS, *pathspec, cwd=toplevel, check=False)
    except GitError:
        return None
    return {
        "commit": commit.decode().strip() or None,
        "patch_sha256": hashlib.sha256(patch).hexdigest(),
    }


def recorded_code_state(run_dir: str) -> dict[str, Any] | None:
    """The code state of the run's first start, from its snapshot."""
    try:
        head = store.read_json_object(store.git_path(run_dir, store.HEAD_FILE))
    except (OSError, CorruptRunError):
        return None
    try:
        with open(store.git_path(run_dir, store.PATCH_FILE), "rb") as file:
            patch = file.read()
    except OSError:
        patch = b""
    return {"commit": head.get("commit"), "patch_sha256": hashlib.sha256(patch).hexdigest()}


def live_status(info: dict[str, Any]) -> str:
    """The run's status, ``killed`` for a ``running`` run whose process is gone.

    Only decided for runs recorded on this host; run.json is not rewritten.
    """
    status = info.get("status")
    if not isinstance(status, str):
        return store.STATUS_UNKNOWN
    if status == store.STATUS_RUNNING and running_processes_gone(info):
        return STATUS_KILLED
    return status


def first_start_status(info: dict[str, Any]) -> str:
    """How the first start (what a replay repeats) ended; ``killed`` if its process is gone."""
    listed = read_entries(info)
    if not listed:
        return live_status(info)
    first = listed[0]
    if first.status == store.STATUS_RUNNING and _process_gone(
        first.hostname, first.pid, first.started_at
    ):
        return STATUS_KILLED
    return first.status


def running_processes_gone(info: dict[str, Any]) -> bool:
    """Whether every entry still marked running was made on this host by a process now gone."""
    running = _running_entries(info)
    return bool(running) and all(
        _process_gone(entry.hostname, entry.pid, entry.started_at) for entry in running
    )


def running_here(info: dict[str, Any]) -> bool:
    """Whether every entry still marked running was made on this host by a known process:
    whether this host can tell if the run still runs."""
    running = _running_entries(info)
    here = capture.host_name()
    return bool(running) and all(entry.hostname == here and entry.pid for entry in running)


def _running_entries(info: dict[str, Any]) -> list[Entry]:
    """The entries still marked running; a run.json without entries (older runs) as one."""
    running = [entry for entry in read_entries(info) if entry.status == store.STATUS_RUNNING]
    if not running and info.get("status") == store.STATUS_RUNNING:
        host, pid = info.get("hostname"), info.get("pid")
        running = [_as_entry({"hostname": host, "pid": pid, "started_at": info.get("started_at")})]
    return running


def local_process_gone(pid: int, alive_at: float | None = None) -> bool:
    """Whether process ``pid`` of this host has ended, as a run's process is judged.

    A zombie has ended, and so has the process of a reused number: one that
    started clearly after ``alive_at`` (seconds since the epoch, a time the
    process is known to have run) when that is given.
    """
    return _gone(pid, alive_at)


def _process_gone(hostname: str | None, pid: int | None, started_at: str | None = None) -> bool:
    if not hostname or not pid or hostname != capture.host_name():
        return False
    return _gone(pid, _epoch_seconds(started_at))


def _gone(pid: int, alive_at: float | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OSError):
        return False
    return _is_zombie(pid) or _started_after(pid, alive_at)


def _epoch_seconds(started_at: str | None) -> float | None:
    """A recorded start time (UTC, ISO 8601) in seconds since the epoch; None if unreadable."""
    if not started_at:
        return None
    import calendar
    import time

    try:
        return calendar.timegm(time.strptime(started_at[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None


def _started_after(pid: int, entry_start: float | None) -> bool:
    """Whether process ``pid`` started after ``entry_start``: the number was reused (Linux)."""
    if entry_start is None:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            start_ticks = int(file.read().rsplit(b")", 1)[-1].split()[19])
        with open("/proc/stat", "rb") as file:
            boot = next(int(line.split()[1]) for line in file if line.startswith(b"btime "))
    except (OSError, ValueError, IndexError, StopIteration):
        return False
    process_start = boot + start_ticks / os.sysconf("SC_CLK_TCK")
    # boot time is whole seconds and clocks drift a little: only a clear gap counts
    return process_start > entry_start + 5


def _is_zombie(pid: int) -> bool:
    # a killed child not yet reaped by its parent still answers signal 0
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            return file.read().rsplit(b")", 1)[-1].split()[0] == b"Z"
    except (OSError, IndexError):
        return False
