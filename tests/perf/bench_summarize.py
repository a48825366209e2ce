"""``maggot summarize`` over 10,000 runs against just reading their JSON files.

Run: python tests/perf/bench_summarize.py [--repeat N] [--strict]

10,000 generated run directories as maggot writes them (run.json, config.json,
results.json with three metrics, one nested, a log file and a git snapshot);
a few carry a large diff.patch and log. Timed as fresh processes, side by
side (round-robin), wall and CPU time (user + system, from wait4):
``python -m maggot summarize DIR --sort accuracy --format json``, the default
table (both with the listing index), the table with ``--no-index``, and a
baseline script that only opens and json-loads every run.json and
results.json. A separate untimed run with an audit hook counts the files
``summarize --no-index`` opens, to show it never reads patches or logs.
Budget: each summarize command with the index takes under 1 s (median wall).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping

from benchlib import (
    CHILD_HEADERS,
    ChildCase,
    child_rows,
    load_average,
    measure_children,
    median_of,
    parse_args,
    print_table,
    python_command,
    python_env,
    run_checked,
    scratch_dir,
    skip,
    verdict,
    write_file,
)

from maggot import store

BUDGET_SECONDS = 1.0
BASELINE = "baseline: json.load run+results"
RUNS = 10_000
# Runs with a big patch and log: a listing that read them would show up in
# the timings, and the audit hook would count them.
BIG_EVERY = 2_000
BIG_BYTES = 16 * 1024 * 1024

BASELINE_SCRIPT = """\
import json, os, sys

rows = []
for entry in os.scandir(sys.argv[1]):
    if entry.name.startswith("."):  # the listing index
        continue
    meta = os.path.join(entry.path, ".maggot")
    with open(os.path.join(meta, "run.json"), encoding="utf-8") as file:
        info = json.load(file)
    with open(os.path.join(meta, "results.json"), encoding="utf-8") as file:
        results = json.load(file)
    rows.append((entry.name, info.get("status"), results.get("accuracy")))
print(len(rows))
"""

# Runs `python -m maggot ...` with an audit hook that records every file
# opened under the runs directory, then writes the list as JSON.
AUDIT_SCRIPT = """\
import atexit, json, os, runpy, sys

root = os.path.join(os.path.realpath(sys.argv[1]), "")
report_path = sys.argv[2]
sys.argv = ["maggot", *sys.argv[3:]]
opened = []

def hook(event, args):
    if event == "open" and isinstance(args[0], str):
        path = os.path.realpath(args[0])
        if path.startswith(root):
            opened.append(path[len(root):])

def report():
    with open(report_path, "w", encoding="utf-8") as file:
        json.dump(opened, file)

# at exit: maggot's entry point ends the process without unwinding (it runs exit handlers)
atexit.register(report)
sys.addaudithook(hook)
runpy.run_module("maggot", run_name="__main__", alter_sys=True)
"""


def run_info(name: str, index: int) -> dict[str, object]:
    """run.json as Experiment writes it for a finished run."""
    started = 1_700_000_000 + index * 60
    return {
        "format_version": store.FORMAT_VERSION,
        "maggot_version": "0.3.0",
        "name": name,
        "status": store.STATUS_COMPLETED,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(started)),
        "ended_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(started + 42)),
        "duration_seconds": 42.0,
        "exit": None,
        "argv": ["train.py", "--seed", str(index)],
        "command_argv": ["python", "train.py", "--seed", str(index)],
        "cwd": "/home/user/project",
        "repo_cwd": "",
        "capture_output": "sys",
        "hostname": "bench-host",
        "user": "bench",
        "pid": 1000 + index,
        "python": {"executable": "python", "version": "3.11.7", "implementation": "cpython"},
        "platform": "Linux-6.1-x86_64",
    }


def write_run(root: str, index: int) -> None:
    # The same bytes as store.write_json_atomic, without its temp file and
    # rename per file, so 50,000 files are written in seconds.
    lr = [0.1, 0.01, 0.001, 0.0001][index % 4]
    name = f"{lr}-{index}"
    meta = os.path.join(root, name, store.META_DIR)
    files = {
        store.RUN_FILE: store.dumps_json(run_info(name, index)),
        store.CONFIG_FILE: store.dumps_json(
            {"lr": lr, "seed": index, "model": {"depth": index % 5}}
        ),
        store.RESULTS_FILE: store.dumps_json(
            {
                "accuracy": (index * 7919 % 10_000) / 10_000,
                "loss": 1 / (1 + index),
                "val": {"f1": 0.5},
            }
        ),
        os.path.join(store.LOGS_DIR, "2023-11-14T22-13-20-000000Z"): "epoch 1\nx\n",
        os.path.join(store.GIT_DIR, store.HEAD_FILE): store.dumps_json(
            {"snapshot": True, "commit": "0" * 40}
        ),
    }
    big = index % BIG_EVERY == 0
    files[os.path.join(store.GIT_DIR, store.PATCH_FILE)] = "+" * BIG_BYTES if big else ""
    if big:
        files[os.path.join(store.LOGS_DIR, "2023-11-14T23-00-00-000000Z")] = "progress\n" * (
            BIG_BYTES // 9
        )
    for relative, text in files.items():
        write_file(os.path.join(meta, relative), text)


def build_runs(root: str) -> None:
    started = time.perf_counter()
    for index in range(RUNS):
        write_run(root, index)
    print(f"generated {RUNS} run directories in {time.perf_counter() - started:.1f} s")


def summarize_available(env: Mapping[str, str]) -> bool:
    completed = subprocess.run(
        python_command("-m", "maggot", "summarize", "--help"), env=env, capture_output=True
    )
    return completed.returncode == 0


def files_opened(root: str, scratch: str, env: Mapping[str, str]) -> Counter[str]:
    """Which kinds of file one ``summarize --format json --no-index`` opens under ``root``."""
    script = os.path.join(scratch, "audit.py")
    report = os.path.join(scratch, "opened.json")
    write_file(script, AUDIT_SCRIPT)
    argv = python_command(
        script,
        root,
        report,
        "summarize",
        root,
        "--sort",
        "accuracy",
        "--format",
        "json",
        "--no-index",
    )
    run_checked(argv, env=env)
    with open(report, encoding="utf-8") as file:
        opened = json.load(file)
    return Counter(file_kind(path) for path in opened)


def file_kind(path: str) -> str:
    parts = path.split(os.sep)
    if store.LOGS_DIR in parts[:-1]:
        return "logs/*"
    if store.GIT_DIR in parts[:-1]:
        return "git/" + parts[-1]
    return parts[-1]


def check_output(root: str, env: Mapping[str, str]) -> int:
    """The JSON listing has every run, sorted by accuracy: timing a broken command means nothing."""
    argv = python_command(
        "-m", "maggot", "summarize", root, "--sort", "accuracy", "--format", "json"
    )
    rows = json.loads(run_checked(argv, env=env, stdout=subprocess.PIPE).stdout)
    if len(rows) != RUNS:
        raise RuntimeError(f"summarize listed {len(rows)} runs, expected {RUNS}")
    accuracies = [row["accuracy"] for row in rows]
    if accuracies != sorted(accuracies, reverse=True):
        raise RuntimeError("summarize --sort accuracy did not sort by accuracy")
    return len(rows)


def main() -> int:
    args = parse_args(__doc__.splitlines()[0], default_repeat=10)
    load_before = load_average()
    with scratch_dir("summarize") as scratch:
        env = python_env(os.path.join(scratch, "pycache"))
        if not summarize_available(env):
            return skip("'python -m maggot summarize' is not available in this checkout")
        root = os.path.join(scratch, "runs")
        build_runs(root)
        listed = check_output(root, env)
        baseline_script = os.path.join(scratch, "baseline.py")
        write_file(baseline_script, BASELINE_SCRIPT)
        summarize = python_command("-m", "maggot", "summarize", root)
        cases = [
            ChildCase(BASELINE, python_command(baseline_script, root)),
            ChildCase(
                "summarize --sort accuracy --format json",
                [*summarize, "--sort", "accuracy", "--format", "json"],
            ),
            ChildCase("summarize (table)", summarize),
            ChildCase("summarize --no-index (table)", [*summarize, "--no-index"]),
        ]
        samples = measure_children(cases, args.repeat, env)
        opened = files_opened(root, scratch, env)
    load_after = load_average()

    print(
        f"\n{listed} runs; {args.repeat} rounds side by side (round-robin), fresh interpreter "
        f"per run, output to /dev/null; load average before {load_before}, after {load_after}"
    )
    print_table(child_rows(samples, BASELINE), CHILD_HEADERS)
    print("\nfiles opened under DIR by one 'summarize --format json --no-index':")
    print_table(sorted(opened.items()), ("file", "times opened"))
    read_bulk = sorted(
        kind for kind in opened if kind.startswith("logs") or kind.endswith(store.PATCH_FILE)
    )

    slowest = max(
        median_of(items, "wall")
        for name, items in samples.items()
        if name.startswith("summarize") and "--no-index" not in name
    )
    message = f"slowest summarize median {slowest:.2f} s (budget < {BUDGET_SECONDS:.0f} s)"
    if read_bulk:
        message += f"; it opened {', '.join(read_bulk)}"
    return verdict(slowest < BUDGET_SECONDS and not read_bulk, message, args.strict)


if __name__ == "__main__":
    sys.exit(main())
