"""``maggot report`` for 1,000 runs x 1,000 points: time to write, size, time to interactive.

Run: python tests/perf/bench_report.py [--repeat N] [--strict]

Builds 1,000 run directories as maggot writes them, each with a 1,000-point
series (and 10,000 runs with a 10-point series for the second case), then
times ``python -m maggot report DIR -o FILE`` as a fresh process, and, when
Debian's chromium and Playwright are installed (tests/browser/install.sh), the
time from opening the file in headless chromium until the page has drawn its
table and curves. Budget for 1,000 x 1,000: written in at most 2 s, at most
2 MB, interactive in at most 3 s.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time

from benchlib import (
    STATS_HEADERS,
    Case,
    interleave,
    parse_args,
    print_table,
    python_command,
    python_env,
    scratch_dir,
    stats_rows,
    verdict,
)

from maggot import series, store
from maggot.records import GitHead, RunInfo

BUDGET_WRITE_SECONDS = 2.0
BUDGET_BYTES = 2_000_000
BUDGET_INTERACTIVE_SECONDS = 3.0
BROWSER_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def build_runs(root: str, runs: int, points: int) -> None:
    for index in range(runs):
        run_dir = os.path.join(root, f"run{index:05d}")
        os.makedirs(store.meta_path(run_dir, store.GIT_DIR))
        store.write_run_info(
            run_dir,
            RunInfo(
                format_version=store.FORMAT_VERSION,
                status=store.STATUS_COMPLETED,
                name=f"run{index:05d}",
                started_at="2026-01-01T00:00:00.000Z",
                duration_seconds=12.5,
            ),
        )
        store.write_json_atomic(
            store.meta_path(run_dir, store.CONFIG_FILE),
            {"lr": [0.1, 0.01, 0.001][index % 3], "seed": index, "model": {"depth": index % 5}},
        )
        store.write_json_atomic(
            store.meta_path(run_dir, store.RESULTS_FILE), {"accuracy": (index * 7919 % 997) / 997}
        )
        store.write_text_atomic(store.meta_path(run_dir, store.COMMAND_FILE), "python train.py\n")
        store.write_git_head(run_dir, GitHead(snapshot=True, commit="0" * 40))
        writer = series.SeriesWriter(run_dir)
        for step in range(points):
            writer.log("loss", 1.0 / (1 + step + index % 7) + (step % 13) * 1e-3)
        writer.close()


def command_case(name: str, command: list[str], env: dict[str, str]) -> Case:
    def timed(_: object) -> None:
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)

    return Case(name, timed)


def time_to_interactive(path: str, repeat: int) -> list[float] | None:
    """Seconds from navigation until the page says it is ready, or None without a browser."""
    executable = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if executable is None:
        return None
    samples = []
    errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=BROWSER_ARGS)
        for _ in range(repeat):
            page = browser.new_page(viewport={"width": 1300, "height": 1000})
            page.on("pageerror", lambda error: errors.append(str(error)))
            started = time.perf_counter()
            page.goto("file://" + path)
            page.wait_for_selector("body[data-ready=true]", timeout=60_000)
            page.wait_for_selector("#curve-plot canvas", timeout=60_000)
            samples.append(time.perf_counter() - started)
            if errors:
                raise RuntimeError(f"page errors: {errors}")
            page.close()
        browser.close()
    return samples


def main() -> int:
    args = parse_args(__doc__.splitlines()[0], default_repeat=5)
    with scratch_dir("report") as scratch:
        env = python_env(os.path.join(scratch, "pycache"))
        thousand = os.path.join(scratch, "thousand")
        many = os.path.join(scratch, "many")
        build_runs(thousand, 1_000, 1_000)
        build_runs(many, 10_000, 10)
        thousand_page = os.path.join(scratch, "thousand.html")
        many_page = os.path.join(scratch, "many.html")
        report = python_command("-m", "maggot", "report")
        cases = [
            command_case("report 1,000 runs x 1,000 points",
                         [*report, thousand, "-o", thousand_page], env),
            command_case("report 10,000 runs x 10 points", [*report, many, "-o", many_page], env),
        ]  # fmt: skip
        stats = interleave(cases, args.repeat)
        sizes = {
            "1,000 x 1,000": os.path.getsize(thousand_page),
            "10,000 x 10": os.path.getsize(many_page),
        }
        interactive = time_to_interactive(thousand_page, args.repeat)
        interactive_many = time_to_interactive(many_page, args.repeat)

    print()
    print_table(stats_rows(stats), STATS_HEADERS)
    print()
    print_table([[name, f"{size / 1e6:.2f}"] for name, size in sizes.items()], ("page", "MB"))
    write_median = stats["report 1,000 runs x 1,000 points"].median
    size = sizes["1,000 x 1,000"]
    message = f"written in {write_median:.2f} s (budget {BUDGET_WRITE_SECONDS} s), "
    message += f"{size / 1e6:.2f} MB (budget {BUDGET_BYTES / 1e6:.0f} MB)"
    within = write_median <= BUDGET_WRITE_SECONDS and size <= BUDGET_BYTES
    if interactive is None or interactive_many is None:
        message += "; no chromium/Playwright: time to interactive not measured"
    else:
        print()
        rows = [
            [name, f"{min(samples):.2f}", f"{statistics.median(samples):.2f}"]
            for name, samples in (("1,000 x 1,000", interactive), ("10,000 x 10", interactive_many))
        ]
        print_table(rows, ("page in headless chromium", "min s", "median s"))
        median = statistics.median(interactive)
        message += f", interactive in {median:.2f} s (budget {BUDGET_INTERACTIVE_SECONDS} s)"
        within = within and median <= BUDGET_INTERACTIVE_SECONDS
    return verdict(within, message, args.strict)


if __name__ == "__main__":
    sys.exit(main())
