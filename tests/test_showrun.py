from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from gitrepo import read_terminal

from maggot import Experiment, showrun, summarize
from maggot.cli import main


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NO_COLOR", raising=False)
    return tmp_path


def test_show_lists_every_entry_into_a_run(workdir):
    with pytest.raises(RuntimeError), Experiment(config={"a": 1}, capture_output="none") as exp:
        raise RuntimeError("diverged")
    with Experiment(resume_from=exp.experiment_dir, capture_output="none"):
        pass
    result = CliRunner().invoke(main, ["show", exp.experiment_dir])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    start = lines.index("entries")
    first, resume = lines[start + 1], lines[start + 2]
    assert first.strip().startswith("1 start") and "failed (RuntimeError)" in first
    assert resume.strip().startswith("2 resume") and "completed" in resume
    data = json.loads(
        CliRunner().invoke(main, ["show", exp.experiment_dir, "--format", "json"]).stdout
    )
    assert [entry["kind"] for entry in data["entries"]] == ["start", "resume"]
    assert data["status"] == "completed" and data["process_gone"] is False


def test_a_killed_run_shows_and_lists_as_killed(workdir):
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\nfrom maggot import Experiment\n"
            "with Experiment(config={'a': 1}):\n"
            "    print('up', flush=True)\n"
            "    sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline() == "up\n"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    shown = CliRunner().invoke(main, ["show", "experiments/1"])
    assert "status    killed (recorded as running; its process is gone)" in shown.output
    listing = summarize.summarize("experiments")
    assert [row.status for row in listing.rows] == ["killed"]
    assert listing.warnings == ["experiments/1: recorded as running, but its process is gone"]
    info = json.loads(Path("experiments/1/.maggot/run.json").read_text())
    assert info["status"] == "running"


def test_render_log_keeps_colours_only_for_a_terminal():
    text = "\x1b[31mred\x1b[0m plain\x1b]52;c;ZXZpbA==\x07 \x1b[2Jcleared\x07bell\n"
    assert showrun.render_log(text, colors=True) == "\x1b[31mred\x1b[0m plain cleared\\x07bell\n"
    assert showrun.render_log(text, colors=False) == "red plain cleared\\x07bell\n"


def test_show_log_prints_the_output_as_seen(workdir):
    with Experiment(config={"a": 1}) as exp:
        print("\x1b[32mgreen\x1b[0m line")
    plain = CliRunner().invoke(main, ["show", exp.experiment_dir, "--log"])
    assert plain.exit_code == 0 and plain.output == "green line\n"
    refused = CliRunner().invoke(main, ["show", exp.experiment_dir, "--log", "--format", "json"])
    assert refused.exit_code == 2


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo terminal")
def test_show_log_keeps_colours_on_a_real_terminal(workdir):
    with Experiment(config={"a": 1}) as exp:
        print("\x1b[32mgreen\x1b[0m line")
    primary, secondary = os.openpty()
    environment = {key: value for key, value in os.environ.items() if key != "NO_COLOR"}
    process = subprocess.Popen(
        [sys.executable, "-m", "maggot", "show", exp.experiment_dir, "--log"],
        stdout=secondary,
        env=environment,
    )
    os.close(secondary)
    output = read_terminal(primary)
    assert process.wait(timeout=60) == 0
    assert b"\x1b[32mgreen\x1b[0m line" in output


def test_show_keeps_long_list_results_short_and_json_whole(workdir):
    with Experiment(config={"a": 1}, capture_output="none") as exp:
        exp.register_result("curve", list(range(500)))
    shown = CliRunner().invoke(main, ["show", exp.experiment_dir])
    assert "curve  [500 items, last 499]" in shown.output
    data = json.loads(
        CliRunner().invoke(main, ["show", exp.experiment_dir, "--format", "json"]).stdout
    )
    assert data["results"]["curve"] == list(range(500))
