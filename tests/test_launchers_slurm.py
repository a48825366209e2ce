"""The Slurm launcher against a real one-node cluster (``bash tests/slurm/cluster.sh start``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from toolkit import commit_all, run_maggot

from maggot import store, sweep

SKIP_REASON = "no Slurm cluster here: run 'bash tests/slurm/cluster.sh start' (as root)"


def _cluster_ready() -> bool:
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return False
    try:
        import submitit  # noqa: F401
    except ImportError:
        return False
    completed = subprocess.run(
        ["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, check=False, timeout=30
    )
    return completed.returncode == 0 and any(
        state.strip() in ("idle", "mix", "alloc") for state in completed.stdout.splitlines()
    )


@pytest.fixture(scope="module")
def cluster() -> None:
    if _cluster_ready():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must run the Slurm tests: {SKIP_REASON}")
    pytest.skip(SKIP_REASON)


TRAIN = textwrap.dedent(
    """
    import argparse, os
    parser = argparse.ArgumentParser()
    parser.add_argument("--x", type=int)
    parser.add_argument("--fail", type=int, default=-1)
    args = parser.parse_args()
    print(f"score={args.x * 3} on={os.environ.get('SLURM_ARRAY_TASK_ID')}")
    raise SystemExit(5 if args.x == args.fail else 0)
    """
)
PATTERN = r"(?P<name>score)=(?P<value>\d+)"


@pytest.fixture
def project(repo: Path, cluster: None) -> Path:
    (repo / "train.py").write_text(TRAIN)
    commit_all(repo, "train")
    return repo


def load(repo: Path) -> sweep.SweepRecord:
    (sweep_id,) = sweep.list_sweeps(str(repo / "experiments"))
    return sweep.load_sweep(sweep.find_sweep(sweep_id, str(repo / "experiments")))


def test_slurm_sweep_runs_every_job_as_an_array_and_records_each_run(project):
    result = run_maggot(
        "sweep", "--launcher", "slurm", "--slurm-parallelism", "2", "--time", "5",
        "-p", "x=1,2,3,4", "-p", "fail=3", "--metric-pattern", PATTERN,
        "--", sys.executable, "train.py", "--x", "{x}", "--fail", "{fail}", cwd=project,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "submitted as Slurm job array" in result.stderr
    record = load(project)
    states = sweep.job_states(record)
    assert [state.state for state in states] == ["completed", "completed", "failed", "completed"]
    assert "job 2 failed" in result.stdout
    # submitit's folder is the sweep's own, on the shared experiments directory
    assert any(Path(record.sweep_dir, "slurm").iterdir())
    for state in states:
        assert state.run_dir is not None
        meta = Path(state.run_dir, ".maggot")
        info = json.loads((meta / "run.json").read_text())
        assert info["sweep"] == {"id": record.sweep_id, "job": state.job}
        assert json.loads((meta / "results.json").read_text()) == {"score": state.values["x"] * 3}
        job_file = json.loads(Path(record.sweep_dir, "jobs", f"{state.job}.json").read_text())
        assert job_file["slurm_job_id"].endswith(f"_{state.job}")
        head = json.loads((meta / "git" / "head.json").read_text())
        assert head["repo_root"] == str(project)
    status = run_maggot("sweep", "status", record.sweep_id, cwd=project)
    assert "3 completed, 1 failed" in status.stdout


def test_detach_returns_after_submitting_and_status_follows_up(project):
    result = run_maggot(
        "sweep", "--launcher", "slurm", "--detach", "-p", "x=5,6,7,8", "--cpus", "1",
        "--sbatch", "comment=from-maggot", "--metric-pattern", PATTERN,
        "--", sys.executable, "train.py", "--x", "{x}", cwd=project,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    record = load(project)
    assert f"maggot sweep status {record.sweep_id}" in result.stdout
    (array_id,) = json.loads(Path(record.sweep_dir, "slurm", "arrays.json").read_text())
    shown = subprocess.run(
        ["scontrol", "show", "job", array_id], capture_output=True, text=True, check=True
    ).stdout
    # the pass-through sbatch option reached Slurm
    assert "Comment=from-maggot" in shown
    from maggot.launchers import slurm

    states = slurm.wait(record, range(4), lambda states: None)
    assert [state.state for state in states] == ["completed"] * 4
    runs = [state.run_dir for state in states if state.run_dir]
    assert sorted(store.find_run_dirs(project / "experiments")) == sorted(runs)


REQUEUED = textwrap.dedent(
    """
    import argparse, os, signal
    parser = argparse.ArgumentParser()
    parser.add_argument("--x", type=int)
    parser.add_argument("--ready")
    args = parser.parse_args()
    print(f"attempt {os.environ.get('SLURM_RESTART_COUNT', '0')}", flush=True)
    if os.environ.get("SLURM_RESTART_COUNT", "0") == "0":
        with open(args.ready, "w") as fifo:
            fifo.write("ready\\n")
        signal.pause()
    print(f"score={args.x}")
    """
)


def wait_for_job_state(job_id: str, wanted: str) -> None:
    """Poll squeue (the scheduler's own state; nothing here can signal it) for a job state."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = subprocess.run(
            ["squeue", "-h", "-j", job_id, "-o", "%t"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if state == wanted:
            return
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} never reached state {wanted}")


def test_a_requeued_job_continues_its_own_run(project, tmp_path):
    (project / "requeued.py").write_text(REQUEUED)
    commit_all(project, "requeued")
    ready = tmp_path / "ready"
    os.mkfifo(ready)
    result = run_maggot(
        "sweep", "--launcher", "slurm", "--detach", "--name", "rq{x}", "-p", "x=7",
        "--metric-pattern", PATTERN, "--",
        sys.executable, "requeued.py", "--x", "{x}", "--ready", str(ready), cwd=project,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with open(ready) as fifo:
        assert fifo.read() == "ready\n"
    record = load(project)
    job_file = json.loads(Path(record.sweep_dir, "jobs", "0.json").read_text())
    slurm_id = job_file["slurm_job_id"]
    subprocess.run(["scontrol", "requeue", slurm_id], check=True)
    requeued_at = time.monotonic()
    # Slurm holds a requeued job for two minutes once it is pending again: start it now, but
    # not within the second its first attempt was killed in, or slurmd refuses the launch
    # ("Job credential revoked": revocations are compared by whole seconds) and the job fails
    wait_for_job_state(slurm_id, "PD")
    time.sleep(max(0.0, requeued_at + 1.5 - time.monotonic()))
    subprocess.run(["scontrol", "update", f"jobid={slurm_id}", "starttime=now"], check=True)
    from maggot.launchers import slurm

    (state,) = slurm.wait(record, [0], lambda states: None)
    assert state.state == "completed"
    assert store.find_run_dirs(project / "experiments") == [str(project / "experiments" / "rq7")]
    info = json.loads((project / "experiments" / "rq7" / ".maggot" / "run.json").read_text())
    # the first start, ended by the preemption, and the requeued job's continue
    assert [entry["kind"] for entry in info["entries"]] == ["start", "continue"]
    assert info["entries"][0]["status"] != "running"
    assert info["entries"][1]["status"] == "completed"
    assert json.loads((project / "experiments/rq7/.maggot/results.json").read_text()) == {
        "score": 7
    }


SECRET_TRAIN = textwrap.dedent(
    """
    import hashlib, os, sys
    token = sys.argv[sys.argv.index("--token") + 1]
    ok = hashlib.sha256(token.encode()).hexdigest() == os.environ["TOKEN_SHA256"]
    print(f"score={int(ok)}")
    """
)


def test_slurm_jobs_get_the_secret_sweep_json_redacts(project):
    import hashlib

    (project / "secret_train.py").write_text(SECRET_TRAIN)
    commit_all(project, "secret")
    token = "sk-" + "Qw3Er4Ty5Ui6Op7As8Df9Gh0"
    result = run_maggot(
        "sweep", "--launcher", "slurm", "--time", "5", "-p", "x=1,2", "--metric-pattern",
        PATTERN, "--", sys.executable, "secret_train.py", "--token", token, "--x", "{x}",
        cwd=project, env={"TOKEN_SHA256": hashlib.sha256(token.encode()).hexdigest()},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    record = load(project)
    assert token not in Path(record.sweep_dir, "sweep.json").read_text()
    for path in Path(record.sweep_dir, "slurm").rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path
    for state in sweep.job_states(record):
        assert state.state == "completed"
        results = json.loads(Path(state.run_dir, ".maggot", "results.json").read_text())
        assert results == {"score": 1}
