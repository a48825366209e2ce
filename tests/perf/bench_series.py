"""``exp.log_metric`` in an inner loop: time per call and bytes per point on disk.

Run: python tests/perf/bench_series.py [--repeat N] [--strict]

Each repetition logs 1,000,000 floats to one series of a fresh run (default
steps, buffered, written at least every second), plus a variant with explicit
steps and one logging two series through log_metrics. The time includes the
final flush. Budget: at most 5 us per call amortized, at most 32 bytes per point.
"""

from __future__ import annotations

import os
import sys
import time

from benchlib import Case, interleave, parse_args, print_table, scratch_dir, verdict

from maggot import Experiment, series

CALLS = 1_000_000
BUDGET_MICROSECONDS = 5.0
BUDGET_BYTES = 32


def new_run(root: str, name: str) -> Experiment:
    return Experiment(
        config={"bench": name},
        experiments_dir=root,
        experiment_name=f"{name}-{time.monotonic_ns()}",
        snapshot=False,
        capture_output="none",
    )


def log_default_steps(experiment: Experiment) -> None:
    log = experiment.log_metric
    for index in range(CALLS):
        log("loss", index * 1e-6)
    series.flush_all()


def log_explicit_steps(experiment: Experiment) -> None:
    log = experiment.log_metric
    for index in range(CALLS):
        log("loss", index * 1e-6, step=index)
    series.flush_all()


def log_two_at_once(experiment: Experiment) -> None:
    log = experiment.log_metrics
    for index in range(CALLS // 2):
        log({"loss": index * 1e-6, "acc": 0.5})
    series.flush_all()


def points_size(run_dir: str) -> int:
    directory = series.series_dir(run_dir)
    return sum(
        os.path.getsize(os.path.join(directory, name))
        for name in os.listdir(directory)
        if name.endswith(series.POINTS_SUFFIX)
    )


def main() -> int:
    args = parse_args(__doc__.splitlines()[0], default_repeat=5)
    with scratch_dir("series") as scratch:
        cases = [
            Case("log_metric, default steps", log_default_steps, lambda: new_run(scratch, "a")),
            Case("log_metric, step=i", log_explicit_steps, lambda: new_run(scratch, "b")),
            Case("log_metrics, 2 names", log_two_at_once, lambda: new_run(scratch, "c")),
        ]
        stats = interleave(cases, args.repeat)
        probe = new_run(scratch, "size")
        log_default_steps(probe)
        bytes_per_point = points_size(probe.experiment_dir) / CALLS
    rows = [
        [name, len(item.samples), f"{item.minimum / CALLS * 1e6:.2f}",
         f"{item.median / CALLS * 1e6:.2f}"]
        for name, item in stats.items()
    ]  # fmt: skip
    print(f"\n{CALLS:,} points per repetition (log_metrics: {CALLS // 2:,} calls of 2 names)")
    print_table(rows, ("variant", "n", "min us/point", "median us/point"))
    print(f"\non disk: {bytes_per_point:.1f} bytes per point")
    slowest = max(item.median / CALLS * 1e6 for item in stats.values())
    return verdict(
        slowest <= BUDGET_MICROSECONDS and bytes_per_point <= BUDGET_BYTES,
        f"slowest median {slowest:.2f} us per point (budget {BUDGET_MICROSECONDS} us), "
        f"{bytes_per_point:.0f} bytes per point (budget {BUDGET_BYTES})",
        args.strict,
    )


if __name__ == "__main__":
    sys.exit(main())
