"""Ignored inputs inside the repository, provided to replays from the checkout."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import textwrap
from pathlib import Path

import pytest
from toolkit import commit_all, git, run_maggot, run_python

from maggot import bootstrap, inputguard, provide
from maggot.errors import ReproduceError
from maggot.housekeeping import WORKTREE_PREFIX
from maggot.inputs import load_inputs

READER = """
    from maggot import Experiment
    with Experiment(config={"a": 1}) as exp:
        with open("data/train.txt") as file:
            exp.register_result("total", sum(int(line) for line in file))
"""

# writes a checkpoint and tries to append to its own input: both must stay out of the checkout
WRITER = """
    import os
    from maggot import Experiment
    with Experiment(config={"a": 1}) as exp:
        with open("data/train.txt") as file:
            total = sum(int(line) for line in file)
        os.makedirs("checkpoints", exist_ok=True)
        with open("checkpoints/model.bin", "wb") as file:
            file.write(b"weights")
        if os.environ.get("MAGGOT_REPRODUCTION_OF"):  # only the replay tries it
            try:
                with open("data/train.txt", "a") as file:
                    file.write("1000\\n")
                print("append: went to a private copy")
            except PermissionError as error:
                print("append refused:", error)
        exp.register_result("total", total)
"""


@pytest.fixture
def data_repo(repo: Path) -> Path:
    (repo / ".gitignore").write_text("experiments/\ndata/\ncheckpoints/\n")
    commit_all(repo, "ignore data")
    (repo / "data").mkdir()
    (repo / "data" / "train.txt").write_text("1\n2\n3\n")
    (repo / "checkpoints").mkdir()
    (repo / "checkpoints" / "old.bin").write_bytes(b"old weights")
    return repo


def record(repo: Path, script: str, env: dict[str, str] | None = None) -> Path:
    (repo / "train.py").write_text(textwrap.dedent(script))
    commit_all(repo, "train")
    before = set((repo / "experiments").iterdir()) if (repo / "experiments").exists() else set()
    result = run_python(["train.py"], cwd=repo, env=env)
    assert result.returncode == 0, result.stderr
    [run_dir] = set((repo / "experiments").iterdir()) - before
    return run_dir


def folder_digests(*folders: Path) -> dict[str, str]:
    """Every byte, and every entry's kind, under the folders."""
    digests = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            kind = "link" if path.is_symlink() else "dir" if path.is_dir() else "file"
            content = path.read_bytes() if kind == "file" else b""
            digests[str(path)] = kind + ":" + hashlib.sha256(content).hexdigest()
    return digests


def results_of(run_dir: Path) -> dict:
    return json.loads((run_dir / ".maggot" / "results.json").read_text())


def reproduces_reading_ignored_data(repo: Path) -> None:
    """READER's run records data/train.txt as ignored, and its replay is given the file."""
    run_dir = record(repo, READER)
    [item] = load_inputs(str(run_dir)).files
    assert (item.path, item.location) == ("data/train.txt", "ignored")
    result = run_maggot("reproduce", run_dir, "--yes", cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 ignored input from the checkout: data/train.txt (6 B)" in result.stdout
    assert results_of(Path(f"{run_dir}.repro-1")) == {"total": 6}


def test_a_script_reading_ignored_data_by_relative_path_reproduces(data_repo):
    reproduces_reading_ignored_data(data_repo)


def test_changed_data_is_named_in_the_plan_and_among_the_causes(data_repo):
    run_dir = record(data_repo, READER)
    (data_repo / "data" / "train.txt").write_text("1\n2\n4\n")
    dry = run_maggot("reproduce", run_dir, "--dry-run", cwd=data_repo)
    assert dry.returncode == 0, dry.stderr
    assert "data/train.txt: changed since the run" in dry.stdout
    result = run_maggot("reproduce", run_dir, "--yes", cwd=data_repo)
    assert result.returncode == 1
    plan, _, after = result.stdout.partition("Likely causes")
    assert "data/train.txt: changed since the run" in plan
    assert "input data/train.txt changed since the run" in after


def test_missing_data_is_named_before_the_replay_fails(data_repo):
    run_dir = record(data_repo, READER)
    (data_repo / "data" / "train.txt").unlink()
    result = run_maggot("reproduce", run_dir, "--yes", cwd=data_repo)
    assert result.returncode == 1
    assert "data/train.txt: missing since the run" in result.stdout
    assert "input data/train.txt is missing" in result.stdout


@pytest.mark.parametrize("copy_limit", ["0", str(1 << 20)])
def test_a_replay_never_changes_the_checkouts_ignored_folders(data_repo, copy_limit):
    run_dir = record(data_repo, WRITER)
    (data_repo / "checkpoints" / "model.bin").unlink()  # the run's own output, gone since
    before = folder_digests(data_repo / "data", data_repo / "checkpoints")
    worktree = data_repo.parent / "replay-tree"
    result = run_maggot(
        "reproduce", run_dir, "--yes", "--keep", "--worktree", worktree,
        cwd=data_repo, env={provide.ENV_COPY_LIMIT: copy_limit},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert folder_digests(data_repo / "data", data_repo / "checkpoints") == before
    assert not (data_repo / "checkpoints" / "model.bin").exists()
    assert (worktree / "checkpoints" / "model.bin").read_bytes() == b"weights"
    if copy_limit == "0":
        # linked read-only: the append fails and names the input
        assert "append refused: [Errno 13] data/train.txt is an input provided read-only" in (
            result.stdout
        )
        assert (worktree / "data" / "train.txt").is_symlink()
        assert "linked read-only from the checkout" in result.stderr
    else:
        assert "append: went to a private copy" in result.stdout
        assert (worktree / "data" / "train.txt").read_text() == "1\n2\n3\n1000\n"
    git(data_repo, "worktree", "remove", "--force", str(worktree))
    # removing the worktree removes the links, never what they point to
    assert folder_digests(data_repo / "data", data_repo / "checkpoints") == before


def test_a_run_copied_to_another_clone_reads_that_clones_data(data_repo, tmp_path):
    run_dir = record(data_repo, READER)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(data_repo), str(clone))
    (clone / "data").mkdir()
    (clone / "data" / "train.txt").write_text("1\n2\n3\n")
    (clone / "experiments").mkdir()
    copied = clone / "experiments" / run_dir.name
    shutil.copytree(run_dir, copied)
    (data_repo / "data" / "train.txt").write_text("100\n")  # the original checkout's data moved on
    result = run_maggot("reproduce", copied, "--yes", cwd=clone)
    assert result.returncode == 0, result.stdout + result.stderr
    assert results_of(Path(f"{copied}.repro-1")) == {"total": 6}


def test_without_an_inputs_record_the_plan_names_ignored_arguments_and_link_provides_them(
    data_repo,
):
    script = """
        import sys
        from maggot import Experiment
        with Experiment(config={"a": 1}) as exp:
            with open(sys.argv[1]) as file:
                exp.register_result("total", sum(int(line) for line in file))
    """
    (data_repo / "train.py").write_text(textwrap.dedent(script))
    commit_all(data_repo, "train")
    result = run_python(
        ["train.py", "data/train.txt"], cwd=data_repo, env={"MAGGOT_TRACK_INPUTS": "0"}
    )
    assert result.returncode == 0, result.stderr
    [run_dir] = (data_repo / "experiments").iterdir()
    assert load_inputs(str(run_dir)) is None
    dry = run_maggot("reproduce", run_dir, "--dry-run", cwd=data_repo)
    assert "pass --link data/train.txt" in dry.stderr
    assert run_maggot("reproduce", run_dir, "--yes", cwd=data_repo).returncode == 1
    linked = run_maggot("reproduce", run_dir, "--yes", "--link", "data", cwd=data_repo)
    assert linked.returncode == 0, linked.stdout + linked.stderr
    assert "1 ignored input from the checkout: data/train.txt" in linked.stdout


def test_no_inputs_provides_nothing(data_repo):
    run_dir = record(data_repo, READER)
    result = run_maggot("reproduce", run_dir, "--yes", "--no-inputs", cwd=data_repo)
    assert result.returncode == 1
    assert "none provided (--no-inputs)" in result.stdout
    assert "FileNotFoundError" in result.stdout + result.stderr
    both = run_maggot("reproduce", run_dir, "--no-inputs", "--link", "data", cwd=data_repo)
    assert both.returncode == 2 and "cannot be used together" in both.stderr


def test_link_outside_the_checkout_is_refused(data_repo, tmp_path):
    with pytest.raises(ReproduceError, match="not inside the checkout"):
        provide.linked_files(str(data_repo), [str(tmp_path)])


def test_guard_refuses_writes_to_protected_files_only(tmp_path, monkeypatch):
    protected = tmp_path / "big.bin"
    protected.write_bytes(b"data")
    listing = provide.write_guard(str(tmp_path / "guard"), {str(protected): "data/big.bin"})
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {bootstrap.DIRECTORY!r})
        import sitecustomize
        open({str(protected)!r}, "rb").read()
        open({str(tmp_path / "other.bin")!r}, "wb").write(b"fine")
        for attempt in (lambda: open({str(protected)!r}, "r+b"),
                        lambda: os.truncate({str(protected)!r}, 0),
                        lambda: os.chmod({str(protected)!r}, 0o777)):
            try:
                attempt()
            except PermissionError as error:
                print("refused", error.filename)
        """
    )
    environment = {inputguard.ENV_PROTECTED_INPUTS: listing}
    result = run_python(["-c", script], cwd=tmp_path, env=environment)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(f"refused {protected}") == 3
    assert protected.read_bytes() == b"data"
    assert (tmp_path / "other.bin").read_bytes() == b"fine"


def test_plan_lists_sizes_and_states(data_repo):
    run_dir = record(data_repo, READER)
    record_ = load_inputs(str(run_dir))
    plan = provide.plan_inputs(str(data_repo), record_)
    assert [(item.path, item.size, item.state) for item in plan.files] == [
        ("data/train.txt", 6, provide.SAME)
    ]
    os.unlink(data_repo / "data" / "train.txt")
    plan = provide.plan_inputs(str(data_repo), record_)
    assert plan.of_state(provide.MISSING)[0].path == "data/train.txt"
    assert plan.provided == []


SCALED_READER = """
    import argparse
    from maggot import Experiment
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=int)
    args = parser.parse_args()
    with Experiment(config=args, if_exists_mode="increment") as exp:
        open("README.md").read()  # tracked: in the snapshot, so not an input
        with open("data/train.txt") as file:
            exp.register_result("total", args.scale * sum(int(line) for line in file))
"""


def test_rerun_of_the_recorded_code_reads_the_checkouts_ignored_data(data_repo):
    (data_repo / "train.py").write_text(textwrap.dedent(SCALED_READER))
    commit_all(data_repo, "train")
    assert run_python(["train.py", "--scale", "1"], cwd=data_repo).returncode == 0
    [run_dir] = (data_repo / "experiments").iterdir()
    result = run_maggot("rerun", run_dir, "--set", "scale=2", "--yes", cwd=data_repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 ignored input from the checkout: data/train.txt" in result.stdout
    [rerun_dir] = set((data_repo / "experiments").iterdir()) - {run_dir}
    assert results_of(rerun_dir) == {"total": 12}
    # read from the worktree's private copy, recorded by its path in the repository
    [item] = load_inputs(str(rerun_dir)).files
    assert (item.path, item.location) == ("data/train.txt", "ignored")
    refused = run_maggot(
        "rerun", run_dir, "--set", "scale=3", "--yes", "--no-inputs", cwd=data_repo
    )
    assert refused.returncode != 0


def test_sweep_jobs_read_the_checkouts_ignored_data_and_the_record_says_so(data_repo):
    from maggot import sweep

    (data_repo / "train.py").write_text(textwrap.dedent(SCALED_READER))
    commit_all(data_repo, "train")
    before = folder_digests(data_repo / "data")
    result = run_maggot(
        "sweep", "-p", "scale=1,2", "--", sys.executable, "train.py", "--scale", "{scale}",
        cwd=data_repo,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "jobs read (and write) these git-ignored paths" in result.stderr
    [sweep_id] = sweep.list_sweeps(str(data_repo / "experiments"))
    record = sweep.load_sweep(sweep.find_sweep(sweep_id, str(data_repo / "experiments")))
    assert record.checkout == str(data_repo)
    assert set(record.ignored_from_checkout) == {"data", "checkpoints"}
    totals = sorted(results_of(Path(state.run_dir))["total"] for state in sweep.job_states(record))
    assert totals == [6, 12]
    # the job's inputs record names the file inside the repository, so a replay provides it
    job_inputs = load_inputs(sweep.job_states(record)[0].run_dir)
    assert [(item.path, item.location) for item in job_inputs.files] == [
        ("data/train.txt", "ignored")
    ]
    sweep.remove_code_tree(record)
    assert not os.path.exists(str(record.code_dir))
    assert folder_digests(data_repo / "data") == before
    assert sweep.ensure_code_tree(record)
    assert os.path.islink(os.path.join(str(record.code_dir), "data"))
    sweep.remove_code_tree(record)


def test_sweep_without_inputs_links_nothing(data_repo):
    from maggot import sweep

    result = run_maggot(
        "sweep", "--no-inputs", "-p", "x=1", "--", sys.executable, "-c", "pass", "{x}",
        cwd=data_repo,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    [sweep_id] = sweep.list_sweeps(str(data_repo / "experiments"))
    record = sweep.load_sweep(sweep.find_sweep(sweep_id, str(data_repo / "experiments")))
    assert record.ignored_from_checkout == ()


def test_ignored_paths_in_the_command_are_found_in_every_argument_form(data_repo):
    (data_repo / "src").mkdir()
    (data_repo / "src" / "tracked.txt").write_text("x\n")
    command = [
        "python", "train.py", "data/train.txt", "--ckpt=checkpoints/old.bin",
        "extra=../repo/data", "src/tracked.txt", "data/absent.txt", "-v",
    ]  # fmt: skip
    assert provide.ignored_in_command(str(data_repo), command, "") == [
        "data/train.txt",
        "checkpoints/old.bin",
        "data",
    ]
    # relative to the recorded working directory
    assert provide.ignored_in_command(str(data_repo), ["python", "../data/train.txt"], "src") == [
        "data/train.txt"
    ]


def test_data_read_through_an_ignored_symlink_is_recorded_and_provided(repo, tmp_path):
    datasets = tmp_path / "datasets"
    datasets.mkdir()
    (datasets / "train.txt").write_text("1\n2\n3\n")
    (repo / ".gitignore").write_text("experiments/\ndata\n")
    commit_all(repo, "ignore data")
    (repo / "data").symlink_to(datasets)
    reproduces_reading_ignored_data(repo)


def test_the_guards_listing_lives_in_the_temporary_worktrees_folder(data_repo):
    script = (
        READER
        + """
        import os
        print("guard listing:", os.environ.get("MAGGOT_PROTECTED_INPUTS"))
    """
    )
    run_dir = record(data_repo, script)
    result = run_maggot(
        "reproduce", run_dir, "--yes", cwd=data_repo, env={provide.ENV_COPY_LIMIT: "0"}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [listing] = [
        line.split(": ", 1)[1] for line in result.stdout.splitlines() if "guard listing:" in line
    ]
    # where `maggot gc` removes it with the worktree, when a killed replay left both behind
    holder = Path(listing).parent.parent
    assert holder.name.startswith(WORKTREE_PREFIX), listing
    assert not holder.exists()
