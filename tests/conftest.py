from __future__ import annotations

from pathlib import Path

import pytest
from gitrepo import commit_all, git

import maggot

# the ``workdir`` fixture, for tests that record runs outside a repository
pytest_plugins = ("workdirs",)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with one commit and experiments/ ignored."""
    path = tmp_path / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / ".gitignore").write_text("experiments/\n")
    (path / "README.md").write_text("a project\n")
    commit_all(path, "initial")
    return path


@pytest.fixture(autouse=True)
def _default_separator():
    yield
    maggot.use_default_separator()


@pytest.fixture(autouse=True)
def _no_replay_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "MAGGOT_RUN_DIR",
        "MAGGOT_REPRODUCTION_OF",
        "MAGGOT_ORIGINAL_ROOT",
        "MAGGOT_SNAPSHOT",
        "MAGGOT_CAPTURE",
    ):
        monkeypatch.delenv(name, raising=False)
