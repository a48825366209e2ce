"""``maggot ui`` in headless chromium: the live page picks up a run recorded while it is open."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import RUN_CONFIGS, Page, record_runs


@pytest.fixture
def server(project: Path) -> Iterator[str]:
    """``maggot ui`` on a free port in the project; stopped with Ctrl-C (SIGINT) afterwards."""
    process = subprocess.Popen(
        [sys.executable, "-m", "maggot", "ui", "--port", "0"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert " at http://127.0.0.1:" in line, line + process.stderr.read() if process.stderr else ""
    yield line.split(" at ", 1)[1].split()[0]
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert out.strip().endswith("maggot ui: stopped")
    assert "Traceback" not in err


def test_the_live_page_shows_a_new_run_and_diffs_code_through_the_server(
    page: Page, server: str, project: Path
) -> None:
    before = sorted(os.listdir(project / "experiments"))
    page.open(server)
    assert sorted(page.rows()) == before
    assert page.tab.inner_text("#live-state").startswith("live")
    page.screenshot("ui-table")

    # a run appears while the page is open
    cwd = os.getcwd()
    os.chdir(project)
    try:
        config = dict(RUN_CONFIGS[2], lr=0.3, note="new")
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("HOME", str(project.parent / "home"))
            record_runs(project, [config], change_code_at=99, first=len(before))
    finally:
        os.chdir(cwd)
    page.tab.wait_for_function(
        f"() => document.querySelectorAll('#runs tbody tr').length === {len(before) + 1}",
        timeout=15_000,
    )
    assert "0.3" in page.column("lr")
    page.screenshot("ui-new-run")

    page.select("run0", "run3")
    page.view("compare")
    page.tab.wait_for_selector("#code-diff pre.code", timeout=15_000)
    assert "+# a change" in page.tab.inner_text("#code-diff")
    page.screenshot("ui-compare")
    # the page asked the server and nothing else
    assert all(url.startswith(server) for url in page.requests), page.requests
