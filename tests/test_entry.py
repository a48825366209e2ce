"""The console script: ``maggot run`` read without click, everything else through click."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import pytest
from hypothesis import given
from hypothesis import strategies as st
from toolkit import commit_all, run_maggot, run_python

from maggot import entry
from maggot.cli.run import run_command

OPTION_VALUES = {
    "--config": st.sampled_from(["c.json", "-x.json", "a=b"]),
    "--param": st.sampled_from(["a=1", "b=x", "c=1e-3", "=1", "noequals", "d="]),
    "--name": st.sampled_from(["run{a}", "plain", "--odd"]),
    "--experiments-dir": st.sampled_from(["experiments", "out", "-"]),
    "--if-exists": st.sampled_from(["increment", "exit", "bogus"]),
    "--results": st.sampled_from(["out.json", "--"]),
    "--metric-pattern": st.sampled_from([r"(?P<name>\w+)=(?P<value>\d+)", "x"]),
}
TOKENS = st.one_of(
    st.sampled_from(["--no-track-inputs", "--help", "-h", "--unknown", "-", "--", "-x"]),
    st.sampled_from(sorted(OPTION_VALUES)),
)


@st.composite
def run_arguments(draw: st.DrawFn) -> list[str]:
    arguments: list[str] = []
    for _ in range(draw(st.integers(0, 5))):
        token = draw(TOKENS)
        if token in OPTION_VALUES:
            value = draw(OPTION_VALUES[token])
            if draw(st.booleans()):
                arguments.append(f"{token}={value}")
            else:
                arguments += [token, value]
        else:
            arguments.append(token)
    arguments += draw(st.sampled_from([[], ["python", "t.py", "--lr", "0.1"], ["--", "ls", "-l"]]))
    return arguments


def click_fields(arguments: list[str]) -> dict[str, object] | None:
    """What click's own ``maggot run`` makes of the arguments (None: an error or help)."""
    try:
        context = run_command.make_context("run", list(arguments), resilient_parsing=False)
    except (click.ClickException, click.exceptions.Exit):
        return None
    return dict(context.params)


@given(run_arguments())
def test_the_fast_parser_reads_what_click_reads_or_leaves_it_to_click(arguments):
    fast = entry.parse_run_arguments(arguments)
    if fast is None:
        return  # click reads them: its answer is the command line's by construction
    expected = click_fields(arguments)
    assert expected is not None, arguments
    assert fast["command"] == expected["command"]
    assert fast["track_inputs"] == expected["track_inputs"]
    assert fast.get("config_file") == expected["config_file"]
    assert fast.get("name_template") == expected["name_template"]
    assert fast.get("experiments_dir", "experiments") == expected["experiments_dir"]
    assert fast.get("if_exists", "prompt") == expected["if_exists"]
    assert fast.get("results_file") == expected["results_file"]
    assert fast.get("metric_pattern") == expected["metric_pattern"]
    assert [item.partition("=")[0] for item in fast["extra_params"]] == [
        key for key, _ in expected["extra_params"]
    ]


def test_help_errors_and_other_commands_go_to_click():
    assert entry.parse_run_arguments(["--help"]) is None
    assert entry.parse_run_arguments(["--lr", "0.1"]) is None  # an option click decides about
    assert entry.parse_run_arguments(["--name", "x"]) is None  # no command
    assert entry.parse_run_arguments(["--param", "x"]) is None
    parsed = entry.parse_run_arguments(["--name=a", "--param", "k=v", "python", "--name", "b"])
    assert parsed is not None
    assert parsed["name_template"] == "a"
    assert parsed["command"] == ("python", "--name", "b")


@pytest.fixture
def project(repo: Path) -> Path:
    (repo / "train.py").write_text("import sys\nprint('acc=0.5', sys.argv[1:])\n")
    commit_all(repo, "train")
    return repo


def test_maggot_run_records_the_command_without_importing_click(project):
    result = run_python(
        ["-X", "importtime", "-m", "maggot", "run", "--name", "fast", "--metric-pattern",
         r"(?P<name>acc)=(?P<value>[0-9.]+)", "--", sys.executable, "train.py", "--lr", "1"],
        cwd=project,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert "maggot.launch" in imported
    assert not {"click", "git", "tabulate", "deepdiff"} & imported
    assert "maggot: experiments/fast: completed" in result.stderr
    assert (project / "experiments" / "fast" / ".maggot" / "results.json").read_text() == (
        '{\n  "acc": 0.5\n}\n'
    )


@pytest.mark.parametrize(
    "arguments",
    [
        ["run", "--if-exists", "bogus", "--", "true"],
        ["run", "--name", "x{missing}", "--", "true"],
        ["run", "--", "no-such-program-here"],
        ["run", "--lr", "0.1"],
        ["run"],
    ],
)
def test_usage_errors_are_clicks_own(project, arguments):
    from click.testing import CliRunner

    from maggot.cli import main

    expected = CliRunner().invoke(main, arguments, prog_name="maggot")
    result = run_maggot(*arguments, cwd=project)
    assert result.returncode == expected.exit_code == 2
    assert result.stderr == expected.output
    assert not (project / "experiments").exists()


def test_a_failure_while_running_is_one_line_exit_1(project):
    first = run_maggot("run", "--name", "taken", "--", sys.executable, "train.py", cwd=project)
    assert first.returncode == 0, first.stderr
    again = run_maggot(
        "run", "--name", "taken", "--if-exists", "exit", "--", sys.executable, "train.py",
        cwd=project,
    )  # fmt: skip
    assert again.returncode == 1
    assert again.stderr.startswith("maggot: ") and len(again.stderr.splitlines()) == 1
    assert "already exists" in again.stderr


def test_run_and_sweep_exit_with_the_code_after_every_exit_handler(project, tmp_path):
    # an exit handler registered before maggot starts (a coverage tool's, say) still runs
    custom = tmp_path / "custom"
    custom.mkdir()
    (custom / "sitecustomize.py").write_text(
        "import atexit, os, sys\n"
        "def note():\n"
        "    with open(os.environ['EXIT_NOTES'], 'a') as notes:\n"
        "        notes.write(' '.join(sys.argv[1:3]) + '\\n')\n"
        "atexit.register(note)\n"
    )
    notes = tmp_path / "notes"
    env = {"PYTHONPATH": str(custom), "EXIT_NOTES": str(notes)}
    command = [sys.executable, "-c", "import sys; print('printed'); sys.exit(3)"]
    result = run_maggot("run", "--name", "exits", "--", *command, cwd=project, env=env)
    assert result.returncode == 3
    assert result.stderr.endswith("maggot: experiments/exits: failed\n")
    logs = project / "experiments" / "exits" / ".maggot" / "logs"
    assert "printed" in "".join(path.read_text() for path in logs.iterdir())
    assert "run --name" in notes.read_text().splitlines()
    swept = run_maggot(
        "sweep", "-p", "n=1,2", "--", sys.executable, "-c", "print({n})", cwd=project, env=env
    )
    assert swept.returncode == 0, swept.stderr
    assert swept.stdout.startswith("sweep ") and "2 completed" in swept.stdout
    assert "sweep -p" in notes.read_text().splitlines()
    # the listings too, with their whole output: a pipe's last bytes are flushed
    listed = run_maggot("summarize", "--format", "json", cwd=project, env=env)
    assert listed.returncode == 0, listed.stderr
    assert {row["run"] for row in json.loads(listed.stdout)} >= {"exits"}
    assert "summarize --format" in notes.read_text().splitlines()


def test_a_profiled_maggot_still_writes_its_profile(project, tmp_path):
    profile = tmp_path / "profile"
    result = run_python(
        ["-m", "cProfile", "-o", str(profile), "-m", "maggot", "summarize"], cwd=project
    )
    assert result.returncode in (0, 1), result.stderr
    assert profile.stat().st_size > 0
