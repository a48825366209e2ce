from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from toolkit import commit_all, run_maggot, run_python

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
