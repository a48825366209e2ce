"""maggot side by side with the tools users would pick instead: maggot 0.2, Sacred, MLflow.

Run, after ``bash tests/perf/peers/setup.sh`` made the environment:

    tests/perf/peers/.venv/bin/python tests/perf/peers/bench_peers.py [--repeat N] [--runs N]

Measures, each in fresh interpreters of that one environment:

1. a tiny tracked run (print a line, record one parameter set and one metric)
   from a generated git repository, against the same script without tracking;
   overhead = median(tracked) - median(bare);
2. the import of each package, against ``python -c pass``;
3. listing ``--runs`` (default 1,000) recorded runs sorted by a metric, each
   tool's closest equivalent: ``maggot summarize --sort``, maggot 0.2's
   ``summarize --sort``, ``mlflow.search_runs(order_by=...)`` on a file store
   and on SQLite (MLflow's default store since 3.x), and for Sacred, whose
   FileStorageObserver has no query API, reading every run.json back and
   sorting by the result.

This checkout's maggot is timed from the source tree (put first on
PYTHONPATH); maggot 0.2 from its own folder in the environment.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import os
import platform
import subprocess
import sys
import textwrap
from collections.abc import Mapping, Sequence
from typing import NamedTuple

# benchlib and bench_run_start live one folder up, in tests/perf/
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import bench_run_start  # noqa: E402
from benchlib import (  # noqa: E402
    SOURCE_ROOT,
    STATS_HEADERS,
    Case,
    Stats,
    interleave,
    ms,
    print_table,
    python_command,
    python_env,
    run_checked,
    scratch_dir,
    skip,
    stats_rows,
    write_file,
)

OLD_MAGGOT_DIR = os.path.join(sys.prefix, "maggot-0.2")
OUTPUTS = ("sacred_runs/", "mlruns/", "mlflow.db")


class Tool(NamedTuple):
    """One way of recording runs: its scripts, environment and listing command.

    ``run_file`` is timed as ``python run_file N`` (one run, trial N);
    ``generate_file`` records many runs untimed, as ``python generate_file 0 COUNT``.
    """

    name: str
    run_file: str
    generate_file: str
    import_line: str
    import_label: str
    env: Mapping[str, str]
    list_argv: tuple[str, ...]


MAGGOT_RUNS = """\
import random, sys

from maggot import Experiment

first, count = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(first)
for trial in range(first, first + count):
    with Experiment(config={"lr": 0.1, "trial": trial}) as exp:
        exp.register_result("accuracy", rng.random())
"""

SACRED_RUNS = """\
import random, sys

from sacred import Experiment
from sacred.observers import FileStorageObserver

first = int(sys.argv[1])
count = int(sys.argv[2]) if len(sys.argv) > 2 else 1
rng = random.Random(first)
ex = Experiment("tiny")
ex.observers.append(FileStorageObserver("sacred_runs"))


@ex.config
def config():
    lr = 0.1
    trial = 0


@ex.main
def main(lr, trial, _run):
    print("x")
    accuracy = rng.random()
    _run.log_scalar("accuracy", accuracy)
    return accuracy


for trial in range(first, first + count):
    ex.run(config_updates={"trial": trial})
"""

# Sacred's file observer has no query side: reading the runs back is the user's code.
SACRED_LIST = """\
import json, os

runs = []
for name in os.listdir("sacred_runs"):
    if name.isdigit():
        with open(os.path.join("sacred_runs", name, "run.json")) as file:
            record = json.load(file)
        runs.append((record.get("result"), name, record["status"]))
runs.sort(key=lambda run: (run[0] is None, -(run[0] or 0)))
for result, name, status in runs:
    print(name, status, result)
"""

MLFLOW_RUNS = """\
import random, sys

import mlflow

first = int(sys.argv[1])
count = int(sys.argv[2]) if len(sys.argv) > 2 else 1
rng = random.Random(first)
for trial in range(first, first + count):
    with mlflow.start_run():
        mlflow.log_params({"lr": 0.1, "trial": trial})
        print("x")
        mlflow.log_metric("accuracy", rng.random())
"""

MLFLOW_LIST = """\
import mlflow

runs = mlflow.search_runs(search_all_experiments=True, order_by=["metrics.accuracy DESC"])
print(runs[["run_id", "status", "metrics.accuracy"]].to_string())
"""

OLD_MAGGOT_LIST = """\
import sys

from maggot.__main__ import main

sys.argv = ["maggot", "summarize", "experiments", "--sort", "accuracy"]
main()
"""

# Written next to the timed scripts and into each listing folder. Sacred reads its
# script's source, so these are files, never ``python -c``.
SCRIPTS = {
    "maggot_runs.py": MAGGOT_RUNS,
    "sacred_runs.py": SACRED_RUNS,
    "mlflow_runs.py": MLFLOW_RUNS,
}


def tools() -> list[Tool]:
    file_store = {"MLFLOW_TRACKING_URI": "file:./mlruns", "MLFLOW_ALLOW_FILE_STORE": "true"}
    ours_list = ("-m", "maggot", "summarize", "experiments", "--sort", "accuracy")
    # with_maggot.py is bench_run_start.py's tiny script, the same for both maggots
    return [
        Tool(
            "maggot (this checkout)", "with_maggot.py", "maggot_runs.py", "import maggot",
            "import maggot", {"PYTHONPATH": SOURCE_ROOT}, ours_list,
        ),
        Tool(
            "maggot 0.2", "with_maggot.py", "maggot_runs.py", "import maggot",
            "import maggot (0.2)", {"PYTHONPATH": OLD_MAGGOT_DIR}, ("-c", OLD_MAGGOT_LIST),
        ),
        Tool(
            "Sacred, FileStorageObserver", "sacred_runs.py", "sacred_runs.py", "import sacred",
            "import sacred", {}, ("-c", SACRED_LIST),
        ),
        Tool(
            "MLflow, file store", "mlflow_runs.py", "mlflow_runs.py", "import mlflow",
            "import mlflow", file_store, ("-c", MLFLOW_LIST),
        ),
        Tool(
            "MLflow, SQLite", "mlflow_runs.py", "mlflow_runs.py", "import mlflow",
            "import mlflow", {"MLFLOW_TRACKING_URI": "sqlite:///mlflow.db"}, ("-c", MLFLOW_LIST),
        ),
    ]  # fmt: skip


def missing_peers() -> str | None:
    """Why this interpreter cannot run the comparison, or None."""
    for name in ("sacred", "mlflow"):
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return f"{name} is not installed here: run bash tests/perf/peers/setup.sh first"
    if not os.path.isdir(os.path.join(OLD_MAGGOT_DIR, "maggot")):
        return f"no maggot 0.2 in {OLD_MAGGOT_DIR}: run bash tests/perf/peers/setup.sh first"
    return None


def environment(cache_dir: str, tool: Tool | None) -> dict[str, str]:
    env = python_env(cache_dir, **(dict(tool.env) if tool else {}))
    for name in [name for name in env if name.startswith(("MLFLOW_", "GIT_"))]:
        if tool is None or name not in tool.env:
            del env[name]
    if tool is None or "PYTHONPATH" not in tool.env:
        env.pop("PYTHONPATH", None)
    # MLflow and Sacred warn about git and logging details on stderr; quiet, not off
    env["GIT_PYTHON_REFRESH"] = "quiet"
    return env


def write_scripts(folder: str) -> None:
    for name, text in SCRIPTS.items():
        write_file(os.path.join(folder, name), text)


def build_repo(root: str) -> None:
    """bench_run_start.py's repository, plus the peers' scripts and outputs, ignored.

    Ignored through .git/info/exclude, so maggot's snapshot (1 edited tracked file,
    1 untracked file) is the one bench_run_start.py times, and Sacred and MLflow
    find the same repository for their git information.
    """
    bench_run_start.build_repo(root)
    write_scripts(root)
    with open(os.path.join(root, ".git", "info", "exclude"), "a", encoding="utf-8") as file:
        file.writelines(line + "\n" for line in (*OUTPUTS, *SCRIPTS))


def check_maggots(tools_: Sequence[Tool], root: str, cache_dir: str) -> None:
    """Prove each maggot variant imports the right package and records its run."""
    ours, old = tools_[0], tools_[1]
    bench_run_start.check_run(
        root, environment(cache_dir, ours), os.path.join(SOURCE_ROOT, "maggot"), True
    )
    bench_run_start.check_run(
        root, environment(cache_dir, old), os.path.join(OLD_MAGGOT_DIR, "maggot"), False
    )


def time_runs(tools_: Sequence[Tool], repeat: int, scratch: str) -> dict[str, Stats]:
    root = os.path.join(scratch, "repo")
    build_repo(root)
    cache_dir = os.path.join(scratch, "pycache")
    check_maggots(tools_, root, cache_dir)
    counter = iter(range(1_000_000))

    def start(script: str, tool: Tool | None) -> Case:
        env = environment(cache_dir, tool)

        def timed(_: object) -> None:
            # a new trial number each time: a new run, as in a sweep
            run_checked(python_command(script, str(next(counter))), cwd=root, env=env)

        return Case(tool.name if tool else "bare script", timed)

    cases = [start("bare.py", None)]
    cases += [start(tool.run_file, tool) for tool in tools_]
    return interleave(cases, repeat, warmup=2)


def time_imports(tools_: Sequence[Tool], repeat: int, scratch: str) -> dict[str, Stats]:
    cache_dir = os.path.join(scratch, "pycache")
    variants: dict[str, tuple[str, Tool | None]] = {"python -c pass": ("pass", None)}
    for tool in tools_:
        # MLflow's two stores share one import
        variants.setdefault(tool.import_label, (tool.import_line, tool))
    cases = []
    for label, (line, tool) in variants.items():
        argv, env = python_command("-c", line), environment(cache_dir, tool)
        cases.append(Case(label, lambda _, argv=argv, env=env: run_checked(argv, env=env)))
    return interleave(cases, repeat, warmup=2)


def time_listings(tools_: Sequence[Tool], repeat: int, runs: int, scratch: str) -> dict[str, Stats]:
    cache_dir = os.path.join(scratch, "pycache")
    cases = []
    for number, tool in enumerate(tools_):
        # one folder per tool, outside any repository: listing costs do not depend on git
        folder = os.path.join(scratch, f"listing_{number}")
        os.makedirs(folder)
        env = environment(cache_dir, tool)
        print(f"  recording {runs:,} runs with {tool.name} ...", flush=True)
        write_scripts(folder)
        run_checked(python_command(tool.generate_file, "0", str(runs)), cwd=folder, env=env)
        check = run_checked(
            python_command(*tool.list_argv), cwd=folder, env=env, stdout=subprocess.PIPE
        )
        lines = check.stdout.decode(errors="replace").count("\n")
        if lines < runs:
            raise RuntimeError(f"{tool.name} listed {lines} lines for {runs} runs")
        argv = python_command(*tool.list_argv)
        cases.append(
            Case(
                tool.name,
                lambda _, argv=argv, folder=folder, env=env: run_checked(argv, cwd=folder, env=env),
            )
        )
    return interleave(cases, repeat, warmup=1)


def ratio_rows(
    stats: Mapping[str, Stats], ours: str, baseline: str | None = None
) -> list[list[str]]:
    """Median (or median overhead over ``baseline``) of each variant and its ratio to ours."""

    def cost(name: str) -> float:
        extra = stats[baseline].median if baseline else 0.0
        return stats[name].median - extra

    rows = []
    for name in stats:
        if name == baseline:
            continue
        rows.append([name, f"{cost(name) * 1000:.1f}", f"{cost(name) / cost(ours):.2f}x"])
    return rows


def describe_machine() -> list[list[str]]:
    git_version = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout
    versions = ", ".join(
        f"{name} {importlib.metadata.version(name)}" for name in ("sacred", "mlflow", "pandas")
    )
    return [
        ["date (UTC)", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")],
        ["machine", f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}"],
        ["python", platform.python_version()],
        ["git", git_version.strip()],
        ["peers", versions],
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10, help="runs and imports per variant")
    parser.add_argument("--list-repeat", type=int, default=5, help="listings per variant")
    parser.add_argument("--runs", type=int, default=1000, help="runs to list")
    args = parser.parse_args()
    if min(args.repeat, args.list_repeat, args.runs) < 1:
        parser.error("--repeat, --list-repeat and --runs must be at least 1")
    reason = missing_peers()
    if reason:
        return skip(reason)

    print_table(describe_machine(), ("", ""))
    tools_ = tools()
    ours = tools_[0].name
    with scratch_dir("peers") as scratch:
        print(f"\n1. a tiny tracked run from a git repository, fresh process, n={args.repeat}")
        runs = time_runs(tools_, args.repeat, scratch)
        print_table(stats_rows(runs, baseline="bare script"), (*STATS_HEADERS, "overhead ms"))
        print()
        print_table(
            ratio_rows(runs, ours, baseline="bare script"),
            ("tool", "overhead ms", "vs maggot"),
        )

        print(f"\n2. import, fresh process, n={args.repeat}")
        imports = time_imports(tools_, args.repeat, scratch)
        print_table(stats_rows(imports, baseline="python -c pass"), (*STATS_HEADERS, "added ms"))
        ours_import = tools_[0].import_label
        print()
        print_table(
            ratio_rows(imports, ours_import, baseline="python -c pass"),
            ("import", "added ms", "vs maggot"),
        )

        print(f"\n3. listing {args.runs:,} runs sorted by a metric, n={args.list_repeat}")
        listings = time_listings(tools_, args.list_repeat, args.runs, scratch)
        print_table(stats_rows(listings), STATS_HEADERS)
        print()
        print_table(ratio_rows(listings, ours), ("tool", "median ms", "vs maggot"))
    print(
        textwrap.dedent(
            f"""
            Ratios are medians against this checkout's maggot; above 1x means
            slower (or more overhead) than maggot. The bare script's median start was
            {ms(runs["bare script"].median)} ms.
            """
        ).strip()
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
