"""Refuse writes to inputs a replay reads from the user's checkout through a symlink.

Loaded in the replayed Python process (through the ``sitecustomize`` module
that ``maggot reproduce`` puts first on its PYTHONPATH) before the program
starts: an audit hook fails every open for writing, truncation, mode, owner
or time change of a protected file with PermissionError naming it. It
imports nothing from maggot, so it loads in any interpreter.
"""

from __future__ import annotations

import errno
import json
import os
import sys
from typing import Any

# names the JSON file listing the protected files: {"files": {real path: shown path}}
ENV_PROTECTED_INPUTS = "MAGGOT_PROTECTED_INPUTS"
# O_TRUNC and O_APPEND only ever come with one of these
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR
# events whose first argument is a path the operation changes in place
_CHANGING_EVENTS = frozenset(("os.truncate", "os.chmod", "os.chown", "os.utime"))

_protected: dict[str, str] = {}
_installed = False


def read_listing(path: str) -> dict[str, str]:
    """``{real path: path shown in errors}`` from the listing file."""
    with open(path, encoding="utf-8") as file:
        data = json.load(file)
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, dict):
        return {}
    return {str(real): str(shown) for real, shown in files.items()}


def install_from_environment() -> bool:
    """Protect the files the environment names; True when a guard is in place."""
    global _installed
    listing = os.environ.get(ENV_PROTECTED_INPUTS)
    if not listing or _installed:
        return _installed
    try:
        _protected.update(read_listing(listing))
    except (OSError, ValueError):
        return False
    sys.addaudithook(_audit_hook)
    _installed = True
    return True


def refusal(target: Any) -> PermissionError | None:
    """The error for a change to ``target`` when it is a protected file, else None."""
    if isinstance(target, int):
        return None  # an open descriptor: it was opened (and checked) before
    try:
        real = os.path.realpath(os.fsdecode(target))
    except (TypeError, ValueError):
        return None
    shown = _protected.get(real)
    if shown is None:
        return None
    return PermissionError(
        errno.EACCES,
        f"{shown} is an input provided read-only from your checkout (maggot reproduce "
        "never lets a replay change it); write to another path",
        os.fsdecode(target),
    )


def _audit_hook(event: str, args: tuple[Any, ...]) -> None:
    if event == "open":
        try:
            writing = bool(args[2] & _WRITE_FLAGS)
        except (IndexError, TypeError):
            return
        if writing:
            error = refusal(args[0])
            if error is not None:
                raise error
    elif event in _CHANGING_EVENTS and args:
        error = refusal(args[0])
        if error is not None:
            raise error
