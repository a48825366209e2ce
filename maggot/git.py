"""The one seam for running git: argv in, bytes out, one error type."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from maggot.errors import GitError

if TYPE_CHECKING:
    import subprocess

    import git

# user-level settings that do not redirect which repository, index or objects git uses
_KEPT_GIT_VARIABLES = frozenset(
    (
        "GIT_ALLOW_PROTOCOL",
        "GIT_ASKPASS",
        "GIT_CONFIG_COUNT",
        "GIT_CONFIG_GLOBAL",
        "GIT_CONFIG_NOSYSTEM",
        "GIT_CONFIG_SYSTEM",
        "GIT_EXEC_PATH",
        "GIT_HTTP_PROXY_AUTHMETHOD",
        "GIT_SSH",
        "GIT_SSH_COMMAND",
        "GIT_SSL_CAINFO",
        "GIT_SSL_NO_VERIFY",
        "GIT_TERMINAL_PROMPT",
    )
)


def _kept(name: str) -> bool:
    if not name.startswith("GIT_"):
        return True
    return name in _KEPT_GIT_VARIABLES or name.startswith(("GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_"))


def git_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for git: inherited repository-locating GIT_* variables removed.

    A hook or a parent git process may export GIT_DIR, GIT_INDEX_FILE ...; they
    would point our commands at the wrong repository or index.
    """
    env = {name: value for name, value in os.environ.items() if _kept(name)}
    # status must not rewrite the user's index to refresh stat data
    env["GIT_OPTIONAL_LOCKS"] = "0"
    env["LC_ALL"] = "C"
    if extra:
        env.update(extra)
    return env


def git_command(args: Sequence[str]) -> list[str]:
    """The full argv for a git invocation with output-stabilising options."""
    return ["git", "--no-pager", "-c", "color.ui=false", "-c", "core.quotepath=false", *args]


def run_git(
    *args: str,
    cwd: str | os.PathLike[str] | None = None,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> bytes:
    """Run git with ``args`` in ``cwd`` and return its stdout.

    Raises GitError with git's stderr when git fails (and ``check`` is set) or
    is not installed.
    """
    import subprocess

    try:
        completed = subprocess.run(
            git_command(args),
            cwd=cwd,
            input=input,
            env=git_environment(env),
            capture_output=True,
            check=False,
        )
    except FileNotFoundError as error:
        raise GitError("git is not installed (no 'git' on PATH)") from error
    if check and completed.returncode != 0:
        message = _message(completed.stderr, completed.returncode)
        raise GitError(f"git {args[0] if args else ''} failed: {message}")
    return completed.stdout


def git_exit_code(
    *args: str, cwd: str | os.PathLike[str] | None = None, expected: Sequence[int] = (0, 1)
) -> int:
    """Run git for its exit code (``check-ignore``, ``diff --quiet`` ...).

    Raises GitError with git's stderr for any code outside ``expected``.
    """
    import subprocess

    try:
        completed = subprocess.run(
            git_command(args), cwd=cwd, env=git_environment(), capture_output=True, check=False
        )
    except FileNotFoundError as error:
        raise GitError("git is not installed (no 'git' on PATH)") from error
    if completed.returncode not in expected:
        message = _message(completed.stderr, completed.returncode)
        raise GitError(f"git {args[0] if args else ''} failed: {message}")
    return completed.returncode


@contextlib.contextmanager
def open_repository(path: str) -> Iterator[git.Repo]:
    """GitPython's view of the repository at ``path``, for reading commits and trees.

    GitPython runs git with the process environment: the repository-locating
    GIT_* variables run_git scrubs are hidden from it too while it is open.
    GitPython loads here, on first use: ``import git`` alone costs ~70 ms.
    """
    import git

    hidden = {name: value for name, value in os.environ.items() if not _kept(name)}
    for name in hidden:
        del os.environ[name]
    try:
        repository = git.Repo(path)
        try:
            yield repository
        finally:
            repository.close()
    finally:
        os.environ.update(hidden)


def start_git(*args: str, cwd: str | os.PathLike[str] | None = None) -> subprocess.Popen[bytes]:
    """Start git in the background so independent calls overlap."""
    import subprocess

    try:
        return subprocess.Popen(
            git_command(args),
            cwd=cwd,
            env=git_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except FileNotFoundError as error:
        raise GitError("git is not installed (no 'git' on PATH)") from error


def finish_git(process: subprocess.Popen[bytes], what: str, check: bool = True) -> bytes:
    """Wait for a git process from ``start_git`` and return its stdout."""
    stdout, stderr = process.communicate()
    if check and process.returncode != 0:
        raise GitError(f"git {what} failed: {_message(stderr, process.returncode)}")
    return stdout


def split_nul(output: bytes) -> list[str]:
    """Split ``-z`` output into strings, dropping the empty tail."""
    return [part for part in output.decode("utf-8", errors="surrogateescape").split("\0") if part]


def _message(stderr: bytes, returncode: int) -> str:
    """git's stderr as one line (errors are reported one line each), or its exit code."""
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines()]
    return "; ".join(line for line in lines if line) or f"exit {returncode}"
