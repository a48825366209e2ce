"""Refuse to commit files whose names suggest they hold secrets."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from maggot.secrets import looks_secret


def main(argv: Sequence[str] | None = None) -> int:
    """Report every file in ``filenames`` whose name looks like a secret.

    Returns 1 when at least one file was reported, 0 otherwise.
    """
    parser = argparse.ArgumentParser(
        prog="maggot-no-secret-files",
        description="Fail when a file name looks like a secret (.env, *.pem, id_rsa, ...).",
    )
    parser.add_argument("filenames", nargs="*", help="files to check")
    args = parser.parse_args(argv)

    status = 0
    for filename in args.filenames:
        if looks_secret(filename):
            print(f"{filename}: file name looks like a secret; unstage it and add it to .gitignore")
            status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
