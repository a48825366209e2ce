from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from maggot_hooks.check_run_dirs import main

if TYPE_CHECKING:
    from conftest import Repo

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_ordinary_files_pass(hook_repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    hook_repo.write("train.py")
    hook_repo.write("configs/base.json", "{}\n")
    hook_repo.write("experiments/README.md")

    assert main(hook_repo.stage_all()) == 0
    assert capsys.readouterr().out == ""


def test_file_inside_marker_directory_fails(
    hook_repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    hook_repo.write("experiments/lr=0.1/.maggot/run.json", "{}\n")

    assert main(hook_repo.stage_all()) == 1
    assert capsys.readouterr().out.splitlines() == [
        "experiments/lr=0.1/.maggot/run.json: inside maggot run directory "
        "experiments/lr=0.1; add experiments/ to .gitignore"
    ]


def test_artifact_next_to_marker_fails(hook_repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    hook_repo.mkdir("experiments/run1/.maggot")
    hook_repo.write("experiments/run1/checkpoints/model.pt")
    hook_repo.write("src/model.py")

    assert main(hook_repo.stage_all()) == 1
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "experiments/run1/checkpoints/model.pt: inside maggot run directory "
        "experiments/run1; add experiments/ to .gitignore"
    ]


def test_every_offending_file_is_reported(
    hook_repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    hook_repo.write("experiments/a/.maggot/config.json", "{}\n")
    hook_repo.write("experiments/a/.maggot/logs/stdout.log")
    hook_repo.write("experiments/b/.maggot/results.json", "{}\n")
    hook_repo.write("notes.md")

    assert main(hook_repo.stage_all()) == 1
    reported = [line.split(":", 1)[0] for line in capsys.readouterr().out.splitlines()]
    assert reported == [
        "experiments/a/.maggot/config.json",
        "experiments/a/.maggot/logs/stdout.log",
        "experiments/b/.maggot/results.json",
    ]


def test_nested_run_directory_is_the_innermost(
    hook_repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    hook_repo.mkdir("experiments/sweep/lr=0.1/.maggot")
    hook_repo.write("experiments/sweep/lr=0.1/out/metrics.csv")

    assert main(hook_repo.stage_all()) == 1
    assert "inside maggot run directory experiments/sweep/lr=0.1;" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("run_dir", "suggestion"),
    [
        ("runs/a", "runs/"),
        ("runs/grid/a", "runs/grid/"),
        ("project/experiments/grid/a", "project/experiments/"),
        ("single", "single/"),
    ],
)
def test_gitignore_suggestion(
    hook_repo: Repo, capsys: pytest.CaptureFixture[str], run_dir: str, suggestion: str
) -> None:
    hook_repo.write(f"{run_dir}/.maggot/run.json", "{}\n")

    assert main(hook_repo.stage_all()) == 1
    assert capsys.readouterr().out.rstrip("\n").endswith(f"add {suggestion} to .gitignore")


def test_marker_lookalikes_pass(hook_repo: Repo, capsys: pytest.CaptureFixture[str]) -> None:
    hook_repo.write(".maggotrc")
    hook_repo.write("docs/.maggot")
    hook_repo.write("maggot/.maggot_cache/x")
    hook_repo.write("experiments/.maggot.bak/run.json")

    assert main(hook_repo.stage_all()) == 0
    assert capsys.readouterr().out == ""


def test_repository_root_with_marker_only_flags_marker_contents(
    hook_repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    hook_repo.write(".maggot/run.json", "{}\n")
    hook_repo.write("train.py")

    assert main(hook_repo.stage_all()) == 1
    assert capsys.readouterr().out.splitlines() == [
        ".maggot/run.json: inside maggot run directory .; add .maggot/ to .gitignore"
    ]


def test_allow_patterns_permit_matching_paths(
    hook_repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    hook_repo.write("experiments/best/.maggot/results.json", "{}\n")
    hook_repo.write("experiments/best/report.md")
    hook_repo.write("experiments/best/model.pt")
    staged = hook_repo.stage_all()

    argv = [
        "--allow",
        "*/results.json",
        "--allow",
        "experiments/best/*.md",
        *staged,
    ]
    assert main(argv) == 1
    assert capsys.readouterr().out.splitlines() == [
        "experiments/best/model.pt: inside maggot run directory "
        "experiments/best; add experiments/ to .gitignore"
    ]

    assert main(["--allow", "experiments/best/*", *staged]) == 0
    assert capsys.readouterr().out == ""


def test_paths_missing_on_disk_are_judged_by_name(
    hook_repo: Repo, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["gone/file.txt", "old/.maggot/run.json"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "old/.maggot/run.json: inside maggot run directory old; add old/ to .gitignore"
    ]


def test_runs_as_module(hook_repo: Repo) -> None:
    hook_repo.write("experiments/r/.maggot/run.json", "{}\n")
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "maggot_hooks.check_run_dirs", *hook_repo.stage_all()],
        cwd=hook_repo.root,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stdout.startswith("experiments/r/.maggot/run.json: inside maggot run directory")
