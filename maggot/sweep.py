"""Sweeps: many runs of one command template, all from one frozen code state.

A sweep lives in ``<experiments>/.sweeps/<id>/``::

    sweep.json        the record: command template, parameters, jobs, launcher
    .maggot/git/      the code state snapshotted once, when the sweep started
    code/             that code state rebuilt (a detached git worktree); jobs run here
    jobs/<n>.json     one file per started job, written by the job itself
    slurm/            submitit's folder (Slurm sweeps)

Job states come from the jobs' own files and run.json, never from a scheduler's
accounting, so they are right without ``sacct``.
"""

from __future__ import annotations

import calendar
import contextlib
import itertools
import math
import os
import random
import re
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from maggot import gitsnap, launch, params, secrets, signals, store
from maggot.errors import MaggotError, NotARunError
from maggot.experiment import STATUS_TERMINATED
from maggot.params import ParameterError
from maggot.paths import is_within
from maggot.records import SweepJob, redacted_argument_from_json
from maggot.secrets import RedactedArgument

if TYPE_CHECKING:
    import subprocess

SWEEP_FILE = "sweep.json"
JOBS_DIR = "jobs"
CODE_DIR = "code"
SLURM_DIR = "slurm"
SWEEP_FORMAT_VERSION = 1
MAX_JOBS_WITHOUT_YES = 1000
MODES = ("grid", "zip", "random")
LAUNCHERS = ("local", "slurm")

STATE_PENDING = "pending"
STATE_LOST = "lost"
# the job's run was removed with ``maggot rm``; --resume runs the job again
STATE_REMOVED = "removed"
# how many folders above a run ``job_of_run`` looks for the sweep's experiments directory
_SWEEP_SEARCH_DEPTH = 3
FINAL_STATES = (
    store.STATUS_COMPLETED,
    store.STATUS_FAILED,
    store.STATUS_INTERRUPTED,
    STATUS_TERMINATED,
    STATE_LOST,
    STATE_REMOVED,
)
_RANGE = re.compile(r"^([^:]+):([^:]+):(?:(log|lin):)?(\d+)$")


class SweepError(MaggotError):
    """A sweep that cannot be found or continued."""


class SweepParameter(NamedTuple):
    """One ``-p KEY=VALUES`` option: a key and its values in order."""

    key: str
    values: tuple[Any, ...]


class SweepSpec(NamedTuple):
    """A sweep as the user asked for it, checked but not yet created."""

    command: tuple[str, ...]
    parameters: tuple[SweepParameter, ...]
    mode: str
    seed: int | None
    jobs: tuple[dict[str, Any], ...]
    experiments_dir: str
    launcher: str
    launcher_options: dict[str, Any]
    name_template: str | None = None
    if_exists: str = "increment"
    results_file: str | None = None
    metric_pattern: str | None = None


class SweepRecord(NamedTuple):
    """A created sweep, as sweep.json holds it.

    ``spec.command`` is the real command template: sweep.json holds it with
    secrets redacted (``redacted``), and a record read back gets their values
    from the environment; ``unsupplied`` are those it could not find there.
    """

    sweep_id: str
    sweep_dir: str
    created_at: str
    spec: SweepSpec
    # where jobs run: the frozen tree's copy of the working directory (or, outside a
    # git repository, the working directory itself)
    job_cwd: str
    code_dir: str | None
    env: dict[str, str]
    notes: tuple[str, ...]
    # ignored files and directories of the checkout, linked into the frozen tree
    ignored_from_checkout: tuple[str, ...] = ()
    checkout: str | None = None
    redacted: tuple[RedactedArgument, ...] = ()
    unsupplied: tuple[RedactedArgument, ...] = ()


class JobState(NamedTuple):
    """Where one job of a sweep stands."""

    job: int
    values: dict[str, Any]
    state: str  # pending, running, completed, failed, interrupted, terminated, lost
    run_dir: str | None
    detail: str


def parse_parameter(text: str, cwd: str = "") -> SweepParameter:
    """``KEY=a,b,c``, ``KEY=START:STOP:log:N`` (or ``lin``), or ``KEY=@FILE`` (one value a line)."""
    key, equals, spec = text.partition("=")
    key = key.strip()
    if not equals or not key:
        raise ParameterError(f"-p {text!r}: expected KEY=VALUES (e.g. lr=0.01,0.1)")
    if spec.startswith("@"):
        path = os.path.join(cwd, spec[1:])
        try:
            with open(path, encoding="utf-8") as file:
                items = [line.strip() for line in file if line.strip()]
        except OSError as error:
            raise ParameterError(f"-p {key}: {spec[1:]}: {error.strerror}") from None
        values = tuple(params.parse_value(item) for item in items)
    elif ":" in spec and "," not in spec:
        values = _parse_range(key, spec)
    else:
        items = spec.split(",")
        if any(not item for item in items):
            raise ParameterError(f"-p {key}: empty value in {spec!r}")
        values = tuple(params.parse_value(item) for item in items)
    if not values:
        raise ParameterError(f"-p {key}: empty list of values")
    return SweepParameter(key, values)


def _parse_range(key: str, spec: str) -> tuple[Any, ...]:
    match = _RANGE.match(spec)
    start = stop = None
    if match:
        start, stop = params.parse_value(match.group(1)), params.parse_value(match.group(2))
    if (
        match is None
        or not isinstance(start, (int, float))
        or not isinstance(stop, (int, float))
        or int(match.group(4)) < 1
    ):
        raise ParameterError(
            f"-p {key}={spec}: malformed range; expected START:STOP:log:N or START:STOP:lin:N "
            "(N values, N >= 1)"
        )
    count = int(match.group(4))
    scale = match.group(3) or "lin"
    if scale == "log" and (start <= 0 or stop <= 0):
        raise ParameterError(f"-p {key}={spec}: a log range needs START and STOP above 0")
    fractions = [index / (count - 1) if count > 1 else 0.0 for index in range(count)]
    if scale == "log":
        low, high = math.log10(start), math.log10(stop)
        raw = [10 ** (low + (high - low) * fraction) for fraction in fractions]
    else:
        raw = [start + (stop - start) * fraction for fraction in fractions]
    values: list[Any] = [float(f"{value:.12g}") for value in raw]
    integers = scale == "lin" and isinstance(start, int) and isinstance(stop, int)
    if integers and all(value.is_integer() for value in values):
        values = [int(value) for value in values]
    return tuple(values)


def expand(
    parameters: Sequence[SweepParameter], mode: str, count: int | None, seed: int | None
) -> list[dict[str, Any]]:
    """The jobs' values: every combination (grid), the lists paired (zip), or random draws."""
    keys = [parameter.key for parameter in parameters]
    if len(set(keys)) != len(keys):
        raise ParameterError(f"-p: a key is given twice ({', '.join(keys)})")
    if mode == "zip":
        lengths = {len(parameter.values) for parameter in parameters}
        if len(lengths) > 1:
            raise ParameterError(
                "--zip: the lists differ in length ("
                + ", ".join(f"{p.key}: {len(p.values)}" for p in parameters)
                + ")"
            )
        rows = list(zip(*(parameter.values for parameter in parameters)))
    else:
        rows = list(itertools.product(*(parameter.values for parameter in parameters)))
    if mode == "random":
        if count is None or count < 1:
            raise ParameterError("--random N: N must be at least 1")
        if count > len(rows):
            raise ParameterError(f"--random {count}: only {len(rows)} combinations to draw from")
        rows = random.Random(seed).sample(rows, count)
    return [dict(zip(keys, row)) for row in rows]


def plan_sweep(
    command: Sequence[str],
    parameter_texts: Sequence[str],
    *,
    mode: str = "grid",
    count: int | None = None,
    seed: int | None = None,
    experiments_dir: str = "experiments",
    launcher: str = "local",
    launcher_options: Mapping[str, Any] | None = None,
    name_template: str | None = None,
    if_exists: str = "increment",
    results_file: str | None = None,
    metric_pattern: str | None = None,
    allow_many: bool = False,
) -> SweepSpec:
    """Check a sweep request completely before anything is created.

    Raises ParameterError (or LaunchError) for an unknown placeholder, a
    ``-p`` key the command never uses, an empty or malformed list, or more
    than 1,000 jobs without ``allow_many``.
    """
    if not command:
        raise ParameterError("no command given (put it after --)")
    if not parameter_texts:
        raise ParameterError("no parameters to sweep: give at least one -p KEY=VALUES")
    parameters = [parameter_texts_to_parameter(text) for text in parameter_texts]
    keys = [parameter.key for parameter in parameters]
    used = params.used_placeholders(command)
    unknown = sorted(used - set(keys))
    if unknown:
        raise ParameterError(
            f"the command uses {{{unknown[0]}}}, which no -p gives (swept: {', '.join(keys)})"
        )
    unused = [key for key in keys if key not in used]
    if unused:
        raise ParameterError(
            f"-p {unused[0]}: the command never uses {{{unused[0]}}}; put it in the command"
        )
    unknown = sorted(set(params.placeholders(results_file or "")) - set(keys))
    if unknown:
        raise ParameterError(
            f"--results {results_file}: uses {{{unknown[0]}}}, which no -p gives "
            f"(swept: {', '.join(keys)})"
        )
    jobs = expand(parameters, mode, count, seed)
    if len(jobs) > MAX_JOBS_WITHOUT_YES and not allow_many:
        raise ParameterError(
            f"the sweep has {len(jobs)} jobs (more than {MAX_JOBS_WITHOUT_YES}): pass --yes "
            "to launch them"
        )
    first = params.render_command(command, jobs[0])
    launch.check_request(
        launch.RunRequest(
            command=tuple(first),
            name_template=name_template,
            if_exists=if_exists,
            extra_params=tuple(jobs[0].items()),
            metric_pattern=metric_pattern,
        )
    )
    return SweepSpec(
        command=tuple(command),
        parameters=tuple(parameters),
        mode=mode,
        seed=seed,
        jobs=tuple(jobs),
        experiments_dir=os.path.abspath(experiments_dir),
        launcher=launcher,
        launcher_options=dict(launcher_options or {}),
        name_template=name_template,
        if_exists=if_exists,
        results_file=results_file,
        metric_pattern=metric_pattern,
    )


def parameter_texts_to_parameter(text: str) -> SweepParameter:
    """One ``-p`` option, with ``@FILE`` relative to the current directory."""
    return parse_parameter(text, os.getcwd())


def sweeps_root(experiments_dir: str) -> str:
    """Where the sweeps of an experiments directory are kept."""
    return os.path.join(experiments_dir, store.SWEEPS_DIR)


def _claim_sweep_dir(experiments_dir: str) -> tuple[str, str]:
    """A new sweep id and its directory.

    The id is the UTC time to the microsecond, then a random suffix: ids sort
    in the order the sweeps started, and ``mkdir`` makes each one unique.
    """
    root = sweeps_root(experiments_dir)
    os.makedirs(root, exist_ok=True)
    # later than every sweep here, even when the clock was set back meanwhile
    floor = max((_started_microseconds(name) for name in _sweep_names(root)), default=-1) + 1
    while True:
        microseconds = max(time.time_ns() // 1000, floor)
        seconds, fraction = divmod(microseconds, 1_000_000)
        sweep_id = (
            time.strftime("%Y%m%d-%H%M%S", time.gmtime(seconds))
            + f"-{fraction:06d}-{random.randrange(16**4):04x}"
        )
        path = os.path.join(root, sweep_id)
        try:
            # mkdir claims the id: never "list, then pick the next one" (stale on NFS)
            os.mkdir(path)
        except FileExistsError:
            continue
        return sweep_id, path


_SWEEP_ID = re.compile(r"^(\d{8}-\d{6})(?:-(\d{6}))?-[0-9a-f]{4}$")


def _started_microseconds(sweep_id: str) -> int:
    """When a sweep started, from its id (-1 for a name that is no sweep id).

    Ids without microseconds (the first sweeps) count from the start of their second.
    """
    match = _SWEEP_ID.match(sweep_id)
    if match is None:
        return -1
    stamp = time.strptime(match.group(1), "%Y%m%d-%H%M%S")
    seconds = calendar.timegm(stamp)
    return seconds * 1_000_000 + int(match.group(2) or 0)


def _sweep_order(sweep_id: str) -> tuple[int, str]:
    return _started_microseconds(sweep_id), sweep_id


def _sweep_names(root: str) -> list[str]:
    try:
        return os.listdir(root)
    except FileNotFoundError:
        return []


def create_sweep(spec: SweepSpec, provide_inputs: bool = True) -> SweepRecord:
    """Claim the sweep's id, snapshot the code once, rebuild it as the jobs' tree, record it.

    Git-ignored files and directories of the checkout (data sets, caches) are
    linked into the frozen tree, so jobs read them by their relative paths
    from the checkout the sweep started in, unless ``provide_inputs`` is false.
    """
    from maggot.experiment import utc_now

    cwd = os.getcwd()
    sweep_id, sweep_dir = _claim_sweep_dir(spec.experiments_dir)
    created_at = utc_now()
    # the interpreter that tells where the command imports from starts while git works
    probe = _start_import_paths_probe(spec.command, sweep_dir)
    try:
        return _create_sweep(spec, provide_inputs, cwd, sweep_id, sweep_dir, created_at, probe)
    finally:
        if probe is not None and probe[1].returncode is None:
            probe[1].kill()  # no frozen tree to point its imports at
            probe[1].communicate()


def _create_sweep(
    spec: SweepSpec,
    provide_inputs: bool,
    cwd: str,
    sweep_id: str,
    sweep_dir: str,
    created_at: str,
    probe: tuple[str, subprocess.Popen[str]] | None,
) -> SweepRecord:
    from maggot.replay import ENV_ORIGINAL_ROOT

    head = gitsnap.take_snapshot(sweep_dir, cwd, [spec.experiments_dir])
    notes: list[str] = []
    env: dict[str, str] = {}
    code_dir = None
    job_cwd = cwd
    linked: list[str] = []
    checkout = None
    if head.snapshot:
        from maggot import worktree

        toplevel = str(head.repo_root)
        code_dir = os.path.join(sweep_dir, CODE_DIR)
        snapshot = gitsnap.GitSnapshot(run_dir=sweep_dir, head=head)
        worktree.create_worktree(snapshot, toplevel, code_dir)
        if provide_inputs:
            from maggot import provide

            checkout = toplevel
            entries = provide.ignored_entries(toplevel, [spec.experiments_dir, sweep_dir])
            linked = provide.link_entries(toplevel, code_dir, entries)
        job_cwd = os.path.normpath(os.path.join(code_dir, head.cwd or ""))
        os.makedirs(job_cwd, exist_ok=True)
        env = _frozen_environment(probe, toplevel, code_dir)
        notes.extend(f"not in the snapshot: {item.path} ({item.reason})" for item in head.skipped)
        env[ENV_ORIGINAL_ROOT] = toplevel
        if linked:
            notes.append(
                f"jobs read (and write) these git-ignored paths of {toplevel} through links: "
                + ", ".join(linked[:5])
                + (f" and {len(linked) - 5} more" if len(linked) > 5 else "")
            )
    else:
        notes.append(
            f"no frozen code state ({head.reason}): jobs run in {cwd} as it is when each one starts"
        )
    record = SweepRecord(
        sweep_id=sweep_id,
        sweep_dir=sweep_dir,
        created_at=created_at,
        spec=spec,
        job_cwd=job_cwd,
        code_dir=code_dir,
        env=env,
        notes=tuple(notes),
        ignored_from_checkout=tuple(linked),
        checkout=checkout,
        redacted=tuple(redact_template(spec.command)[1]),
    )
    os.makedirs(os.path.join(sweep_dir, JOBS_DIR))
    store.write_json_atomic(os.path.join(sweep_dir, SWEEP_FILE), _record_to_json(record))
    return record


def ensure_code_tree(record: SweepRecord) -> bool:
    """Rebuild the frozen tree from the sweep's snapshot if it was removed; True if rebuilt."""
    if record.code_dir is None or os.path.isdir(record.code_dir):
        return False
    from maggot import worktree

    snapshot = gitsnap.load_snapshot(record.sweep_dir)
    worktree.create_worktree(snapshot, str(snapshot.head.repo_root), record.code_dir)
    if record.checkout is not None:
        from maggot import provide

        provide.link_entries(record.checkout, record.code_dir, record.ignored_from_checkout)
    os.makedirs(record.job_cwd, exist_ok=True)
    return True


def remove_code_tree(record: SweepRecord) -> None:
    """Remove the frozen tree (its git worktree); the snapshot stays, so it can be rebuilt."""
    if record.code_dir is None or not os.path.isdir(record.code_dir):
        return
    from maggot import worktree

    snapshot = gitsnap.load_snapshot(record.sweep_dir)
    repository = str(snapshot.head.repo_root)
    worktree.remove_worktree(worktree.Worktree(record.code_dir, None, repository, snapshot))


def _start_import_paths_probe(
    command: Sequence[str], cwd: str
) -> tuple[str, subprocess.Popen[str]] | None:
    """For a Python command: its interpreter, asked where it imports from (see replay)."""
    from maggot import replay

    program = command[0]
    if not re.match(r"^python[0-9.]*$", os.path.basename(program)):
        return None
    try:
        found = launch.find_program(program, os.getcwd())
    except MaggotError:
        return None
    return found, replay.start_import_paths(found, cwd)


def _frozen_environment(
    probe: tuple[str, subprocess.Popen[str]] | None, toplevel: str, code_dir: str
) -> dict[str, str]:
    """PYTHONPATH entries so imports from the checkout (editable installs) use the frozen tree."""
    from maggot import replay

    if probe is None:
        return {}
    try:
        paths = replay.finish_import_paths(*probe)
    except MaggotError:
        return {}
    entries = replay.replay_pythonpath(paths, [toplevel], code_dir)
    existing = [
        entry
        for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep)
        if entry and not is_within(os.path.abspath(entry), toplevel)
    ]
    entries += existing
    return {"PYTHONPATH": os.pathsep.join(entries)} if entries else {}


def redact_template(command: Sequence[str]) -> tuple[list[str], list[RedactedArgument]]:
    """A command template with secret values redacted, as a run's command is.

    A ``{placeholder}`` in a secret's place is kept: its values are the swept
    parameters, not a secret of the template.
    """
    redacted, found = secrets.redact_argv(command, os.environ)
    kept = []
    for item in found:
        if params.placeholders(command[item.position]):
            redacted[item.position] = command[item.position]
        else:
            kept.append(item)
    return redacted, kept


def restore_template(
    command: Sequence[str], redacted: Iterable[RedactedArgument]
) -> tuple[list[str], list[RedactedArgument]]:
    """The template with redacted values given back from the environment, as a replay
    takes them (``MAGGOT_ARG_N``, N the argument's place in the command, or the
    variable that held the value), and the arguments the environment does not supply."""
    from maggot.reproduce import secret_value

    restored = list(command)
    unsupplied = []
    for item in redacted:
        value = secret_value(item)
        if not 0 <= item.position < len(restored):
            continue
        if value is None:
            unsupplied.append(item)
        else:
            secrets.restore_argument(restored, item, value)
    return restored, unsupplied


def missing_secrets_message(record: SweepRecord) -> str:
    """What a user must set before this sweep's jobs can run (empty when nothing)."""
    if not record.unsupplied:
        return ""
    wanted = ", ".join(
        f"{item.label}: set {item.supply_variable}"
        + (f" (or {item.environment})" if item.environment else "")
        for item in record.unsupplied
    )
    return f"sweep {record.sweep_id}: the command's secrets were redacted when recorded ({wanted})"


@contextlib.contextmanager
def secrets_for_children(record: SweepRecord) -> Iterator[None]:
    """Put the redacted values in this process's environment (``MAGGOT_ARG_N``) while
    jobs that run elsewhere are submitted: they inherit it, and sweep.json never holds them.
    """
    added = {}
    for item in record.redacted:
        if item.environment and item.environment in os.environ:
            continue  # the jobs find it where the command got it
        added[item.supply_variable] = record.spec.command[item.position][len(item.prefix) :]
    previous = {name: os.environ.get(name) for name in added}
    os.environ.update(added)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def redacted_command(record: SweepRecord) -> list[str]:
    """The command template as sweep.json holds it: secrets redacted."""
    command = list(record.spec.command)
    for item in record.redacted:
        secrets.restore_argument(command, item, secrets.REDACTED)
    return command


def _record_to_json(record: SweepRecord) -> dict[str, Any]:
    spec = record.spec
    command = redacted_command(record)
    return {
        "format_version": SWEEP_FORMAT_VERSION,
        "id": record.sweep_id,
        "created_at": record.created_at,
        "command": command,
        "redacted_arguments": [item._asdict() for item in record.redacted],
        "parameters": [{"key": p.key, "values": list(p.values)} for p in spec.parameters],
        "mode": spec.mode,
        "seed": spec.seed,
        "jobs": [dict(values) for values in spec.jobs],
        "experiments_dir": spec.experiments_dir,
        "launcher": spec.launcher,
        "launcher_options": spec.launcher_options,
        "name_template": spec.name_template,
        "if_exists": spec.if_exists,
        "results_file": spec.results_file,
        "metric_pattern": spec.metric_pattern,
        "job_cwd": record.job_cwd,
        "code_dir": record.code_dir,
        "env": record.env,
        "notes": list(record.notes),
        "hostname": socket.gethostname(),
        "ignored_from_checkout": {
            "checkout": record.checkout,
            "paths": list(record.ignored_from_checkout),
        },
    }


def load_sweep(sweep_dir: str) -> SweepRecord:
    """Read a sweep's record back."""
    path = os.path.join(sweep_dir, SWEEP_FILE)
    try:
        data = store.read_json_object(path)
    except FileNotFoundError:
        raise SweepError(f"{sweep_dir}: no {SWEEP_FILE} (not a sweep?)") from None
    try:
        redacted = tuple(
            item
            for item in map(redacted_argument_from_json, data.get("redacted_arguments") or ())
            if item is not None
        )
        command, unsupplied = restore_template(data["command"], redacted)
        spec = SweepSpec(
            command=tuple(command),
            parameters=tuple(
                SweepParameter(item["key"], tuple(item["values"])) for item in data["parameters"]
            ),
            mode=data["mode"],
            seed=data.get("seed"),
            jobs=tuple(dict(values) for values in data["jobs"]),
            experiments_dir=data["experiments_dir"],
            launcher=data["launcher"],
            launcher_options=dict(data.get("launcher_options") or {}),
            name_template=data.get("name_template"),
            if_exists=data.get("if_exists", "increment"),
            results_file=data.get("results_file"),
            metric_pattern=data.get("metric_pattern"),
        )
        return SweepRecord(
            sweep_id=data["id"],
            sweep_dir=sweep_dir,
            created_at=data["created_at"],
            spec=spec,
            job_cwd=data["job_cwd"],
            code_dir=data.get("code_dir"),
            env=dict(data.get("env") or {}),
            notes=tuple(data.get("notes") or ()),
            **_ignored_from_checkout(data.get("ignored_from_checkout")),
            redacted=redacted,
            unsupplied=tuple(unsupplied),
        )
    except (KeyError, TypeError, AttributeError) as error:
        raise SweepError(f"{path}: unreadable sweep record ({error})") from None


def _ignored_from_checkout(data: Any) -> dict[str, Any]:
    """The record's linked ignored paths; none for sweeps recorded before they were linked."""
    if not isinstance(data, dict) or not isinstance(data.get("checkout"), str):
        return {}
    paths = data.get("paths")
    return {
        "checkout": data["checkout"],
        "ignored_from_checkout": tuple(path for path in paths if isinstance(path, str))
        if isinstance(paths, list)
        else (),
    }


def find_sweep(sweep_id: str, experiments_dir: str) -> str:
    """The directory of sweep ``sweep_id`` (an id, or the sweep's directory)."""
    if os.path.isfile(os.path.join(sweep_id, SWEEP_FILE)):
        return sweep_id
    candidate = os.path.join(sweeps_root(experiments_dir), sweep_id)
    if os.path.sep not in sweep_id and os.path.isfile(os.path.join(candidate, SWEEP_FILE)):
        return candidate
    raise SweepError(f"no sweep {sweep_id} under {sweeps_root(experiments_dir)}")


def list_sweeps(experiments_dir: str) -> list[str]:
    """The sweep ids under an experiments directory, oldest first (in the order they started)."""
    root = sweeps_root(experiments_dir)
    names = _sweep_names(root)
    found = [name for name in names if os.path.isfile(os.path.join(root, name, SWEEP_FILE))]
    return sorted(found, key=_sweep_order)


def newest_sweep(experiments_dir: str) -> str:
    """The id of the sweep that started last, or SweepError when there is none."""
    found = list_sweeps(experiments_dir)
    if not found:
        raise SweepError(f"no sweeps under {sweeps_root(experiments_dir)}")
    return found[-1]


def _job_file(sweep_dir: str, index: int) -> str:
    return os.path.join(sweep_dir, JOBS_DIR, f"{index}.json")


def _read_job_file(sweep_dir: str, index: int) -> dict[str, Any] | None:
    try:
        return store.read_json_object(_job_file(sweep_dir, index))
    except FileNotFoundError:
        return None
    except MaggotError:
        return {"error": "unreadable job file"}


def write_job_file(sweep_dir: str, index: int, **fields: Any) -> None:
    """Update one job's file (written by the job, or by the launcher for a job that never ran)."""
    data = _read_job_file(sweep_dir, index) or {"index": index}
    data.update(fields)
    store.write_json_atomic(_job_file(sweep_dir, index), data)


def _write_job_error(sweep_dir: str, index: int, fields: dict[str, Any], message: str) -> None:
    """Say that the job failed before its run could record how it ended."""
    write_job_file(sweep_dir, index, **fields, error=message, ended_at=_now())


class JobOfRun(NamedTuple):
    """The job file of a sweep that points at a run (see ``job_of_run``)."""

    sweep_dir: str
    job: int


def job_of_run(run_dir: str, job: SweepJob | None) -> JobOfRun | None:
    """The job file that names ``run_dir`` as the run of ``job`` (run.json's ``sweep``).

    The sweep is looked for in the folders above the run (its experiments
    directory holds ``.sweeps``); None when there is no such sweep, or when its
    job file names another run (a later attempt of the job) or cannot be read.
    """
    if job is None:
        return None
    folder = os.path.dirname(os.path.abspath(run_dir))
    here = os.path.realpath(run_dir)
    for _ in range(_SWEEP_SEARCH_DEPTH):
        sweep_dir = os.path.join(sweeps_root(folder), job.id)
        if os.path.isfile(os.path.join(sweep_dir, SWEEP_FILE)):
            data = _read_job_file(sweep_dir, job.job)
            named = data.get("run_dir") if data is not None else None
            if isinstance(named, str) and os.path.realpath(named) == here:
                return JobOfRun(sweep_dir, job.job)
            return None
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return None


def point_job_at(found: JobOfRun, run_dir: str) -> None:
    """Make the job file name the job's run at its new place (``maggot mv``)."""
    data = _read_job_file(found.sweep_dir, found.job) or {"index": found.job}
    data.pop("removed", None)  # a run moved back out of the trash and renamed is there again
    data["run_dir"] = os.path.abspath(run_dir)
    store.write_json_atomic(_job_file(found.sweep_dir, found.job), data)


def mark_job_removed(found: JobOfRun, trashed_to: str | None) -> None:
    """Say in the job file that its run was removed on purpose (``maggot rm``).

    ``run_dir`` keeps the old path: a run moved back there counts again.
    """
    write_job_file(found.sweep_dir, found.job, removed={"at": _now(), "trashed_to": trashed_to})


def job_results_file(spec: SweepSpec, index: int) -> str | None:
    """The ``--results`` file of one job: placeholders filled from its values."""
    if spec.results_file is None or not params.placeholders(spec.results_file):
        return spec.results_file
    return params.render(spec.results_file, spec.jobs[index], "--results")


def shared_results_file(spec: SweepSpec, indices: Sequence[int], at_once: int) -> str | None:
    """Why jobs running ``at_once`` at a time would read each other's ``--results`` file.

    Every job runs in the same directory: a file whose name does not change
    with the job is written by whichever job ends last.
    """
    if spec.results_file is None or at_once < 2 or len(indices) < 2:
        return None
    names = {job_results_file(spec, index) for index in indices}
    if len(names) == len(indices):
        return None
    keys = [parameter.key for parameter in spec.parameters]
    example = spec.results_file.rsplit(".", 1)
    suggestion = f"{example[0]}-{{{keys[0]}}}" + (f".{example[1]}" if len(example) > 1 else "")
    return (
        f"--results {spec.results_file}: jobs that run at once would read each other's "
        f"results; put the swept values in its name (--results '{suggestion}') or run one "
        "job at a time"
    )


def job_request(record: SweepRecord, index: int) -> launch.RunRequest:
    """The ``maggot run`` request of one job: its command, in the frozen tree.

    Raises SweepError when a secret of the command is not in the environment.
    """
    if record.unsupplied:
        raise SweepError(missing_secrets_message(record))
    values = record.spec.jobs[index]
    previous = _read_job_file(record.sweep_dir, index) or {}
    run_dir = previous.get("run_dir")
    # a requeued or resumed job continues its own run instead of starting another
    continue_run = run_dir if isinstance(run_dir, str) and store.is_run_dir(run_dir) else None
    return launch.RunRequest(
        command=tuple(params.render_command(record.spec.command, values)),
        experiments_dir=record.spec.experiments_dir,
        name_template=record.spec.name_template,
        if_exists=record.spec.if_exists,
        extra_params=tuple(values.items()),
        results_file=job_results_file(record.spec, index),
        metric_pattern=record.spec.metric_pattern,
        cwd=record.job_cwd,
        frozen_snapshot=record.sweep_dir if record.code_dir else None,
        sweep=SweepJob(record.sweep_id, index),
        continue_run=continue_run,
        env=tuple(record.env.items()),
    )


def run_job(
    sweep_dir: str,
    index: int,
    controls: launch.Controls | None = None,
    record: SweepRecord | None = None,
) -> int:
    """Run job ``index`` of a sweep and record it; what every launcher calls on its host.

    Returns the command's exit code (1 when the job could not start).
    """
    record = record or load_sweep(sweep_dir)
    where = {"hostname": socket.gethostname(), "pid": os.getpid(), **_scheduler_ids()}
    started = {"started_at": _now()}

    def claimed(run_dir: str) -> None:
        # the whole file, written anew: what an earlier attempt of the job wrote (an
        # error, its end) is not this attempt's, whose run.json says how it ends
        job = {"index": index, "run_dir": os.path.abspath(run_dir), **started, **where}
        store.write_json_atomic(_job_file(sweep_dir, index), job)

    try:
        outcome = launch.run_command(
            job_request(record, index), live=False, on_start=claimed, controls=controls
        )
    except signals.Terminated as error:
        # stopped before its command ran (or while the run was recorded): say so, then stop
        message = f"terminated by {error.signal_name}"
        _write_job_error(sweep_dir, index, {**started, **where}, message)
        raise
    except (MaggotError, OSError, SystemExit) as error:
        message = str(error) or type(error).__name__
        _write_job_error(sweep_dir, index, {**started, **where}, message)
        return 1
    # how it ended is in its run.json (status, exit code, end time): a second write of the
    # job file is one more file created per job, the costly part of a job's record here
    return outcome.exit_code


def _now() -> str:
    from maggot.experiment import utc_now

    return utc_now()


def _scheduler_ids() -> dict[str, str]:
    array_job = os.environ.get("SLURM_ARRAY_JOB_ID")
    task = os.environ.get("SLURM_ARRAY_TASK_ID")
    if array_job and task:
        return {"slurm_job_id": f"{array_job}_{task}"}
    job = os.environ.get("SLURM_JOB_ID")
    return {"slurm_job_id": job} if job else {}


def job_states(
    record: SweepRecord,
    indices: Iterable[int] | None = None,
    is_alive: Callable[[dict[str, Any]], bool | None] | None = None,
) -> list[JobState]:
    """Each job's state from its own job file and its run's run.json.

    ``is_alive(job_file)`` tells whether a job recorded as running still runs
    (None: cannot tell); by default a job on this host is alive while its
    process exists.
    """
    states = []
    renamed = _RenamedRuns(record.sweep_id)
    for index in indices if indices is not None else range(len(record.spec.jobs)):
        values = record.spec.jobs[index]
        data = _read_job_file(record.sweep_dir, index)
        states.append(_job_state(index, values, data, is_alive or process_alive, renamed))
    return states


class _RenamedRuns:
    """The runs of one sweep in a folder, by job, read once and only when a job's run is gone.

    A job file written before ``maggot mv`` kept it up to date (or a run
    renamed by hand) names a path that no longer exists; its run is the one
    in the same folder whose run.json names this sweep and job.
    """

    def __init__(self, sweep_id: str) -> None:
        self.sweep_id = sweep_id
        self.folders: dict[str, dict[int, list[tuple[str, list[str]]]]] = {}

    def find(self, missing_run_dir: str, job: int) -> str | None:
        folder = os.path.dirname(missing_run_dir)
        if folder not in self.folders:
            self.folders[folder] = self._scan(folder)
        candidates = self.folders[folder].get(job, [])
        old_name = os.path.basename(missing_run_dir)
        named = [path for path, earlier in candidates if old_name in earlier]
        if len(named) == 1:
            return named[0]
        return candidates[0][0] if len(candidates) == 1 else None

    def _scan(self, folder: str) -> dict[int, list[tuple[str, list[str]]]]:
        found: dict[int, list[tuple[str, list[str]]]] = {}
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return found
        for entry in entries:
            if entry.name.startswith(".") or not store.is_run_dir(entry.path):
                continue
            try:
                info = store.read_run_info(entry.path)
            except (OSError, MaggotError):
                continue
            if info.sweep is None or info.sweep.id != self.sweep_id:
                continue
            earlier = info.extra.get(store.RENAMED_FROM_KEY)
            names = (
                [name for name in earlier if isinstance(name, str)]
                if isinstance(earlier, list)
                else []
            )
            found.setdefault(info.sweep.job, []).append((entry.path, names))
        return found


def _job_state(
    index: int,
    values: dict[str, Any],
    data: dict[str, Any] | None,
    is_alive: Callable[[dict[str, Any]], bool | None],
    renamed: _RenamedRuns | None = None,
) -> JobState:
    if data is None:
        return JobState(index, values, STATE_PENDING, None, "")
    run_dir = data.get("run_dir") if isinstance(data.get("run_dir"), str) else None
    if data.get("error"):
        return JobState(index, values, store.STATUS_FAILED, run_dir, str(data["error"]))
    if run_dir is None:
        alive = is_alive(data)
        if alive is False:
            return JobState(index, values, STATE_LOST, None, "ended before claiming a run")
        return JobState(index, values, store.STATUS_RUNNING, None, "starting")
    try:
        run = store.load_run(run_dir, with_config=False, with_results=False)
    except NotARunError as error:
        removed = data.get("removed")
        if isinstance(removed, dict) and not os.path.lexists(run_dir):
            trashed_to = removed.get("trashed_to")
            detail = (
                f"moved to the trash: {trashed_to}"
                if isinstance(trashed_to, str)
                else "deleted by maggot rm"
            )
            return JobState(index, values, STATE_REMOVED, None, detail)
        moved_to = renamed.find(run_dir, index) if renamed is not None else None
        if moved_to is None:
            return JobState(index, values, STATE_LOST, run_dir, str(error))
        run_dir = moved_to
        run = store.load_run(run_dir, with_config=False, with_results=False)
    status = run.status
    if status == store.STATUS_RUNNING and is_alive(data) is False:
        return JobState(index, values, STATE_LOST, run_dir, "its process ended without a status")
    requeueable = (store.STATUS_INTERRUPTED, STATUS_TERMINATED, store.STATUS_FAILED)
    if status in requeueable and data.get("slurm_job_id") and is_alive(data):
        # preempted or requeued: Slurm runs it again, and it continues this run
        return JobState(index, values, store.STATUS_RUNNING, run_dir, "requeued")
    detail = ""
    if status == store.STATUS_FAILED and run.info.exit_code is not None:
        detail = f"exit code {run.info.exit_code}"
    return JobState(index, values, status, run_dir, detail)


def process_alive(job: dict[str, Any]) -> bool | None:
    """Whether a job's process still runs, when it ran on this host (else None)."""
    if job.get("hostname") != socket.gethostname() or not isinstance(job.get("pid"), int):
        return None
    if job.get("slurm_job_id"):
        return None
    try:
        os.kill(job["pid"], 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def unfinished(states: Iterable[JobState]) -> list[int]:
    """Jobs a ``--resume`` launches again: all but the completed ones and running ones."""
    return [
        state.job
        for state in states
        if state.state not in (store.STATUS_COMPLETED, store.STATUS_RUNNING)
    ]


def counts(states: Iterable[JobState]) -> dict[str, int]:
    """How many jobs are in each state."""
    totals: dict[str, int] = {}
    for state in states:
        totals[state.state] = totals.get(state.state, 0) + 1
    return totals
