"""Everything about one run, gathered and laid out for ``maggot show`` and its siblings."""

from __future__ import annotations

import json
import os
from typing import Any, NamedTuple

from maggot import inputs, manifest, store
from maggot.config import flatten
from maggot.errors import CorruptRunError, MaggotError

DEFAULT_EXPERIMENTS_DIR = "experiments"


class LogFile(NamedTuple):
    """One log file of a run."""

    path: str
    size: int


class RunDetails(NamedTuple):
    """A run as ``maggot show`` presents it."""

    record: store.RunRecord
    command: str | None
    head: dict[str, Any] | None
    commit_hash: str | None
    directories: list[str]
    logs: list[LogFile]
    problems: list[str]
    inputs: inputs.InputsRecord | None = None  # None: not recorded
    manifest: manifest.Manifest | None = None  # None: not recorded


class Field(NamedTuple):
    """A labelled value on the screen."""

    label: str
    value: str


class Section(NamedTuple):
    """A titled group of fields; the first section has no title."""

    title: str
    fields: list[Field]


def resolve_run_dir(argument: str) -> str:
    """The run directory ``argument`` names: a path, or a run name under ./experiments."""
    return store.resolve_run_dir(argument, DEFAULT_EXPERIMENTS_DIR)


def read_config(run_dir: str) -> dict[str, Any]:
    """A run's stored config; raise CorruptRunError when it is missing or unreadable."""
    try:
        return store.read_json_object(store.meta_path(run_dir, store.CONFIG_FILE))
    except FileNotFoundError:
        raise CorruptRunError(f"{run_dir}: no {store.META_DIR}/{store.CONFIG_FILE}") from None


def read_command(run_dir: str) -> str:
    """A run's command line, shell-quoted; raise CorruptRunError when it was not recorded."""
    try:
        with open(
            store.meta_path(run_dir, store.COMMAND_FILE), encoding="utf-8", errors="replace"
        ) as file:
            command = file.read().strip()
    except FileNotFoundError:
        raise CorruptRunError(f"{run_dir}: no {store.META_DIR}/{store.COMMAND_FILE}") from None
    if not command:
        raise CorruptRunError(f"{run_dir}: {store.META_DIR}/{store.COMMAND_FILE} is empty")
    return command


def flat_lines(mapping: dict[str, Any]) -> list[str]:
    """``key=value`` lines: dotted keys, JSON-encoded values."""
    return [f"{key}={_json(value)}" for key, value in flatten(mapping).items()]


def load_details(run_dir: str) -> RunDetails:
    """Read everything about a run except log contents; missing parts become problems."""
    record = store.load_run(run_dir)
    problems = list(record.problems)
    command: str | None = None
    try:
        command = read_command(run_dir)
    except CorruptRunError as error:
        problems.append(str(error))
    head: dict[str, Any] | None = None
    try:
        head = store.read_json_object(store.git_path(run_dir, store.HEAD_FILE))
    except FileNotFoundError:
        problems.append(f"{run_dir}: no {store.META_DIR}/{store.GIT_DIR}/{store.HEAD_FILE}")
    except MaggotError as error:
        problems.append(str(error))
    commit_lines = store.read_lines(store.meta_path(run_dir, store.COMMIT_HASH_FILE))
    inputs_record = run_manifest = None
    try:
        inputs_record = inputs.load_inputs(run_dir)
        run_manifest = manifest.load_manifest(run_dir)
    except CorruptRunError as error:
        problems.append(str(error))
    return RunDetails(
        record=record,
        command=command,
        head=head,
        commit_hash=commit_lines[0].strip() if commit_lines else None,
        directories=store.registered_directories(run_dir),
        logs=_log_files(run_dir),
        problems=problems,
        inputs=inputs_record,
        manifest=run_manifest,
    )


def _log_files(run_dir: str) -> list[LogFile]:
    try:
        entries = list(os.scandir(store.meta_path(run_dir, store.LOGS_DIR)))
    except OSError:
        return []
    return sorted(LogFile(entry.path, entry.stat().st_size) for entry in entries if entry.is_file())


def details_as_json(details: RunDetails) -> dict[str, Any]:
    """Everything ``maggot show`` knows, as one JSON object."""
    record = details.record
    return {
        "name": record.name,
        "path": record.path,
        "status": record.status,
        "format_version": record.format_version,
        "run": record.info,
        "command": details.command,
        "git": details.head,
        "commit_hash": details.commit_hash,
        "config": record.config,
        "results": record.results,
        "directories": details.directories,
        "logs": [{"path": log.path, "bytes": log.size} for log in details.logs],
        "problems": details.problems,
        "inputs": None if details.inputs is None else [
            item._asdict() for item in details.inputs.files
        ],
        "artifacts": None if details.manifest is None else [
            item._asdict() for item in details.manifest.artifacts()
        ],
    }  # fmt: skip


def details_as_sections(details: RunDetails) -> list[Section]:
    """The run laid out for a terminal; empty sections are left out."""
    record = details.record
    info = record.info
    status = record.status
    exit_info = info.get("exit")
    if isinstance(exit_info, dict) and exit_info.get("type"):
        message = str(exit_info.get("message") or "").splitlines()
        status += f" ({exit_info['type']}{': ' + message[0] if message else ''})"
    overview = [
        Field("run", record.name),
        Field("path", record.path),
        Field("status", status),
        Field("started", _text(info.get("started_at"))),
        Field("ended", _text(info.get("ended_at"))),
        Field("duration", _duration(info.get("duration_seconds"))),
        Field("host", _text(info.get("hostname"))),
        Field("user", _text(info.get("user"))),
        Field("python", _python(_mapping(info.get("python")))),
        Field("platform", _text(info.get("platform"))),
        Field("cwd", _text(info.get("cwd_absolute", info.get("cwd")))),
        Field("maggot", _text(info.get("maggot_version"))),
        Field("reproduces", _text(info.get("reproduction_of"))),
        Field("command", details.command or ""),
    ]
    sections = [
        Section("", [field for field in overview if field.value]),
        Section("git", _git_fields(details)),
        Section("config", _flat_fields(record.config)),
        Section("results", _flat_fields(record.results)),
        Section(
            "directories",
            [Field(name, os.path.join(record.path, name)) for name in details.directories],
        ),
        Section("logs", [Field(_size(log.size), log.path) for log in details.logs]),
        Section("inputs", _input_fields(details.inputs)),
        Section("artifacts", _artifact_fields(details.manifest)),
        Section("problems", [Field("-", problem) for problem in details.problems]),
    ]
    return [section for section in sections if section.fields]


_LOCATION_WORDS = {
    inputs.IGNORED: "inside the repository, ignored by git",
    inputs.SKIPPED: "inside the repository, left out of the snapshot",
}


def _input_fields(record: inputs.InputsRecord | None) -> list[Field]:
    """Files the run opened outside its snapshot (``.maggot/inputs.json``)."""
    if record is None:
        return [Field("-", "not recorded")]
    fields = []
    for item in record.files:
        notes = [_size(item.size)]
        if item.location in _LOCATION_WORDS:
            notes.append(_LOCATION_WORDS[item.location])
        if item.sha256:
            sampled = ", sampled" if item.hashed == "sample" else ""
            notes.append(f"sha256 {item.sha256[:12]}{sampled}")
        if item.changed_during_run:
            notes.append("changed during the run")
        fields.append(Field(item.mode, f"{item.path} ({'; '.join(notes)})"))
    if record.omitted:
        fields.append(Field("-", f"{record.omitted} more files not listed"))
    return fields or [Field("-", "none outside the snapshot")]


def _artifact_fields(run_manifest: manifest.Manifest | None) -> list[Field]:
    """The run's own files, from the manifest written when it ended."""
    if run_manifest is None:
        return [Field("-", "not recorded (no manifest)")]
    fields = []
    for item in run_manifest.artifacts():
        if item.link is not None:
            note = f"symlink to {item.link}"
        elif item.sha256 is None:
            note = "not hashed: larger than the limit"
        else:
            note = f"sha256 {item.sha256[:12]}"
        fields.append(Field(_size(item.size), f"{item.path} ({note})"))
    return fields or [Field("-", "none")]


def _flat_fields(mapping: dict[str, Any]) -> list[Field]:
    return [Field(key, _json(value)) for key, value in flatten(mapping).items()]


def _git_fields(details: RunDetails) -> list[Field]:
    head = details.head
    if head is None:
        if details.commit_hash:
            return [
                Field("commit", details.commit_hash),
                Field("snapshot", "none (maggot 0.2 run: uncommitted changes were not recorded)"),
            ]
        return [Field("snapshot", "none recorded")]
    commit = _text(head.get("commit"))
    if not head.get("snapshot"):
        fields = [Field("snapshot", f"none ({head.get('reason') or 'no reason recorded'})")]
        return [Field("commit", commit), *fields] if commit else fields
    counts = _mapping(head.get("counts"))
    if head.get("is_dirty"):
        dirty = (
            f"yes: {counts.get('staged', 0)} staged, {counts.get('unstaged', 0)} unstaged, "
            f"{counts.get('untracked', 0)} untracked ({counts.get('untracked_copied', 0)} copied)"
        )
    else:
        dirty = "no"
    branch = head.get("branch")
    fields = [
        Field("commit", commit),
        Field("branch", "detached" if head.get("detached") or not branch else str(branch)),
        Field("dirty", dirty),
    ]
    if head.get("patch_bytes"):
        fields.append(Field("patch", _size(int(head["patch_bytes"]))))
    for skipped in head.get("skipped") or []:
        if isinstance(skipped, dict):
            fields.append(Field("skipped", f"{skipped.get('path')} ({skipped.get('reason')})"))
    remotes = _mapping(head.get("remotes"))
    fields.extend(Field("remote", f"{name} {url}") for name, url in sorted(remotes.items()))
    for submodule in head.get("submodules") or []:
        if isinstance(submodule, dict):
            state = " (dirty)" if submodule.get("dirty") else ""
            value = f"{submodule.get('path')} {submodule.get('commit')}{state}"
            fields.append(Field("submodule", value))
    return fields


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _python(python: dict[str, Any]) -> str:
    version, executable = python.get("version"), python.get("executable")
    if version and executable:
        return f"{version} ({executable})"
    return _text(version or executable)


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        return ""
    if seconds < 60:
        return f"{seconds:.3g} s" if seconds < 10 else f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    scaled = size / 1024
    for unit in ("KiB", "MiB"):
        if scaled < 1024:
            return f"{scaled:.1f} {unit}"
        scaled /= 1024
    return f"{scaled:.1f} GiB"
