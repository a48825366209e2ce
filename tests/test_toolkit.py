"""The test toolkit keeps every test away from the user's own git setup."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from toolkit import GIT_IDENTITY, git

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# one test of each kind that commits, snapshots, diffs, reproduces or runs a hook
SAMPLE_TESTS = (
    "tests/test_gitsnap.py::test_detached_head_is_recorded",
    "tests/test_codediff.py",
    "tests/test_reproduce.py::test_dry_run_prints_the_plan_and_runs_nothing",
    "tests/hooks/test_hook_experiments_ignored.py",
    "tests/test_cli.py::test_diff_shows_config_uncommitted_untracked_and_binary_changes",
)


def hostile_home(home: Path) -> Path:
    """A HOME whose git config breaks naive tests: signing, hooks, template, no e-mail."""
    hooks = home / "hooks"
    hooks.mkdir(parents=True)
    for name in ("pre-commit", "commit-msg", "post-checkout"):
        (hooks / name).write_text("#!/bin/sh\necho hostile hook >&2\nexit 1\n")
        (hooks / name).chmod(0o755)
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Someone Else\n\tuseConfigOnly = true\n"
        "[commit]\n\tgpgsign = true\n\ttemplate = /nonexistent/template\n"
        "[tag]\n\tgpgsign = true\n"
        "[gpg]\n\tprogram = false\n"
        f"[core]\n\thooksPath = {hooks}\n\tautocrlf = true\n"
        "[init]\n\tdefaultBranch = trunk\n"
    )
    return home


def test_each_test_has_its_own_home_and_git_identity() -> None:
    assert os.environ["GIT_CONFIG_NOSYSTEM"] == "1"
    assert not any(name in os.environ for name in ("GIT_DIR", "GIT_INDEX_FILE", "GIT_WORK_TREE"))
    for key, value in GIT_IDENTITY.items():
        assert git(Path.home(), "config", "--global", key).strip() == value
    assert (Path.home() / ".gitconfig").read_text().count("\n") == 3


def test_the_hostile_config_does_break_a_plain_commit(tmp_path: Path) -> None:
    home = hostile_home(tmp_path / "home")
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(home)}
    subprocess.run(["git", "init", "-q"], cwd=repo, env=env, check=True)
    (repo / "a.txt").write_text("a\n")
    subprocess.run(["git", "add", "a.txt"], cwd=repo, env=env, check=True)
    commit = subprocess.run(
        ["git", "commit", "-q", "-m", "x"], cwd=repo, env=env, capture_output=True, check=False
    )
    assert commit.returncode != 0


@pytest.mark.skipif(sys.platform == "win32", reason="shell hooks")
def test_tests_pass_under_a_hostile_global_git_config(tmp_path: Path) -> None:
    home = hostile_home(tmp_path / "home")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("GIT_", "MAGGOT_", "PYTEST_"))
    }
    env["HOME"] = str(home)
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *SAMPLE_TESTS],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-2000:]
    assert " passed" in completed.stdout and "deselected" not in completed.stdout
