from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from toolkit import add_submodule, commit_all, git, run_maggot, run_python

from maggot import reproduce
from maggot.errors import ReproduceError

TRAIN = textwrap.dedent(
    """
    import sys
    from maggot import Experiment
    from model import score

    config = {"model": {"C": float(sys.argv[1]) if len(sys.argv) > 1 else 1.0}, "_seed": 1}
    with Experiment(config=config) as exp:
        value = score(exp.config.model.C)
        print("score", value)
        exp.register_result("accuracy", value)
        exp.register_result("fold1.loss", 1 - value)
    """
)


@pytest.fixture
def project(repo: Path) -> Path:
    """A repo whose training script imports a module; one run recorded on a dirty state."""
    (repo / "train.py").write_text(TRAIN)
    (repo / "model.py").write_text("def score(c):\n    return round(0.5 + c / 10, 6)\n")
    commit_all(repo, "train")
    # the recorded state differs from the commit: a dirty edit and an untracked helper
    (repo / "model.py").write_text(
        "from bonus import BONUS\n\ndef score(c):\n    return round(0.5 + c / 10 + BONUS, 6)\n"
    )
    (repo / "bonus.py").write_text("BONUS = 0.125\n")
    result = run_python(["train.py", "2.0"], cwd=repo)
    assert result.returncode == 0, result.stderr
    return repo


RUN = "experiments/2.0"


def results_of(run_dir: Path) -> dict:
    return json.loads((run_dir / ".maggot" / "results.json").read_text())


def checkout_fingerprint(repo: Path) -> dict[str, str]:
    """Bytes of every file in the checkout and in .git, refs, stash and worktrees."""
    digests = {}
    for directory, dirnames, filenames in os.walk(repo):
        dirnames[:] = [name for name in dirnames if name != "experiments"]
        for name in filenames:
            path = Path(directory, name)
            digests[str(path.relative_to(repo))] = hashlib.sha256(path.read_bytes()).hexdigest()
    digests["<refs>"] = git(repo, "for-each-ref")
    digests["<stash>"] = git(repo, "stash", "list")
    digests["<worktrees>"] = git(repo, "worktree", "list", "--porcelain")
    digests["<status>"] = git(repo, "status", "--porcelain=v2", "--branch")
    return digests


def run_dir_fingerprint(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}


def test_reproduce_replays_the_run_and_reports_a_match(project):
    original = run_dir_fingerprint(project / RUN)
    result = run_maggot("reproduce", RUN, "--yes", cwd=project)
    assert run_dir_fingerprint(project / RUN) == original
    assert result.returncode == 0, result.stdout + result.stderr
    assert "score 0.825" in result.stdout
    assert "accuracy" in result.stdout and "match" in result.stdout
    replay_dir = project / "experiments" / "2.0.repro-1"
    assert results_of(replay_dir) == results_of(project / RUN)
    replay_run = json.loads((replay_dir / ".maggot" / "run.json").read_text())
    assert replay_run["reproduction_of"] == str(project / RUN)
    assert git(project, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_reproduce_leaves_user_checkout_untouched(project):
    (project / "stashed.txt").write_text("x\n")
    git(project, "add", "stashed.txt")
    git(project, "stash", "push", "-q", "-m", "keep me")
    git(project, "add", "bonus.py")  # staged, plus the unstaged model.py edit
    before = checkout_fingerprint(project)
    result = run_maggot("reproduce", RUN, "--yes", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert checkout_fingerprint(project) == before


def test_reproduce_runs_the_snapshot_code_not_the_current_checkout(project):
    (project / "model.py").write_text("def score(c):\n    return 0.0\n")
    (project / "bonus.py").unlink()
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "break the model")
    result = run_maggot("reproduce", RUN, "--yes", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert results_of(project / "experiments" / "2.0.repro-1")["accuracy"] == 0.825


def test_reproduce_reports_a_mismatch_when_an_outside_input_changed(repo, tmp_path):
    data = tmp_path / "outside.txt"
    data.write_text("0.75\n")
    (repo / "train.py").write_text(
        "import sys\nfrom maggot import Experiment\n"
        "with Experiment(config={'data': sys.argv[1]}) as exp:\n"
        "    exp.register_result('accuracy', float(open(sys.argv[1]).read()))\n"
        "    exp.register_result('epochs', 3)\n"
    )
    commit_all(repo)
    assert run_python(["train.py", str(data)], cwd=repo).returncode == 0
    [run_dir] = [p for p in (repo / "experiments").iterdir()]
    data.write_text("0.76\n")
    result = run_maggot("reproduce", str(run_dir), "--yes", cwd=repo)
    assert result.returncode == 1
    assert "differ" in result.stdout and "0.75" in result.stdout and "0.76" in result.stdout
    assert "Traceback" not in result.stderr
    tolerant = run_maggot("reproduce", str(run_dir), "--yes", "--rtol", "0.05", cwd=repo)
    assert tolerant.returncode == 0, tolerant.stdout + tolerant.stderr


def test_dry_run_prints_the_plan_and_runs_nothing(project):
    result = run_maggot("reproduce", RUN, "--dry-run", cwd=project)
    assert result.returncode == 0, result.stderr
    commit = json.loads((project / RUN / ".maggot" / "git" / "head.json").read_text())["commit"]
    for expected in (commit[:12], "bonus.py", "train.py 2.0", "bytes"):
        assert expected in result.stdout
    assert "score" not in result.stdout
    assert not (project / "experiments" / "2.0.repro-1").exists()
    assert git(project, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_without_a_terminal_reproduce_refuses_unless_yes(project):
    result = run_maggot("reproduce", RUN, cwd=project, input="y\n")
    assert result.returncode == 1
    assert "--yes" in result.stderr
    assert not (project / "experiments" / "2.0.repro-1").exists()


def test_keep_leaves_the_worktree_and_says_where(project, tmp_path):
    target = tmp_path / "kept"
    result = run_maggot("reproduce", RUN, "--yes", "--keep", "--worktree", str(target), cwd=project)
    assert result.returncode == 0, result.stderr
    assert str(target) in result.stdout
    assert (target / "bonus.py").read_text() == "BONUS = 0.125\n"
    git(project, "worktree", "remove", "--force", str(target))


def test_worktree_is_removed_when_the_replay_fails(project, tmp_path):
    (project / RUN / ".maggot" / "git" / "untracked" / "bonus.py").write_text(
        "raise SystemExit(3)\n"
    )
    # as in a run recorded before manifests, whose snapshot files are not checked
    (project / RUN / ".maggot" / "manifest.json").unlink()
    temp = tmp_path / "temp"
    temp.mkdir()
    result = run_maggot("reproduce", RUN, "--yes", cwd=project, env={"TMPDIR": str(temp)})
    assert result.returncode == 1
    assert "exited with code 3" in result.stdout + result.stderr
    assert git(project, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert list(temp.iterdir()) == []


def test_commit_missing_from_the_repository_suggests_fetch(project, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q")
    (other / "x").write_text("x")
    commit_all(other)
    copied = other / "experiments" / "2.0"
    shutil.copytree(project / RUN, copied)
    result = run_maggot("reproduce", str(copied), "--yes", cwd=other)
    assert result.returncode == 1
    assert "git fetch" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_run_copied_into_another_clone_reproduces(project, tmp_path):
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(project), str(clone))
    copied = tmp_path / "copied-runs" / "2.0"
    shutil.copytree(project / RUN, copied)
    result = run_maggot("reproduce", str(copied), "--yes", cwd=clone)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "copied-runs" / "2.0.repro-1").is_dir()


def test_patch_that_no_longer_applies_is_a_clear_error(project):
    patch = project / RUN / ".maggot" / "git" / "diff.patch"
    patch.write_text(
        patch.read_text().replace("return round(0.5 + c / 10, 6)", "return something_else")
    )
    # edited consistently, in a run recorded before manifests: only git apply can tell
    head_path = project / RUN / ".maggot" / "git" / "head.json"
    head = json.loads(head_path.read_text())
    head_path.write_text(json.dumps({**head, "patch_bytes": patch.stat().st_size}))
    (project / RUN / ".maggot" / "manifest.json").unlink()
    result = run_maggot("reproduce", RUN, "--yes", cwd=project)
    assert result.returncode == 1
    assert "do not apply" in result.stderr and "Traceback" not in result.stderr
    assert git(project, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_run_without_snapshot_is_a_clear_error(repo):
    (repo / "train.py").write_text(
        "from maggot import Experiment\nExperiment(config={'a': 1}, snapshot=False)\n"
    )
    commit_all(repo)
    assert run_python(["train.py"], cwd=repo).returncode == 0
    result = run_maggot("reproduce", "experiments/1", "--yes", cwd=repo)
    assert result.returncode == 1
    assert "no git snapshot" in result.stderr


def test_not_a_run_directory_is_a_clear_error(repo):
    result = run_maggot("reproduce", "nowhere", "--yes", cwd=repo)
    assert result.returncode == 1
    assert "nowhere" in result.stderr and "Traceback" not in result.stderr


def test_inline_code_runs_cannot_be_replayed(repo):
    result = run_python(
        [
            "-c",
            "from maggot import Experiment\n"
            "with Experiment(config={'a': 1}) as e: e.register_result('x', 1)",
        ],
        cwd=repo,
    )
    assert result.returncode == 0, result.stderr
    reproduced = run_maggot("reproduce", "experiments/1", "--yes", cwd=repo)
    assert reproduced.returncode == 1
    assert "only scripts" in reproduced.stderr


def test_interrupted_replay_removes_the_worktree(repo):
    (repo / "train.py").write_text(
        "import os, time\nfrom maggot import Experiment\n"
        "with Experiment(config={'a': 1}) as exp:\n"
        "    exp.register_result('x', 1)\n"
        "    print('ready', flush=True)\n"
        "    time.sleep(float(os.environ.get('REPLAY_DELAY', '0')))\n"
    )
    commit_all(repo)
    assert run_python(["train.py"], cwd=repo).returncode == 0
    process = subprocess.Popen(
        [sys.executable, "-m", "maggot", "reproduce", "experiments/1", "--yes"],
        cwd=repo,
        env={**os.environ, "REPLAY_DELAY": "60"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    for line in process.stdout:
        if line.strip() == "ready":
            break
    os.killpg(process.pid, signal.SIGINT)
    process.communicate(timeout=60)
    assert process.returncode == 130
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    replay = json.loads((repo / "experiments" / "1.repro-1" / ".maggot" / "run.json").read_text())
    assert replay["status"] == "interrupted"


def record(repo: Path, script: str, *args: str, cwd: Path | None = None) -> Path:
    """Write train.py (committed), then run it with ``args``; return the run directory."""
    (repo / "train.py").write_text(textwrap.dedent(script))
    commit_all(repo, "train")
    before = set((repo / "experiments").iterdir()) if (repo / "experiments").exists() else set()
    result = run_python([str(repo / "train.py"), *args], cwd=cwd or repo)
    assert result.returncode == 0, result.stderr
    experiments = (cwd or repo) / "experiments"
    [run_dir] = set(experiments.iterdir()) - before
    return run_dir


SETTINGS_SCRIPT = """
    from maggot import Experiment
    import settings
    with Experiment(config={"a": 1}) as exp:
        exp.register_result("lr", settings.LR)
"""


def test_staged_new_files_reproduce_as_the_same_code(repo):
    (repo / "settings.py").write_text("LR = 0.1\n")
    git(repo, "add", "settings.py")  # staged, never committed
    run_dir = record(repo, SETTINGS_SCRIPT)
    git(repo, "rm", "-q", "--cached", "settings.py")
    (repo / "settings.py").unlink()
    result = run_maggot("reproduce", str(run_dir), "--yes", cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr


def test_edits_hidden_by_assume_unchanged_are_replayed(repo):
    (repo / "settings.py").write_text("LR = 0.1\n")
    run_dir_script = SETTINGS_SCRIPT
    (repo / "train.py").write_text(textwrap.dedent(run_dir_script))
    commit_all(repo)
    git(repo, "update-index", "--assume-unchanged", "settings.py")
    (repo / "settings.py").write_text("LR = 0.5\n")
    assert run_python(["train.py"], cwd=repo).returncode == 0
    (repo / "settings.py").write_text("LR = 0.9\n")
    result = run_maggot("reproduce", "experiments/1", "--yes", cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert results_of(repo / "experiments" / "1.repro-1") == {"lr": 0.5}


def test_paths_through_a_symlinked_repository_are_mapped(repo, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(repo)
    (repo / "conf.txt").write_text("0.1\n")
    script = """
        import sys
        from maggot import Experiment
        with Experiment(config={"a": 1}) as exp:
            exp.register_result("lr", float(open(sys.argv[1]).read()))
    """
    (repo / "train.py").write_text(textwrap.dedent(script))
    commit_all(repo)
    (repo / "conf.txt").write_text("0.5\n")
    assert run_python(["train.py", str(link / "conf.txt")], cwd=link).returncode == 0
    (repo / "conf.txt").write_text("0.9\n")
    result = run_maggot("reproduce", "experiments/1", "--yes", cwd=link)
    assert result.returncode == 0, result.stdout + result.stderr


def test_directory_with_ignored_data_is_provided_or_kept_pointing_at_the_checkout(repo):
    (repo / "data").mkdir()
    (repo / "data" / "README.md").write_text("data lives here\n")
    (repo / ".gitignore").write_text("experiments/\ndata/*.csv\n")
    (repo / "data" / "train.csv").write_text("1\n2\n3\n")
    script = """
        import pathlib, sys
        from maggot import Experiment
        with Experiment(config={"a": 1}) as exp:
            rows = sum(len(p.read_text().split()) for p in pathlib.Path(sys.argv[1]).glob("*.csv"))
            exp.register_result("rows", rows)
    """
    run_dir = record(repo, script, str(repo / "data"))
    result = run_maggot("reproduce", str(run_dir), "--yes", cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 ignored input from the checkout: data/train.csv" in result.stdout
    assert "not (all) in the snapshot" not in result.stderr
    # without the ignored inputs, the argument keeps pointing at the checkout's directory
    result = run_maggot("reproduce", str(run_dir), "--yes", "--no-inputs", cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "not (all) in the snapshot" in result.stderr


def test_reproduce_leaves_other_worktrees_alone(project, tmp_path):
    other = tmp_path / "other-worktree"
    git(project, "worktree", "add", "-q", str(other), "-b", "wip")
    (other / "README.md").write_text("staged work\n")
    git(other, "add", "README.md")
    parked = tmp_path / "parked"
    other.rename(parked)  # e.g. on a drive that is not mounted right now
    assert run_maggot("reproduce", RUN, "--yes", cwd=project).returncode == 0
    parked.rename(other)
    assert "M  README.md" in git(other, "status", "--short")


def test_run_from_an_ignored_directory_reproduces(repo):
    (repo / ".gitignore").write_text("experiments/\noutputs/\n")
    (repo / "outputs").mkdir()
    script = """
        from maggot import Experiment
        with Experiment(config={"a": 1}) as exp:
            exp.register_result("x", 1)
    """
    run_dir = record(repo, script, cwd=repo / "outputs")
    result = run_maggot("reproduce", str(run_dir), "--yes", cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "created it empty" in result.stderr


def test_submodules_are_checked_out_at_the_recorded_commit(repo, tmp_path):
    add_submodule(repo, tmp_path / "library", {"libvalue.py": b"VALUE = 1\n"})
    script = """
        import sys
        sys.path.insert(0, "lib")
        from maggot import Experiment
        import libvalue
        with Experiment(config={"a": 1}) as exp:
            exp.register_result("value", libvalue.VALUE)
    """
    run_dir = record(repo, script)
    (repo / "lib" / "libvalue.py").write_text("VALUE = 2\n")
    commit_all(repo / "lib", "value 2")
    result = run_maggot("reproduce", str(run_dir), "--yes", cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert results_of(Path(f"{run_dir}.repro-1")) == {"value": 1}
    assert git(repo / "lib", "worktree", "list", "--porcelain").count("worktree ") == 1


def test_self_check_reports_a_replay_on_different_code(project):
    plan = reproduce.plan_reproduction(str(project / RUN), repo_path=str(project))
    shutil.copytree(project / RUN, plan.replay_dir)
    assert reproduce._code_state_differences(plan) == []
    (Path(plan.replay_dir) / ".maggot" / "git" / "untracked" / "bonus.py").write_text("BONUS = 1\n")
    [problem] = reproduce._code_state_differences(plan)
    assert "differs from the snapshot" in problem and "bonus.py (modified)" in problem


def test_cli_runner_dry_run_and_usage_errors(project, monkeypatch):
    from click.testing import CliRunner

    from maggot.cli import main

    monkeypatch.chdir(project)
    runner = CliRunner()
    planned = runner.invoke(main, ["reproduce", RUN, "--dry-run"])
    assert planned.exit_code == 0, planned.output
    assert "records to" in planned.output and "experiments/2.0.repro-1" in planned.output
    bad_tolerance = runner.invoke(main, ["reproduce", RUN, "--rtol", "-1"])
    assert bad_tolerance.exit_code == 2
    missing = runner.invoke(main, ["reproduce", "no-such-run", "--yes"])
    assert missing.exit_code == 1 and "no-such-run" in missing.output
    assert not (project / "experiments" / "2.0.repro-1").exists()


def test_pythonpath_entries_outside_the_repository_are_kept(repo, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "extmod.py").write_text("VALUE = 7\n")
    script = """
        from maggot import Experiment
        import extmod
        with Experiment(config={"a": 1}) as exp:
            exp.register_result("value", extmod.VALUE)
    """
    (repo / "train.py").write_text(textwrap.dedent(script))
    commit_all(repo)
    env = {"PYTHONPATH": os.pathsep.join([str(outside), str(repo)])}
    assert run_python(["train.py"], cwd=repo, env=env).returncode == 0
    result = run_maggot("reproduce", "experiments/1", "--yes", cwd=repo, env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_script_outside_the_repository_is_called_out(repo, tmp_path):
    script = tmp_path / "outside.py"
    script.write_text(
        "from maggot import Experiment\n"
        "with Experiment(config={'a': 1}) as exp:\n"
        "    exp.register_result('x', 1)\n"
    )
    assert run_python([str(script)], cwd=repo).returncode == 0
    result = run_maggot("reproduce", "experiments/1", "--dry-run", cwd=repo)
    assert "not in the repository" in result.stderr


def test_untracked_files_are_never_written_through_a_symlinked_directory(repo, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (repo / "out").symlink_to(victim)
    commit_all(repo)
    (repo / "new.py").write_text("x = 1\n")
    run_dir = tmp_path / "run"
    (run_dir / ".maggot").mkdir(parents=True)
    from maggot.gitsnap import take_snapshot

    head = take_snapshot(str(run_dir), str(repo), []).to_json()
    (run_dir / ".maggot" / "git" / "untracked" / "out").mkdir()
    (run_dir / ".maggot" / "git" / "untracked" / "out" / "evil.py").write_text("boom\n")
    head["untracked"] = ["out/evil.py"]
    (run_dir / ".maggot" / "git" / "head.json").write_text(json.dumps(head))
    tree = tmp_path / "tree"
    git(repo, "worktree", "add", "--detach", "-q", str(tree), "HEAD")
    with pytest.raises(ReproduceError, match="refusing"):
        from maggot.gitsnap import apply_snapshot, load_snapshot

        apply_snapshot(load_snapshot(str(run_dir)), str(tree))
    assert list(victim.iterdir()) == []


def test_relative_pythonpath_entries_resolve_in_the_worktree(repo, tmp_path):
    (repo / "scripts").mkdir()
    (repo / "settings.py").write_text("LR = 0.1\n")
    (repo / "scripts" / "train.py").write_text(textwrap.dedent(SETTINGS_SCRIPT))
    commit_all(repo)
    env = {"PYTHONPATH": os.pathsep.join([".", str(tmp_path)])}
    assert run_python(["scripts/train.py"], cwd=repo, env=env).returncode == 0
    (repo / "settings.py").write_text("LR = 0.9\n")
    result = run_maggot("reproduce", "experiments/1", "--yes", cwd=repo, env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_deleted_assume_unchanged_file_is_deleted_in_the_replay(repo):
    (repo / "local_settings.py").write_text("LR = 0.5\n")
    script = """
        from maggot import Experiment
        try:
            from local_settings import LR
        except ImportError:
            LR = 0.1
        with Experiment(config={"a": 1}) as exp:
            exp.register_result("lr", LR)
    """
    (repo / "train.py").write_text(textwrap.dedent(script))
    commit_all(repo)
    git(repo, "update-index", "--assume-unchanged", "local_settings.py")
    (repo / "local_settings.py").unlink()
    assert run_python(["train.py"], cwd=repo).returncode == 0
    result = run_maggot("reproduce", "experiments/1", "--yes", cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert results_of(repo / "experiments" / "1.repro-1") == {"lr": 0.1}


def test_key_equals_path_arguments_are_mapped_and_announced(repo):
    (repo / "conf.txt").write_text("0.5\n")
    script = """
        import sys
        from maggot import Experiment
        path = sys.argv[1].split("=", 1)[1]
        with Experiment(config={"a": 1}) as exp:
            exp.register_result("lr", float(open(path).read()))
    """
    run_dir = record(repo, script, f"data.cfg={repo / 'conf.txt'}")
    (repo / "conf.txt").write_text("0.9\n")
    planned = run_maggot("reproduce", str(run_dir), "--dry-run", cwd=repo)
    assert "conf.txt points into your checkout" in planned.stderr
    result = run_maggot("reproduce", str(run_dir), "--yes", cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr


def set_recorded_python(run_dir: Path, executable: str) -> None:
    path = run_dir / ".maggot" / "run.json"
    info = json.loads(path.read_text())
    info["python"]["executable"] = executable
    path.write_text(json.dumps(info))


def wrapper(tmp_path: Path, body: str) -> Path:
    """An executable standing in for another environment's interpreter."""
    script = tmp_path / "env" / "bin" / "python"
    script.parent.mkdir(parents=True)
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return script


def test_the_recorded_interpreter_runs_the_replay(project, tmp_path):
    marker = tmp_path / "used"
    python = wrapper(tmp_path, f'echo x >> "{marker}"\nexec "{sys.executable}" "$@"')
    set_recorded_python(project / RUN, str(python))
    result = run_maggot("reproduce", RUN, "--yes", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{python}  (the run's interpreter)" in result.stdout
    assert marker.exists()


def test_python_option_overrides_and_a_vanished_interpreter_falls_back(project, tmp_path):
    set_recorded_python(project / RUN, str(tmp_path / "gone" / "python"))
    result = run_maggot("reproduce", RUN, "--dry-run", cwd=project)
    assert "no longer exists" in result.stdout and sys.executable in result.stdout
    result = run_maggot("reproduce", RUN, "--dry-run", "--python", "/opt/py", cwd=project)
    assert "/opt/py  (--python)" in result.stdout


def test_a_replay_failing_before_its_run_shows_the_end_of_its_stderr(project, tmp_path):
    # the import-path probe (-c) works; the script fails as in an environment without it
    python = wrapper(
        tmp_path,
        f'if [ "$1" = -c ]; then exec "{sys.executable}" "$@"; fi\n'
        "echo 'Traceback (most recent call last):' >&2\n"
        "echo \"ModuleNotFoundError: No module named 'sklearn'\" >&2\nexit 1",
    )
    result = run_maggot("reproduce", RUN, "--yes", "--python", str(python), cwd=project)
    assert result.returncode == 1
    assert "before recording a run" in result.stderr
    assert result.stderr.count("No module named 'sklearn'") == 2  # streamed, then summed up
    assert "did the script create an Experiment" not in result.stderr


def test_outside_the_repository_the_error_names_the_recorded_one(project, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_maggot("reproduce", str(project / RUN), "--dry-run", cwd=elsewhere)
    shutil.copytree(project / RUN, elsewhere / "2.0")
    result = run_maggot("reproduce", "2.0", "--dry-run", cwd=elsewhere)
    assert result.returncode == 1
    assert f"recorded in the repository at {project}" in result.stderr
    assert "--repo PATH" in result.stderr and len(result.stderr.splitlines()) == 1
    result = run_maggot("reproduce", "2.0", "--dry-run", "--repo", str(project), cwd=elsewhere)
    assert result.returncode == 0, result.stderr


def test_the_plan_says_which_branch_the_commit_was_on_when_recorded(project):
    git(project, "checkout", "-q", "-b", "later")
    result = run_maggot("reproduce", RUN, "--dry-run", cwd=project)
    assert "(branch main when recorded)" in result.stdout


def test_reproduce_is_one_library_call_returning_the_outcome(project, monkeypatch):
    from maggot.results import MATCH

    monkeypatch.chdir(project)
    plan = reproduce.plan_reproduction(RUN)
    started = []
    outcome = reproduce.reproduce(plan, on_start=started.append)
    assert outcome.reproduced and outcome.exit_code == 0 and outcome.kept_worktree is None
    assert {item.name: item.status for item in outcome.comparisons} == {
        "accuracy": MATCH,
        "fold1.loss": MATCH,
    }
    assert len(started) == 1 and not Path(started[0].worktree).exists()
    assert Path(outcome.replay_dir).name == "2.0.repro-1"


def test_self_check_accepts_an_untracked_file_the_replay_appended_to(project):
    plan = reproduce.plan_reproduction(str(project / RUN), repo_path=str(project))
    shutil.copytree(project / RUN, plan.replay_dir)
    replayed = Path(plan.replay_dir) / ".maggot" / "git" / "untracked" / "bonus.py"
    replayed.write_text(replayed.read_text() + "# appended by the replay before its run\n")
    assert reproduce._code_state_differences(plan) == []


def test_files_left_out_of_the_snapshot_are_one_note_per_cause(repo, monkeypatch):
    monkeypatch.chdir(repo)
    for number in range(4):
        (repo / f"key{number}.pem").write_text("secret\n")
    (repo / "train.py").write_text("from maggot import Experiment\nExperiment(config={'a': 1})\n")
    assert run_python(["train.py"], cwd=repo).returncode == 0
    plan = reproduce.plan_reproduction(str(repo / "experiments" / "1"), repo_path=str(repo))
    skipped_notes = [note for note in plan.notes if note.startswith("not in the snapshot")]
    assert skipped_notes == [
        "not in the snapshot (secret-looking name): 4 files: key0.pem, key1.pem, key2.pem, ..."
    ]


def test_plan_says_what_a_multi_entry_run_replays_and_that_it_never_finished(repo, monkeypatch):
    monkeypatch.chdir(repo)
    (repo / "train.py").write_text(
        textwrap.dedent(
            """
            import sys
            from maggot import Experiment
            with Experiment(config={"a": 1}, if_exists_mode="continue"):
                if sys.argv[1:] == ["stop"]:
                    raise KeyboardInterrupt  # the first start is cut short, a later one ends
            """
        )
    )
    assert run_python(["train.py", "stop"], cwd=repo).returncode != 0
    assert run_python(["train.py"], cwd=repo).returncode == 0
    plan = reproduce.plan_reproduction(str(repo / "experiments" / "1"), repo_path=str(repo))
    assert plan.notes[0].startswith("the original run never finished: it was interrupted")
    assert any(
        "2 entries (its first start, then 1 continue)" in note and "first start only" in note
        for note in plan.notes
    )


CHANGES_DIRECTORY = textwrap.dedent(
    """
    import os
    from maggot import Experiment

    os.chdir(os.path.dirname(os.path.abspath(__file__)) + "/sub")
    with Experiment(config={{"x": 1}}, experiments_dir="../experiments") as exp:
        exp.register_result("who", "{who}")
    """
)


@pytest.mark.parametrize("typed", ["train.py", "./src/train.py"])
def test_a_program_that_changes_directory_is_replayed_from_where_it_started(repo, typed):
    # the program moves into sub/, where a script of the same name gives the same result
    script = Path(repo, typed)
    script.parent.mkdir(parents=True, exist_ok=True)
    (script.parent / "sub").mkdir()
    script.write_text(CHANGES_DIRECTORY.format(who="the real one"))
    (script.parent / "sub" / "train.py").write_text("print('another script')\n")
    commit_all(repo, "scripts")
    result = run_python([typed], cwd=repo)
    assert result.returncode == 0, result.stderr
    run_dir = script.parent / "experiments" / "1"
    info = json.loads((run_dir / ".maggot" / "run.json").read_text())
    assert info["cwd"] == "."
    replayed = run_maggot("reproduce", run_dir, "--yes", cwd=repo)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "all 1 results match" in replayed.stdout
    replay_dir = next(script.parent.glob("experiments/1.repro-*"))
    assert results_of(replay_dir) == {"who": "the real one"}


def test_a_run_whose_command_names_another_script_is_refused(repo):
    (repo / "sub").mkdir()
    (repo / "train.py").write_text(CHANGES_DIRECTORY.format(who="top"))
    (repo / "sub" / "train.py").write_text("print('another script')\n")
    commit_all(repo, "scripts")
    result = run_python(["train.py"], cwd=repo)
    assert result.returncode == 0, result.stderr
    # as runs recorded before the start directory was found: the directory it moved to
    head_file = repo / "experiments/1/.maggot/git/head.json"
    head = json.loads(head_file.read_text())
    head_file.unlink()  # run files may be hard links: replaced, never changed in place
    head_file.write_text(json.dumps({**head, "cwd": "sub"}))
    (repo / "experiments/1/.maggot/manifest.json").unlink()  # which would refuse the edit
    replayed = run_maggot("reproduce", "experiments/1", "--yes", cwd=repo)
    assert replayed.returncode != 0
    assert "runs sub/train.py from sub/, but the run's script was train.py" in replayed.stderr
    assert "Traceback" not in replayed.stderr
    assert not list(repo.glob("experiments/1.repro-*"))


@pytest.mark.parametrize("name", ["results.json", "config.json", "run.json"])
def test_a_run_file_that_does_not_parse_is_refused_before_any_replay(project, name):
    meta = project / RUN / ".maggot"
    (meta / name).unlink()  # run files may be hard links: replaced, never changed in place
    (meta / name).write_bytes(b"\xff{bad")
    result = run_maggot("reproduce", RUN, "--yes", cwd=project)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert f"{RUN}/.maggot/{name}: not valid JSON" in result.stderr
    assert not list(project.glob(f"{RUN}.repro-*"))
