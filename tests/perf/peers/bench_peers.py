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

import datetime
import importlib.metadata
import os
import platform
import subprocess
import sys
import textwrap
from collections.abc import Mapping, Sequence
from typing import NamedTuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchlib import (  # noqa: E402
    SOURCE_ROOT,
    STATS_HEADERS,
    Case,
    Stats,
    interleave,
    make_repo,
    module_text,
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
IGNORED = ("experiments/", "sacred_runs/", "mlruns/", "mlflow.db")


class Tool(NamedTuple):
    """One way of recording a run: its script, environment and listing command."""

    name: str
    run_script: str
    import_line: str
    import_label: str
    env: Mapping[str, str]
    generate_script: str = ""
    list_argv: tuple[str, ...] = ()


BARE = """\
import sys

trial = int(sys.argv[1])
config = {"lr": 0.1, "trial": trial}
print("x")
results = {"accuracy": 0.9}
"""

MAGGOT_RUN = """\
import sys

from maggot import Experiment

with Experiment(config={"lr": 0.1, "trial": int(sys.argv[1])}) as exp:
    print("x")
    exp.register_result("accuracy", 0.9)
"""

MAGGOT_GENERATE = """\
import random, sys

from maggot import Experiment

rng = random.Random(0)
for trial in range(int(sys.argv[1])):
    with Experiment(config={"lr": rng.random(), "trial": trial}) as exp:
        exp.register_result("accuracy", rng.random())
"""

SACRED_RUN = """\
import sys

from sacred import Experiment
from sacred.observers import FileStorageObserver

ex = Experiment("tiny")
ex.observers.append(FileStorageObserver("sacred_runs"))


@ex.config
def config():
    lr = 0.1
    trial = 0


@ex.main
def main(lr, trial, _run):
    print("x")
    _run.log_scalar("accuracy", 0.9)
    return 0.9


ex.run(config_updates={"trial": int(sys.argv[1])})
"""

SACRED_GENERATE = """\
import logging, random, sys

from sacred import Experiment
from sacred.observers import FileStorageObserver

logging.disable(logging.INFO)
rng = random.Random(0)
ex = Experiment("listing")
ex.observers.append(FileStorageObserver("sacred_runs"))


@ex.config
def config():
    lr = 0.1
    trial = 0


@ex.main
def main(lr, trial, _run):
    accuracy = rng.random()
    _run.log_scalar("accuracy", accuracy)
    return accuracy


for trial in range(int(sys.argv[1])):
    ex.run(config_updates={"trial": trial, "lr": rng.random()})
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

MLFLOW_RUN = """\
import sys

import mlflow

with mlflow.start_run():
    mlflow.log_params({"lr": 0.1, "trial": int(sys.argv[1])})
    print("x")
    mlflow.log_metric("accuracy", 0.9)
"""

MLFLOW_GENERATE = """\
import logging, random, sys

import mlflow

logging.disable(logging.INFO)
rng = random.Random(0)
for trial in range(int(sys.argv[1])):
    with mlflow.start_run():
        mlflow.log_params({"lr": rng.random(), "trial": trial})
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


def tools() -> list[Tool]:
    file_store = {"MLFLOW_TRACKING_URI": "file:./mlruns", "MLFLOW_ALLOW_FILE_STORE": "true"}
    return [
        Tool(
            "maggot (this checkout)",
            MAGGOT_RUN,
            "import maggot",
            "import maggot",
            {"PYTHONPATH": SOURCE_ROOT},
            MAGGOT_GENERATE,
            ("-m", "maggot", "summarize", "experiments", "--sort", "accuracy"),
        ),
        Tool(
            "maggot 0.2",
            MAGGOT_RUN,
            "import maggot",
            "import maggot (0.2)",
            {"PYTHONPATH": OLD_MAGGOT_DIR},
            MAGGOT_GENERATE,
            ("-c", OLD_MAGGOT_LIST),
        ),
        Tool(
            "Sacred, FileStorageObserver",
            SACRED_RUN,
            "import sacred",
            "import sacred",
            {},
            SACRED_GENERATE,
            ("-c", SACRED_LIST),
        ),
        Tool(
            "MLflow, file store",
            MLFLOW_RUN,
            "import mlflow",
            "import mlflow",
            file_store,
            MLFLOW_GENERATE,
            ("-c", MLFLOW_LIST),
        ),
        Tool(
            "MLflow, SQLite",
            MLFLOW_RUN,
            "import mlflow",
            "import mlflow",
            {"MLFLOW_TRACKING_URI": "sqlite:///mlflow.db"},
            MLFLOW_GENERATE,
            ("-c", MLFLOW_LIST),
        ),
    ]


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


def check_imports(tools_: Sequence[Tool], cache_dir: str) -> None:
    """Prove each variant imports what it claims to (the checkout, or 0.2's folder)."""
    for tool, folder in ((tools_[0], SOURCE_ROOT), (tools_[1], OLD_MAGGOT_DIR)):
        completed = run_checked(
            python_command("-c", "import maggot; print(maggot.__file__)"),
            env=environment(cache_dir, tool),
            stdout=subprocess.PIPE,
        )
        path = completed.stdout.decode().strip()
        if not path.startswith(folder):
            raise RuntimeError(f"{tool.name} imported {path}, not from {folder}")


def build_repo(root: str) -> None:
    """The repository the tiny runs start in: 50 modules, one edited, one untracked file."""
    files = {f"pkg/module_{index:02d}.py": module_text(index) for index in range(50)}
    files["bare.py"] = BARE
    for number, tool in enumerate(tools()):
        files[f"run_{number}.py"] = tool.run_script
    make_repo(root, files, ignore=IGNORED)
    with open(os.path.join(root, "pkg/module_00.py"), "a", encoding="utf-8") as file:
        file.write("# tuned by hand\n")
    write_file(os.path.join(root, "notes.txt"), "an untracked note\n")


def time_runs(tools_: Sequence[Tool], repeat: int, scratch: str) -> dict[str, Stats]:
    root = os.path.join(scratch, "repo")
    build_repo(root)
    cache_dir = os.path.join(scratch, "pycache")
    counter = iter(range(1_000_000))

    def start(script: str, tool: Tool | None) -> Case:
        env = environment(cache_dir, tool)

        def timed(_: object) -> None:
            # a new trial number each time: a new run, as in a sweep
            run_checked(python_command(script, str(next(counter))), cwd=root, env=env)

        return Case(tool.name if tool else "bare script", timed)

    cases = [start("bare.py", None)]
    cases += [start(f"run_{number}.py", tool) for number, tool in enumerate(tools_)]
    return interleave(cases, repeat, warmup=2)


def time_imports(tools_: Sequence[Tool], repeat: int, scratch: str) -> dict[str, Stats]:
    cache_dir = os.path.join(scratch, "pycache")
    cases = {
        "python -c pass": Case(
            "python -c pass",
            lambda _: run_checked(python_command("-c", "pass"), env=environment(cache_dir, None)),
        )
    }
    for tool in tools_:
        if tool.import_label in cases:
            continue  # MLflow's two stores: one import
        env = environment(cache_dir, tool)
        argv = python_command("-c", tool.import_line)
        cases[tool.import_label] = Case(
            tool.import_label, lambda _, argv=argv, env=env: run_checked(argv, env=env)
        )
    return interleave(list(cases.values()), repeat, warmup=2)


def time_listings(tools_: Sequence[Tool], repeat: int, runs: int, scratch: str) -> dict[str, Stats]:
    cache_dir = os.path.join(scratch, "pycache")
    cases = []
    for number, tool in enumerate(tools_):
        # one folder per tool, outside any repository: listing costs do not depend on git
        folder = os.path.join(scratch, f"listing_{number}")
        os.makedirs(folder)
        env = environment(cache_dir, tool)
        print(f"  recording {runs:,} runs with {tool.name} ...", flush=True)
        # a file, not -c: Sacred refuses to record a run whose source it cannot read
        write_file(os.path.join(folder, "generate.py"), tool.generate_script)
        run_checked(python_command("generate.py", str(runs)), cwd=folder, env=env)
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
    import argparse

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
        check_imports(tools_, os.path.join(scratch, "pycache"))

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
