from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from toolkit import record_run, write_json

from maggot import annotate
from maggot import summarize as summaries
from maggot.errors import NotARunError
from maggot.query import parse
from maggot.summarize import SummarizeError


def add_run(workdir: Path, name: str, config: dict[str, Any], results: dict[str, Any]) -> Path:
    return record_run(workdir, config, results, name=name, snapshot=False)


def runs(summary: summaries.Summary) -> list[str]:
    return [row.run for row in summary.rows]


def test_numbers_compare_numerically_and_everything_else_as_text(workdir: Path) -> None:
    add_run(workdir, "a", {"n": 9, "label": "9", "flag": True, "opt": None}, {"score": 2})
    add_run(workdir, "b", {"n": 10, "label": "10", "flag": False, "opt": 1}, {"score": 10})

    def matching(*texts: str) -> list[str]:
        filters = [parse(text) for text in texts]
        return runs(summaries.summarize("experiments", filters=filters))

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
    assert runs(summaries.summarize("experiments", filters=[parse("lr>0.3")])) == ["a"]
    by_config = summaries.summarize("experiments", filters=[parse("config.lr>0.15")])
    assert runs(by_config) == ["b"]
    table = summaries.summarize("experiments", with_params=True)
    assert table.columns == ["run", "status", "lr", "config.lr"]
    first = {"run": "a", "status": "completed", "lr": 0.5, "config.lr": 0.1}
    assert summaries.as_records(table)[0] == first


def test_a_filter_on_config_loads_config_without_adding_columns(workdir: Path) -> None:
    add_run(workdir, "a", {"model": {"C": 1}}, {"acc": 0.5})
    add_run(workdir, "b", {"model": {"C": 5}}, {"acc": 0.6})
    summary = summaries.summarize("experiments", filters=[parse("model.C>2")])
    assert runs(summary) == ["b"] and summary.columns == ["run", "status", "acc"]


def test_unknown_filter_and_sort_keys(workdir: Path) -> None:
    add_run(workdir, "a", {"x": 1}, {"acc": 0.5})
    with pytest.raises(SummarizeError, match="gamma"):
        summaries.summarize("experiments", filters=[parse("gamma=1")])
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
        summaries.summarize("experiments", filters=[parse("x=1")])


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


def three_runs(workdir: Path) -> None:
    add_run(
        workdir, "a", {"lr": 0.1, "seed": 1, "model": {"C": 1}}, {"acc": 0.5, "test": {"mse": 3}}
    )
    add_run(workdir, "b", {"lr": 0.1, "seed": 2, "model": {"C": 10}}, {"acc": 0.75})
    add_run(workdir, "c", {"lr": 0.1, "seed": 3, "model": {"C": 100}}, {"acc": 1 / 3})


def test_the_filter_language_combines_metrics_config_and_status(workdir: Path) -> None:
    three_runs(workdir)
    text = 'acc > 0.4 and (model.C in [1, 100] or status == "failed")'
    assert runs(summaries.summarize(filters=[parse(text)])) == ["a"]
    assert runs(summaries.summarize(filters=[parse("not run ~ '^[ab]$'")])) == ["c"]


def test_columns_drop_and_only_changed(workdir: Path) -> None:
    three_runs(workdir)
    assert summaries.summarize(only_changed=True).columns == [
        "run", "status", "acc", "test.mse", "model.C", "seed"
    ]  # fmt: skip
    picked = summaries.summarize(columns=["model.*", "acc"])
    assert picked.columns == ["run", "model.C", "acc"] and picked.warnings == []
    # a pattern that picks nothing is said, not silently a table of run names
    missed = summaries.summarize(columns=["acc", "nomatch*", "acuracy"])
    assert missed.columns == ["run", "acc"]
    assert missed.warnings == [
        "--columns 'nomatch*': no column of the runs listed matches",
        "--columns 'acuracy': no column of the runs listed matches",
    ]
    hidden = summaries.summarize(columns=["lr", "seed"], only_changed=True)
    assert hidden.columns == ["run", "seed"]
    assert hidden.warnings == [
        "--columns 'lr': the config values it matches are the same in every run (--only-changed)"
    ]
    assert summaries.summarize(drop=["test.*", "status"]).columns == ["run", "acc"]
    with_info = summaries.summarize(info=["host", "duration"], drop=["test.mse"])
    assert with_info.columns == ["run", "status", "host", "duration", "acc"]
    record = summaries.as_records(with_info)[0]
    assert isinstance(record["duration"], float) and record["host"]


def test_precision_rounds_the_table_but_not_json_or_csv(workdir: Path) -> None:
    three_runs(workdir)
    summary = summaries.summarize(sort_key="acc", columns=["acc"])
    assert "0.333\n" in summaries.render(summary, "table", precision=3)
    assert "0.3333333333333333" in summaries.render(summary, "csv", precision=3)
    assert json.loads(summaries.render(summary, "json", precision=3))[2]["acc"] == 1 / 3


def test_precision_leaves_config_values_as_recorded(workdir: Path) -> None:
    add_run(workdir, "a", {"lr": 0.00123}, {"acc": 1 / 3})
    add_run(workdir, "b", {"lr": 0.00124}, {"acc": 2 / 3})
    summary = summaries.summarize(sort_key="acc", columns=["acc", "lr"])
    for output_format in ("table", "markdown"):
        text = summaries.render(summary, output_format, precision=2)
        # the results rounded; the two configs, rounded, would show the same
        assert "0.67" in text and "0.33" in text and "0.6666" not in text
        assert "0.00123" in text and "0.00124" in text, output_format


@pytest.mark.parametrize("precision", [17, 20, 40])
def test_a_precision_past_what_a_float_holds_shows_the_float_not_its_binary_noise(
    precision: int,
) -> None:
    assert summaries.render_value(0.01, precision) == "0.01"
    assert summaries.render_value(1 / 3, precision) == repr(1 / 3)
    assert summaries.render_value(1 / 3, 16) == "0.3333333333333333"


def test_limit_keeps_the_first_rows_after_sorting(workdir: Path) -> None:
    three_runs(workdir)
    assert runs(summaries.summarize(sort_key="acc", limit=2)) == ["b", "a"]


def test_an_unknown_sort_key_names_the_keys_that_look_like_it(workdir: Path) -> None:
    three_runs(workdir)
    with pytest.raises(SummarizeError, match=r"'mse' \(did you mean test\.mse\?\)"):
        summaries.summarize(sort_key="mse")
    with pytest.raises(SummarizeError, match="did you mean acc"):
        summaries.summarize(filters=[parse("acx > 1")])


def _suggested(**options: Any) -> str:
    with pytest.raises(SummarizeError) as caught:
        summaries.summarize(**options)
    hint = str(caught.value).partition(" (did you mean ")[2]
    return hint.removesuffix("?)")


def test_an_unknown_key_suggests_the_keys_it_begins(workdir: Path) -> None:
    add_run(
        workdir,
        "a",
        {"model": {"lr": 1.0, "name": "resnet"}},
        {"accuracy": 0.9, "accuracy_top5": 0.99, "val": {"loss": 0.5, "acc": 0.8}},
    )
    assert _suggested(sort_key="accur") == "accuracy, accuracy_top5"
    # a key ending in it comes first, then the key it begins
    assert _suggested(sort_key="acc") == "val.acc, accuracy, accuracy_top5"
    assert _suggested(sort_key="ACC") == "val.acc, accuracy, accuracy_top5"
    assert _suggested(sort_key="val") == "val.acc, val.loss"
    assert _suggested(filters=[parse("val > 1")]) == "val.acc, val.loss"
    assert _suggested(sort_key="val.l").startswith("val.loss")
    assert _suggested(sort_key="config.mod") == "config.model.lr, config.model.name"
    assert _suggested(sort_key="mdoel.lr") == "model.lr"
    # a scope typed is kept to: config.val is no metric val.acc
    assert _suggested(sort_key="config.val") == ""
    assert _suggested(sort_key="config.mdoel.lr") == "config.model.lr"


def test_a_family_of_many_keys_suggests_a_few(workdir: Path) -> None:
    add_run(workdir, "a", {}, {"val": {f"m{number}": number for number in range(12)}})
    assert _suggested(sort_key="val") == "val.m0, val.m1, val.m10, val.m11, val.m2"


def test_json_writes_nan_and_infinity_as_null(workdir: Path) -> None:
    add_run(workdir, "a", {"x": 1}, {"loss": float("nan"), "best": float("inf"), "ok": 1.5})
    text = summaries.render(summaries.summarize(), "json")
    assert json.loads(text) == [
        {"run": "a", "status": "completed", "loss": None, "best": None, "ok": 1.5}
    ]


def test_reproductions_are_hidden_unless_asked_and_follow_their_original(workdir: Path) -> None:
    three_runs(workdir)
    add_run(workdir, "b.repro-1", {"lr": 0.1, "seed": 2, "model": {"C": 10}}, {"acc": 0.99})
    add_run(workdir, "b.repro-2", {"lr": 0.1, "seed": 2, "model": {"C": 10}}, {"acc": 0.7})
    assert runs(summaries.summarize(sort_key="acc")) == ["b", "a", "c"]
    shown = summaries.summarize(sort_key="acc", with_repros=True)
    assert runs(shown) == ["b", "b.repro-1", "b.repro-2", "a", "c"]


def test_tags_notes_and_git_info_columns(workdir: Path) -> None:
    from toolkit import init_repo, record_run

    init_repo(workdir)
    first = record_run(workdir, {"x": 1}, {"acc": 0.5}, name="first")
    record_run(workdir, {"x": 2}, {"acc": 0.6}, name="second")
    annotate.change_tags(str(first), add=["baseline", "v1"])
    annotate.add_note(str(first), "the reference run")
    summary = summaries.summarize(info=["commit", "dirty", "tags", "note"], sort_key="acc")
    records = summaries.as_records(summary)
    head = summaries.as_records(summary)[0]["commit"]
    assert len(head) == 40 and records[1]["dirty"] is False
    assert records[1]["tags"] == ["baseline", "v1"] and records[0]["tags"] == []
    assert records[1]["note"] == "the reference run"
    tagged = summaries.summarize(filters=[parse('tags ~ "baseline"')])
    assert runs(tagged) == ["first"] and tagged.columns == ["run", "status", "acc"]


def test_a_column_provider_adds_columns_on_request(workdir: Path) -> None:
    three_runs(workdir)

    def lengths(key: str) -> Any:
        if key != "name.length":
            return None
        return lambda run_dir: len(Path(run_dir).name)

    summaries.register_column_provider(lengths)
    try:
        summary = summaries.summarize(columns=["acc", "name.length"], sort_key="name.length")
        assert summary.columns == ["run", "acc", "name.length"]
        assert summaries.as_records(summary)[0]["name.length"] == 1
    finally:
        summaries._providers.remove(lengths)


def test_long_list_results_are_compact_in_tables_and_whole_in_json(tmp_path, monkeypatch):
    from maggot import Experiment

    monkeypatch.chdir(tmp_path)
    curve = [round(0.001 * step, 3) for step in range(1000)]
    with Experiment(config={"a": 1}, snapshot=False, capture_output="none") as exp:
        exp.register_result("curve", curve)
        exp.register_result("shape", [64, 32])
    summary = summaries.summarize("experiments")
    table = summaries.render(summary, "table")
    assert "[1000 items, last 0.999]" in table and "[64, 32]" in table
    assert max(map(len, table.splitlines())) < 80
    assert json.loads(summaries.render(summary, "json"))[0]["curve"] == curve
    assert summaries.table_value(["x" * 100] * 3) == f"[3 items, last {'x' * 37}...]"


def test_runs_deeper_than_the_depth_are_hinted(tmp_path):
    from click.testing import CliRunner

    from maggot.cli import main

    nested = tmp_path / "outputs" / "2026-01-01" / "10-00-00" / "experiments" / "run"
    (nested / ".maggot").mkdir(parents=True)
    result = CliRunner().invoke(main, ["summarize", str(tmp_path)])
    assert result.exit_code == 0
    assert result.stderr == (
        f"maggot: no runs within 3 folder levels of {tmp_path}, but 1 deeper (the nearest "
        "5 levels down): use --depth 5 or --recursive\n"
    )
    found = CliRunner().invoke(main, ["summarize", str(tmp_path), "--depth", "5"])
    assert "run" in found.stdout


def aged(run_dir: Path) -> Path:
    """The run with its files dated back, so that the listing index caches them."""
    import os
    import time

    past = time.time_ns() - 60 * 10**9
    meta = run_dir / ".maggot"
    for path in [*meta.rglob("*"), meta, run_dir.parent]:
        os.utime(path, ns=(past, past))
    return run_dir


def test_json_rows_from_the_index_are_those_read_afresh(workdir: Path) -> None:
    aged(add_run(workdir, "a", {}, {"b": float("nan"), "a": {"z": 1, "y": "x\x1b[31m"}}))
    aged(add_run(workdir, "b", {}, {"a-b": [1.5, None], "a": {"c": True}, "inf": float("inf")}))
    aged(add_run(workdir, "c", {}, {}))
    fresh = summaries.render(summaries.summarize("experiments", use_index=False), "json")
    for _ in range(2):  # the first listing writes the index, the second reads it
        summary = summaries.summarize("experiments")
        listed = summaries.render(summary, "json")
        assert listed == fresh
    records = json.loads(listed)
    # the rows written from pre-encoded results are those of the column by column path
    expected = summaries.as_records(summary)
    assert records == expected and [list(record) for record in records] == [
        list(record) for record in expected
    ]
    assert records[0] == {
        "run": "a",
        "status": "completed",
        "a.y": "x\x1b[31m",
        "a.z": 1,
        "b": None,
    }
    assert "\x1b" not in listed and "\\u001b" in listed
    assert records[1]["inf"] is None and records[2] == {"run": "c", "status": "completed"}
    assert list(records[1]) == ["run", "status", "a-b", "a.c", "inf"]


def test_the_table_built_by_columns_is_the_table_built_by_rows(workdir: Path) -> None:
    add_run(workdir, "a", {}, {"f": 0.125, "mixed": 3, "flag": True, "text": "é\x07"})
    add_run(workdir, "b", {}, {"f": 12.5, "mixed": 0.5, "none": None, "list": [1, 2]})
    add_run(workdir, "c", {}, {"f": float("nan"), "mixed": "x"})
    summary = summaries.summarize("experiments")
    values = summaries._cells(summary)
    for precision in (None, 2):
        right = [
            all(summaries._is_number(value) or value is summaries._MISSING for value in column)
            for column in zip(*values)
        ]
        by_rows = summaries.render_cells(summary.columns, values, "table", precision, right)
        assert summaries.render(summary, "table", precision) == by_rows


def table_by_rows(summary: summaries.Summary) -> str:
    """The table as the row by row path makes it."""
    values = summaries._cells(summary)
    right = [
        all(summaries._is_number(value) or value is summaries._MISSING for value in column)
        for column in zip(*values)
    ]
    return summaries.render_cells(summary.columns, values, "table", None, right)


def test_table_cells_kept_in_the_index_are_those_formatted_afresh(workdir: Path) -> None:
    long = [0.5] * 30
    add_run(workdir, "a", {}, {"f": 0.1, "l": long, "s": "x\x1b[2J", "n": None, "i": 3})
    add_run(workdir, "b", {}, {"f": float("nan"), "l": [1], "s": "é", "n": True, "i": 2.5})
    add_run(workdir, "c", {}, {"f": 1e300, "l": [], "s": "nul\0here", "n": {"k": 1}, "i": 0})
    for _ in range(2):  # read afresh, then from the index
        summary = summaries.summarize("experiments")
        assert all(row.metrics_texts is not None for row in summary.rows[:2])
        assert summary.rows[2].metrics_texts is None  # a NUL in a cell: formatted afresh
        assert summaries.render(summary, "table") == table_by_rows(summary)
        without_c = summary._replace(rows=summary.rows[:2])
        table = summaries.render(without_c, "table")
        assert table == table_by_rows(without_c)
        assert "[30 items, last 0.5]" in table and "\\x1b[2J" in table


numbers = st.one_of(st.integers(-3, 3), st.floats(-3, 3, allow_nan=False), st.just(float("nan")))


@given(values=st.lists(numbers, max_size=12), ascending=st.booleans())
def test_sorting_by_a_metric_every_run_has_is_stable_with_nan_last(
    values: list[float], ascending: bool
) -> None:
    rows = [
        summaries.RunRow(str(index), str(index), "completed", {"m": value}, {}, {})
        for index, value in enumerate(values)
    ]
    present = [row for row in rows if row.metrics["m"] == row.metrics["m"]]
    expected = sorted(present, key=lambda row: float(row.metrics["m"]), reverse=not ascending)
    expected += [row for row in rows if row not in present]
    assert summaries._sorted(rows, "m", ascending) == expected


@pytest.mark.parametrize("text", ["del\x7f", "line\u2028separator", "bidi\u202e", "ascii"])
def test_json_output_holds_only_printable_text_and_the_same_values(
    workdir: Path, text: str
) -> None:
    add_run(workdir, "odd", {"x": 1}, {"label": text, "acc": 0.5})
    add_run(workdir, "plain", {"x": 2}, {"label": "plain", "acc": 0.7})
    for _ in range(2):  # from the run files, then from the index
        output = summaries.render(summaries.summarize("experiments"), "json")
        assert all(line.isprintable() for line in output.splitlines())
        records = {record["run"]: record for record in json.loads(output)}
        assert records["odd"]["label"] == text
        assert records["plain"] == {
            "run": "plain",
            "status": "completed",
            "acc": 0.7,
            "label": "plain",
        }


def test_not_equal_on_tags_keeps_only_the_runs_without_that_tag(workdir: Path) -> None:
    tagged = add_run(workdir, "tagged", {"lr": 0.1}, {"acc": 0.2})
    add_run(workdir, "other", {"lr": 0.2}, {"acc": 0.4})
    plain = add_run(workdir, "plain", {"lr": 0.3}, {"acc": 0.6})
    annotate.change_tags(str(tagged), add=["v2", "base"])
    annotate.change_tags(str(plain), add=["base"])
    kept = summaries.summarize(filters=[parse("tags != v2")], sort_key="acc")
    assert runs(kept) == ["plain", "other"]
    assert runs(summaries.summarize(filters=[parse("tags == v2")])) == ["tagged"]


def test_a_bare_key_names_the_column_shown_under_that_name(workdir: Path) -> None:
    from maggot import store

    for name, config_host, real_host in (
        ("a", "a1", "vm-b"),
        ("b", "c3", "vm"),
        ("c", "b2", "vm-a"),
    ):
        run_dir = add_run(workdir, name, {"host": config_host}, {"acc": 0.5})
        run_json = run_dir / store.META_DIR / store.RUN_FILE
        store.write_json_atomic(
            run_json, {**json.loads(run_json.read_text()), "hostname": real_host}
        )

    def listed(key: str, **options: Any) -> list[str]:
        filtered = summaries.summarize(filters=[parse(f"{key} ~ '^vm'")], **options)
        ordered = summaries.summarize(sort_key=key, ascending=True, **options)
        return [",".join(runs(filtered)), ",".join(runs(ordered))]

    shown = summaries.summarize(info=["host"], with_params=True)
    assert shown.columns == ["run", "status", "host", "acc", "config.host"]
    # with the info column shown as `host`, `host` is it; config.host is the config value
    assert listed("host", info=["host"]) == ["a,b,c", "b,c,a"]
    assert listed("host", columns=["host"]) == ["a,b,c", "b,c,a"]
    assert listed("config.host", info=["host"]) == ["", "a,c,b"]
    assert listed("info.host") == ["a,b,c", "b,c,a"]
    # without it, the config value shown by --params as `host`
    assert listed("host") == ["", "a,c,b"]
    assert listed("host", with_params=True) == ["", "a,c,b"]
