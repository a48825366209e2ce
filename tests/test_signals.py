"""SIGTERM and SIGHUP, sent for real to real processes, once they say they are ready."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from toolkit import commit_all, git

from maggot import signals

# the script says "ready" once its run is live, then waits for a signal (no sleeps)
WAITING_RUN = textwrap.dedent(
    """
    import signal, sys
    from maggot import Experiment

    mode = sys.argv[1]
    if mode == "nohup":
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    exp = Experiment(config={"mode": mode})
    if mode == "bare":
        print("ready", flush=True)
        signal.pause()
    with exp:
        exp.register_result("before", 1)
        try:
            print("ready", flush=True)
            if mode == "nohup":
                print("ignored", signal.getsignal(signal.SIGHUP) is signal.SIG_IGN, flush=True)
                sys.stdin.readline()
            else:
                signal.pause()
        finally:
            print("cleanup ran", flush=True)
    """
)


def start(script: Path, *args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("MAGGOT_")}
    return subprocess.Popen(
        [sys.executable, str(script), *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_ready(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"


def run_info(run_dir: Path) -> dict:
    return json.loads((run_dir / ".maggot" / "run.json").read_text())


@pytest.fixture
def waiting_run(tmp_path: Path) -> Path:
    script = tmp_path / "wait.py"
    script.write_text(WAITING_RUN)
    return script


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGHUP])
def test_a_signalled_run_is_recorded_as_terminated(
    waiting_run: Path, tmp_path: Path, signal_number: int
) -> None:
    process = start(waiting_run, "with", cwd=tmp_path)
    wait_ready(process)
    process.send_signal(signal_number)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal_number, stderr
    assert "cleanup ran" in stdout, (stdout, stderr)
    assert "Traceback" not in stderr
    info = run_info(tmp_path / "experiments" / "with")
    name = signal.Signals(signal_number).name
    assert info["status"] == "terminated"
    assert info["exit"] == {"type": name, "message": f"terminated by {name}"}
    assert isinstance(info["duration_seconds"], float)
    log = next((tmp_path / "experiments" / "with" / ".maggot" / "logs").iterdir()).read_text()
    assert log.endswith(f"cleanup ran\nmaggot: terminated by {name}\n")


def test_a_run_outside_a_with_block_is_recorded_as_terminated(
    waiting_run: Path, tmp_path: Path
) -> None:
    process = start(waiting_run, "bare", cwd=tmp_path)
    wait_ready(process)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM
    assert run_info(tmp_path / "experiments" / "bare")["status"] == "terminated"


def test_an_ignored_sighup_stays_ignored(waiting_run: Path, tmp_path: Path) -> None:
    process = start(waiting_run, "nohup", cwd=tmp_path)
    wait_ready(process)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ignored True"
    process.send_signal(signal.SIGHUP)
    process.communicate(input="\n", timeout=60)
    assert process.returncode == 0
    assert run_info(tmp_path / "experiments" / "nohup")["status"] == "completed"


FORKING_RUN = textwrap.dedent(
    """
    import json, os, sys
    from maggot import Experiment

    with Experiment(config={"fork": 1}) as exp:
        child = os.fork()
        if child == 0:
            sys.exit(0)  # leaves the with block, and runs atexit, in the child only
        os.waitpid(child, 0)
        with open(os.path.join(exp.experiment_dir, ".maggot", "run.json")) as file:
            print(json.load(file)["status"])
        raise ValueError("the parent fails")
    """
)


def test_a_forked_child_leaving_the_run_does_not_record_it(tmp_path: Path) -> None:
    script = tmp_path / "fork.py"
    script.write_text(FORKING_RUN)
    process = start(script, cwd=tmp_path)
    stdout, stderr = process.communicate(timeout=60)
    assert stdout.strip() == "running"
    assert process.returncode == 1
    assert "ValueError: the parent fails" in stderr
    assert run_info(tmp_path / "experiments" / "1")["status"] == "failed"


fork_only = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


@fork_only
@pytest.mark.parametrize(
    "signal_number", signals.TERMINATION_SIGNALS, ids=lambda number: signal.Signals(number).name
)
def test_a_signal_sent_to_a_child_just_forked_ends_it(signal_number: int) -> None:
    """``multiprocessing.Pool.terminate()`` signals workers that may not have run yet.

    CPython drops the signals a forked child receives before it has set itself
    up after the fork; with maggot's handler inherited, the signal was lost and
    the worker lived on, its pool waiting for it forever. The child here only
    exits on its own when the signal was lost: it waits for the parent's "go",
    sent after the signal.
    """
    with signals.terminations_raise():
        for _ in range(20):
            read_fd, write_fd = os.pipe()
            child = os.fork()
            if child == 0:
                os.close(write_fd)
                os.read(read_fd, 1)
                os._exit(0)
            os.close(read_fd)
            os.kill(child, signal_number)
            try:
                os.write(write_fd, b"g")
            except BrokenPipeError:  # the child has ended already
                pass
            os.close(write_fd)
            _, status = os.waitpid(child, 0)
            assert os.WIFSIGNALED(status), "the child outlived the signal"
            assert os.WTERMSIG(status) == signal_number


@fork_only
def test_a_forked_child_has_the_default_actions_and_the_parent_keeps_its_handlers() -> None:
    def state() -> tuple[bool, bool]:
        """(SIGTERM and SIGHUP at their default action, neither blocked)"""
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, [])
        return (
            all(
                signal.getsignal(number) is signal.SIG_DFL for number in signals.TERMINATION_SIGNALS
            ),
            not blocked & set(signals.TERMINATION_SIGNALS),
        )

    with signals.terminations_raise():
        child = os.fork()
        if child == 0:
            os._exit(0 if state() == (True, True) else 1)
        _, status = os.waitpid(child, 0)
        assert state() == (False, True)
    assert os.waitstatus_to_exitcode(status) == 0


REPLAY_WAITS = textwrap.dedent(
    """
    import os, signal
    from maggot import Experiment

    with Experiment(config={"lr": 0.1}) as exp:
        exp.register_result("value", 1)
        if os.environ.get("MAGGOT_REPRODUCTION_OF"):
            print("ready", flush=True)
            signal.pause()
    """
)


def test_a_signalled_reproduce_removes_its_worktree_and_records_the_replay(repo: Path) -> None:
    (repo / "train.py").write_text(REPLAY_WAITS)
    commit_all(repo, "train")
    first = start(repo / "train.py", cwd=repo)
    assert first.wait(timeout=60) == 0
    env = {key: value for key, value in os.environ.items() if not key.startswith("MAGGOT_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "maggot", "reproduce", "experiments/0.1", "--yes"],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:  # the plan, then the replay's own "ready"
        if line.strip() == "ready":
            break
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM
    assert "maggot: terminated by SIGTERM" in stderr
    assert "Traceback" not in stderr
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    replay = run_info(repo / "experiments" / "0.1.repro-1")
    assert replay["status"] == "terminated"
    assert run_info(repo / "experiments" / "0.1")["status"] == "completed"
