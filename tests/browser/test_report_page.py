"""``maggot report`` opened in headless chromium: every view, driven like a person would."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import Page

from maggot import report, store
from maggot.cli import main


@pytest.fixture(scope="module")
def report_file(project: Path) -> Path:
    output = project.parent / "report.html"
    result = CliRunner().invoke(main, ["report", str(project / "experiments"), "-o", str(output)])
    assert result.exit_code == 0, result.output
    return output


def test_the_page_loads_offline_without_errors_and_shows_every_run(
    page: Page, report_file: Path
) -> None:
    page.open(report_file.as_uri())
    assert sorted(page.rows()) == [f"run{index}" for index in range(5)]
    # nothing but the file itself: no CDN, no fonts, no network
    assert page.requests == [report_file.as_uri()]
    assert page.tab.locator("#runs td.status-completed").count() == 5
    page.screenshot("report-table")


def test_sorting_and_filtering_the_table(page: Page, report_file: Path) -> None:
    page.open(report_file.as_uri())
    page.tab.click("#runs thead th[data-key=lr]")
    assert page.column("lr") == ["0.1", "0.05", "0.02", "0.01", "0.001"]
    page.tab.click("#runs thead th[data-key=lr]")
    assert page.column("lr") == ["0.001", "0.01", "0.02", "0.05", "0.1"]
    page.tab.click("#runs thead th[data-key=loss]")
    losses = [float(text) for text in page.column("loss")]
    assert losses == sorted(losses, reverse=True)

    page.filter("opt=adam")
    assert sorted(page.rows()) == ["run1", "run2", "run4"]
    page.filter("opt=adam, lr>=0.01")
    assert sorted(page.rows()) == ["run1", "run4"]
    page.filter("loss.min<0.2")
    assert sorted(page.rows()) == ["run0", "run3", "run4"]
    page.filter("run3")
    assert page.rows() == ["run3"]
    page.filter("nosuchkey>1")
    assert "no run has nosuchkey" in page.tab.inner_text("#filter-error")
    page.filter("")
    assert len(page.rows()) == 5
    page.screenshot("report-sorted")


def test_the_column_chooser_hides_and_shows_columns(page: Page, report_file: Path) -> None:
    page.open(report_file.as_uri())
    assert page.tab.locator("#runs thead th[data-key=opt]").count() == 1
    page.tab.click("#columns-button")
    page.tab.uncheck("#column-chooser input[data-key=opt]")
    page.tab.check("#column-chooser input[data-key='loss.min']")
    assert page.tab.locator("#runs thead th[data-key=opt]").count() == 0
    assert page.tab.locator("#runs thead th[data-key='loss.min']").count() == 1
    page.screenshot("report-columns")


def test_two_selected_runs_draw_two_curves_and_show_their_diff(
    page: Page, report_file: Path
) -> None:
    page.open(report_file.as_uri())
    page.select("run0", "run4")
    page.view("curves")
    labels = page.evaluate("() => window.maggotReport.state.plot.series.slice(1).map(s => s.label)")
    assert sorted(labels) == ["run0", "run4"]
    # uPlot draws on a canvas: it must hold more than blank pixels
    assert (
        page.evaluate(
            """() => {
            const canvas = document.querySelector('#curve-plot canvas');
            const context = canvas.getContext('2d');
            const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
            let coloured = 0;
            for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) coloured++;
            return coloured;
        }"""
        )
        > 1000
    )
    page.screenshot("report-curves")
    page.tab.check("#curve-log")
    page.tab.fill("#curve-smooth", "0.9")
    page.tab.select_option("#curve-x", "time")
    assert page.evaluate("() => window.maggotReport.state.plot.scales.y.distr") == 3
    page.screenshot("report-curves-log-smoothed")

    page.view("compare")
    config_diff = page.tab.inner_text("#view-compare pre.config-diff")
    assert "~ lr: 0.1 -> 0.02" in config_diff
    assert '~ note: "<b>bold</b>" -> "x"' in config_diff
    code = page.tab.inner_text("#code-diff")
    assert "+# a change" in code and "train.py" in code
    page.screenshot("report-compare")


def test_runs_with_the_same_code_have_no_code_diff(page: Page, report_file: Path) -> None:
    page.open(report_file.as_uri())
    page.select("run0", "run1")
    page.view("compare")
    assert page.tab.inner_text("#code-diff").strip() == "(no differences)"


def test_brushing_an_axis_of_the_parallel_coordinates_filters_the_table(
    page: Page, report_file: Path
) -> None:
    page.open(report_file.as_uri())
    page.view("parallel")
    page.tab.select_option("#parallel-metric", "accuracy")
    canvas = page.tab.locator("#parallel-plot")
    axes = {axis["key"]: axis for axis in json.loads(canvas.get_attribute("data-axes") or "[]")}
    assert {"lr", "model.layers", "opt", "accuracy"} <= set(axes)
    box = canvas.bounding_box()
    assert box is not None
    lr = axes["lr"]
    # a little more than the upper half of the lr axis (0.001 to 0.1): 0.05 and 0.1
    x = box["x"] + lr["x"]
    top = box["y"] + lr["top"] - 2
    middle = box["y"] + (lr["top"] + lr["bottom"]) / 2 + 10
    page.tab.mouse.move(x, top)
    page.tab.mouse.down()
    page.tab.mouse.move(x, middle, steps=5)
    page.tab.mouse.up()
    assert sorted(page.rows()) == ["run0", "run3"]
    assert "lr in [" in page.tab.inner_text("#brush-state")
    page.screenshot("report-parallel-brushed")
    # a click on the axis clears its brush
    page.tab.mouse.click(x, middle)
    assert len(page.rows()) == 5


def test_the_scatter_plots_a_config_value_against_a_metric(page: Page, report_file: Path) -> None:
    page.open(report_file.as_uri())
    page.view("scatter")
    page.tab.select_option("#scatter-x", "lr")
    page.tab.select_option("#scatter-y", "accuracy")
    assert page.tab.get_attribute("#scatter-plot", "data-points") == "5"
    page.screenshot("report-scatter")
    points = page.evaluate(
        "() => window.maggotReport.state.scatterPoints.map(p => [p.x, p.y, p.run.label])"
    )
    box = page.tab.locator("#scatter-plot").bounding_box()
    assert box is not None
    x, y, label = points[0]
    page.tab.mouse.click(box["x"] + x, box["y"] + y)
    assert page.tab.inner_text("#view-run h2 >> nth=0") == label


def test_one_run_shows_config_git_results_series_and_artifacts_escaped(
    page: Page, report_file: Path
) -> None:
    page.open(report_file.as_uri())
    page.tab.click("#runs tbody td.run-name:text-is('run1')")
    view = page.tab.locator("#view-run")
    text = view.inner_text()
    assert '"</script><script>alert(1)"' in text
    assert "model.bin" in text and "2.0 KiB" in text
    assert "dirty" in text and "no" in text
    assert "accuracy" in text and "val.acc" in text
    # strings from runs are text, never markup
    assert page.tab.locator("#view-run b, #runs tbody b, script:not([id]):not([src])").count() == 3
    page.screenshot("report-run")
    page.tab.click("#view-run td.run-name:text-is('loss')")
    assert page.evaluate("() => window.maggotReport.state.view") == "curves"


def test_a_nan_point_is_a_gap_in_the_curve(page: Page, report_file: Path) -> None:
    page.open(report_file.as_uri())
    page.select("run0")
    page.view("curves")
    values = page.evaluate("() => window.maggotReport.state.plot.data[1]")
    assert values[150] is None and values[149] is not None and values[151] is not None


def _write_runs(root: Path, count: int, points: int) -> None:
    """Many runs written directly in the store's format: fast enough for a test."""
    from maggot import series

    for index in range(count):
        run_dir = root / f"run{index:05d}"
        os.makedirs(store.meta_path(run_dir))
        store.write_json_atomic(
            store.meta_path(run_dir, store.RUN_FILE),
            {"format_version": 1, "status": ("completed", "failed", "running")[index % 3]},
        )
        config: dict[str, Any] = {"seed": index, "width": 2 ** (index % 5)}
        if index % 2:
            config["only_odd"] = "yes"
        store.write_json_atomic(store.meta_path(run_dir, store.CONFIG_FILE), config)
        store.write_json_atomic(
            store.meta_path(run_dir, store.RESULTS_FILE), {"score": index / count}
        )
        if points:
            writer = series.SeriesWriter(str(run_dir))
            for step in range(points):
                writer.log("loss", 1.0 / (step + 1 + index))
            writer.close()


def test_a_thousand_runs_are_paginated_and_stay_usable(page: Page, tmp_path: Path) -> None:
    _write_runs(tmp_path / "many", 1_050, 5)
    output = tmp_path / "many.html"
    outcome = report.write_report(report.find_runs([str(tmp_path / "many")], 3), str(output))
    assert outcome.runs == 1_050
    started = time.monotonic()
    page.open(output.as_uri())
    assert time.monotonic() - started < 10
    assert len(page.rows()) == 100
    assert page.tab.inner_text("#page-state") == "page 1 of 11"
    page.tab.click("#page-next")
    assert page.tab.inner_text("#page-state") == "page 2 of 11"
    assert page.rows()[0] == "run00100"
    page.filter("only_odd=yes")
    assert page.tab.inner_text("#row-count") == "525 of 1050 runs"
    page.view("parallel")
    page.view("curves")
    assert page.evaluate("() => window.maggotReport.state.plot.series.length") == 21
    page.screenshot("report-many-runs")
