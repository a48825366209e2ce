from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maggot.errors import ReproduceError
from maggot.replay import map_arguments, map_into, replay_command, replay_pythonpath


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["python", "train.py", "--lr", "0.1"], ["PY", "train.py", "--lr", "0.1"]),
        (
            ["python", "-u", "-X", "dev", "-m", "pkg.train", "x"],
            ["PY", "-u", "-X", "dev", "-m", "pkg.train", "x"],
        ),
    ],
)
def test_replay_command_swaps_the_interpreter(argv: list[str], expected: list[str]) -> None:
    assert replay_command(argv, "PY", "run") == expected


@pytest.mark.parametrize(
    "argv",
    [
        ["python"],
        ["python", "-c", "print(1)"],
        ["python", "-"],
        ["python", "-m", "ipykernel_launcher", "-f", "k.json"],
    ],
)
def test_unreplayable_commands_are_refused(argv: list[str]) -> None:
    with pytest.raises(ReproduceError):
        replay_command(argv, "PY", "run")


def test_paths_under_a_root_map_into_the_worktree(tmp_path: Path) -> None:
    root = str(tmp_path / "repo")
    assert map_into(root, [root], "/wt") == "/wt"
    assert map_into(f"{root}/data/x.csv", [root], "/wt") == "/wt/data/x.csv"
    assert map_into(f"{root}2/x", [root], "/wt") is None
    assert map_into("/elsewhere/x", [root], "/wt") is None


@given(st.lists(st.sampled_from(["a", "b", "c.txt"]), min_size=1, max_size=4))
def test_mapped_paths_stay_inside_the_worktree(parts: list[str]) -> None:
    mapped = map_into("/repo/" + "/".join(parts), ["/repo"], "/wt")
    assert mapped is not None and mapped.startswith("/wt/")


def test_arguments_are_mapped_only_when_the_snapshot_holds_them(tmp_path: Path) -> None:
    root, worktree = tmp_path / "repo", tmp_path / "wt"
    for base in (root, worktree):
        (base / "conf").mkdir(parents=True)
        (base / "conf" / "a.yaml").write_text("a: 1\n")
    (root / "data").mkdir()
    (root / "data" / "big.csv").write_text("1\n")
    command = ["PY", "train.py", f"--config={root}/conf/a.yaml", f"data={root}/data"]
    mapped, notes = map_arguments(command, [str(root)], str(worktree))
    assert mapped == ["PY", "train.py", f"--config={worktree}/conf/a.yaml", f"data={root}/data"]
    assert len(notes) == 1 and f"{root}/data" in notes[0]


def test_pythonpath_points_editable_packages_at_the_worktree(tmp_path: Path) -> None:
    root, worktree = tmp_path / "repo", tmp_path / "wt"
    (worktree / "src" / "pkg").mkdir(parents=True)
    (worktree / "src" / "pkg" / "__init__.py").write_text("")
    entries = replay_pythonpath(
        [str(root / "src" / "pkg"), "/usr/lib/python3", str(root)], [str(root)], str(worktree)
    )
    assert entries == [str(worktree / "src"), str(worktree)]
