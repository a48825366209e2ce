"""Real multi-process launchers: Open MPI's ``mpirun`` and Slurm's ``srun``.

``mpirun`` comes from Debian's openmpi-bin (``apt-get install -y openmpi-bin``,
as ``.ci/run`` does); ``srun`` from the one-node cluster of
``bash tests/slurm/cluster.sh start``. Without them these tests skip, and under
``CI=true`` they fail instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from toolkit import commit_all, run_maggot

from maggot import store

MPI_SKIP = "no Open MPI here: run 'apt-get install -y openmpi-bin' (as .ci/run does)"
SLURM_SKIP = "no Slurm cluster here: run 'bash tests/slurm/cluster.sh start' (as root)"
MPIRUN = ("mpirun", "--allow-run-as-root", "--oversubscribe", "-n", "2")
TRAIN = textwrap.dedent(
    """
    import argparse, os
    from maggot import Experiment

    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float)
    args = parser.parse_args()
    rank = int(os.environ.get("OMPI_COMM_WORLD_RANK") or os.environ["SLURM_PROCID"])
    with Experiment(config={"lr": args.lr}) as exp:
        print(f"rank {rank} trains", flush=True)
        exp.register_result("score", args.lr * 10 + rank, per_rank=True)
        exp.register_result("lr", args.lr)
    """
)


def _require(ready: bool, reason: str) -> None:
    if ready:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the multi-process launcher tests: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def mpi() -> None:
    _require(shutil.which("mpirun") is not None, MPI_SKIP)


@pytest.fixture(scope="module")
def cluster() -> None:
    ready = False
    if shutil.which("srun") is not None and shutil.which("sinfo") is not None:
        completed = subprocess.run(
            ["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, check=False, timeout=30
        )
        ready = completed.returncode == 0 and any(
            state.strip() in ("idle", "mix", "alloc") for state in completed.stdout.splitlines()
        )
    _require(ready, SLURM_SKIP)


@pytest.fixture
def project(repo: Path) -> Path:
    (repo / "train.py").write_text(TRAIN)
    commit_all(repo, "train")
    return repo


def run(project: Path, *command: str) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        command, cwd=project, capture_output=True, text=True, timeout=180, check=False
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed


def run_info(run_dir: Path) -> dict[str, Any]:
    return store.read_json_object(store.meta_path(run_dir, store.RUN_FILE))


def assert_one_run_of_two_ranks(run_dir: Path) -> dict[str, Any]:
    assert [path.name for path in run_dir.parent.iterdir()] == [run_dir.name]
    info = run_info(run_dir)
    assert info["status"] == "completed"
    assert sorted(item["rank"] for item in info["entries"] if "rank" in item) == [0, 1]
    assert store.read_results(str(run_dir))["score"] == {"rank-0": 5.0, "rank-1": 6.0}
    logs = sorted(Path(store.meta_path(run_dir, store.LOGS_DIR)).rglob("rank-*"))
    assert [path.read_text() for path in logs] == ["rank 0 trains\n", "rank 1 trains\n"]
    return info


def assert_reproduced_with_two_processes(project: Path, run_name: str) -> str:
    replayed = run_maggot("reproduce", f"experiments/{run_name}", "--yes", cwd=project)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "reproduced: all 3 results match" in replayed.stdout
    replay_info = run_info(project / "experiments" / f"{run_name}.repro-1")
    assert sorted(item["rank"] for item in replay_info["entries"] if "rank" in item) == [0, 1]
    [launch] = [line for line in replayed.stdout.splitlines() if line.startswith("  launch")]
    assert "maggot: warning" not in replayed.stderr
    return launch


def test_an_mpirun_launch_is_one_run_that_reproduces(mpi: None, project: Path) -> None:
    run(project, *MPIRUN, sys.executable, "train.py", "--lr", "0.5")
    info = assert_one_run_of_two_ranks(project / "experiments" / "0.5")
    assert info["command_argv"] == [*MPIRUN, sys.executable, "train.py", "--lr", "0.5"]
    assert info["distributed"]["launcher"] == "mpirun"
    notes = assert_reproduced_with_two_processes(project, "0.5")
    assert "mpirun launch again (2 processes" in notes


def test_maggot_run_of_an_mpirun_launch_is_one_run(mpi: None, project: Path) -> None:
    recorded = run_maggot(
        "run", "--", *MPIRUN, sys.executable, "train.py", "--lr", "0.5", cwd=project
    )
    assert recorded.returncode == 0, recorded.stderr
    info = assert_one_run_of_two_ranks(project / "experiments" / "0.5")
    assert info["launched_command"][:5] == list(MPIRUN)
    assert [item["kind"] for item in info["entries"]] == ["start", "rank", "rank"]
    assert info["distributed"]["world_size"] == 2
    notes = assert_reproduced_with_two_processes(project, "0.5")
    assert "the replay runs the recorded launch again (mpirun" in notes


def test_an_srun_launch_is_one_run_that_reproduces(cluster: None, project: Path) -> None:
    run(project, "srun", "-n", "2", sys.executable, "train.py", "--lr", "0.5")
    info = assert_one_run_of_two_ranks(project / "experiments" / "0.5")
    assert info["command_argv"] == ["srun", "--ntasks=2", sys.executable, "train.py", "--lr", "0.5"]
    assert info["distributed"]["source"].startswith("SLURM_* variables")
    notes = assert_reproduced_with_two_processes(project, "0.5")
    assert "srun launch again (2 processes" in notes


def test_a_sweep_of_srun_launches_gives_one_run_per_launch(cluster: None, project: Path) -> None:
    swept = run_maggot(
        "sweep", "-p", "lr=0.5,0.75", "--", "srun", "-n", "2", sys.executable, "train.py",
        "--lr", "{lr}", cwd=project,
    )  # fmt: skip
    assert swept.returncode == 0, swept.stdout + swept.stderr
    runs = sorted(path.name for path in (project / "experiments").iterdir() if path.name[0] != ".")
    assert runs == ["0.5", "0.75"]
    for name in runs:
        info = run_info(project / "experiments" / name)
        assert info["status"] == "completed"
        assert sorted(item["rank"] for item in info["entries"] if "rank" in item) == [0, 1]
