"""One launch, several processes: which rank this process is, and the command that launched it.

torchrun, ``accelerate launch``, ``srun`` and ``mpirun`` start the same
program once per rank and tell each process its place through environment
variables. Every rank of a launch gets the same launch id from them (and two
launches at once get different ones), so the ranks find one run without a
rendezvous of maggot's own: rank 0 claims it, the others join it.
"""

from __future__ import annotations

import hashlib
import os
import shlex
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from maggot.records import DistributedLaunch

# set by users for launchers maggot does not know, or to tell launches apart by hand
ENV_LAUNCH_ID = "MAGGOT_LAUNCH_ID"
# set by a rank for the processes it starts: they inherit the launcher's variables,
# but are no rank of the launch themselves
ENV_RANK_PROCESS = "MAGGOT_RANK_PROCESS"
# how long a rank waits for rank 0 to record the run (seconds)
ENV_RANK_WAIT = "MAGGOT_RANK_WAIT"
DEFAULT_RANK_WAIT_SECONDS = 300.0

TORCHRUN_VARIABLES = (
    "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "GROUP_WORLD_SIZE",
    "ROLE_RANK", "ROLE_NAME", "ROLE_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
    "TORCHELASTIC_RUN_ID", "TORCHELASTIC_RESTART_COUNT", "TORCHELASTIC_MAX_RESTARTS",
    "TORCHELASTIC_USE_AGENT_STORE", "TORCHELASTIC_ERROR_FILE",
)  # fmt: skip
SLURM_VARIABLES = (
    "SLURM_JOB_ID", "SLURM_STEP_ID", "SLURM_PROCID", "SLURM_LOCALID", "SLURM_NODEID",
    "SLURM_NTASKS", "SLURM_STEP_NUM_TASKS", "SLURM_STEP_NUM_NODES", "SLURM_STEP_TASKS_PER_NODE",
    "SLURM_CPUS_PER_TASK", "SLURM_NNODES",
)  # fmt: skip
OPEN_MPI_VARIABLES = (
    "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK",
    "OMPI_COMM_WORLD_LOCAL_SIZE", "OMPI_MCA_ess_base_jobid", "OMPI_MCA_orte_hnp_uri",
    "PMIX_NAMESPACE", "PMIX_RANK",
)  # fmt: skip
PMI_VARIABLES = ("PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID", "MPI_LOCALNRANKS")
# launchers that are Python programs: their own command replays with another interpreter
PYTHON_LAUNCHERS = ("torchrun", "accelerate")
# variables a launcher sets anew for every launch (job ids, ports, ranks)
_LAUNCH_VARIABLE_PREFIXES = ("OMPI_", "PMIX_", "PMI_", "SLURM_", "TORCHELASTIC_", "MPI_LOCAL")
# Open MPI's mpirun sets these for its network libraries
_OTHER_LAUNCH_VARIABLES = frozenset(("HFI_NO_BACKTRACE", "IPATH_NO_BACKTRACE"))
_MAX_ANCESTORS = 6
_SHELLS = ("sh", "bash", "dash", "zsh", "fish", "env", "time", "nohup")


class Rank(NamedTuple):
    """This process's place in a multi-process launch."""

    launcher: str
    rank: int
    world_size: int
    local_rank: int | None
    # the same for every process of one launch, different for two launches
    launch_id: str
    # the launcher's variables as this process got them
    variables: Mapping[str, str]


class LaunchCommand(NamedTuple):
    """The launcher's command line, as far as it can be recovered from a rank."""

    argv: tuple[str, ...] = ()
    # where it was found ("the parent process", "SLURM_* variables")
    source: str | None = None
    # index in ``argv`` where the per-rank program starts (None: argv is a Python program)
    program_index: int | None = None
    # what is missing when it was not found
    missing: str | None = None


def current_rank(environ: Mapping[str, str] | None = None) -> Rank | None:
    """This process's rank when a multi-process launcher started it, else None.

    A launch of one process is no multi-process launch: it is an ordinary run,
    and so is a process a rank started (an evaluation script run from rank 0).
    """
    env = os.environ if environ is None else environ
    if env.get(ENV_RANK_PROCESS, str(os.getpid())) != str(os.getpid()):
        return None
    found = _torch_rank(env) or _open_mpi_rank(env) or _pmi_rank(env) or _slurm_rank(env)
    if found is None or found.world_size < 2 or not 0 <= found.rank < found.world_size:
        return None
    explicit = env.get(ENV_LAUNCH_ID)
    if explicit:
        found = found._replace(launch_id=_digest(f"user:{explicit}"))
    return found


def is_launch_variable(name: str) -> bool:
    """Whether a launcher sets ``name`` for each launch (a rank, a job id, a port).

    Such values differ between any two launches and say nothing about the
    program's numbers; accelerate's settings (``ACCELERATE_*``) are not among them.
    """
    return (
        name in TORCHRUN_VARIABLES
        or name in _OTHER_LAUNCH_VARIABLES
        or name.startswith(_LAUNCH_VARIABLE_PREFIXES)
    )


def _int(env: Mapping[str, str], name: str) -> int | None:
    try:
        return int(env[name])
    except (KeyError, ValueError):
        return None


def _digest(identity: str) -> str:
    return hashlib.sha256(identity.encode("utf-8", "surrogateescape")).hexdigest()[:20]


def _variables(env: Mapping[str, str], names: Sequence[str], prefix: str = "") -> dict[str, str]:
    """The launcher's variables as recorded: secret-looking values redacted, as in ``environ``."""
    from maggot.secrets import redact_environ

    return redact_environ(
        {
            name: value
            for name, value in env.items()
            if name in names or (prefix and name.startswith(prefix))
        }
    )


def _torch_rank(env: Mapping[str, str]) -> Rank | None:
    rank, world_size = _int(env, "RANK"), _int(env, "WORLD_SIZE")
    if rank is None or world_size is None or "MASTER_PORT" not in env:
        return None
    accelerate = any(name.startswith("ACCELERATE_") for name in env)
    if "TORCHELASTIC_RUN_ID" in env:
        launcher = "accelerate" if accelerate else "torchrun"
        # the run id is "none" unless given: the rendezvous address tells launches apart
        identity = ":".join(
            env.get(name, "")
            for name in (
                "TORCHELASTIC_RUN_ID",
                "MASTER_ADDR",
                "MASTER_PORT",
                "TORCHELASTIC_RESTART_COUNT",
            )
        )
    else:
        launcher = "accelerate" if accelerate else "torch.distributed"
        identity = f"{env.get('MASTER_ADDR', '')}:{env['MASTER_PORT']}"
    return Rank(
        launcher=launcher,
        rank=rank,
        world_size=world_size,
        local_rank=_int(env, "LOCAL_RANK"),
        launch_id=_digest(f"torch:{identity}"),
        variables=_variables(env, TORCHRUN_VARIABLES, "ACCELERATE_" if accelerate else ""),
    )


def _open_mpi_rank(env: Mapping[str, str]) -> Rank | None:
    def identity() -> str:
        # the job id and the address of the mpirun that started it
        names = ("PMIX_NAMESPACE", "OMPI_MCA_ess_base_jobid", "OMPI_MCA_orte_hnp_uri")
        return "ompi:" + ":".join(env.get(name, "") for name in names)

    names = ("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK")
    return _rank_of(env, "mpirun", names, identity, OPEN_MPI_VARIABLES)


def _pmi_rank(env: Mapping[str, str]) -> Rank | None:
    def identity() -> str:
        # MPICH's mpiexec gives no job id: the mpiexec process (one node) tells launches apart
        ancestor = _launcher_ancestor(("mpiexec", "mpirun", "mpiexec.hydra"))
        if ancestor is not None:
            return f"pmi:{_host()}:{ancestor[0]}:{_start_ticks(ancestor[0])}"
        return f"pmi:{env.get('SLURM_JOB_ID', '')}.{env.get('SLURM_STEP_ID', '')}"

    names = ("PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID")
    return _rank_of(env, "mpiexec", names, identity, PMI_VARIABLES)


def _rank_of(
    env: Mapping[str, str],
    launcher: str,
    names: tuple[str, str, str],
    identity: Callable[[], str],
    variables: Sequence[str],
) -> Rank | None:
    """The rank from the variables ``names`` (rank, world size, local rank), if set."""
    rank, world_size = _int(env, names[0]), _int(env, names[1])
    if rank is None or world_size is None:
        return None
    return Rank(
        launcher=launcher,
        rank=rank,
        world_size=world_size,
        local_rank=_int(env, names[2]),
        launch_id=_digest(identity()),
        variables=_variables(env, variables),
    )


def _slurm_rank(env: Mapping[str, str]) -> Rank | None:
    # a batch script has no step id: it runs once, whatever the job's task count
    if "SLURM_STEP_ID" not in env or "SLURM_JOB_ID" not in env:
        return None
    rank = _int(env, "SLURM_PROCID")
    world_size = _int(env, "SLURM_STEP_NUM_TASKS") or _int(env, "SLURM_NTASKS")
    if rank is None or world_size is None:
        return None
    return Rank(
        launcher="srun",
        rank=rank,
        world_size=world_size,
        local_rank=_int(env, "SLURM_LOCALID"),
        launch_id=_digest(f"slurm:{env['SLURM_JOB_ID']}.{env['SLURM_STEP_ID']}"),
        variables=_variables(env, SLURM_VARIABLES),
    )


def _host() -> str:
    import socket

    return socket.gethostname()


def _start_ticks(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            return file.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return ""


def _ancestors() -> list[tuple[int, list[str]]]:
    from maggot.origin import ancestors

    return list(ancestors(_MAX_ANCESTORS))


def _launcher_ancestor(names: Sequence[str]) -> tuple[int, list[str]] | None:
    for pid, argv in _ancestors():
        if argv and os.path.basename(argv[0]) in names:
            return pid, argv
    return None


def program_arguments(argv: Sequence[str]) -> list[str]:
    """A Python command line without the interpreter and its options: script and arguments."""
    from maggot.origin import program_end

    end = program_end(argv)
    if end < 2:
        return []
    return list(argv[end - 2 :] if argv[end - 2] == "-m" else argv[end - 1 :])


def recover_launch(rank: Rank, process_argv: Sequence[str]) -> LaunchCommand:
    """The command that started every rank of this launch, as far as this process can tell.

    The launcher is found among this process's ancestors: the nearest one
    whose command line ends with this rank's program and arguments (torchrun,
    accelerate, mpirun). Slurm starts tasks from ``slurmstepd``, so an
    ``srun`` is rebuilt from the ``SLURM_*`` variables.
    """
    program = program_arguments(process_argv)
    for _pid, argv in _ancestors() if program else []:
        if len(argv) <= len(program) or os.path.basename(argv[0]) in _SHELLS:
            continue
        if argv[len(argv) - len(program) :] != program:
            continue
        start = len(argv) - len(program)
        if rank.launcher in PYTHON_LAUNCHERS or _is_python(argv[0]):
            return LaunchCommand(tuple(argv), "the parent process")
        # the per-rank program starts at its interpreter, just before the script
        index = start - 1 if start > 1 and _is_python(argv[start - 1]) else start
        return LaunchCommand(tuple(argv), "the parent process", program_index=index)
    if rank.launcher == "srun":
        return _srun_command(rank, process_argv)
    parent = _ancestors()[:1]
    seen = shlex.join(parent[0][1]) if parent else "no parent process found"
    return LaunchCommand(
        missing=(
            f"the {rank.launcher} command line: no ancestor process runs this rank's "
            f"program (parent: {seen})"
        )
    )


def _srun_command(rank: Rank, process_argv: Sequence[str]) -> LaunchCommand:
    env = rank.variables
    argv = ["srun", f"--ntasks={rank.world_size}"]
    nodes = env.get("SLURM_STEP_NUM_NODES") or env.get("SLURM_NNODES")
    if nodes and nodes != "1":
        argv.append(f"--nodes={nodes}")
    if env.get("SLURM_CPUS_PER_TASK"):
        argv.append(f"--cpus-per-task={env['SLURM_CPUS_PER_TASK']}")
    return LaunchCommand(
        (*argv, *process_argv), "SLURM_* variables (other srun options are not recorded)", len(argv)
    )


def _is_python(program: str) -> bool:
    name = os.path.basename(program)
    return name.startswith(("python", "pypy")) and not name.endswith((".py", "-config"))


def describe(rank: Rank, process_argv: Sequence[str]) -> DistributedLaunch:
    """What rank 0 records in run.json about the launch."""
    launch = recover_launch(rank, process_argv)
    return DistributedLaunch(
        launcher=rank.launcher,
        world_size=rank.world_size,
        launch_id=rank.launch_id,
        command_argv=launch.argv,
        source=launch.source,
        program_index=launch.program_index,
        rank_command_argv=tuple(process_argv),
        missing=launch.missing,
        variables=dict(rank.variables),
    )


def replay_launch(
    launch: DistributedLaunch,
    replay_program: Sequence[str],
    launcher_cmd: Sequence[str] | None,
) -> tuple[list[str] | None, str]:
    """The launch command a replay runs, and what the plan says about it.

    ``replay_program`` is the per-rank program with the replay's interpreter.
    Returns None for the command when the recorded launch is a Python program
    (torchrun, accelerate) to be replayed as any interpreter command, or when it
    is unknown and no ``launcher_cmd`` supplies it (the replay then runs one process).
    """
    processes = f"{launch.world_size} processes"
    if launcher_cmd:
        return (
            [*launcher_cmd, *replay_program],
            f"the replay starts the ranks with --launcher-cmd ({shlex.join(launcher_cmd)}); "
            f"the run was launched with {processes} by {launch.launcher}",
        )
    if not launch.command_argv:
        return None, (
            f"the run was launched with {processes} by {launch.launcher}, but "
            f"{launch.missing or 'its command line was not recorded'}; the replay runs one "
            "process: pass --launcher-cmd 'LAUNCHER -n N ...' to replay the launch"
        )
    note = (
        f"the replay starts the recorded {launch.launcher} launch again ({processes}, "
        f"as recorded; the launch was taken from {launch.source})"
    )
    if launch.program_index is None:
        return None, note
    return [*launch.command_argv[: launch.program_index], *replay_program], note
