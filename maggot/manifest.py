"""``.maggot/manifest.json``: size and sha256 of every file of a run, and checking them.

Written when a run ends; ``maggot verify`` re-hashes a run against it, and
``maggot reproduce`` checks the snapshot files before applying them.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from typing import Any, NamedTuple

from maggot import hashing, store
from maggot.errors import CorruptRunError, ReproduceError

MANIFEST_FORMAT_VERSION = 1
_SNAPSHOT_PREFIX = f"{store.META_DIR}/{store.GIT_DIR}/"
# the manifest itself, and files that change without the run changing: the lock
# files are made by whichever process locks the run (a joining worker, `maggot rm`),
# tags and notes are written by `maggot tag` / `maggot note` (under a lock of their own)
_NOT_LISTED = (
    f"{store.META_DIR}/{store.MANIFEST_FILE}",
    f"{store.META_DIR}/{store.RESULTS_LOCK_FILE}",
    f"{store.META_DIR}/{store.RUN_LOCK_FILE}",
    f"{store.META_DIR}/{store.LIVE_LOCK_FILE}",
    f"{store.META_DIR}/{store.ANNOTATIONS_FILE}",
    f"{store.META_DIR}/{store.ANNOTATIONS_LOCK_FILE}",
)
_RUN_FILE = f"{store.META_DIR}/{store.RUN_FILE}"


class ManifestEntry(NamedTuple):
    """One file of a run directory as it was when the run ended."""

    path: str  # relative to the run directory, ``/``-separated
    size: int
    sha256: str | None  # None for a symlink or a file over the size limit
    mtime_ns: int | None  # kept for files too large to hash
    link: str | None  # a symlink's target

    @property
    def hashed(self) -> bool:
        return self.sha256 is not None


class Manifest(NamedTuple):
    """A run's manifest."""

    format_version: int
    created_at: str
    max_hash_bytes: int
    files: tuple[ManifestEntry, ...]

    def artifacts(self) -> list[ManifestEntry]:
        """The run's own files: everything outside ``.maggot/``."""
        return [item for item in self.files if not item.path.startswith(store.META_DIR + "/")]


def _run_files(run_dir: str) -> dict[str, str]:
    """``{relative path: absolute path}`` of the files listed in a manifest."""
    files = {}
    for directory, dirnames, filenames in os.walk(run_dir):
        dirnames.sort()
        relative_dir = os.path.relpath(directory, run_dir)
        for name in filenames:
            relative = name if relative_dir == os.curdir else os.path.join(relative_dir, name)
            relative = relative.replace(os.sep, "/")
            if relative in _NOT_LISTED or name.startswith(".tmp-"):
                continue  # .tmp-*: another writer's atomic replace in flight
            files[relative] = os.path.join(directory, name)
        # symlinked directories are listed as links, not followed
        for name in [name for name in dirnames if os.path.islink(os.path.join(directory, name))]:
            dirnames.remove(name)
            relative = os.path.relpath(os.path.join(directory, name), run_dir)
            files[relative.replace(os.sep, "/")] = os.path.join(directory, name)
    return files


def _entry(relative: str, path: str, max_hash_bytes: int) -> ManifestEntry:
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode):
        return ManifestEntry(relative, info.st_size, None, None, os.readlink(path))
    # a FIFO or device is never opened (reading one can block forever): size and mtime only
    if info.st_size > max_hash_bytes or not stat.S_ISREG(info.st_mode):
        return ManifestEntry(relative, info.st_size, None, info.st_mtime_ns, None)
    return ManifestEntry(relative, info.st_size, hashing.sha256_file(path), None, None)


def build_manifest(run_dir: str, max_hash_bytes: int) -> Manifest:
    """Hash every file of ``run_dir`` (files over ``max_hash_bytes``: size and mtime only)."""
    entries = [
        _entry(relative, path, max_hash_bytes)
        for relative, path in sorted(_run_files(run_dir).items())
    ]
    created_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return Manifest(MANIFEST_FORMAT_VERSION, created_at, max_hash_bytes, tuple(entries))


def write_manifest(run_dir: str, max_hash_bytes: int) -> Manifest:
    """Build the manifest of ``run_dir`` and write it atomically."""
    manifest = build_manifest(run_dir, max_hash_bytes)
    data: dict[str, Any] = manifest._asdict()
    data["files"] = {
        item.path: {
            key: value
            for key, value in item._asdict().items()
            if key != "path" and value is not None
        }
        for item in manifest.files
    }
    store.write_json_atomic(store.meta_path(run_dir, store.MANIFEST_FILE), data)
    return manifest


def load_manifest(run_dir: str) -> Manifest | None:
    """A run's manifest; None when it was not recorded (older or unfinished runs)."""
    path = store.meta_path(run_dir, store.MANIFEST_FILE)
    data = store.read_optional_object(path)
    if data is None:
        return None
    try:
        files = tuple(
            ManifestEntry(
                path=str(relative),
                size=int(item["size"]),
                sha256=item.get("sha256"),
                mtime_ns=item.get("mtime_ns"),
                link=item.get("link"),
            )
            for relative, item in sorted(data["files"].items())
        )
        return Manifest(
            format_version=int(data["format_version"]),
            created_at=str(data.get("created_at", "")),
            max_hash_bytes=int(data.get("max_hash_bytes", 0)),
            files=files,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise CorruptRunError(f"{path}: not a manifest ({error})") from None


class FileFinding(NamedTuple):
    """A file whose state differs from the manifest, and how."""

    path: str
    reason: str


class Verification(NamedTuple):
    """A run directory checked against its manifest."""

    run_dir: str
    recorded: bool  # False: the run has no manifest
    checked: int
    changed: tuple[FileFinding, ...]
    missing: tuple[str, ...]
    added: tuple[str, ...]
    unverified: tuple[FileFinding, ...]  # too large to hash, and the mtime moved
    # the run's name when it ended, when run.json differs only by `maggot mv`'s renaming
    renamed_from: str | None = None

    @property
    def intact(self) -> bool:
        """No listed file changed or went missing (added files aside)."""
        return not self.changed and not self.missing


def _compare(entry: ManifestEntry, path: str) -> tuple[str | None, str | None]:
    """``(why it changed, why it is unverified)`` for one listed file that exists."""
    info = os.lstat(path)
    if entry.link is not None or stat.S_ISLNK(info.st_mode):
        target = os.readlink(path) if stat.S_ISLNK(info.st_mode) else None
        return (None if target == entry.link else "symlink target differs"), None
    if not stat.S_ISREG(info.st_mode):
        if entry.sha256 is not None:
            return "not a regular file any more", None
        return None, None
    if info.st_size != entry.size:
        shorter = " (truncated?)" if info.st_size < entry.size else ""
        return f"size {entry.size} -> {info.st_size} bytes{shorter}", None
    if entry.sha256 is not None:
        return (None if hashing.sha256_file(path) == entry.sha256 else "sha256 differs"), None
    if entry.mtime_ns is not None and info.st_mtime_ns != entry.mtime_ns:
        return None, "too large to hash; same size, modification time differs"
    return None, None


def verify_run(run_dir: str, prefix: str = "") -> Verification:
    """Re-hash ``run_dir`` (only paths starting with ``prefix``) against its manifest."""
    manifest = load_manifest(run_dir)
    if manifest is None:
        return Verification(run_dir, False, 0, (), (), (), ())
    present = {
        relative: path
        for relative, path in _run_files(run_dir).items()
        if relative.startswith(prefix)
    }
    changed, missing, unverified = [], [], []
    checked = 0
    renamed_from = None
    for entry in manifest.files:
        # a manifest written while a tag was added still lists the tags' file
        if not entry.path.startswith(prefix) or entry.path in _NOT_LISTED:
            continue
        checked += 1
        path = present.pop(entry.path, None)
        if path is None:
            missing.append(entry.path)
            continue
        reason, note = _compare(entry, path)
        if reason and entry.path == _RUN_FILE:
            reason, renamed_from = _judge_renamed(entry, path, reason)
        if reason:
            changed.append(FileFinding(entry.path, reason))
        if note:
            unverified.append(FileFinding(entry.path, note))
    return Verification(
        run_dir,
        True,
        checked,
        tuple(changed),
        tuple(missing),
        tuple(sorted(present)),
        tuple(unverified),
        renamed_from,
    )


def _judge_renamed(entry: ManifestEntry, path: str, reason: str) -> tuple[str | None, str | None]:
    """``(why run.json changed, its name when the run ended)``, undoing what ``maggot mv`` wrote.

    ``maggot mv`` rewrites the run's ``name``, lists the names before in
    ``renamed_from`` and, renaming a run's replays with it, replaces the last
    component (the run's folder name) of their ``reproduction_of``. Undone,
    every other byte must be the one the manifest hashed, or run.json changed
    otherwise.
    """
    candidates = _before_renaming(path)
    if candidates is None:
        return reason, None
    for name_then, content in candidates:
        if hashlib.sha256(content).hexdigest() == entry.sha256:
            return None, name_then
    return "differs from the end of the run by more than maggot mv's renaming", None


def _before_renaming(path: str) -> list[tuple[str, bytes]] | None:
    """What a renamed run.json may have been when the run ended: ``(its name, its bytes)`` each.

    The run may have ended after some of the renamings (one renamed while it
    ran): each earlier name is tried, with the names before it still listed.
    """
    try:
        current = store.read_json_object(path)
    except (OSError, CorruptRunError):
        return None
    names = current.pop(store.RENAMED_FROM_KEY, None)
    if not isinstance(names, list) or not names or not all(isinstance(name, str) for name in names):
        return None
    reproduction_of = current.get("reproduction_of")
    candidates = []
    for count, name in enumerate(names):
        then = {**current, "name": name}
        if count:
            then[store.RENAMED_FROM_KEY] = names[:count]
        candidates.append((name, then))
        replay_of = store.replay_name_parts(name)
        if isinstance(reproduction_of, str) and replay_of is not None:
            run_then = os.path.join(os.path.dirname(reproduction_of), replay_of[0])
            candidates.append((name, {**then, "reproduction_of": run_then}))
    return [(name, store.text_bytes(store.dumps_json(then))) for name, then in candidates]


def check_snapshot(run_dir: str, patch_bytes: Any) -> str | None:
    """Refuse a snapshot whose files differ from the manifest (or a truncated patch).

    Raises ReproduceError naming what differs. Returns a note when the run has
    no manifest to check against, None when the snapshot checked out.
    """
    patch_path = store.git_path(run_dir, store.PATCH_FILE)
    patch_name = f"{store.META_DIR}/{store.GIT_DIR}/{store.PATCH_FILE}"
    if isinstance(patch_bytes, int) and not isinstance(patch_bytes, bool):
        size = os.path.getsize(patch_path) if os.path.exists(patch_path) else 0
        if size != patch_bytes:
            raise ReproduceError(
                f"{run_dir}: {patch_name} is {size} bytes, the snapshot recorded {patch_bytes}: "
                "refusing to apply a truncated or altered patch"
            )
    verification = verify_run(run_dir, _SNAPSHOT_PREFIX)
    if not verification.recorded:
        return "no manifest (run recorded before maggot wrote one): snapshot files not verified"
    findings = [f"{item.path} ({item.reason})" for item in verification.changed]
    findings += [f"{path} (missing)" for path in verification.missing]
    findings += [f"{path} (not in the manifest)" for path in verification.added]
    if findings:
        what = "a tampered or truncated patch" if patch_name in "".join(findings) else "them"
        raise ReproduceError(
            f"{run_dir}: snapshot files differ from the run's manifest: {', '.join(findings)}; "
            f"refusing to use {what} (maggot verify shows the whole run)"
        )
    return None
