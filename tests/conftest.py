from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from toolkit import init_repo, isolate_environment

import maggot

# the ``workdir`` fixture, for tests that record runs outside a repository
pytest_plugins = ("workdirs",)


@pytest.fixture(autouse=True)
def _hermetic(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test: HOME in a temporary directory, no inherited GIT_* or MAGGOT_* variables."""
    isolate_environment(
        monkeypatch, tmp_path_factory.mktemp("home"), tmp_path_factory.getbasetemp()
    )


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository on main with one commit (experiments/ ignored); the current directory."""
    path = init_repo(tmp_path / "repo")
    monkeypatch.chdir(path)
    return path


@pytest.fixture(autouse=True)
def _default_separator() -> Iterator[None]:
    yield
    maggot.use_default_separator()
