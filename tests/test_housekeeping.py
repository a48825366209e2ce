from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from toolkit import commit_all, git, record_run, run_maggot, run_python

from maggot import Experiment, housekeeping, store
from maggot import summarize as summaries
from maggot.cli import main
from maggot.errors import MaggotError
from maggot.replay import ENV_REPRODUCTION_OF


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
    with monkeypatch.context() as replaying:
        replaying.setenv(ENV_REPRODUCTION_OF, str(made[0]))
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


def make_undeletable(file: Path) -> None:
    """A real obstacle to deleting ``file``: a read-only folder, or as root, an immutable file."""
    if os.geteuid() != 0:
        file.parent.chmod(0o500)
        return
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", file]).returncode != 0:
        pytest.skip("root deletes any file but an immutable one, and chattr +i is unavailable")


def undeletable_output(run_dir: Path) -> Path:
    """A file the run wrote that cannot be deleted (see make_undeletable)."""
    stuck = run_dir / "outputs" / "model.bin"
    stuck.parent.mkdir()
    stuck.write_bytes(b"weights")
    make_undeletable(stuck)
    return stuck


def make_deletable(file: Path) -> None:
    if os.geteuid() != 0:
        file.parent.chmod(0o700)
    else:
        subprocess.run(["chattr", "-i", file], check=True)


def test_rm_purge_leaves_a_run_it_cannot_delete_whole_in_the_trash(runs: list[Path]) -> None:
    experiments = runs[0].parent
    stuck = undeletable_output(runs[1])
    trashed = experiments / store.TRASH_DIR / "run1"
    try:
        result = invoke("rm", "--purge", "run0", "run1")
        emptied = invoke("rm", "--empty-trash")
    finally:
        make_deletable(trashed / "outputs" / "model.bin" if trashed.exists() else stuck)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"deleted {Path('experiments', 'run0')}",
        f"deleted {Path('experiments', 'run0.repro-1')}",
    ]
    left = Path("experiments", store.TRASH_DIR, "run1")
    error = "Permission denied" if os.geteuid() != 0 else "Operation not permitted"
    assert result.stderr == (
        f"maggot: {Path('experiments', 'run1')}: not deleted "
        f"({left / 'outputs' / 'model.bin'}: {error}); what is left of it is in {left}\n"
    )
    # nothing half deleted where the run was, nor anywhere a listing looks
    assert not runs[1].exists()
    assert [name for name in os.listdir(experiments) if name not in store_dirs()] == []
    assert summaries.summarize("experiments", with_repros=True).rows == []
    assert (trashed / "outputs" / "model.bin").read_bytes() == b"weights"
    assert emptied.exit_code == 1
    assert emptied.stderr == f"maggot: {left / 'outputs' / 'model.bin'}: {error}\n"
    assert invoke("rm", "--empty-trash").exit_code == 0 and not trashed.exists()


def store_dirs() -> set[str]:
    """Folders maggot keeps next to runs."""
    return {store.TRASH_DIR, store.INDEX_DIR}


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


def zombie() -> subprocess.Popen[bytes]:
    """A child process that ended and is not reaped yet: it still answers signal 0."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while b") Z " not in Path(f"/proc/{process.pid}/stat").read_bytes():
        assert time.monotonic() < deadline, "the child never ended"
        time.sleep(0.02)
    return process


def mark_running(run_dir: Path, pid: int, started_at: str | None = None) -> None:
    """Say in run.json (and its entries) that process ``pid`` is recording the run."""
    info = run_info(run_dir)
    changes: dict[str, Any] = {"status": store.STATUS_RUNNING, "pid": pid}
    if started_at is not None:
        changes["started_at"] = started_at
    info.update(changes)
    for entry in info.get("entries", []):
        entry.update(changes)
    store.write_json_atomic(run_dir / store.META_DIR / store.RUN_FILE, info)


needs_proc = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="zombies and reused pids are told apart on Linux"
)


@needs_proc
def test_rm_and_mv_take_a_run_of_a_zombie_or_reused_pid_for_killed_as_summarize_does(
    runs: list[Path],
) -> None:
    unreaped = zombie()
    try:
        mark_running(runs[0], unreaped.pid)
        # this process is alive, but started long after the run: its pid was reused
        mark_running(runs[1], os.getpid(), "2001-01-01T00:00:00.000Z")
        summary = summaries.summarize("experiments", with_repros=False)
        assert [row.status for row in summary.rows] == ["killed", "killed"]
        assert not housekeeping.still_running(str(runs[0]))
        assert not housekeeping.still_running(str(runs[1]))
        moved = invoke("mv", "run1", "renamed")
        assert moved.exit_code == 0, moved.output
        removed = invoke("rm", "run0")
        assert removed.exit_code == 0, removed.output
        experiments = runs[0].parent
        assert (experiments / "renamed").is_dir() and not runs[1].exists()
        assert (experiments / store.TRASH_DIR / "run0").is_dir() and not runs[0].exists()
    finally:
        unreaped.wait()


def test_mv_renames_the_run_and_its_reproductions(runs: list[Path]) -> None:
    result = invoke("mv", "run0", "baseline")
    assert result.exit_code == 0, result.output
    new_dir = runs[0].parent / "baseline"
    assert run_info(new_dir)["name"] == "baseline"
    assert run_info(new_dir)["renamed_from"] == ["run0"]
    replay = runs[0].parent / "baseline.repro-1"
    assert run_info(replay)["reproduction_of"] == str(new_dir)
    assert not runs[0].exists() and not runs[2].exists()


@pytest.mark.parametrize(
    ("name", "why"),
    [("a/b", "plain directory name"), ("..", "plain directory name"), ("", "plain directory name"),
     ("x\ny", "safe directory name"), (".git", "may not start with '.'"),
     ("run0.repro-2", "reproduction")],
)  # fmt: skip
def test_mv_wants_a_plain_name(runs: list[Path], name: str, why: str) -> None:
    with pytest.raises(MaggotError, match=why):
        housekeeping.rename_run(str(runs[0]), name)
    assert runs[0].is_dir()


@pytest.mark.parametrize("new_name", ["foo", "run1", "run0.repro-2"])
def test_mv_refuses_to_rename_a_reproduction_on_its_own(runs: list[Path], new_name: str) -> None:
    result = invoke("mv", "run0.repro-1", new_name)
    assert result.exit_code != 0 and result.stderr.count("\n") == 1, result.output
    if new_name != "run0.repro-2":  # that one is refused for its new name, earlier
        assert result.stderr == (
            f"maggot: {Path('experiments', 'run0.repro-1')}: is a reproduction of "
            f"{Path('experiments', 'run0')}; rename that run and its reproductions follow\n"
        )
    assert sorted(os.listdir(runs[0].parent)) == ["run0", "run0.repro-1", "run1"]
    assert run_info(runs[2])["name"] == "run0.repro-1"


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


HELD = textwrap.dedent(
    """
    import os
    import time
    from maggot import Experiment

    with Experiment(config={"lr": 0.5}) as exp:
        hold = os.environ.get("HOLD")
        while hold and os.path.exists(hold):
            time.sleep(0.05)
        exp.register_result("score", 1.5)
    """
)


def wait_for(condition: Any, what: str) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def process_ended(pid: int) -> bool:
    try:
        return b") Z " in Path(f"/proc/{pid}/stat").read_bytes()
    except FileNotFoundError:
        return True


@needs_proc
def test_gc_keeps_the_worktree_of_a_replay_that_outlived_its_reproduce(
    repo: Path, temp_root: Path, tmp_path: Path
) -> None:
    (repo / "held.py").write_text(HELD)
    commit_all(repo, "held")
    assert run_python(["held.py"], cwd=repo).returncode == 0
    hold = tmp_path / "hold"
    hold.touch()
    reproduce = subprocess.Popen(
        [sys.executable, "-m", "maggot", "reproduce", "experiments/0.5", "--yes"],
        cwd=repo, env={**os.environ, "HOLD": str(hold)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    replay_pid = None
    try:

        def owner_files() -> list[Path]:
            return list(temp_root.glob(f"*/{housekeeping.OWNER_FILE}"))

        wait_for(lambda: any(len(f.read_text().split()) == 2 for f in owner_files()), "replay")
        (owner_file,) = owner_files()
        replay_pid = int(owner_file.read_text().split()[1])
        reproduce.kill()  # the reproduce alone: its replay goes on in the worktree
        reproduce.wait()
        tree = owner_file.parent / repo.name
        kept = [f"keeping worktree {tree}: its replay still runs (process {replay_pid})"]
        for args in (("gc", "--dry-run"), ("gc",)):
            result = run_maggot(*args, cwd=repo)
            assert result.returncode == 0, result.stderr
            assert result.stdout.splitlines() == kept
            assert result.stderr == "maggot: nothing to collect\n"
        assert tree.is_dir()
        hold.unlink()
        wait_for(lambda: process_ended(replay_pid), "the replay to end")
        assert run_info(repo / "experiments" / "0.5.repro-1")["status"] == "completed"
        result = run_maggot("gc", cwd=repo)
        assert result.stdout.splitlines() == [f"removing worktree {tree}"]
        assert not owner_file.parent.exists()
    finally:
        reproduce.kill()
        reproduce.wait()
        hold.unlink(missing_ok=True)


@needs_proc
def test_gc_keeps_a_temporary_directory_a_process_works_in(repo: Path, temp_root: Path) -> None:
    abandoned = make_worktree(repo, dead_pid())
    unowned = Path(tempfile.mkdtemp(prefix=housekeeping.WORKTREE_PREFIX))
    long_ago = time.time() - 2 * housekeeping.UNOWNED_AGE_SECONDS
    os.utime(unowned, (long_ago, long_ago))
    workers = [
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], cwd=cwd)
        for cwd in (abandoned / "tree", unowned)
    ]
    try:
        result = run_maggot("gc", cwd=repo)
        assert result.stdout.splitlines() == [
            f"keeping worktree {abandoned / 'tree'}: process {workers[0].pid} works in it",
            f"keeping temporary directory {unowned}: process {workers[1].pid} works in it",
        ]
        assert (abandoned / "tree").is_dir() and unowned.is_dir()
    finally:
        for worker in workers:
            worker.kill()
            worker.wait()
    result = run_maggot("gc", cwd=repo)
    assert result.stdout.count("removing") == 2
    assert not abandoned.exists() and not unowned.exists()


@needs_proc
def test_gc_takes_an_owner_that_is_a_zombie_for_ended(repo: Path, temp_root: Path) -> None:
    unreaped = zombie()
    try:
        left = make_worktree(repo, unreaped.pid)
        result = run_maggot("gc", "--dry-run", cwd=repo)
        assert result.stdout.splitlines() == [f"would remove worktree {left / 'tree'}"]
    finally:
        unreaped.wait()


SWEEP_TRAIN = textwrap.dedent(
    """
    import argparse
    from maggot import Experiment

    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float)
    args = parser.parse_args()
    with Experiment(config={"lr": args.lr}) as exp:
        exp.register_result("acc", args.lr * 2)
    """
)


@pytest.fixture
def swept(repo: Path) -> str:
    """A sweep of three completed jobs, runs experiments/0.1, 0.2 and 0.3; its id."""
    (repo / "train.py").write_text(SWEEP_TRAIN)
    commit_all(repo, "train")
    result = run_maggot(
        "sweep", "-p", "lr=0.1,0.2,0.3", "--", sys.executable, "train.py", "--lr", "{lr}",
        cwd=repo,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    from maggot import sweep

    (sweep_id,) = sweep.list_sweeps(str(repo / "experiments"))
    return sweep_id


def sweep_states(repo: Path, sweep_id: str) -> list[tuple[str, str | None, str]]:
    from maggot import sweep

    experiments = str(repo / "experiments")
    record = sweep.load_sweep(sweep.find_sweep(sweep_id, experiments))
    return [(state.state, state.run_dir, state.detail) for state in sweep.job_states(record)]


def test_a_renamed_sweep_run_stays_the_jobs_run(repo: Path, swept: str) -> None:
    experiments = repo / "experiments"
    assert run_maggot("mv", "0.3", "best", cwd=repo).returncode == 0
    job_file = experiments / ".sweeps" / swept / "jobs" / "2.json"
    assert json.loads(job_file.read_text())["run_dir"] == str(experiments / "best")
    summary = run_maggot("summarize", "--sweep", swept, "--format", "json", cwd=repo)
    assert summary.returncode == 0 and summary.stderr == ""
    assert sorted(row["run"] for row in json.loads(summary.stdout)) == ["0.1", "0.2", "best"]
    status = run_maggot("sweep", "status", swept, cwd=repo)
    assert "3 completed" in status.stdout and "lost" not in status.stdout
    resumed = run_maggot("sweep", "--resume", swept, cwd=repo)
    assert resumed.returncode == 0, resumed.stderr
    assert "every job completed" in resumed.stdout
    assert [path.name for path in sorted(experiments.iterdir()) if path.name[0] != "."] == [
        "0.1",
        "0.2",
        "best",
    ]


def test_a_removed_sweep_run_is_removed_not_lost_and_resume_runs_it_again(
    repo: Path, swept: str
) -> None:
    experiments = repo / "experiments"
    assert run_maggot("rm", "0.2", cwd=repo).returncode == 0
    assert run_maggot("rm", "--purge", "0.3", cwd=repo).returncode == 0
    trashed = experiments / store.TRASH_DIR / "0.2"
    assert sweep_states(repo, swept) == [
        ("completed", str(experiments / "0.1"), ""),
        ("removed", None, f"moved to the trash: {trashed}"),
        ("removed", None, "deleted by maggot rm"),
    ]
    summary = run_maggot("summarize", "--sweep", swept, cwd=repo)
    assert summary.returncode == 0 and summary.stderr == ""
    # moved back out of the trash, the run is the job's again
    os.rename(trashed, experiments / "0.2")
    assert [state for state, _, _ in sweep_states(repo, swept)] == [
        "completed",
        "completed",
        "removed",
    ]
    resumed = run_maggot("sweep", "--resume", swept, cwd=repo)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming 1 jobs" in resumed.stderr
    assert [state for state, _, _ in sweep_states(repo, swept)] == ["completed"] * 3
    assert run_info(experiments / "0.3")["sweep"] == {"id": swept, "job": 2}


def test_mv_checks_every_run_json_before_moving_anything(runs: list[Path]) -> None:
    experiments = runs[0].parent
    for broken in (runs[0], runs[2]):  # the run's own run.json, then its reproduction's
        intact = (broken / store.META_DIR / store.RUN_FILE).read_text()
        (broken / store.META_DIR / store.RUN_FILE).write_text("{not json")
        result = invoke("mv", "run0", "renamed")
        assert result.exit_code == 1
        assert result.stderr.count("\n") == 1 and "not valid JSON" in result.stderr
        assert (
            str(Path("experiments", broken.name, store.META_DIR, store.RUN_FILE)) in result.stderr
        )
        assert sorted(os.listdir(experiments)) == ["run0", "run0.repro-1", "run1"]
        (broken / store.META_DIR / store.RUN_FILE).write_text(intact)
    assert invoke("mv", "run0", "renamed").exit_code == 0
    assert sorted(os.listdir(experiments)) == ["renamed", "renamed.repro-1", "run1"]


def test_mv_refuses_when_a_reproductions_new_name_is_taken(runs: list[Path]) -> None:
    experiments = runs[0].parent
    (experiments / "renamed.repro-1").mkdir()
    result = invoke("mv", "run0", "renamed")
    assert result.exit_code == 1 and "renamed.repro-1: already exists" in result.stderr
    assert (experiments / "run0").is_dir() and (experiments / "run0.repro-1").is_dir()


@pytest.mark.parametrize(
    "name",
    [".git", ".MAGGOT", ".maggot-trash", ".sweeps", ".hidden", "x.repro-1", "run1.repro-12",
     "a:b", "a?", "CON", "con.txt", "name.", "name ", "x" * 201, "a\\b"],
)  # fmt: skip
def test_mv_refuses_names_that_would_hide_the_run(runs: list[Path], name: str) -> None:
    result = invoke("mv", "run1", name)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("maggot: Invalid value for NEW_NAME")
    assert result.stderr.count("\n") == 1
    assert sorted(os.listdir(runs[0].parent)) == ["run0", "run0.repro-1", "run1"]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.text(min_size=1, max_size=40))
def test_a_name_mv_accepts_keeps_the_run_listed(runs: list[Path], name: str) -> None:
    experiments = runs[0].parent
    try:
        new_dir = housekeeping.rename_run(str(runs[1]), name)
    except housekeeping.RunNameError:
        return
    try:
        assert os.path.dirname(new_dir) == str(experiments)
        assert str(new_dir) in store.find_run_dirs(experiments)
        summary = summaries.summarize(str(experiments), with_repros=False)
        assert name in [row.run for row in summary.rows]
    finally:
        os.rename(new_dir, runs[1])


def test_rm_refusal_and_mv_refusal_read_well(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo)
    with Experiment(config={"live": 1}, snapshot=False, capture_output="none") as experiment:
        removing = invoke("rm", experiment.experiment_dir)
        renaming = invoke("mv", experiment.experiment_dir, "other")
    assert "not removing it (--force to remove it anyway)" in removing.stderr
    assert "not renaming it (--force to rename it anyway)" in renaming.stderr


def test_empty_trash_empties_the_trash_of_subfolders(repo: Path) -> None:
    record_run(repo, {"x": 1}, {}, name="deep", experiments_dir="experiments/grp", snapshot=False)
    record_run(repo, {"x": 2}, {}, name="top", snapshot=False)
    experiments = repo / "experiments"
    assert invoke("rm", "experiments/grp/deep", "top").exit_code == 0
    assert (experiments / "grp" / store.TRASH_DIR / "deep").is_dir()
    result = invoke("rm", "--empty-trash")
    assert result.exit_code == 0
    assert sorted(result.stdout.splitlines()) == sorted(
        [
            f"deleted {Path('experiments', 'grp', store.TRASH_DIR, 'deep')}",
            f"deleted {Path('experiments', store.TRASH_DIR, 'top')}",
        ]
    )
    assert not (experiments / "grp" / store.TRASH_DIR).exists()
    assert not (experiments / store.TRASH_DIR).exists()
    again = invoke("rm", "--empty-trash")
    assert again.exit_code == 0 and again.stdout == ""
    assert again.stderr == "maggot: no trash under experiments\n"


def test_empty_trash_of_a_missing_directory_is_an_error(repo: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent"
    result = invoke("rm", "--empty-trash", missing)
    assert result.exit_code == 1
    assert result.stderr == f"maggot: {missing}: no such directory\n"


def test_rm_purge_of_a_symlinked_run_removes_the_link_only(
    runs: list[Path], tmp_path: Path
) -> None:
    link = runs[0].parent / "linked"
    link.symlink_to(runs[1], target_is_directory=True)
    result = invoke("rm", "--purge", link)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"deleted {link}\n"
    assert not os.path.lexists(link) and store.is_run_dir(runs[1])


def test_rm_goes_on_past_a_run_it_cannot_move_and_reports_each(repo: Path) -> None:
    record_run(repo, {"x": 0}, {}, name="first", snapshot=False)
    stuck = record_run(repo, {"x": 1}, {}, name="stuck", experiments_dir="experiments/locked")
    record_run(repo, {"x": 2}, {}, name="last", snapshot=False)
    make_undeletable(stuck)
    try:
        result = invoke("rm", "--purge", "first", "experiments/locked/stuck", "last")
    finally:
        make_deletable(stuck)
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        f"deleted {Path('experiments', 'first')}",
        f"deleted {Path('experiments', 'last')}",
    ]
    error = "Permission denied" if os.geteuid() != 0 else "Operation not permitted"
    assert (
        result.stderr
        == f"maggot: {Path('experiments', 'locked', 'stuck')}: not removed ({error})\n"
    )
    assert store.is_run_dir(stuck) and not (repo / "experiments" / "last").exists()


# a real Ctrl-C, sent while `maggot rm --purge` deletes the files of its last run
INTERRUPTED_RM = textwrap.dedent(
    """
    import os, runpy, signal, sys

    deletions = unlinked = 0

    def ctrl_c_midway(frame, event, arg):
        global deletions, unlinked
        if event == "call" and frame.f_code.co_name == "delete_tree":
            deletions += 1
        elif event == "c_call" and arg is os.unlink and deletions == 3:
            unlinked += 1
            if unlinked == 2:
                os.kill(os.getpid(), signal.SIGINT)

    sys.setprofile(ctrl_c_midway)
    sys.argv[0] = "maggot"
    runpy.run_module("maggot", run_name="__main__")
    """
)


def test_rm_purge_interrupted_while_deleting_leaves_the_rest_in_the_trash(
    runs: list[Path],
) -> None:
    experiments = runs[0].parent
    before = sorted(path.name for path in runs[1].rglob("*"))
    result = run_python(["-c", INTERRUPTED_RM, "rm", "--purge", "run0", "run1"], cwd=".")
    assert result.returncode == 130, result.stderr
    assert result.stdout.splitlines() == [
        f"deleted {Path('experiments', 'run0')}",
        f"deleted {Path('experiments', 'run0.repro-1')}",
    ]
    assert result.stderr.strip() == "maggot: interrupted"
    left = experiments / store.TRASH_DIR / "run1"
    assert 0 < len(list(left.rglob("*"))) < len(before)
    assert [name for name in os.listdir(experiments) if name not in store_dirs()] == []


def test_rm_purge_with_no_usable_trash_leaves_what_gc_collects(runs: list[Path]) -> None:
    experiments = runs[0].parent
    undeletable_output(runs[1])
    (experiments / store.TRASH_DIR).write_text("not a folder")
    try:
        result = run_maggot("rm", "--purge", "run1", cwd=".")
        [hidden] = experiments.glob(store.TRASH_PREFIX + "*")
    finally:
        for left in experiments.glob(f"{store.TRASH_PREFIX}*/outputs/model.bin"):
            make_deletable(left)
    assert result.returncode == 1
    shown = Path("experiments", hidden.name)
    assert result.stderr.endswith(f"; what is left of it is in {shown}\n")
    assert summaries.summarize("experiments", with_repros=True).rows[0].run == "run0"
    dry = run_maggot("gc", "--dry-run", cwd=".")
    assert dry.stdout.splitlines() == [f"would remove {housekeeping.HALF_DELETED} {shown}"]
    collected = run_maggot("gc", cwd=".")
    assert collected.stdout.splitlines() == [f"removing {housekeeping.HALF_DELETED} {shown}"]
    assert not hidden.exists() and runs[0].is_dir()


NAMED_FOR_DELETING = (
    "import sys, time; from maggot import store; print(store.deleting_name(), flush=True); "
    "time.sleep(float(sys.argv[1]))"
)


def deleting_folder(parent: Path, process: subprocess.Popen[str]) -> Path:
    """A folder named as a run being deleted by ``process`` is, with a file in it."""
    assert process.stdout is not None
    folder = parent / process.stdout.readline().strip()
    (folder / store.META_DIR).mkdir(parents=True)
    (folder / store.META_DIR / store.RUN_FILE).write_text("{}")
    return folder


def test_gc_removes_half_deleted_runs_only_once_their_process_has_ended(
    repo: Path, temp_root: Path
) -> None:
    experiments = repo / "experiments"
    (experiments / "grp").mkdir(parents=True)
    ended = subprocess.Popen(
        [sys.executable, "-c", NAMED_FOR_DELETING, "0"], stdout=subprocess.PIPE, text=True
    )
    deleting = subprocess.Popen(
        [sys.executable, "-c", NAMED_FOR_DELETING, "60"], stdout=subprocess.PIPE, text=True
    )
    try:
        cut_short = deleting_folder(experiments / "grp", ended)
        ended.wait()
        still_deleting = deleting_folder(experiments, deleting)
        look_alike = experiments / f"{store.TRASH_PREFIX}notapid"
        look_alike.mkdir()
        result = run_maggot("gc", cwd=repo)
        assert result.returncode == 0, result.stderr
        shown = Path("experiments", "grp", cut_short.name)
        assert result.stdout.splitlines() == [f"removing {housekeeping.HALF_DELETED} {shown}"]
        assert not cut_short.exists() and still_deleting.is_dir() and look_alike.is_dir()
    finally:
        deleting.kill()
        deleting.wait()
    assert run_maggot("gc", cwd=repo).stdout.splitlines() == [
        f"removing {housekeeping.HALF_DELETED} {Path('experiments', still_deleting.name)}"
    ]


def test_a_run_named_like_a_reproduction_is_renamed_like_any_run(runs: list[Path]) -> None:
    made = record_run(runs[0].parent.parent, {"x": 5}, {}, name="run1.repro-2", snapshot=False)
    result = invoke("mv", "run1.repro-2", "run5")
    assert result.exit_code == 0, result.output
    renamed = run_info(made.parent / "run5")
    assert renamed["name"] == "run5" and renamed["renamed_from"] == ["run1.repro-2"]
    assert not made.exists() and runs[1].is_dir()


def test_a_reproduction_is_refused_whatever_its_name(
    runs: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = str(Path("/", "old", "place", "run0"))
    monkeypatch.setenv(ENV_REPRODUCTION_OF, elsewhere)
    made = record_run(runs[0].parent.parent, {"x": 0}, {}, name="copy", snapshot=False)
    result = invoke("mv", "copy", "other")
    assert result.exit_code == 1
    assert result.stderr == (
        f"maggot: {Path('experiments', 'copy')}: is a reproduction of {elsewhere}; "
        "rename that run and its reproductions follow\n"
    )
    assert made.is_dir()


def test_mv_changes_only_the_run_name_in_reproduction_of(
    runs: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    experiments = runs[0].parent
    moved_since = str(Path("/", "old", "place", "experiments", "run1"))
    through_a_link = str(Path("/", "old", "place", "experiments", "best"))
    for number, recorded in ((1, moved_since), (2, through_a_link)):
        monkeypatch.setenv(ENV_REPRODUCTION_OF, recorded)
        record_run(experiments.parent, {"x": 1}, {}, name=f"run1.repro-{number}", snapshot=False)
    assert invoke("mv", "run1", "final").exit_code == 0
    assert run_info(experiments / "final.repro-1")["reproduction_of"] == str(
        Path("/", "old", "place", "experiments", "final")
    )
    assert run_info(experiments / "final.repro-2")["reproduction_of"] == through_a_link


def test_rm_shows_the_names_of_files_inside_a_run_escaped(runs: list[Path]) -> None:
    stuck = runs[1] / "out\x1b[2J" / "model\x1b]0;pwned\x07.bin"
    stuck.parent.mkdir()
    stuck.write_bytes(b"weights")
    make_undeletable(stuck)
    trashed = runs[1].parent / store.TRASH_DIR / "run1"
    try:
        result = invoke("rm", "--purge", "run1")
    finally:
        make_deletable(trashed / stuck.parent.name / stuck.name)
    assert result.exit_code == 1
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    escaped = Path(
        "experiments", store.TRASH_DIR, "run1", "out\\x1b[2J", "model\\x1b]0;pwned\\x07.bin"
    )
    assert f"({escaped}: " in result.stderr
