from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from toolkit import record_run, write_json

from maggot import summarize as summaries
from maggot.errors import NotARunError
from maggot.summarize import Condition, FilterSyntaxError, SummarizeError, parse_condition


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def add_run(workdir: Path, name: str, config: dict[str, Any], results: dict[str, Any]) -> Path:
    return record_run(workdir, config, results, name=name, snapshot=False)


def runs(summary: summaries.Summary) -> list[str]:
    return [row.run for row in summary.rows]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("model.C>=1", Condition("model.C", ">=", "1")),
        ("status=completed", Condition("status", "==", "completed")),
        (" accuracy < 0.9 ", Condition("accuracy", "<", "0.9")),
        ("tag!=a b", Condition("tag", "!=", "a b")),
        ('kernel=="rbf"', Condition("kernel", "==", "rbf")),
        ("note=", Condition("note", "==", "")),
        ("x>-1e-3", Condition("x", ">", "-1e-3")),
    ],
)
def test_parse_condition(text: str, expected: Condition) -> None:
    assert parse_condition(text) == expected


@pytest.mark.parametrize("text", ["accuracy", "=1", "", "  <= 3"])
def test_parse_condition_rejects_expressions_without_key_or_operator(text: str) -> None:
    with pytest.raises(FilterSyntaxError):
        parse_condition(text)


def test_numbers_compare_numerically_and_everything_else_as_text(workdir: Path) -> None:
    add_run(workdir, "a", {"n": 9, "label": "9", "flag": True, "opt": None}, {"score": 2})
    add_run(workdir, "b", {"n": 10, "label": "10", "flag": False, "opt": 1}, {"score": 10})

    def matching(*texts: str) -> list[str]:
        conditions = [parse_condition(text) for text in texts]
        return runs(summaries.summarize("experiments", conditions=conditions))

    assert matching("n>9") == ["b"]
    assert matching("label>9") == []  # text: "10" < "9"
    assert matching("label<9") == ["b"]
    assert matching("flag=true") == ["a"]
    assert matching("opt=null") == ["a"]
    assert matching("score=10.0") == ["b"]
    assert matching("n=ten") == []  # a number against text compares as text
    assert matching("run=a") == ["a"]


def test_a_metric_wins_over_a_config_key_of_the_same_name(workdir: Path) -> None:
    add_run(workdir, "a", {"lr": 0.1}, {"lr": 0.5})
    add_run(workdir, "b", {"lr": 0.2}, {"lr": 0.05})
    assert runs(summaries.summarize("experiments", conditions=[parse_condition("lr>0.3")])) == ["a"]
    by_config = summaries.summarize("experiments", conditions=[parse_condition("config.lr>0.15")])
    assert runs(by_config) == ["b"]
    table = summaries.summarize("experiments", with_params=True)
    assert table.columns == ["run", "status", "lr", "config.lr"]
    first = {"run": "a", "status": "completed", "lr": 0.5, "config.lr": 0.1}
    assert summaries.as_records(table)[0] == first


def test_a_filter_on_config_loads_config_without_adding_columns(workdir: Path) -> None:
    add_run(workdir, "a", {"model": {"C": 1}}, {"acc": 0.5})
    add_run(workdir, "b", {"model": {"C": 5}}, {"acc": 0.6})
    summary = summaries.summarize("experiments", conditions=[parse_condition("model.C>2")])
    assert runs(summary) == ["b"] and summary.columns == ["run", "status", "acc"]


def test_unknown_filter_and_sort_keys(workdir: Path) -> None:
    add_run(workdir, "a", {"x": 1}, {"acc": 0.5})
    with pytest.raises(SummarizeError, match="gamma"):
        summaries.summarize("experiments", conditions=[parse_condition("gamma=1")])
    with pytest.raises(SummarizeError, match="f1"):
        summaries.summarize("experiments", sort_key="f1")
    with pytest.raises(NotARunError, match="no such directory"):
        summaries.summarize("nowhere")


def test_sort_puts_missing_and_nan_last_in_both_directions(workdir: Path) -> None:
    add_run(workdir, "a", {"x": 1}, {"acc": 0.5})
    add_run(workdir, "b", {"x": 2}, {"acc": float("nan")})
    add_run(workdir, "c", {"x": 3}, {"other": 1})
    add_run(workdir, "d", {"x": 4}, {"acc": 0.9})
    add_run(workdir, "e", {"x": 5}, {"acc": 0.5})
    assert runs(summaries.summarize("experiments", sort_key="acc")) == ["d", "a", "e", "b", "c"]
    ascending = summaries.summarize("experiments", sort_key="acc", ascending=True)
    assert runs(ascending) == ["a", "e", "d", "b", "c"]
    assert runs(summaries.summarize("experiments", sort_key="x", ascending=True)) == list("abcde")


def test_render_formats(workdir: Path) -> None:
    add_run(workdir, "a|b", {"x": 1}, {"acc": 0.5, "fold1": {"loss": 0.25}, "tags": ["x", "y"]})
    add_run(workdir, "1e5", {"x": 2}, {"acc": 0.125})
    summary = summaries.summarize("experiments")
    records = json.loads(summaries.render(summary, "json"))
    assert records == [
        {"run": "1e5", "status": "completed", "acc": 0.125},
        {"run": "a|b", "status": "completed", "acc": 0.5, "fold1.loss": 0.25, "tags": ["x", "y"]},
    ]
    rows = list(csv.reader(io.StringIO(summaries.render(summary, "csv"))))
    assert rows == [
        ["run", "status", "acc", "fold1.loss", "tags"],
        ["1e5", "completed", "0.125", "", ""],
        ["a|b", "completed", "0.5", "0.25", '["x", "y"]'],
    ]
    table = summaries.render(summary, "table").splitlines()
    assert table[2].startswith("1e5 ")  # run names stay verbatim, never parsed as numbers
    assert table[2].index("0.125") + len("0.125") == table[3].index("0.5") + len("0.5")
    markdown = summaries.render(summary, "markdown")
    assert "a\\|b" in markdown


def test_empty_summary_renders_empty(workdir: Path) -> None:
    (workdir / "experiments").mkdir()
    summary = summaries.summarize("experiments")
    assert summary.runs_found == 0
    assert summaries.render(summary, "table") == ""
    assert summaries.render(summary, "json") == "[]\n"
    assert summaries.render(summary, "csv") == "run,status\n"


def test_a_run_directory_itself_is_summarized(workdir: Path) -> None:
    run = add_run(workdir, "only", {"x": 1}, {"acc": 1})
    assert runs(summaries.summarize(str(run))) == ["only"]


def test_broken_runs_become_warnings(workdir: Path) -> None:
    run = add_run(workdir, "a", {"x": 1}, {"acc": 1})
    (run / ".maggot" / "results.json").write_text("[]")
    write_json(run / ".maggot" / "run.json", {"status": "running", "format_version": 1})
    summary = summaries.summarize("experiments", with_params=True)
    assert summary.rows[0].status == "running" and summary.rows[0].metrics == {}
    assert any("expected a JSON object" in warning for warning in summary.warnings)
    assert any("'running'" in warning for warning in summary.warnings)
    (run / ".maggot" / "config.json").unlink()
    summary = summaries.summarize("experiments", with_params=True)
    assert any("no .maggot/config.json" in warning for warning in summary.warnings)
    with pytest.raises(SummarizeError, match="'x'|x"):
        summaries.summarize("experiments", conditions=[parse_condition("x=1")])


def test_plain_table_has_the_layout_of_tabulates_simple_format() -> None:
    from tabulate import tabulate  # type: ignore[import-untyped, unused-ignore]

    headers = ["run", "status", "accuracy", "note"]
    rows = [
        ["a", "completed", "0.5", "x"],
        ["long-run-name", "failed", "10.25", ""],
        ["b", "running", "", "a longer note"],
    ]
    right = [False, False, True, False]
    expected = tabulate(
        rows,
        headers=headers,
        disable_numparse=True,
        colalign=["right" if flag else "left" for flag in right],
    )
    lines = [line.rstrip() + "\n" for line in str(expected).splitlines()]
    assert summaries.plain_table(headers, rows, right) == "".join(lines)


def test_plain_table_aligns_wide_characters_by_display_width() -> None:
    import unicodedata

    def display_width(text: str) -> int:
        return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)

    table = summaries.plain_table(
        ["run", "status"], [["日本語-run", "failed"], ["b", "running"]], [False, False]
    )
    header, _, wide, narrow = table.splitlines()
    starts = {
        display_width(line[: line.index(word)])
        for line, word in ((header, "status"), (wide, "failed"), (narrow, "running"))
    }
    assert len(starts) == 1


def test_plain_table_escapes_control_characters() -> None:
    table = summaries.plain_table(["run"], [["a\nb"]], [False])
    assert table.splitlines()[2] == "a\\nb"


def test_an_unreadable_results_file_is_a_warning_not_a_failure(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("good", "odd"):
        (tmp_path / "experiments" / name / ".maggot").mkdir(parents=True)
        (tmp_path / "experiments" / name / ".maggot" / "run.json").write_text(
            '{"status": "completed"}'
        )
    (tmp_path / "experiments" / "good" / ".maggot" / "results.json").write_text('{"acc": 1}')
    (tmp_path / "experiments" / "odd" / ".maggot" / "results.json").mkdir()
    summary = summaries.summarize("experiments")
    assert [row.run for row in summary.rows] == ["good", "odd"]
    assert any("results.json" in warning for warning in summary.warnings)
