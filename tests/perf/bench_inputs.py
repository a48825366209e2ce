"""What recording a run's inputs costs a script that opens 10,000 small files.

Run: python tests/perf/bench_inputs.py [--repeat N] [--strict]

A generated git repository holds a script that, inside ``with Experiment(...)``,
opens and reads 10,000 small files in a directory outside the repository (so
every one of them is recorded). It runs in fresh interpreters with input
tracking on and off, and with only an empty audit hook (the floor of any
``sys.addaudithook`` approach, shown, not judged). The script times the loop
of opens (the hot path, where the audit hook runs) in CPU time
(``time.process_time``: waiting for a core on a shared machine is not
counted), and the end of the run in wall time (resolving, ``git
check-ignore``, hashing the 10,000 files, writing inputs.json and the
manifest).
Budget: tracking makes the loop at most 5% slower (median of the per-round
ratios of the two variants, run back to back). The end-of-run cost is
reported, not judged: it is paid once, after the script's own work.
"""

from __future__ import annotations

import json
import os
import statistics
import sys

from benchlib import (
    make_repo,
    ms,
    parse_args,
    print_table,
    python_command,
    python_env,
    run_checked,
    scratch_dir,
    verdict,
)

BUDGET = 0.05
FILES = 10_000
# "empty-hook" shows the floor: what any Python audit hook costs these opens
VARIANTS = ["off", "empty-hook", "on"]

SCRIPT = """\
import json, os, sys, time

from maggot import Experiment

data_dir, variant, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
track = variant == "on"
if variant == "empty-hook":
    sys.addaudithook(lambda event, args: None)
names = [os.path.join(data_dir, f"{i:05d}.txt") for i in range(10_000)]
experiment = Experiment(
    config={"track": track, "seed": seed}, track_inputs=track, capture_output="none"
)
with experiment:
    started = time.process_time()
    total = 0
    for name in names:
        with open(name, "rb") as file:
            total += len(file.read())
    loop = time.process_time() - started
    finishing = time.perf_counter()
finish = time.perf_counter() - finishing
print(json.dumps({"loop": loop, "finish": finish, "run_dir": experiment.experiment_dir}))
"""


def run_once(repo: str, data_dir: str, variant: str, seed: int, env: dict[str, str]) -> dict:
    completed = run_checked(
        python_command("train.py", data_dir, variant, str(seed)),
        cwd=repo,
        env=env,
        stdout=-1,
    )
    result: dict = json.loads(completed.stdout.decode().strip().splitlines()[-1])
    return result


def main() -> int:
    args = parse_args(__doc__.splitlines()[0], default_repeat=15)
    with scratch_dir("inputs") as root:
        repo, data_dir = os.path.join(root, "repo"), os.path.join(root, "data")
        make_repo(repo, {"train.py": SCRIPT})
        os.makedirs(data_dir)
        for index in range(FILES):
            with open(os.path.join(data_dir, f"{index:05d}.txt"), "w") as file:
                file.write(f"{index},{index * 0.5}\n")
        env = python_env(os.path.join(root, "pycache"))
        check = run_once(repo, data_dir, "on", 0, env)
        with open(os.path.join(repo, check["run_dir"], ".maggot", "inputs.json")) as file:
            listed = len(json.load(file)["files"])
        if listed != FILES:
            raise RuntimeError(f"the tracked run recorded {listed} files, not {FILES}")
        samples: dict[str, list[dict]] = {variant: [] for variant in VARIANTS}
        seed = 1
        for round_number in range(1 + args.repeat):
            shift = round_number % len(VARIANTS)
            for variant in VARIANTS[shift:] + VARIANTS[:shift]:
                seed += 1
                result = run_once(repo, data_dir, variant, seed, env)
                if round_number:  # the first round warms the page and bytecode caches
                    samples[variant].append(result)

    def median(variant: str, key: str) -> float:
        return statistics.median(item[key] for item in samples[variant])

    def minimum(variant: str, key: str) -> float:
        return min(item[key] for item in samples[variant])

    def overhead(variant: str) -> float:
        # each round runs the variants back to back: the median of the per-round
        # ratios cancels the slow swings of a shared machine that medians alone keep
        pairs = zip(samples[variant], samples["off"])
        return statistics.median(on["loop"] / off["loop"] for on, off in pairs) - 1

    shown = (
        (f"loop of {FILES:,} opens, tracking off", "off", "loop"),
        (f"loop of {FILES:,} opens, an empty audit hook (not judged)", "empty-hook", "loop"),
        (f"loop of {FILES:,} opens, tracking on", "on", "loop"),
        ("end of run, tracking off (manifest)", "off", "finish"),
        ("end of run, tracking on (+ inputs.json)", "on", "finish"),
    )
    rows = [[name, ms(minimum(variant, k)), ms(median(variant, k))] for name, variant, k in shown]
    print(f"{FILES:,} files recorded by the check run; n = {args.repeat} per variant")
    print_table(rows, ("variant", "min ms", "median ms"))
    print(
        f"loop overhead (median of per-round ratios): tracking {overhead('on') * 100:+.1f}%, "
        f"an empty audit hook alone {overhead('empty-hook') * 100:+.1f}%"
    )
    tracked = overhead("on")
    return verdict(
        tracked <= BUDGET,
        f"input tracking adds {tracked * 100:+.1f}% to the loop (budget {BUDGET * 100:.0f}%); "
        f"end of run +{(median('on', 'finish') - median('off', 'finish')) * 1000:.0f} ms",
        args.strict,
    )


if __name__ == "__main__":
    sys.exit(main())
