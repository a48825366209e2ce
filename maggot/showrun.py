"""Everything about one run, gathered and laid out for ``maggot show`` and its siblings."""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any, NamedTuple

from maggot import entries, inputs, manifest, series, store
from maggot.annotate import Annotations, load_annotations
from maggot.config import flatten
from maggot.errors import CorruptRunError, MaggotError
from maggot.records import DistributedLaunch, GitHead

DEFAULT_EXPERIMENTS_DIR = "experiments"
MAX_ARTIFACTS = 50
# a run with a million checkpoint files must still show quickly
_MAX_COUNTED_FILES = 10_000
LOG_TAIL_LINES = 10
_LOG_TAIL_BYTES = 64 * 1024


class LogFile(NamedTuple):
    """One log file of a run."""

    path: str
    size: int


class Reproduction(NamedTuple):
    """A replay of a run (``RUN.repro-N``) and how its results compare with the original's."""

    path: str
    status: str
    verdict: str


class Artifact(NamedTuple):
    """A file the run wrote into its own directory (outside ``.maggot``)."""

    path: str  # relative to the run directory
    size: int


class RunDetails(NamedTuple):
    """A run as ``maggot show`` presents it."""

    record: store.RunRecord
    command: str | None
    head: GitHead | None
    commit_hash: str | None
    directories: list[str]
    logs: list[LogFile]
    problems: list[str]
    series: dict[str, series.Series]
    artifacts: list[Artifact] = []
    # files not listed in ``artifacts``; at least this many when ``more_counted_all`` is false
    more_artifacts: int = 0
    more_counted_all: bool = True
    log_tail: list[str] = []
    annotations: Annotations = Annotations()
    reproductions: tuple[Reproduction, ...] = ()
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
    return store.resolve_run_dir(argument, DEFAULT_EXPERIMENTS_DIR, by_folder_name=True)


def flat_lines(mapping: dict[str, Any]) -> list[str]:
    """``key=value`` lines to paste back as command-line arguments (Hydra-style overrides).

    Keys are dotted; a string is written as it is unless it would read as
    another JSON value (``"1.0"``, ``"true"``), anything else as compact
    JSON; each line is shell-quoted when it needs to be, so it pastes as one
    argument.
    """
    import shlex

    return [
        shlex.quote(f"{key}={override_value(value)}") for key, value in flatten(mapping).items()
    ]


def override_value(value: Any) -> str:
    """The value part of a ``key=value`` override: text as it is, anything else as JSON."""
    if isinstance(value, str) and value and value == value.strip():
        try:
            json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def load_details(run_dir: str) -> RunDetails:
    """Read everything about a run, its files and the end of its last log.

    Missing parts become problems.
    """
    record = store.load_run(run_dir)
    problems = list(record.problems)
    command: str | None = None
    try:
        command = store.read_command(run_dir)
    except CorruptRunError as error:
        problems.append(str(error))
    head: GitHead | None = None
    try:
        head = store.read_git_head(run_dir)
    except FileNotFoundError:
        problems.append(store.missing_message(run_dir, store.GIT_DIR, store.HEAD_FILE))
    except CorruptRunError as error:
        problems.append(str(error))
    run_series, series_problems = series.read_series(run_dir)
    problems.extend(series_problems)
    logs = _log_files(run_dir)
    artifacts, more, counted_all = list_artifacts(run_dir)
    annotations = Annotations()
    try:
        annotations = load_annotations(run_dir)
    except MaggotError as error:
        problems.append(str(error))
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
        commit_hash=store.read_commit_hash(run_dir),
        directories=store.registered_directories(run_dir),
        logs=logs,
        problems=problems,
        series=run_series,
        artifacts=artifacts,
        more_artifacts=more,
        more_counted_all=counted_all,
        log_tail=_tail(shown_log(logs).path) if logs else [],
        annotations=annotations,
        reproductions=tuple(find_reproductions(record)),
        inputs=inputs_record,
        manifest=run_manifest,
    )


def find_reproductions(record: store.RunRecord) -> list[Reproduction]:
    """The run's replays (``RUN.repro-N`` next to it), by number, with their verdicts.

    The verdict compares results exactly, as ``maggot reproduce`` does
    without tolerances.
    """
    from maggot.results import DIFFER, MISSING, compare_results

    prefix = record.name + store.REPLAY_SUFFIX
    parent = os.path.dirname(os.path.normpath(record.path)) or os.curdir
    try:
        names = [name for name in os.listdir(parent) if name.startswith(prefix)]
    except OSError:
        return []
    numbered = sorted(
        (parts[1], name)
        for name in names
        if (parts := store.replay_name_parts(name)) is not None and parts[0] == record.name
    )
    found = []
    for _, name in numbered:
        path = os.path.join(parent, name)
        if not store.is_run_dir(path):
            continue
        replay = store.load_run(path, with_config=False)
        comparisons = compare_results(record.results, replay.results)
        differing = [item.name for item in comparisons if item.status in (DIFFER, MISSING)]
        if replay.status == store.STATUS_RUNNING:
            verdict = "still running"
        elif not record.results:
            verdict = "nothing to compare (the original recorded no results)"
        elif differing:
            verdict = "differs: " + ", ".join(differing)
        else:
            verdict = "results match"
        found.append(Reproduction(path, replay.status, verdict))
    return found


def list_artifacts(run_dir: str, limit: int = MAX_ARTIFACTS) -> tuple[list[Artifact], int, bool]:
    """The run's own files outside ``.maggot`` (sorted, the first ``limit``), how many
    more, and whether all were counted (counting stops after 10,000 files)."""
    listed: list[Artifact] = []
    seen = 0
    for directory, dirnames, filenames in os.walk(run_dir):
        if os.path.samefile(directory, run_dir):
            dirnames[:] = [name for name in dirnames if name != store.META_DIR]
        dirnames.sort()
        for name in sorted(filenames):
            seen += 1
            if seen > _MAX_COUNTED_FILES:
                return sorted(listed), seen - 1 - len(listed), False
            if len(listed) < limit:
                path = os.path.join(directory, name)
                try:
                    size = os.lstat(path).st_size
                except OSError:
                    continue
                listed.append(Artifact(os.path.relpath(path, run_dir), size))
    return sorted(listed), seen - len(listed), True


def _tail(path: str) -> list[str]:
    """The last LOG_TAIL_LINES lines of a log file."""
    try:
        with open(path, "rb") as file:
            file.seek(0, os.SEEK_END)
            file.seek(max(0, file.tell() - _LOG_TAIL_BYTES))
            data = file.read()
    except OSError:
        return []
    return data.decode("utf-8", errors="replace").splitlines()[-LOG_TAIL_LINES:]


def _log_files(run_dir: str) -> list[LogFile]:
    """The run's logs, oldest first; the ranks of a launch log in a directory of their own."""
    try:
        listed = list(os.scandir(store.meta_path(run_dir, store.LOGS_DIR)))
    except OSError:
        return []
    found = []
    for entry in listed:
        if entry.is_file():
            found.append(LogFile(entry.path, entry.stat().st_size))
        elif entry.name.endswith(store.RANK_LOGS_SUFFIX) and entry.is_dir(follow_symlinks=False):
            try:
                ranks = list(os.scandir(entry.path))
            except OSError:
                continue
            found.extend(
                LogFile(item.path, item.stat().st_size)
                for item in ranks
                if item.name.startswith(store.RANK_LOG_PREFIX) and item.is_file()
            )
    return sorted(found, key=lambda log: _log_order(log.path))


def _log_order(path: str) -> tuple[str, int]:
    """Logs by time, and the ranks of one launch by number (rank-2 before rank-10)."""
    directory, name = os.path.split(path)
    number = name[len(store.RANK_LOG_PREFIX) :]
    if directory.endswith(store.RANK_LOGS_SUFFIX) and number.isdigit():
        return directory, int(number)
    return path, -1


def shown_log(logs: list[LogFile]) -> LogFile:
    """The log ``maggot show`` ends with: the latest, or rank 0's of the latest launch."""
    latest = logs[-1]
    directory = os.path.dirname(latest.path)
    if directory.endswith(store.RANK_LOGS_SUFFIX):
        for log in logs:
            if log.path == os.path.join(directory, f"{store.RANK_LOG_PREFIX}0"):
                return log
    return latest


def log_title(logs: list[LogFile]) -> str:
    """``end of <log>``, naming the rank shown and where the others are."""
    shown = shown_log(logs)
    directory = os.path.dirname(shown.path)
    if not directory.endswith(store.RANK_LOGS_SUFFIX):
        return f"end of {os.path.basename(shown.path)}"
    others = [
        os.path.basename(log.path)
        for log in logs
        if os.path.dirname(log.path) == directory and log.path != shown.path
    ]
    return f"end of {os.path.basename(directory)}/{os.path.basename(shown.path)}" + (
        f" (other ranks: {', '.join(others)}, listed under logs)" if others else ""
    )


def details_as_json(details: RunDetails) -> dict[str, Any]:
    """Everything ``maggot show`` knows, as one JSON object."""
    record = details.record
    return {
        "name": record.name,
        "path": record.path,
        "status": record.status,
        "process_gone": entries.live_status(record.info.to_json()) == entries.STATUS_KILLED,
        "entries": [entry._asdict() for entry in entries.read_entries(record.info.to_json())],
        "format_version": record.format_version,
        "run": record.info.to_json() if record.format_version else {},
        "command": details.command,
        "git": details.head.to_json() if details.head else None,
        "commit_hash": details.commit_hash,
        "config": record.config,
        "results": record.results,
        "series": {
            name: {stat: _finite_or_text(one.stats().get(stat)) for stat in series.STATS}
            for name, one in details.series.items()
        },
        "directories": details.directories,
        "logs": [{"path": log.path, "bytes": log.size} for log in details.logs],
        "log_tail": details.log_tail,
        "artifacts": [{"path": item.path, "bytes": item.size} for item in details.artifacts],
        "more_artifacts": details.more_artifacts,
        "problems": details.problems,
        "tags": list(details.annotations.tags),
        "notes": [note._asdict() for note in details.annotations.notes],
        "reproductions": [item._asdict() for item in details.reproductions],
        "inputs": None if details.inputs is None else [
            item._asdict() for item in details.inputs.files
        ],
        "manifest": None if details.manifest is None else [
            item._asdict() for item in details.manifest.artifacts()
        ],
    }  # fmt: skip


def details_as_sections(details: RunDetails) -> list[Section]:
    """The run laid out for a terminal; empty sections are left out."""
    record = details.record
    info = record.info
    status = record.status
    if entries.live_status(info.to_json()) == entries.STATUS_KILLED:
        status = f"{entries.STATUS_KILLED} (recorded as running; its process is gone)"
    if info.exit is not None:
        message = info.exit.message.splitlines()
        status += f" ({info.exit.type}{': ' + message[0] if message else ''})"
    overview = [
        Field("run", record.name),
        Field("path", record.path),
        Field("status", status),
        Field("started", _text(info.started_at)),
        Field("ended", _text(info.ended_at)),
        Field("duration", _duration(info.duration_seconds)),
        Field("host", _text(info.hostname)),
        Field("user", _text(info.user)),
        Field("python", _python(info.python.version, info.python.executable)),
        Field("platform", _text(info.platform)),
        Field("cwd", _text(info.cwd_absolute or info.cwd)),
        Field("maggot", _text(info.maggot_version)),
        Field("reproduces", _text(info.reproduction_of)),
        Field("command", details.command or ""),
        Field("launch", _launch_text(info.distributed)),
        Field("tags", printable(" ".join(details.annotations.tags))),
    ]
    sections = [
        Section("", [field for field in overview if field.value]),
        Section("entries", _entry_fields(info.to_json())),
        Section("git", _git_fields(details)),
        Section("config", _flat_fields(record.config)),
        Section("results", _flat_fields(record.results, compact=True)),
        Section("series", _series_fields(details.series)),
        Section(
            "directories",
            [Field(name, os.path.join(record.path, name)) for name in details.directories],
        ),
        Section("files", _artifact_fields(details)),
        Section("logs", [Field(size_text(log.size), log.path) for log in details.logs]),
        Section("inputs", _input_fields(details.inputs)),
        Section("artifacts in the manifest", _manifest_fields(details.manifest)),
        Section(
            "notes", [Field(note.at, printable(note.text)) for note in details.annotations.notes]
        ),
        Section(
            "reproductions",
            [Field(item.path, f"{item.status}, {item.verdict}") for item in details.reproductions],
        ),
        Section(
            log_title(details.logs) if details.logs else "",
            [Field("", printable(line)) for line in details.log_tail],
        ),
        Section("problems", [Field("-", problem) for problem in details.problems]),
    ]
    return [section for section in sections if section.fields]


def _series_fields(run_series: dict[str, series.Series]) -> list[Field]:
    fields = []
    for name, one in run_series.items():
        stats = one.stats()
        summary = (
            f"{series.sparkline(one.values).ljust(24)}  last {_number(stats.last)}  "
            f"min {_number(stats.min)}  max {_number(stats.max)}  "
            f"({stats.points} point{'s' if stats.points != 1 else ''}, last step {stats.step})"
        )
        fields.append(Field(name, summary))
    return fields


def _number(value: float) -> str:
    return f"{value:.6g}"


def _finite_or_text(value: float) -> float | str:
    # JSON has no NaN or infinity: those are given as the strings Python prints
    return value if math.isfinite(value) else repr(value)


def _launch_text(launch: DistributedLaunch | None) -> str:
    """``mpirun, 2 processes`` for a multi-process run, and what is missing of its launch."""
    if launch is None:
        return ""
    text = f"{_text(launch.launcher)}, {launch.world_size} processes"
    if launch.missing:
        text += f" (not recorded: {_text(launch.missing)})"
    return text


def _entry_fields(info: dict[str, Any]) -> list[Field]:
    """One line per entry into the run, shown when there is more than the first start."""
    listed = entries.read_entries(info)
    if len(listed) < 2:
        return []
    fields = []
    for number, entry in enumerate(listed, 1):
        status = entry.status
        if entry.exit and entry.exit.get("type"):
            status += f" ({entry.exit['type']})"
        parts = [
            f"{_text(entry.started_at) or '?'} -> {_text(entry.ended_at) or '?'}",
            status,
            _duration(entry.duration_seconds),
        ]
        if entry.code:
            parts.append(f"code changed: {str(entry.code.get('commit'))[:12]}")
        if entry.command_argv and number > 1 and entry.command_argv != listed[0].command_argv:
            parts.append("command: " + " ".join(entry.command_argv))
        if entry.rank is not None:
            parts.insert(0, f"rank {entry.rank}")
        fields.append(Field(f"{number} {entry.kind}", ", ".join(part for part in parts if part)))
    return fields


def _artifact_fields(details: RunDetails) -> list[Field]:
    fields = [Field(size_text(item.size), printable(item.path)) for item in details.artifacts]
    if details.more_artifacts:
        more = f"{details.more_artifacts}" + ("" if details.more_counted_all else "+")
        fields.append(Field("", f"... and {more} more files"))
    return fields


def printable(text: str) -> str:
    """Run-file text safe for a terminal: control characters shown as escapes."""
    return text if text.isprintable() else json.dumps(text, ensure_ascii=False)[1:-1]


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
        notes = [size_text(item.size)]
        if item.location in _LOCATION_WORDS:
            notes.append(_LOCATION_WORDS[item.location])
        if item.sha256:
            sampled = ", sampled" if item.hashed == "sample" else ""
            notes.append(f"sha256 {item.sha256[:12]}{sampled}")
        if item.changed_during_run:
            notes.append("changed during the run")
        fields.append(Field(item.mode, f"{printable(item.path)} ({'; '.join(notes)})"))
    if record.omitted:
        fields.append(Field("-", f"{record.omitted} more files not listed"))
    return fields or [Field("-", "none outside the snapshot")]


def _manifest_fields(run_manifest: manifest.Manifest | None) -> list[Field]:
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
        fields.append(Field(size_text(item.size), f"{printable(item.path)} ({note})"))
    return fields or [Field("-", "none")]


def _flat_fields(mapping: dict[str, Any], compact: bool = False) -> list[Field]:
    """Dotted keys and JSON values; ``compact`` shortens long lists (``--format json`` has all)."""
    if compact:
        from maggot.summarize import table_value

        return [
            Field(key, table_value(value) if isinstance(value, list) else _json(value))
            for key, value in flatten(mapping).items()
        ]
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
    commit = _text(head.commit)
    if not head.snapshot:
        fields = [Field("snapshot", f"none ({head.reason or 'no reason recorded'})")]
        return [Field("commit", commit), *fields] if commit else fields
    counts = head.counts
    if head.is_dirty:
        dirty = (
            f"yes: {counts.staged} staged, {counts.unstaged} unstaged, "
            f"{counts.untracked} untracked ({counts.untracked_copied} copied)"
        )
    else:
        dirty = "no"
    fields = [
        Field("commit", commit),
        Field("branch", "detached" if head.detached or not head.branch else head.branch),
        Field("dirty", dirty),
    ]
    if head.patch_bytes:
        fields.append(Field("patch", size_text(head.patch_bytes)))
    fields.extend(Field("skipped", f"{item.path} ({item.reason})") for item in head.skipped)
    fields.extend(Field("remote", f"{name} {url}") for name, url in sorted(head.remotes.items()))
    for submodule in head.submodules:
        state = " (dirty)" if submodule.dirty else ""
        if submodule.snapshot:
            state = " (dirty, its changes snapshotted)"
        fields.append(Field("submodule", f"{submodule.path} {submodule.commit}{state}"))
    fields.extend(
        Field("mode", f"{path} {mode} (not seen by git: core.fileMode=false)")
        for path, mode in sorted(head.file_modes.items())
    )
    return fields


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _python(version: str | None, executable: str | None) -> str:
    if version and executable:
        return f"{version} ({executable})"
    return _text(version or executable)


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        return ""
    if not math.isfinite(seconds) or seconds < 0 or seconds > 1e12:
        return str(seconds)  # hand-edited: shown as it is
    if seconds < 60:
        return f"{seconds:.3g} s" if seconds < 10 else f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def size_text(size: int) -> str:
    """A size for people: bytes, KiB, MiB or GiB."""
    if size < 1024:
        return f"{size} B"
    scaled = size / 1024
    for unit in ("KiB", "MiB"):
        if scaled < 1024:
            return f"{scaled:.1f} {unit}"
        scaled /= 1024
    return f"{scaled:.1f} GiB"


_CONTROL_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor movement, erasing
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC: window titles, clipboard, links
    r"|\x1b[@-Z\\-_]"  # other two-character escapes
)
_COLOUR = re.compile(r"(\x1b\[[0-9;:]*m)")
_OTHER_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def render_log(text: str, colors: bool) -> str:
    """A log's text made safe for the terminal or a file.

    Colour codes (SGR sequences) are kept with ``colors`` and dropped without;
    every other escape sequence is dropped, since a log from someone else's
    run could move the cursor, retitle the window or write the clipboard. Other
    control characters are shown as ``\\xNN``.
    """

    def keep_colours(match: re.Match[str]) -> str:
        sequence = match.group()
        return sequence if colors and _COLOUR.fullmatch(sequence) else ""

    pieces = _COLOUR.split(_CONTROL_SEQUENCE.sub(keep_colours, text))
    # odd pieces are the kept colour codes; control characters elsewhere are shown
    return "".join(
        piece if index % 2 else _OTHER_CONTROL.sub(_shown_control, piece)
        for index, piece in enumerate(pieces)
    )


def _shown_control(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def read_logs(details: RunDetails) -> list[tuple[str, str]]:
    """Each log file of the run with its text (undecodable bytes replaced)."""
    texts = []
    for log in details.logs:
        with open(log.path, encoding="utf-8", errors="replace") as file:
            texts.append((log.path, file.read()))
    return texts
