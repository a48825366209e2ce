"""Files a sweep's jobs record with the same bytes are written once and linked after."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from toolkit import commit_all, run_maggot

from maggot import manifest, store, sweep
from maggot.sharedfiles import SharedFiles, for_sweep


def run_file(root: Path, run: str, name: str) -> Path:
    path = root / run / ".maggot" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_the_same_bytes_are_linked_from_the_first_file(tmp_path: Path) -> None:
    shared = SharedFiles()
    first, second = run_file(tmp_path, "1", "environ"), run_file(tmp_path, "2", "environ")
    shared.write(str(first), b'{"A": "1"}\n')
    shared.write(str(second), b'{"A": "1"}\n')
    assert second.read_bytes() == b'{"A": "1"}\n'
    assert os.stat(first).st_ino == os.stat(second).st_ino
    # no temporary file is left behind
    assert sorted(os.listdir(second.parent)) == ["environ"]


def test_other_bytes_are_written_as_a_file_of_their_own(tmp_path: Path) -> None:
    shared = SharedFiles()
    first, second = run_file(tmp_path, "1", "environ"), run_file(tmp_path, "2", "environ")
    shared.write(str(first), b"one\n")
    shared.write(str(second), b"two\n")
    assert (first.read_bytes(), second.read_bytes()) == (b"one\n", b"two\n")
    assert os.stat(first).st_ino != os.stat(second).st_ino


def test_a_file_replaced_or_removed_since_is_not_linked(tmp_path: Path) -> None:
    shared = SharedFiles()
    first = run_file(tmp_path, "1", "packages.txt")
    shared.write(str(first), b"click==8\n")
    # replaced with other content (same size): the next job must not get it
    store.write_bytes_atomic(str(first), b"click==9\n")
    second = run_file(tmp_path, "2", "packages.txt")
    shared.write(str(second), b"click==8\n")
    assert second.read_bytes() == b"click==8\n"
    assert os.stat(first).st_ino != os.stat(second).st_ino
    # the template's run removed: written afresh, and linked from there on
    os.unlink(second)
    third, fourth = run_file(tmp_path, "3", "packages.txt"), run_file(tmp_path, "4", "packages.txt")
    shared.write(str(third), b"click==8\n")
    shared.write(str(fourth), b"click==8\n")
    assert third.read_bytes() == fourth.read_bytes() == b"click==8\n"
    assert os.stat(third).st_ino == os.stat(fourth).st_ino


def test_an_existing_file_is_replaced_by_the_link(tmp_path: Path) -> None:
    shared = SharedFiles()
    first, second = run_file(tmp_path, "1", "commit_hash"), run_file(tmp_path, "2", "commit_hash")
    second.write_bytes(b"old")
    shared.write(str(first), b"abc")
    shared.write(str(second), b"abc")
    assert second.read_bytes() == b"abc"


def test_each_sweep_has_its_own_files() -> None:
    assert for_sweep("sweep-a") is for_sweep("sweep-a")
    assert for_sweep("sweep-a") is not for_sweep("sweep-b")


def test_a_sweeps_runs_share_what_is_the_same_and_each_verifies(repo: Path) -> None:
    (repo / "train.py").write_text("import sys\nprint(sys.argv[1])\n")
    commit_all(repo, "train")
    result = run_maggot(
        "sweep", "-p", "x=1,2,3", "--", sys.executable, "train.py", "{x}", cwd=repo
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    experiments = str(repo / "experiments")
    (sweep_id,) = sweep.list_sweeps(experiments)
    record = sweep.load_sweep(sweep.find_sweep(sweep_id, experiments))
    run_dirs = [state.run_dir for state in sweep.job_states(record)]
    assert all(run_dirs)

    def inode(run_dir: str | None, *name: str) -> int:
        return os.stat(store.meta_path(str(run_dir), *name)).st_ino

    for name in (
        (store.ENVIRON_FILE,),
        (store.PACKAGES_FILE,),
        (store.COMMIT_HASH_FILE,),
        (store.INPUTS_FILE,),
        (store.GIT_DIR, store.HEAD_FILE),
    ):
        assert len({inode(run_dir, *name) for run_dir in run_dirs}) == 1, name
    # what differs stays each run's own
    assert len({inode(run_dir, store.CONFIG_FILE) for run_dir in run_dirs}) == 3
    for run_dir in run_dirs:
        assert store.read_git_head(str(run_dir)).script == "train.py"
        verification = manifest.verify_run(str(run_dir))
        assert verification.recorded and verification.intact and not verification.added
