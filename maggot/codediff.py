"""Differences between two runs: their configs, their results, and their full code states.

A run's code state is its commit plus the recorded patch plus the copied
untracked files. Each state is built as a git tree in a throwaway object
store that borrows the repository's objects as an alternate, so nothing is
written to the user's object store, index, refs or working tree.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from maggot import gitsnap
from maggot.config import flatten
from maggot.errors import CorruptRunError, GitError, MaggotError
from maggot.git import run_git
from maggot.paths import check_recorded_path

CHANGED = "changed"
ADDED = "added"
REMOVED = "removed"
PATCH = "patch"
STAT = "stat"
NAME_ONLY = "name-only"
_OUTPUT_OPTIONS = {PATCH: (), STAT: ("--stat",), NAME_ONLY: ("--name-only",)}
_MARKERS = {CHANGED: "~", ADDED: "+", REMOVED: "-"}
_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


class CodeDiffError(MaggotError):
    """The code states of two runs cannot be compared (no repository, missing commit ...)."""


class ConfigChange(NamedTuple):
    """One difference between two configs, at a dotted key (``model.C``, ``layers[2]``)."""

    kind: str
    key: str
    old: Any = None
    new: Any = None

    def as_json(self) -> dict[str, Any]:
        """The change as a JSON object; only the values that exist are present."""
        data: dict[str, Any] = {"change": self.kind, "key": self.key}
        if self.kind != ADDED:
            data["old"] = self.old
        if self.kind != REMOVED:
            data["new"] = self.new
        return data

    def __str__(self) -> str:
        if self.kind == CHANGED:
            return f"~ {self.key}: {_json(self.old)} -> {_json(self.new)}"
        value = self.new if self.kind == ADDED else self.old
        return f"{_MARKERS[self.kind]} {self.key}: {_json(value)}"


class Repository(NamedTuple):
    """The repository code diffs run in."""

    toplevel: str
    objects_dir: str
    pathspec_cwd: str


class CodeDiff(NamedTuple):
    """``git diff`` output between two runs' code states."""

    commit1: str
    commit2: str
    output: bytes
    # whether each run recorded uncommitted changes or untracked files
    dirty1: bool = False
    dirty2: bool = False


def config_changes(old: dict[str, Any], new: dict[str, Any]) -> list[ConfigChange]:
    """What changed from ``old`` to ``new``, sorted by key; added or removed sections by leaf."""
    from deepdiff import DeepDiff
    from deepdiff.path import parse_path

    # threshold 0: sections with no key in common still diff key by key, not as one value
    diff = DeepDiff(old, new, verbose_level=2, threshold_to_diff_deeper=0)
    changes: list[ConfigChange] = []
    for report in ("values_changed", "type_changes"):
        for path, change in diff.get(report, {}).items():
            key = _dotted(parse_path(path))  # type: ignore[no-untyped-call, unused-ignore]
            changes.append(ConfigChange(CHANGED, key, change["old_value"], change["new_value"]))
    for report, kind in (
        ("dictionary_item_added", ADDED),
        ("iterable_item_added", ADDED),
        ("dictionary_item_removed", REMOVED),
        ("iterable_item_removed", REMOVED),
    ):
        for path, value in diff.get(report, {}).items():
            key = _dotted(parse_path(path))  # type: ignore[no-untyped-call, unused-ignore]
            leaves = flatten(value) if isinstance(value, dict) and value else {"": value}
            for leaf, leaf_value in leaves.items():
                full_key = f"{key}.{leaf}" if leaf else key
                if kind == ADDED:
                    changes.append(ConfigChange(kind, full_key, new=leaf_value))
                else:
                    changes.append(ConfigChange(kind, full_key, old=leaf_value))
    return sorted(changes, key=lambda change: change.key)


def _dotted(elements: Sequence[Any]) -> str:
    key = ""
    for element in elements:
        if isinstance(element, int):
            key += f"[{element}]"
        else:
            key += f".{element}" if key else str(element)
    return key


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def diff_code(
    run_dir1: str,
    run_dir2: str,
    *,
    paths: Sequence[str] = (),
    output: str = PATCH,
    color: bool = False,
    cwd: str | None = None,
) -> CodeDiff:
    """``git diff`` from run 1's full code state to run 2's, limited to ``paths``.

    The repository is the one containing ``cwd`` (default: the current
    directory), else the one containing ``run_dir1``; ``paths`` are relative
    to ``cwd`` when it is inside the repository. Raises ReproduceError for a
    run without a snapshot and CodeDiffError when a commit is missing.
    """
    snapshot1 = gitsnap.load_snapshot(run_dir1)
    snapshot2 = gitsnap.load_snapshot(run_dir2)
    repository = find_repository(cwd or os.getcwd(), run_dir1)
    with scratch_directory() as scratch:
        env = scratch_env(repository, scratch)
        tree1 = build_tree(repository, snapshot1, env, scratch)
        tree2 = build_tree(repository, snapshot2, env, scratch)
        text = run_git(
            "diff", tree1, tree2, "--color=always" if color else "--no-color", "--no-ext-diff",
            "--no-textconv", *_OUTPUT_OPTIONS[output], "--", *paths,
            cwd=repository.pathspec_cwd, env=env,
        )  # fmt: skip
    return CodeDiff(
        snapshot1.commit, snapshot2.commit, text, snapshot1.head.is_dirty, snapshot2.head.is_dirty
    )


def find_repository(*directories: str) -> Repository:
    """The first git repository containing one of ``directories``."""
    for index, directory in enumerate(directories):
        if not os.path.isdir(directory):
            continue
        try:
            output = run_git(
                "rev-parse", "--path-format=absolute", "--show-toplevel", "--git-path", "objects",
                cwd=directory,
            )  # fmt: skip
        except GitError as error:
            if "not a git repository" in str(error):
                continue
            raise
        toplevel, objects_dir = output.decode("utf-8", errors="surrogateescape").splitlines()[:2]
        return Repository(
            toplevel, objects_dir, os.path.abspath(directory) if index == 0 else toplevel
        )
    raise CodeDiffError(
        f"not inside a git repository (tried {', '.join(directories)}): "
        "run this from the repository the runs were recorded in"
    )


@contextlib.contextmanager
def scratch_directory() -> Iterator[str]:
    """A temporary directory holding an empty object store, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="maggot-diff-") as directory:
        os.mkdir(os.path.join(directory, "objects"))
        yield directory


def scratch_env(repository: Repository, scratch: str) -> dict[str, str]:
    """git environment writing objects to ``scratch`` and reading the repository's too."""
    return {
        "GIT_OBJECT_DIRECTORY": os.path.join(scratch, "objects"),
        "GIT_ALTERNATE_OBJECT_DIRECTORIES": _quote_alternate(repository.objects_dir),
    }


def _quote_alternate(path: str) -> str:
    # the variable is a ':'-separated list; git reads a double-quoted entry C-style
    if ":" not in path and not path.startswith('"'):
        return path
    return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_tree(
    repository: Repository, snapshot: gitsnap.GitSnapshot, env: dict[str, str], scratch: str
) -> str:
    """Write the tree of ``snapshot``'s full code state into the scratch store; return its id."""
    commit = snapshot.commit
    if not _OBJECT_ID.fullmatch(commit):
        raise CorruptRunError(f"{snapshot.run_dir}: recorded commit {commit!r} is not an object id")
    cwd = repository.toplevel
    try:
        run_git("cat-file", "-e", f"{commit}^{{commit}}", cwd=cwd, env=env)
    except GitError:
        raise CodeDiffError(missing_commit_message(snapshot, repository)) from None
    index_file = os.path.join(tempfile.mkdtemp(prefix="index-", dir=scratch), "index")
    index_env = {**env, "GIT_INDEX_FILE": index_file}
    run_git("read-tree", commit, cwd=cwd, env=index_env)
    patch = snapshot.patch_bytes()
    if patch:
        try:
            run_git(
                "apply", "--cached", "--binary", "--whitespace=nowarn", "-",
                cwd=cwd, env=index_env, input=patch,
            )  # fmt: skip
        except GitError as error:
            message = f"the recorded changes do not apply onto {commit[:12]}: {error}"
            raise CodeDiffError(f"{snapshot.patch_path}: {message}") from None
    entries = _untracked_entries(snapshot, scratch)
    if entries:
        sources = "".join(source + "\n" for _, source, _ in entries)
        hashes = run_git(
            "hash-object", "-w", "--no-filters", "--stdin-paths",
            cwd=cwd, env=index_env, input=os.fsencode(sources),
        ).split()  # fmt: skip
        if len(hashes) != len(entries):
            raise CodeDiffError(f"{snapshot.run_dir}: git hash-object gave {len(hashes)} ids")
        index_info = b"".join(
            f"{mode} {object_id.decode()}\t".encode() + os.fsencode(path) + b"\0"
            for (mode, _, path), object_id in zip(entries, hashes)
        )
        run_git(
            "update-index", "--add", "-z", "--index-info", cwd=cwd, env=index_env, input=index_info
        )
    return run_git("write-tree", cwd=cwd, env=index_env).decode().strip()


def missing_commit_message(snapshot: gitsnap.GitSnapshot, repository: Repository) -> str:
    """One line saying the run's commit is not here, with the recorded remotes to fetch from."""
    remotes = snapshot.head.remotes
    where = ""
    if remotes:
        listed = ", ".join(f"{name} {url}" for name, url in sorted(remotes.items()))
        where = f" (recorded remotes: {listed})"
    return (
        f"{snapshot.run_dir}: commit {snapshot.commit[:12]} is not in the repository at "
        f"{repository.toplevel}; try 'git fetch'{where}"
    )


def _untracked_entries(snapshot: gitsnap.GitSnapshot, scratch: str) -> list[tuple[str, str, str]]:
    """(mode, file to hash, repo path) for each copied untracked file."""
    entries: list[tuple[str, str, str]] = []
    for relative in snapshot.untracked_files():
        # a symlinked directory inside the copy must not pull in files from elsewhere
        refused = check_recorded_path(relative, snapshot.untracked_dir)
        if refused:
            raise CodeDiffError(
                f"{snapshot.run_dir}: refusing untracked path {relative!r} ({refused})"
            )
        source = os.path.join(snapshot.untracked_dir, relative)
        try:
            info = os.lstat(source)
        except FileNotFoundError:
            raise CorruptRunError(f"{source}: recorded untracked file is missing") from None
        if stat.S_ISLNK(info.st_mode):
            # git stores a symlink as a blob holding its target
            descriptor, target_file = tempfile.mkstemp(prefix="link-", dir=scratch)
            with os.fdopen(descriptor, "wb") as file:
                file.write(os.readlink(os.fsencode(source)))
            entries.append(("120000", target_file, relative))
        elif not stat.S_ISREG(info.st_mode):
            # git would read a FIFO or a device forever
            raise CorruptRunError(f"{source}: not a regular file")
        else:
            mode = "100755" if info.st_mode & stat.S_IXUSR else "100644"
            entries.append((mode, os.path.abspath(source), relative))
    return entries
