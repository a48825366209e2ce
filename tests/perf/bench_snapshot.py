"""The git snapshot of a large repository against the git commands it cannot avoid.

Run: python tests/perf/bench_snapshot.py [--repeat N] [--strict]

A generated repository of 20,000 tracked files (200 directories x 100 files)
with 10 modified and 10 untracked files. ``maggot.gitsnap.take_snapshot`` runs
in this process into a fresh run directory each time; the baseline is
``git status --porcelain`` followed by ``git diff HEAD --binary``, which any
snapshot of the working tree has to do one way or another.
Budget: the snapshot takes at most 2x the baseline (medians).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping

from benchlib import (
    STATS_HEADERS,
    Case,
    commit_all,
    git,
    interleave,
    parse_args,
    print_table,
    python_command,
    python_env,
    run_checked,
    scratch_dir,
    stats_rows,
    verdict,
    write_file,
)

from maggot import gitsnap

BUDGET_RATIO = 2.0
DIRECTORIES = 200
FILES_PER_DIRECTORY = 100
CHANGED = 10

# Timed inside a fresh interpreter so the import is counted, but not the
# interpreter's own start-up: the child reports its own perf_counter spans.
GITPYTHON_SCRIPT = """\
import json, sys, time
start = time.perf_counter()
import git
imported = time.perf_counter()
dirty = git.Repo(sys.argv[1]).is_dirty(untracked_files=True)
done = time.perf_counter()
assert dirty
print(json.dumps({"import": imported - start, "is_dirty": done - imported}))
"""


def build_repo(root: str) -> None:
    """20,000 small tracked files in one commit, then the working-tree changes."""
    started = time.perf_counter()
    os.makedirs(root)
    git("init", "-q", cwd=root)
    write_file(os.path.join(root, ".gitignore"), "experiments/\n")
    for directory in range(DIRECTORIES):
        folder = os.path.join(root, f"pkg_{directory:03d}")
        os.mkdir(folder)
        for index in range(FILES_PER_DIRECTORY):
            with open(os.path.join(folder, f"file_{index:03d}.txt"), "w", encoding="utf-8") as file:
                file.write(f"directory {directory} file {index}\n")
    commit_all(root)
    for index in range(CHANGED):
        with open(
            os.path.join(root, f"pkg_{index * 7:03d}", "file_000.txt"), "a", encoding="utf-8"
        ) as file:
            file.write("changed by hand\n")
        write_file(
            os.path.join(root, f"pkg_{index * 11:03d}", f"new_{index}.txt"), f"untracked {index}\n"
        )
    elapsed = time.perf_counter() - started
    print(
        f"generated repository: {DIRECTORIES * FILES_PER_DIRECTORY} tracked files, "
        f"{CHANGED} modified, {CHANGED} untracked, in {elapsed:.1f} s"
    )


def fresh_run_dir(parent: str) -> str:
    run_dir = tempfile.mkdtemp(dir=parent)
    os.makedirs(os.path.join(run_dir, ".maggot"))
    return run_dir


def empty_dir(path: str) -> None:
    # Run directories would pile up otherwise; removing them is not part of a snapshot.
    shutil.rmtree(path)
    os.makedirs(path)


def snapshot_case(repo: str, runs: str) -> Case:
    exclude = [os.path.join(repo, "experiments")]

    def take(run_dir: str) -> None:
        head = gitsnap.take_snapshot(run_dir, repo, exclude, gitsnap.SnapshotLimits())
        if not head.snapshot or head.counts.untracked_copied != CHANGED:
            raise RuntimeError(f"unexpected snapshot: {json.dumps(head.to_json())[:500]}")

    return Case("maggot take_snapshot()", take, setup=lambda: fresh_run_dir(runs))


def git_baseline_case(repo: str) -> Case:
    def status_then_diff(_: object) -> None:
        run_checked(["git", "status", "--porcelain"], cwd=repo)
        run_checked(["git", "diff", "HEAD", "--binary"], cwd=repo)

    return Case("git status + git diff HEAD", status_then_diff)


def gitpython_case(repo: str, env: Mapping[str, str], spans: list[dict[str, float]]) -> Case:
    def run(_: object) -> None:
        completed = run_checked(
            python_command("-c", GITPYTHON_SCRIPT, repo), env=env, stdout=subprocess.PIPE
        )
        spans.append(json.loads(completed.stdout))

    return Case("GitPython (fresh process)", run)


def main() -> int:
    args = parse_args(__doc__.splitlines()[0], default_repeat=15)
    with scratch_dir("snapshot") as scratch:
        repo = os.path.join(scratch, "repo")
        runs = os.path.join(scratch, "runs")
        os.makedirs(runs)
        build_repo(repo)
        spans: list[dict[str, float]] = []
        cases = [
            snapshot_case(repo, runs),
            git_baseline_case(repo),
            gitpython_case(repo, python_env(os.path.join(scratch, "pycache")), spans),
        ]
        stats = interleave(cases, args.repeat, warmup=1, after_round=lambda: empty_dir(runs))
        spans = spans[1:]  # the warm-up round
        sample = git("rev-parse", "HEAD", cwd=repo).strip()

    print(
        f"\n{DIRECTORIES * FILES_PER_DIRECTORY} tracked files at {sample[:12]}; git {git_version()}"
    )
    print_table(
        stats_rows(stats, baseline="git status + git diff HEAD"), (*STATS_HEADERS, "vs git ms")
    )
    print_gitpython_spans(spans)
    print(
        "maggot does not use GitPython for the snapshot: it runs the git executable "
        "and copies untracked files itself."
    )

    snapshot = stats["maggot take_snapshot()"].median
    baseline = stats["git status + git diff HEAD"].median
    ratio = snapshot / baseline
    message = (
        f"snapshot {snapshot * 1000:.1f} ms vs git status + diff {baseline * 1000:.1f} ms "
        f"= {ratio:.2f}x (budget {BUDGET_RATIO:.0f}x)"
    )
    return verdict(ratio <= BUDGET_RATIO, message, args.strict)


def print_gitpython_spans(spans: list[dict[str, float]]) -> None:
    def median(key: str) -> str:
        return f"{statistics.median(span[key] for span in spans) * 1000:.1f}"

    print(
        f"GitPython inside that process: import git {median('import')} ms, "
        f"Repo(...).is_dirty(untracked_files=True) {median('is_dirty')} ms (medians)"
    )


def git_version() -> str:
    return subprocess.run(["git", "--version"], stdout=subprocess.PIPE).stdout.decode().split()[-1]


if __name__ == "__main__":
    sys.exit(main())
