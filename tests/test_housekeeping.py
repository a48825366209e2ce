from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from toolkit import commit_all, git, record_run, run_maggot, run_python

from maggot import Experiment, housekeeping, store
from maggot import summarize as summaries
from maggot.cli import main
from maggot.errors import MaggotError


def invoke(*args: Any) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args])


def dead_pid() -> int:
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(finished.stdout)


def run_info(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / store.META_DIR / store.RUN_FILE).read_text())


@pytest.fixture
def runs(repo: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    monkeypatch.chdir(repo)
    made = [
        record_run(repo, {"x": number}, {"acc": number}, name=f"run{number}", snapshot=False)
        for number in range(2)
    ]
    made.append(record_run(repo, {"x": 0}, {"acc": 0}, name="run0.repro-1", snapshot=False))
    return made


def test_rm_moves_runs_and_their_reproductions_to_the_trash(runs: list[Path]) -> None:
    result = invoke("rm", "run0")
    assert result.exit_code == 0, result.output
    trash = runs[0].parent / store.TRASH_DIR
    assert sorted(os.listdir(trash)) == ["run0", "run0.repro-1"]
    assert not runs[0].exists() and not runs[2].exists()
    summary = summaries.summarize("experiments", with_repros=True)
    assert [row.run for row in summary.rows] == ["run1"]
    record_run(runs[0].parent.parent, {"x": 0}, {}, name="run0", snapshot=False)
    assert invoke("rm", "run0").exit_code == 0
    assert sorted(os.listdir(trash)) == ["run0", "run0.repro-1", "run0~2"]
    emptied = invoke("rm", "--empty-trash")
    assert emptied.exit_code == 0 and emptied.stdout.count("deleted") == 3
    assert not trash.exists()


def test_rm_purge_deletes(runs: list[Path]) -> None:
    assert invoke("rm", "--purge", runs[1]).exit_code == 0
    assert not runs[1].exists() and not (runs[1].parent / store.TRASH_DIR).exists()


def test_rm_refuses_a_running_run_unless_forced(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    with Experiment(config={"live": 1}, snapshot=False, capture_output="none") as experiment:
        result = invoke("rm", experiment.experiment_dir)
        assert result.exit_code == 1 and "still running" in result.stderr
        assert os.path.isdir(experiment.experiment_dir)
        mv = invoke("mv", experiment.experiment_dir, "other")
        assert mv.exit_code == 1 and "still running" in mv.stderr
    run_dir = Path(experiment.experiment_dir)
    info = run_info(run_dir)
    info["status"] = store.STATUS_RUNNING  # as if it still ran in this very process
    store.write_json_atomic(run_dir / store.META_DIR / store.RUN_FILE, info)
    assert invoke("rm", run_dir).exit_code == 1
    assert invoke("rm", "--force", run_dir).exit_code == 0 and not run_dir.exists()


def test_a_killed_run_is_not_running(runs: list[Path]) -> None:
    info = run_info(runs[1])
    info.update(status=store.STATUS_RUNNING, pid=dead_pid())
    store.write_json_atomic(runs[1] / store.META_DIR / store.RUN_FILE, info)
    assert not housekeeping.still_running(str(runs[1]))
    info.update(hostname="another-host")
    store.write_json_atomic(runs[1] / store.META_DIR / store.RUN_FILE, info)
    assert housekeeping.still_running(str(runs[1]))


def test_mv_renames_the_run_and_its_reproductions(runs: list[Path]) -> None:
    info = run_info(runs[2])
    info["reproduction_of"] = str(runs[0])
    store.write_json_atomic(runs[2] / store.META_DIR / store.RUN_FILE, info)
    result = invoke("mv", "run0", "baseline")
    assert result.exit_code == 0, result.output
    new_dir = runs[0].parent / "baseline"
    assert run_info(new_dir)["name"] == "baseline"
    assert run_info(new_dir)["renamed_from"] == ["run0"]
    replay = runs[0].parent / "baseline.repro-1"
    assert run_info(replay)["reproduction_of"] == str(new_dir)
    assert not runs[0].exists() and not runs[2].exists()


@pytest.mark.parametrize("name", ["a/b", "..", "", "x\ny"])
def test_mv_wants_a_plain_name(runs: list[Path], name: str) -> None:
    with pytest.raises(MaggotError, match="plain directory name"):
        housekeeping.rename_run(str(runs[0]), name)


def test_mv_refuses_an_existing_name(runs: list[Path]) -> None:
    result = invoke("mv", "run0", "run1")
    assert result.exit_code == 1 and "already exists" in result.stderr


TRAIN = textwrap.dedent(
    """
    import sys
    from maggot import Experiment

    with Experiment(config={"lr": float(sys.argv[1])}) as exp:
        exp.register_result("score", exp.config.lr * 3)
    """
)


def test_a_renamed_run_still_reproduces(repo: Path) -> None:
    (repo / "train.py").write_text(TRAIN)
    commit_all(repo, "train")
    assert run_python(["train.py", "0.5"], cwd=repo).returncode == 0
    assert run_maggot("mv", "experiments/0.5", "best", cwd=repo).returncode == 0
    result = run_maggot("reproduce", "best", "--yes", cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert run_info(repo / "experiments" / "best.repro-1")["reproduction_of"] == str(
        repo / "experiments" / "best"
    )


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "tmp"
    root.mkdir()
    # here and in child processes: gc must never see anyone else's temporary directories
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    monkeypatch.setenv("TMPDIR", str(root))
    return root


def make_worktree(repo: Path, owner: int) -> Path:
    temp_dir = Path(tempfile.mkdtemp(prefix=housekeeping.WORKTREE_PREFIX))
    (temp_dir / housekeeping.OWNER_FILE).write_text(f"{owner}\n")
    git(repo, "worktree", "add", "--detach", "--quiet", str(temp_dir / "tree"), "HEAD")
    return temp_dir


def test_gc_removes_what_killed_reproductions_left(repo: Path, temp_root: Path) -> None:
    abandoned = make_worktree(repo, dead_pid())
    in_use = make_worktree(repo, os.getpid())
    stray = Path(tempfile.mkdtemp(prefix=housekeeping.WORKTREE_PREFIX))
    long_ago = time.time() - 2 * housekeeping.UNOWNED_AGE_SECONDS
    os.utime(stray, (long_ago, long_ago))
    just_made = Path(tempfile.mkdtemp(prefix=housekeeping.WORKTREE_PREFIX))
    claim = repo / "experiments" / "run.repro-3"
    (claim / store.META_DIR).mkdir(parents=True)
    dry = run_maggot("gc", "--dry-run", cwd=repo)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines() == [
        f"would remove worktree {abandoned / 'tree'}",
        f"would remove temporary directory {stray}",
        f"would remove replay claim {Path('experiments', 'run.repro-3')}",
    ]
    assert abandoned.exists() and claim.exists()
    result = run_maggot("gc", cwd=repo)
    assert result.returncode == 0 and result.stdout.count("removing") == 3
    assert not abandoned.exists() and not stray.exists() and not claim.exists()
    assert in_use.exists() and just_made.exists()
    worktrees = git(repo, "worktree", "list", "--porcelain")
    assert str(abandoned) not in worktrees and str(in_use) in worktrees
    assert run_maggot("gc", cwd=repo).stderr.strip() == "maggot: nothing to collect"
