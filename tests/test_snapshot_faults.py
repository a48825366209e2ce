"""Faults while recording: unreadable files, oversized changes, a log that cannot be written."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from toolkit import commit_all, run_python

from maggot import gitsnap
from maggot.gitsnap import SnapshotLimits, limit_patch
from maggot.records import SkippedFile

RUN = textwrap.dedent(
    """
    from maggot import Experiment
    with Experiment(config={"lr": 0.1}) as exp:
        exp.register_result("ok", 1)
    """
)


def unprivileged(args: list[str]) -> list[str]:
    """Run without the root powers that read any file, so permissions apply as for a user."""
    if os.geteuid() != 0:
        return args
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: file permissions cannot be enforced")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search", *args]


def head_of(run_dir: Path) -> dict:
    return json.loads((run_dir / ".maggot" / "git" / "head.json").read_text())


def test_one_unreadable_untracked_file_is_skipped_and_the_rest_kept(repo: Path) -> None:
    (repo / "train.py").write_text(RUN)
    commit_all(repo, "train")
    (repo / "README.md").write_text("an uncommitted edit\n")
    (repo / "helper.py").write_text("VALUE = 1\n")
    locked = repo / "locked.txt"
    locked.write_text("no one may read this\n")
    locked.chmod(0)
    completed = subprocess.run(
        unprivileged([sys.executable, "train.py"]),
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
        env={key: value for key, value in os.environ.items() if not key.startswith("MAGGOT_")},
    )
    assert completed.returncode == 0, completed.stderr
    head = head_of(repo / "experiments" / "0.1")
    assert head["snapshot"] is True
    assert head["untracked"] == ["helper.py"]
    assert {"path": "locked.txt", "reason": "unreadable: Permission denied"} in head["skipped"]
    patch = (repo / "experiments" / "0.1" / ".maggot" / "git" / "diff.patch").read_text()
    assert "an uncommitted edit" in patch


def test_oversized_tracked_changes_are_left_out_of_the_patch(repo: Path) -> None:
    (repo / "model.bin").write_bytes(os.urandom(64 * 1024))
    (repo / "small.txt").write_text("before\n")
    commit_all(repo, "binary")
    (repo / "model.bin").write_bytes(os.urandom(64 * 1024))
    (repo / "small.txt").write_text("after\n")
    run_dir = repo / "experiments" / "run"
    (run_dir / ".maggot").mkdir(parents=True)
    limits = SnapshotLimits(max_file_bytes=16 * 1024, max_total_bytes=1024 * 1024)
    head = gitsnap.take_snapshot(str(run_dir), str(repo), [str(repo / "experiments")], limits)
    patch = (run_dir / ".maggot" / "git" / "diff.patch").read_bytes()
    assert b"+after" in patch
    assert b"model.bin" not in patch
    assert (
        SkippedFile("model.bin", "larger than 0.015625 MiB: its changes are left out of the patch")
        in head.skipped
    )
    assert head.is_dirty is True


def test_the_patch_keeps_whole_files_within_the_total_limit(repo: Path) -> None:
    for name in ("a.txt", "b.txt", "c.txt"):
        (repo / name).write_text("line\n" * 10)
    commit_all(repo, "three")
    for name in ("a.txt", "b.txt", "c.txt"):
        (repo / name).write_text("changed\n" * 200)
    run_dir = repo / "experiments" / "run"
    (run_dir / ".maggot").mkdir(parents=True)
    full = gitsnap.take_snapshot(str(run_dir), str(repo), [str(repo / "experiments")])
    whole = (run_dir / ".maggot" / "git" / "diff.patch").read_bytes()
    assert full.skipped == ()
    limit = len(whole) * 2 // 3
    kept, left_out = limit_patch(whole, limit)
    reason = (
        f"patch over {limit / 1024 / 1024:g} MiB in total: its changes are left out of the patch"
    )
    assert left_out == [SkippedFile("c.txt", reason)]
    assert b"a/a.txt" in kept and b"a/b.txt" in kept and b"c.txt" not in kept
    assert kept == whole[: len(kept)]  # whole files, in order, as git wrote them


LOUD = textwrap.dedent(
    """
    import resource, sys
    from maggot import Experiment

    exp = Experiment(config={"lines": 2000})
    # from here on no file may grow past 64 KiB: the log soon hits the limit
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, resource.RLIM_INFINITY))
    with exp:
        for number in range(2000):
            print(f"line {number:05d} " + "x" * 90)
        exp.register_result("finished", True)
        print("the loop finished", file=sys.stderr)
    """
)


@pytest.mark.parametrize("mode", ["sys", "fd"])
def test_a_log_that_cannot_be_written_warns_once_and_the_program_goes_on(
    tmp_path: Path, mode: str
) -> None:
    (tmp_path / "loud.py").write_text(LOUD)
    result = run_python(["loud.py"], cwd=tmp_path, env={"MAGGOT_CAPTURE": mode})
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 2000  # the terminal got everything
    assert result.stderr.count("maggot: warning: logging to") == 1
    assert "File too large" in result.stderr
    assert "the loop finished" in result.stderr
    info = json.loads((tmp_path / "experiments" / "2000" / ".maggot" / "run.json").read_text())
    assert info["status"] == "completed"
    results = tmp_path / "experiments" / "2000" / ".maggot" / "results.json"
    assert json.loads(results.read_text()) == {"finished": True}


def test_a_log_that_cannot_be_created_warns_and_the_run_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from maggot import Experiment

    with Experiment(config={"lr": 0.1}, experiments_dir=tmp_path / "experiments") as first:
        pass
    exp = Experiment(resume_from=first.experiment_dir)  # logs only once inside `with`
    shutil.rmtree(Path(exp.logfile).parent)
    Path(exp.logfile).parent.write_text("a file where the logs directory should be")
    with exp:
        print("still running")
        exp.register_result("ok", 1)
    captured = capsys.readouterr()
    assert "still running" in captured.out
    assert "cannot log to" in captured.err
    info = json.loads(Path(exp.experiment_dir, ".maggot", "run.json").read_text())
    assert info["status"] == "completed"
