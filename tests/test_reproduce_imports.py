"""The replay must import the snapshot's code even when the checkout is importable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from toolkit import commit_all, git, make_virtual_environment

TRAIN = textwrap.dedent(
    """
    from maggot import Experiment
    import mypkg
    with Experiment(config={"a": 1}) as exp:
        exp.register_result("value", mypkg.VALUE)
    """
)


def run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("MAGGOT_")}
    environment.update(env or {})
    return subprocess.run(
        args, cwd=cwd, env=environment, capture_output=True, text=True, timeout=300
    )


def results(run_dir: Path) -> dict:
    return json.loads((run_dir / ".maggot" / "results.json").read_text())


def break_checkout(repo: Path, package_dir: Path) -> None:
    """After the run, the user's checkout moves on: committed and uncommitted changes."""
    (package_dir / "__init__.py").write_text("VALUE = 2\n")
    commit_all(repo, "value 2")
    (package_dir / "__init__.py").write_text("VALUE = 3\n")


def test_pythonpath_into_the_checkout_is_mapped_onto_the_worktree(repo):
    package_dir = repo / "lib" / "mypkg"
    package_dir.mkdir(parents=True)
    (package_dir / "__init__.py").write_text("VALUE = 1\n")
    (repo / "train.py").write_text(TRAIN)
    commit_all(repo)
    env = {"PYTHONPATH": str(repo / "lib")}
    assert run([sys.executable, "train.py"], repo, env).returncode == 0
    break_checkout(repo, package_dir)
    result = run([sys.executable, "-m", "maggot", "reproduce", "experiments/1", "--yes"], repo, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert results(repo / "experiments" / "1.repro-1") == {"value": 1}


@pytest.fixture
def venv_python(tmp_path: Path) -> Path:
    """A virtual environment that sees this maggot, for installing a project in editable mode."""
    return make_virtual_environment(tmp_path / "venv", sees_maggot=True)


def test_editable_install_of_the_project_resolves_to_the_worktree(repo, venv_python):
    package_dir = repo / "mypkg"
    package_dir.mkdir()
    (package_dir / "__init__.py").write_text("VALUE = 1\n")
    (repo / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [build-system]
            requires = ["setuptools>=64"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "mypkg"
            version = "0"

            [tool.setuptools]
            packages = ["mypkg"]
            """
        )
    )
    (repo / "train.py").write_text(TRAIN)
    (repo / ".gitignore").write_text("experiments/\n*.egg-info/\n")
    commit_all(repo)
    install = run(
        [str(venv_python), "-m", "pip", "install", "-q", "--no-deps", "-e", str(repo)], repo
    )
    if install.returncode != 0:
        pytest.skip(f"editable install unavailable here: {install.stderr.strip()[-200:]}")
    # the editable import must really point into the checkout, or this test proves nothing
    located = run([str(venv_python), "-c", "import mypkg; print(mypkg.__file__)"], repo.parent)
    assert located.stdout.strip() == str(package_dir / "__init__.py")
    assert run([str(venv_python), "train.py"], repo).returncode == 0
    break_checkout(repo, package_dir)
    result = run(
        [
            str(venv_python),
            "-m",
            "maggot",
            "reproduce",
            "experiments/1",
            "--yes",
            "--python",
            str(venv_python),
        ],
        repo,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert results(repo / "experiments" / "1.repro-1") == {"value": 1}
    replay = json.loads((repo / "experiments" / "1.repro-1" / ".maggot" / "run.json").read_text())
    assert "imports_outside_snapshot" not in replay
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_a_command_that_imports_from_the_checkout_fails_its_reproduction(repo):
    # a plain script run by `maggot run` puts the checkout itself on its import path
    (repo / "train.py").write_text(
        textwrap.dedent(
            f"""
            import json, sys
            sys.path.insert(0, {str(repo)!r})
            import helper
            json.dump({{"value": helper.VALUE}}, open("result.json", "w"))
            """
        )
    )
    (repo / "helper.py").write_text("VALUE = 1\n")
    (repo / ".gitignore").write_text("experiments/\nresult.json\n")
    commit_all(repo, "train")
    maggot = [sys.executable, "-m", "maggot"]
    recorded = run(
        [*maggot, "run", "--results", "result.json", "--", sys.executable, "train.py", "--k", "1"],
        repo,
    )
    assert recorded.returncode == 0, recorded.stderr
    # the checkout gives the same value: only the import path gives the replay away
    (repo / "helper.py").write_text("VALUE = 1  # edited after the run\n")
    replayed = run([*maggot, "reproduce", "experiments/1", "--yes"], repo)
    assert replayed.returncode != 0
    said = replayed.stdout + replayed.stderr
    assert "the replay read code from the checkout instead of the snapshot" in said
    assert str(repo / "helper.py") in said
