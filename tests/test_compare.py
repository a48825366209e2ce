from __future__ import annotations

import csv
import io
import json
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from toolkit import commit_all, init_repo, record_run, run_maggot, run_python

from maggot import compare
from maggot.cli import main


def invoke(*args: Any) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args])


@pytest.fixture
def runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    repo = init_repo(tmp_path / "repo")
    monkeypatch.chdir(repo)
    first = record_run(repo, {"lr": 0.1, "seed": 1}, {"acc": 0.5, "loss": float("nan")}, name="a-1")
    second = record_run(repo, {"lr": 0.1, "seed": 2}, {"acc": 2 / 3}, name="a-2")
    (repo / "train.py").write_text("print('changed')\n")
    third = record_run(repo, {"lr": 0.2, "seed": 2}, {"acc": 0.5}, name="b-1")
    return [first, second, third]


def test_only_rows_that_differ_unless_all(runs: list[Path]) -> None:
    comparison = compare.compare_runs([str(path) for path in runs])
    assert comparison.runs == ["a-1", "a-2", "b-1"]
    keys = [row.key for row in comparison.rows]
    assert keys[:4] == ["config.lr", "config.seed", "results.acc", "results.loss"]
    assert "git.dirty" in keys and "git.commit" not in keys and "run.host" not in keys
    everything = compare.compare_runs([str(path) for path in runs], show_all=True)
    assert {"git.commit", "run.host", "run.status"} <= {row.key for row in everything.rows}


def test_the_table_is_vertical_one_column_per_run(runs: list[Path]) -> None:
    result = invoke("compare", "a-*", "b-1", "--precision", "3")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["key", "a-1", "a-2", "b-1"]
    assert lines[2].split() == ["config.lr", "0.1", "0.1", "0.2"]
    assert "0.667" in result.stdout


def test_json_csv_and_markdown(runs: list[Path]) -> None:
    data = json.loads(invoke("compare", "a-1", "a-2", "--format", "json").stdout)
    rows = {row["key"]: row["values"] for row in data["rows"]}
    assert data["runs"] == ["a-1", "a-2"]
    assert rows["results.loss"] == {"a-1": None}  # NaN as null; a-2 has no loss
    table = list(csv.reader(io.StringIO(invoke("compare", "a-1", "a-2", "--format", "csv").stdout)))
    assert ["results.acc", "0.5", "0.6666666666666666"] in table
    assert invoke("compare", "a-1", "a-2", "--format", "markdown").stdout.startswith("| key")


def test_runs_chosen_by_filter(runs: list[Path]) -> None:
    result = invoke("compare", "--filter", "lr == 0.1", "--format", "json")
    assert json.loads(result.stdout)["runs"] == ["a-1", "a-2"]


def test_bad_arguments_are_one_line_errors(runs: list[Path]) -> None:
    result = invoke("compare", "zz-*")
    assert result.exit_code == 1 and "zz-*: no run matches" in result.stderr
    nothing = invoke("compare")
    assert nothing.exit_code == 2 and "give two runs or more to compare" in nothing.stderr


def one_line_error(result: Result, exit_code: int) -> str:
    assert result.exit_code == exit_code and result.stdout == ""
    (line,) = result.stderr.splitlines()
    return line


@pytest.mark.parametrize(
    "arguments",
    [
        ["a-1"],
        ["a-1", "a-1"],
        ["a-1", "experiments/a-1"],
        ["a-1", "./experiments/a-1/", "a-1*"],
    ],
)
def test_one_run_however_often_named_is_a_usage_error(
    runs: list[Path], arguments: list[str]
) -> None:
    line = one_line_error(invoke("compare", *arguments), 2)
    assert "compare needs two different runs or more, got only experiments/a-1 (" in line


def test_a_usage_error_shows_a_run_name_escaped(runs: list[Path]) -> None:
    hostile = runs[0].parent / "x\x1b[2Jy"
    runs[0].rename(hostile)
    line = one_line_error(invoke("compare", str(hostile)), 2)
    assert "\x1b" not in line and "x\\x1b[2Jy" in line


def test_a_run_named_and_found_by_the_filter_is_compared_once(runs: list[Path]) -> None:
    result = invoke("compare", "a-1", "--filter", "lr == 0.1", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["runs"] == ["a-1", "a-2"]


def test_a_filter_no_run_matches_says_so(runs: list[Path]) -> None:
    line = one_line_error(invoke("compare", "--filter", "acc > 5"), 1)
    assert line == "maggot: no run under experiments matches the filter"
    line = one_line_error(invoke("compare", "--filter", "acc > 5", "--filter", "lr > 0"), 1)
    assert line == "maggot: no run under experiments matches the filters"


def test_a_filter_matching_one_run_says_compare_needs_two(runs: list[Path]) -> None:
    line = one_line_error(invoke("compare", "--filter", "lr == 0.2"), 1)
    assert line.startswith("maggot: compare needs two different runs or more, got only ")
    assert line.endswith("b-1")


def test_precision_rounds_results_but_shows_config_as_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    record_run(tmp_path, {"lr": 1.0, "decay": 0.123456}, {"acc": 2 / 3}, name="x", snapshot=False)
    record_run(tmp_path, {"lr": 0.5, "decay": 0.123457}, {"acc": 0.5}, name="y", snapshot=False)
    for output_format in ("table", "markdown"):
        result = invoke("compare", "x", "y", "--precision", "2", "--format", output_format)
        assert result.exit_code == 0, result.output
        cells = {
            line.strip("| ").split()[0]: line.strip("| ").replace("|", " ").split()[1:]
            for line in result.stdout.splitlines()
        }
        assert cells["config.lr"] == ["1.0", "0.5"]
        assert cells["config.decay"] == ["0.123456", "0.123457"]
        assert cells["results.acc"] == ["0.67", "0.5"]


def test_the_command_row_is_each_runs_own_command_line(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    (repo / "train.py").write_text(
        "import sys\n"
        "from maggot import Experiment\n"
        "with Experiment(config={'lr': float(sys.argv[1])}) as exp:\n"
        "    exp.register_result('acc', exp.config.lr * 2)\n"
    )
    commit_all(repo, "train")
    swept = run_maggot(
        "sweep", "-p", "lr=0.1,0.2", "--", sys.executable, "train.py", "{lr}", cwd=repo
    )  # fmt: skip
    assert swept.returncode == 0, swept.stderr
    launched = run_maggot("run", "--name", "launched", "--", "python3", "-c", "print(1)", cwd=repo)
    assert launched.returncode == 0, launched.stderr
    assert run_python(["train.py", "0.3"], cwd=repo).returncode == 0
    comparison = run_maggot(
        "compare", "0.1", "0.2", "launched", "0.3", "--format", "json", cwd=repo
    )
    assert comparison.returncode == 0, comparison.stderr
    (row,) = [row for row in json.loads(comparison.stdout)["rows"] if row["key"] == "run.command"]
    python = shlex.quote(sys.executable)
    assert row["values"] == {
        "0.1": f"{python} train.py 0.1",
        "0.2": f"{python} train.py 0.2",
        "launched": "python3 -c 'print(1)'",
        "0.3": f"{python} train.py 0.3",
    }
    shown = run_maggot("show-command", "0.3", cwd=repo)
    assert shown.stdout.strip() == row["values"]["0.3"]
