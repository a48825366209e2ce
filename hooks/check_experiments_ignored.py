"""Check that the experiments directory is ignored by git."""

from __future__ import annotations

import argparse
import subprocess
from collections.abc import Sequence
from pathlib import PurePath

PROBE = "maggot-run"


def check_ignored(path: str) -> bool:
    """Return True when git's ignore rules match ``path``.

    Raises ``RuntimeError`` when git cannot answer, e.g. outside a repository.
    """
    proc = subprocess.run(
        ["git", "check-ignore", "--no-index", "-q", "--", path],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode in (0, 1):
        return proc.returncode == 0
    lines = proc.stderr.strip().splitlines()
    raise RuntimeError(lines[0] if lines else f"git exited with status {proc.returncode}")


def main(argv: Sequence[str] | None = None) -> int:
    """Fail when the experiments directory is not ignored by git.

    The directory counts as ignored when git ignores the directory itself or
    every run directory created inside it.  ``filenames`` are accepted and
    ignored so the hook also works with ``pass_filenames: true``.  Returns 1
    on failure, 0 otherwise.
    """
    parser = argparse.ArgumentParser(
        prog="maggot-experiments-ignored",
        description="Fail when the maggot experiments directory is not ignored by git.",
    )
    parser.add_argument("filenames", nargs="*", help="ignored")
    parser.add_argument(
        "--experiments-dir",
        default="experiments",
        metavar="DIR",
        help="directory holding maggot runs (default: %(default)s)",
    )
    args = parser.parse_args(argv)

    directory = PurePath(args.experiments_dir).as_posix()
    try:
        ignored = check_ignored(f"{directory}/") or check_ignored(f"{directory}/{PROBE}/")
    except FileNotFoundError:
        print(f"{directory}: git executable not found")
        return 1
    except RuntimeError as exc:
        print(f"{directory}: git check-ignore failed: {exc}")
        return 1
    if ignored:
        return 0
    print(f"{directory}: not ignored by git; add {directory}/ to .gitignore")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
