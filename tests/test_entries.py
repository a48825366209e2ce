from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from toolkit import git

from maggot import Experiment, entries
from maggot.errors import CorruptRunError
from maggot.experiment import utc_now


def run_info(run_dir: str | Path) -> dict:
    return json.loads(Path(run_dir, ".maggot", "run.json").read_text())


def _join_run(experiments: str, barrier, results) -> None:  # type: ignore[no-untyped-def]
    barrier.wait()
    exp = Experiment(config={"a": 1}, experiments_dir=experiments, if_exists_mode="continue")
    with exp:
        pass
    results.put(os.getpid())


def _join_together(experiments: str, count: int) -> set[int]:
    """Start ``count`` processes that join one run at the same moment; their pids."""
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(count), context.Queue()
    processes = [
        context.Process(target=_join_run, args=(experiments, barrier, results))
        for _ in range(count)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    return {results.get(timeout=5) for _ in processes}


def test_simultaneous_continue_starts_keep_every_entry(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    experiments = str(tmp_path / "experiments")
    with Experiment(config={"a": 1}, experiments_dir=experiments):
        pass
    pids = _join_together(experiments, 8)
    info = run_info(os.path.join(experiments, "1"))
    kinds = [entry["kind"] for entry in info["entries"]]
    assert kinds == ["start"] + ["continue"] * 8
    assert {entry["pid"] for entry in info["entries"][1:]} == pids
    assert all(entry["status"] == "completed" for entry in info["entries"])
    assert info["status"] == "completed"


def test_simultaneous_first_starts_record_one_start_and_every_continue(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    experiments = str(tmp_path / "experiments")
    pids = _join_together(experiments, 8)
    run_dir = os.path.join(experiments, "1")
    info = run_info(run_dir)
    assert sorted(entry["kind"] for entry in info["entries"]) == ["continue"] * 7 + ["start"]
    assert info["entries"][0]["kind"] == "start"
    assert {entry["pid"] for entry in info["entries"]} == pids
    assert info["pid"] == info["entries"][0]["pid"]
    assert all(entry["status"] == "completed" for entry in info["entries"])
    assert sorted(os.listdir(experiments)) == ["1"]
    assert json.loads(Path(run_dir, ".maggot", "config.json").read_text()) == {"a": 1}


def test_resume_of_a_failed_run_is_recorded_as_a_resume(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RuntimeError), Experiment(config={"a": 1}) as exp:
        raise RuntimeError("out of memory")
    first = run_info(exp.experiment_dir)
    with Experiment(resume_from=exp.experiment_dir):
        print("resumed")
    info = run_info(exp.experiment_dir)
    first_entry, resume_entry = info["entries"]
    assert first_entry == first["entries"][0]
    assert first_entry["status"] == "failed"
    assert first_entry["exit"] == {"type": "RuntimeError", "message": "out of memory"}
    assert resume_entry["kind"] == "resume" and resume_entry["status"] == "completed"
    assert info["status"] == "completed" and info["started_at"] == first["started_at"]
    assert info["duration_seconds"] == pytest.approx(
        first_entry["duration_seconds"] + resume_entry["duration_seconds"], abs=0.002
    )
    assert "resumed\n" in Path(exp.experiment_dir, ".maggot", resume_entry["log"]).read_text()


def test_reading_a_run_does_not_add_an_entry(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with Experiment(config={"a": 1}) as exp:
        exp.register_result("loss", 0.5)
    assert Experiment(resume_from=exp.experiment_dir).results.loss == 0.5
    assert len(run_info(exp.experiment_dir)["entries"]) == 1


def test_continue_records_a_changed_code_state(repo, monkeypatch):
    monkeypatch.chdir(repo)
    with Experiment(config={"a": 1}):
        pass
    with Experiment(config={"a": 1}, if_exists_mode="continue"):
        pass
    (repo / "README.md").write_text("changed\n")
    with Experiment(config={"a": 1}, if_exists_mode="continue") as exp:
        pass
    unchanged, changed = run_info(exp.experiment_dir)["entries"][1:]
    assert "code" not in unchanged
    assert changed["code"]["commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert len(changed["code"]["patch_sha256"]) == 64


def test_runs_written_before_entries_get_them_rebuilt():
    info = {
        "status": "completed",
        "started_at": "2026-01-01T00:00:00.000Z",
        "duration_seconds": 3.0,
        "command_argv": ["python", "train.py"],
        "continued": [{"at": "2026-01-02T00:00:00.000Z", "command_argv": ["python", "t.py"]}],
    }
    first, later = entries.read_entries(info)
    assert (first.kind, first.status, first.duration_seconds) == ("start", "completed", 3.0)
    assert (later.kind, later.started_at, later.command_argv) == (
        "continue",
        "2026-01-02T00:00:00.000Z",
        ["python", "t.py"],
    )


def start_a_run_that_waits(tmp_path: Path) -> subprocess.Popen[str]:
    """A process recording experiments/1, once it has started; it waits on its stdin."""
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, sys
            from maggot import Experiment
            with Experiment(config={"a": 1}):
                print("started", flush=True)
                sys.stdin.read()
            """
        )
    )
    process = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "started\n"
    return process


def kill(process: subprocess.Popen[str]) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.communicate()


def test_a_killed_run_is_listed_as_killed_without_rewriting_it(tmp_path):
    process = start_a_run_that_waits(tmp_path)
    run_dir = tmp_path / "experiments" / "1"
    assert entries.live_status(run_info(run_dir)) == "running"
    kill(process)
    before = (run_dir / ".maggot" / "run.json").read_bytes()
    assert entries.live_status(run_info(run_dir)) == "killed"
    assert (run_dir / ".maggot" / "run.json").read_bytes() == before


def test_a_killed_run_resumed_to_its_end_is_completed(tmp_path):
    kill(start_a_run_that_waits(tmp_path))
    run_dir = tmp_path / "experiments" / "1"
    with Experiment(resume_from=str(run_dir)):
        pass
    info = run_info(run_dir)
    # the killed entry keeps what was recorded; the run follows the entry that ended
    assert [entry["status"] for entry in info["entries"]] == ["running", "completed"]
    assert info["status"] == "completed"
    assert entries.live_status(info) == "completed"


def finished_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A completed run of ``{"a": 1}`` in tmp_path/experiments; its run.json."""
    monkeypatch.chdir(tmp_path)
    with Experiment(config={"a": 1}) as exp:
        pass
    return Path(exp.experiment_dir, ".maggot", "run.json")


def test_a_resumed_run_stays_running_while_another_host_s_entry_runs(tmp_path, monkeypatch):
    path = finished_run(tmp_path, monkeypatch)
    info = json.loads(path.read_text())
    info["entries"].append({"id": "x", "status": "running", "hostname": "elsewhere", "pid": 1})
    path.write_text(json.dumps(info))
    with Experiment(resume_from=str(path.parent.parent)):
        pass
    assert json.loads(path.read_text())["status"] == "running"


def test_a_running_run_of_another_host_is_not_called_killed():
    info = {
        "status": "running",
        "entries": [{"status": "running", "hostname": "elsewhere", "pid": 1}],
    }
    assert entries.live_status(info) == "running"


def test_corrupt_run_json_is_refused_not_rewritten(tmp_path, monkeypatch):
    path = finished_run(tmp_path, monkeypatch)
    path.write_text("{not json")
    with pytest.raises(CorruptRunError):
        Experiment(config={"a": 1}, if_exists_mode="continue")
    assert path.read_text() == "{not json"


def test_a_reused_pid_does_not_keep_a_killed_run_running():
    from maggot import capture

    # an entry from 2001 cannot be this process's, which started later: its pid was reused
    entry = {"status": "running", "hostname": capture.host_name(), "pid": os.getpid()}
    old = {"status": "running", "entries": [{**entry, "started_at": "2001-01-01T00:00:00.000Z"}]}
    assert entries.live_status(old) == ("killed" if Path("/proc/self/stat").exists() else "running")
    current = {"status": "running", "entries": [{**entry, "started_at": utc_now()}]}
    assert entries.live_status(current) == "running"
