from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from toolkit import read_terminal, record_run

from maggot import Experiment, showrun, store, summarize
from maggot.cli import main
from maggot.config import flatten

SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
KEYS = st.text(alphabet="abcxyz_", min_size=1, max_size=5)
CONFIGS = st.dictionaries(
    KEYS, SCALARS | st.lists(SCALARS, max_size=3) | st.dictionaries(KEYS, SCALARS, max_size=3)
)


def read_override(argument: str) -> tuple[str, Any]:
    """How a Hydra-style override reads back: JSON when it parses, else the text."""
    key, _, value = argument.partition("=")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


@given(CONFIGS)
def test_flat_lines_paste_back_as_one_argument_each_with_the_same_values(
    config: dict[str, Any],
) -> None:
    lines = showrun.flat_lines(config)
    arguments = [shlex.split(line) for line in lines]
    assert all(len(argument) == 1 for argument in arguments)
    assert dict(read_override(argument) for [argument] in arguments) == flatten(config)


def test_plain_text_is_written_bare_and_look_alikes_quoted() -> None:
    assert showrun.flat_lines({"model": {"kernel": "rbf", "C": 1.0}, "tag": "1.0"}) == [
        "model.C=1.0",
        "model.kernel=rbf",
        "'tag=\"1.0\"'",
    ]
    assert showrun.flat_lines({"layers": [1, 2], "name": "a b"}) == [
        "'layers=[1,2]'",
        "'name=a b'",
    ]


def test_a_run_without_files_or_logs_shows_neither(tmp_path: Path) -> None:
    (tmp_path / "run" / ".maggot").mkdir(parents=True)
    details = showrun.load_details(str(tmp_path / "run"))
    assert details.artifacts == [] and details.log_tail == [] and details.more_artifacts == 0
    titles = [section.title for section in showrun.details_as_sections(details)]
    assert "files" not in titles and not any(title.startswith("end of") for title in titles)


def test_many_files_are_cut_with_a_count(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / ".maggot").mkdir(parents=True)
    for number in range(showrun.MAX_ARTIFACTS + 7):
        (run / f"f{number:03d}").write_text("x")
    details = showrun.load_details(str(run))
    assert len(details.artifacts) == showrun.MAX_ARTIFACTS and details.more_artifacts == 7
    fields = [
        section for section in showrun.details_as_sections(details) if section.title == "files"
    ]
    assert fields[0].fields[-1].value == "... and 7 more files"


def test_show_lists_reproductions_with_their_verdicts(workdir: Path) -> None:
    config = {"x": 1}
    record_run(workdir, config, {"acc": 0.5, "loss": 1}, name="run", snapshot=False)
    record_run(workdir, config, {"acc": 0.5, "loss": 1}, name="run.repro-1", snapshot=False)
    record_run(workdir, config, {"acc": 0.4, "loss": 1}, name="run.repro-2", snapshot=False)
    record_run(workdir, config, {"acc": 0.5}, name="run.repro-10", snapshot=False)
    record_run(workdir, config, {"acc": 0.5}, name="run-other.repro-1", snapshot=False)
    details = showrun.load_details("experiments/run")
    assert [(Path(item.path).name, item.verdict) for item in details.reproductions] == [
        ("run.repro-1", "results match"),
        ("run.repro-2", "differs: acc"),
        ("run.repro-10", "differs: loss"),
    ]
    sections = {section.title: section for section in showrun.details_as_sections(details)}
    assert [field.value for field in sections["reproductions"].fields][0] == (
        "completed, results match"
    )


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
    # alive on this host: the status says it all
    alive = summarize.summarize("experiments")
    assert [row.status for row in alive.rows] == ["running"] and alive.warnings == []
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    shown = CliRunner().invoke(main, ["show", "experiments/1"])
    assert "status    killed (recorded as running; its process is gone)" in shown.output
    listing = summarize.summarize("experiments")
    assert [row.status for row in listing.rows] == ["killed"]
    assert listing.warnings == ["experiments/1: recorded as running, but its process is gone"]
    info = json.loads(Path("experiments/1/.maggot/run.json").read_text())
    assert info["status"] == "running"


def test_a_run_running_on_another_host_is_listed_with_a_warning(workdir):
    run_dir = record_run(workdir, {"a": 1}, {"acc": 0.5}, name="far", snapshot=False)
    run_file = run_dir / ".maggot" / "run.json"
    info = json.loads(run_file.read_text())
    info.update(status="running", hostname="node-17", pid=1)
    store.write_json_atomic(run_file, info)
    listing = summarize.summarize("experiments")
    assert [row.status for row in listing.rows] == ["running"]
    assert listing.warnings == [
        "experiments/far: status is 'running' (recorded on node-17: running there, or killed)"
    ]


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


def test_show_ends_with_rank_zero_of_the_latest_launch_and_names_the_others() -> None:
    from maggot.showrun import LogFile, log_title, shown_log

    launch = "r/.maggot/logs/2026-01-01T00-00-00-000000Z-ranks"
    logs = [
        LogFile("r/.maggot/logs/2026-01-01T00-00-00-000000Z", 10),
        LogFile(f"{launch}/rank-0", 3),
        LogFile(f"{launch}/rank-1", 4),
    ]
    assert shown_log(logs) == logs[1]
    assert log_title(logs) == (
        "end of 2026-01-01T00-00-00-000000Z-ranks/rank-0 (other ranks: rank-1, listed under logs)"
    )
    assert shown_log(logs[:1]) == logs[0]
    assert log_title(logs[:1]) == "end of 2026-01-01T00-00-00-000000Z"


def test_rank_logs_are_listed_in_rank_order(tmp_path: Path) -> None:
    ranks_dir = tmp_path / ".maggot" / "logs" / "2026-01-01T00-00-00-000000Z-ranks"
    ranks_dir.mkdir(parents=True)
    for rank in (10, 2, 0):
        (ranks_dir / f"rank-{rank}").write_text(f"rank {rank}\n")
    (tmp_path / ".maggot" / "logs" / "2026-01-01T00-00-00-000000Z").write_text("all\n")
    listed = [os.path.relpath(log.path, tmp_path) for log in showrun._log_files(str(tmp_path))]
    assert listed == [
        ".maggot/logs/2026-01-01T00-00-00-000000Z",
        ".maggot/logs/2026-01-01T00-00-00-000000Z-ranks/rank-0",
        ".maggot/logs/2026-01-01T00-00-00-000000Z-ranks/rank-2",
        ".maggot/logs/2026-01-01T00-00-00-000000Z-ranks/rank-10",
    ]
