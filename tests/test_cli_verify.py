from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from toolkit import commit_all, run_maggot, run_python

from maggot import manifest
from maggot.cli import main

SCRIPT = (
    "from maggot import Experiment\n"
    "with Experiment(config={'lr': 0.1}) as exp:\n"
    "    open(exp.experiment_dir + '/model.bin', 'wb').write(bytes(range(64)))\n"
    "    exp.register_result('accuracy', 0.9)\n"
)


@pytest.fixture
def run_dir(repo: Path) -> Path:
    (repo / "train.py").write_text(SCRIPT)
    commit_all(repo)
    result = run_python(["train.py"], cwd=repo)
    assert result.returncode == 0, result.stderr
    return repo / "experiments" / "0.1"


def test_verify_an_intact_run_exits_0(run_dir):
    result = run_maggot("verify", str(run_dir), cwd=run_dir.parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{run_dir}: ok (") and "files intact" in result.stdout


def test_a_flipped_byte_in_an_artifact_fails_verify_naming_it(run_dir):
    model = run_dir / "model.bin"
    data = bytearray(model.read_bytes())
    data[10] ^= 0xFF
    model.write_bytes(bytes(data))
    result = run_maggot("verify", str(run_dir), cwd=run_dir.parent)
    assert result.returncode == 1
    assert result.stdout.strip() == f"{run_dir}: changed  model.bin (sha256 differs)"


def test_verify_several_runs_reports_each_and_fails_on_any(run_dir, tmp_path):
    copy = tmp_path / "copies" / "0.1"
    shutil.copytree(run_dir, copy)
    (copy / "model.bin").unlink()
    (copy / "extra.txt").write_text("new")
    runner = CliRunner()
    result = runner.invoke(main, ["verify", str(run_dir), str(copy)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith(f"{run_dir}: ok")
    assert f"{copy}: missing  model.bin" in lines
    assert f"{copy}: added    extra.txt" in lines
    as_json = json.loads(runner.invoke(main, ["verify", "--format", "json", str(copy)]).output)
    assert as_json[0]["missing"] == ["model.bin"] and as_json[0]["added"] == ["extra.txt"]
    assert as_json[0]["intact"] is False


def test_added_files_alone_do_not_fail_verify(run_dir):
    (run_dir / "later.txt").write_text("added after the run\n")
    result = CliRunner().invoke(main, ["verify", str(run_dir)])
    assert result.exit_code == 0
    assert f"{run_dir}: added    later.txt" in result.output


def test_a_run_without_a_manifest_is_not_recorded(run_dir):
    (run_dir / ".maggot" / "manifest.json").unlink()
    result = run_maggot("verify", str(run_dir), cwd=run_dir.parent)
    assert result.returncode == 0
    assert "no manifest: not recorded" in result.stderr


def test_verify_needs_a_run_and_names_a_bad_one(tmp_path):
    usage = run_maggot("verify", cwd=tmp_path)
    assert usage.returncode == 2
    missing = run_maggot("verify", "nope", cwd=tmp_path)
    assert missing.returncode == 1
    assert missing.stderr.strip() == "maggot: nope: no such directory"


def invoke(*args: object) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args])


def test_tags_and_notes_written_after_the_run_are_not_judged(run_dir):
    assert invoke("tag", run_dir, "best").exit_code == 0
    assert invoke("note", run_dir, "the one to keep").exit_code == 0
    assert (run_dir / ".maggot" / "annotations.json").exists()
    result = invoke("verify", run_dir)
    assert result.exit_code == 0, result.output
    [line] = result.output.splitlines()
    assert line.startswith(f"{run_dir}: ok (") and line.endswith(" files intact)")


def test_a_manifest_listing_the_tags_file_does_not_judge_it_either(run_dir):
    assert invoke("tag", run_dir, "early").exit_code == 0
    manifest.write_manifest(str(run_dir), 1024 * 1024)  # as if tagged while it ran
    assert invoke("tag", run_dir, "later").exit_code == 0
    result = invoke("verify", run_dir)
    assert result.exit_code == 0 and "annotations" not in result.output


def test_a_run_renamed_by_maggot_mv_is_intact(run_dir):
    assert invoke("mv", run_dir, "best-lr").exit_code == 0
    renamed = run_dir.parent / "best-lr"
    result = invoke("verify", renamed)
    assert result.exit_code == 0, result.output
    [line] = result.output.splitlines()
    assert line.startswith(f"{renamed}: ok (")
    assert line.endswith(" files intact; renamed from 0.1 by maggot mv)")
    assert invoke("mv", renamed, "final").exit_code == 0
    [as_json] = json.loads(invoke("verify", "--format", "json", renamed.parent / "final").output)
    assert as_json["intact"] and as_json["renamed_from"] == "0.1"


def test_replays_renamed_with_their_run_are_intact(run_dir):
    replay = run_maggot("reproduce", run_dir, "--yes", cwd=run_dir.parent.parent)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert invoke("mv", run_dir, "best-lr").exit_code == 0
    renamed_replay = run_dir.parent / "best-lr.repro-1"
    info = json.loads((renamed_replay / ".maggot" / "run.json").read_text())
    assert info["reproduction_of"] == str(run_dir.parent / "best-lr")
    result = invoke("verify", renamed_replay)
    assert result.exit_code == 0, result.output
    assert "renamed from 0.1.repro-1 by maggot mv" in result.output


def test_a_renamed_run_json_changed_otherwise_fails_verify(run_dir):
    assert invoke("mv", run_dir, "best-lr").exit_code == 0
    run_file = run_dir.parent / "best-lr" / ".maggot" / "run.json"
    info = json.loads(run_file.read_text())
    info["status"] = "failed"
    run_file.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    result = invoke("verify", run_file.parent.parent)
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"{run_file.parent.parent}: changed  .maggot/run.json "
        "(differs from the end of the run by more than maggot mv's renaming)"
    )


def test_a_name_changed_by_hand_is_a_change(run_dir):
    run_file = run_dir / ".maggot" / "run.json"
    info = json.loads(run_file.read_text())
    info["name"] = "best-lr"
    run_file.write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    result = invoke("verify", run_dir)
    assert result.exit_code == 1 and "changed  .maggot/run.json (size" in result.output


def test_a_replay_renamed_after_its_tree_moved_is_intact(run_dir, tmp_path):
    replay = run_maggot("reproduce", run_dir, "--yes", cwd=run_dir.parent.parent)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    recorded = json.loads((run_dir.parent / "0.1.repro-1" / ".maggot" / "run.json").read_text())
    moved = tmp_path / "moved"
    shutil.move(run_dir.parent.parent, moved)
    assert invoke("mv", moved / "experiments" / "0.1", "best-lr").exit_code == 0
    renamed_replay = moved / "experiments" / "best-lr.repro-1"
    info = json.loads((renamed_replay / ".maggot" / "run.json").read_text())
    assert info["reproduction_of"] == str(Path(recorded["reproduction_of"]).parent / "best-lr")
    result = invoke("verify", renamed_replay)
    assert result.exit_code == 0, result.output
    assert "renamed from 0.1.repro-1 by maggot mv" in result.output


def test_runs_that_ended_already_renamed_and_were_renamed_again_are_intact(run_dir):
    replay = run_maggot("reproduce", run_dir, "--yes", cwd=run_dir.parent.parent)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert invoke("mv", run_dir, "best-lr").exit_code == 0
    experiments = run_dir.parent
    for renamed in ("best-lr", "best-lr.repro-1"):  # as if renamed while they ran
        manifest.write_manifest(str(experiments / renamed), 1024 * 1024)
    assert invoke("mv", experiments / "best-lr", "final").exit_code == 0
    for now, then in (("final", "best-lr"), ("final.repro-1", "best-lr.repro-1")):
        [as_json] = json.loads(invoke("verify", "--format", "json", experiments / now).output)
        assert as_json["intact"] and as_json["renamed_from"] == then, as_json
