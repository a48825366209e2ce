from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from maggot import Experiment, hashing, manifest, store
from maggot.errors import CorruptRunError, ReproduceError


@pytest.fixture
def run_dir(repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A finished run with an artifact, a registered directory and a dirty snapshot."""
    monkeypatch.chdir(repo)
    (repo / "README.md").write_text("a project, edited\n")
    (repo / "helper.py").write_text("X = 1\n")
    with Experiment(config={"lr": 0.1}, capture_output="none") as exp:
        Path(exp.experiment_dir, "model.bin").write_bytes(b"\x00\x01weights")
        checkpoints = exp.register_directory("checkpoints")
        Path(checkpoints, "epoch1.pt").write_bytes(b"epoch one")
        exp.register_result("accuracy", 0.9)
    return repo / exp.experiment_dir


def listed(path: Path) -> dict:
    return json.loads((path / ".maggot" / "manifest.json").read_text())


def test_manifest_lists_every_file_with_size_and_sha256(run_dir):
    data = listed(run_dir)
    assert data["format_version"] == 1
    on_disk = {
        str(path.relative_to(run_dir)): path
        for path in run_dir.rglob("*")
        if path.is_file()
        and path.name not in ("manifest.json", "results.lock", "run.lock", "live.lock")
    }
    assert set(data["files"]) == set(on_disk)
    for relative, path in on_disk.items():
        entry = data["files"][relative]
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest(), relative
        assert entry["size"] == path.stat().st_size
    for expected in ("model.bin", "checkpoints/epoch1.pt", ".maggot/git/diff.patch",
                     ".maggot/git/untracked/helper.py", ".maggot/run.json"):  # fmt: skip
        assert expected in data["files"]
    artifacts = [item.path for item in manifest.load_manifest(str(run_dir)).artifacts()]
    assert artifacts == ["checkpoints/epoch1.pt", "model.bin"]


def test_lock_files_made_after_the_run_leave_it_verified(run_dir):
    for name in ("run.lock", "live.lock", "results.lock"):
        (run_dir / ".maggot" / name).unlink(missing_ok=True)
    assert manifest.verify_run(str(run_dir)).intact
    with store.file_lock(store.meta_path(str(run_dir), store.RUN_LOCK_FILE)):
        store.hold_live_lock(str(run_dir), new=True).close()
    report = manifest.verify_run(str(run_dir))
    assert report.intact and not report.added


def test_files_over_the_limit_are_listed_with_size_and_mtime_only(repo, monkeypatch):
    monkeypatch.chdir(repo)
    limits = hashing.HashLimits(manifest_file_bytes=100)
    with Experiment(config={"a": 1}, capture_output="none", hash_limits=limits) as exp:
        Path(exp.experiment_dir, "big.bin").write_bytes(b"x" * 101)
    entry = listed(Path(exp.experiment_dir))["files"]["big.bin"]
    assert "sha256" not in entry
    assert entry["size"] == 101
    assert entry["mtime_ns"] == Path(exp.experiment_dir, "big.bin").stat().st_mtime_ns


def test_verify_names_changed_missing_and_added_files(run_dir):
    assert manifest.verify_run(str(run_dir)).intact
    model = run_dir / "model.bin"
    flipped = bytearray(model.read_bytes())
    flipped[3] ^= 0x01
    model.write_bytes(bytes(flipped))
    (run_dir / "checkpoints" / "epoch1.pt").unlink()
    (run_dir / "notes.txt").write_text("added later\n")
    (run_dir / ".maggot" / "config.json").write_text("{}")
    result = manifest.verify_run(str(run_dir))
    assert not result.intact
    assert {item.path: item.reason for item in result.changed} == {
        ".maggot/config.json": "size 16 -> 2 bytes (truncated?)",
        "model.bin": "sha256 differs",
    }
    assert result.missing == ("checkpoints/epoch1.pt",)
    assert result.added == ("notes.txt",)


def test_a_run_copied_elsewhere_verifies(run_dir, tmp_path):
    largest = max(path.stat().st_size for path in run_dir.rglob("*") if path.is_file())
    (run_dir / "big.bin").write_bytes(b"y" * (largest + 1))
    manifest.write_manifest(str(run_dir), max_hash_bytes=largest)
    # a plain copy: contents, not modification times
    copied = tmp_path / "elsewhere" / run_dir.name
    shutil.copytree(run_dir, copied, copy_function=shutil.copyfile)
    os.utime(copied / "big.bin", ns=(1, 1))
    result = manifest.verify_run(str(copied))
    assert result.intact and result.checked == len(listed(run_dir)["files"])
    assert [item.path for item in result.unverified] == ["big.bin"]


def test_runs_without_a_manifest_are_not_recorded(tmp_path):
    run = tmp_path / "old"
    (run / ".maggot").mkdir(parents=True)
    result = manifest.verify_run(str(run))
    assert not result.recorded and result.intact
    assert manifest.load_manifest(str(run)) is None
    (run / ".maggot" / "manifest.json").write_text("[]")
    with pytest.raises(CorruptRunError, match="manifest.json"):
        manifest.load_manifest(str(run))


def test_a_tampered_patch_is_refused(run_dir):
    patch = run_dir / ".maggot" / "git" / "diff.patch"
    head = json.loads((run_dir / ".maggot" / "git" / "head.json").read_text())
    assert manifest.check_snapshot(str(run_dir), head["patch_bytes"]) is None
    patch.write_bytes(patch.read_bytes().replace(b"edited", b"EDITED"))
    with pytest.raises(ReproduceError, match="diff.patch.*sha256 differs.*tampered or truncated"):
        manifest.check_snapshot(str(run_dir), head["patch_bytes"])


def test_a_truncated_patch_is_refused_even_without_a_manifest(run_dir):
    patch = run_dir / ".maggot" / "git" / "diff.patch"
    head = json.loads((run_dir / ".maggot" / "git" / "head.json").read_text())
    (run_dir / ".maggot" / "manifest.json").unlink()
    assert "not verified" in manifest.check_snapshot(str(run_dir), head["patch_bytes"])
    patch.write_bytes(patch.read_bytes()[:-10])
    with pytest.raises(ReproduceError, match="truncated"):
        manifest.check_snapshot(str(run_dir), head["patch_bytes"])


def test_a_changed_untracked_copy_is_refused(run_dir):
    (run_dir / ".maggot" / "git" / "untracked" / "helper.py").write_text("X = 2\n")
    with pytest.raises(ReproduceError, match="untracked/helper.py"):
        manifest.check_snapshot(str(run_dir), None)
