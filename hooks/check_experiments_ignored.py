"""Check that the experiments directory is ignored by git."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import PurePath

from maggot.errors import GitError
from maggot.git import git_exit_code

PROBE = "maggot-run"


def check_ignored(path: str) -> bool:
    """Return True when git's ignore rules match ``path``.

    Raises GitError when git cannot answer (outside a repository, git missing).
    """
    return git_exit_code("check-ignore", "--no-index", "-q", "--", path) == 0


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
    except GitError as error:
        print(f"{directory}: {str(error).splitlines()[0]}")
        return 1
    if ignored:
        return 0
    print(f"{directory}: not ignored by git; add {directory}/ to .gitignore")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
