"""The git snapshot of a run: take it at run start, load it, and rebuild it in a tree."""

from __future__ import annotations

import fnmatch
import os
import re
import stat
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from maggot import store
from maggot.errors import CorruptRunError, GitError, MaggotError, ReproduceError
from maggot.git import finish_git, run_git, split_nul, start_git
from maggot.paths import check_recorded_path, relative_inside, safe_relative_path
from maggot.records import GitHead, SkippedFile, SnapshotCounts, Submodule
from maggot.secrets import looks_secret, redact_url, secret_content_reason

if TYPE_CHECKING:
    from maggot.sharedfiles import SharedFiles

MIB = 1024 * 1024
# Python writes these on import, so they would differ between a run and its replay
DERIVED_FILE_PATTERNS = ("*/__pycache__/*", "__pycache__/*", "*.pyc", "*.pyo")
DIFF_OPTIONS = (
    "--binary",
    "--unified=3",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--no-renames",
    "--no-relative",
    "--src-prefix=a/",
    "--dst-prefix=b/",
    "--ignore-submodules=dirty",
)


class SnapshotLimits(NamedTuple):
    """What untracked files a snapshot copies."""

    max_file_bytes: int = 10 * MIB
    max_total_bytes: int = 100 * MIB
    exclude: tuple[str, ...] = ()


class GitSnapshot(NamedTuple):
    """A run's recorded code state, as read back from ``.maggot/git``.

    A submodule's snapshot has ``git_dir`` ``.maggot/git/submodules/<path>``.
    """

    run_dir: str
    head: GitHead
    git_dir: str | None = None

    def _path(self, name: str) -> str:
        if self.git_dir is not None:
            return os.path.join(self.git_dir, name)
        return store.git_path(self.run_dir, name)

    @property
    def commit(self) -> str:
        """The recorded commit (``load_snapshot`` makes sure there is one)."""
        return self.head.commit or ""

    @property
    def patch_path(self) -> str:
        return self._path(store.PATCH_FILE)

    @property
    def untracked_dir(self) -> str:
        return self._path(store.UNTRACKED_DIR)

    def patch_bytes(self) -> bytes:
        try:
            return store.read_bytes(self.patch_path)
        except FileNotFoundError:
            return b""

    def untracked_files(self) -> list[str]:
        """Repo-relative paths of the copied untracked files."""
        return list(self.head.untracked)


DEFAULT_LIMITS = SnapshotLimits()


def find_toplevel(cwd: str) -> str | None:
    """The working tree root above ``cwd``: the nearest directory holding ``.git``.

    A stat per parent directory instead of a ``git rev-parse`` process, so the
    snapshot's git commands can all start at once.
    """
    directory = os.path.abspath(cwd)
    while True:
        if os.path.exists(os.path.join(directory, ".git")):
            return directory
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def take_snapshot(
    run_dir: str,
    cwd: str,
    exclude_dirs: Sequence[str],
    limits: SnapshotLimits = DEFAULT_LIMITS,
    script: str | None = None,
) -> GitHead:
    """Record the code state of the repository containing ``cwd`` into ``run_dir``.

    Writes ``.maggot/git/{head.json,diff.patch,untracked/}`` and returns the
    head record. ``script`` is the program's script when ``__main__`` is not
    (a worker process). Never raises for git trouble: a run without a usable
    repository records why there is no snapshot.
    """
    git_dir = store.git_path(run_dir)
    os.makedirs(git_dir, exist_ok=True)
    try:
        head = _snapshot(run_dir, cwd, exclude_dirs, limits, script)
    except GitError as error:
        message = str(error)
        if "not a git repository" in message:
            message = "not inside a git repository"
        head = GitHead.none(message)
    except (OSError, UnicodeError) as error:
        # the run matters more than its snapshot: record why and go on
        head = GitHead.none(f"the snapshot failed: {error}")
    store.write_git_head(run_dir, head)
    return head


def record_disabled(run_dir: str, cwd: str, reason: str) -> GitHead:
    """head.json for a run whose snapshot was turned off (the commit is still noted)."""
    commit = None
    try:
        commit = run_git("rev-parse", "--verify", "-q", "HEAD", cwd=cwd).decode().strip() or None
    except GitError:
        pass
    head = GitHead.none(reason, commit)
    store.write_git_head(run_dir, head)
    return head


def copy_snapshot(
    source_run_dir: str, run_dir: str, script: str | None, shared: SharedFiles | None = None
) -> GitHead:
    """Record the snapshot another run directory holds (a sweep's, taken once) as this run's.

    ``script`` is repo-relative, as head.json has it. ``shared``: the files of
    the sweep's jobs, where a head.json naming the same script is linked from.
    """
    import shutil

    source = store.git_path(source_run_dir)
    target = store.git_path(run_dir)
    if os.path.isdir(target):
        shutil.rmtree(target)
    # hard links: snapshot files are never changed in place (writes replace them),
    # and a sweep copies its snapshot into every job's run
    shutil.copytree(source, target, symlinks=True, copy_function=_link_or_copy)
    head = store.read_git_head(run_dir)
    if head.snapshot:
        head = head._replace(script=script)
        path = store.git_path(run_dir, store.HEAD_FILE)
        data = store.text_bytes(store.dumps_json(head.to_json()))
        if store.read_bytes(path) == data:
            pass  # the linked head.json already says it
        elif shared is not None:
            shared.write(path, data)
        else:
            store.write_bytes_atomic(path, data)
    return head


def _link_or_copy(source: str, destination: str) -> None:
    try:
        os.link(source, destination)
    except OSError:  # another file system, or links not supported
        _copy_file(source, destination)


def relative_script(script: str, cwd: str) -> str | None:
    """``script`` (relative to ``cwd`` or absolute) relative to its repository root."""
    toplevel = find_toplevel(cwd)
    if toplevel is None:
        return None
    return relative_inside(os.path.join(cwd, script), toplevel)


def exclusion_pathspec(toplevel: str, exclude_dirs: Sequence[str]) -> list[str]:
    """A git pathspec leaving out ``exclude_dirs`` (the runs), or [] when none is inside."""
    pathspec = ["--"]
    for directory in exclude_dirs:
        relative = relative_inside(directory, toplevel)
        if relative:
            pathspec.append(f":(exclude,literal){relative}")
    return pathspec if len(pathspec) > 1 else []


# the settings that decide the bytes a checkout writes, and whether git sees exec bits
CHECKOUT_SETTINGS = {"core.autocrlf": "false", "core.eol": "native"}
_CONFIG_PATTERN = r"^(remote\..*\.url|core\.(autocrlf|eol|filemode))$"
SUBMODULES_DIR = "submodules"


def _snapshot(
    run_dir: str,
    cwd: str,
    exclude_dirs: Sequence[str],
    limits: SnapshotLimits,
    script: str | None = None,
    git_dir: str | None = None,
) -> GitHead:
    """Snapshot the repository at ``cwd`` into ``git_dir`` (default: the run's git/).

    A submodule's snapshot goes into ``git/submodules/<path>``; submodules of
    submodules are recorded as the superproject's were before: commit and
    whether dirty.
    """
    toplevel = find_toplevel(cwd)
    if toplevel is None:
        return GitHead.none("not inside a git repository")
    git_dir = git_dir or store.git_path(run_dir)
    pathspec = exclusion_pathspec(toplevel, exclude_dirs)

    # one round of git processes: they overlap, and the diff is usually needed anyway
    status_process = start_git(
        "status", "--porcelain=v2", "-z", "--branch", "--untracked-files=all",
        "--ignore-submodules=none", *pathspec, cwd=toplevel,
    )  # fmt: skip
    diff_process = start_git("diff", "HEAD", *DIFF_OPTIONS, *pathspec, cwd=toplevel)
    # one process for the remotes and the checkout settings
    config_process = start_git("config", "-z", "--get-regexp", _CONFIG_PATTERN, cwd=toplevel)
    flags_process = start_git("ls-files", "-v", "-z", *pathspec, cwd=toplevel)
    try:
        status = _parse_status(finish_git(status_process, "status"))
        remotes, settings = _parse_config(finish_git(config_process, "config", check=False))
        hidden = _hidden_from_status(toplevel, finish_git(flags_process, "ls-files"))
        left_out = _left_out_of_patch(toplevel, [*status.changed, *hidden], limits)
    except BaseException:
        _stop(diff_process)
        raise
    patch_pathspec = pathspec
    if left_out:
        # a 100 MB binary would cost seconds to diff at every start: stop that diff early
        _stop(diff_process)
        patch_pathspec = (pathspec or ["--"]) + [
            f":(exclude,literal){path}" for path, _ in left_out
        ]
        patch = b""
    else:
        patch = finish_git(diff_process, "diff", check=False)

    if status.commit is None:
        return GitHead.none("the repository has no commits yet")
    if hidden:
        patch = _diff_with_flags_cleared(toplevel, hidden, patch_pathspec)
    elif not status.tracked_changes:
        patch = b""
    elif left_out:
        patch = run_git("diff", "HEAD", *DIFF_OPTIONS, *patch_pathspec, cwd=toplevel)
    patch, over_total = limit_patch(patch, limits.max_total_bytes)
    not_in_patch = [item for _, item in left_out] + over_total
    os.makedirs(git_dir, exist_ok=True)
    with open(os.path.join(git_dir, store.PATCH_FILE), "wb") as file:
        file.write(patch)
    # git does not see exec bits then, so neither does the patch
    file_modes = (
        _mode_changes(toplevel, pathspec) if settings.get("core.filemode") == "false" else {}
    )

    copied, skipped = _copy_untracked(
        toplevel,
        status.untracked,
        os.path.join(git_dir, store.UNTRACKED_DIR),
        limits._replace(max_total_bytes=limits.max_total_bytes - len(patch)),
    )
    submodules = _submodules(toplevel, status.submodule_flags)
    if git_dir == store.git_path(run_dir):
        submodules = [
            _snapshot_submodule(run_dir, toplevel, item, exclude_dirs, limits)
            for item in submodules
        ]
    return GitHead(
        snapshot=True,
        commit=status.commit,
        branch=status.branch,
        detached=status.branch is None,
        remotes=remotes,
        repo_root=toplevel,
        cwd=relative_inside(cwd, toplevel) or "",
        script=_script_path(toplevel, cwd, script),
        is_dirty=bool(patch or status.untracked or not_in_patch or file_modes),
        counts=SnapshotCounts(
            staged=status.staged,
            unstaged=status.unstaged,
            untracked=len(status.untracked),
            untracked_copied=len(copied),
        ),
        patch_bytes=len(patch),
        hidden_from_status=tuple(hidden),
        untracked=tuple(copied),
        skipped=(*not_in_patch, *skipped),
        submodules=tuple(submodules),
        checkout_settings={name: settings.get(name, default)
                           for name, default in CHECKOUT_SETTINGS.items()},
        file_modes=file_modes,
    )  # fmt: skip


def _snapshot_submodule(
    run_dir: str,
    toplevel: str,
    submodule: Submodule,
    exclude_dirs: Sequence[str],
    limits: SnapshotLimits,
) -> Submodule:
    """A dirty submodule's changes and untracked files, snapshotted like the superproject's."""
    if not submodule.dirty or not submodule.initialized:
        return submodule
    git_dir = store.git_path(run_dir, SUBMODULES_DIR, *submodule.path.split("/"))
    try:
        head = _snapshot(
            run_dir, os.path.join(toplevel, submodule.path), exclude_dirs, limits, git_dir=git_dir
        )
    except (GitError, OSError, UnicodeError):
        return submodule  # recorded as dirty only, as before
    if not head.snapshot:
        return submodule
    store.write_json_atomic(os.path.join(git_dir, store.HEAD_FILE), head.to_json())
    return submodule._replace(snapshot=True)


def submodule_snapshots(snapshot: GitSnapshot) -> list[tuple[Submodule, GitSnapshot]]:
    """The submodules whose uncommitted state the snapshot holds, each with its snapshot."""
    found = []
    for item in snapshot.head.submodules:
        if not item.snapshot:
            continue
        if not safe_relative_path(item.path):
            raise ReproduceError(f"{snapshot.run_dir}: refusing submodule path {item.path!r}")
        git_dir = store.git_path(snapshot.run_dir, SUBMODULES_DIR, *item.path.split("/"))
        try:
            head = GitHead.from_json(store.read_json_object(os.path.join(git_dir, store.HEAD_FILE)))
        except FileNotFoundError:
            raise ReproduceError(
                f"{git_dir}: the snapshot of submodule {item.path} is missing"
            ) from None
        found.append((item, GitSnapshot(snapshot.run_dir, head, git_dir)))
    return found


def _mode_changes(toplevel: str, pathspec: Sequence[str]) -> dict[str, str]:
    """Tracked files whose exec bit on disk differs from HEAD, asked with core.fileMode on."""
    output = run_git(
        "-c", "core.fileMode=true", "diff", "HEAD", "--raw", "-z", "--no-renames",
        "--ignore-submodules=all", *pathspec, cwd=toplevel,
    )  # fmt: skip
    fields = split_nul(output)
    changes = {}
    for meta, path in zip(fields[::2], fields[1::2]):
        old_mode, new_mode = meta.lstrip(":").split(" ", 2)[:2]
        if {old_mode, new_mode} == {"100644", "100755"}:
            changes[path] = new_mode
    return changes


def checkout_environment(head: GitHead) -> dict[str, str]:
    """``GIT_CONFIG_*`` variables giving git the run's checkout settings (none when unrecorded).

    Set for the git commands that build the worktree and for the replay
    itself, so its own snapshot reads the tree with the same settings.
    """
    if not head.checkout_settings:
        return {}
    count = os.environ.get("GIT_CONFIG_COUNT", "0")
    start = int(count) if count.isdigit() else 0
    environment = {
        name: value
        for name, value in os.environ.items()
        if name.startswith(("GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_"))
    }
    settings = sorted(head.checkout_settings.items())
    for offset, (key, value) in enumerate(settings):
        environment[f"GIT_CONFIG_KEY_{start + offset}"] = key
        environment[f"GIT_CONFIG_VALUE_{start + offset}"] = value
    environment["GIT_CONFIG_COUNT"] = str(start + len(settings))
    return environment


def restore_file_modes(snapshot: GitSnapshot, tree: str) -> None:
    """Give tracked files the exec bits the run had under core.fileMode=false."""
    for relative, mode in snapshot.head.file_modes.items():
        refused = check_recorded_path(relative, tree)
        if refused or mode not in ("100644", "100755"):
            raise ReproduceError(f"{snapshot.run_dir}: refusing file mode {relative!r}: {mode!r}")
        path = os.path.join(tree, relative)
        current = os.lstat(path).st_mode
        if stat.S_ISLNK(current):
            continue
        if mode == "100755":
            # execute where it can be read, as git checks out an executable file
            os.chmod(path, stat.S_IMODE(current) | (stat.S_IMODE(current) & 0o444) >> 2)
        else:
            os.chmod(path, stat.S_IMODE(current) & ~0o111)


# ls-files -v tags: lowercase = assume-unchanged, S = skip-worktree
_HIDDEN_TAG = re.compile(rb"(?:^|\0)([a-zS]) ([^\0]*)")


def _hidden_from_status(toplevel: str, ls_files_output: bytes) -> list[str]:
    """Tracked files that git status and git diff skip (assume-unchanged, skip-worktree).

    A sparse checkout leaves skip-worktree files out of the working tree, so a
    missing skip-worktree file is not a change; a missing assume-unchanged one
    was deleted.
    """
    hidden = []
    for match in _HIDDEN_TAG.finditer(ls_files_output):
        path = match.group(2).decode("utf-8", errors="surrogateescape")
        skip_worktree = match.group(1) in (b"S", b"s")
        if not skip_worktree or os.path.lexists(os.path.join(toplevel, path)):
            hidden.append(path)
    return hidden


def _diff_with_flags_cleared(toplevel: str, hidden: list[str], pathspec: list[str]) -> bytes:
    """``git diff HEAD`` as if the hidden files had no flags, without touching the index."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(prefix="maggot-index-") as scratch:
        scratch_index = os.path.join(scratch, "index")
        index_file = run_git(
            "rev-parse", "--path-format=absolute", "--git-path", "index", cwd=toplevel
        )
        shutil.copyfile(os.fsdecode(index_file.rstrip(b"\n")), scratch_index)
        env = {"GIT_INDEX_FILE": scratch_index}
        paths = "".join(path + "\0" for path in hidden).encode("utf-8", errors="surrogateescape")
        # one flag per call: update-index applies only the last of several
        for flag in ("--no-assume-unchanged", "--no-skip-worktree"):
            run_git("update-index", flag, "-z", "--stdin", cwd=toplevel, env=env, input=paths)
        # entries written back through --index-info carry no stat data, so git
        # compares the files' content: an edit of the same size within the same
        # second would otherwise look clean
        # all entries, filtered here: thousands of paths would overflow an argv
        wanted = set(hidden)
        entries = b"".join(
            entry + b"\0"
            for entry in run_git("ls-files", "-s", "-z", cwd=toplevel, env=env).split(b"\0")
            if entry
            and entry.split(b"\t", 1)[-1].decode("utf-8", errors="surrogateescape") in wanted
        )
        run_git("update-index", "-z", "--index-info", cwd=toplevel, env=env, input=entries)
        return run_git("diff", "HEAD", *DIFF_OPTIONS, *pathspec, cwd=toplevel, env=env)


def _stop(process: Any) -> None:
    """End a background git process whose output is no longer wanted."""
    if process.poll() is None:
        process.kill()
    process.communicate()


_LEFT_OUT = "its changes are left out of the patch"


def _left_out_of_patch(
    toplevel: str, changed: Sequence[str], limits: SnapshotLimits
) -> list[tuple[str, SkippedFile]]:
    """Changed tracked files whose changes the patch must not hold: secrets, huge files.

    Each comes with its path as git has it, for the pathspec that leaves it out.
    """
    left_out = []
    for path in dict.fromkeys(changed):
        reason = None
        if looks_secret(path):
            reason = f"secret-looking name: {_LEFT_OUT}"
        else:
            try:
                size = os.lstat(os.path.join(toplevel, path)).st_size
            except OSError:
                size = 0  # deleted: the total limit still applies to its patch
            if size > limits.max_file_bytes:
                reason = f"larger than {_human(limits.max_file_bytes)}: {_LEFT_OUT}"
        if reason:
            left_out.append((path, SkippedFile(_printable(path), reason)))
    return left_out


_FILE_HEADER = b"diff --git "


def limit_patch(patch: bytes, max_bytes: int) -> tuple[bytes, list[SkippedFile]]:
    """Keep whole files' changes, in order, while the patch stays within ``max_bytes``."""
    if len(patch) <= max_bytes:
        return patch, []
    # every file's part starts with a header line; base85 binary lines never look like one
    parts = patch.split(b"\n" + _FILE_HEADER)
    pieces = [parts[0]] + [_FILE_HEADER + part for part in parts[1:]]
    pieces = [piece if index == len(pieces) - 1 else piece + b"\n"
              for index, piece in enumerate(pieces)]  # fmt: skip
    kept: list[bytes] = []
    left_out = []
    total = 0
    for piece in pieces:
        if total + len(piece) <= max_bytes:
            kept.append(piece)
            total += len(piece)
        else:
            header = piece.split(b"\n", 1)[0][len(_FILE_HEADER) :]
            path = _header_path(header.decode("utf-8", errors="backslashreplace"))
            left_out.append(
                SkippedFile(path, f"patch over {_human(max_bytes)} in total: {_LEFT_OUT}")
            )
    return b"".join(kept), left_out


def _header_path(header: str) -> str:
    """``path`` from a ``a/path b/path`` diff header; the header as it is otherwise."""
    half = (len(header) - 1) // 2
    before, after = header[:half], header[half + 1 :]
    if before.startswith("a/") and after.startswith("b/") and before[2:] == after[2:]:
        return before[2:]
    return header


class _Status(NamedTuple):
    commit: str | None
    branch: str | None
    tracked_changes: int
    staged: int
    unstaged: int
    untracked: list[str]
    submodule_flags: dict[str, str]
    changed: list[str]


def _parse_status(output: bytes) -> _Status:
    commit: str | None = None
    branch: str | None = None
    staged = unstaged = tracked = 0
    untracked: list[str] = []
    changed: list[str] = []
    submodule_flags: dict[str, str] = {}
    entries = split_nul(output)
    index = 0
    while index < len(entries):
        entry = entries[index]
        index += 1
        kind = entry[:2]
        if entry.startswith("# branch.oid "):
            oid = entry[len("# branch.oid ") :]
            commit = None if oid == "(initial)" else oid
        elif entry.startswith("# branch.head "):
            name = entry[len("# branch.head ") :]
            branch = None if name == "(detached)" else name
        elif kind in ("1 ", "2 ", "u "):
            fields = entry.split(" ", {"1 ": 8, "2 ": 9, "u ": 10}[kind])
            flags, submodule = fields[1], fields[2]
            tracked += 1
            staged += flags[0] != "."
            unstaged += flags[1] != "."
            if submodule.startswith("S"):
                submodule_flags[fields[-1]] = submodule
            else:
                changed.append(fields[-1])
            if kind == "2 ":
                index += 1  # the original path of a rename follows
        elif kind == "? ":
            untracked.append(entry[2:])
    return _Status(commit, branch, tracked, staged, unstaged, untracked, submodule_flags, changed)


def _parse_config(output: bytes) -> tuple[dict[str, str], dict[str, str]]:
    """``(remote name -> redacted URL, core setting -> value)`` from ``git config -z``."""
    remotes: dict[str, str] = {}
    settings: dict[str, str] = {}
    for entry in split_nul(output):
        key, _, value = entry.partition("\n")
        if key.startswith("remote."):
            remotes[key[len("remote.") : -len(".url")]] = redact_url(value)
        else:
            # the last one wins, as in git; booleans as git spells them
            settings[key.lower()] = _BOOLEAN_WORDS.get(value.lower(), value)
    return remotes, settings


_BOOLEAN_WORDS = {
    "yes": "true",
    "on": "true",
    "1": "true",
    "no": "false",
    "off": "false",
    "0": "false",
}


def _script_path(toplevel: str, cwd: str, script: str | None) -> str | None:
    main = sys.modules.get("__main__")
    main_file = script or getattr(main, "__file__", None)
    if not main_file:
        return None
    # relative to where the program started, which is not the current directory after a chdir
    return relative_inside(os.path.join(cwd, main_file), toplevel)


def _submodules(toplevel: str, flags: dict[str, str]) -> list[Submodule]:
    if not os.path.exists(os.path.join(toplevel, ".gitmodules")):
        return []
    output = run_git("submodule", "status", cwd=toplevel, check=False).decode(errors="replace")
    submodules = []
    for line in output.splitlines():
        if len(line) < 42:
            continue
        state, commit, rest = line[0], line[1:41], line[42:]
        path = rest.rsplit(" (", 1)[0] if rest.endswith(")") else rest
        flag = flags.get(path, "N...")
        submodules.append(
            Submodule(
                path=path,
                commit=commit,
                initialized=state != "-",
                commit_changed=state == "+" or flag[1:2] == "C",
                dirty=flag[2:3] == "M" or flag[3:4] == "U",
            )
        )
    return submodules


def _copy_untracked(
    toplevel: str, paths: list[str], target_dir: str, limits: SnapshotLimits
) -> tuple[list[str], list[SkippedFile]]:
    copied: list[str] = []
    skipped: list[SkippedFile] = []
    total = 0
    run_dir_cache: dict[str, bool] = {}
    for path in paths:
        source = os.path.join(toplevel, path)
        reason = _skip_reason(toplevel, path, limits, run_dir_cache)
        is_link = False
        if reason is None:
            try:
                info = os.lstat(source)
            except OSError as error:
                reason = f"unreadable: {error.strerror}"
            else:
                is_link = stat.S_ISLNK(info.st_mode)
                if is_link:
                    pass
                elif not stat.S_ISREG(info.st_mode):
                    reason = "not a regular file"
                elif info.st_size > limits.max_file_bytes:
                    reason = f"larger than {_human(limits.max_file_bytes)}"
                elif total + info.st_size > limits.max_total_bytes:
                    reason = f"total untracked size over {_human(limits.max_total_bytes)}"
        destination = os.path.join(target_dir, path)
        if reason is None:
            # one file that cannot be read costs that file, not the snapshot
            try:
                os.makedirs(os.path.dirname(destination), exist_ok=True)
                if is_link:
                    os.symlink(os.readlink(source), destination)
                else:
                    reason = _copy_checked(source, destination)
            except (OSError, MaggotError) as error:
                reason = f"unreadable: {getattr(error, 'strerror', None) or error}"
                _remove_quietly(destination)
        if reason is not None:
            skipped.append(SkippedFile(_printable(path), reason))
            continue
        if not is_link:
            total += info.st_size
        copied.append(path)
    return copied, skipped


def _copy_checked(source: str, destination: str) -> str | None:
    """Copy a file unless its content looks like credentials; return why it was not copied."""
    import shutil

    content = store.read_bytes(source)
    reason = secret_content_reason(content)
    if reason is not None:
        return f"secret-looking content ({reason})"
    with open(destination, "xb") as file:
        file.write(content)
    shutil.copystat(source, destination)
    return None


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _skip_reason(
    toplevel: str, path: str, limits: SnapshotLimits, run_dir_cache: dict[str, bool]
) -> str | None:
    if path.endswith("/"):
        return "nested git repository"
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return "file name is not valid UTF-8"
    if "\n" in path:
        # a replay refuses such a name: git's line-based input would split it
        return "file name has a line break"
    if looks_secret(path):
        return "secret-looking name"
    if any(fnmatch.fnmatch(path, pattern) for pattern in limits.exclude):
        return "excluded by pattern"
    if any(fnmatch.fnmatch(path, pattern) for pattern in DERIVED_FILE_PATTERNS):
        return "derived file (bytecode)"
    parts = path.split("/")
    if store.META_DIR in parts:
        return "inside a run directory"
    for depth in range(1, len(parts)):
        parent = "/".join(parts[:depth])
        if parent not in run_dir_cache:
            run_dir_cache[parent] = store.is_run_dir(os.path.join(toplevel, parent))
        if run_dir_cache[parent]:
            return "inside a run directory"
    return None


def _printable(path: str) -> str:
    """A path that JSON can hold, undecodable bytes shown as escapes."""
    return path.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="backslashreplace")


def _copy_file(source: str, destination: str) -> None:
    """Copy content, mode and times (shutil loads only when files are copied)."""
    import shutil

    shutil.copy2(source, destination)


def _human(size: int) -> str:
    return f"{size / MIB:g} MiB"


_COMMIT = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")


def load_snapshot(run_dir: str) -> GitSnapshot:
    """Read a run's snapshot; raise ReproduceError when it has none."""
    try:
        head = store.read_git_head(run_dir)
    except FileNotFoundError:
        commit = store.read_commit_hash(run_dir)
        if commit:
            raise ReproduceError(
                f"{run_dir}: written by maggot 0.2: only the commit is known, not the "
                f"uncommitted changes; check it out by hand with 'git checkout {commit}'"
            ) from None
        missing = store.missing_message(run_dir, store.GIT_DIR, store.HEAD_FILE)
        raise ReproduceError(f"{missing} (no git snapshot)") from None
    except CorruptRunError as error:
        raise ReproduceError(str(error)) from None
    if not head.snapshot:
        raise ReproduceError(f"{run_dir}: no git snapshot: {head.reason or 'unknown reason'}")
    head_path = store.git_path(run_dir, store.HEAD_FILE)
    if not head.commit:
        raise ReproduceError(f"{head_path}: no commit recorded")
    # a hand-edited commit must never reach git as an option (--upload-pack=...)
    if not _COMMIT.fullmatch(head.commit):
        raise CorruptRunError(f"{head_path}: {head.commit[:80]!r} is not an object id")
    return GitSnapshot(run_dir=run_dir, head=head)


def apply_snapshot(snapshot: GitSnapshot, tree: str, env: dict[str, str] | None = None) -> None:
    """Apply the snapshot's patch, untracked files and exec bits onto a checkout of its commit.

    ``env`` holds the run's checkout settings (``checkout_environment``).
    """
    patch = snapshot.patch_bytes()
    if patch:
        try:
            run_git("apply", "--binary", "--whitespace=nowarn", "-", cwd=tree, input=patch, env=env)
        except GitError as error:
            raise ReproduceError(
                f"{snapshot.patch_path}: the recorded changes do not apply onto "
                f"{snapshot.commit[:12]}: {error}"
            ) from None
    for relative in snapshot.untracked_files():
        # a directory symlink in the checkout must not lead the copy out of the tree
        refused = check_recorded_path(relative, tree)
        if refused:
            raise ReproduceError(
                f"{snapshot.run_dir}: refusing untracked path {relative!r} ({refused})"
            )
        source = os.path.join(snapshot.untracked_dir, relative)
        destination = os.path.join(tree, relative)
        if not os.path.lexists(source):
            raise ReproduceError(f"{source}: recorded untracked file is missing")
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        if os.path.lexists(destination):
            raise ReproduceError(f"{relative}: untracked file already exists in the checkout")
        if os.path.islink(source):
            os.symlink(os.readlink(source), destination)
        elif not os.path.isfile(source):
            raise CorruptRunError(f"{source}: not a regular file")
        else:
            _copy_file(source, destination)
    restore_file_modes(snapshot, tree)
