from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from toolkit import commit_all, run_python

from maggot import Experiment, hashing, inputs, openlog
from maggot.errors import CorruptRunError
from maggot.gitsnap import SnapshotLimits


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def inputs_of(run_dir: Path) -> dict[str, dict]:
    data = json.loads((run_dir / ".maggot" / "inputs.json").read_text())
    assert data["format_version"] == 1
    return {item["path"]: item for item in data["files"]}


SCRIPT = textwrap.dedent(
    """
    import json, sys
    from maggot import Experiment

    with Experiment(config={"run": 1}) as exp:
        outside = open(sys.argv[1]).read()
        ignored = open("data/train.txt", "rb").read()
        tracked = open("README.md").read()
        untracked = open("notes.txt").read()
        with open(sys.argv[2], "w") as out:
            out.write("written")
        with open(exp.experiment_dir + "/model.bin", "wb") as model:
            model.write(b"weights")
        exp.register_result("size", len(outside) + len(ignored))
    """
)


@pytest.fixture
def project(repo: Path, tmp_path: Path) -> Path:
    (repo / ".gitignore").write_text("experiments/\ndata/\n")
    (repo / "data").mkdir()
    (repo / "data" / "train.txt").write_text("1 2 3\n")
    (repo / "train.py").write_text(SCRIPT)
    commit_all(repo, "train")
    (repo / "notes.txt").write_text("untracked, in the snapshot\n")
    (tmp_path / "outside.csv").write_text("a,b\n1,2\n")
    return repo


def test_files_opened_outside_the_snapshot_are_recorded(project, tmp_path):
    outside, written = tmp_path / "outside.csv", tmp_path / "out" / "result.txt"
    written.parent.mkdir()
    result = run_python(["train.py", str(outside), str(written)], cwd=project)
    assert result.returncode == 0, result.stderr
    recorded = inputs_of(project / "experiments" / "1")
    assert set(recorded) == {str(outside), str(written), "data/train.txt"}
    read = recorded[str(outside)]
    assert (read["location"], read["mode"], read["hashed"]) == ("outside", "read", "full")
    assert read["sha256"] == sha256(outside) and read["size"] == outside.stat().st_size
    assert read["mtime_ns"] == outside.stat().st_mtime_ns and read["mtime"].endswith("Z")
    assert read["changed_during_run"] is False
    ignored = recorded["data/train.txt"]
    assert ignored["location"] == "ignored"
    assert ignored["sha256"] == sha256(project / "data" / "train.txt")
    out = recorded[str(written)]
    assert (out["mode"], out["sha256"], out["size"]) == ("write", None, 7)


def test_interpreter_files_and_system_directories_are_never_recorded(repo, tmp_path):
    (repo / "train.py").write_text(
        "import os, json, sqlite3, email.parser\nfrom maggot import Experiment\n"
        "with Experiment(config={'a': 1}) as exp:\n"
        "    open('/proc/self/status').read()\n"
        "    open(os.devnull, 'w').write('x')\n"
        "    open(json.__file__).read()\n"
        # the first log_metric imports maggot's series module: maggot is no input
        "    exp.log_metric('loss', 1.0)\n"
    )
    commit_all(repo)
    result = run_python(["train.py"], cwd=repo)
    assert result.returncode == 0, result.stderr
    assert inputs_of(repo / "experiments" / "1") == {}


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_tracking_can_be_turned_off(repo, how):
    argument = "track_inputs=False" if how == "argument" else ""
    (repo / "train.py").write_text(
        "from maggot import Experiment\n"
        f"with Experiment(config={{'a': 1}}, {argument}):\n"
        "    open('/etc/hostname').read()\n"
    )
    commit_all(repo)
    env = {"MAGGOT_TRACK_INPUTS": "0"} if how == "environment" else {}
    assert run_python(["train.py"], cwd=repo, env=env).returncode == 0
    assert not (repo / "experiments" / "1" / ".maggot" / "inputs.json").exists()
    assert inputs.load_inputs(str(repo / "experiments" / "1")) is None


def test_a_run_without_a_repository_records_everything_outside_experiments(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "local.txt").write_text("x")
    with Experiment(config={"a": 1}, capture_output="none") as exp:
        open("local.txt").read()
    recorded = inputs_of(Path(exp.experiment_dir))
    assert recorded[str(tmp_path / "local.txt")]["location"] == "outside"


def tracker_for(tmp_path: Path, **kwargs) -> inputs.InputTracker:
    return inputs.InputTracker(None, [str(tmp_path / "experiments")], **kwargs)


def test_a_file_changed_by_another_process_during_the_run_is_flagged(tmp_path):
    data, steady = tmp_path / "data.txt", tmp_path / "steady.txt"
    data.write_text("before\n")
    steady.write_text("same\n")
    os.utime(steady, ns=(1_000_000_000, 1_000_000_000))
    os.utime(data, ns=(1_000_000_000, 1_000_000_000))
    tracker = tracker_for(tmp_path)
    tracker.start()
    try:
        data.read_text()
        steady.read_text()
        # another process: the tracked one did not write it
        subprocess.run(
            [sys.executable, "-c", f"open({str(data)!r}, 'a').write('after')"], check=True
        )
    finally:
        record = tracker.stop()
    flags = {Path(item.path).name: item.changed_during_run for item in record.files}
    assert flags == {"data.txt": True, "steady.txt": False}


def test_large_inputs_are_hashed_by_a_documented_sample(tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * 4096)  # 1 MiB
    limits = hashing.HashLimits(input_full_bytes=1000)
    tracker = tracker_for(tmp_path, limits=limits)
    tracker.start()
    big.read_bytes()
    record = tracker.stop()
    [item] = record.files
    assert item.hashed == "sample" and item.sha256 == hashing.sha256_sample(str(big), 1 << 20)
    assert item.sha256 != sha256(big)
    assert record.sample == hashing.SAMPLE_DESCRIPTION and record.full_hash_bytes == 1000
    # a byte inside the first piece changes the sample
    with open(big, "r+b") as file:
        file.write(b"\xff")
    assert inputs.changed_inputs(record, None)[0].state == "changed"


def test_the_hook_collects_nothing_once_the_run_has_ended(tmp_path):
    tracker = tracker_for(tmp_path)
    tracker.start()
    tracker.stop()
    (tmp_path / "later.txt").write_text("x")
    (tmp_path / "later.txt").read_text()
    assert tracker._collector.opened() == []
    assert tracker._collector not in openlog.collectors


def test_relative_paths_resolve_against_the_directory_current_when_opened(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x.txt").write_text("a")
    (tmp_path / "b" / "x.txt").write_text("b")
    monkeypatch.chdir(tmp_path / "a")
    tracker = tracker_for(tmp_path)
    tracker.start()
    open("x.txt").read()
    os.chdir(tmp_path / "b")
    open("x.txt").read()
    record = tracker.stop()
    assert [item.path for item in record.files] == [
        str(tmp_path / "a" / "x.txt"),
        str(tmp_path / "b" / "x.txt"),
    ]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.text(
        st.characters(codec="utf-8", exclude_characters="/\0", exclude_categories=["Cs"]),
        min_size=1,
        max_size=40,
    ).filter(lambda name: name not in (".", "..") and "__pycache__" not in name)
)
def test_any_file_name_is_recorded_exactly(tmp_path, name):
    directory = tmp_path / "names"
    directory.mkdir(exist_ok=True)
    path = directory / name
    try:
        path.write_bytes(b"content")
    except OSError:
        return  # a name this file system refuses (too long in bytes)
    tracker = tracker_for(tmp_path)
    tracker.start()
    path.read_bytes()
    record = tracker.stop()
    path.unlink()
    assert [item.path for item in record.files] == [str(path)]


def test_changed_and_missing_inputs_are_named(tmp_path):
    kept, edited, removed = (tmp_path / name for name in ("kept", "edited", "removed"))
    for path in (kept, edited, removed):
        path.write_text("original")
    tracker = tracker_for(tmp_path)
    tracker.start()
    for path in (kept, edited, removed):
        path.read_text()
    record = tracker.stop()
    edited.write_text("edited!!")
    removed.unlink()
    changes = {Path(item.path).name: item.state for item in inputs.changed_inputs(record, None)}
    assert changes == {"edited": "changed", "removed": "missing"}


def test_inputs_record_round_trips_and_a_broken_one_is_named(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / ".maggot").mkdir(parents=True)
    assert inputs.load_inputs(str(run_dir)) is None
    (tmp_path / "x").write_text("x")
    tracker = tracker_for(tmp_path)
    tracker.start()
    (tmp_path / "x").read_text()
    record = tracker.stop()
    inputs.write_inputs(str(run_dir), record)
    assert inputs.load_inputs(str(run_dir)) == record
    (run_dir / ".maggot" / "inputs.json").write_text('{"files": 3}')
    with pytest.raises(CorruptRunError, match="inputs.json"):
        inputs.load_inputs(str(run_dir))


def test_a_file_opened_again_and_again_is_kept_once(tmp_path, monkeypatch):
    # the appended paths are folded into a set every _FOLD_AT opens: memory stays flat
    monkeypatch.setattr(openlog, "_FOLD_AT", 16)
    data = tmp_path / "config.txt"
    data.write_text("x")
    tracker = tracker_for(tmp_path)
    tracker.start()
    for _ in range(50):
        data.read_text()
    assert len(openlog._read_paths) <= 16
    assert len(openlog._reads) == 1
    record = tracker.stop()
    assert [item.path for item in record.files] == [str(data)]


def test_odd_open_events_never_fail_the_open(tmp_path):
    tracker = tracker_for(tmp_path)
    tracker.start()
    try:
        sys.audit("open", [tmp_path], None, None)  # an unhashable path, no flags
        sys.audit("open", tmp_path / "other", "r", None)  # a path-like object, no flags
    finally:
        record = tracker.stop()
    assert record.files == ()  # neither exists


def test_ignored_inputs_are_checked_in_the_checkout_reproduce_runs_from(tmp_path):
    content = b"1 2 3\n"
    item = inputs.InputFile(
        "data/train.txt", inputs.IGNORED, "read", 6, "", 0,
        hashlib.sha256(content).hexdigest(), "full", False,
    )  # fmt: skip
    record = inputs.InputsRecord(1, "/elsewhere/repo", (item,), 0, 0, "", ())
    clone = tmp_path / "clone"
    (clone / "data").mkdir(parents=True)
    (clone / "data" / "train.txt").write_bytes(content)
    assert inputs.changed_inputs(record, str(clone)) == []
    (clone / "data" / "train.txt").write_bytes(b"4 5 6\n")
    assert inputs.changed_inputs(record, str(clone)) == [
        inputs.InputChange("data/train.txt", inputs.IGNORED, "changed")
    ]


def test_a_failed_run_still_records_its_inputs_and_manifest(repo, tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("x")
    (repo / "train.py").write_text(
        "import sys\nfrom maggot import Experiment\n"
        "with Experiment(config={'a': 1}):\n"
        "    open(sys.argv[1]).read()\n"
        "    raise RuntimeError('diverged')\n"
    )
    commit_all(repo)
    result = run_python(["train.py", str(data)], cwd=repo)
    assert result.returncode == 1 and "diverged" in result.stderr
    run_dir = repo / "experiments" / "1"
    assert json.loads((run_dir / ".maggot" / "run.json").read_text())["status"] == "failed"
    assert list(inputs_of(run_dir)) == [str(data)]
    assert (run_dir / ".maggot" / "manifest.json").is_file()


def test_files_opened_by_several_threads_at_once_are_all_recorded(tmp_path):
    paths = [tmp_path / f"part{index}.txt" for index in range(8)]
    for path in paths:
        path.write_text(path.name)
    barrier = threading.Barrier(len(paths))

    def read(path: Path) -> None:
        barrier.wait()
        path.read_text()

    tracker = tracker_for(tmp_path)
    tracker.start()
    threads = [threading.Thread(target=read, args=(path,)) for path in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    record = tracker.stop()
    assert sorted(item.path for item in record.files) == sorted(map(str, paths))


def test_an_untracked_file_the_snapshot_left_out_is_recorded_as_skipped(repo, monkeypatch):
    monkeypatch.chdir(repo)
    (repo / "big.csv").write_bytes(b"x" * 2000)
    (repo / "small.csv").write_bytes(b"y")
    limits = SnapshotLimits(max_file_bytes=1000)
    with Experiment(config={"a": 1}, capture_output="none", snapshot_limits=limits) as exp:
        open("big.csv").read()
        open("small.csv").read()
    recorded = inputs_of(Path(exp.experiment_dir))
    assert list(recorded) == ["big.csv"]
    assert recorded["big.csv"]["location"] == "skipped"


def test_runs_made_in_a_loop_without_with_each_record_their_own_inputs(repo, tmp_path):
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text(name)
    (repo / "train.py").write_text(
        "import sys\nfrom maggot import Experiment\n"
        "for name in ('a', 'b'):\n"
        "    exp = Experiment(config={'part': name})\n"
        f"    open({str(tmp_path)!r} + '/' + name + '.txt').read()\n"
        "    exp.register_result('done', 1)\n"
    )
    commit_all(repo)
    result = run_python(["train.py"], cwd=repo)
    assert result.returncode == 0, result.stderr
    for name in ("a", "b"):
        assert list(inputs_of(repo / "experiments" / name)) == [str(tmp_path / f"{name}.txt")]


def test_overlapping_runs_lend_the_child_environment_and_put_it_back(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/users/own/path")
    monkeypatch.delenv("MAGGOT_INPUTS_DIR", raising=False)
    first = inputs.InputTracker(None, [str(tmp_path)], children_dir=str(tmp_path / "first"))
    second = inputs.InputTracker(None, [str(tmp_path)], children_dir=str(tmp_path / "second"))
    first.start()
    second.start()
    # children record for the latest run; the hook's directory is on the path once
    assert os.environ["MAGGOT_INPUTS_DIR"] == str(tmp_path / "second")
    assert os.environ["PYTHONPATH"].count("bootstrap") == 1
    assert os.environ["PYTHONPATH"].endswith(os.pathsep + "/users/own/path")
    first.stop()  # not in the order they started
    assert os.environ["MAGGOT_INPUTS_DIR"] == str(tmp_path / "second")
    second.stop()
    assert "MAGGOT_INPUTS_DIR" not in os.environ
    assert os.environ["PYTHONPATH"] == "/users/own/path"


def test_merged_records_keep_every_file_and_combine_modes():
    def item(path: str, mode: str, sha: str | None) -> inputs.InputFile:
        return inputs.InputFile(path, inputs.IGNORED, mode, 1, "t", 0, sha, "full", False)

    def record(*files: inputs.InputFile, problems: tuple[str, ...] = ()) -> inputs.InputsRecord:
        return inputs.InputsRecord(1, "/repo", files, 1, 10, "s", problems)

    launcher = record(item("a.txt", inputs.READ, "aa"), problems=("p",))
    program = record(item("a.txt", inputs.WRITE, None), item("b.txt", inputs.READ, "bb"))
    merged = inputs.merge_inputs(launcher, program)
    assert [(f.path, f.mode, f.sha256) for f in merged.files] == [
        ("a.txt", inputs.READ_WRITE, "aa"),
        ("b.txt", inputs.READ, "bb"),
    ]
    assert merged.omitted == 2 and merged.problems == ("p",)
