"""Path containment: is a path inside a root, and is a recorded relative path safe to use."""

from __future__ import annotations

import os
import re

_DRIVE = re.compile(r"^[A-Za-z]:")


def is_within(path: str, root: str) -> bool:
    """Whether ``path`` is ``root`` or below it, both resolved through symlinks."""
    path, root = os.path.realpath(path), os.path.realpath(root)
    return path == root or path.startswith(os.path.join(root, ""))


def relative_inside(path: str, root: str) -> str | None:
    """``path`` relative to ``root`` with ``/`` separators ("" for root itself), or None."""
    relative = os.path.relpath(os.path.realpath(path), os.path.realpath(root))
    if relative == os.curdir:
        return ""
    if relative == os.pardir or relative.startswith(os.pardir + os.sep) or os.path.isabs(relative):
        return None
    return relative.replace(os.sep, "/")


def safe_relative_path(path: str) -> bool:
    """A repo-relative path (``/``-separated, as git writes them) that stays inside its tree."""
    if not path or path.startswith("/"):
        return False
    # "C:x" names a drive only on Windows; elsewhere "A:" is an ordinary file name
    if os.sep == "\\" and _DRIVE.match(path):
        return False
    separators = "/\\" if os.sep == "\\" else "/"
    parts = re.split(f"[{re.escape(separators)}]", path)
    return ".." not in parts and not os.path.isabs(path)


def check_recorded_path(relative: object, root: str) -> str | None:
    """Why a recorded relative path must not be used under ``root``, or None when it is safe.

    Refused: anything not a string, absolute paths, ``..``, newlines (they
    would split git's line-based input), and paths whose parent directory
    leads outside ``root`` through a symlink.
    """
    if not isinstance(relative, str) or not safe_relative_path(relative) or "\n" in relative:
        return "not a safe relative path"
    if not is_within(os.path.dirname(os.path.join(root, relative)), root):
        return "leads outside its directory through a symlink"
    return None
