"""Ignored inputs: files a run read inside its repository that git does not hold.

A replay's worktree has only what git and the snapshot hold, so a script
reading ``data/train.csv`` (git-ignored) by a relative path would not find it.
This module decides which such files a replay gets (from the run's inputs
record, ``--link PATH``), checks them against the recorded hashes, and makes
each available at the same relative path in the worktree, from the checkout
the replay runs from, so that the replay can never change the checkout:

- a reflink (a copy-on-write clone, on file systems that have them) or a
  private copy, for files up to the copy limit: writes change the copy only;
- above it, a symlink to the checkout's file, with a write guard in the
  replayed Python process that fails writes to it with an error naming it.

Directories are always made anew in the worktree, never linked, so what the
replay writes next to its inputs (``checkpoints/``, ``outputs/``) stays there.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from typing import NamedTuple

from maggot import inputguard
from maggot.errors import GitError, ReproduceError
from maggot.git import run_git, split_nul
from maggot.inputs import IGNORED, SKIPPED, InputChange, InputsRecord, changed_inputs
from maggot.paths import check_recorded_path, relative_inside, safe_relative_path

MIB = 1024 * 1024
DEFAULT_COPY_LIMIT = 64 * MIB
# bytes; inputs up to this size are copied into the worktree, larger ones linked read-only
ENV_COPY_LIMIT = "MAGGOT_INPUT_COPY_LIMIT"
# where an input comes from
RECORDED, LINKED = "recorded", "--link"
# its state in the checkout now
SAME, CHANGED, MISSING, UNCHECKED = "same", "changed", "missing", "unchecked"
# how it is provided
REFLINK, COPY, READ_ONLY_LINK = "reflink", "copy", "read-only link"
MAX_LINKED_FILES = 100_000
# Linux's FICLONE ioctl: the destination shares the source's blocks until either is written
_FICLONE = 0x40049409
PROTECTED_LISTING = "protected-inputs.json"


class CheckoutInput(NamedTuple):
    """One file the replay gets from the checkout."""

    path: str  # repository-relative, ``/``-separated
    size: int | None  # in the checkout now; None when missing
    state: str  # SAME, CHANGED, MISSING or UNCHECKED (no recorded hash)
    source: str  # RECORDED or LINKED


class InputsPlan(NamedTuple):
    """The ignored inputs a replay gets, decided before anything runs."""

    checkout: str
    files: tuple[CheckoutInput, ...] = ()
    # ignored paths the recorded command names, for runs without an inputs record
    named_in_command: tuple[str, ...] = ()
    disabled: bool = False  # ``--no-inputs``
    copy_limit: int = DEFAULT_COPY_LIMIT
    # the recorded inputs inside the repository whose content changed, or that are gone
    changes: tuple[InputChange, ...] = ()

    @property
    def provided(self) -> list[CheckoutInput]:
        """The files that are there to provide."""
        return [item for item in self.files if item.state != MISSING]

    def of_state(self, *states: str) -> list[CheckoutInput]:
        return [item for item in self.files if item.state in states]


class Provision(NamedTuple):
    """What providing the inputs did."""

    how: dict[str, str]  # path -> REFLINK, COPY or READ_ONLY_LINK
    environment: dict[str, str]  # variables that load the write guard
    guard_dir: str | None  # holds the guard's listing (maggot.bootstrap loads the guard)
    notes: tuple[str, ...]


def copy_limit_from_environment() -> int:
    """The copy limit, from ``MAGGOT_INPUT_COPY_LIMIT`` (bytes) when set."""
    text = os.environ.get(ENV_COPY_LIMIT, "").strip()
    if not text:
        return DEFAULT_COPY_LIMIT
    try:
        limit = int(text)
    except ValueError:
        raise ReproduceError(f"{ENV_COPY_LIMIT}={text!r}: expected a number of bytes") from None
    if limit < 0:
        raise ReproduceError(f"{ENV_COPY_LIMIT}={text!r}: expected a number of bytes")
    return limit


def recorded_inside(record: InputsRecord) -> InputsRecord:
    """The part of an inputs record a replay provides: read files inside the repository."""
    files = tuple(
        item
        for item in record.of_location(IGNORED, SKIPPED)
        if item.was_read and safe_relative_path(item.path) and "\n" not in item.path
    )
    return record._replace(files=files)


def plan_inputs(
    checkout: str,
    record: InputsRecord | None,
    *,
    links: Sequence[str] = (),
    command: Sequence[str] = (),
    cwd: str = "",
    enabled: bool = True,
    copy_limit: int = DEFAULT_COPY_LIMIT,
) -> InputsPlan:
    """Which ignored inputs a replay in ``checkout`` gets, and in what state they are.

    ``record`` is the run's inputs record (None when it has none); its files
    inside the repository are hashed in the checkout. ``links`` are
    ``--link`` paths (relative to the current directory, or absolute; files or
    directories inside ``checkout``). For a run without a record, ignored
    paths the recorded ``command`` names (relative to the recorded ``cwd``)
    are listed, not provided.
    """
    if not enabled:
        return InputsPlan(checkout, disabled=True, copy_limit=copy_limit)
    changes: tuple[InputChange, ...] = ()
    files: dict[str, CheckoutInput] = {}
    if record is not None:
        inside = recorded_inside(record)
        changes = tuple(changed_inputs(inside, checkout))
        states = {item.path: item.state for item in changes}
        for item in inside.files:
            state = states.get(item.path, SAME)
            files[item.path] = CheckoutInput(
                item.path, _size_now(checkout, item.path), state, RECORDED
            )
    for relative in linked_files(checkout, links):
        if relative not in files:
            size = _size_now(checkout, relative)
            files[relative] = CheckoutInput(relative, size, UNCHECKED, LINKED)
    named: tuple[str, ...] = ()
    if record is None:
        named = tuple(
            path for path in ignored_in_command(checkout, command, cwd) if path not in files
        )
    return InputsPlan(
        checkout, tuple(files.values()), named, copy_limit=copy_limit, changes=changes
    )


def _size_now(checkout: str, relative: str) -> int | None:
    try:
        return os.stat(os.path.join(checkout, *relative.split("/"))).st_size
    except OSError:
        return None


def linked_files(checkout: str, links: Sequence[str]) -> list[str]:
    """The files ``--link`` paths name, relative to ``checkout`` (directories walked)."""
    found: list[str] = []
    for link in links:
        path = os.path.abspath(link)
        relative = relative_inside(path, checkout)
        if relative is None or relative == "":
            raise ReproduceError(f"--link {link}: not inside the checkout {checkout}")
        if relative.split("/", 1)[0] == ".git":
            raise ReproduceError(f"--link {link}: inside .git")
        if os.path.isfile(path):
            found.append(relative)
        elif os.path.isdir(path):
            found.extend(_files_under(checkout, relative))
        else:
            raise ReproduceError(f"--link {link}: no such file or directory")
        if len(found) > MAX_LINKED_FILES:
            raise ReproduceError(
                f"--link {link}: more than {MAX_LINKED_FILES} files; link fewer directories"
            )
    return found


def _files_under(checkout: str, relative: str) -> list[str]:
    from maggot import store

    files = []
    top = os.path.join(checkout, *relative.split("/"))
    for directory, dirnames, filenames in os.walk(top):
        # nested repositories and run directories are not inputs
        dirnames[:] = sorted(name for name in dirnames if name not in (".git", store.META_DIR))
        for name in sorted(filenames):
            path = os.path.join(directory, name)
            if os.path.isfile(path):
                files.append(os.path.relpath(path, checkout).replace(os.sep, "/"))
    return files


def ignored_in_command(checkout: str, command: Sequence[str], cwd: str) -> list[str]:
    """Repository-relative paths of ignored files or directories the command's arguments name.

    Arguments are read as paths (``--data=PATH`` and ``key=PATH`` too),
    relative to the recorded working directory; those that exist in the
    checkout are asked of ``git check-ignore`` in one call.
    """
    from maggot.replay import split_path_argument

    base = os.path.join(checkout, *cwd.split("/")) if cwd else checkout
    candidates: dict[str, None] = {}
    for argument in command[1:]:
        value = split_path_argument(argument)[2]
        if not value or value.startswith("-"):
            continue
        path = os.path.normpath(os.path.join(base, value))
        relative = relative_inside(path, checkout) if os.path.lexists(path) else None
        if relative and relative.split("/", 1)[0] != ".git":
            candidates[relative] = None
    if not candidates:
        return []
    listing = b"".join(path.encode("utf-8", "surrogateescape") + b"\0" for path in candidates)
    try:
        output = run_git("check-ignore", "--stdin", "-z", cwd=checkout, input=listing, check=False)
    except GitError:
        return []
    ignored = set(split_nul(output))
    return [path for path in candidates if path in ignored]


def provide_inputs(plan: InputsPlan, worktree: str, guard_dir: str) -> Provision:
    """Make the plan's files available at their paths in ``worktree``.

    Files the worktree already has (tracked ones, or ones the snapshot
    restored) are left as they are. Read-only links get a write guard: its
    listing is written into ``guard_dir``, and ``environment`` holds the
    variables that make ``maggot.bootstrap`` install it in the replay.
    """
    how: dict[str, str] = {}
    notes: list[str] = []
    protected: dict[str, str] = {}
    for item in plan.provided:
        refused = check_recorded_path(item.path, worktree)
        if refused:
            notes.append(f"{item.path}: not provided ({refused})")
            continue
        source = os.path.join(plan.checkout, *item.path.split("/"))
        destination = os.path.join(worktree, *item.path.split("/"))
        if os.path.lexists(destination):
            continue
        if not os.path.isfile(source):
            notes.append(f"{item.path}: not provided (no longer a file in the checkout)")
            continue
        try:
            os.makedirs(os.path.dirname(destination), exist_ok=True)
            how[item.path] = _provide_file(source, destination, plan.copy_limit)
        except OSError as error:
            # one input that cannot be provided costs that input, not the replay
            notes.append(f"{item.path}: not provided ({error.strerror or error})")
            continue
        if how[item.path] == READ_ONLY_LINK:
            protected[os.path.realpath(source)] = item.path
    environment: dict[str, str] = {}
    used_guard = None
    if protected:
        used_guard = guard_dir
        environment[inputguard.ENV_PROTECTED_INPUTS] = write_guard(guard_dir, protected)
    return Provision(how, environment, used_guard, tuple(notes))


def _provide_file(source: str, destination: str, copy_limit: int) -> str:
    if _reflink(source, destination):
        return REFLINK
    if os.path.getsize(source) <= copy_limit:
        shutil.copy2(source, destination)
        return COPY
    os.symlink(os.path.realpath(source), destination)
    return READ_ONLY_LINK


def _reflink(source: str, destination: str) -> bool:
    """Clone ``source`` to ``destination`` sharing its blocks; False where that cannot be."""
    if not sys.platform.startswith("linux"):
        return False
    import fcntl

    try:
        with open(source, "rb") as reader, open(destination, "xb") as writer:
            try:
                fcntl.ioctl(writer.fileno(), _FICLONE, reader.fileno())
            except OSError:
                cloned = False
            else:
                cloned = True
    except OSError:
        cloned = False
    if not cloned:
        try:
            os.unlink(destination)
        except FileNotFoundError:
            pass
        return False
    shutil.copystat(source, destination)
    return True


def write_guard(guard_dir: str, protected: dict[str, str]) -> str:
    """Write the guard's listing of protected files into ``guard_dir``; return its path."""
    from maggot import store

    os.makedirs(guard_dir, exist_ok=True)
    listing = os.path.join(guard_dir, PROTECTED_LISTING)
    store.write_json_atomic(listing, {"files": protected})
    return listing


def size_text(size: int) -> str:
    """A size for people (loads the run display module only when sizes are shown)."""
    from maggot.showrun import size_text as text

    return text(size)


def describe(plan: InputsPlan, limit: int = 5) -> str:
    """``3 ignored inputs from the checkout: data/train.csv (1.2 GiB), ...``."""
    provided = plan.provided
    count = f"{len(provided)} ignored input{'s' if len(provided) != 1 else ''} from the checkout"
    if not provided:
        return count
    shown = ", ".join(f"{item.path} ({size_text(item.size or 0)})" for item in provided[:limit]) + (
        f", and {len(provided) - limit} more" if len(provided) > limit else ""
    )
    return f"{count}: {shown}"


def ignored_entries(checkout: str, skip: Sequence[str]) -> list[str]:
    """The checkout's ignored files and directories, as git lists them (one call).

    A directory git ignores whole is one entry (``data``). Bytecode caches,
    run directories, and entries holding or inside ``skip`` (the experiments
    directory) are left out.
    """
    from maggot import store
    from maggot.paths import is_within

    output = run_git(
        "ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory",
        cwd=checkout,
    )  # fmt: skip
    entries = []
    for entry in split_nul(output):
        path = entry.rstrip("/")
        parts = path.split("/")
        if "__pycache__" in parts or store.META_DIR in parts or path.endswith((".pyc", ".pyo")):
            continue
        absolute = os.path.join(checkout, *parts)
        if store.is_run_dir(absolute):
            continue
        if any(is_within(absolute, kept) or is_within(kept, absolute) for kept in skip):
            continue
        entries.append(path)
    return entries


def link_entries(checkout: str, tree: str, entries: Sequence[str]) -> list[str]:
    """Symlink each entry of ``checkout`` at the same path in ``tree``; the ones linked.

    Unlike a replay's inputs, these are links to the checkout itself, files
    and whole directories: what a command writes there lands in the checkout,
    as when it runs there.
    """
    linked = []
    for path in entries:
        if check_recorded_path(path, tree):
            continue
        source = os.path.join(checkout, *path.split("/"))
        destination = os.path.join(tree, *path.split("/"))
        if os.path.lexists(destination) or not os.path.lexists(source):
            continue
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        os.symlink(source, destination)
        linked.append(path)
    return linked
