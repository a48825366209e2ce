"""``maggot rerun``: a new run from a recorded one, with parameters changed."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
from toolkit import commit_all, run_maggot, run_python

from maggot import params, rerun, store

TRAIN = textwrap.dedent(
    """
    import argparse
    VERSION = 1
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    print(f"score={args.lr * 10 + VERSION}")
    """
)
EXPERIMENT_SCRIPT = textwrap.dedent(
    """
    import argparse
    from maggot import Experiment
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float)
    args = parser.parse_args()
    with Experiment(config=args, if_exists_mode="increment") as exp:
        exp.register_result("double", args.lr * 2)
    """
)
PATTERN = r"(?P<name>score)=(?P<value>[0-9.]+)"


@pytest.fixture
def project(repo: Path) -> Path:
    (repo / "train.py").write_text(TRAIN)
    (repo / "exp.py").write_text(EXPERIMENT_SCRIPT)
    commit_all(repo, "scripts")
    return repo


def info(run_dir: Path | str) -> dict:
    return json.loads(Path(store.meta_path(run_dir, store.RUN_FILE)).read_text())


def results(run_dir: Path | str) -> dict:
    return json.loads(Path(store.meta_path(run_dir, store.RESULTS_FILE)).read_text())


def test_rerun_of_a_maggot_run_changes_the_value_in_the_argv(project):
    recorded = run_maggot(
        "run", "--metric-pattern", PATTERN, "--",
        sys.executable, "train.py", "--lr=0.5", "--epochs", "2", cwd=project,
    )  # fmt: skip
    assert recorded.returncode == 0, recorded.stderr
    original = project / "experiments" / "2-0.5"
    # the checkout moves on; the recorded code state is what reruns by default
    (project / "train.py").write_text(TRAIN.replace("VERSION = 1", "VERSION = 100"))
    result = run_maggot("rerun", str(original), "--set", "lr=0.25", "--yes", cwd=project)
    assert result.returncode == 0, result.stderr
    new_run = project / "experiments" / "2-0.25"
    assert info(new_run)["rerun_of"] == str(original)
    assert info(new_run)["launched_command"][-3:] == ["--lr=0.25", "--epochs", "2"]
    assert results(new_run) == {"score": 3.5}
    head = json.loads((new_run / ".maggot" / "git" / "head.json").read_text())
    assert head["commit"] == json.loads((original / ".maggot/git/head.json").read_text())["commit"]
    current = run_maggot(
        "rerun", str(original), "--set", "lr=0.1", "--code", "current", "--yes", cwd=project
    )
    assert current.returncode == 0, current.stderr
    assert results(project / "experiments" / "2-0.1") == {"score": 101.0}


def test_rerun_of_a_sweep_run_fills_the_template_again(project):
    swept = run_maggot(
        "sweep", "-p", "lr=1,2", "--name", "lr{lr}", "--metric-pattern", PATTERN, "--",
        sys.executable, "train.py", "--lr", "{lr}", cwd=project,
    )  # fmt: skip
    assert swept.returncode == 0, swept.stderr
    result = run_maggot("rerun", "experiments/lr2", "--set", "lr=3", "--yes", cwd=project)
    assert result.returncode == 0, result.stderr
    assert results(project / "experiments" / "lr3") == {"score": 31.0}
    assert info(project / "experiments" / "lr3")["rerun_of"].endswith("lr2")


def test_rerun_of_a_sweep_run_gives_the_templates_secret_back(project):
    token = "sk-" + "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2"
    (project / "tok.py").write_text(
        f"import sys\nprint('score=' + str(int(sys.argv[2] == {token!r})) + sys.argv[4])\n"
    )
    commit_all(project, "tok")
    swept = run_maggot(
        "sweep", "-p", "lr=1", "--name", "lr{lr}", "--metric-pattern", PATTERN, "--",
        sys.executable, "tok.py", "--token", token, "--lr", "{lr}", cwd=project,
    )  # fmt: skip
    assert swept.returncode == 0, swept.stderr
    assert results(project / "experiments" / "lr1") == {"score": 11}
    refused = run_maggot("rerun", "experiments/lr1", "--set", "lr=2", "--yes", cwd=project)
    assert refused.returncode == 1
    # the variable the run's own record names, as for any rerun or replay
    position = info(project / "experiments" / "lr1")["command_argv"].index("<redacted>")
    assert f"set MAGGOT_ARG_{position}" in refused.stderr
    result = run_maggot(
        "rerun", "experiments/lr1", "--set", "lr=2", "--yes", cwd=project,
        env={f"MAGGOT_ARG_{position}": token},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert token not in result.stdout + result.stderr
    assert results(project / "experiments" / "lr2") == {"score": 12}


def test_rerun_of_an_experiment_script_joins_the_new_run(project):
    recorded = run_python(["exp.py", "--lr", "0.5"], cwd=project)
    assert recorded.returncode == 0, recorded.stderr
    (original,) = store.find_run_dirs(project / "experiments")
    result = run_maggot("rerun", original, "--set", "lr=4", "--yes", cwd=project)
    assert result.returncode == 0, result.stderr
    runs = store.find_run_dirs(project / "experiments")
    (new_run,) = [run for run in runs if run != original]
    assert results(new_run) == {"double": 8.0}
    assert info(new_run)["rerun_of"] == str(Path(original).resolve())


def test_unknown_key_names_the_keys_the_command_takes(project):
    run_maggot("run", "--", sys.executable, "train.py", "--lr", "1", cwd=project)
    result = run_maggot("rerun", "experiments/1", "--set", "batch=3", "--yes", cwd=project)
    assert result.returncode == 2
    assert "takes no parameter batch; it takes: lr" in result.stderr
    assert store.find_run_dirs(project / "experiments") == [str(project / "experiments" / "1")]


def test_dry_run_prints_the_plan_only(project):
    run_maggot("run", "--", sys.executable, "train.py", "--lr", "1", cwd=project)
    result = run_maggot("rerun", "experiments/1", "--set", "lr=2", "--dry-run", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "set lr     1 -> 2" in result.stdout
    assert len(store.find_run_dirs(project / "experiments")) == 1


def test_set_parameters_keeps_the_form_of_each_argument():
    command = ["prog", "rest", "--a", "1", "--b=2", "c=3", "--flag"]
    assert params.set_parameters(command, {"a": "9", "b": "8", "c": "7"}) == [
        "prog", "rest", "--a", "9", "--b=8", "c=7", "--flag",
    ]  # fmt: skip
    assert params.set_parameters(command, {"flag": "false"}) == [
        "prog", "rest", "--a", "1", "--b=2", "c=3",
    ]  # fmt: skip
    with pytest.raises(params.ParameterError, match="it takes: a, b, c, flag"):
        params.set_parameters(command, {"d": "1"})


def test_plan_refuses_an_empty_change(project):
    run_maggot("run", "--", sys.executable, "train.py", "--lr", "1", cwd=project)
    with pytest.raises(params.ParameterError, match="nothing to change"):
        rerun.plan_rerun(str(project / "experiments" / "1"), {})
