"""A fixture for tests that record runs outside a repository: an isolated working directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_helpers import isolate_git


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty current directory, with HOME and git configuration isolated."""
    isolate_git(monkeypatch, tmp_path / "home")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work
