from __future__ import annotations

import json
import math
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from toolkit import record_run

from maggot import Experiment, series
from maggot.cli import main


def new_run(name: str = "run") -> Experiment:
    return Experiment(
        config={"name": name}, experiment_name=name, snapshot=False, capture_output="none"
    )


def test_log_metric_reads_back_in_order_with_default_steps(repo: Path) -> None:
    with new_run() as experiment:
        for value in (3.0, 2.0, 1.5):
            experiment.log_metric("loss", value)
        experiment.log_metric("loss", 1.0, step=10)
        experiment.log_metric("loss", 0.5)
    found, problems = series.read_series(experiment.experiment_dir)
    assert problems == []
    loss = found["loss"]
    assert loss.steps == [0, 1, 2, 10, 11]
    assert loss.values == [3.0, 2.0, 1.5, 1.0, 0.5]
    assert all(abs(when - time.time()) < 60 for when in loss.times)
    assert loss.stats() == series.SeriesStats(last=0.5, min=0.5, max=3.0, step=11, points=5)


def test_log_metrics_nests_dotted_and_mapping_names(repo: Path) -> None:
    with new_run() as experiment:
        experiment.log_metrics({"train": {"loss": 1.0}, "val.acc": 0.5}, step=7)
        experiment.log_metrics({"train": {"loss": 0.5}, "val.acc": 0.75})
    found, _ = series.read_series(experiment.experiment_dir)
    assert sorted(found) == ["train.loss", "val.acc"]
    assert found["train.loss"].steps == [7, 8]
    assert found["val.acc"].values == [0.5, 0.75]


@pytest.mark.parametrize("value", ["0.5", b"1", None, [1.0], {"a": 1}, 1j, object()])
def test_non_numbers_are_a_type_error_naming_the_metric(repo: Path, value: object) -> None:
    experiment = new_run()
    with pytest.raises(TypeError, match="'accuracy'"):
        experiment.log_metric("accuracy", value)


def test_bad_steps_and_names_are_rejected(repo: Path) -> None:
    experiment = new_run()
    with pytest.raises(TypeError, match="'loss'.*step"):
        experiment.log_metric("loss", 1.0, step=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="64 bits"):
        experiment.log_metric("loss", 1.0, step=2**70)
    with pytest.raises(ValueError, match="metric name"):
        experiment.log_metric("", 1.0)
    with pytest.raises(TypeError, match="metric name"):
        experiment.log_metric(3, 1.0)  # type: ignore[arg-type]


def test_numpy_numbers_and_ints_and_bools_are_numbers(repo: Path) -> None:
    numpy = pytest.importorskip("numpy")
    with new_run() as experiment:
        experiment.log_metric("a", numpy.float32(0.25), step=numpy.int64(4))
        experiment.log_metric("a", 3)
        experiment.log_metric("a", True)
    assert series.read_series(experiment.experiment_dir)[0]["a"].values == [0.25, 3.0, 1.0]


def test_nan_and_infinities_are_kept_and_never_win_min_or_max(repo: Path) -> None:
    with new_run() as experiment:
        for value in (float("nan"), 2.0, float("inf"), -1.0, float("-inf")):
            experiment.log_metric("loss", value)
    loss = series.read_series(experiment.experiment_dir)[0]["loss"]
    assert math.isnan(loss.values[0]) and loss.values[2] == math.inf
    stats = loss.stats()
    assert (stats.min, stats.max, stats.last, stats.points) == (-1.0, 2.0, -math.inf, 5)
    only_nan = series.Series("x", [0], [0.0], [math.nan]).stats()
    assert math.isnan(only_nan.min) and math.isnan(only_nan.max)


def test_a_point_takes_at_most_32_bytes_on_disk(repo: Path) -> None:
    with new_run() as experiment:
        for step in range(10_000):
            experiment.log_metric("loss", step * 0.5)
    files = os.listdir(series.series_dir(experiment.experiment_dir))
    points = [name for name in files if name.endswith(series.POINTS_SUFFIX)]
    assert len(points) == 1
    size = os.path.getsize(os.path.join(series.series_dir(experiment.experiment_dir), points[0]))
    assert size <= 32 * 10_000


def test_a_torn_last_record_and_an_unknown_name_are_skipped(repo: Path) -> None:
    with new_run() as experiment:
        experiment.log_metric("loss", 1.0)
        experiment.log_metric("loss", 2.0)
    directory = Path(series.series_dir(experiment.experiment_dir))
    points = next(directory.glob("*" + series.POINTS_SUFFIX))
    with points.open("ab") as file:
        file.write(series.POINT.pack(5, 0, 0.0, 1.0))
        file.write(b"\x01\x02\x03")
    found, problems = series.read_series(experiment.experiment_dir)
    assert found["loss"].values == [1.0, 2.0]
    assert len(problems) == 1 and "unknown names" in problems[0]


def test_a_names_file_of_a_newer_format_is_a_problem_not_a_crash(repo: Path) -> None:
    with new_run() as experiment:
        experiment.log_metric("loss", 1.0)
    names = next(Path(series.series_dir(experiment.experiment_dir)).glob("*.names"))
    names.write_text("maggot-series 99\nloss\n")
    found, problems = series.read_series(experiment.experiment_dir)
    assert found == {}
    assert "format 99" in problems[0]


def test_a_run_without_series_reads_as_none(repo: Path) -> None:
    with new_run() as experiment:
        pass
    assert series.read_series(experiment.experiment_dir) == ({}, [])
    assert not series.has_series(experiment.experiment_dir)


def _log_from_rank(run_dir: str, rank: int, barrier: multiprocessing.synchronize.Barrier) -> None:
    experiment = Experiment(resume_from=run_dir)
    barrier.wait()
    for step in range(5_000):
        experiment.log_metrics({"loss": rank + step / 10_000, f"rank{rank}": step}, step=step)
    series.flush_all()


def test_several_processes_of_one_run_lose_and_interleave_nothing(repo: Path) -> None:
    with new_run() as experiment:
        pass
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(4)
    processes = [
        context.Process(target=_log_from_rank, args=(experiment.experiment_dir, rank, barrier))
        for rank in range(4)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    found, problems = series.read_series(experiment.experiment_dir)
    assert problems == []
    loss = found["loss"]
    assert len(loss.values) == 4 * 5_000
    # every rank's points are all there, each with its own value at each step
    for rank in range(4):
        assert found[f"rank{rank}"].values == [float(step) for step in range(5_000)]
        mine = sorted(value for value in loss.values if rank <= value < rank + 1)
        assert mine == [rank + step / 10_000 for step in range(5_000)]
    assert loss.steps == sorted(loss.steps)


def test_a_forked_child_writes_its_own_points_only(repo: Path) -> None:
    if not hasattr(os, "fork"):
        pytest.skip("no fork on this platform")
    with new_run() as experiment:
        experiment.log_metric("loss", 1.0)
        pid = os.fork()
        if pid == 0:
            experiment.log_metric("child", 2.0)
            series.flush_all()
            os._exit(0)
        os.waitpid(pid, 0)
        experiment.log_metric("loss", 0.5)
    found, _ = series.read_series(experiment.experiment_dir)
    assert found["loss"].values == [1.0, 0.5]
    assert found["child"].values == [2.0]


def test_threads_of_one_process_lose_nothing(repo: Path) -> None:
    experiment = new_run()
    barrier = threading.Barrier(4)

    def log_from_thread(number: int) -> None:
        barrier.wait()
        for step in range(2_000):
            experiment.log_metric("shared", number, step=step)
            experiment.log_metric(f"thread{number}", step)

    threads = [threading.Thread(target=log_from_thread, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    series.flush_all()
    found, problems = series.read_series(experiment.experiment_dir)
    assert problems == []
    assert sorted(found["shared"].values) == sorted(
        float(n) for n in range(4) for _ in range(2_000)
    )
    for number in range(4):
        assert found[f"thread{number}"].values == [float(step) for step in range(2_000)]


KILLED_SCRIPT = """
import sys
from maggot import Experiment
experiment = Experiment(config={"a": 1}, snapshot=False, capture_output="none")
for step in range(1000):
    experiment.log_metric("loss", step * 1.0)
print(experiment.experiment_dir, flush=True)
sys.stdin.read()  # wait to be killed
"""


def test_a_killed_run_keeps_points_logged_more_than_a_second_before(repo: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_SCRIPT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        run_dir = process.stdout.readline().strip()
        deadline = time.monotonic() + 10
        # the flush thread writes within a second; wait for it by watching the file
        while time.monotonic() < deadline:
            found, _ = series.read_series(run_dir)
            if "loss" in found and len(found["loss"].values) == 1000:
                break
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    found, _ = series.read_series(run_dir)
    assert found["loss"].values == [float(step) for step in range(1000)]


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.text(min_size=1).filter(
        lambda text: "\n" not in text and "\r" not in text and text.strip(".") == text
    ),
    values=st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=20),
)
def test_any_name_and_float_round_trip(repo: Path, name: str, values: list[float]) -> None:
    writer = series.SeriesWriter(str(repo / os.urandom(8).hex()))
    os.makedirs(os.path.join(writer.run_dir, ".maggot"), exist_ok=True)
    for value in values:
        writer.log(name, value)
    writer.close()
    found, problems = series.read_series(writer.run_dir)
    assert problems == []
    read = found[name].values
    assert [repr(value) for value in read] == [repr(float(value)) for value in values]


def test_stat_keys_and_columns() -> None:
    assert series.split_stat_key("loss.min") == ("loss", "min")
    assert series.split_stat_key("fold1.loss") == ("fold1.loss", None)
    stats = {"loss": series.SeriesStats(last=0.5, min=0.25, max=2.0, step=9, points=10)}
    assert series.stat_columns(stats) == {"loss": 0.5}
    assert series.stat_columns(stats, ["last", "min", "count"]) == {
        "loss": 0.5,
        "loss.min": 0.25,
        "loss.count": 10,
    }
    assert series.stat_columns(stats, ["loss.step"]) == {"loss.step": 9}


def test_sparkline_scales_to_its_range_and_leaves_gaps_for_nan() -> None:
    assert series.sparkline([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]) == "▁▂▃▄▅▆▇█"
    assert series.sparkline([1.0, math.nan, 2.0]) == "▁ █"
    assert series.sparkline([]) == ""
    assert len(series.sparkline([float(value) for value in range(1000)])) == 24


def test_summarize_shows_the_last_value_and_sorts_by_a_stat(repo: Path) -> None:
    for name, losses in (("a", [3.0, 0.5, 1.0]), ("b", [2.0, 0.9]), ("c", [])):
        with new_run(name) as experiment:
            for loss in losses:
                experiment.log_metric("loss", loss)
    record_run(repo, {"name": "d"}, {"loss": 7.0}, name="d", snapshot=False)
    result = CliRunner().invoke(
        main, ["summarize", "experiments", "--sort", "loss.min", "--ascending", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [row["run"] for row in rows] == ["a", "b", "c", "d"]
    assert rows[0]["loss"] == 1.0 and rows[0]["loss.min"] == 0.5
    assert rows[1]["loss"] == 0.9
    assert rows[3]["loss"] == 7.0 and "loss.min" not in rows[3]

    result = CliRunner().invoke(main, ["summarize", "experiments", "--stats", "max,step"])
    assert result.exit_code == 0, result.output
    header = result.stdout.splitlines()[0].split()
    # d's loss is a result, shown whatever --stats says
    assert header == ["run", "status", "loss", "loss.max", "loss.step"]
    result = CliRunner().invoke(main, ["summarize", "experiments", "--filter", "loss.max>2.5"])
    assert [line.split()[0] for line in result.stdout.splitlines()[2:]] == ["a"]


def test_summarize_through_the_index_sees_new_points_columns_and_precision(repo: Path) -> None:
    with new_run("a") as experiment:
        experiment.log_metric("loss", 1 / 3)
    # old enough for the listing index to cache the run's files
    for directory, _, files in os.walk(experiment.experiment_dir):
        for name in files:
            os.utime(os.path.join(directory, name), (time.time() - 60, time.time() - 60))
    first = CliRunner().invoke(main, ["summarize", "experiments", "--format", "json"])
    assert json.loads(first.stdout)[0]["loss"] == 1 / 3
    assert os.path.exists(os.path.join("experiments", ".maggot-index"))
    # more points after the index was written: the listing shows them
    writer = series.writer_for(experiment.experiment_dir)
    writer.log("loss", 0.125, step=5)
    writer.flush()
    second = CliRunner().invoke(
        main, ["summarize", "experiments", "--format", "json", "--columns", "loss.step"]
    )
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout) == [{"run": "a", "loss.step": 5}]
    table = CliRunner().invoke(main, ["summarize", "experiments", "--stats", "last,min"])
    assert table.stdout.splitlines()[2].split()[2:] == ["0.125", "0.125"]
    rounded = CliRunner().invoke(
        main, ["summarize", "experiments", "--columns", "loss.max", "--precision", "2"]
    )
    assert rounded.stdout.splitlines()[2].split() == ["a", "0.33"]


def test_compare_shows_each_series_last_value(repo: Path) -> None:
    for name, losses in (("a", [3.0, 0.5]), ("b", [2.0, 0.75])):
        with new_run(name) as experiment:
            for loss in losses:
                experiment.log_metric("loss", loss)
    result = CliRunner().invoke(main, ["compare", "a", "b", "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {row["key"]: row["values"] for row in json.loads(result.stdout)["rows"]}
    assert rows["series.loss"] == {"a": 0.5, "b": 0.75}


def test_summarize_rejects_unknown_stats(repo: Path) -> None:
    result = CliRunner().invoke(main, ["summarize", ".", "--stats", "median"])
    assert result.exit_code == 2
    assert "median" in result.stderr


def test_show_prints_a_line_per_series(repo: Path) -> None:
    with new_run() as experiment:
        for step in range(100):
            experiment.log_metric("loss", 1.0 / (step + 1))
        experiment.log_metric("acc", float("nan"))
    result = CliRunner().invoke(main, ["show", experiment.experiment_dir])
    assert result.exit_code == 0, result.output
    lines = result.stdout.split("series\n", 1)[1].splitlines()
    assert lines[0].split()[0] == "acc" and "last nan" in lines[0]
    assert lines[1].split()[0] == "loss"
    assert "█" in lines[1] and "min 0.01" in lines[1] and "(100 points, last step 99)" in lines[1]
    result = CliRunner().invoke(main, ["show", experiment.experiment_dir, "--format", "json"])
    data = json.loads(result.stdout)
    assert data["series"]["loss"]["count"] == 100
    assert data["series"]["acc"]["last"] == "nan"


RUN_PATH_SCRIPT = """
import sys
from maggot import Experiment
with Experiment(config={"a": 1}, snapshot=False, capture_output="none") as experiment:
    before = "maggot.series" in sys.modules
    experiment.log_metric("loss", 1.0)
loaded = [name for name in ("maggot.report", "maggot.ui", "http.server") if name in sys.modules]
print(before, loaded)
"""


def test_series_load_at_the_first_point_and_the_report_never_on_the_run_path(
    repo: Path,
) -> None:
    completed = subprocess.run(
        [sys.executable, "-c", RUN_PATH_SCRIPT], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == "False []"
