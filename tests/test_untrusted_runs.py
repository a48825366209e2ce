"""A run directory from someone else is untrusted input: hostile files give one line and exit 1."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from toolkit import commit_all

from maggot import Experiment, store
from maggot.cli import main
from maggot.errors import CorruptRunError, ReproduceError
from maggot.reproduce import replay_command

ESCAPE = "\x1b]52;c;ZWNobyBwd25lZA==\x07\x1b[2J\x9b31m\u202e"


@pytest.fixture
def run_dir(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(repo)
    (repo / "train.py").write_text("print('hi')\n")
    commit_all(repo, "train")
    with Experiment(config={"lr": 0.1}) as exp:
        exp.register_result("accuracy", 0.5)
    return repo / exp.experiment_dir


def meta(run_dir: Path, *parts: str) -> Path:
    return run_dir.joinpath(".maggot", *parts)


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("relative", "content"),
    [
        ("run.json", '{"status": 1' + "0" * 5000 + "}"),  # more digits than Python converts
        ("run.json", "[" * 100_000 + "]" * 100_000),
        ("run.json", '{"status": ["running"], "python": 3, "duration_seconds": 1e999}'),
        ("run.json", b"\xff\xfe{}"),
        ("config.json", "[" * 100_000 + "]" * 100_000),
        ("config.json", "1" * 5000),
        ("results.json", '{"a": ' + "9" * 5000 + "}"),
        ("git/head.json", '{"snapshot": true, "commit": ["x"], "skipped": 5}'),
        ("git/head.json", '{"snapshot": true, "commit": "' + "a" * 40 + '", "submodules": [1]}'),
        ("git/head.json", '{"snapshot": true, "commit": "--upload-pack=evil"}'),
        ("git/head.json", '{"snapshot": true, "commit": "' + "a" * 40 + '", "patch_bytes": 1e999}'),
        ("git/head.json", "{" * 50_000),
        ("command", b"\xff" * 10),
    ],
    # short ids: a test id lands in the environment (PYTEST_CURRENT_TEST) of every git run
    ids=lambda value: value if len(value) <= 24 else f"{type(value).__name__}-{len(value)}",
)
@pytest.mark.parametrize(
    "command",
    [["show"], ["show", "--format", "json"], ["show-config"], ["show-command"], ["summarize"],
     ["reproduce", "--dry-run"]],
)  # fmt: skip
def test_hand_edited_files_give_one_line_and_exit_1(
    run_dir: Path, relative: str, content: str | bytes, command: list[str]
) -> None:
    path = meta(run_dir, *relative.split("/"))
    if isinstance(content, str):
        content = content.encode()
    path.write_bytes(content)
    arguments = [*command, str(run_dir) if command != ["summarize"] else "experiments"]
    code, output = invoke(*arguments)
    assert code in (0, 1), output
    assert "unexpected error" not in output and "Traceback" not in output
    if code == 1:
        errors = [line for line in output.splitlines() if line.startswith("maggot: ")]
        assert errors and not errors[-1].startswith("maggot: warning"), output


@pytest.mark.parametrize("relative", ["run.json", "config.json", "command", "git/head.json",
                                      "git/diff.patch", "results.json", "directories"])  # fmt: skip
def test_a_fifo_where_a_run_file_should_be_never_hangs(run_dir: Path, relative: str) -> None:
    path = meta(run_dir, *relative.split("/"))
    path.unlink(missing_ok=True)
    os.mkfifo(path)
    env = {key: value for key, value in os.environ.items() if not key.startswith("MAGGOT_")}
    commands = (["show"], ["show-config"], ["show-command"], ["reproduce", "--dry-run"])
    for command in (*commands, ["summarize"], ["diff", str(run_dir)]):
        completed = subprocess.run(
            [sys.executable, "-m", "maggot", *command, str(run_dir)],
            capture_output=True,
            text=True,
            timeout=60,  # a hang fails the test instead of blocking the suite
            env=env,
            check=False,
        )
        assert completed.returncode in (0, 1), completed.stderr
        assert "unexpected error" not in completed.stderr
        if command == ["show"] and relative != "git/diff.patch":
            assert "not a regular file" in completed.stdout + completed.stderr


def test_a_fifo_among_the_untracked_files_never_hangs(repo: Path) -> None:
    (repo / "train.py").write_text(
        "from maggot import Experiment\nwith Experiment(config={'lr': 0.1}) as exp:\n"
        "    exp.register_result('a', 1)\n"
    )
    commit_all(repo, "train")
    (repo / "helper.py").write_text("x = 1\n")
    completed = subprocess.run([sys.executable, "train.py"], cwd=repo, check=False)
    assert completed.returncode == 0
    run_dir = repo / "experiments" / "0.1"
    copied = meta(run_dir, "git", "untracked", "helper.py")
    copied.unlink()
    os.mkfifo(copied)
    for command in (["diff", str(run_dir)], ["reproduce", "--yes"]):
        result = subprocess.run(
            [sys.executable, "-m", "maggot", *command, str(run_dir)],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 1, result.stderr
        # diff says it in its words, reproduce's manifest check first in its own
        assert "helper.py" in result.stderr and "not a regular file" in result.stderr
    worktrees = subprocess.run(
        ["git", "worktree", "list"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert len(worktrees) == 1, worktrees


def test_control_characters_from_run_files_are_shown_escaped(run_dir: Path) -> None:
    config = json.loads(meta(run_dir, "config.json").read_text())
    config["note" + ESCAPE] = ESCAPE
    meta(run_dir, "config.json").write_text(json.dumps(config, ensure_ascii=False))
    meta(run_dir, "command").write_text(f"python train.py {ESCAPE}\n")
    info = json.loads(meta(run_dir, "run.json").read_text())
    info["command_argv"] = ["python", "train.py", ESCAPE]
    info["hostname"] = ESCAPE
    meta(run_dir, "run.json").write_text(json.dumps(info, ensure_ascii=False))
    results = {"accuracy" + ESCAPE: ESCAPE}
    meta(run_dir, "results.json").write_text(json.dumps(results, ensure_ascii=False))
    other = run_dir.parent / "other"
    shutil.copytree(run_dir, other)
    meta(other, "config.json").write_text(json.dumps({"lr": ESCAPE}, ensure_ascii=False))
    for command in (
        ["show"], ["show", "--format", "json"], ["show-config"],
        ["show-config", "--format", "flat"], ["show-command"], ["reproduce", "--dry-run"],
        ["config-diff", str(other)], ["diff", str(other)],
        ["config-diff", "--format", "json", str(other)],
    ):  # fmt: skip
        code, output = invoke(*command, str(run_dir))
        assert code in (0, 1), output
        for character in ("\x1b", "\x07", "\x9b", "\u202e"):
            assert character not in output, (command, output)
        assert "\\x1b" in output or "\\u001b" in output, (command, output)
    code, output = invoke("summarize", "experiments")
    assert "\x1b" not in output and "\x9b" not in output


@pytest.mark.parametrize(
    "argv",
    [
        ["python", "-c", "print(1)"],
        ["python", "-Ic", "print(1)"],
        ["python", "-uBc", "print(1)"],
        ["python", "-I", "-S", "-c", "print(1)"],
        ["python", "-W", "ignore", "-c", "print(1)"],
        ["python", "-Wignore", "-Ec", "print(1)"],
        ["python", "-X", "dev", "-c", "print(1)"],
        ["python", "--check-hash-based-pycs", "always", "-c", "x"],
        ["python", "-"],
        ["python", "-I", "-"],
        ["python"],
        ["python", "-i"],
        ["python", "-m", "ipykernel_launcher", "-f", "k.json"],
        ["python", "-Imipykernel_launcher"],
    ],
)
def test_inline_code_and_interactive_runs_are_never_replayed(argv: list[str]) -> None:
    with pytest.raises(ReproduceError):
        replay_command(argv, "python3", "run")


@pytest.mark.parametrize(
    "argv",
    [
        ["python", "train.py", "-c", "config.yaml"],
        ["python", "-u", "train.py"],
        ["python", "-Wc", "train.py"],  # -W takes "c" as its value
        ["python", "-X", "c", "train.py"],
        ["python", "-Im", "pkg.train", "-c"],
        ["python", "-mpkg.train"],
        ["python", "--", "train.py"],
    ],
)
def test_scripts_and_modules_are_replayed_as_typed(argv: list[str]) -> None:
    assert replay_command(argv, "python3", "run") == ["python3", *argv[1:]]


@given(st.binary(max_size=200))
def test_any_bytes_read_as_a_run_file_give_a_value_or_a_corrupt_run_error(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory, "run.json")
        path.write_bytes(content)
        try:
            store.read_json(path)
        except CorruptRunError as error:
            assert str(path) in str(error)
