from __future__ import annotations

import json
import os
import stat
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from toolkit import DEFAULT_FILES, add_submodule, commit_all, git, run_maggot, run_python

from maggot.errors import ReproduceError
from maggot.gitsnap import SnapshotLimits, apply_snapshot, load_snapshot, take_snapshot
from maggot.secrets import looks_secret
from maggot.store import META_DIR

SKIP_ALWAYS = {".git", "experiments"}


def tree_state(root: Path, skip: set[str] = frozenset()) -> dict[str, tuple]:
    """Every file under root: kind, exec bit and content (or link target)."""
    state = {}
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = [name for name in dirnames if name not in SKIP_ALWAYS]
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(directory, d))]:
            path = Path(directory, name)
            relative = path.relative_to(root).as_posix()
            if relative in skip or relative in SKIP_ALWAYS:
                continue
            if path.is_symlink():
                state[relative] = ("link", os.readlink(path))
            else:
                executable = bool(path.stat().st_mode & stat.S_IXUSR)
                state[relative] = ("file", executable, path.read_bytes())
    return state


def snapshot_of(repo: Path, tmp_path: Path, cwd: Path | None = None, **limits) -> tuple[Path, dict]:
    run_dir = (
        tmp_path
        / "runs"
        / f"run{len(list((tmp_path / 'runs').glob('*'))) if (tmp_path / 'runs').exists() else 0}"
    )
    (run_dir / ".maggot").mkdir(parents=True)
    take_snapshot(
        str(run_dir), str(cwd or repo), [str(repo / "experiments")], SnapshotLimits(**limits)
    )
    # the file as written: these tests are about the recorded format
    return run_dir, json.loads((run_dir / ".maggot" / "git" / "head.json").read_text())


def rebuild(repo: Path, run_dir: Path, tmp_path: Path) -> Path:
    snapshot = load_snapshot(str(run_dir))
    tree = tmp_path / "rebuilt"
    git(repo, "worktree", "add", "--detach", "-q", str(tree), snapshot.commit)
    apply_snapshot(snapshot, str(tree))
    return tree


def messy_repo(repo: Path) -> None:
    """Every kind of change at once: staged, unstaged, both, deleted, renamed, mode, binary,
    symlinks, unicode and spaces in names."""
    (repo / "src").mkdir()
    (repo / "src" / "model.py").write_text("C = 1.0\n")
    (repo / "src" / "old name.py").write_text("x = 1\n")
    (repo / "run.sh").write_text("echo run\n")
    (repo / "weights.bin").write_bytes(bytes(range(256)) * 4)
    (repo / "doomed.txt").write_text("delete me\n")
    (repo / "ünïcode dir").mkdir()
    (repo / "ünïcode dir" / "файл.txt").write_text("привет\n")
    os.symlink("src/model.py", repo / "link-to-model")
    commit_all(repo, "messy base")
    (repo / "src" / "model.py").write_text("C = 2.0\n")
    git(repo, "add", "src/model.py")
    (repo / "src" / "model.py").write_text("C = 3.0  # staged then edited\n")
    git(repo, "mv", "src/old name.py", "src/new name.py")
    os.chmod(repo / "run.sh", 0o755)
    (repo / "weights.bin").write_bytes(bytes(reversed(range(256))) * 4 + b"\x00tail")
    (repo / "doomed.txt").unlink()
    (repo / "ünïcode dir" / "файл.txt").write_text("пока\n")
    os.unlink(repo / "link-to-model")
    os.symlink("run.sh", repo / "link-to-model")
    (repo / "notes with spaces.md").write_text("untracked notes\n")
    (repo / "src" / "helper.py").write_text("def helper():\n    return 42\n")
    os.chmod(repo / "src" / "helper.py", 0o755)
    os.symlink("src/helper.py", repo / "untracked-link")
    (repo / "blob.dat").write_bytes(b"\x00\x01\x02binary untracked")


def test_snapshot_rebuilds_a_messy_working_tree_exactly(repo, tmp_path):
    messy_repo(repo)
    before = tree_state(repo)
    run_dir, head = snapshot_of(repo, tmp_path)
    assert head["snapshot"] is True and head["is_dirty"] is True
    assert head["counts"]["staged"] >= 2 and head["counts"]["unstaged"] >= 1
    assert sorted(head["untracked"]) == sorted(
        ["blob.dat", "notes with spaces.md", "src/helper.py", "untracked-link"]
    )
    assert tree_state(repo) == before, "taking a snapshot changed the working tree"
    assert tree_state(rebuild(repo, run_dir, tmp_path)) == before


def test_snapshot_from_a_subdirectory_records_cwd_and_script(repo, tmp_path):
    (repo / "scripts").mkdir()
    (repo / "scripts" / "train.py").write_text(
        "import json, sys\n"
        "from maggot.gitsnap import take_snapshot\n"
        "import os\n"
        "os.makedirs(sys.argv[1] + '/.maggot')\n"
        "print(json.dumps(take_snapshot(sys.argv[1], os.getcwd(), []).to_json()))\n"
    )
    commit_all(repo)
    result = run_python(["train.py", str(tmp_path / "run")], cwd=repo / "scripts")
    head = json.loads(result.stdout)
    assert head["cwd"] == "scripts" and head["script"] == "scripts/train.py"


def test_detached_head_is_recorded(repo, tmp_path):
    commit = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "--detach", commit)
    _, head = snapshot_of(repo, tmp_path)
    assert head["detached"] is True and head["branch"] is None and head["commit"] == commit


def test_branch_and_remote_urls_without_credentials(repo, tmp_path):
    git(repo, "remote", "add", "origin", "https://user:s3cret@example.com/team/project.git")
    _, head = snapshot_of(repo, tmp_path)
    assert head["branch"] == "main"
    assert head["remotes"] == {"origin": "https://example.com/team/project.git"}
    assert head["is_dirty"] is False and head["patch_bytes"] == 0


def test_repository_without_commits_records_why(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    _, head = snapshot_of(empty, tmp_path)
    assert head == {
        "snapshot": False,
        "reason": "the repository has no commits yet",
        "commit": None,
    }


def test_outside_a_repository_records_why(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    _, head = snapshot_of(plain, tmp_path)
    assert head["snapshot"] is False and head["reason"] == "not inside a git repository"


def test_without_git_installed_the_run_still_works(tmp_path, repo):
    script = (
        "import os\n"
        "os.environ['PATH'] = ''\n"
        "from maggot import Experiment\n"
        "with Experiment(config={'a': 1}) as exp:\n"
        "    exp.register_result('x', 1)\n"
    )
    (repo / "train.py").write_text(script)
    result = run_python(["train.py"], cwd=repo)
    assert result.returncode == 0, result.stderr
    head = json.loads((repo / "experiments" / "1" / ".maggot" / "git" / "head.json").read_text())
    assert head["snapshot"] is False and "git is not installed" in head["reason"]


def test_secret_and_oversized_untracked_files_are_skipped_with_reasons(repo, tmp_path):
    (repo / ".env").write_text("TOKEN=abc\n")
    (repo / "server.pem").write_text("-----BEGIN-----\n")
    (repo / "aws_credentials.json").write_text("{}\n")
    (repo / "big.npy").write_bytes(b"0" * 2048)
    (repo / "a.txt").write_bytes(b"1" * 600)
    (repo / "b.txt").write_bytes(b"2" * 600)
    (repo / "scratch.log").write_text("excluded\n")
    run_dir, head = snapshot_of(
        repo, tmp_path, max_file_bytes=1024, max_total_bytes=1000, exclude=("*.log",)
    )
    reasons = {item["path"]: item["reason"] for item in head["skipped"]}
    assert (
        reasons[".env"]
        == reasons["server.pem"]
        == reasons["aws_credentials.json"]
        == "secret-looking name"
    )
    assert reasons["big.npy"].startswith("larger than")
    assert reasons["b.txt"].startswith("total untracked size")
    assert reasons["scratch.log"] == "excluded by pattern"
    assert head["untracked"] == ["a.txt"]
    copied = {p.name for p in (run_dir / ".maggot" / "git" / "untracked").rglob("*")}
    assert copied == {"a.txt"}


def test_experiments_and_other_run_directories_are_never_snapshotted(repo, tmp_path):
    (repo / ".gitignore").write_text("")  # experiments/ not ignored
    commit_all(repo)
    for run in ("experiments/old-run", "elsewhere/another-run"):
        (repo / run / ".maggot").mkdir(parents=True)
        (repo / run / "model.pkl").write_bytes(b"weights")
    (repo / "keep.py").write_text("x = 1\n")
    _, head = snapshot_of(repo, tmp_path)
    assert head["untracked"] == ["keep.py"]
    skipped = {item["path"]: item["reason"] for item in head["skipped"]}
    assert skipped["elsewhere/another-run/model.pkl"] == "inside a run directory"
    assert not any(path.startswith("experiments/") for path in skipped)


def test_submodule_commit_and_dirty_flag_are_recorded(repo, tmp_path):
    library = tmp_path / "library"
    add_submodule(repo, library, {"lib.py": b"v = 1\n"})
    commit_all(repo, "add submodule")
    (repo / "lib" / "lib.py").write_text("v = 2\n")
    _, head = snapshot_of(repo, tmp_path)
    [submodule] = head["submodules"]
    assert submodule["path"] == "lib" and submodule["dirty"] is True
    assert submodule["commit"] == git(library, "rev-parse", "HEAD").strip()


def test_load_snapshot_explains_missing_snapshots(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / ".maggot").mkdir(parents=True)
    with pytest.raises(ReproduceError, match="no git snapshot"):
        load_snapshot(str(run_dir))
    (run_dir / ".maggot" / "commit_hash").write_text("a" * 40)
    with pytest.raises(ReproduceError, match="maggot 0.2"):
        load_snapshot(str(run_dir))
    (run_dir / ".maggot" / "git").mkdir()
    (run_dir / ".maggot" / "git" / "head.json").write_text(
        json.dumps({"snapshot": False, "reason": "snapshot turned off"})
    )
    with pytest.raises(ReproduceError, match="snapshot turned off"):
        load_snapshot(str(run_dir))


def test_apply_refuses_a_tampered_untracked_list(repo, tmp_path):
    (repo / "new.py").write_text("x = 1\n")
    run_dir, head = snapshot_of(repo, tmp_path)
    head["untracked"] = ["../escape.py"]
    (run_dir / ".maggot" / "git" / "head.json").write_text(json.dumps(head))
    tree = tmp_path / "tree"
    git(repo, "worktree", "add", "--detach", "-q", str(tree), "HEAD")
    with pytest.raises(ReproduceError, match="refusing"):
        apply_snapshot(load_snapshot(str(run_dir)), str(tree))
    assert not (tmp_path / "escape.py").exists()


# names the test repository's .gitignore lists (experiments/, where runs go, which
# snapshots also exclude): a file of such a name is rightly left out of a snapshot
IGNORED_NAMES = {
    line.strip().strip("/")
    for line in DEFAULT_FILES[".gitignore"].decode().splitlines()
    if line.strip() and not line.startswith("#")
}
file_names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\\0"),
    min_size=1,
    max_size=20,
).filter(
    lambda name: (
        name not in (".", "..", ".git", META_DIR)  # run metadata is never snapshotted
        and name not in IGNORED_NAMES
        and not name.startswith(".env")
        and not looks_secret(name)
        and not name.endswith((".pyc", ".pyo"))  # bytecode is never snapshotted
    )
)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(names=st.lists(file_names, min_size=1, max_size=4, unique_by=lambda name: name.casefold()))
def test_any_untracked_file_name_survives_the_round_trip(repo, tmp_path_factory, names):
    work = tmp_path_factory.mktemp("names")
    for index, name in enumerate(names):
        (repo / name).write_text(f"content {index}\n")
    try:
        run_dir, head = snapshot_of(repo, work)
        assert sorted(head["untracked"]) == sorted(names)
        tree = rebuild(repo, run_dir, work)
        for index, name in enumerate(names):
            assert (tree / name).read_text() == f"content {index}\n"
    finally:
        for name in names:
            (repo / name).unlink()
        git(repo, "worktree", "prune")


@pytest.mark.parametrize("flag", ["--assume-unchanged", "--skip-worktree"])
def test_edits_hidden_from_git_status_are_still_snapshotted(repo, tmp_path, flag):
    (repo / "settings.py").write_text("LR = 0.1\n")
    commit_all(repo)
    git(repo, "update-index", flag, "settings.py")
    index_before = (repo / ".git" / "index").read_bytes()
    (repo / "settings.py").write_text("LR = 0.5\n")
    before = tree_state(repo)
    run_dir, head = snapshot_of(repo, tmp_path)
    assert head["hidden_from_status"] == ["settings.py"] and head["is_dirty"] is True
    assert (repo / ".git" / "index").read_bytes() == index_before
    assert tree_state(rebuild(repo, run_dir, tmp_path)) == before


def test_untracked_file_name_with_a_line_break_is_skipped_and_the_run_reproduces(repo, tmp_path):
    (repo / "new\nline.txt").write_text("x")
    (repo / "ok.txt").write_text("fine\n")
    run_dir, head = snapshot_of(repo, tmp_path)
    assert head["untracked"] == ["ok.txt"]
    assert head["skipped"] == [{"path": "new\nline.txt", "reason": "file name has a line break"}]
    assert (rebuild(repo, run_dir, tmp_path) / "ok.txt").read_text() == "fine\n"


def test_untracked_file_name_that_is_not_utf8_is_skipped_not_fatal(repo, tmp_path):
    os.close(os.open(os.path.join(os.fsencode(repo), b"caf\xe9.txt"), os.O_CREAT | os.O_WRONLY))
    (repo / "ok.txt").write_text("fine\n")
    run_dir, head = snapshot_of(repo, tmp_path)
    assert head["snapshot"] is True and head["untracked"] == ["ok.txt"]
    assert head["skipped"] == [{"path": "caf\\xe9.txt", "reason": "file name is not valid UTF-8"}]
    assert json.loads((run_dir / ".maggot" / "git" / "head.json").read_text()) == head


def test_user_diff_settings_do_not_change_the_patch(repo, tmp_path):
    (repo / "settings.py").write_text("LR = 0.1\nB = 2\n")
    commit_all(repo)
    for key, value in [
        ("diff.context", "0"),
        ("diff.noprefix", "true"),
        ("diff.relative", "true"),
        ("color.ui", "always"),
        ("diff.mnemonicPrefix", "true"),
    ]:
        git(repo, "config", key, value)
    (repo / "settings.py").write_text("LR = 0.5\nB = 2\n")
    before = tree_state(repo)
    run_dir, _ = snapshot_of(repo, tmp_path)
    assert tree_state(rebuild(repo, run_dir, tmp_path)) == before


# --- git states a plain diff misses: dirty submodules, exec bits, line endings ---

READ_BACK = """
    import json, os, sys
    sys.path.insert(0, "lib")
    from maggot import Experiment
    with Experiment(config={"a": 1}) as exp:
        exp.register_result("state", {STATE})
"""


def record_state(repo: Path, state: str) -> Path:
    """Commit a script registering ``state`` (a Python expression), run it, return the run."""
    (repo / "train.py").write_text(textwrap.dedent(READ_BACK).replace("{STATE}", state))
    git(repo, "add", "train.py")
    git(repo, "commit", "-q", "-m", "train")
    result = run_python(["train.py"], cwd=repo)
    assert result.returncode == 0, result.stderr
    [run_dir] = (repo / "experiments").iterdir()
    return run_dir


def reproduce_ok(repo: Path, run_dir: Path) -> dict:
    result = run_maggot("reproduce", run_dir, "--yes", cwd=repo)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads((Path(f"{run_dir}.repro-1") / ".maggot" / "results.json").read_text())


def test_a_dirty_submodule_is_snapshotted_and_rebuilt(repo, tmp_path):
    add_submodule(repo, tmp_path / "library", {"libvalue.py": b"VALUE = 1\n"})
    commit_all(repo, "add lib")
    (repo / "lib" / "libvalue.py").write_text("VALUE = 5\n")  # uncommitted edit
    (repo / "lib" / "extra.py").write_text("EXTRA = 7\n")  # untracked file
    run_dir = record_state(repo, "__import__('libvalue').VALUE + __import__('extra').EXTRA")
    head = json.loads((run_dir / ".maggot" / "git" / "head.json").read_text())
    [submodule] = head["submodules"]
    assert submodule["dirty"] and submodule["snapshot"]
    saved = run_dir / ".maggot" / "git" / "submodules" / "lib"
    assert b"VALUE = 5" in (saved / "diff.patch").read_bytes()
    assert (saved / "untracked" / "extra.py").read_text() == "EXTRA = 7\n"
    assert "(dirty, its changes snapshotted)" in run_maggot("show", run_dir, cwd=repo).stdout
    (repo / "lib" / "libvalue.py").write_text("VALUE = 1\n")
    (repo / "lib" / "extra.py").unlink()
    assert reproduce_ok(repo, run_dir) == {"state": 12}
    assert (
        "not in the snapshot" not in run_maggot("reproduce", run_dir, "--dry-run", cwd=repo).stderr
    )


def test_an_exec_bit_git_does_not_see_is_recorded_and_restored(repo):
    (repo / "tool.sh").write_text("#!/bin/sh\necho tool\n")
    commit_all(repo, "tool")
    git(repo, "config", "core.fileMode", "false")
    os.chmod(repo / "tool.sh", 0o755)
    assert git(repo, "status", "--porcelain") == ""  # invisible to git
    run_dir = record_state(repo, "os.access('tool.sh', os.X_OK)")
    head = json.loads((run_dir / ".maggot" / "git" / "head.json").read_text())
    assert head["file_modes"] == {"tool.sh": "100755"} and head["is_dirty"]
    assert "tool.sh 100755 (not seen by git" in run_maggot("show", run_dir, cwd=repo).stdout
    os.chmod(repo / "tool.sh", 0o644)
    assert reproduce_ok(repo, run_dir) == {"state": True}


def test_with_file_mode_on_no_extra_git_process_records_modes(repo, tmp_path):
    os.chmod(repo / "train.py", 0o755)
    _, head = snapshot_of(repo, tmp_path)
    assert "file_modes" not in head  # git's own diff holds the mode change
    assert head["checkout_settings"] == {"core.autocrlf": "false", "core.eol": "native"}


def test_line_ending_settings_of_the_run_apply_to_the_replay(repo):
    (repo / "notes.txt").write_bytes(b"a\nb\n")
    commit_all(repo, "notes")
    git(repo, "config", "core.autocrlf", "true")
    (repo / "notes.txt").unlink()
    git(repo, "checkout", "--", "notes.txt")
    assert (repo / "notes.txt").read_bytes() == b"a\r\nb\r\n"
    run_dir = record_state(repo, "open('notes.txt', 'rb').read().count(b'\\r\\n')")
    head = json.loads((run_dir / ".maggot" / "git" / "head.json").read_text())
    assert head["checkout_settings"]["core.autocrlf"] == "true"
    git(repo, "config", "--unset", "core.autocrlf")  # a clone configured differently
    assert reproduce_ok(repo, run_dir) == {"state": 2}


def test_checkout_settings_are_added_after_the_callers_git_config_variables(monkeypatch):
    from maggot.gitsnap import checkout_environment
    from maggot.records import GitHead

    assert checkout_environment(GitHead()) == {}
    monkeypatch.setenv("GIT_CONFIG_COUNT", "1")
    monkeypatch.setenv("GIT_CONFIG_KEY_0", "user.name")
    monkeypatch.setenv("GIT_CONFIG_VALUE_0", "someone")
    head = GitHead(checkout_settings={"core.autocrlf": "input", "core.eol": "lf"})
    assert checkout_environment(head) == {
        "GIT_CONFIG_COUNT": "3",
        "GIT_CONFIG_KEY_0": "user.name",
        "GIT_CONFIG_VALUE_0": "someone",
        "GIT_CONFIG_KEY_1": "core.autocrlf",
        "GIT_CONFIG_VALUE_1": "input",
        "GIT_CONFIG_KEY_2": "core.eol",
        "GIT_CONFIG_VALUE_2": "lf",
    }


def test_recorded_file_modes_outside_the_tree_are_refused(repo, tmp_path):
    from maggot.gitsnap import GitSnapshot, restore_file_modes
    from maggot.records import GitHead

    snapshot = GitSnapshot(str(tmp_path), GitHead(file_modes={"../escape.sh": "100755"}))
    with pytest.raises(ReproduceError, match="refusing file mode"):
        restore_file_modes(snapshot, str(repo))
