"""Shared helpers for the on-demand benchmarks: timing, tables, verdicts and scratch git repos.

The benchmarks are plain scripts (``python tests/perf/bench_*.py``), not pytest
tests, so this module is imported from the script's own directory.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

from tabulate import tabulate

# A distinct code so run_all.py (and CI, if it ever runs these) can tell
# "over budget" from a crash (1) or a usage error (2).
EXIT_OVER_BUDGET = 3
VERDICT_PREFIX = "VERDICT:"
# The checkout these benchmarks belong to (tests/perf/ is two levels down).
SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

GIT_IDENTITY = (
    "-c", "user.name=maggot-bench",
    "-c", "user.email=bench@example.invalid",
    "-c", "commit.gpgsign=false",
    "-c", "init.defaultBranch=main",
    "-c", "gc.auto=0",
)  # fmt: skip


def _no_setup() -> None:
    return None


class Case(NamedTuple):
    """One timed variant: ``setup()`` runs untimed, then ``timed(setup_result)`` is timed."""

    name: str
    timed: Callable[[Any], object]
    setup: Callable[[], Any] = _no_setup


class Stats(NamedTuple):
    name: str
    samples: list[float]

    @property
    def minimum(self) -> float:
        return min(self.samples)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def parse_args(description: str, default_repeat: int) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--repeat", type=int, default=default_repeat,
        help=f"repetitions per variant (default {default_repeat})",
    )  # fmt: skip
    parser.add_argument(
        "--strict", action="store_true",
        help=f"exit {EXIT_OVER_BUDGET} when over budget (default: always exit 0)",
    )  # fmt: skip
    parser.add_argument(
        "--profile", action="store_true",
        help="also print where the time goes (only some benchmarks have a breakdown)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def interleave(
    cases: Sequence[Case],
    repeat: int,
    warmup: int = 1,
    after_round: Callable[[], None] | None = None,
) -> dict[str, Stats]:
    """Time every case ``repeat`` times, one of each per round.

    Running the variants round-robin (and rotating which goes first) spreads
    slow drift of the machine -- page cache, CPU frequency, other processes on
    a 2-core VM -- over all of them instead of biasing whichever ran last.
    """
    samples: dict[str, list[float]] = {case.name: [] for case in cases}
    for round_number in range(warmup + repeat):
        shift = round_number % len(cases)
        for case in [*cases[shift:], *cases[:shift]]:
            prepared = case.setup()
            start = time.perf_counter()
            case.timed(prepared)
            elapsed = time.perf_counter() - start
            if round_number >= warmup:
                samples[case.name].append(elapsed)
        if after_round is not None:
            after_round()
    return {name: Stats(name, values) for name, values in samples.items()}


class ChildSample(NamedTuple):
    """One child process: wall time, CPU time (user + system) and peak memory."""

    wall: float
    cpu: float
    peak_mb: float


def run_measured(argv: Sequence[str], env: Mapping[str, str] | None = None) -> ChildSample:
    """Run a child to completion (stdout to /dev/null); its wall time, CPU time and peak RSS.

    CPU time comes from ``wait4`` for this child alone: on a machine shared
    with other jobs it moves far less than wall time.
    """
    started = time.perf_counter()
    process = subprocess.Popen(
        list(argv), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert process.stderr is not None
    errors = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {process.returncode}:\n{errors.decode()}")
    return ChildSample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


class ChildCase(NamedTuple):
    """A command timed as a fresh process; ``setup()`` runs untimed before each run."""

    name: str
    argv: list[str]
    setup: Callable[[], None] = _no_setup


def measure_children(
    cases: Sequence[ChildCase], repeat: int, env: Mapping[str, str], warmup: int = 1
) -> dict[str, list[ChildSample]]:
    """Each case ``repeat`` times, round-robin with the first case rotated (see ``interleave``)."""
    samples: dict[str, list[ChildSample]] = {case.name: [] for case in cases}
    for round_number in range(warmup + repeat):
        shift = round_number % len(cases)
        for case in [*cases[shift:], *cases[:shift]]:
            case.setup()
            # written data flushed now, not by the kernel's flusher in the middle of the next
            # child (a setup copying a 20 MB index, a listing writing one, leave much behind)
            os.sync()
            sample = run_measured(case.argv, env)
            if round_number >= warmup:
                samples[case.name].append(sample)
    return samples


def child_rows(samples: Mapping[str, list[ChildSample]], baseline: str) -> list[list[str]]:
    """Table rows: min and median wall and CPU seconds, peak MB, median ratios to ``baseline``."""
    base_wall = statistics.median(sample.wall for sample in samples[baseline])
    base_cpu = statistics.median(sample.cpu for sample in samples[baseline])
    rows = []
    for name, items in samples.items():
        wall = statistics.median(sample.wall for sample in items)
        cpu = statistics.median(sample.cpu for sample in items)
        rows.append(
            [
                name,
                f"{min(sample.wall for sample in items):.3f}",
                f"{wall:.3f}",
                f"{min(sample.cpu for sample in items):.3f}",
                f"{cpu:.3f}",
                f"{max(sample.peak_mb for sample in items):.0f}",
                f"{wall / base_wall:.2f}",
                f"{cpu / base_cpu:.2f}",
            ]
        )
    return rows


CHILD_HEADERS = (
    "variant", "min wall s", "median wall s", "min cpu s", "median cpu s", "peak MB",
    "wall / baseline", "cpu / baseline",
)  # fmt: skip


def load_average() -> str:
    """The machine's 1-, 5- and 15-minute load averages, for the record of a run."""
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def median_of(samples: Sequence[ChildSample], field: str) -> float:
    return statistics.median(getattr(sample, field) for sample in samples)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def print_table(rows: Sequence[Sequence[object]], headers: Sequence[str]) -> None:
    print(tabulate(rows, headers=headers, disable_numparse=True, colalign=("left",)))


def stats_rows(stats: Mapping[str, Stats], baseline: str | None = None) -> list[list[str]]:
    """Table rows of n, min, median (ms) and, with ``baseline``, the median overhead."""
    rows = []
    for item in stats.values():
        row = [item.name, str(len(item.samples)), ms(item.minimum), ms(item.median)]
        if baseline is not None:
            extra = item.median - stats[baseline].median
            row.append("-" if item.name == baseline else f"{extra * 1000:+.1f}")
        rows.append(row)
    return rows


STATS_HEADERS = ("variant", "n", "min ms", "median ms")


def verdict(within_budget: bool, message: str, strict: bool) -> int:
    """Print the one-line verdict and return the process exit code."""
    word = "PASS" if within_budget else "OVER"
    print(f"{VERDICT_PREFIX} {word}: {message}")
    return EXIT_OVER_BUDGET if strict and not within_budget else 0


def skip(message: str) -> int:
    print(f"{VERDICT_PREFIX} SKIP: {message}")
    return 0


def python_command(*args: str) -> list[str]:
    # sys.executable, not "python": on a pyenv machine "python" is a shell-script
    # shim whose own start-up would be timed along with the interpreter.
    return [sys.executable, *args]


def python_env(cache_dir: str, **extra: str) -> dict[str, str]:
    """The environment for timed child interpreters: bytecode cached in ``cache_dir``.

    Users' machines keep ``__pycache__`` files, so a benchmark that recompiles
    maggot from source at every start (PYTHONDONTWRITEBYTECODE=1, as some
    sandboxes and CI images set) would time the compiler, not maggot. A private
    cache prefix gives warm bytecode without writing into the source tree.
    """
    # A developer's own MAGGOT_SNAPSHOT=0 or MAGGOT_CAPTURE must not change what is timed.
    env = {name: value for name, value in os.environ.items() if not name.startswith("MAGGOT_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = cache_dir
    env.update(extra)
    return env


def run_checked(
    argv: Sequence[str],
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    stdout: int | None = subprocess.DEVNULL,
) -> subprocess.CompletedProcess[bytes]:
    """Run a child process and fail loudly: a benchmark of a crashing command means nothing."""
    completed = subprocess.run(list(argv), cwd=cwd, env=env, stdout=stdout, stderr=subprocess.PIPE)
    if completed.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited {completed.returncode}:\n"
            + completed.stderr.decode(errors="replace")
        )
    return completed


def git(*args: str, cwd: str) -> str:
    return run_checked(
        ["git", *GIT_IDENTITY, *args], cwd=cwd, stdout=subprocess.PIPE
    ).stdout.decode()


@contextmanager
def scratch_dir(label: str) -> Iterator[str]:
    """A temporary directory removed at the end, even when the benchmark fails."""
    path = tempfile.mkdtemp(prefix=f"maggot-perf-{label}-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def write_file(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as file:
        file.write(text)


def make_repo(
    root: str, files: Mapping[str, str], ignore: Sequence[str] = ("experiments/",)
) -> None:
    """A git repository with ``files`` committed in one commit."""
    os.makedirs(root, exist_ok=True)
    git("init", "-q", cwd=root)
    write_file(os.path.join(root, ".gitignore"), "".join(line + "\n" for line in ignore))
    for relative, text in files.items():
        write_file(os.path.join(root, relative), text)
    commit_all(root)


def commit_all(root: str) -> None:
    # Racy-git: files modified in the same second as the index is written are
    # re-read on every status. Wait that second out so the repo is in the
    # steady state a real checkout is in, then refresh the index once.
    time.sleep(1.1)
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", "generated", cwd=root)
    git("update-index", "-q", "--refresh", cwd=root)


def module_text(index: int) -> str:
    """A small, plausible Python source file (distinct contents, so distinct blobs)."""
    return (
        f'"""Generated module {index}."""\n\n'
        f"def value_{index}(x: float) -> float:\n"
        f"    return x * {index} + {index % 7}\n"
    )
