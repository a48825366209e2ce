"""Real git repositories and real runs for the command-line tests."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from maggot import Experiment

GIT_IDENTITY = ("-c", "user.name=t", "-c", "user.email=t@t")


def isolate_git(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """No GIT_* from a surrounding hook, no user or system git config."""
    for name in list(os.environ):
        if name.startswith("GIT_"):
            monkeypatch.delenv(name)
    home.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` and return its stdout."""
    # no optional locks: `git status` here must not refresh the index we compare
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    completed = subprocess.run(
        ["git", *GIT_IDENTITY, *args], cwd=repo, env=env, capture_output=True, text=True, check=True
    )
    return completed.stdout


def init_repo(repo: Path) -> Path:
    """A repository with a script, a binary file and one commit; experiments/ ignored."""
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q")
    (repo / "train.py").write_text('print("train")\n')
    (repo / "data.bin").write_bytes(b"\x00\x01\x02\x03")
    (repo / ".gitignore").write_text("experiments/\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "initial")
    return repo


def enter_new_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str = "work") -> Path:
    """An isolated ``init_repo`` under ``tmp_path``, made the current directory."""
    isolate_git(monkeypatch, tmp_path / "home")
    repo = init_repo(tmp_path / name)
    monkeypatch.chdir(repo)
    return repo


def record_run(
    repo: Path,
    config: dict[str, Any],
    results: dict[str, Any] | None = None,
    *,
    name: str | None = None,
    experiments_dir: str = "experiments",
    snapshot: bool = True,
) -> Path:
    """Record a completed run with the library; the current directory must be ``repo``."""
    with Experiment(
        config=config,
        experiments_dir=experiments_dir,
        experiment_name=name,
        snapshot=snapshot,
        capture_output="none",
    ) as experiment:
        for key, value in (results or {}).items():
            experiment.register_result(key, value)
    return (repo / experiment.experiment_dir).resolve()


def write_json(path: Path, data: Any) -> None:
    """Overwrite a run file by hand (for corrupt-run tests)."""
    path.write_text(json.dumps(data))


def repo_state(repo: Path) -> dict[str, Any]:
    """What a read-only command must leave unchanged in the user's repository."""
    index = repo / ".git" / "index"
    return {
        "index": index.read_bytes() if index.exists() else None,
        "head": git(repo, "rev-parse", "HEAD"),
        "symbolic_head": (repo / ".git" / "HEAD").read_text(),
        "refs": git(repo, "for-each-ref"),
        "stash": git(repo, "stash", "list"),
        "objects": git(repo, "count-objects", "-v"),
        "status": git(repo, "status", "--porcelain=v2", "--untracked-files=all"),
    }
