"""Refuse to commit files whose names or contents suggest they hold secrets.

The rules are maggot's own (``maggot.secrets``): what this hook refuses to
commit is what a run's snapshot leaves out.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from maggot.secrets import looks_secret, secret_content_reason

_MAX_SCANNED_BYTES = 10 * 1024 * 1024


def _content_reason(filename: str) -> str | None:
    try:
        with open(filename, "rb") as file:
            return secret_content_reason(file.read(_MAX_SCANNED_BYTES))
    except OSError:
        return None  # deleted or unreadable: nothing to commit from it


def main(argv: Sequence[str] | None = None) -> int:
    """Report every file in ``filenames`` whose name looks like a secret.

    Returns 1 when at least one file was reported, 0 otherwise.
    """
    parser = argparse.ArgumentParser(
        prog="maggot-no-secret-files",
        description="Fail when a file looks like a secret (.env, *.pem, a private key ...).",
    )
    parser.add_argument("filenames", nargs="*", help="files to check")
    args = parser.parse_args(argv)

    status = 0
    for filename in args.filenames:
        if looks_secret(filename):
            print(f"{filename}: file name looks like a secret; unstage it and add it to .gitignore")
            status = 1
            continue
        reason = _content_reason(filename)
        if reason:
            print(f"{filename}: {reason}; unstage it and add it to .gitignore")
            status = 1
    return status


if __name__ == "__main__":
    raise SystemExit(main())
