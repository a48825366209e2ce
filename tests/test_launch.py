"""``maggot run``: any command recorded as a run, end to end in real subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from toolkit import commit_all, run_maggot

from maggot import launch, store
from maggot.cli import main

PLAIN = textwrap.dedent(
    """
    import argparse, json, subprocess, sys
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--fail", action="store_true")
    args = parser.parse_args()
    print(f"epoch 1 accuracy={args.lr * 2}")
    sys.stdout.flush()
    subprocess.run([sys.executable, "-c", "import sys; sys.stderr.write('child says hi\\\\n')"])
    with open("out.json", "w") as file:
        json.dump({"loss": {"final": args.lr / 2}}, file)
    sys.exit(3 if args.fail else 0)
    """
)

JOINING = textwrap.dedent(
    """
    import argparse
    from maggot import Experiment
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float)
    parser.add_argument("--seed", type=int, default=7)
    with Experiment(config=parser.parse_known_args()[0]) as exp:
        print("joined", exp.experiment_dir)
        exp.register_result("loss", 0.25)
    """
)


@pytest.fixture
def project(repo: Path) -> Path:
    (repo / "plain.py").write_text(PLAIN)
    (repo / "joining.py").write_text(JOINING)
    commit_all(repo, "scripts")
    return repo


def only_run(repo: Path) -> Path:
    runs = store.find_run_dirs(repo / "experiments")
    assert len(runs) == 1, runs
    return Path(runs[0])


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def test_run_records_the_command_unchanged(project):
    result = run_maggot(
        "run", "--metric-pattern", r"(?P<name>accuracy)=(?P<value>[0-9.]+)",
        "--results", "out.json", "--", sys.executable, "plain.py", "--lr", "0.1", "--epochs=3",
        cwd=project,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "epoch 1 accuracy=0.2" in result.stdout
    assert "child says hi" in result.stderr
    run_dir = only_run(project)
    assert run_dir.name == "3-0.1"
    meta = run_dir / ".maggot"
    assert read_json(meta / "config.json") == {"epochs": 3, "lr": 0.1}
    assert read_json(meta / "results.json") == {"accuracy": 0.2, "loss": {"final": 0.05}}
    info = read_json(meta / "run.json")
    assert info["status"] == "completed"
    assert info["exit_code"] == 0
    assert info["launched_command"] == [sys.executable, "plain.py", "--lr", "0.1", "--epochs=3"]
    assert info["command_argv"][1:4] == ["-m", "maggot", "run"]
    head = read_json(meta / "git" / "head.json")
    assert head["script"] == "plain.py"
    assert head["commit"]
    (log,) = (meta / "logs").iterdir()
    # the child process's stderr is logged too, exactly as printed
    assert log.read_text() == "epoch 1 accuracy=0.2\nchild says hi\n"


def test_failing_command_fails_the_run_and_passes_its_exit_code(project):
    result = run_maggot(
        "run", "--name", "bad-{lr}", "--", sys.executable, "plain.py", "--lr", "1", "--fail",
        cwd=project,
    )  # fmt: skip
    assert result.returncode == 3
    run_dir = project / "experiments" / "bad-1"
    info = read_json(run_dir / ".maggot" / "run.json")
    assert info["status"] == "failed"
    assert info["exit"] == {"type": "ExitCode", "message": "exited with code 3"}
    assert read_json(run_dir / ".maggot" / "config.json") == {"fail": True, "lr": 1}


def test_script_using_experiment_joins_the_run(project):
    result = run_maggot(
        "run", "--", sys.executable, "joining.py", "--lr", "0.5", "extra=x", cwd=project
    )
    assert result.returncode == 0, result.stderr
    run_dir = only_run(project)
    assert f"joined {run_dir}" in result.stdout
    meta = run_dir / ".maggot"
    assert read_json(meta / "config.json") == {"extra": "x", "lr": 0.5, "seed": 7}
    assert read_json(meta / "results.json") == {"loss": 0.25}
    info = read_json(meta / "run.json")
    assert info["status"] == "completed"
    assert info["joined"]["pid"] != info["pid"]
    assert len(list((meta / "logs").iterdir())) == 1


def test_run_of_a_command_reproduces(project):
    result = run_maggot(
        "run", "--results", "out.json", "--", sys.executable, "plain.py", "--lr", "0.4",
        cwd=project,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    run_dir = only_run(project)
    replay = run_maggot("reproduce", "--yes", str(run_dir), cwd=project)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "reproduced: all 1 results match" in replay.stdout
    replay_info = read_json(Path(f"{run_dir}.repro-1") / ".maggot" / "run.json")
    assert replay_info["reproduction_of"] == str(run_dir)


def test_a_named_run_of_a_command_without_parameters_reproduces(project):
    # with no parameters to name it after, the run needs its --name again to replay
    write = "import json; json.dump({'loss': 0.5}, open('out.json', 'w'))"
    (project / "once.py").write_text(write + "\n")
    commit_all(project, "script")
    result = run_maggot(
        "run", "--name", "named", "--results", "out.json", "--", sys.executable, "once.py",
        cwd=project,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    replay = run_maggot("reproduce", "--yes", "experiments/named", cwd=project)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "reproduced: all 1 results match" in replay.stdout


def test_an_ignored_config_file_is_an_input_that_a_replay_gets(project):
    (project / ".gitignore").write_text("experiments/\nout.json\nlocal.json\n")
    commit_all(project, "ignore the local config")
    (project / "local.json").write_text('{"lr": 0.4}')
    result = run_maggot(
        "run", "--config", "local.json", "--results", "out.json", "--",
        sys.executable, "plain.py", "--lr", "0.4", cwd=project,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    run_dir = only_run(project)
    inputs = read_json(run_dir / ".maggot" / "inputs.json")
    assert {"path": "local.json", "location": "ignored", "mode": "read"}.items() <= next(
        item for item in inputs["files"] if item["path"] == "local.json"
    ).items()
    replay = run_maggot("reproduce", "--yes", str(run_dir), cwd=project)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    # a rerun reads it as it is now, and says that it changed
    (project / "local.json").write_text('{"lr": 0.8}')
    rerun = run_maggot("rerun", str(run_dir), "--set", "lr=0.5", "--dry-run", cwd=project)
    assert rerun.returncode == 0, rerun.stderr
    assert "local.json: changed since the run; the rerun reads it as it is now" in rerun.stderr


WAITING = textwrap.dedent(
    """
    import signal, sys
    with open(sys.argv[1], "w") as fifo:
        fifo.write("ready\\n")
    signal.pause()
    """
)


def start_waiting(project: Path, tmp_path: Path) -> subprocess.Popen[bytes]:
    """``maggot run`` of a command that waits for a signal, once the command is ready."""
    (project / "wait.py").write_text(WAITING)
    fifo = tmp_path / "ready"
    os.mkfifo(fifo)
    process = subprocess.Popen(
        [sys.executable, "-m", "maggot", "run", "--name", "waiting", "--",
         sys.executable, "wait.py", str(fifo)],
        cwd=project, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    with open(fifo) as ready:
        assert ready.read() == "ready\n"
    return process


@pytest.mark.parametrize("group", [True, False], ids=["ctrl-c-to-the-group", "kill-maggot-only"])
def test_ctrl_c_reaches_the_command_and_the_run_says_interrupted(project, tmp_path, group):
    process = start_waiting(project, tmp_path)
    if group:
        os.killpg(process.pid, signal.SIGINT)  # what a terminal does on Ctrl-C
    else:
        os.kill(process.pid, signal.SIGINT)
    process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGINT
    info = read_json(project / "experiments" / "waiting" / ".maggot" / "run.json")
    assert info["status"] == "interrupted"


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--", "no-such-program-xyz", "--lr", "1"], "no-such-program-xyz: command not found"),
        (["--name", "{nope}", "--", "true", "--lr", "1"], "unknown placeholder {nope}"),
        (["--metric-pattern", "(", "--", "true", "--lr", "1"], "--metric-pattern"),
        (["--metric-pattern", "x", "--", "true", "--lr", "1"], "named groups"),
        (["--config", "missing.json", "--", "true"], "--config missing.json"),
        (["--", "true"], "pass --name"),
        (["--name", "a/b", "--", "true"], "not a safe directory name"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_creates_nothing(project, args, message):
    result = invoke("run", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert not (project / "experiments").exists()


def test_missing_results_file_is_a_warning(project):
    result = run_maggot(
        "run", "--results", "nothing.json", "--", sys.executable, "plain.py", "--lr", "1",
        cwd=project,
    )  # fmt: skip
    assert result.returncode == 0
    assert "--results nothing.json: the command wrote no such file" in result.stderr


def test_config_file_values_come_first_and_parameters_override(project):
    (project / "base.json").write_text('{"lr": 9, "model": {"depth": 2}}')
    result = run_maggot(
        "run", "--config", "base.json", "--param", "seed=4", "--",
        sys.executable, "plain.py", "--lr", "0.5", cwd=project,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    config = read_json(only_run(project) / ".maggot" / "config.json")
    assert config == {"lr": 0.5, "model": {"depth": 2}, "seed": 4}


def test_shell_exit_code_of_a_signal():
    assert launch.shell_exit_code(-signal.SIGTERM) == 143
    assert launch.shell_exit_code(5) == 5


def test_an_existing_run_is_not_overwritten_without_if_exists(project):
    argv = ["run", "--", sys.executable, "plain.py", "--lr", "2"]
    assert run_maggot(*argv, cwd=project).returncode == 0
    again = run_maggot(*argv, cwd=project)
    assert again.returncode == 1
    assert again.stderr.strip() == (
        "maggot: experiments/2 already exists; pick another --name or pass --if-exists "
        "increment, continue or delete"
    )
    incremented = run_maggot("run", "--if-exists", "increment", *argv[1:], cwd=project)
    assert incremented.returncode == 0, incremented.stderr
    assert (project / "experiments" / "2_1" / ".maggot" / "run.json").exists()


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGHUP])
@pytest.mark.parametrize("group", [True, False], ids=["to-the-group", "to-maggot-only"])
def test_sigterm_and_sighup_reach_the_command_and_the_run_says_terminated(
    project, tmp_path, group, signal_number
):
    process = start_waiting(project, tmp_path)
    if group:
        os.killpg(process.pid, signal_number)  # a timeout, Slurm, a closed session
    else:
        os.kill(process.pid, signal_number)
    process.communicate(timeout=60)
    assert process.returncode == 128 + signal_number
    info = read_json(project / "experiments" / "waiting" / ".maggot" / "run.json")
    assert info["status"] == "terminated"
    assert info["exit"]["type"] == signal.Signals(signal_number).name
    assert info["exit_code"] == -signal_number


KEYED = textwrap.dedent(
    """
    import argparse
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float)
    parser.add_argument("--api-key")
    args = parser.parse_args()
    print(f"key_ok={int(args.api_key == 'sk-live-4f9Qz7TmB2xK8pWv')} lr={args.lr}")
    """
)
SECRET = "sk-live-4f9Qz7TmB2xK8pWv"


def test_a_secret_argument_of_the_command_is_never_stored_and_rerun_gives_it_back(project):
    (project / "keyed.py").write_text(KEYED)
    commit_all(project, "keyed")
    pattern = r"(?P<name>key_ok)=(?P<value>[0-9]+)"
    result = run_maggot(
        "run", "--name", "keyed", "--metric-pattern", pattern, "--",
        sys.executable, "keyed.py", "--lr", "0.5", "--api-key", SECRET, cwd=project,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    run_dir = project / "experiments" / "keyed"
    for path in (run_dir / ".maggot").rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    info = read_json(run_dir / ".maggot" / "run.json")
    assert info["launched_command"][-1] == "<redacted>"
    assert read_json(run_dir / ".maggot" / "results.json") == {"key_ok": 1}
    [redacted] = info["redacted_arguments"]
    assert info["command_argv"][redacted["position"]] == "<redacted>"
    supply = f"MAGGOT_ARG_{redacted['position']}"

    not_replayed = run_maggot("reproduce", str(run_dir), "--yes", cwd=project)
    assert not_replayed.returncode == 1
    assert supply in not_replayed.stderr
    replayed = run_maggot("reproduce", str(run_dir), "--yes", cwd=project, env={supply: SECRET})
    assert replayed.returncode == 0, replayed.stderr
    assert "reproduced: all 1 results match" in replayed.stdout
    runs = set(store.find_run_dirs(project / "experiments"))

    refused = run_maggot("rerun", str(run_dir), "--set", "lr=0.25", "--yes", cwd=project)
    assert refused.returncode == 1
    assert supply in refused.stderr
    assert set(store.find_run_dirs(project / "experiments")) == runs

    rerun = run_maggot(
        "rerun", str(run_dir), "--set", "lr=0.25", "--yes", "--code", "current",
        cwd=project, env={supply: SECRET},
    )  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    assert SECRET not in rerun.stdout + rerun.stderr
    [new_run] = [Path(run) for run in set(store.find_run_dirs(project / "experiments")) - runs]
    assert read_json(new_run / ".maggot" / "results.json") == {"key_ok": 1}
    for path in (new_run / ".maggot").rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


READER = textwrap.dedent(
    """
    import os, sys
    with open(sys.argv[1]) as file:
        print("read", file.read().strip(), "tracking", os.environ.get("MAGGOT_TRACK_INPUTS"))
    """
)


def test_no_track_inputs_records_no_inputs_and_replays_the_same_way(project, tmp_path):
    (project / "reader.py").write_text(READER)
    commit_all(project, "reader")
    data = tmp_path / "data.txt"
    data.write_text("42\n")
    result = run_maggot(
        "run", "--no-track-inputs", "--name", "untracked", "--",
        sys.executable, "reader.py", str(data), cwd=project,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "read 42 tracking 0" in result.stdout
    run_dir = project / "experiments" / "untracked"
    assert not (run_dir / ".maggot" / "inputs.json").exists()
    info = json.loads((run_dir / ".maggot" / "run.json").read_text())
    assert info["launch_options"]["track_inputs"] is False
    assert "--no-track-inputs" in info["command_argv"]
    tracked = run_maggot(
        "run", "--name", "tracked", "--", sys.executable, "reader.py", str(data), cwd=project
    )
    assert tracked.returncode == 0, tracked.stderr
    assert (project / "experiments" / "tracked" / ".maggot" / "inputs.json").exists()
    help_text = CliRunner().invoke(main, ["run", "--help"]).output
    assert "--no-track-inputs" in help_text
