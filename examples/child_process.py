"""A run whose output comes partly from a child process, logged with fd capture.

    python examples/child_process.py [--capture fd|sys]

The default ("sys") capture replaces Python's sys.stdout and sys.stderr, so it
logs what this interpreter prints but not what a child process or a C
extension writes straight to file descriptors 1 and 2. capture_output="fd"
(or MAGGOT_CAPTURE=fd in the environment) redirects the descriptors
themselves: the log in .maggot/logs/ then holds the child's lines too, in the
order they were printed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from maggot import Experiment

# stands in for a compiled tool or a data-preparation script the run calls
CHILD = """\
import sys
for shard in range(3):
    print(f"prepare: shard {shard} written", flush=True)
print("prepare: 1 warning (shard 2 is short)", file=sys.stderr, flush=True)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capture", choices=["fd", "sys"], default="fd")
    parser.add_argument("--shards", type=int, default=3)
    args = parser.parse_args()

    config = {"capture": args.capture, "data": {"shards": args.shards}}
    with Experiment(config=config, capture_output=args.capture, if_exists_mode="increment") as exp:
        print("run: preparing data in a child process")
        subprocess.run([sys.executable, "-c", CHILD], check=True)
        # a write below Python's sys.stdout, as C extensions make
        os.write(sys.stdout.fileno(), b"run: written to fd 1 directly\n")
        print("run: done")
        exp.register_result("shards", args.shards)
        print(f"log: {exp.logfile}")


if __name__ == "__main__":
    main()
