"""A real headless chromium for the report page, shared by a module's tests.

Without chromium or Playwright the tests are skipped with the command that
installs them; with ``CI=true`` they fail instead, so CI never passes without
having run them. Screenshots go to ``$MAGGOT_TEST_ARTIFACTS`` (default: the
test's temporary directory).
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from toolkit import init_repo, isolate_environment

from maggot import Experiment

INSTALL_HINT = "run tests/browser/install.sh"
BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# read once, before any fixture scrubs MAGGOT_* variables from the environment
ARTIFACTS_ROOT = os.environ.get("MAGGOT_TEST_ARTIFACTS")


def _unavailable(reason: str) -> None:
    message = f"{reason}: {INSTALL_HINT}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One chromium per test module: launching it is the slow part."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed")
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        _unavailable("no chromium on PATH")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=BROWSER_ARGS)
        yield launched
        launched.close()


class Page:
    """A browser tab that records console errors, failed requests and every URL asked for."""

    def __init__(self, browser: Any, artifacts: Path) -> None:
        self.context = browser.new_context(viewport={"width": 1300, "height": 1000})
        self.tab = self.context.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.artifacts = artifacts
        self.tab.on("console", self._console)
        self.tab.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        self.tab.on("request", lambda request: self.requests.append(request.url))
        self.tab.on("dialog", lambda dialog: self.errors.append(f"dialog: {dialog.message}"))

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def open(self, url: str) -> None:
        self.tab.goto(url)
        self.tab.wait_for_selector("body[data-ready=true]", timeout=15_000)

    def screenshot(self, name: str) -> Path:
        path = self.artifacts / f"{name}.png"
        self.tab.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 0
        return path

    def rows(self) -> list[str]:
        """The run names shown in the table, top to bottom."""
        return list(self.tab.locator("#runs tbody td.run-name").all_inner_texts())

    def column(self, key: str) -> list[str]:
        headers = self.tab.locator("#runs thead th").all_inner_texts()
        index = [header.rstrip(" ▲▼") for header in headers].index(key)
        cells = self.tab.locator(f"#runs tbody tr td:nth-child({index + 1})")
        return list(cells.all_inner_texts())

    def select(self, *names: str) -> None:
        for name in names:
            name_cell = self.tab.locator(f"td.run-name:text-is('{name}')")
            row = self.tab.locator("#runs tbody tr", has=name_cell)
            row.locator("input[type=checkbox]").check()

    def view(self, name: str) -> None:
        self.tab.click(f"#tabs button[data-view={name}]")

    def filter(self, text: str) -> None:
        self.tab.fill("#filter", text)
        self.tab.wait_for_function(
            "text => window.maggotReport.state.filterText === text", arg=text, timeout=5_000
        )

    def evaluate(self, script: str, argument: Any = None) -> Any:
        return self.tab.evaluate(script, argument)


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    directory = Path(ARTIFACTS_ROOT) if ARTIFACTS_ROOT else tmp_path / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def page(browser: Any, artifacts: Path) -> Iterator[Page]:
    opened = Page(browser, artifacts)
    yield opened
    opened.context.close()
    assert opened.errors == [], opened.errors


RUN_CONFIGS = [
    {"lr": 0.1, "model": {"layers": 2}, "opt": "sgd", "note": "<b>bold</b>"},
    {"lr": 0.01, "model": {"layers": 2}, "opt": "adam", "note": "</script><script>alert(1)"},
    {"lr": 0.001, "model": {"layers": 4}, "opt": "adam", "note": "plain"},
    {"lr": 0.05, "model": {"layers": 3}, "opt": "sgd", "note": "&amp; \u2028"},
    {"lr": 0.02, "model": {"layers": 4}, "opt": "adam", "note": "x"},
]


def record_runs(
    repo: Path, configs: list[dict[str, Any]], *, change_code_at: int = 3, first: int = 0
) -> list[str]:
    """Runs with a loss curve (one NaN point in the first), a val.acc series and a result.

    From run ``change_code_at`` on, train.py has an uncommitted change.
    """
    names = []
    for index, config in enumerate(configs):
        if index == change_code_at:
            with open(repo / "train.py", "a") as file:
                file.write("# a change\n")
        with Experiment(
            config=config, experiment_name=f"run{first + index}", capture_output="none"
        ) as experiment:
            rate = config["lr"]
            for step in range(300):
                loss = math.exp(-rate * step / 3) + 0.01 * (step % 7)
                experiment.log_metric("loss", math.nan if index == 0 and step == 150 else loss)
                if step % 30 == 0:
                    experiment.log_metric("val.acc", 1 - math.exp(-rate * step / 3))
            experiment.register_result("accuracy", round(1 - math.exp(-rate * 100), 4))
            (Path(experiment.experiment_dir) / "model.bin").write_bytes(b"\0" * 2048)
        names.append(os.path.basename(experiment.experiment_dir))
    return names


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A git repository with five recorded runs under experiments/."""
    root = tmp_path_factory.mktemp("project")
    # module-scoped, so isolated here as well as by the per-test fixture
    with pytest.MonkeyPatch.context() as patch:
        isolate_environment(patch, root / "home", root)
        repo = init_repo(root / "repo")
        patch.chdir(repo)
        record_runs(repo, RUN_CONFIGS)
        yield repo
