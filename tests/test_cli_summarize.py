from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from toolkit import record_run

from maggot.cli import main


def invoke(*args: Any) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args])


@pytest.fixture
def work(workdir: Path) -> Path:
    """Three runs under ./experiments."""
    for name, c, accuracy in (("a", 1, 0.91), ("b", 10, 0.95), ("c", 100, 0.5)):
        record_run(
            workdir,
            {"model": {"C": c}, "seed": 0},
            {"accuracy": accuracy},
            name=name,
            snapshot=False,
        )
    return workdir


def names(result: Result) -> list[str]:
    assert result.exit_code == 0, result.output
    return [row["run"] for row in json.loads(result.stdout)]


def test_dir_defaults_to_experiments_and_options_combine(work: Path) -> None:
    result = invoke(
        "summarize", "--filter", "accuracy > 0.9 and model.C in [1, 10]",
        "--sort", "accuracy", "--only-changed", "--format", "json",
    )  # fmt: skip
    assert names(result) == ["b", "a"]
    assert json.loads(result.stdout)[0] == {
        "run": "b", "status": "completed", "accuracy": 0.95, "model.C": 10
    }  # fmt: skip
    table = invoke("summarize", "--columns", "accuracy", "--precision", "1", "--limit", "1")
    assert table.stdout.splitlines()[2].split() == ["a", "0.9"]


def test_a_filter_that_does_not_parse_points_at_the_column(work: Path) -> None:
    result = invoke("summarize", "--filter", "accuracy > 0.9 and (model.C in [1, 10]")
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "column 39" in lines[0] and "expected ')'" in lines[0]


@pytest.mark.parametrize(
    ("text", "column"),
    [("accuracy > 0.6 accuracy", 16), ("accuracy > 0.5 foo", 16), ("accuracy < 1e", 12)],
)
def test_a_typo_in_a_filter_is_a_usage_error_not_a_text_comparison(
    work: Path, text: str, column: int
) -> None:
    result = invoke("summarize", "--filter", text)
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and f"column {column}" in lines[0]


def test_an_unknown_sort_key_suggests_close_ones(work: Path) -> None:
    result = invoke("summarize", "--sort", "C")
    assert result.exit_code == 1 and "did you mean model.C" in result.stderr


def test_an_unknown_info_column_is_a_usage_error_naming_the_columns(work: Path) -> None:
    result = invoke("summarize", "--info", "hostname")
    assert result.exit_code == 2 and "did you mean host" in result.stderr
    result = invoke("summarize", "--info", "commit,bogus")
    assert result.exit_code == 2 and result.stdout == ""
    message = result.stderr.splitlines()[-1]
    assert "unknown info column 'bogus'" in message
    assert "commit, dirty, started, ended, duration, host, sweep, tags, note" in message


@pytest.mark.parametrize(
    "args",
    [
        ("--filter", "TAGS ~ x"),
        ("--sort", "TAGS"),
        ("--sort", "Accuracy"),
        ("--sort", "c"),
        ("--sort", "acc"),
        ("--filter", "mod > 1"),
    ],
)
def test_close_keys_are_suggested_in_any_case(work: Path, args: tuple[str, str]) -> None:
    result = invoke("summarize", *args)
    assert result.exit_code == 1 and result.stdout == ""
    expected = {
        "TAGS": "tags",
        "Accuracy": "accuracy",
        "c": "model.C",
        "acc": "accuracy",
        "mod": "model.C",
    }[args[1].split()[0]]
    assert f"(did you mean {expected}" in result.stderr


def test_limit_zero_is_a_usage_error(work: Path) -> None:
    result = invoke("summarize", "--limit", "0")
    assert result.exit_code == 2 and result.stdout == ""
    assert "--limit" in result.stderr and "no runs match" not in result.stderr
    assert len(names(invoke("summarize", "--limit", "1", "--format", "json"))) == 1


def test_a_long_filter_works_and_a_deep_one_is_a_usage_error(work: Path) -> None:
    chain = " or ".join(f"model.C == {number}" for number in range(-1000, 11))
    assert sorted(names(invoke("summarize", "--filter", chain, "--format", "json"))) == ["a", "b"]
    result = invoke("summarize", "--filter", "(" * 300 + "model.C == 1" + ")" * 300)
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "column 51" in lines[0] and "nested more than" in lines[0]


@pytest.mark.parametrize("content", ["{broken", "[1]"])
@pytest.mark.parametrize("index", [[], ["--no-index"]])
def test_a_corrupt_run_json_is_one_warning_with_info_columns(
    work: Path, content: str, index: list[str]
) -> None:
    run_json = work / "experiments" / "b" / ".maggot" / "run.json"
    run_json.write_text(content)
    for info in (["--info", "sweep,started"], [], ["--info", "host"]):
        result = invoke("summarize", *info, *index, "--format", "json")
        assert result.exit_code == 0, result.output
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and "b/.maggot/run.json" in lines[0], lines
        assert sorted(names(result)) == ["a", "b", "c"]
