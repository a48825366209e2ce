"""Multi-process launches: rank detection, launch recovery, and one run per launch.

The torchrun/accelerate conventions are tested with a small launcher that sets
exactly the variables torchrun sets for its workers (torch itself is too large
to install for tests); real mpirun and srun are in test_ranks_launchers.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from toolkit import commit_all, run_maggot

from maggot import params, ranks, store
from maggot.records import DistributedLaunch

# what torchrun's local elastic agent sets for each worker (torch 2.x)
LAUNCHER = textwrap.dedent(
    """
    import os, socket, subprocess, sys, uuid

    accelerate = sys.argv[1] == "--accelerate"
    arguments = sys.argv[2:] if accelerate else sys.argv[1:]
    nproc, program = int(arguments[0]), arguments[1:]
    if not os.path.basename(program[0]).startswith("python"):
        program = [sys.executable, "-u", *program]  # torchrun runs a script this way
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run_id = os.environ.get("FAKE_RUN_ID") or uuid.uuid4().hex
    processes = []
    for rank in range(nproc):
        env = dict(os.environ)
        env.update(
            LOCAL_RANK=str(rank), RANK=str(rank), GROUP_RANK="0", ROLE_RANK=str(rank),
            ROLE_NAME="default", LOCAL_WORLD_SIZE=str(nproc), WORLD_SIZE=str(nproc),
            GROUP_WORLD_SIZE="1", ROLE_WORLD_SIZE=str(nproc), MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port), TORCHELASTIC_RESTART_COUNT="0",
            TORCHELASTIC_MAX_RESTARTS="0", TORCHELASTIC_RUN_ID=run_id,
            TORCHELASTIC_USE_AGENT_STORE="True", TORCH_NCCL_ASYNC_ERROR_HANDLING="1",
        )
        if accelerate:
            env.update(ACCELERATE_MIXED_PRECISION="no", ACCELERATE_DYNAMO_BACKEND="NO")
        processes.append(subprocess.Popen(program, env=env))
    sys.exit(max(process.wait() for process in processes))
    """
)
TRAIN = textwrap.dedent(
    """
    import argparse, os
    from maggot import Experiment

    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float)
    parser.add_argument("--fail-rank", type=int, default=-1)
    parser.add_argument("--tag", default="")
    args = parser.parse_args()
    rank = int(os.environ["RANK"])
    config = {"lr": args.lr}
    with Experiment(config=config, if_exists_mode="increment") as exp:
        print(f"rank {rank} says hello", flush=True)
        exp.register_result("score", args.lr * 10 + rank)
        exp.register_result("accuracy", args.lr + rank, per_rank=True)
        exp.register_result("tag", args.tag)
        if rank == 1:
            exp.register_result("only_rank_1", 7)
        exp.log_metric("loss", float(rank), step=0)
        if rank == args.fail_rank:
            raise ValueError(f"rank {rank} gives up")
    """
)


def torch_environment(rank: int, world_size: int = 2, port: str = "29500") -> dict[str, str]:
    return {
        "RANK": str(rank),
        "LOCAL_RANK": str(rank),
        "WORLD_SIZE": str(world_size),
        "LOCAL_WORLD_SIZE": str(world_size),
        "GROUP_RANK": "0",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": port,
        "TORCHELASTIC_RUN_ID": "none",
        "TORCHELASTIC_RESTART_COUNT": "0",
        "PATH": "/usr/bin",
    }


def test_torchrun_ranks_share_a_launch_id_that_differs_between_launches() -> None:
    first, second = (ranks.current_rank(torch_environment(rank)) for rank in (0, 1))
    assert first is not None and second is not None
    assert (first.launcher, first.rank, second.rank, first.world_size) == ("torchrun", 0, 1, 2)
    assert second.local_rank == 1
    assert first.launch_id == second.launch_id
    other = ranks.current_rank(torch_environment(0, port="29501"))
    assert other is not None and other.launch_id != first.launch_id
    assert "PATH" not in first.variables and first.variables["MASTER_PORT"] == "29500"


def test_accelerate_variables_name_the_launcher() -> None:
    env = {**torch_environment(0), "ACCELERATE_MIXED_PRECISION": "fp16"}
    found = ranks.current_rank(env)
    assert found is not None and found.launcher == "accelerate"
    assert found.variables["ACCELERATE_MIXED_PRECISION"] == "fp16"


@pytest.mark.parametrize(
    ("env", "launcher", "rank"),
    [
        (
            {
                "OMPI_COMM_WORLD_RANK": "1",
                "OMPI_COMM_WORLD_SIZE": "4",
                "OMPI_COMM_WORLD_LOCAL_RANK": "1",
                "PMIX_NAMESPACE": "1234",
            },
            "mpirun",
            1,
        ),
        (
            {
                "SLURM_JOB_ID": "7",
                "SLURM_STEP_ID": "0",
                "SLURM_PROCID": "2",
                "SLURM_STEP_NUM_TASKS": "3",
                "SLURM_NTASKS": "8",
            },
            "srun",
            2,
        ),
        ({"PMI_RANK": "0", "PMI_SIZE": "2"}, "mpiexec", 0),
    ],
)
def test_mpi_and_slurm_ranks(env: dict[str, str], launcher: str, rank: int) -> None:
    found = ranks.current_rank(env)
    assert found is not None
    assert (found.launcher, found.rank) == (launcher, rank)


def test_single_processes_and_batch_scripts_are_no_launch() -> None:
    assert ranks.current_rank({}) is None
    assert ranks.current_rank(torch_environment(0, world_size=1)) is None
    # an sbatch script of a 2-task job runs once: it has no step id
    batch = {"SLURM_JOB_ID": "7", "SLURM_PROCID": "0", "SLURM_NTASKS": "2"}
    assert ranks.current_rank(batch) is None
    assert ranks.current_rank({**torch_environment(0), "RANK": "five"}) is None


def test_an_explicit_launch_id_tells_launches_apart() -> None:
    first = ranks.current_rank({**torch_environment(0), ranks.ENV_LAUNCH_ID: "a"})
    second = ranks.current_rank({**torch_environment(0), ranks.ENV_LAUNCH_ID: "b"})
    assert first is not None and second is not None
    assert first.launch_id != second.launch_id


@given(
    world_size=st.integers(min_value=2, max_value=64),
    job=st.integers(min_value=1, max_value=10**9),
    step=st.integers(min_value=0, max_value=10**4),
    data=st.data(),
)
def test_every_rank_of_a_slurm_step_gets_the_same_launch_id(
    world_size: int, job: int, step: int, data: st.DataObject
) -> None:
    def rank_of(procid: int, step_id: int) -> ranks.Rank:
        found = ranks.current_rank(
            {
                "SLURM_JOB_ID": str(job),
                "SLURM_STEP_ID": str(step_id),
                "SLURM_PROCID": str(procid),
                "SLURM_STEP_NUM_TASKS": str(world_size),
            }
        )
        assert found is not None
        return found

    procid = data.draw(st.integers(min_value=0, max_value=world_size - 1))
    assert rank_of(procid, step).launch_id == rank_of(0, step).launch_id
    assert rank_of(procid, step + 1).launch_id != rank_of(0, step).launch_id


def test_launch_variables_are_told_from_settings() -> None:
    assert ranks.is_launch_variable("SLURM_JOB_ID")
    assert ranks.is_launch_variable("MASTER_PORT")
    assert ranks.is_launch_variable("OMPI_COMM_WORLD_RANK")
    assert not ranks.is_launch_variable("ACCELERATE_MIXED_PRECISION")
    assert not ranks.is_launch_variable("OMP_NUM_THREADS")


def test_replay_launch_repeats_or_rebuilds_the_launch() -> None:
    program = ["/venv/python", "train.py", "--lr", "0.1"]
    mpirun = DistributedLaunch(
        launcher="mpirun",
        world_size=2,
        command_argv=("mpirun", "-n", "2", "python", "train.py", "--lr", "0.1"),
        source="the parent process",
        program_index=3,
    )
    command, note = ranks.replay_launch(mpirun, program, None)
    assert command == ["mpirun", "-n", "2", *program]
    assert "2 processes" in note
    torchrun = mpirun._replace(launcher="torchrun", program_index=None)
    assert ranks.replay_launch(torchrun, program, None)[0] is None
    unknown = mpirun._replace(command_argv=(), missing="the mpirun command line: gone")
    command, note = ranks.replay_launch(unknown, program, None)
    assert command is None
    assert "the mpirun command line: gone" in note and "--launcher-cmd" in note
    command, note = ranks.replay_launch(unknown, program, ["srun", "-n", "2"])
    assert command == ["srun", "-n", "2", *program]


def test_launcher_options_are_not_parameters() -> None:
    command = ["mpirun", "--oversubscribe", "-n", "2", "python", "-u", "train.py", "--lr", "0.1"]
    assert params.parameters_config(command) == {"lr": 0.1}
    assert params.parameters_config(["torchrun", "--nproc-per-node", "2", "t.py", "--x=3"]) == {
        "x": 3
    }
    assert params.parameters_config(["srun", "-n", "2", "./a.out", "--x", "1"]) == {"n": 2, "x": 1}


@pytest.fixture
def project(repo: Path) -> Path:
    (repo / "launch.py").write_text(LAUNCHER)
    (repo / "train.py").write_text(TRAIN)
    commit_all(repo, "train")
    return repo


def launch(
    project: Path, *arguments: str, env: dict[str, str] | None = None, exit_code: int = 0
) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        [sys.executable, "launch.py", *arguments],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    assert completed.returncode == exit_code, completed.stderr
    return completed


def start_rank(
    project: Path, rank: int, port: str, *arguments: str, stdin: Any = None
) -> subprocess.Popen[str]:
    """One rank started the way torchrun starts it, by this test (an unknown launcher)."""
    return subprocess.Popen(
        [sys.executable, "-u", *arguments],
        cwd=project,
        env={**os.environ, **torch_environment(rank, port=port), "PATH": os.environ["PATH"]},
        stdin=stdin,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_info(run_dir: Path) -> dict[str, Any]:
    return store.read_json_object(store.meta_path(run_dir, store.RUN_FILE))


def reproduce_with_two_ranks(project: Path, run_name: str, *options: str) -> str:
    """Reproduce the run, check every result matched and both ranks replayed; the notes."""
    replayed = run_maggot("reproduce", f"experiments/{run_name}", "--yes", *options, cwd=project)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "reproduced: all" in replayed.stdout
    replay_info = run_info(project / "experiments" / f"{run_name}.repro-1")
    assert sorted(item["rank"] for item in replay_info["entries"]) == [0, 1]
    # how the processes are started is a line of the plan, not a warning
    [launch] = [line for line in replayed.stdout.splitlines() if line.startswith("  launch")]
    assert "maggot: warning" not in replayed.stderr
    return launch


def test_a_torchrun_launch_is_one_run_that_reproduces_with_two_processes(project: Path) -> None:
    launch(project, "2", "train.py", "--lr", "0.5")
    runs = sorted(path.name for path in (project / "experiments").iterdir())
    assert runs == ["0.5"]
    run_dir = project / "experiments" / "0.5"
    info = run_info(run_dir)
    assert info["status"] == "completed"
    assert info["command_argv"][1:] == ["launch.py", "2", "train.py", "--lr", "0.5"]
    assert info["distributed"]["launcher"] == "torchrun"
    assert info["distributed"]["world_size"] == 2
    assert info["distributed"]["rank_command_argv"][1:] == ["-u", "train.py", "--lr", "0.5"]
    assert [(item["kind"], item["rank"]) for item in info["entries"]] == [("start", 0), ("rank", 1)]
    # rank 0's value of a shared name, every rank's with per_rank, a name only rank 1 has
    assert store.read_results(str(run_dir)) == {
        "score": 5.0,
        "accuracy": {"rank-0": 0.5, "rank-1": 1.5},
        "tag": "",
        "only_rank_1": 7,
    }
    log_dir = Path(store.meta_path(run_dir, info["entries"][0]["log"])).parent
    assert sorted(path.name for path in log_dir.iterdir()) == ["rank-0", "rank-1"]
    assert (log_dir / "rank-1").read_text() == "rank 1 says hello\n"
    shown = run_maggot("show", "experiments/0.5", cwd=project)
    assert shown.returncode == 0, shown.stderr
    assert "rank 0 says hello" in shown.stdout and "rank 1 says hello" not in shown.stdout
    assert "other ranks: rank-1" in shown.stdout
    assert "launch    torchrun, 2 processes\n" in shown.stdout
    notes = reproduce_with_two_ranks(project, "0.5")
    assert "torchrun launch again (2 processes" in notes


def test_series_from_every_rank_land_in_the_run(project: Path) -> None:
    launch(project, "2", "train.py", "--lr", "0.25")
    from maggot import series

    found, problems = series.read_series(str(project / "experiments" / "0.25"))
    assert problems == []
    assert sorted(found["loss"].values) == [0.0, 1.0]


def test_accelerate_launch_is_recorded_as_such(project: Path) -> None:
    launch(project, "--accelerate", "2", "train.py", "--lr", "0.75")
    info = run_info(project / "experiments" / "0.75")
    assert info["distributed"]["launcher"] == "accelerate"
    assert info["distributed"]["variables"]["ACCELERATE_MIXED_PRECISION"] == "no"
    assert info["command_argv"][1:3] == ["launch.py", "--accelerate"]


def test_a_rank_that_fails_fails_the_run_and_is_named(project: Path) -> None:
    launch(project, "2", "train.py", "--lr", "0.2", "--fail-rank", "1", exit_code=1)
    info = run_info(project / "experiments" / "0.2")
    assert info["status"] == "failed"
    assert info["failed_ranks"] == [1]
    assert info["exit"] == {
        "type": "RankFailed",
        "message": "rank 1 failed (ValueError: rank 1 gives up)",
    }
    statuses = {item["rank"]: item["status"] for item in info["entries"]}
    assert statuses == {0: "completed", 1: "failed"}


def test_ranks_wait_for_a_slow_rank_zero_then_join(project: Path) -> None:
    second = start_rank(project, 1, "29611", "train.py", "--lr", "0.3")
    assert second.stderr is not None
    # the barrier: rank 1 says it is waiting before rank 0 even starts
    assert "rank 1 waits for rank 0" in second.stderr.readline()
    first = start_rank(project, 0, "29611", "train.py", "--lr", "0.3")
    assert first.wait(timeout=60) == 0 and second.wait(timeout=60) == 0
    assert [path.name for path in (project / "experiments").iterdir()] == ["0.3"]
    info = run_info(project / "experiments" / "0.3")
    assert sorted(item["rank"] for item in info["entries"]) == [0, 1]
    assert info["status"] == "completed"


def test_a_rank_whose_rank_zero_never_comes_gives_up_clearly(project: Path) -> None:
    env = {**os.environ, **torch_environment(1, port="29612"), ranks.ENV_RANK_WAIT: "0"}
    env["PATH"] = os.environ["PATH"]
    completed = subprocess.run(
        [sys.executable, "train.py", "--lr", "0.4"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 1
    assert "rank 1 of a torchrun launch: rank 0 recorded no run at experiments/0.4" in (
        completed.stderr
    )
    assert not (project / "experiments" / "0.4").exists()


RACE = textwrap.dedent(
    """
    import os, sys
    from maggot import Experiment

    sys.stdin.read(1)  # the barrier: every rank of both launches starts here at once
    with Experiment(config={"lr": 0.1}, if_exists_mode="increment") as exp:
        exp.register_result("launch", os.environ["MASTER_PORT"], per_rank=True)
    """
)


def test_two_launches_of_one_config_at_once_stay_two_runs(project: Path) -> None:
    (project / "race.py").write_text(RACE)
    processes = [
        start_rank(project, rank, port, "race.py", stdin=subprocess.PIPE)
        for port in ("29621", "29622")
        for rank in (0, 1)
    ]
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("x")
        process.stdin.close()
    for process in processes:
        assert process.wait(timeout=60) == 0, process.stderr.read() if process.stderr else ""
    runs = sorted((project / "experiments").iterdir())
    assert [path.name for path in runs] == ["0.1", "0.1_1"]
    ports = set()
    for run_dir in runs:
        info = run_info(run_dir)
        assert sorted(item["rank"] for item in info["entries"]) == [0, 1]
        assert len({item["launch_id"] for item in info["entries"]}) == 1
        results = store.read_results(str(run_dir))["launch"]
        assert results["rank-0"] == results["rank-1"]
        ports.add(results["rank-0"])
    assert ports == {"29621", "29622"}


def test_an_unknown_launch_is_said_and_launcher_cmd_supplies_it(project: Path) -> None:
    processes = [start_rank(project, rank, "29631", "train.py", "--lr", "0.6") for rank in (0, 1)]
    assert all(process.wait(timeout=60) == 0 for process in processes)
    info = run_info(project / "experiments" / "0.6")
    assert info["distributed"]["command_argv"] == []
    assert "no ancestor process runs this rank's program" in info["distributed"]["missing"]
    planned = run_maggot("reproduce", "experiments/0.6", "--dry-run", cwd=project)
    assert planned.returncode == 0, planned.stderr
    assert "the replay runs one process: pass --launcher-cmd" in planned.stderr
    notes = reproduce_with_two_ranks(project, "0.6", "--launcher-cmd", "python launch.py 2")
    assert "with --launcher-cmd (python launch.py 2)" in notes


def test_launcher_cmd_must_parse(project: Path) -> None:
    launch(project, "2", "train.py", "--lr", "0.5")
    refused = run_maggot("reproduce", "experiments/0.5", "--launcher-cmd", "'mpirun", cwd=project)
    assert refused.returncode == 2
    assert "--launcher-cmd" in refused.stderr and "Traceback" not in refused.stderr


def test_secret_looking_launcher_variables_are_redacted() -> None:
    found = ranks.current_rank({**torch_environment(0), "ACCELERATE_HUB_TOKEN": "hf_abc"})
    assert found is not None
    assert found.variables["ACCELERATE_HUB_TOKEN"] == "<redacted>"


def test_maggot_run_of_a_launch_names_the_rank_that_failed(project: Path) -> None:
    recorded = run_maggot(
        "run", "--", sys.executable, "launch.py", "2", "train.py", "--lr", "0.9",
        "--fail-rank", "1", cwd=project,
    )  # fmt: skip
    assert recorded.returncode == 1
    (run_dir,) = (project / "experiments").iterdir()
    info = run_info(run_dir)
    assert info["status"] == "failed"
    assert info["failed_ranks"] == [1]
    assert "rank 1 failed (ValueError: rank 1 gives up)" in info["exit"]["message"]
    assert [item["kind"] for item in info["entries"]] == ["start", "rank", "rank"]
    assert info["distributed"]["launcher"] == "torchrun"
    assert store.read_results(str(run_dir))["score"] == 9.0


def test_a_rerun_of_a_launch_starts_the_launch_again(project: Path) -> None:
    launch(project, "2", "train.py", "--lr", "0.5")
    rerun = run_maggot("rerun", "experiments/0.5", "--set", "lr=0.25", "--yes", cwd=project)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    info = run_info(project / "experiments" / "0.25")
    assert info["status"] == "completed"
    assert sorted(item["rank"] for item in info["entries"] if "rank" in item) == [0, 1]
    assert info["launched_command"][1:] == ["launch.py", "2", "train.py", "--lr", "0.25"]
    assert store.read_results(str(project / "experiments" / "0.25"))["score"] == 2.5


def test_a_process_started_by_a_rank_is_no_rank() -> None:
    env = {**torch_environment(1), ranks.ENV_RANK_PROCESS: str(os.getpid() + 1)}
    assert ranks.current_rank(env) is None
    env[ranks.ENV_RANK_PROCESS] = str(os.getpid())
    assert ranks.current_rank(env) is not None
