"""Every script in examples/ run for real: subprocesses in real git repositories."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from toolkit import init_repo, run_maggot

from maggot import store

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NO_SKLEARN = importlib.util.find_spec("sklearn") is None


@pytest.fixture(autouse=True)
def _python(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scripts run maggot with the test interpreter (conftest isolates HOME, GIT_*)."""
    monkeypatch.setenv("PYTHON", sys.executable)


def make_repo(path: Path, *examples: str) -> Path:
    """A git repository holding copies of ``examples`` (files or packages), committed."""
    files = {".gitignore": b"experiments/\n__pycache__/\n"}
    for name in examples:
        source = EXAMPLES / name
        copied = sorted(source.rglob("*")) if source.is_dir() else [source]
        for file in copied:
            if file.is_file() and "__pycache__" not in file.parts:
                files[str(file.relative_to(EXAMPLES))] = file.read_bytes()
    return init_repo(path, files)


def run(argv: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        argv,
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return completed


def read_log(run_dir: Path) -> str:
    (log,) = (run_dir / ".maggot" / "logs").iterdir()
    return log.read_text()


def test_demo_records_summarizes_reproduces_and_removes_its_repository(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    completed = run(["bash", str(EXAMPLES / "demo.sh")], tmp_path, TMPDIR=str(scratch))
    assert completed.returncode == 0, completed.stderr
    output = completed.stdout
    for expected in (
        "$ maggot summarize experiments --sort accuracy --params",
        "~ model.l2: 0.0 -> 0.001",
        "reproduced: all 2 results match",
        "$ maggot diff experiments/0.0-0.05-10 experiments/0.0-0.05-10_1",
        "-def make_data(seed: int, size: int = 600)",
        "run with --keep",
    ):
        assert expected in output
    # piped, the output has no escape codes and no carriage-return redraws
    assert "\x1b" not in output + completed.stderr
    assert "\r" not in output + completed.stderr
    assert list(scratch.iterdir()) == []


def test_demo_keep_leaves_the_repository_and_says_where(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    completed = run(["bash", str(EXAMPLES / "demo.sh"), "--keep"], tmp_path, TMPDIR=str(scratch))
    assert completed.returncode == 0, completed.stderr
    (kept,) = scratch.iterdir()
    assert completed.stdout.rstrip().endswith(f"The demo repository is kept in {kept}")
    assert (kept / ".git").is_dir()
    # the listing index (.maggot-index) sits next to the runs
    runs = sorted(path.name for path in (kept / "experiments").iterdir() if path.name[0] != ".")
    assert runs == [
        "0.0-0.05-10",
        "0.0-0.05-10.repro-1",
        "0.0-0.05-10_1",
        "0.0-0.5-10",
        "0.001-0.5-30",
    ]
    listing = run_maggot("summarize", "experiments", cwd=kept)
    assert listing.returncode == 0 and "0.001-0.5-30" in listing.stdout


def test_demo_rejects_an_unknown_argument(tmp_path: Path) -> None:
    completed = run(["bash", str(EXAMPLES / "demo.sh"), "--kep"], tmp_path)
    assert completed.returncode == 2
    assert completed.stderr == "demo.sh: unknown argument --kep (try --help)\n"
    assert completed.stdout == ""


@pytest.mark.skipif(NO_SKLEARN, reason="scikit-learn is not installed (pip install -e '.[test]')")
def test_iris_sweep_summarizes_and_reproduces(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", "iris_sklearn.py", "iris_sweep.sh")
    sweep = run(["bash", "iris_sweep.sh"], repo, CS="1.0 10.0", GAMMAS="0.01", NO_COLOR="1")
    assert sweep.returncode == 0, sweep.stderr
    table = sweep.stdout.splitlines()[-2:]
    # best first: the original README's 0.9733 for C=10 and 0.9333 for C=1
    assert table[0].startswith("5-10.0-0.01 ") and "0.9733333333333334" in table[0]
    assert table[1].startswith("5-1.0-0.01 ") and "0.9333333333333333" in table[1]
    run_dir = repo / "experiments" / "5-1.0-0.01"
    assert store.read_config(run_dir) == {
        "crossval": {"_random_seed": 42, "n_folds": 5},
        "model": {"C": 1.0, "gamma": 0.01},
    }
    assert (run_dir / "model.pkl").stat().st_size > 0
    assert "Accuracy is 0.9333" in read_log(run_dir)

    again = run(["bash", "iris_sweep.sh"], repo, CS="1.0", GAMMAS="0.01", NO_COLOR="1")
    assert again.returncode == 0, again.stderr
    assert "experiments/5-1.0-0.01: already recorded, skipped" in again.stdout

    replay = run_maggot("reproduce", "experiments/5-1.0-0.01", "--yes", cwd=repo)
    assert replay.returncode == 0, replay.stderr
    assert "reproduced: all 2 results match" in replay.stdout


def test_package_module_with_a_json_config_records_and_reproduces(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", "forecast")
    config_file = repo / "forecast" / "configs" / "weekly.json"
    completed = run(
        [sys.executable, "-m", "forecast.train", "forecast/configs/weekly.json"],
        repo,
        PYTHONPATH="",
    )
    assert completed.returncode == 0, completed.stderr
    run_dir = repo / "experiments" / "365-28-0.3-0.05-0.2-7"
    assert store.read_config(run_dir) == json.loads(config_file.read_text())
    command_argv = store.read_run_info(run_dir).command_argv
    assert command_argv[1:] == ("-m", "forecast.train", "forecast/configs/weekly.json")
    results = store.read_results(run_dir)
    assert 0 < results["mae"] < results["max_error"]

    command = run_maggot("show-command", str(run_dir), cwd=repo)
    assert command.stdout.rstrip().endswith("-m forecast.train forecast/configs/weekly.json")
    replay = run_maggot("reproduce", "experiments/365-28-0.3-0.05-0.2-7", "--yes", cwd=repo)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "reproduced: all 2 results match" in replay.stdout


CHILD_LINES = (
    "prepare: shard 0 written",
    "prepare: shard 2 written",
    "prepare: 1 warning (shard 2 is short)",
    "run: written to fd 1 directly",
)
OWN_LINES = ("run: preparing data in a child process", "run: done")


@pytest.mark.parametrize(
    ("mode", "logs_child_output"),
    [("fd", True), ("sys", False)],
    ids=["fd-capture-logs-the-child", "sys-capture-misses-the-child"],
)
def test_capture_mode_decides_whether_a_child_process_is_logged(
    tmp_path: Path, mode: str, logs_child_output: bool
) -> None:
    repo = make_repo(tmp_path / "repo", "child_process.py")
    completed = run([sys.executable, "child_process.py", "--capture", mode], repo)
    assert completed.returncode == 0, completed.stderr
    log = read_log(repo / "experiments" / f"{mode}-3")
    for line in OWN_LINES:
        assert line + "\n" in log
    for line in CHILD_LINES:
        assert (line + "\n" in log) is logs_child_output, line
    # either way the output still reached the process's own stdout and stderr
    assert "prepare: shard 2 written" in completed.stdout
    assert "prepare: 1 warning" in completed.stderr
