from __future__ import annotations

import array
import base64
import json
import math
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from toolkit import git, record_run

from maggot import Experiment, report, series, showrun
from maggot.cli import main


def embedded_data(page: str) -> dict:
    match = re.search(
        r'<script id="maggot-data" type="application/json">(.*?)</script>', page, re.DOTALL
    )
    assert match is not None
    return json.loads(match.group(1))


def decode(text: str, typecode: str = "f") -> list[float]:
    return array.array(typecode, base64.b64decode(text)).tolist()


def test_the_page_embeds_everything_and_needs_no_network(repo: Path) -> None:
    record_run(repo, {"a": 1}, {"score": 0.5}, name="one")
    result = CliRunner().invoke(main, ["report", "-o", "out.html"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("out.html: 1 runs, ")
    page = (repo / "out.html").read_text()
    assert "uPlot" in page and "maggotReport" in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "/*MAGGOT:" not in page
    data = embedded_data(page)
    assert [run["name"] for run in data["runs"]] == ["one"]
    assert data["runs"][0]["results"] == {"score": 0.5}


@given(st.text())
def test_no_run_string_can_end_the_data_script(text: str) -> None:
    encoded = report.data_json({"title": text, "runs": [{"name": text}]})
    assert "<" not in encoded and ">" not in encoded and "&" not in encoded
    assert "\u2028" not in encoded and "\u2029" not in encoded
    assert json.loads(encoded) == {"title": text, "runs": [{"name": text}]}


def test_a_hostile_title_and_config_are_escaped(repo: Path) -> None:
    hostile = "</script><script>alert(1)</script><!--"
    record_run(repo, {"note": hostile}, {}, name="x")
    run_dirs = report.find_runs(["experiments"], 3)
    page = report.render_page(report.collect(run_dirs, title=hostile))
    assert hostile not in page
    assert "<title>&lt;/script&gt;" in page
    assert embedded_data(page)["runs"][0]["config"] == {"note": hostile}


def test_nan_and_infinite_results_and_series_do_not_break_the_json(repo: Path) -> None:
    with Experiment(
        config={"a": 1}, experiment_name="nan", snapshot=False, capture_output="none"
    ) as experiment:
        experiment.register_result("score", float("nan"))
        experiment.log_metric("loss", float("inf"))
        experiment.log_metric("loss", float("nan"))
    data = embedded_data(report.render_page(report.collect(["experiments/nan"])))
    run = data["runs"][0]
    assert run["results"] == {"score": "nan"}
    assert run["stats"]["loss"]["max"] == "nan"
    values = decode(run["series"]["loss"]["value"])
    assert values[0] == math.inf and math.isnan(values[1])


def test_downsampling_keeps_the_extremes_the_ends_and_the_gaps() -> None:
    count = 100_000
    values = [math.sin(step / 1000) for step in range(count)]
    values[12_345] = 50.0
    values[54_321] = -50.0
    values[77_777] = math.nan
    one = series.Series("loss", list(range(count)), [float(step) for step in range(count)], values)
    small = report.downsample(one, 1_000)
    assert len(small.values) <= 1_000 + 2
    assert small.steps == sorted(small.steps)
    assert small.steps[0] == 0 and small.steps[-1] == count - 1
    assert 50.0 in small.values and -50.0 in small.values
    assert any(math.isnan(value) for value in small.values)
    assert report.downsample(one, count) is one


def test_encoded_series_decode_to_steps_times_and_values() -> None:
    one = series.Series("loss", [0, 5, 2**30], [100.0, 101.5, 103.0], [1.0, 0.5, 0.25])
    encoded = report.encode_series(one)
    assert encoded["n"] == 3 and encoded["step_type"] == "f64"
    assert decode(encoded["step"], "d") == [0, 5, 2**30]
    assert decode(encoded["time"]) == [0.0, 1.5, 3.0]
    assert decode(encoded["value"]) == [1.0, 0.5, 0.25]


def test_many_long_series_share_the_point_budget(repo: Path) -> None:
    for index in range(5):
        writer = series.SeriesWriter(str(repo / "experiments" / f"r{index}"))
        (repo / "experiments" / f"r{index}" / ".maggot").mkdir(parents=True)
        for step in range(50_000):
            writer.log("loss", 1.0 / (step + 1))
        writer.close()
    data = report.collect(report.find_runs(["experiments"], 3), point_budget=1_000)
    for run in data["runs"]:
        assert run["series"]["loss"]["n"] == 50_000
        # 1,000 points shared by five series, as min/max pairs, plus both ends
        assert 150 <= len(decode(run["series"]["loss"]["value"])) <= 200 + 2


def test_runs_without_series_single_points_and_different_keys_are_fine(repo: Path) -> None:
    record_run(repo, {"a": 1}, {"score": 1}, name="plain")
    with Experiment(
        config={"b": {"c": "x"}}, experiment_name="single", capture_output="none"
    ) as experiment:
        experiment.log_metric("loss", 0.5)
    data = report.collect(report.find_runs(["experiments"], 3))
    runs = {run["name"]: run for run in data["runs"]}
    assert runs["plain"]["series"] == {}
    assert runs["single"]["stats"]["loss"] == {
        "last": 0.5, "min": 0.5, "max": 0.5, "step": 0, "count": 1,
    }  # fmt: skip
    assert runs["single"]["config"] == {"b": {"c": "x"}}


def test_code_diffs_are_in_the_page_for_few_code_states(repo: Path) -> None:
    record_run(repo, {"a": 1}, name="before")
    record_run(repo, {"a": 2}, name="same")
    (repo / "train.py").write_text('print("changed")\n')
    record_run(repo, {"a": 3}, name="after")
    data = report.collect(report.find_runs(["experiments"], 3))
    runs = {run["name"]: run for run in data["runs"]}
    assert runs["before"]["code_state"] == runs["same"]["code_state"]
    key = f"{runs['before']['code_state']} {runs['after']['code_state']}"
    assert '+print("changed")' in data["code_diffs"][key]
    assert data["code_diff_note"] == ""


def test_without_the_repository_the_page_says_why_there_is_no_code_diff(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_run(repo, {"a": 1}, name="before")
    (repo / "train.py").write_text('print("changed")\n')
    record_run(repo, {"a": 2}, name="after")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    git(repo, "init", "-q", str(elsewhere))
    monkeypatch.chdir(elsewhere)
    data = report.collect(
        [str(repo / "experiments" / "before"), str(repo / "experiments" / "after")]
    )
    assert data["code_diffs"] == {}
    assert data["code_diff_note"].startswith("no code diffs: ")


def test_report_of_named_runs_and_of_a_missing_directory(repo: Path) -> None:
    first = record_run(repo, {"a": 1}, name="one")
    record_run(repo, {"a": 2}, name="two")
    result = CliRunner().invoke(main, ["report", str(first), "-o", "one.html"])
    assert result.exit_code == 0, result.output
    data = embedded_data((repo / "one.html").read_text())
    assert [run["name"] for run in data["runs"]] == ["one"]
    result = CliRunner().invoke(main, ["report", "nowhere"])
    assert result.exit_code == 1
    assert result.stderr == "maggot: nowhere: no such directory\n"


def test_filter_chooses_runs_with_the_summarize_language(repo: Path) -> None:
    record_run(repo, {"lr": 0.1}, {"acc": 0.5}, name="low")
    record_run(repo, {"lr": 1.0}, {"acc": 0.9}, name="high")
    with Experiment(
        config={"lr": 0.5}, experiment_name="curve", snapshot=False, capture_output="none"
    ) as experiment:
        for loss in (3.0, 0.25, 1.0):
            experiment.log_metric("loss", loss)
    record_run(repo, {"lr": 0.2}, {"acc": 0.7}, name="other", experiments_dir="elsewhere")
    result = CliRunner().invoke(
        main,
        ["report", "experiments", "elsewhere", "-o", "f.html", "--filter",
         "acc > 0.6 or loss.min < 0.5", "--filter", "not run ~ '^oth'"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = embedded_data((repo / "f.html").read_text())
    assert sorted(run["name"] for run in data["runs"]) == ["curve", "high"]
    result = CliRunner().invoke(main, ["report", "--filter", "nokey > 1", "-o", "g.html"])
    assert result.exit_code == 1 and "nokey" in result.stderr
    assert not (repo / "g.html").exists()
    result = CliRunner().invoke(main, ["report", "--filter", "acc >", "-o", "g.html"])
    assert result.exit_code == 2 and "--filter" in result.stderr


def test_the_same_name_in_two_folders_is_shown_by_path(repo: Path) -> None:
    record_run(repo, {"a": 1}, name="same", experiments_dir="exp/a")
    record_run(repo, {"a": 2}, name="same", experiments_dir="exp/b")
    data = report.collect(report.find_runs(["exp"], 3))
    assert sorted(run["label"] for run in data["runs"]) == ["exp/a/same", "exp/b/same"]


def test_artifacts_are_listed_without_maggot_files(repo: Path) -> None:
    run_dir = record_run(repo, {"a": 1}, name="art")
    (run_dir / "model.pkl").write_bytes(b"x" * 10)
    (run_dir / "checkpoints").mkdir()
    (run_dir / "checkpoints" / "epoch1.pt").write_bytes(b"y" * 3)
    data = report.collect([str(run_dir)])
    assert data["runs"][0]["artifacts"] == {
        "files": [["checkpoints/epoch1.pt", 3], ["model.pkl", 10]],
        "more": 0,
    }


def test_artifacts_beyond_the_limit_are_counted_and_say_when_counting_stopped(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = record_run(repo, {"a": 1}, name="many")
    for index in range(report.MAX_ARTIFACTS + 5):
        (run_dir / f"f{index:04d}").write_bytes(b"")
    artifacts = report.collect([str(run_dir)])["runs"][0]["artifacts"]
    assert len(artifacts["files"]) == report.MAX_ARTIFACTS
    assert artifacts["more"] == 5
    assert "more_is_at_least" not in artifacts
    # a run with more files than a listing counts (10,000 in real use)
    monkeypatch.setattr(showrun, "_MAX_COUNTED_FILES", report.MAX_ARTIFACTS + 2)
    artifacts = report.collect([str(run_dir)])["runs"][0]["artifacts"]
    assert artifacts["more"] == 2
    assert artifacts["more_is_at_least"] is True


def test_a_million_points_make_a_small_page(repo: Path) -> None:
    run_dir = repo / "experiments" / "long"
    directory = Path(series.series_dir(run_dir))
    directory.mkdir(parents=True)
    # the files as a writer leaves them, written in one go to keep the test quick
    (directory / "host-1-0.names").write_text(series.NAMES_HEADER + "\nloss\n")
    pack = series.POINT.pack
    points = b"".join(pack(0, step, 0.0, 1.0 / (step + 1)) for step in range(1_000_000))
    (directory / "host-1-0.points").write_bytes(points)
    data = report.collect([str(run_dir)])
    encoded = data["runs"][0]["series"]["loss"]
    assert encoded["n"] == 1_000_000
    values = decode(encoded["value"])
    assert len(values) <= report.MAX_POINTS_PER_SERIES + 2
    assert values[0] == 1.0 and values[-1] == pytest.approx(1e-6)
    assert len(report.render_page(data)) < 500_000
