"""What recording a run costs a short script: this maggot vs maggot 0.2 vs no maggot.

Run: python tests/perf/bench_run_start.py [--repeat N] [--strict] [--profile]

A generated git repository (50 tracked modules, 1 modified, 1 untracked file,
experiments/ ignored) runs the same tiny script three ways, each in a fresh
interpreter: without maggot, with this checkout's maggot (full git snapshot on)
and with maggot 0.2 from PyPI (installed into a temporary directory).
Budget: our overhead over the bare script is at most 3x maggot 0.2's.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
from collections.abc import Mapping

from benchlib import (
    SOURCE_ROOT,
    STATS_HEADERS,
    Case,
    Stats,
    interleave,
    make_repo,
    module_text,
    parse_args,
    print_table,
    python_command,
    python_env,
    run_checked,
    scratch_dir,
    skip,
    stats_rows,
    verdict,
    write_file,
)

BUDGET_RATIO = 3.0
OLD_VERSION = "0.2"

BARE_SCRIPT = """\
import sys

seed = int(sys.argv[1])
config = {"lr": 0.1, "seed": seed}
print("x")
results = {"acc": 0.9}
"""

# One source for both maggot versions: which one runs is decided by sys.path.
MAGGOT_SCRIPT = """\
import sys

from maggot import Experiment

seed = int(sys.argv[1])
with Experiment(
    config={"lr": 0.1, "seed": seed}, experiments_dir="experiments", if_exists_mode="increment"
) as exp:
    print("x")
    exp.register_result("acc", 0.9)

if "--check" in sys.argv:
    import json
    import maggot

    print(json.dumps({
        "maggot_file": maggot.__file__,
        "git_loaded": "git" in sys.modules,
        "run_dir": exp.experiment_dir,
    }))
"""

# Where one run start's time goes, step by step in one process (for --profile).
# The git commands are the snapshot's main ones, run again alone, one by one.
PHASES_SCRIPT = """\
import json, os, sys, time

spans = []
last = time.perf_counter()


def mark(name):
    global last
    now = time.perf_counter()
    spans.append((name, now - last))
    last = now


import maggot
from maggot import capture, gitsnap, store
from maggot.git import run_git

try:
    from maggot.secrets import redact_environ
except ImportError:  # older layout
    from maggot.capture import redact_environ
mark("import maggot")
capture.installed_packages()
mark("capture.installed_packages()")
store.write_json_atomic(os.path.join(sys.argv[1], "environ"), redact_environ(os.environ))
capture.describe_process()
mark("environ (redact + write) + describe_process()")
run_dir = os.path.join(sys.argv[1], "phase-run")
os.makedirs(os.path.join(run_dir, ".maggot"))
last = time.perf_counter()
gitsnap.take_snapshot(run_dir, os.getcwd(), [os.path.abspath("experiments")])
mark("gitsnap.take_snapshot()")
run_git("rev-parse", "--show-toplevel")
mark("(snapshot alone) git rev-parse --show-toplevel")
run_git("status", "--porcelain=v2", "-z", "--branch", "--untracked-files=all")
mark("(snapshot alone) git status --porcelain=v2")
run_git("ls-files", "-v", "-z")
mark("(snapshot alone) git ls-files -v")
run_git("diff", "HEAD", *gitsnap.DIFF_OPTIONS)
mark("(snapshot alone) git diff HEAD --binary ...")
with maggot.Experiment(config={"lr": 0.1, "seed": sys.argv[2]}, if_exists_mode="increment") as exp:
    print("x")
    exp.register_result("acc", 0.9)
mark("whole Experiment(...) block, modules already imported")
print(json.dumps(spans))
"""


def build_repo(root: str) -> None:
    files = {f"pkg/module_{index:02d}.py": module_text(index) for index in range(50)}
    files["bare.py"] = BARE_SCRIPT
    files["with_maggot.py"] = MAGGOT_SCRIPT
    make_repo(root, files)
    with open(os.path.join(root, "pkg/module_00.py"), "a", encoding="utf-8") as file:
        file.write("# tuned by hand\n")
    write_file(os.path.join(root, "notes.txt"), "an untracked note\n")


def install_old_maggot(target: str) -> str | None:
    """maggot 0.2 into ``target``; returns why not when pip cannot get it."""
    pip = python_command("-m", "pip", "install", "--quiet", "--no-deps", "--target", target)
    completed = subprocess.run(
        [*pip, f"maggot=={OLD_VERSION}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    if completed.returncode != 0:
        return completed.stdout.decode(errors="replace").strip().splitlines()[-1]
    return None


def check_run(
    repo: str, env: Mapping[str, str], expected_package: str, full_snapshot: bool
) -> dict[str, object]:
    """One untimed run that proves which maggot ran and that it recorded the run."""
    completed = run_checked(
        python_command("with_maggot.py", "999999", "--check"),
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
    )
    report: dict[str, object] = json.loads(completed.stdout.decode().splitlines()[-1])
    maggot_file = os.path.realpath(str(report["maggot_file"]))
    if not maggot_file.startswith(os.path.join(os.path.realpath(expected_package), "")):
        raise RuntimeError(f"imported the wrong maggot: {maggot_file}")
    meta = os.path.join(repo, str(report["run_dir"]), ".maggot")
    if not os.path.isfile(os.path.join(meta, "config.json")):
        raise RuntimeError(f"{meta}: the run was not recorded")
    if full_snapshot:
        check_snapshot(os.path.join(meta, "git"))
    clear_runs(repo)
    return report


def check_snapshot(git_dir: str) -> None:
    # The comparison is only fair with the whole snapshot taken: patch and untracked copy.
    with open(os.path.join(git_dir, "head.json"), encoding="utf-8") as file:
        head = json.load(file)
    patch_size = os.path.getsize(os.path.join(git_dir, "diff.patch"))
    if not head.get("snapshot") or head.get("untracked") != ["notes.txt"] or patch_size == 0:
        raise RuntimeError(f"incomplete snapshot: {json.dumps(head)[:400]}")


def script_case(
    name: str, script: str, repo: str, env: Mapping[str, str], seeds: itertools.count[int]
) -> Case:
    # A new seed per run gives a new run directory, as a sweep does: maggot 0.2
    # has no "increment" mode and would stop at an existing one.
    return Case(
        name,
        lambda seed: run_checked(python_command(script, str(seed)), cwd=repo, env=env),
        setup=lambda: next(seeds),
    )


def clear_runs(repo: str) -> None:
    shutil.rmtree(os.path.join(repo, "experiments"), ignore_errors=True)


def print_phases(repo: str, env: Mapping[str, str], scratch: str, runs: int = 9) -> None:
    script = os.path.join(scratch, "phases.py")
    write_file(script, PHASES_SCRIPT)
    samples: dict[str, list[float]] = {}
    for index in range(runs):
        work = os.path.join(scratch, f"phases-{index}")
        os.makedirs(work)
        argv = python_command(script, work, f"phase{index}")
        completed = run_checked(argv, cwd=repo, env=env, stdout=subprocess.PIPE)
        for name, seconds in json.loads(completed.stdout.decode().splitlines()[-1]):
            samples.setdefault(name, []).append(seconds)
    clear_runs(repo)
    print(f"\none run start, step by step (median of {runs} fresh processes):")
    rows = [(name, f"{statistics.median(values) * 1000:.1f}") for name, values in samples.items()]
    print_table(rows, ("step", "ms"))


def print_cprofile(repo: str, env: Mapping[str, str], scratch: str, top: int = 12) -> None:
    profile_path = os.path.join(scratch, "run.prof")
    profiled = python_command("-m", "cProfile", "-o", profile_path, "with_maggot.py", "777777")
    run_checked(profiled, cwd=repo, env=env)
    # Two views: maggot's own functions by cumulative time (which step), and
    # everything by internal time (what the process actually waits on).
    print(f"\ncProfile of one maggot run: maggot functions by cumulative time (top {top})")
    print(profile_table(profile_path, "cumulative", r"maggot[/\\]", top))
    print(f"\ncProfile of one maggot run: all functions by internal time (top {top})")
    print(profile_table(profile_path, "tottime", None, top))


def profile_table(path: str, sort: str, restriction: str | None, top: int) -> str:
    buffer = io.StringIO()
    stats = pstats.Stats(path, stream=buffer).sort_stats(sort)
    stats.print_stats(*([restriction] if restriction else []), top)
    lines = [line for line in buffer.getvalue().splitlines() if line.strip()]
    header = next(index for index, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    return "\n".join(lines[header:])


def time_import_git(env: Mapping[str, str], repeat: int) -> dict[str, Stats]:
    return interleave(
        [
            Case("python -c pass", lambda _: run_checked(python_command("-c", "pass"), env=env)),
            Case(
                "python -c 'import git'",
                lambda _: run_checked(python_command("-c", "import git"), env=env),
            ),
        ],
        repeat,
    )


def main() -> int:
    args = parse_args(__doc__.splitlines()[0], default_repeat=40)
    with scratch_dir("run-start") as scratch:
        repo = os.path.join(scratch, "repo")
        old_target = os.path.join(scratch, "maggot02")
        build_repo(repo)
        why_not = install_old_maggot(old_target)
        ours_env = python_env(os.path.join(scratch, "pycache"))
        old_env = python_env(os.path.join(scratch, "pycache"), PYTHONPATH=old_target)

        ours_check = check_run(
            repo, ours_env, os.path.join(SOURCE_ROOT, "maggot"), full_snapshot=True
        )
        print(f"this maggot: {ours_check['maggot_file']}")
        if why_not is None:
            old_check = check_run(
                repo, old_env, os.path.join(old_target, "maggot"), full_snapshot=False
            )
            print(f"maggot {OLD_VERSION}: {old_check['maggot_file']}")

        seeds = itertools.count()
        cases = [
            script_case("bare script", "bare.py", repo, ours_env, seeds),
            script_case("this maggot", "with_maggot.py", repo, ours_env, seeds),
        ]
        if why_not is None:
            cases.append(
                script_case(f"maggot {OLD_VERSION}", "with_maggot.py", repo, old_env, seeds)
            )
        stats = interleave(cases, args.repeat, warmup=2, after_round=lambda: clear_runs(repo))
        git_stats = time_import_git(ours_env, max(10, args.repeat // 2))

        print("\nfresh interpreter per run, 50 tracked files, 1 modified, 1 untracked")
        print_table(stats_rows(stats, baseline="bare script"), (*STATS_HEADERS, "overhead ms"))
        print()
        print_table(stats_rows(git_stats, baseline="python -c pass"), (*STATS_HEADERS, "added ms"))
        git_loaded = bool(ours_check["git_loaded"])
        print(
            f"GitPython loaded by a maggot run: {'YES' if git_loaded else 'no'} "
            "(maggot runs the git executable directly)"
        )
        if args.profile:
            print_phases(repo, ours_env, scratch)
            print_cprofile(repo, ours_env, scratch)

    if why_not is not None:
        return skip(f"could not install maggot {OLD_VERSION} to compare with: {why_not}")
    bare = stats["bare script"].median
    ours = stats["this maggot"].median - bare
    old = stats[f"maggot {OLD_VERSION}"].median - bare
    ratio = ours / old if old > 0 else float("inf")
    message = (
        f"run-start overhead {ours * 1000:.1f} ms vs maggot {OLD_VERSION} {old * 1000:.1f} ms "
        f"= {ratio:.1f}x (budget {BUDGET_RATIO:.0f}x)"
    )
    if git_loaded:
        message += "; GitPython was imported"
    return verdict(ratio <= BUDGET_RATIO and not git_loaded, message, args.strict)


if __name__ == "__main__":
    sys.exit(main())
