from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from maggot_hooks.check_experiments_ignored import main

if TYPE_CHECKING:
    from conftest import Repo

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_missing_gitignore_fails(hook_repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    hook_repo.mkdir("experiments/run1/.maggot")

    assert main([]) == 1
    assert capsys.readouterr().out == (
        "experiments: not ignored by git; add experiments/ to .gitignore\n"
    )


def test_unrelated_ignore_rules_fail(hook_repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    hook_repo.write(".gitignore", "*.pyc\nexperiments/*.log\nexperiments/run*\n")

    assert main([]) == 1
    assert "experiments: not ignored by git" in capsys.readouterr().out


@pytest.mark.parametrize(
    "rule",
    [
        "experiments/",
        "/experiments",
        "experiments",
        "experiments/*",
        "experiments/**",
        "experiments/*/",
    ],
)
@pytest.mark.parametrize("exists", [True, False])
def test_ignored_directory_passes(
    hook_repo: Repo, capsys: pytest.CaptureFixture[str], rule: str, exists: bool
) -> None:
    hook_repo.write(".gitignore", f"*.pyc\n{rule}\n")
    if exists:
        hook_repo.mkdir("experiments/run1/.maggot")

    assert main([]) == 0
    assert capsys.readouterr().out == ""


def test_negated_rule_fails(hook_repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    hook_repo.write(".gitignore", "experiments/\n!experiments/\n")

    assert main([]) == 1
    assert "not ignored by git" in capsys.readouterr().out


def test_info_exclude_counts(hook_repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    exclude = hook_repo.root / ".git" / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    exclude.write_text("experiments/\n")

    assert main([]) == 0
    assert capsys.readouterr().out == ""


def test_tracked_files_do_not_hide_the_rule(
    hook_repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    hook_repo.write("experiments/old/results.json", "{}\n")
    hook_repo.git("add", "experiments/old/results.json")
    hook_repo.write(".gitignore", "experiments/\n")

    assert main([]) == 0
    assert capsys.readouterr().out == ""


def test_custom_directory(hook_repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    hook_repo.write(".gitignore", "experiments/\n")

    assert main(["--experiments-dir", "runs"]) == 1
    assert capsys.readouterr().out == "runs: not ignored by git; add runs/ to .gitignore\n"

    hook_repo.write(".gitignore", "/runs/\n")
    assert main(["--experiments-dir", "runs/"]) == 0
    assert main(["--experiments-dir", "./runs"]) == 0
    assert capsys.readouterr().out == ""


def test_nested_directory(hook_repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    hook_repo.write("ml/.gitignore", "experiments/\n")

    assert main(["--experiments-dir", "ml/experiments"]) == 0
    assert main(["--experiments-dir", "experiments"]) == 1
    assert capsys.readouterr().out == (
        "experiments: not ignored by git; add experiments/ to .gitignore\n"
    )


def test_filenames_are_accepted_and_ignored(
    hook_repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    hook_repo.write(".gitignore", "experiments/\n")

    assert main(["train.py", "experiments/x/.maggot/run.json"]) == 0
    assert capsys.readouterr().out == ""


def test_outside_repository_fails(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    monkeypatch.chdir(plain)

    assert main([]) == 1
    out = capsys.readouterr().out
    assert out.startswith("experiments: git check-ignore failed: ")
    assert "not a git repository" in out
    assert len(out.splitlines()) == 1


def test_missing_git_fails(
    hook_repo: Repo, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(hook_repo.root / "no-such-bin"))

    assert main([]) == 1
    assert capsys.readouterr().out == "experiments: git is not installed (no 'git' on PATH)\n"


def test_runs_as_module(hook_repo: Repo) -> None:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    command = [sys.executable, "-m", "maggot_hooks.check_experiments_ignored"]

    failing = subprocess.run(
        command, cwd=hook_repo.root, env=env, stdout=subprocess.PIPE, text=True, check=False
    )
    assert failing.returncode == 1
    assert failing.stdout.startswith("experiments: not ignored by git")

    hook_repo.write(".gitignore", "experiments/\n")
    passing = subprocess.run(
        command, cwd=hook_repo.root, env=env, stdout=subprocess.PIPE, text=True, check=False
    )
    assert passing.returncode == 0
    assert passing.stdout == ""
