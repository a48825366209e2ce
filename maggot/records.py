"""Typed records of the run files ``run.json`` and ``git/head.json``.

The store owns these formats: ``maggot.store`` reads and writes them, every
other module works with these records. Parsing is tolerant: a field of the
wrong type reads as its default (runs written by 0.2/0.3 or edited by hand
still load), and fields this version does not know are kept in ``extra`` and
written back unchanged.

A new field goes in three places: the record (with a default, so older runs
read), its ``from_json`` and its ``to_json``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

from maggot.secrets import RedactedArgument

STATUS_RUNNING = "running"
STATUS_COMPLETED = "completed"
STATUS_FAILED = "failed"
STATUS_INTERRUPTED = "interrupted"
STATUS_UNKNOWN = "unknown"


def _str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _int(data: Mapping[str, Any], key: str, default: int = 0) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    if isinstance(value, float) and not math.isfinite(value):
        return default  # a hand-edited 1e999 or NaN has no integer value
    return int(value)


def _optional_int(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(data: Mapping[str, Any], key: str) -> float | None:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def _bool(data: Mapping[str, Any], key: str, default: bool = False) -> bool:
    value = data.get(key)
    return value if isinstance(value, bool) else default


def _strings(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key)
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value if isinstance(item, str))


def _objects(data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = data.get(key)
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


def _mapping(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _string_mapping(data: Mapping[str, Any], key: str) -> dict[str, str]:
    return {name: value for name, value in _mapping(data, key).items() if isinstance(value, str)}


def _extra(data: Mapping[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """The fields of ``data`` a record does not know (its field names, "extra" aside)."""
    return {key: value for key, value in data.items() if key not in fields or key == "extra"}


class ExitInfo(NamedTuple):
    """Why a run ended other than cleanly: the exception type and its message."""

    type: str
    message: str = ""

    @classmethod
    def from_json(cls, data: Any) -> ExitInfo | None:
        """The record in ``data`` (a JSON object), or None when there is none."""
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            return None
        return cls(data["type"], str(data.get("message") or ""))

    def to_json(self) -> dict[str, Any]:
        """The record as stored in run.json."""
        return {"type": self.type, "message": self.message}


class PythonInfo(NamedTuple):
    """The interpreter that ran the script."""

    executable: str | None = None
    version: str | None = None
    implementation: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> PythonInfo:
        """The record in ``data``; missing parts are None."""
        if not isinstance(data, dict):
            return cls()
        return cls(_str(data, "executable"), _str(data, "version"), _str(data, "implementation"))

    def to_json(self) -> dict[str, Any]:
        """The record as stored in run.json."""
        return {
            "executable": self.executable,
            "version": self.version,
            "implementation": self.implementation,
        }


class Continuation(NamedTuple):
    """A later entry into a run with ``if_exists_mode="continue"``."""

    at: str | None
    command_argv: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        """The record as stored in run.json."""
        return {"at": self.at, "command_argv": list(self.command_argv)}


class LaunchOptions(NamedTuple):
    """The ``maggot run`` options a launched run was started with (what rerun repeats)."""

    config_file: str | None = None
    extra_params: tuple[tuple[str, Any], ...] = ()
    name_template: str | None = None
    results_file: str | None = None
    metric_pattern: str | None = None
    # --no-track-inputs
    track_inputs: bool = True

    @classmethod
    def from_json(cls, data: Any) -> LaunchOptions | None:
        """The record in ``data`` (a JSON object), or None when there is none."""
        if not isinstance(data, dict):
            return None
        pairs = data.get("extra_params")
        return cls(
            config_file=_str(data, "config_file"),
            extra_params=tuple(
                (item[0], item[1])
                for item in (pairs if isinstance(pairs, list) else [])
                if isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)
            ),
            name_template=_str(data, "name_template"),
            results_file=_str(data, "results_file"),
            metric_pattern=_str(data, "metric_pattern"),
            track_inputs=data.get("track_inputs") is not False,
        )

    def to_json(self) -> dict[str, Any]:
        """The record as stored in run.json."""
        return {
            "track_inputs": self.track_inputs,
            "config_file": self.config_file,
            "extra_params": [[key, value] for key, value in self.extra_params],
            "name_template": self.name_template,
            "results_file": self.results_file,
            "metric_pattern": self.metric_pattern,
        }


class SweepJob(NamedTuple):
    """The sweep (its id) and job (its index) a run was started for."""

    id: str
    job: int

    @classmethod
    def from_json(cls, data: Any) -> SweepJob | None:
        """The record in ``data`` (a JSON object), or None when there is none."""
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            return None
        job = data.get("job")
        if isinstance(job, bool) or not isinstance(job, int):
            return None
        return cls(data["id"], job)

    def to_json(self) -> dict[str, Any]:
        """The record as stored in run.json."""
        return {"id": self.id, "job": self.job}


class JoinedProcess(NamedTuple):
    """The process of a launched command whose own Experiment joined the launcher's run."""

    at: str | None = None
    hostname: str | None = None
    user: str | None = None
    pid: int | None = None
    python: PythonInfo = PythonInfo()
    platform: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> JoinedProcess | None:
        """The record in ``data`` (a JSON object), or None when there is none."""
        if not isinstance(data, dict):
            return None
        return cls(
            at=_str(data, "at"),
            hostname=_str(data, "hostname"),
            user=_str(data, "user"),
            pid=_optional_int(data, "pid"),
            python=PythonInfo.from_json(data.get("python")),
            platform=_str(data, "platform"),
        )

    def to_json(self) -> dict[str, Any]:
        """The record as stored in run.json."""
        return {**self._asdict(), "python": self.python.to_json()}


def redacted_argument_from_json(item: Mapping[str, Any]) -> RedactedArgument | None:
    """A redacted argument as run.json and sweep.json store it; None when malformed."""
    position, prefix, label = item.get("position"), item.get("prefix"), item.get("label")
    environment = item.get("environment")
    if (
        type(position) is not int
        or not isinstance(prefix, str)
        or not isinstance(label, str)
        or not isinstance(environment, (str, type(None)))
    ):
        return None
    return RedactedArgument(position, prefix, label, environment)


class DistributedLaunch(NamedTuple):
    """A run whose program ran as several processes (ranks) of one launch (torchrun, srun ...)."""

    launcher: str = ""
    world_size: int = 0
    launch_id: str = ""
    # the launcher's command line (the launch a replay repeats); empty when not recovered
    command_argv: tuple[str, ...] = ()
    # where the command line was found, or what is missing when it was not
    source: str | None = None
    missing: str | None = None
    # where the per-rank program starts in command_argv (None: a Python launcher's own command)
    program_index: int | None = None
    # rank 0's own command line
    rank_command_argv: tuple[str, ...] = ()
    # the launcher's environment variables as rank 0 got them
    variables: Mapping[str, str] = {}

    @classmethod
    def from_json(cls, data: Any) -> DistributedLaunch | None:
        """The record in ``data`` (a JSON object), or None when there is none."""
        if not isinstance(data, dict):
            return None
        variables = data.get("variables")
        return cls(
            launcher=_str(data, "launcher") or "",
            world_size=_int(data, "world_size"),
            launch_id=_str(data, "launch_id") or "",
            command_argv=_strings(data, "command_argv"),
            source=_str(data, "source"),
            missing=_str(data, "missing"),
            program_index=_optional_int(data, "program_index"),
            rank_command_argv=_strings(data, "rank_command_argv"),
            variables=(
                {str(key): str(value) for key, value in variables.items()}
                if isinstance(variables, dict)
                else {}
            ),
        )

    def to_json(self) -> dict[str, Any]:
        """The record as stored in run.json."""
        return {
            **self._asdict(),
            "command_argv": list(self.command_argv),
            "rank_command_argv": list(self.rank_command_argv),
            "variables": dict(self.variables),
        }


class RunInfo(NamedTuple):
    """``.maggot/run.json``: how, where and when a run ran, and how it ended."""

    format_version: int = 0
    maggot_version: str | None = None
    name: str | None = None
    status: str = STATUS_UNKNOWN
    started_at: str | None = None
    ended_at: str | None = None
    duration_seconds: float | None = None
    exit: ExitInfo | None = None
    argv: tuple[str, ...] = ()
    command_argv: tuple[str, ...] = ()
    cwd: str | None = None
    cwd_absolute: str | None = None
    capture_output: str | None = None
    hostname: str | None = None
    user: str | None = None
    pid: int | None = None
    python: PythonInfo = PythonInfo()
    platform: str | None = None
    reproduction_of: str | None = None
    continued: tuple[Continuation, ...] = ()
    imports_outside_snapshot: tuple[str, ...] = ()
    # runs started by a launcher (`maggot run`, a sweep job, `maggot rerun`)
    launched_command: tuple[str, ...] = ()
    launch_options: LaunchOptions | None = None
    exit_code: int | None = None
    sweep: SweepJob | None = None
    rerun_of: str | None = None
    joined: JoinedProcess | None = None
    # arguments whose secret values the recorded command holds as <redacted>
    redacted_arguments: tuple[RedactedArgument, ...] = ()
    # a program that ran as several ranks of one launch
    distributed: DistributedLaunch | None = None
    extra: Mapping[str, Any] = {}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunInfo:
        """The record of a parsed run.json; unknown fields go to ``extra``."""
        get = data.get
        status = get("status")
        pid = get("pid")
        return cls(
            format_version=_int(data, "format_version"),
            maggot_version=_str(data, "maggot_version"),
            name=_str(data, "name"),
            status=status if isinstance(status, str) else STATUS_UNKNOWN,
            started_at=_str(data, "started_at"),
            ended_at=_str(data, "ended_at"),
            duration_seconds=_number(data, "duration_seconds"),
            exit=ExitInfo.from_json(get("exit")),
            argv=_strings(data, "argv"),
            command_argv=_strings(data, "command_argv"),
            cwd=_str(data, "cwd"),
            cwd_absolute=_str(data, "cwd_absolute"),
            capture_output=_str(data, "capture_output"),
            hostname=_str(data, "hostname"),
            user=_str(data, "user"),
            pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
            python=PythonInfo.from_json(get("python")),
            platform=_str(data, "platform"),
            reproduction_of=_str(data, "reproduction_of"),
            continued=tuple(
                Continuation(_str(item, "at"), _strings(item, "command_argv"))
                for item in _objects(data, "continued")
            ),
            imports_outside_snapshot=_strings(data, "imports_outside_snapshot"),
            launched_command=_strings(data, "launched_command"),
            launch_options=LaunchOptions.from_json(get("launch_options")),
            exit_code=_optional_int(data, "exit_code"),
            sweep=SweepJob.from_json(get("sweep")),
            rerun_of=_str(data, "rerun_of"),
            joined=JoinedProcess.from_json(get("joined")),
            redacted_arguments=tuple(
                argument
                for argument in map(
                    redacted_argument_from_json, _objects(data, "redacted_arguments")
                )
                if argument is not None
            ),
            distributed=DistributedLaunch.from_json(get("distributed")),
            extra=_extra(data, cls._fields),
        )

    def to_json(self) -> dict[str, Any]:
        """The record as stored in run.json (optional fields only when set)."""
        data: dict[str, Any] = dict(self.extra)
        data.update(
            format_version=self.format_version,
            maggot_version=self.maggot_version,
            name=self.name,
            status=self.status,
            started_at=self.started_at,
            ended_at=self.ended_at,
            duration_seconds=self.duration_seconds,
            exit=self.exit.to_json() if self.exit else None,
            argv=list(self.argv),
            command_argv=list(self.command_argv),
            cwd=self.cwd,
            cwd_absolute=self.cwd_absolute,
            capture_output=self.capture_output,
            hostname=self.hostname,
            user=self.user,
            pid=self.pid,
            python=self.python.to_json(),
            platform=self.platform,
        )
        if self.reproduction_of is not None:
            data["reproduction_of"] = self.reproduction_of
        if self.continued:
            data["continued"] = [item.to_json() for item in self.continued]
        if self.imports_outside_snapshot:
            data["imports_outside_snapshot"] = list(self.imports_outside_snapshot)
        if self.launched_command:
            data["launched_command"] = list(self.launched_command)
        if self.launch_options is not None:
            data["launch_options"] = self.launch_options.to_json()
        if self.exit_code is not None:
            data["exit_code"] = self.exit_code
        if self.sweep is not None:
            data["sweep"] = self.sweep.to_json()
        if self.rerun_of is not None:
            data["rerun_of"] = self.rerun_of
        if self.joined is not None:
            data["joined"] = self.joined.to_json()
        if self.redacted_arguments:
            data["redacted_arguments"] = [item._asdict() for item in self.redacted_arguments]
        if self.distributed is not None:
            data["distributed"] = self.distributed.to_json()
        return data


class SnapshotCounts(NamedTuple):
    """How many files the snapshot found changed, and how many it copied."""

    staged: int = 0
    unstaged: int = 0
    untracked: int = 0
    untracked_copied: int = 0

    @classmethod
    def from_json(cls, data: Any) -> SnapshotCounts:
        """The record in ``data``; missing counts are 0."""
        if not isinstance(data, dict):
            return cls()
        return cls(*(_int(data, key) for key in cls._fields))

    def to_json(self) -> dict[str, Any]:
        """The record as stored in head.json."""
        return self._asdict()


class SkippedFile(NamedTuple):
    """An untracked file the snapshot did not copy, and why."""

    path: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        """The record as stored in head.json."""
        return {"path": self.path, "reason": self.reason}


class Submodule(NamedTuple):
    """A submodule's recorded commit and state."""

    path: str
    commit: str
    initialized: bool = True
    commit_changed: bool = False
    dirty: bool = False
    # its uncommitted changes and untracked files are in the snapshot's submodules/<path>/
    snapshot: bool = False

    def to_json(self) -> dict[str, Any]:
        """The record as stored in head.json."""
        return self._asdict()


class GitHead(NamedTuple):
    """``.maggot/git/head.json``: the code state a run recorded, or why it has none."""

    snapshot: bool = False
    reason: str | None = None
    commit: str | None = None
    branch: str | None = None
    detached: bool = False
    remotes: Mapping[str, str] = {}
    repo_root: str | None = None
    cwd: str | None = None
    script: str | None = None
    is_dirty: bool = False
    counts: SnapshotCounts = SnapshotCounts()
    patch_bytes: int = 0
    hidden_from_status: tuple[str, ...] = ()
    untracked: tuple[str, ...] = ()
    skipped: tuple[SkippedFile, ...] = ()
    submodules: tuple[Submodule, ...] = ()
    # core.autocrlf and core.eol as the run's checkout had them (None: not recorded)
    checkout_settings: Mapping[str, str] | None = None
    # tracked files whose exec bit on disk differs from HEAD, under core.fileMode=false
    # (git itself does not see it): path -> "100755" or "100644"
    file_modes: Mapping[str, str] = {}
    extra: Mapping[str, Any] = {}

    @classmethod
    def none(cls, reason: str, commit: str | None = None) -> GitHead:
        """The record of a run without a snapshot."""
        return cls(snapshot=False, reason=reason, commit=commit)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GitHead:
        """The record of a parsed head.json; unknown fields go to ``extra``."""
        remotes = _mapping(data, "remotes")
        return cls(
            snapshot=_bool(data, "snapshot"),
            reason=_str(data, "reason"),
            commit=_str(data, "commit"),
            branch=_str(data, "branch"),
            detached=_bool(data, "detached"),
            remotes={name: url for name, url in remotes.items() if isinstance(url, str)},
            repo_root=_str(data, "repo_root"),
            cwd=_str(data, "cwd"),
            script=_str(data, "script"),
            is_dirty=_bool(data, "is_dirty"),
            counts=SnapshotCounts.from_json(data.get("counts")),
            patch_bytes=_int(data, "patch_bytes"),
            hidden_from_status=_strings(data, "hidden_from_status"),
            untracked=_strings(data, "untracked"),
            skipped=tuple(
                SkippedFile(str(item.get("path")), str(item.get("reason")))
                for item in _objects(data, "skipped")
            ),
            submodules=tuple(
                Submodule(
                    path=str(item.get("path")),
                    commit=str(item.get("commit") or ""),
                    initialized=_bool(item, "initialized", True),
                    commit_changed=_bool(item, "commit_changed"),
                    dirty=_bool(item, "dirty"),
                    snapshot=_bool(item, "snapshot"),
                )
                for item in _objects(data, "submodules")
            ),
            checkout_settings=_string_mapping(data, "checkout_settings")
            if isinstance(data.get("checkout_settings"), dict)
            else None,
            file_modes=_string_mapping(data, "file_modes"),
            extra=_extra(data, cls._fields),
        )

    def to_json(self) -> dict[str, Any]:
        """The record as stored in head.json; a run without a snapshot says only why."""
        data: dict[str, Any] = dict(self.extra)
        if not self.snapshot:
            data.update(snapshot=False, reason=self.reason, commit=self.commit)
            return data
        data.update(
            snapshot=True,
            commit=self.commit,
            branch=self.branch,
            detached=self.detached,
            remotes=dict(self.remotes),
            repo_root=self.repo_root,
            cwd=self.cwd,
            script=self.script,
            is_dirty=self.is_dirty,
            counts=self.counts.to_json(),
            patch_bytes=self.patch_bytes,
            hidden_from_status=list(self.hidden_from_status),
            untracked=list(self.untracked),
            skipped=[item.to_json() for item in self.skipped],
            submodules=[item.to_json() for item in self.submodules],
        )
        if self.checkout_settings is not None:
            data["checkout_settings"] = dict(self.checkout_settings)
        if self.file_modes:
            data["file_modes"] = dict(self.file_modes)
        if self.reason is not None:
            data["reason"] = self.reason
        return data
