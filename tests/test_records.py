from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from maggot.records import (
    Continuation,
    ExitInfo,
    GitHead,
    JoinedProcess,
    LaunchOptions,
    PythonInfo,
    RunInfo,
    SkippedFile,
    SnapshotCounts,
    Submodule,
    SweepJob,
)

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=5,
)


def full_run_info() -> RunInfo:
    return RunInfo(
        format_version=1,
        maggot_version="0.3.0",
        name="5-1.0",
        status="failed",
        started_at="2026-01-01T00:00:00.000Z",
        ended_at="2026-01-01T00:00:01.000Z",
        duration_seconds=1.5,
        exit=ExitInfo("ValueError", "bad"),
        argv=("train.py", "--x"),
        command_argv=("/usr/bin/python3", "train.py", "--x"),
        cwd=".",
        cwd_absolute="/home/u/repo",
        capture_output="sys",
        hostname="h",
        user="u",
        pid=7,
        python=PythonInfo("/usr/bin/python3", "3.11.7", "cpython"),
        platform="Linux",
        reproduction_of="/runs/a",
        continued=(Continuation("2026", ("python", "x")),),
        imports_outside_snapshot=("m (/x/m.py)",),
        launched_command=("python", "train.py", "--lr", "0.1"),
        launch_options=LaunchOptions(
            config_file="base.json",
            extra_params=(("seed", 3),),
            name_template="lr{lr}",
            results_file="out.json",
            metric_pattern=r"(?P<name>\w+)=(?P<value>\S+)",
        ),
        exit_code=-2,
        sweep=SweepJob("20260101-1", 4),
        rerun_of="/runs/b",
        joined=JoinedProcess("2026", "h", "u", 8, PythonInfo("/usr/bin/python3"), "Linux"),
    )


def test_run_info_round_trips_through_its_json() -> None:
    info = full_run_info()
    assert RunInfo.from_json(json.loads(json.dumps(info.to_json()))) == info


def test_git_head_round_trips_through_its_json() -> None:
    head = GitHead(
        snapshot=True,
        commit="a" * 40,
        branch="main",
        remotes={"origin": "https://example.com/r.git"},
        repo_root="/r",
        cwd="",
        script="train.py",
        is_dirty=True,
        counts=SnapshotCounts(1, 2, 3, 2),
        patch_bytes=10,
        hidden_from_status=("h.py",),
        untracked=("u.py",),
        skipped=(SkippedFile(".env", "secret-looking name"),),
        submodules=(Submodule("lib", "b" * 40, True, False, True),),
    )
    assert GitHead.from_json(json.loads(json.dumps(head.to_json()))) == head


def test_a_head_without_snapshot_says_only_why() -> None:
    assert GitHead.none("not inside a git repository").to_json() == {
        "snapshot": False,
        "reason": "not inside a git repository",
        "commit": None,
    }


@given(st.dictionaries(st.text().map(lambda key: "x_" + key), JSON_VALUES, max_size=4))
def test_unknown_fields_are_kept_and_written_back(extra: dict[str, Any]) -> None:
    data = {**full_run_info().to_json(), **extra}
    assert RunInfo.from_json(data).to_json() == data
    head = {**GitHead.none("off").to_json(), **extra}
    assert GitHead.from_json(head).to_json() == head


@given(st.dictionaries(st.sampled_from(RunInfo._fields), JSON_VALUES))
def test_fields_of_the_wrong_type_read_as_defaults(data: dict[str, Any]) -> None:
    info = RunInfo.from_json(data)
    assert isinstance(info.status, str) and isinstance(info.format_version, int)
    assert all(isinstance(item, str) for item in info.command_argv)
    GitHead.from_json(data).to_json()


def test_a_run_written_by_maggot_0_3_reads_back() -> None:
    written_by_0_3 = {
        "format_version": 1,
        "status": "completed",
        "exit": None,
        "command_argv": ["/usr/bin/python3", "train.py"],
        "python": {"executable": "/usr/bin/python3", "version": "3.11.7"},
    }
    info = RunInfo.from_json(written_by_0_3)
    assert info.status == "completed" and info.exit is None
    assert info.python.executable == "/usr/bin/python3" and info.python.implementation is None


def test_a_run_not_launched_writes_no_launch_fields() -> None:
    data = RunInfo(name="plain").to_json()
    launch_fields = ("launched_command", "launch_options", "exit_code", "sweep", "rerun_of")
    assert not set(launch_fields + ("joined",)) & set(data)


def test_malformed_launch_fields_read_as_their_defaults() -> None:
    info = RunInfo.from_json(
        {"sweep": {"id": 3, "job": "x"}, "exit_code": True, "launch_options": [], "joined": "x"}
    )
    assert (info.sweep, info.exit_code, info.launch_options, info.joined) == (None,) * 4
    assert info.extra == {}
