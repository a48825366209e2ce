"""``maggot reproduce`` end to end: drift in the plan, --strict-env, --repeat, likely causes."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
from toolkit import commit_all, git, run_maggot, run_python

DATA_SCRIPT = textwrap.dedent(
    """
    import sys
    from maggot import Experiment

    with Experiment(config={"data": "outside"}) as exp:
        exp.register_result("accuracy", float(open(sys.argv[1]).read()))
    """
)
RANDOM_SCRIPT = textwrap.dedent(
    """
    import random
    from maggot import Experiment

    with Experiment(config={"model": "noisy"}) as exp:
        exp.register_result("loss", random.random())
        exp.register_result("epochs", 3)
    """
)


def record(repo: Path, script: str, *args: str) -> Path:
    (repo / "train.py").write_text(script)
    commit_all(repo, "train")
    result = run_python(["train.py", *args], cwd=repo)
    assert result.returncode == 0, result.stderr
    [run_dir] = [path for path in (repo / "experiments").iterdir()]
    return run_dir


def replay_dirs(repo: Path) -> list[str]:
    return sorted(path.name for path in (repo / "experiments").iterdir() if ".repro-" in path.name)


def test_a_changed_outside_input_is_named_as_the_likely_cause(repo, tmp_path):
    data = tmp_path / "outside" / "accuracy.txt"
    data.parent.mkdir()
    data.write_text("0.75\n")
    run_dir = record(repo, DATA_SCRIPT, str(data))
    data.write_text("0.5\n")
    result = run_maggot("reproduce", str(run_dir), "--yes", cwd=repo)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{data}: changed since the run" in result.stdout  # in the plan, before running
    causes = result.stdout.split("Likely causes", 1)[1]
    assert f"1. input {data} changed since the run" in causes
    assert "Traceback" not in result.stderr


def test_a_missing_input_is_named_too(repo, tmp_path):
    data = tmp_path / "accuracy.txt"
    data.write_text("0.75\n")
    run_dir = record(repo, DATA_SCRIPT, str(data))
    data.unlink()
    result = run_maggot("reproduce", str(run_dir), "--yes", cwd=repo)
    assert result.returncode == 1
    assert f"input {data} is missing (the run read it)" in result.stdout


def test_a_package_version_changed_in_the_record_is_drift_and_strict_env_refuses(repo, tmp_path):
    data = tmp_path / "accuracy.txt"
    data.write_text("0.75\n")
    run_dir = record(repo, DATA_SCRIPT, str(data))
    packages = run_dir / ".maggot" / "packages.txt"
    lines = packages.read_text().splitlines()
    [line] = [line for line in lines if line.startswith("click==")]
    packages.write_text(packages.read_text().replace(line, "click==0.0.1"))
    current = line.split("==")[1]

    plan = run_maggot("reproduce", str(run_dir), "--dry-run", cwd=repo)
    assert plan.returncode == 0, plan.stderr
    assert f"click: 0.0.1 -> {current}" in plan.stdout

    strict = run_maggot("reproduce", str(run_dir), "--yes", "--strict-env", cwd=repo)
    assert strict.returncode == 1
    [message] = strict.stderr.strip().splitlines()
    assert message.startswith("maggot: --strict-env: the environment differs")
    assert f"click: 0.0.1 -> {current}" in message and "nothing was run" in message
    assert replay_dirs(repo) == []
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_strict_env_runs_when_nothing_drifted(repo, tmp_path):
    data = tmp_path / "accuracy.txt"
    data.write_text("0.75\n")
    run_dir = record(repo, DATA_SCRIPT, str(data))
    result = run_maggot("reproduce", str(run_dir), "--yes", "--strict-env", cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "drift      none" in result.stdout
    assert "1 read, 0 written outside the snapshot; none read changed" in result.stdout


def test_repeat_calls_an_unseeded_script_nondeterministic(repo):
    run_dir = record(repo, RANDOM_SCRIPT)
    result = run_maggot("reproduce", str(run_dir), "--yes", "--repeat", "2", cwd=repo)
    assert result.returncode == 1, result.stdout + result.stderr
    assert replay_dirs(repo) == [f"{run_dir.name}.repro-1", f"{run_dir.name}.repro-2"]
    out = result.stdout
    assert "nondeterministic: the 2 replays ran the same code in the same environment" in out
    assert "seed" in out and "different problem from drift" in out
    causes = out.split("Likely causes", 1)[1]
    assert "the script is nondeterministic" in causes and "loss" in causes
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_a_deterministic_mismatch_with_nothing_recorded_suggests_repeat(repo, tmp_path):
    counter = tmp_path / "counter"
    counter.write_text("0")
    # the script counts its own runs: the same on every replay, never what the run had
    script = textwrap.dedent(
        f"""
        from maggot import Experiment

        with Experiment(config={{"a": 1}}, track_inputs=False) as exp:
            count = int(open({str(counter)!r}).read()) + 1
            open({str(counter)!r}, "w").write(str(count))
            exp.register_result("count", min(count, 2))
        """
    )
    run_dir = record(repo, script)
    once = run_maggot("reproduce", str(run_dir), "--yes", cwd=repo)
    assert once.returncode == 1
    assert "inputs     not recorded" in once.stdout
    assert "inputs: not recorded" in once.stdout
    assert "nothing recorded explains the difference" in once.stdout
    assert "--repeat 2" in once.stdout
    twice = run_maggot("reproduce", str(run_dir), "--yes", "--repeat", "2", cwd=repo)
    assert twice.returncode == 1
    assert "the 2 replays agree with each other" in twice.stdout
    assert "the replays agree with each other, the inputs read are unchanged" in twice.stdout


def test_a_tampered_patch_is_refused_before_anything_is_created(repo, tmp_path):
    data = tmp_path / "accuracy.txt"
    data.write_text("0.75\n")
    (repo / "train.py").write_text(DATA_SCRIPT)
    commit_all(repo, "train")
    (repo / "train.py").write_text(DATA_SCRIPT.replace("float(", "0.0 + float("))
    assert run_python(["train.py", str(data)], cwd=repo).returncode == 0
    [run_dir] = list((repo / "experiments").iterdir())
    patch = run_dir / ".maggot" / "git" / "diff.patch"
    patch.write_bytes(patch.read_bytes().replace(b"0.0 +", b"1.0 +"))
    result = run_maggot("reproduce", str(run_dir), "--yes", cwd=repo)
    assert result.returncode == 1
    [message] = result.stderr.strip().splitlines()
    assert "diff.patch (sha256 differs)" in message
    assert "refusing to use a tampered or truncated patch" in message
    assert replay_dirs(repo) == []


@pytest.mark.parametrize("remove", ["inputs.json", "manifest.json", "packages.txt"])
def test_older_runs_without_the_records_say_not_recorded(repo, tmp_path, remove):
    data = tmp_path / "accuracy.txt"
    data.write_text("0.75\n")
    run_dir = record(repo, DATA_SCRIPT, str(data))
    (run_dir / ".maggot" / remove).unlink()
    result = run_maggot("reproduce", str(run_dir), "--dry-run", cwd=repo)
    assert result.returncode == 0, result.stderr
    expected = {
        "inputs.json": "inputs     not recorded",
        "manifest.json": "no manifest (run recorded before maggot wrote one)",
        "packages.txt": "drift      not recorded: packages",
    }[remove]
    assert expected in result.stdout + result.stderr


def test_show_lists_inputs_and_artifacts(repo, tmp_path):
    data = tmp_path / "accuracy.txt"
    data.write_text("0.75\n")
    script = DATA_SCRIPT + "    open(exp.experiment_dir + '/model.bin', 'wb').write(b'w')\n"
    run_dir = record(repo, script, str(data))
    shown = run_maggot("show", str(run_dir), cwd=repo)
    assert shown.returncode == 0, shown.stderr
    inputs_section = shown.stdout.split("\ninputs\n", 1)[1].split("\n\n")[0]
    assert f"read  {data} (5 B; sha256 " in inputs_section
    artifacts = shown.stdout.split("\nartifacts in the manifest\n", 1)[1].split("\n\n")[0]
    assert "model.bin (sha256 " in artifacts
    as_json = json.loads(run_maggot("show", str(run_dir), "--format", "json", cwd=repo).stdout)
    assert [item["path"] for item in as_json["inputs"]] == [str(data)]
    assert [item["path"] for item in as_json["manifest"]] == ["model.bin"]
    for name in ("inputs.json", "manifest.json"):
        (run_dir / ".maggot" / name).unlink()
    older = run_maggot("show", str(run_dir), cwd=repo).stdout
    assert "inputs\n  -  not recorded" in older
    assert "artifacts in the manifest\n  -  not recorded (no manifest)" in older


def test_a_run_copied_into_another_clone_verifies_and_explains_there(repo, tmp_path):
    data = tmp_path / "accuracy.txt"
    data.write_text("0.75\n")
    run_dir = record(repo, DATA_SCRIPT, str(data))
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    copied = tmp_path / "copied-runs" / run_dir.name
    shutil.copytree(run_dir, copied, copy_function=shutil.copyfile)  # new mtimes
    verified = run_maggot("verify", str(copied), cwd=clone)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "ok (" in verified.stdout
    data.write_text("0.5\n")
    result = run_maggot("reproduce", str(copied), "--yes", cwd=clone)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"1. input {data} changed since the run" in result.stdout
