from __future__ import annotations

from pathlib import Path

import pytest

from maggot.errors import GitError
from maggot.git import git_environment, run_git, split_nul


def test_inherited_repository_variables_are_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_DIR", "/elsewhere/.git")
    monkeypatch.setenv("GIT_INDEX_FILE", "/elsewhere/index")
    monkeypatch.setenv("GIT_SSH_COMMAND", "ssh -i key")
    env = git_environment({"GIT_INDEX_FILE": "/scratch/index"})
    assert "GIT_DIR" not in env and env["GIT_INDEX_FILE"] == "/scratch/index"
    assert env["GIT_SSH_COMMAND"] == "ssh -i key" and env["GIT_OPTIONAL_LOCKS"] == "0"


def test_a_hook_environment_does_not_redirect_git(repo: Path, tmp_path: Path, monkeypatch) -> None:
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    assert run_git("rev-parse", "--show-toplevel", cwd=repo).decode().strip() == str(repo)


def test_a_failing_command_raises_with_git_stderr(tmp_path: Path) -> None:
    with pytest.raises(GitError, match="git rev-parse failed: .*not a git repository"):
        run_git("rev-parse", "HEAD", cwd=tmp_path)
    assert run_git("rev-parse", "HEAD", cwd=tmp_path, check=False) == b""


def test_git_missing_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(GitError, match="git is not installed"):
        run_git("status")


def test_nul_separated_output_is_split_without_the_empty_tail() -> None:
    assert split_nul(b"a\0b c\0") == ["a", "b c"]
    assert split_nul(b"") == []


def test_git_errors_of_several_lines_are_one_line(repo: Path) -> None:
    (repo / "a.txt").write_text("one\n")
    patch = b"--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-two\n+three\n"
    with pytest.raises(GitError) as raised:
        run_git("apply", "-", cwd=repo, input=patch)
    message = str(raised.value)
    assert "\n" not in message
    assert "patch failed: a.txt:1; error: a.txt: patch does not apply" in message
