"""Reproduce must not call a different run a match."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from toolkit import commit_all, run_maggot, run_python

from maggot.reproduce import Comparison, ReplayOutcome

TRAIN = textwrap.dedent(
    """
    import os, sys
    from maggot import Experiment

    lr = float(os.environ.get("LR", "0.1"))  # the config can change behind the command's back
    with Experiment(config={"lr": lr}, experiment_name="run", if_exists_mode="increment") as exp:
        exp.register_result("accuracy", 0.5)
        if os.environ.get("EXTRA"):
            exp.register_result("bonus", 1)
        if os.environ.get("FAIL"):
            raise RuntimeError("the original run failed")
    """
)


@pytest.fixture
def project(repo: Path) -> Path:
    (repo / "train.py").write_text(TRAIN)
    commit_all(repo, "train")
    return repo


def record(project: Path, **env: str) -> None:
    result = run_python(["train.py"], cwd=project, env=env)
    assert result.returncode == (1 if env.get("FAIL") else 0), result.stderr


def test_a_replay_with_a_different_config_is_not_a_match(project: Path) -> None:
    record(project)
    result = run_maggot("reproduce", "experiments/run", "--yes", cwd=project, env={"LR": "0.2"})
    assert result.returncode == 1
    assert "the replay ran with a different config: lr: 0.1 -> 0.2" in result.stderr
    assert "reproduced: all" not in result.stdout


def test_a_failed_original_is_not_a_match(project: Path) -> None:
    record(project, FAIL="1")
    info = json.loads((project / "experiments/run/.maggot/run.json").read_text())
    assert info["status"] == "failed"
    result = run_maggot("reproduce", "experiments/run", "--yes", cwd=project)
    assert result.returncode == 1
    assert "the original run did not complete (status failed)" in result.stderr
    assert "reproduced: all" not in result.stdout


def test_a_result_only_the_replay_has_is_not_a_match(project: Path) -> None:
    record(project)
    result = run_maggot("reproduce", "experiments/run", "--yes", cwd=project, env={"EXTRA": "1"})
    assert result.returncode == 1
    assert "not reproduced: 1 of 2 results differ, are missing or were recorded by the replay" in (
        result.stdout
    )


@pytest.mark.parametrize(
    ("statuses", "reproduced"),
    [(["match"], True), (["match", "extra"], False), (["match", "missing"], False), ([], False)],
)
def test_only_all_matching_results_reproduce(statuses: list[str], reproduced: bool) -> None:
    comparisons = [Comparison(f"r{i}", 1, 1, status) for i, status in enumerate(statuses)]
    assert ReplayOutcome(0, "replay", comparisons, []).reproduced is reproduced
