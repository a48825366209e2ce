"""Refuse to commit files that live inside maggot run directories."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from fnmatch import fnmatch
from pathlib import PurePath

from maggot.store import META_DIR

MARKER = META_DIR
EXPERIMENTS = "experiments"


def find_run_dir(filename: str) -> PurePath | None:
    """Return the run directory containing ``filename``, or None.

    A file belongs to a run directory when one of its parent directories is
    named ``.maggot`` or has a ``.maggot/`` subdirectory on disk.  The current
    directory (the repository root) is not considered a run directory unless
    the file lies inside its ``.maggot/`` folder.
    """
    parents = PurePath(filename).parts[:-1]
    if MARKER in parents:
        return PurePath(*parents[: parents.index(MARKER)])
    for depth in range(len(parents), 0, -1):
        candidate = PurePath(*parents[:depth])
        if os.path.isdir(candidate / MARKER):
            return candidate
    return None


def ignore_suggestion(run_dir: PurePath) -> str:
    """Return the directory a user would most likely add to .gitignore."""
    parts = run_dir.parts
    if EXPERIMENTS in parts:
        parts = parts[: parts.index(EXPERIMENTS) + 1]
    elif len(parts) > 1:
        parts = parts[:-1]
    if not parts:
        return f"{MARKER}/"
    return f"{PurePath(*parts).as_posix()}/"


def main(argv: Sequence[str] | None = None) -> int:
    """Report every file in ``filenames`` that lies inside a maggot run directory.

    Files matching an ``--allow`` pattern are skipped.  Returns 1 when at
    least one file was reported, 0 otherwise.
    """
    parser = argparse.ArgumentParser(
        prog="maggot-no-run-dirs",
        description="Fail when a file lies inside a maggot run directory.",
    )
    parser.add_argument("filenames", nargs="*", help="files to check")
    parser.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="PATTERN",
        help="fnmatch pattern of paths that may be committed (repeatable)",
    )
    args = parser.parse_args(argv)

    status = 0
    for filename in args.filenames:
        posix = PurePath(filename).as_posix()
        if any(fnmatch(posix, pattern) for pattern in args.allow):
            continue
        run_dir = find_run_dir(filename)
        if run_dir is None:
            continue
        location = run_dir.as_posix() if run_dir.parts else "."
        print(
            f"{filename}: inside maggot run directory {location}; "
            f"add {ignore_suggestion(run_dir)} to .gitignore"
        )
        status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
