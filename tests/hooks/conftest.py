from __future__ import annotations

from pathlib import Path

import pytest
from toolkit import git, init_repo


class Repo:
    """An empty repository (no commit) the hooks run in, with helpers to fill it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def git(self, *args: str) -> str:
        return git(self.root, *args)

    def write(self, relpath: str, text: str = "x\n") -> Path:
        path = self.root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def mkdir(self, relpath: str) -> Path:
        path = self.root / relpath
        path.mkdir(parents=True, exist_ok=True)
        return path

    def stage_all(self) -> list[str]:
        self.git("add", "-A")
        out = self.git("diff", "--cached", "--name-only", "-z")
        return sorted(name for name in out.split("\0") if name)


@pytest.fixture
def hook_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Repo:
    """An empty repository, built by the shared toolkit; the current directory."""
    root = init_repo(tmp_path / "repo", files={}, commit=False)
    monkeypatch.chdir(root)
    return Repo(root)
