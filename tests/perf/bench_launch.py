"""What ``maggot run`` and ``maggot sweep`` cost, side by side in one run.

Run: python tests/perf/bench_launch.py [--repeat N] [--strict]

In the repository bench_run_start.py generates (50 tracked modules, 1
modified, 1 untracked file, experiments/ ignored):

1. run overhead: a tiny script bare, through ``maggot run``, and written
   against the Experiment API; overhead = median - median(bare).
   Budget: maggot run's overhead at most 1.5x the Experiment API's.
2. sweep: 64 trivial jobs (``python -c "print(N)"``) as a shell loop, and as
   ``maggot sweep`` at ``-j 1`` and ``-j 2`` (one snapshot, one frozen tree).
   Budget: ``-j 1`` at most 2x the loop; ``-j 2`` at most 0.6x ``-j 1``.
"""

from __future__ import annotations

import itertools
import os
import shlex
import shutil
import sys

from bench_run_start import build_repo
from benchlib import (
    STATS_HEADERS,
    Case,
    interleave,
    ms,
    parse_args,
    print_table,
    python_command,
    python_env,
    run_checked,
    scratch_dir,
    stats_rows,
    verdict,
)

RUN_BUDGET = 1.5
SWEEP_SERIAL_BUDGET = 2.0
SWEEP_PARALLEL_BUDGET = 0.6
JOBS = 64


def main() -> int:
    args = parse_args(__doc__.splitlines()[0], default_repeat=20)
    with scratch_dir("launch") as scratch:
        repo = os.path.join(scratch, "repo")
        build_repo(repo)
        env = python_env(os.path.join(scratch, "pycache"))
        seeds = itertools.count()

        def in_repo(*argv: str) -> None:
            run_checked(list(argv), cwd=repo, env=env)

        python = sys.executable

        def maggot_run(seed: int) -> None:
            in_repo(
                *python_command("-m", "maggot", "run", "--if-exists", "increment"),
                "--param", f"seed={seed}", "--", python, "bare.py", str(seed),
            )  # fmt: skip

        run_cases = [
            Case("bare script", lambda _: in_repo(python, "bare.py", str(next(seeds)))),
            Case("maggot run -- python script", lambda _: maggot_run(next(seeds))),
            Case(
                "Experiment API script",
                lambda _: in_repo(python, "with_maggot.py", str(next(seeds))),
            ),
        ]
        print(f"== run overhead (n={args.repeat}) ==")
        run_stats = interleave(run_cases, args.repeat, warmup=2)
        print_table(stats_rows(run_stats, baseline="bare script"), [*STATS_HEADERS, "overhead ms"])
        bare = run_stats["bare script"].median
        run_overhead = run_stats["maggot run -- python script"].median - bare
        api_overhead = run_stats["Experiment API script"].median - bare
        run_ratio = run_overhead / api_overhead

        loop = " ".join(
            f"{shlex.quote(python)} -c 'print({number})';" for number in range(1, JOBS + 1)
        )

        def sweep(parallel: int) -> None:
            in_repo(
                *python_command("-m", "maggot", "sweep", "-j", str(parallel)),
                "-p", f"n=1:{JOBS}:lin:{JOBS}", "--", python, "-c", "print({n})",
            )  # fmt: skip
            # each sweep adds a worktree; keep the repository as it was
            shutil.rmtree(os.path.join(repo, "experiments"), ignore_errors=True)
            run_checked(["git", "worktree", "prune"], cwd=repo)

        sweep_repeat = max(1, args.repeat // 5)
        sweep_cases = [
            Case(f"{JOBS} commands, shell loop", lambda _: in_repo("sh", "-c", loop)),
            Case(f"maggot sweep, {JOBS} jobs, -j 1", lambda _: sweep(1)),
            Case(f"maggot sweep, {JOBS} jobs, -j 2", lambda _: sweep(2)),
        ]
        print(f"\n== sweep of {JOBS} trivial jobs (n={sweep_repeat}) ==")
        sweep_stats = interleave(sweep_cases, sweep_repeat, warmup=1)
        print_table(stats_rows(sweep_stats), STATS_HEADERS)
        loop_time = sweep_stats[f"{JOBS} commands, shell loop"].median
        serial = sweep_stats[f"maggot sweep, {JOBS} jobs, -j 1"].median
        parallel = sweep_stats[f"maggot sweep, {JOBS} jobs, -j 2"].median

    serial_ratio, parallel_ratio = serial / loop_time, parallel / serial
    print(
        f"\nrun overhead {ms(run_overhead)} ms vs Experiment API {ms(api_overhead)} ms: "
        f"{run_ratio:.2f}x (budget {RUN_BUDGET}x)\n"
        f"sweep -j 1 / shell loop: {serial_ratio:.2f}x (budget {SWEEP_SERIAL_BUDGET}x)\n"
        f"sweep -j 2 / -j 1: {parallel_ratio:.2f}x (budget {SWEEP_PARALLEL_BUDGET}x)"
    )
    within = (
        run_ratio <= RUN_BUDGET
        and serial_ratio <= SWEEP_SERIAL_BUDGET
        and parallel_ratio <= SWEEP_PARALLEL_BUDGET
    )
    return verdict(
        within,
        f"run {run_ratio:.2f}x, sweep -j1 {serial_ratio:.2f}x, -j2/-j1 {parallel_ratio:.2f}x",
        args.strict,
    )


if __name__ == "__main__":
    sys.exit(main())
