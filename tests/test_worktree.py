from __future__ import annotations

from pathlib import Path

import pytest
from toolkit import all_at_once, git

from maggot import worktree
from maggot.errors import GitError


def test_concurrent_worktree_adds_on_one_repository_all_succeed(repo: Path, tmp_path: Path) -> None:
    commit = git(repo, "rev-parse", "HEAD").strip()

    def add(number: int) -> None:
        worktree._add_worktree(str(repo), str(tmp_path / f"tree{number}"), commit)

    assert all_at_once(add, 6) == []
    assert all((tmp_path / f"tree{number}" / "README.md").exists() for number in range(6))


def test_lock_errors_are_retried_and_others_are_not() -> None:
    attempts: list[int] = []

    def flaky() -> bytes:
        attempts.append(1)
        if len(attempts) < 3:
            raise GitError(
                "git worktree failed: Unable to create '/r/.git/index.lock': File exists"
            )
        return b"ok"

    assert worktree.with_lock_retries(flaky) == b"ok"
    assert len(attempts) == 3

    def broken() -> bytes:
        raise GitError("git worktree failed: invalid reference")

    with pytest.raises(GitError, match="invalid reference"):
        worktree.with_lock_retries(broken)
