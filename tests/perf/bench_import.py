"""How much ``import maggot`` adds to interpreter start-up, and what it must not load.

Run: python tests/perf/bench_import.py [--repeat N] [--strict] [--profile]
Budget: ``import maggot`` adds at most 20 ms (median over fresh processes), and
loads none of click, deepdiff, tabulate or GitPython -- those are for the CLI.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Mapping

from benchlib import (
    STATS_HEADERS,
    Case,
    Stats,
    interleave,
    parse_args,
    print_table,
    python_command,
    python_env,
    run_checked,
    scratch_dir,
    stats_rows,
    verdict,
)

BUDGET_SECONDS = 0.020
# Heavy dependencies that only the command line needs; a training script that
# just records a run must not pay for them.
FORBIDDEN_TOP_LEVEL = ("click", "deepdiff", "tabulate", "git", "gitdb")
NO_CACHE_PASS = "pass (no bytecode cache)"
NO_CACHE_IMPORT = "import maggot (no bytecode cache)"
API_IMPORT = "from maggot import Experiment (not judged)"


def fresh_interpreter(name: str, code: str, env: Mapping[str, str]) -> Case:
    argv = python_command("-c", code)
    return Case(name, lambda _: run_checked(argv, env=env))


def loaded_modules(env: Mapping[str, str]) -> set[str]:
    code = "import sys, json; import maggot; print(json.dumps(sorted(sys.modules)))"
    output = run_checked(python_command("-c", code), env=env, stdout=subprocess.PIPE).stdout
    return set(json.loads(output))


def forbidden_loaded(modules: set[str]) -> list[str]:
    return sorted(name for name in modules if name.split(".")[0] in FORBIDDEN_TOP_LEVEL)


def import_times(env: Mapping[str, str]) -> dict[str, tuple[int, int]]:
    """Module -> (cumulative, self) microseconds of one ``-X importtime`` run, after site."""
    completed = run_checked(python_command("-X", "importtime", "-c", "import maggot"), env=env)
    times: dict[str, tuple[int, int]] = {}
    after_site = False
    for line in completed.stderr.decode().splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        own, cumulative, name = (part.strip() for part in line[len("import time:") :].split("|"))
        if name == "site":  # everything before it belongs to interpreter start-up
            after_site = True
        elif after_site and own.isdigit():
            times[name] = (int(cumulative), int(own))
    return times


def print_import_profile(env: Mapping[str, str], runs: int = 9, top: int = 15) -> None:
    """The slowest imports under ``import maggot``: medians over ``runs`` fresh processes."""
    samples = [import_times(env) for _ in range(runs)]
    rows = []
    for name in samples[0]:
        cumulative = statistics.median(sample.get(name, (0, 0))[0] for sample in samples)
        own = statistics.median(sample.get(name, (0, 0))[1] for sample in samples)
        rows.append((cumulative, own, name))
    rows.sort(reverse=True)
    print(f"\nslowest imports under 'import maggot' (-X importtime, median of {runs} runs;")
    print("it inflates absolute numbers, compare them with each other):")
    print_table(
        [(name, f"{total / 1000:.1f}", f"{own / 1000:.1f}") for total, own, name in rows[:top]],
        ("module", "cumulative ms", "self ms"),
    )


def measure(repeat: int, env: Mapping[str, str]) -> dict[str, Stats]:
    cases = [
        fresh_interpreter("pass", "pass", env),
        fresh_interpreter("import maggot", "import maggot", env),
        # what a script pays once it uses the API (the names load on first use): not judged
        fresh_interpreter(API_IMPORT, "from maggot import Experiment", env),
    ]
    if "PYTHONDONTWRITEBYTECODE" in os.environ:
        # As this environment is: maggot recompiled from source at every start.
        # Shown for context, not judged: users' machines keep their bytecode.
        cases += [
            fresh_interpreter(NO_CACHE_PASS, "pass", os.environ),
            fresh_interpreter(NO_CACHE_IMPORT, "import maggot", os.environ),
        ]
    return interleave(cases, repeat, warmup=2)


def print_timings(stats: Mapping[str, Stats]) -> None:
    rows = stats_rows(
        {name: stats[name] for name in ("pass", "import maggot", API_IMPORT)}, baseline="pass"
    )
    if NO_CACHE_PASS in stats:
        rows += stats_rows(
            {name: stats[name] for name in (NO_CACHE_PASS, NO_CACHE_IMPORT)}, baseline=NO_CACHE_PASS
        )
    print(f"python {sys.version.split()[0]}, a fresh interpreter per run, bytecode cache warm")
    print_table(rows, (*STATS_HEADERS, "added ms"))


def print_forbidden(modules: set[str]) -> None:
    loaded_roots = {name.split(".")[0] for name in modules}
    print()
    print_table(
        [(name, "yes" if name in loaded_roots else "no") for name in FORBIDDEN_TOP_LEVEL],
        ("loaded by 'import maggot'", "loaded"),
    )


def main() -> int:
    args = parse_args(__doc__.splitlines()[0], default_repeat=40)
    with scratch_dir("import") as cache_dir:
        env = python_env(cache_dir)
        stats = measure(args.repeat, env)
        modules = loaded_modules(env)
        print_timings(stats)
        print_forbidden(modules)
        if args.profile:
            print_import_profile(env)

    overhead = stats["import maggot"].median - stats["pass"].median
    heavy = forbidden_loaded(modules)
    message = (
        f"import maggot adds {overhead * 1000:.1f} ms "
        f"(median; budget {BUDGET_SECONDS * 1000:.0f} ms)"
    )
    if heavy:
        message += f"; it loads {', '.join(heavy)}"
    else:
        message += "; it loads none of " + ", ".join(FORBIDDEN_TOP_LEVEL)
    return verdict(overhead <= BUDGET_SECONDS and not heavy, message, args.strict)


if __name__ == "__main__":
    sys.exit(main())
