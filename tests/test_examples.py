"""Every script in examples/ run for real: subprocesses in real git repositories."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from test_launchers_slurm import cluster  # noqa: F401  (the fixture: skips, or fails under CI)
from toolkit import init_repo, run_maggot

from maggot import entries, series, store, sweep

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
    # the listing index (.maggot-index) and a report page may sit next to the runs
    runs = sorted(
        path.name
        for path in (kept / "experiments").iterdir()
        if path.is_dir() and path.name[0] != "."
    )
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


FIT_PATTERN_RESULTS = {"train_rmse", "test_rmse"}


def check_fit_sweep(repo: Path, completed: subprocess.CompletedProcess[str]) -> None:
    """What examples/fit_sweep.sh leaves: one run, eight sweep runs, a best-first listing."""
    assert completed.returncode == 0, completed.stdout + completed.stderr
    # the script itself knows nothing of maggot
    assert "maggot" not in (repo / "fit_curve.py").read_text().split('"""')[-1]
    experiments = repo / "experiments"
    single = experiments / "0.01-3"
    assert store.read_config(single) == {"alpha": 0.01, "degree": 3}
    assert set(store.read_results(single)) == FIT_PATTERN_RESULTS
    assert "test_rmse=0.2431" in read_log(single)
    (sweep_id,) = sweep.list_sweeps(str(experiments))
    record = sweep.load_sweep(sweep.find_sweep(sweep_id, str(experiments)))
    states = sweep.job_states(record)
    assert [state.state for state in states] == ["completed"] * 8
    values = {(state.values["degree"], state.values["alpha"]) for state in states}
    assert values == {(degree, alpha) for degree in (1, 3, 5, 9) for alpha in (0.0, 0.01)}
    for state in states:
        assert state.run_dir is not None
        assert set(store.read_results(state.run_dir)) == FIT_PATTERN_RESULTS
    # the listing of the sweep's runs, lowest test error first
    listing = completed.stdout[completed.stdout.index("$ maggot summarize") :].splitlines()
    rows = [line for line in listing[3:] if line.strip()]
    assert len(rows) == 8
    assert rows[0].startswith("0.0-5 ") and "0.2119" in rows[0]
    assert rows[-1].split()[0] in ("0.0-1", "0.01-1")


def test_a_plain_script_through_maggot_run_and_a_local_sweep(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", "fit_curve.py", "fit_sweep.sh")
    completed = run(["bash", "fit_sweep.sh"], repo, NO_COLOR="1")
    check_fit_sweep(repo, completed)
    assert "local launcher" in completed.stderr
    # a sweep's run reproduces like any other
    replay = run_maggot("reproduce", "experiments/0.0-5", "--yes", cwd=repo)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "reproduced: all 2 results match" in replay.stdout


@pytest.mark.usefixtures("cluster")
def test_the_same_sweep_as_a_slurm_job_array(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", "fit_curve.py", "fit_sweep.sh")
    completed = run(["bash", "fit_sweep.sh", "--launcher", "slurm"], repo, NO_COLOR="1")
    check_fit_sweep(repo, completed)
    assert "submitted as Slurm job array" in completed.stderr
    # --time 1: Slurm's timeout warning (USR2) comes 15 s before the limit, not 90 s (at once)
    (script,) = (repo / "experiments" / ".sweeps").glob("*/slurm/*_submission.sh")
    assert "#SBATCH --signal=USR2@15\n" in script.read_text()


def test_fit_sweep_rejects_an_unknown_argument(tmp_path: Path) -> None:
    completed = run(["bash", str(EXAMPLES / "fit_sweep.sh"), "--jobs", "2"], tmp_path)
    assert completed.returncode == 2
    assert completed.stderr == "fit_sweep.sh: unknown argument --jobs (try --help)\n"


def test_training_killed_and_resumed_ends_as_if_never_stopped(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", "resumable_training.py")
    # the same training never stopped, recorded under baseline/experiments
    baseline_dir = repo / "baseline"
    baseline_dir.mkdir()
    script = str(repo / "resumable_training.py")
    options = ["--epochs", "40", "--lr", "0.1"]
    baseline = run([sys.executable, script, *options, "--epoch-seconds", "0"], baseline_dir)
    assert baseline.returncode == 0, baseline.stderr
    baseline_run = baseline_dir / "experiments" / "40-0.1"

    process = subprocess.Popen(
        [sys.executable, script, *options, "--epoch-seconds", "0.2"],
        cwd=repo,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("epoch 3:"):
            break
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    process.stdout.close()
    run_dir = repo / "experiments" / "40-0.1"
    assert entries.live_status(store.read_run_info(run_dir).to_json()) == "killed"
    saved = sorted(path.name for path in (run_dir / "checkpoints").iterdir())
    assert 1 <= len(saved) <= 3 and saved[-1] < "epoch-0039.json"
    last_saved = int(saved[-1][len("epoch-") : -len(".json")])

    resumed = run(
        [sys.executable, script, "--resume", "experiments/40-0.1", "--epoch-seconds", "0"], repo
    )
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.startswith(f"resuming after epoch {last_saved} from ")
    info = store.read_run_info(run_dir).to_json()
    assert [(entry["kind"], entry["status"]) for entry in info["entries"]] == [
        ("start", "running"),
        ("resume", "completed"),
    ]
    assert info["status"] == "completed"
    assert (run_dir / ".maggot" / "directories").read_text().split() == ["checkpoints"]
    # seeded shuffles: killed and resumed, the run ends exactly where the other did
    assert store.read_results(run_dir) == store.read_results(baseline_run)
    curves, problems = series.read_series(str(run_dir))
    reference, _ = series.read_series(str(baseline_run))
    assert problems == []
    loss = dict(zip(curves["loss"].steps, curves["loss"].values))
    assert len(loss) == len(curves["loss"].steps)  # no epoch logged twice
    # every epoch after the checkpoint is on the curve; points of the killed process's
    # last second may be missing, the ones it flushed are there
    assert set(range(last_saved + 1, 40)) <= set(loss) <= set(range(40))
    assert loss == {
        step: value
        for step, value in zip(reference["loss"].steps, reference["loss"].values)
        if step in loss
    }

    # the report page holds both curves of the run
    page = run_maggot("report", "experiments", "-o", "report.html", cwd=repo)
    assert page.returncode == 0, page.stderr
    data = embedded_data((repo / "report.html").read_text())
    (shown,) = data["runs"]
    assert shown["name"] == "40-0.1" and shown["status"] == "completed"
    assert sorted(shown["series"]) == ["loss", "val.accuracy"]
    assert shown["series"]["loss"]["n"] == len(loss)


def embedded_data(page: str) -> dict[str, Any]:
    """The run data a report page embeds."""
    start = page.index('<script id="maggot-data" type="application/json">')
    body = page[page.index(">", start) + 1 : page.index("</script>", start)]
    data: dict[str, Any] = json.loads(body)
    return data
