"""Helpers for tests: real git repositories and real subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

COMMIT_IDENTITY = ["-c", "user.name=maggot tests", "-c", "user.email=tests@example.com"]


def git(repo: Path | str, *args: str, input: bytes | None = None) -> str:
    """Run real git in ``repo`` and return stdout; fail the test on error."""
    completed = subprocess.run(
        ["git", *COMMIT_IDENTITY, *args],
        cwd=repo,
        input=input,
        capture_output=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr.decode()
    return completed.stdout.decode()


def commit_all(repo: Path, message: str = "commit") -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def run_python(
    args: list[str], cwd: Path | str, env: dict[str, str] | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the current interpreter in a subprocess, capturing text output."""
    environment = {**os.environ, **(env or {})}
    environment.pop("MAGGOT_RUN_DIR", None)
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=environment,
        input=input,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def run_maggot(
    *args: str, cwd: Path | str, env: dict[str, str] | None = None, input: str | None = None
):
    """Run the real ``maggot`` CLI (``python -m maggot``) in a subprocess."""
    return run_python(["-m", "maggot", *args], cwd=cwd, env=env, input=input)


def read_terminal(primary: int) -> bytes:
    """Everything written to a pseudo terminal until its last writer closes it."""
    output = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # EIO: every writer closed the terminal
            break
        if not chunk:
            break
        output += chunk
    os.close(primary)
    return output
