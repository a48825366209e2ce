"""Reproduce a run: rebuild its code state in a separate worktree, replay it, compare results."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any, NamedTuple

from maggot import codediff, entries, gitsnap, manifest, provide, ranks, store
from maggot.codediff import CodeDiffError, Repository, find_repository
from maggot.config import flatten
from maggot.errors import CorruptRunError, MaggotError, ReproduceError
from maggot.git import open_repository, run_git, split_nul
from maggot.inputs import OUTSIDE, load_inputs
from maggot.origin import ENV_LAUNCH_ARGV, program_end
from maggot.paths import is_within, safe_relative_path
from maggot.provide import InputsPlan, Provision
from maggot.records import RunInfo
from maggot.replay import (
    ENV_ORIGINAL_ROOT,
    ENV_REPLAY_CONFIG,
    ENV_REPLAY_ROOTS,
    ENV_REPRODUCTION_OF,
    ENV_RUN_DIR,
    checkout_paths,
    import_paths,
    map_arguments,
    map_into,
    replay_command,
    replay_pythonpath,
    with_roots_replaced,
)
from maggot.results import MATCH, Comparison, compare_results
from maggot.secrets import REDACTED, RedactedArgument, restore_argument
from maggot.signals import Terminated
from maggot.worktree import Worktree, create_worktree, name_replay, remove_worktree

REPLAY_SUFFIX = store.REPLAY_SUFFIX
# lines of the replay's stderr kept to show when it fails before recording a run
STDERR_TAIL_LINES = 15
_STDERR_TAIL_BYTES = 16 * 1024


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
    python_source: str = "--python"
    # arguments recorded as <redacted>, restored from the environment for the replay
    redacted: tuple[RedactedArgument, ...] = ()
    # the interpreter, when the command starts with a launcher (mpirun, srun)
    interpreter: str | None = None
    # the ignored files the replay gets from the checkout (None: none, planned by hand)
    inputs: InputsPlan | None = None
    # how the replay starts a run's processes, when it is not one plain process
    launch: tuple[str, ...] = ()

    @property
    def commit(self) -> str:
        """The recorded commit the worktree is built from."""
        return self.snapshot.commit

    @property
    def python(self) -> str:
        """The interpreter the replay runs with."""
        return self.interpreter or self.command[0]


class ReplayOutcome(NamedTuple):
    """What ``reproduce`` did: the replay's exit code, its run, and the comparison."""

    exit_code: int
    replay_dir: str
    comparisons: list[Comparison]
    problems: list[str]
    # what setting up the replay noted (paths mapped or not, directories created)
    notes: tuple[str, ...] = ()
    # the worktree, when it was kept (``keep=True``)
    kept_worktree: str | None = None

    @property
    def reproduced(self) -> bool:
        """Every result of the original came back the same, and nothing else differs.

        A result only the replay has is not a match either: the two runs did
        not do the same thing.
        """
        return (
            self.exit_code == 0
            and not self.problems
            and bool(self.comparisons)
            and all(item.status == MATCH for item in self.comparisons)
        )


def _describe_commit(repository: Repository, snapshot: gitsnap.GitSnapshot) -> str:
    """``<short sha> <subject>`` of the run's commit, read with GitPython's object model."""
    import git

    with open_repository(repository.toplevel) as opened:
        try:
            found = opened.commit(snapshot.commit)
        except (ValueError, git.BadName):
            raise ReproduceError(codediff.missing_commit_message(snapshot, repository)) from None
        summary = found.summary
        hexsha = found.hexsha
    if isinstance(summary, bytes):
        summary = summary.decode(errors="replace")
    return f"{hexsha[:12]} {summary}"


def plan_reproduction(
    run_dir: str,
    *,
    repo_path: str | None = None,
    python: str | None = None,
    worktree: str | None = None,
    links: Sequence[str] = (),
    provide_inputs: bool = True,
    launcher_cmd: Sequence[str] | None = None,
    with_results: bool = True,
) -> ReproducePlan:
    """Check that ``run_dir`` can be reproduced here and decide how.

    The repository is ``repo_path``, else the one holding the current
    directory, else the one holding ``run_dir``. The interpreter is
    ``python``, else the one the run recorded when it still exists, else the
    one running maggot. A run of several processes replays its launch
    (torchrun, srun, mpirun ...) with the same number of processes;
    ``launcher_cmd`` (``["mpirun", "-n", "2"]``) starts the program instead,
    for a launch that was not recorded or should run another way. The
    ignored inputs the run read inside the repository, and the ``links``
    (``--link`` paths), are provided from that repository's checkout unless
    ``provide_inputs`` is false. A run file that cannot be read is refused
    now, the results file too unless ``with_results`` is false (a rerun
    compares none).
    """
    run_dir = os.path.normpath(run_dir)
    record = store.load_run(run_dir, with_results=with_results)
    if record.problems:
        # said now, not after a replay whose results could not be compared
        raise ReproduceError("; ".join(record.problems))
    info = record.info
    snapshot = gitsnap.load_snapshot(run_dir)
    integrity_note = manifest.check_snapshot(run_dir, snapshot.head.patch_bytes)
    command_argv = info.command_argv
    if not command_argv:
        raise ReproduceError(f"{run_dir}: no recorded command (run.json has no command_argv)")
    redacted = _redacted_arguments(info, command_argv, run_dir)
    if redacted and launcher_cmd:
        raise ReproduceError(
            f"{run_dir}: --launcher-cmd cannot be used for a run whose command has redacted "
            "arguments"
        )
    repository = _find_run_repository(run_dir, snapshot, repo_path)
    summary = _describe_commit(repository, snapshot)
    if worktree is not None:
        worktree = os.path.abspath(worktree)
        if is_within(worktree, repository.toplevel):
            raise ReproduceError(f"--worktree {worktree}: choose a path outside the repository")
        if os.path.exists(worktree) and os.listdir(worktree):
            raise ReproduceError(f"--worktree {worktree}: exists and is not empty")
    relative_cwd = snapshot.head.cwd or ""
    if not safe_relative_path(relative_cwd) and relative_cwd != "":
        raise ReproduceError(f"{run_dir}: refusing recorded cwd {relative_cwd!r}")
    if not info.launched_command and info.distributed is None:
        _check_script(run_dir, command_argv, relative_cwd, snapshot.head.script)
    python, python_source = choose_python(python, info.python.executable)
    command, launch, launch_warnings = launch_command(info, python, run_dir, launcher_cmd)
    roots = _checkout_roots(repository, snapshot)
    inputs_plan = provide.plan_inputs(
        repository.toplevel,
        load_inputs(run_dir),
        links=links,
        command=command,
        cwd=relative_cwd,
        enabled=provide_inputs,
        copy_limit=provide.copy_limit_from_environment(),
    )
    return ReproducePlan(
        run_dir=run_dir,
        snapshot=snapshot,
        repository=repository,
        commit_summary=summary,
        command=command,
        cwd=relative_cwd,
        replay_dir=next_replay_dir(run_dir),
        worktree=worktree,
        notes=[*([integrity_note] if integrity_note else []), *_unfinished_notes(info.to_json())]
        + _snapshot_notes(snapshot)
        + launch_warnings
        + _command_notes(info, command, roots, snapshot)
        + [_redacted_note(item) for item in redacted],
        python_source=python_source,
        redacted=redacted,
        interpreter=python,
        inputs=inputs_plan,
        launch=tuple(launch),
    )


def _check_script(
    run_dir: str, command_argv: Sequence[str], relative_cwd: str, script: str | None
) -> None:
    """Refuse a recorded command that would run another script than the run's own.

    Runs recorded before maggot found a program's start directory kept the
    directory the program had changed to when its run started, from where the
    script as typed is another file (or none). Multi-process launches run
    another program than the script, and are not checked.
    """
    end = program_end(command_argv)
    if script is None or end < 2 or command_argv[end - 2] == "-m":
        return
    typed = command_argv[end - 1]
    if os.path.isabs(typed):
        return
    typed, script = os.path.normpath(typed), os.path.normpath(script)
    runs = os.path.normpath(os.path.join(relative_cwd, typed))
    # the same script as typed, from another directory (a wrapper that runs the script,
    # runpy.run_path, is another name and is not refused)
    if runs != script and (script == typed or script.endswith(os.sep + typed)):
        raise ReproduceError(
            f"{run_dir}: its command runs {runs} from {relative_cwd or '.'}/, but the run's "
            f"script was {script} (the program changed directory before its run started): "
            "replaying it would run other code"
        )


def launch_command(
    info: RunInfo, python: str, run_dir: str, launcher_cmd: Sequence[str] | None
) -> tuple[list[str], list[str], list[str]]:
    """The command that runs the recorded program again, how it starts the processes, warnings.

    A multi-process run's command is its launch, with the same number of
    processes (``launcher_cmd`` starts the program instead); any other run's is
    its interpreter command with ``python`` as the interpreter. A launch that
    cannot be rebuilt is replayed as one process, with a warning.
    """
    distributed = info.distributed
    if distributed is None:
        command = replay_command(info.command_argv, python, run_dir)
        if launcher_cmd:
            started = f"the program is started with --launcher-cmd ({shlex.join(launcher_cmd)})"
            return [*launcher_cmd, *command], [started], []
        return command, [], []
    processes = f"{distributed.world_size} processes"
    if info.launched_command and not launcher_cmd:
        # `maggot run -- mpirun ...`: replaying maggot's command replays the launch
        return (
            replay_command(info.command_argv, python, run_dir),
            [
                f"the run was launched with {processes} by {distributed.launcher}: the replay "
                f"runs the recorded launch again ({shlex.join(info.launched_command)}), with "
                f"{processes}"
            ],
            [],
        )
    rank_program = replay_command(
        distributed.rank_command_argv or info.command_argv, python, run_dir
    )
    launch, note = ranks.replay_launch(distributed, rank_program, launcher_cmd)
    if launch is None:
        command = replay_command(info.command_argv, python, run_dir)
        if not distributed.command_argv:  # the launch is unknown: one process is replayed
            return command, [], [note]
        return command, [note], []  # torchrun, accelerate: their own program starts the ranks
    return launch, [note], []


def _redacted_arguments(
    info: RunInfo, command_argv: Sequence[str], run_dir: str
) -> tuple[RedactedArgument, ...]:
    """The arguments run.json says were redacted; every <redacted> one must be among them."""
    run_file = store.meta_path(run_dir, store.RUN_FILE)
    positions = {item.position for item in info.redacted_arguments}
    if any(not 0 < position < len(command_argv) for position in positions):
        raise CorruptRunError(f"{run_file}: redacted_arguments names arguments the command lacks")
    unexplained = [
        index
        for index, argument in enumerate(command_argv)
        if REDACTED in argument and index not in positions
    ]
    if unexplained:
        raise ReproduceError(
            f"{run_file}: argument {unexplained[0]} of the recorded command was redacted, "
            "and run.json does not say how to restore it"
        )
    return info.redacted_arguments


def choose_python(requested: str | None, recorded: str | None) -> tuple[str, str]:
    """The replay's interpreter and why it was chosen.

    The recorded interpreter has the run's packages (maggot itself may live
    elsewhere, e.g. installed with pipx), so it is used when it still exists.
    """
    if requested:
        return requested, "--python"
    if recorded and os.path.isfile(recorded) and os.access(recorded, os.X_OK):
        return recorded, "the run's interpreter"
    if recorded:
        return sys.executable, f"the one running maggot: the run's {recorded} no longer exists"
    return sys.executable, "the one running maggot: the run recorded none"


def _find_run_repository(
    run_dir: str, snapshot: gitsnap.GitSnapshot, repo_path: str | None
) -> Repository:
    """The repository to rebuild in; the error names where the run was recorded."""
    if repo_path:
        try:
            return find_repository(repo_path)
        except CodeDiffError:
            raise ReproduceError(f"--repo {repo_path}: not a git repository") from None
    try:
        return find_repository(os.getcwd(), run_dir)
    except CodeDiffError:
        head = snapshot.head
        remotes = ", ".join(f"{name} {url}" for name, url in sorted(head.remotes.items()))
        where = f"{head.repo_root or 'an unrecorded place'}" + (
            f" (remotes: {remotes})" if remotes else ""
        )
        raise ReproduceError(
            f"{run_dir}: was recorded in the repository at {where}; run this from a clone "
            "of it or pass --repo PATH"
        ) from None


def secret_value(item: RedactedArgument) -> str | None:
    """A redacted argument's value from this environment: the variable named for it first."""
    for variable in (item.supply_variable, item.environment):
        if variable and variable in os.environ:
            return os.environ[variable]
    return None


def _redacted_note(item: RedactedArgument) -> str:
    sources = f"${item.supply_variable}" + (f" or ${item.environment}" if item.environment else "")
    if secret_value(item) is not None:
        return f"{item.label} was redacted when recorded: the replay takes it from {sources}"
    return (
        f"{item.label} was redacted when recorded: set {item.supply_variable}"
        + (f" (or {item.environment})" if item.environment else "")
        + " to its value to replay the run"
    )


def unsupplied_arguments(plan: ReproducePlan) -> list[str]:
    """Redacted arguments the replay needs but this environment does not supply."""
    return [
        f"{item.label} (set {item.supply_variable})"
        for item in plan.redacted
        if secret_value(item) is None
    ]


def _checkout_roots(repository: Repository, snapshot: gitsnap.GitSnapshot) -> list[str]:
    """The checkout here and, for a run copied from elsewhere, where it was recorded."""
    roots = [repository.toplevel]
    recorded_root = snapshot.head.repo_root
    if recorded_root is not None and recorded_root not in roots:
        roots.append(recorded_root)
    return roots


def _command_notes(
    info: RunInfo,
    command: Sequence[str],
    roots: Sequence[str],
    snapshot: gitsnap.GitSnapshot,
) -> list[str]:
    notes = [
        f"{path} points into your checkout: the replay uses the worktree's copy when the "
        "snapshot holds all of it, otherwise this path as it is now"
        for path in checkout_paths(command, roots, snapshot.head.script)
    ]
    # the ranks of a launch are one start: the replay starts them all again
    later = [
        entry
        for entry in entries.read_entries(info.to_json())[1:]
        if entry.kind != entries.ENTRY_RANK
    ]
    if later:
        kinds = ", ".join(
            f"{count} {kind}" for kind, count in Counter(entry.kind for entry in later).items()
        )
        notes.append(
            f"the run has {len(later) + 1} entries (its first start, then {kinds}); the replay "
            "repeats the first start only, so results of later entries may not come back"
        )
    return notes


def _unfinished_notes(info: Mapping[str, Any]) -> list[str]:
    """Said first: an original that never finished may have no complete results."""
    status = entries.first_start_status(dict(info))
    if status == store.STATUS_RUNNING:
        why = "it is still marked running (running now, or stopped without a trace)"
    elif status == entries.STATUS_KILLED:
        why = "it is marked running but its process is gone (killed)"
    elif status == store.STATUS_INTERRUPTED:
        why = "it was interrupted"
    else:
        return []
    return [f"the original run never finished: {why}; its results may be incomplete"]


def _snapshot_notes(snapshot: gitsnap.GitSnapshot) -> list[str]:
    """What the run had that its snapshot does not hold."""
    head = snapshot.head
    skipped: dict[str, list[str]] = {}
    for skipped_file in head.skipped:
        skipped.setdefault(skipped_file.reason, []).append(skipped_file.path)
    notes = [
        f"not in the snapshot ({why}): {_count_files(files)}" for why, files in skipped.items()
    ]
    if head.script is None:
        notes.append(
            "the script that started the run is not in the repository: the replay runs it "
            "as it is now, not from the snapshot"
        )
    for item in head.submodules:
        if item.dirty and not item.snapshot:
            notes.append(
                f"submodule {item.path} had uncommitted changes, which are not in the "
                "snapshot: the replay uses its recorded commit"
            )
    return notes


def _count_files(paths: Sequence[str], shown: int = 3) -> str:
    """``2 files: a, b`` with at most ``shown`` names."""
    names = ", ".join(paths[:shown]) + (", ..." if len(paths) > shown else "")
    return f"{len(paths)} file{'s' if len(paths) != 1 else ''}: {names}"


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


class Replay(NamedTuple):
    """The replay's process, ready to start."""

    command: list[str]
    cwd: str
    environment: dict[str, str]
    notes: list[str]
    worktree: str = ""


class ReplayRun(NamedTuple):
    """How the replay's process ended, and the end of what it wrote to stderr."""

    exit_code: int
    stderr_tail: tuple[str, ...] = ()


def reproduce(
    plan: ReproducePlan,
    *,
    keep: bool = False,
    rtol: float = 0.0,
    atol: float = 0.0,
    on_start: Callable[[Replay], None] | None = None,
) -> ReplayOutcome:
    """Carry out ``plan``: build the worktree, replay the command, compare the results.

    The worktree is removed afterwards (even on errors and Ctrl-C) unless
    ``keep``. ``on_start`` is called with the prepared replay just before it
    runs (to show its notes). The replay's output goes to this process's
    stdout and stderr.
    """
    return reproduce_repeatedly(plan, 1, keep=keep, rtol=rtol, atol=atol, on_start=on_start)[0]


def reproduce_repeatedly(
    plan: ReproducePlan,
    repeat: int,
    *,
    keep: bool = False,
    rtol: float = 0.0,
    atol: float = 0.0,
    on_start: Callable[[Replay], None] | None = None,
) -> list[ReplayOutcome]:
    """``reproduce``, replayed ``repeat`` times from the same worktree.

    Each replay records into its own ``.repro-<n>`` directory; one outcome per
    replay, in order (compare them with ``explain.replay_agreement``).
    """
    tree = create_worktree(plan.snapshot, plan.repository.toplevel, plan.worktree)
    finished_replays: list[tuple[ReproducePlan, Replay, ReplayRun]] = []
    guard_dir = make_guard_dir(tree)
    try:
        provision = provide_checkout_inputs(plan, tree.path, guard_dir)
        for _ in range(repeat):
            replay_plan = claim_replay_dir(plan)
            replay = prepare_replay(replay_plan, tree.path, provision)
            if on_start is not None:
                on_start(replay)
            # named in the worktree's owner file, so gc keeps the tree while the replay runs
            finished = run_replay(replay, lambda pid: name_replay(tree, pid))
            finished_replays.append((replay_plan, replay, finished))
    finally:
        shutil.rmtree(guard_dir, ignore_errors=True)
        if not keep:
            remove_worktree(tree)
    return [
        check_replay(replay_plan, finished, rtol, atol)._replace(
            notes=tuple(replay.notes), kept_worktree=tree.path if keep else None
        )
        for replay_plan, replay, finished in finished_replays
    ]


def make_guard_dir(tree: Worktree) -> str:
    """A new folder for the write guard's listing, in the worktree's temporary directory.

    There ``maggot gc`` removes it with the worktree when a replay was killed
    before removing both; a worktree at a path of the user's gets it in the
    system's temporary directory.
    """
    return tempfile.mkdtemp(prefix="maggot-guard-", dir=tree.temp_dir)


def provide_checkout_inputs(plan: ReproducePlan, worktree: str, guard_dir: str) -> Provision:
    """Provide the plan's ignored inputs in the worktree (see ``maggot.provide``)."""
    if plan.inputs is None:
        return Provision({}, {}, None, ())
    provision = provide.provide_inputs(plan.inputs, worktree, guard_dir)
    linked = [path for path, how in provision.how.items() if how == provide.READ_ONLY_LINK]
    if not linked:
        return provision
    limit = provide.size_text(plan.inputs.copy_limit)
    note = (
        f"linked read-only from the checkout (larger than {limit}, a write to them fails): "
        + _count_files(linked)
    )
    return provision._replace(notes=(*provision.notes, note))


def prepare_replay(
    plan: ReproducePlan, worktree: str, provision: Provision | None = None
) -> Replay:
    """Map the command, directory and import paths from the checkout onto the worktree.

    ``provision`` is what providing the ignored inputs did: with a write guard,
    ``maggot.bootstrap`` goes first on the replay's PYTHONPATH to install it.
    """
    roots = _checkout_roots(plan.repository, plan.snapshot)
    notes = list(provision.notes) if provision is not None else []
    cwd = os.path.join(worktree, plan.cwd)
    if not os.path.isdir(cwd):
        os.makedirs(cwd)
        notes.append(f"{plan.cwd}/ is not in the snapshot (empty or ignored); created it empty")
    command, argument_notes = map_arguments(plan.command, roots, worktree)
    notes.extend(argument_notes)
    environment = dict(os.environ)
    python_path = replay_pythonpath(
        import_paths(plan.python, os.path.dirname(worktree)), roots, worktree
    )
    # the user's own entries stay, unless they point into the checkout; relative
    # ones resolve against the replay's directory, inside the worktree
    python_path += [
        entry
        for entry in environment.get("PYTHONPATH", "").split(os.pathsep)
        if entry and (not os.path.isabs(entry) or map_into(entry, roots, worktree) is None)
    ]
    if provision is not None and provision.guard_dir is not None:
        from maggot import bootstrap

        python_path.insert(0, bootstrap.DIRECTORY)
        environment.update(provision.environment)
    if python_path:
        environment["PYTHONPATH"] = os.pathsep.join(python_path)
    # git in the replay (its own snapshot) reads the worktree with the run's settings
    environment.update(gitsnap.checkout_environment(plan.snapshot.head))
    # the replay's workers must find the replay's command, not this one's
    environment.pop(ENV_LAUNCH_ARGV, None)
    environment[ENV_RUN_DIR] = os.path.abspath(plan.replay_dir)
    environment[ENV_REPRODUCTION_OF] = os.path.abspath(plan.run_dir)
    environment[ENV_ORIGINAL_ROOT] = plan.repository.toplevel
    for item in plan.redacted:
        value = secret_value(item)
        if value is None:
            raise ReproduceError(
                f"{item.label} was redacted when the run was recorded: "
                f"set {item.supply_variable} to its value"
            )
        restore_argument(command, item, value)
        # the replay records its own command: the value must not reach it through this name
        environment.pop(item.supply_variable, None)
    # only the Experiment with the recorded config records into the replay's directory
    config_path = store.meta_path(os.path.abspath(plan.run_dir), store.CONFIG_FILE)
    if os.path.isfile(config_path):
        environment[ENV_REPLAY_CONFIG] = config_path
        environment[ENV_REPLAY_ROOTS] = json.dumps({"recorded": roots, "replay": worktree})
    return Replay(command, cwd, environment, notes, worktree)


_REPLAY_GRACE_SECONDS = 10


def run_replay(replay: Replay, started: Callable[[int], None] | None = None) -> ReplayRun:
    """Run the replay without a shell; its output streams through to this process.

    ``started`` is called with the replay's process id as soon as it runs.

    Its stderr passes through a pipe so its last lines can be shown when it
    fails before recording a run (an import error in another environment).
    Ctrl-C, SIGTERM and SIGHUP reach the replay too (the signal is passed on),
    which then records how it ended; after a grace period it is killed.
    """
    import threading

    process = subprocess.Popen(
        replay.command, cwd=replay.cwd, env=replay.environment, stderr=subprocess.PIPE
    )
    if started is not None:
        started(process.pid)
    tail = bytearray()
    assert process.stderr is not None
    relay = threading.Thread(target=_relay_stderr, args=(process.stderr, tail), daemon=True)
    relay.start()
    try:
        exit_code = process.wait()
        relay.join()
    except BaseException as error:
        if isinstance(error, Terminated) and process.poll() is None:
            process.send_signal(error.signal_number)
        # the child got the same Ctrl-C; give it a moment to record "interrupted"
        try:
            process.wait(timeout=_REPLAY_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        raise
    lines = bytes(tail).decode(errors="replace").splitlines()
    return ReplayRun(exit_code, tuple(lines[-STDERR_TAIL_LINES:]))


def _relay_stderr(stream: IO[bytes], tail: bytearray) -> None:
    """Copy the replay's stderr to ours as it comes, keeping its last bytes."""
    target = getattr(sys.stderr, "buffer", None)
    while True:
        chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
        if not chunk:
            return
        try:
            if target is not None:
                target.write(chunk)
                target.flush()
            else:
                sys.stderr.write(chunk.decode(errors="replace"))
                sys.stderr.flush()
        except (OSError, ValueError):
            pass  # our stderr is gone: keep draining so the replay never blocks
        tail += chunk
        del tail[:-_STDERR_TAIL_BYTES]


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
        if kind != "A" and not (kind == "M" and _appended_to(plan.snapshot, replayed, path))
    ]
    if not changed:
        return []
    return ["the replay ran on code that differs from the snapshot: " + ", ".join(changed)]


_STATUS_WORDS = {"M": "modified", "D": "missing", "T": "type changed"}


def _appended_to(recorded: gitsnap.GitSnapshot, replayed: gitsnap.GitSnapshot, path: str) -> bool:
    """An untracked file the replay only added to (a log its script opened before the
    Experiment started): the replay began from what the snapshot recorded."""
    if path not in recorded.untracked_files():
        return False
    try:
        with open(os.path.join(recorded.untracked_dir, path), "rb") as file:
            before = file.read()
        with open(os.path.join(replayed.untracked_dir, path), "rb") as file:
            return file.read().startswith(before)
    except OSError:
        return False


def check_replay(
    plan: ReproducePlan, finished: ReplayRun, rtol: float = 0.0, atol: float = 0.0
) -> ReplayOutcome:
    """Read the replay's run back and compare it with the original."""
    problems: list[str] = []
    original = store.load_run(plan.run_dir, with_config=False)
    problems.extend(original.problems)
    exit_code = finished.exit_code
    if exit_code != 0:
        problems.append(f"the replay exited with code {exit_code}")
    replay_results: dict[str, Any] = {}
    if not store.is_run_dir(plan.replay_dir):
        if exit_code != 0 and finished.stderr_tail:
            problems.append(
                "the replay failed before recording a run; the end of its stderr:\n"
                + "\n".join("    " + line for line in finished.stderr_tail)
            )
        else:
            problems.append(
                "the replay recorded no run (did the script create an Experiment with the "
                "recorded config?)"
            )
        if os.path.isdir(plan.replay_dir) and not os.listdir(plan.replay_dir):
            os.rmdir(plan.replay_dir)
    else:
        replay = store.load_run(plan.replay_dir, with_config=False)
        problems.extend(replay.problems)
        replay_results = replay.results
        problems.extend(_config_differences(plan))
        problems.extend(_code_state_differences(plan))
        foreign = replay.info.imports_outside_snapshot
        if foreign:
            problems.append(
                "the replay imported code from the checkout instead of the snapshot: "
                + ", ".join(foreign)
            )
        else:
            # a command run by `maggot run` imports in its own process: what it opened says
            read = _code_read_from_checkout(plan)
            if read:
                problems.append(
                    "the replay read code from the checkout instead of the snapshot: "
                    + ", ".join(read)
                )
    if original.status != store.STATUS_COMPLETED:
        problems.append(
            f"{plan.run_dir}: the original run did not complete (status {original.status}): "
            "its results are not those of a finished run"
        )
    if not original.results:
        problems.append(f"{plan.run_dir}: the original run recorded no results to compare")
    comparisons = compare_results(original.results, replay_results, rtol, atol)
    return ReplayOutcome(exit_code, plan.replay_dir, comparisons, problems)


# files a replay runs as code: read from the checkout, the replay ran the checkout's code
_CODE_SUFFIXES = (".py", ".pyc", ".so", ".pyd")


def _code_read_from_checkout(plan: ReproducePlan) -> list[str]:
    """Code files in the checkout that the replay read (from its inputs record)."""
    try:
        record = load_inputs(plan.replay_dir)
    except MaggotError:
        return []
    if record is None:
        return []
    roots = _checkout_roots(plan.repository, plan.snapshot)
    return sorted(
        item.path
        for item in record.files
        if item.location == OUTSIDE
        and item.was_read
        and item.path.endswith(_CODE_SUFFIXES)
        and map_into(item.path, roots, "") is not None
    )


def _config_differences(plan: ReproducePlan) -> list[str]:
    """The replay must have run with the recorded config."""
    original = store.load_run(plan.run_dir, with_results=False).config
    replayed = store.load_run(plan.replay_dir, with_results=False).config
    # a path into the checkout (Hydra's ${hydra:runtime.cwd}) is the worktree's in the replay
    try:
        replay_root = gitsnap.load_snapshot(plan.replay_dir).head.repo_root
    except MaggotError:
        replay_root = None
    original = with_roots_replaced(original, _checkout_roots(plan.repository, plan.snapshot))
    replayed = with_roots_replaced(replayed, [replay_root] if replay_root else [])
    original_flat, replayed_flat = flatten(original), flatten(replayed)
    changed = [
        name
        for name in sorted(set(original_flat) | set(replayed_flat))
        if original_flat.get(name, _ABSENT) != replayed_flat.get(name, _ABSENT)
    ]
    if not changed:
        return []
    shown = ", ".join(
        f"{name}: {_brief(original_flat.get(name, _ABSENT))} -> "
        f"{_brief(replayed_flat.get(name, _ABSENT))}"
        for name in changed[:5]
    )
    more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
    return [f"the replay ran with a different config: {shown}{more}"]


_ABSENT = object()


def _brief(value: Any) -> str:
    return "(none)" if value is _ABSENT else json.dumps(value, ensure_ascii=False)[:60]
