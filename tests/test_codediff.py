from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from toolkit import git, record_run, repo_state, write_json

from maggot import codediff
from maggot.codediff import ADDED, CHANGED, REMOVED, CodeDiffError, ConfigChange
from maggot.errors import CorruptRunError, ReproduceError


def test_config_changes_use_dotted_keys_and_leaf_values() -> None:
    old = {"model": {"C": 1.0, "layers": [1, 2]}, "crossval": {"n_folds": 5}, "seed": 1}
    new = {"model": {"C": 10.0, "kernel": "rbf", "layers": [1, 3, 4]}, "opt": {"lr": 0.1}}
    new["seed"] = 1.0
    assert codediff.config_changes(old, new) == [
        ConfigChange(REMOVED, "crossval.n_folds", old=5),
        ConfigChange(CHANGED, "model.C", 1.0, 10.0),
        ConfigChange(ADDED, "model.kernel", new="rbf"),
        ConfigChange(CHANGED, "model.layers[1]", 2, 3),
        ConfigChange(ADDED, "model.layers[2]", new=4),
        ConfigChange(ADDED, "opt.lr", new=0.1),
        ConfigChange(CHANGED, "seed", 1, 1.0),
    ]
    assert codediff.config_changes(old, old) == []


def test_config_change_lines_and_json() -> None:
    assert str(ConfigChange(CHANGED, "model.C", 1.0, 10.0)) == "~ model.C: 1.0 -> 10.0"
    assert str(ConfigChange(ADDED, "model.kernel", new="rbf")) == '+ model.kernel: "rbf"'
    assert str(ConfigChange(REMOVED, "crossval.n_folds", old=5)) == "- crossval.n_folds: 5"
    added = {"change": "added", "key": "k", "new": None}
    assert ConfigChange(ADDED, "k", new=None).as_json() == added
    removed = {"change": "removed", "key": "k", "old": [1]}
    assert ConfigChange(REMOVED, "k", old=[1]).as_json() == removed


def test_a_section_replaced_by_a_value_is_one_change() -> None:
    changes = codediff.config_changes({"model": {"C": 1}}, {"model": "svm"})
    assert changes == [ConfigChange(CHANGED, "model", {"C": 1}, "svm")]


def test_staged_deleted_executable_and_symlinked_files_are_in_the_code_state(repo: Path) -> None:
    clean = record_run(repo, {"x": 1})
    git(repo, "rm", "-q", "data.bin")
    (repo / "staged.py").write_text("STAGED = 1\n")
    git(repo, "add", "staged.py")
    (repo / "run.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(repo / "run.sh", 0o755)
    os.symlink("train.py", repo / "link.py")
    dirty = record_run(repo, {"x": 2})
    before = repo_state(repo)

    output = codediff.diff_code(str(clean), str(dirty)).output.decode()
    assert "deleted file mode 100644" in output and "a/data.bin" in output
    assert "diff --git a/staged.py b/staged.py\nnew file mode 100644" in output
    assert "diff --git a/run.sh b/run.sh\nnew file mode 100755" in output
    assert "diff --git a/link.py b/link.py\nnew file mode 120000" in output
    assert "+train.py\n\\ No newline at end of file" in output
    reverse = codediff.diff_code(str(dirty), str(clean), output=codediff.NAME_ONLY).output.decode()
    assert reverse.split() == ["data.bin", "link.py", "run.sh", "staged.py"]
    assert repo_state(repo) == before


def test_identical_code_states_have_an_empty_diff(repo: Path) -> None:
    run1 = record_run(repo, {"x": 1})
    run2 = record_run(repo, {"x": 2})
    assert codediff.diff_code(str(run1), str(run2)).output == b""


def test_untracked_paths_that_escape_are_refused(repo: Path) -> None:
    clean = record_run(repo, {"x": 1})
    (repo / "extra.py").write_text("x = 1\n")
    dirty = record_run(repo, {"x": 2})
    head_file = dirty / ".maggot" / "git" / "head.json"
    head = json.loads(head_file.read_text())
    for bad in ("../outside.py", "/etc/passwd"):
        write_json(head_file, {**head, "untracked": [bad]})
        with pytest.raises(CodeDiffError, match="refusing untracked path"):
            codediff.diff_code(str(clean), str(dirty))
    write_json(head_file, head)
    (dirty / ".maggot" / "git" / "untracked" / "extra.py").unlink()
    with pytest.raises(CorruptRunError, match="recorded untracked file is missing"):
        codediff.diff_code(str(clean), str(dirty))


def test_a_patch_that_does_not_apply_is_reported(repo: Path) -> None:
    clean = record_run(repo, {"x": 1})
    (repo / "train.py").write_text("changed\n")
    dirty = record_run(repo, {"x": 2})
    patch = dirty / ".maggot" / "git" / "diff.patch"
    patch.write_bytes(patch.read_bytes().replace(b'-print("train")', b'-print("other")'))
    with pytest.raises(CodeDiffError, match="do not apply"):
        codediff.diff_code(str(clean), str(dirty))


def test_runs_without_snapshot_or_commit(repo: Path) -> None:
    snapped = record_run(repo, {"x": 1})
    unsnapped = record_run(repo, {"x": 2}, snapshot=False)
    with pytest.raises(ReproduceError, match="no git snapshot"):
        codediff.diff_code(str(snapped), str(unsnapped))
    head_file = snapped / ".maggot" / "git" / "head.json"
    write_json(head_file, {**json.loads(head_file.read_text()), "commit": "1" * 40, "remotes": {}})
    missing = r"commit 111111111111 is not in the repository .*try 'git fetch'$"
    with pytest.raises(CodeDiffError, match=missing):
        codediff.diff_code(str(snapped), str(snapped))


def test_find_repository_falls_back_and_fails_clearly(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (repo / "experiments").mkdir()
    found = codediff.find_repository(str(outside), str(repo / "experiments"))
    assert os.path.samefile(found.toplevel, repo) and found.pathspec_cwd == found.toplevel
    assert os.path.isabs(found.objects_dir) and os.path.isdir(found.objects_dir)
    here = codediff.find_repository(str(repo))
    assert here.pathspec_cwd == str(repo)
    with pytest.raises(CodeDiffError, match="not inside a git repository"):
        codediff.find_repository(str(outside), str(tmp_path / "missing"))


def test_a_recorded_commit_that_is_not_an_object_id_is_refused(repo: Path) -> None:
    run = record_run(repo, {"x": 1})
    head_file = run / ".maggot" / "git" / "head.json"
    write_json(head_file, {**json.loads(head_file.read_text()), "commit": "--output=/tmp/x"})
    with pytest.raises(CorruptRunError, match="not an object id"):
        codediff.diff_code(str(run), str(run))


def test_config_changes_of_sections_without_common_keys_are_listed_by_key() -> None:
    from maggot.codediff import config_changes

    changes = [
        str(change) for change in config_changes({"model": {"C": 1}}, {"model": {"gamma": 2}})
    ]
    assert changes == ["- model.C: 1", "+ model.gamma: 2"]
    assert [str(change) for change in config_changes({"a": 1}, {"y": 8})] == ["- a: 1", "+ y: 8"]
