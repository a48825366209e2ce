"""Run every benchmark in tests/perf/ and sum up their verdicts.

Run: python tests/perf/run_all.py [--strict] [--only NAME ...] [-- extra args for each benchmark]

Each benchmark runs in its own interpreter, one after the other (never in
parallel: they would time each other). Exit status: 0 unless a benchmark
crashed, or ``--strict`` is given and one is over budget.
"""

from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import time

from benchlib import EXIT_OVER_BUDGET, VERDICT_PREFIX, print_table

HERE = os.path.dirname(os.path.abspath(__file__))


def benchmarks(only: list[str]) -> list[str]:
    scripts = sorted(glob.glob(os.path.join(HERE, "bench_*.py")))
    if only:
        scripts = [path for path in scripts if any(name in os.path.basename(path) for name in only)]
    return scripts


def run_one(script: str, extra: list[str]) -> tuple[str, float]:
    """Stream the benchmark's output and return its verdict line and duration."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, script, *extra], stdout=subprocess.PIPE, text=True, bufsize=1
    )
    assert process.stdout is not None
    found = ""
    for line in process.stdout:
        print(line, end="", flush=True)
        if line.startswith(VERDICT_PREFIX):
            found = line[len(VERDICT_PREFIX) :].strip()
    returncode = process.wait()
    # --strict passed through to a benchmark makes "over budget" exit non-zero too
    over_as_told = returncode == EXIT_OVER_BUDGET and found.startswith("OVER")
    if (returncode != 0 and not over_as_told) or not found:
        found = f"ERROR: exit {returncode}" + ("" if found else ", no verdict")
    return found, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="exit 1 when any is over budget")
    parser.add_argument(
        "--only", nargs="+", default=[], help="run benchmarks whose name contains NAME"
    )
    parser.add_argument("extra", nargs="*", help="arguments passed to every benchmark (after --)")
    args = parser.parse_args()

    results = []
    for script in benchmarks(args.only):
        name = os.path.basename(script)
        print(f"\n=== {name} ===", flush=True)
        # Never --strict for the children: over budget is read from the verdict,
        # so a non-zero exit always means the benchmark itself failed.
        found, seconds = run_one(script, args.extra)
        results.append(
            (name, found.split(":", 1)[0], f"{seconds:.0f}", found.split(":", 1)[-1].strip())
        )

    print("\n=== summary ===")
    print_table(results, ("benchmark", "verdict", "took s", "detail"))
    verdicts = {row[1] for row in results}
    if any(verdict.startswith("ERROR") for verdict in verdicts):
        return 1
    return 1 if args.strict and "OVER" in verdicts else 0


if __name__ == "__main__":
    sys.exit(main())
