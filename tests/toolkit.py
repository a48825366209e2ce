"""The test toolkit: one git() helper, one repository builder, one way to run maggot.

Every test runs with HOME in a temporary directory holding a minimal git config
(conftest's autouse fixture calls ``isolate_environment``), so whatever the
user's own ``~/.gitconfig`` holds (signing, hooks, templates, autocrlf ...)
cannot change what git does here.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

GIT_IDENTITY = {"user.name": "maggot tests", "user.email": "tests@example.com"}
DEFAULT_FILES: Mapping[str, bytes] = {
    ".gitignore": b"experiments/\n",
    "README.md": b"a project\n",
    "train.py": b'print("train")\n',
    "data.bin": b"\x00\x01\x02\x03",
}


def isolate_environment(monkeypatch: pytest.MonkeyPatch, home: Path, ceiling: Path) -> None:
    """No GIT_* or MAGGOT_* from outside, no user or system git config, HOME in ``home``."""
    for name in list(os.environ):
        if name.startswith(("GIT_", "MAGGOT_")):
            monkeypatch.delenv(name)
    home.mkdir(parents=True, exist_ok=True)
    identity = "".join(f"\t{key.split('.')[1]} = {value}\n" for key, value in GIT_IDENTITY.items())
    (home / ".gitconfig").write_text("[user]\n" + identity)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    # repository discovery stops at the test's temporary root, whatever is above it
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(ceiling))
    monkeypatch.delenv("NO_COLOR", raising=False)


def git(repo: Path | str, *args: str, input: bytes | None = None) -> str:
    """Run real git in ``repo`` and return its stdout; fail the test with git's stderr."""
    # no optional locks: `git status` here must not refresh an index a test compares
    completed = subprocess.run(
        ["git", *args],
        cwd=repo,
        input=input,
        env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        capture_output=True,
        check=False,
    )
    assert completed.returncode == 0, f"git {' '.join(args)}: {completed.stderr.decode()}"
    return completed.stdout.decode("utf-8", errors="surrogateescape")


def commit_all(repo: Path, message: str = "commit") -> str:
    """Stage everything and commit; return the new HEAD."""
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def init_repo(
    path: Path, files: Mapping[str, bytes] = DEFAULT_FILES, *, commit: bool = True
) -> Path:
    """A repository on branch main holding ``files``, committed unless ``commit`` is false."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    for name, content in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(content)
    if commit:
        commit_all(path, "initial")
    return path


def add_submodule(repo: Path, library: Path, files: Mapping[str, bytes], path: str = "lib") -> Path:
    """A committed repository at ``library`` holding ``files``, added to ``repo`` at ``path``."""
    init_repo(library, files)
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(library), path)
    return repo / path


def run_python(
    args: list[str],
    cwd: Path | str,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the test interpreter in a subprocess, capturing text output."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
        input=input,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def run_maggot(
    *args: Any,
    cwd: Path | str,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the real ``maggot`` command line (``python -m maggot``) in a subprocess."""
    return run_python(["-m", "maggot", *map(str, args)], cwd=cwd, env=env, input=input)


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
    from maggot import Experiment

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


def make_virtual_environment(directory: Path, *, sees_maggot: bool = False) -> Path:
    """A virtual environment without pip made from the test interpreter; its ``bin/python``.

    ``sees_maggot``: it also sees the packages of the test interpreter (maggot).
    """
    options = ["--system-site-packages"] if sees_maggot else []
    subprocess.run(
        [sys.executable, "-m", "venv", *options, "--without-pip", str(directory)], check=True
    )
    python = directory / "bin" / "python"
    if sees_maggot:
        # --system-site-packages only reaches the base interpreter's packages; when the tests
        # run from a virtual environment, make that environment's packages visible too
        site_dir = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        parents = "; ".join(f"site.addsitedir({path!r})" for path in site.getsitepackages())
        Path(site_dir, "parent_environment.pth").write_text(f"import site; {parents}\n")
    return python


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


def all_at_once(job: Callable[[int], object], count: int) -> list[BaseException]:
    """``job(0)`` ... ``job(count - 1)``, each in a thread, released together; what they raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(number: int) -> None:
        try:
            barrier.wait()
            job(number)
        except BaseException as error:  # returned for the caller's assertion
            errors.append(error)

    threads = [threading.Thread(target=run, args=(number,)) for number in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors
